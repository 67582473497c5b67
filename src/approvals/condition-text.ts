import { severityRank } from '../events/severity.js';
import { parseCondition, type CondNode, type CompareOp, type Literal, type ValueNode } from '../rules/expression-parser.js';

/**
 * The comparisons of a rule condition with the values that were read, for the right to
 * explanation (seed 001 §13.2): `severity >= 'medium' AND confidence_score > 0.85` read with
 * { severity: 'high', confidence_score: 0.9 } renders
 *
 *   severity = 'high' >= 'medium'
 *   confidence_score = 0.9 > 0.85
 *
 * Honest by construction: only a comparison of one field with literals, whose field value was
 * recorded and whose outcome can be computed here the way the engine computes it, is rendered,
 * with `holds` saying whether it held. Anything else (arithmetic, two fields, a string ordering
 * the engine might order differently) is left out rather than guessed at.
 */
export interface RenderedComparison {
  text: string;
  holds: boolean;
}

/** Fields compared by rank on the one severity scale, as the rule engine does. */
const ORDERED_FIELDS: ReadonlySet<string> = new Set(['severity']);
const FLIP: Record<CompareOp, CompareOp> = { '=': '=', '!=': '!=', '<': '>', '<=': '>=', '>': '<', '>=': '<=' };

export function renderComparisons(source: string, values: Record<string, unknown>): RenderedComparison[] {
  let root: CondNode;
  try {
    root = parseCondition(source).root;
  } catch {
    return []; // e.g. "(none: every event)"
  }
  const out: RenderedComparison[] = [];
  walk(root, values, out);
  return out;
}

/** The fields a condition reads (empty when it does not parse). */
export function conditionFields(source: string): string[] {
  try {
    return [...parseCondition(source).fields.keys()];
  } catch {
    return [];
  }
}

function walk(node: CondNode, values: Record<string, unknown>, out: RenderedComparison[]): void {
  switch (node.kind) {
    case 'and':
    case 'or':
      for (const item of node.items) walk(item, values, out);
      return;
    case 'not':
      walk(node.operand, values, out);
      return;
    case 'compare': {
      let field = pathOf(node.left);
      let literal = literalOf(node.right);
      let op = node.op;
      if (field === null || literal === undefined) {
        field = pathOf(node.right);
        literal = literalOf(node.left);
        op = FLIP[node.op];
      }
      if (field === null || literal === undefined || !Object.hasOwn(values, field)) return;
      const holds = compare(field, values[field], op, literal);
      if (holds !== null) out.push({ text: `${field} = ${show(values[field])} ${op} ${show(literal)}`, holds });
      return;
    }
    case 'in': {
      const field = pathOf(node.operand);
      if (field === null || !Object.hasOwn(values, field)) return;
      const v = values[field];
      if (v === undefined || v === null || typeof v === 'object') return;
      const found = node.items.some((i) => i.value === v);
      out.push({ text: `${field} = ${show(v)} ${node.negated ? 'NOT IN' : 'IN'} (${node.items.map((i) => show(i.value)).join(', ')})`, holds: found !== node.negated });
      return;
    }
    case 'between': {
      const field = pathOf(node.operand);
      const low = literalOf(node.low);
      const high = literalOf(node.high);
      if (field === null || low === undefined || high === undefined || !Object.hasOwn(values, field)) return;
      const above = compare(field, values[field], '>=', low);
      const below = compare(field, values[field], '<=', high);
      if (above === null || below === null) return;
      out.push({ text: `${field} = ${show(values[field])} ${node.negated ? 'NOT BETWEEN' : 'BETWEEN'} ${show(low)} AND ${show(high)}`, holds: above && below ? !node.negated : node.negated });
      return;
    }
    default:
      return;
  }
}

function pathOf(node: ValueNode): string | null {
  return node.kind === 'path' ? node.path : null;
}

/** A literal operand, including a negated number (`-5` parses as neg(5)). */
function literalOf(node: ValueNode): Literal | undefined {
  if (node.kind === 'literal') return node.value;
  if (node.kind === 'neg' && node.operand.kind === 'literal' && typeof node.operand.value === 'number') return -node.operand.value;
  return undefined;
}

/** The comparison's outcome, or null when it cannot be computed from these values. */
function compare(field: string, value: unknown, op: CompareOp, literal: Literal): boolean | null {
  let a: number | string | boolean;
  let b: number | string | boolean;
  if (ORDERED_FIELDS.has(field) && typeof value === 'string' && typeof literal === 'string') {
    a = severityRank(value);
    b = severityRank(literal);
    if (a === 0 || b === 0) return null;
  } else if (typeof value === 'number' && typeof literal === 'number') {
    a = value;
    b = literal;
  } else if ((typeof value === 'string' || typeof value === 'boolean') && typeof value === typeof literal && (op === '=' || op === '!=')) {
    a = value;
    b = literal as string | boolean;
  } else {
    return null;
  }
  switch (op) {
    case '=':
      return a === b;
    case '!=':
      return a !== b;
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    case '>=':
      return a >= b;
  }
}

/** A value as the condition language writes it: strings in single quotes. */
export function show(v: unknown): string {
  if (typeof v === 'string') return `'${v.replaceAll("'", "\\'")}'`;
  if (v === undefined) return 'missing';
  return JSON.stringify(v);
}
