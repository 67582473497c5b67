/**
 * Rule conditions (seed 001 §2.2 step 3, §3.3), compiled once at registration into a tree of
 * plain closures (house style #4, #5): no code is generated from the text, nothing is parsed per event.
 *
 * Logic is SQL's three-valued logic. A comparison that reads a missing field, null, NaN, a
 * division by zero or mismatched types (`5 < 'a'`) is UNKNOWN; NOT UNKNOWN is still UNKNOWN, and
 * `test` is true only for TRUE. So `x NOT IN (...)`, `x != 1` and `NOT (x = 1)` all agree, and a
 * rule written as `NOT (severity >= 'high')` does not fire on an event that has no severity.
 *
 * @example
 *   const c = compileCondition("severity >= 'medium' AND confidence_score > 0.85", {
 *     orderedEnums: { severity: ['low', 'medium', 'high', 'critical'] },
 *   });
 *   c.test({ severity: 'high', confidence_score: 0.9 }); // true
 *   c.values({ severity: 'high', confidence_score: 0.9 }); // { severity: 'high', confidence_score: 0.9 }
 */
import {
  conditionError,
  parseCondition,
  type CompareOp,
  type CondNode,
  type LiteralNode,
  type PathNode,
  type Segment,
  type ValueNode,
} from './expression-parser.js';

export { MAX_CONDITION_DEPTH, MAX_CONDITION_LENGTH } from './expression-parser.js';

export interface CompileOptions {
  /** Ordered enum scales by field name, e.g. { severity: ['low','medium','high','critical'] }: comparisons <,<=,>,>= on such a field (or with a string literal against it) compare by position in the scale. */
  orderedEnums?: Record<string, readonly string[]>;
}

export interface CompiledCondition {
  readonly source: string;
  /** Field paths the condition reads, e.g. ['severity', 'confidence_score', 'vehicle_data.speed_kmh'] (for explanations and rule indexing). */
  readonly fields: readonly string[];
  /**
   * Evaluates against an event; never throws. A missing field, null, NaN or a type mismatch makes
   * that comparison unknown, which `test` reports as false; as in SQL, NOT unknown is unknown.
   */
  test(event: Record<string, unknown>): boolean;
  /** The values of `fields` in the event, for a decision's rationale: { severity: 'high', confidence_score: 0.9 }. A missing field maps to undefined. */
  values(event: Record<string, unknown>): Record<string, unknown>;
}

// Kleene logic on 0 < 1 < 2: AND is min, OR is max, NOT is 2 - x.
const F = 0;
const U = 1;
const T = 2;
type Tri = 0 | 1 | 2;
type Pred = (e: unknown) => Tri;
type Get = (e: unknown) => unknown;

/**
 * Compiles a condition; throws CITY_ERR_RULE_CONDITION_INVALID with details
 * { position (0-based), reason, source } when the text is not a valid condition.
 */
export function compileCondition(source: string, options: CompileOptions = {}): CompiledCondition {
  const parsed = parseCondition(source);
  const root = new Compiler(source, options.orderedEnums ?? {}).cond(parsed.root);
  const fields = Object.freeze([...parsed.fields.keys()]);
  const getters = [...parsed.fields.values()].map(getter);
  return {
    source,
    fields,
    test(event) {
      // The closures do not throw on plain data; this guards exotic inputs (throwing getters,
      // revoked proxies). Measured: the seed condition takes ~25 ns with or without it.
      try {
        return root(event) === T;
      } catch {
        return false;
      }
    },
    values(event) {
      const out: Record<string, unknown> = {};
      for (let i = 0; i < fields.length; i++) {
        try {
          out[fields[i]!] = getters[i]!(event);
        } catch {
          out[fields[i]!] = undefined;
        }
      }
      return out;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Values

/**
 * One step along a path: own properties of objects, in-range elements of arrays, else undefined.
 * Object.hasOwn costs ~4 ns a read (the seed condition: 17 ns without, 25 ns with); it is what
 * keeps inherited names (`toString`, a polluted Object.prototype) out of rule decisions.
 */
function step(o: unknown, s: Segment): unknown {
  if (typeof o !== 'object' || o === null) return undefined;
  if (typeof s === 'number') return Array.isArray(o) && s < o.length ? o[s] : undefined;
  return Object.hasOwn(o, s) ? (o as Record<string, unknown>)[s] : undefined;
}

function getter(segments: readonly Segment[]): Get {
  const [a, b, c] = segments;
  if (segments.length === 1) return (e) => step(e, a!);
  if (segments.length === 2) return (e) => step(step(e, a!), b!);
  if (segments.length === 3) return (e) => step(step(step(e, a!), b!), c!);
  return (e) => {
    let o = e;
    for (let i = 0; i < segments.length && o !== undefined; i++) o = step(o, segments[i]!);
    return o;
  };
}

/** A finite number, or undefined: arithmetic that goes wrong (x / 0, a string operand) is unknown. */
function num(x: number): number | undefined {
  return x - x === 0 ? x : undefined;
}

function arithmetic(op: string, l: Get, r: Get): Get {
  switch (op) {
    case '+':
      return (e) => {
        const a = l(e);
        const b = r(e);
        return typeof a === 'number' && typeof b === 'number' ? num(a + b) : undefined;
      };
    case '-':
      return (e) => {
        const a = l(e);
        const b = r(e);
        return typeof a === 'number' && typeof b === 'number' ? num(a - b) : undefined;
      };
    case '*':
      return (e) => {
        const a = l(e);
        const b = r(e);
        return typeof a === 'number' && typeof b === 'number' ? num(a * b) : undefined;
      };
    case '/':
      return (e) => {
        const a = l(e);
        const b = r(e);
        return typeof a === 'number' && typeof b === 'number' && b !== 0 ? num(a / b) : undefined;
      };
    default:
      return (e) => {
        const a = l(e);
        const b = r(e);
        return typeof a === 'number' && typeof b === 'number' && b !== 0 ? num(a % b) : undefined;
      };
  }
}

/** -1, 0 or 1 for two numbers or two strings; NaN (unknown) for anything else or for NaN. */
function order(a: unknown, b: unknown): number {
  if ((typeof a === 'number' && typeof b === 'number') || (typeof a === 'string' && typeof b === 'string')) {
    return a < b ? -1 : a > b ? 1 : a === b ? 0 : NaN;
  }
  return NaN;
}

function equal(a: unknown, b: unknown): Tri {
  if (a === undefined || a === null || b === undefined || b === null || a !== a || b !== b) return U;
  return a === b ? T : F;
}

const MIRROR: Readonly<Record<CompareOp, CompareOp>> = { '=': '=', '!=': '!=', '<': '>', '<=': '>=', '>': '<', '>=': '<=' };

// ---------------------------------------------------------------------------------------------
// Conditions

class Compiler {
  constructor(
    private readonly source: string,
    private readonly orderedEnums: Record<string, readonly string[]>,
  ) {}

  cond(node: CondNode): Pred {
    switch (node.kind) {
      case 'and':
      case 'or':
        return logic(node.kind, node.items.map((n) => this.cond(n)));
      case 'not': {
        const p = this.cond(node.operand);
        return (e) => (T - p(e)) as Tri;
      }
      case 'truth': {
        if (node.operand.kind === 'literal') {
          const v: Tri = node.operand.value === true ? T : F;
          return () => v;
        }
        const g = this.value(node.operand);
        return (e) => {
          const v = g(e);
          return v === true ? T : v === false ? F : U;
        };
      }
      case 'isNull': {
        const g = this.value(node.operand);
        const [hit, miss]: [Tri, Tri] = node.negated ? [F, T] : [T, F];
        return (e) => {
          const v = g(e);
          return v === undefined || v === null ? hit : miss;
        };
      }
      case 'in':
        return this.in(node.operand, node.items, node.negated);
      case 'contains':
        return contains(this.value(node.operand), this.value(node.needle), node.negated);
      case 'between':
        return this.between(node.operand, node.low, node.high, node.negated);
      case 'compare':
        return this.compare(node.op, node.left, node.right);
    }
  }

  value(node: ValueNode): Get {
    switch (node.kind) {
      case 'literal': {
        const v = node.value;
        return () => v;
      }
      case 'path':
        return getter(node.segments);
      case 'neg': {
        const g = this.value(node.operand);
        return (e) => {
          const v = g(e);
          return typeof v === 'number' ? -v : undefined;
        };
      }
      case 'arith': {
        const { left, right } = node;
        if (left.kind === 'literal' && right.kind === 'literal') {
          // Constant folding: `60 * 1000` costs nothing per event.
          const folded = arithmetic(node.op, () => left.value, () => right.value)(undefined);
          if (folded !== undefined) return () => folded;
        }
        return arithmetic(node.op, this.value(left), this.value(right));
      }
    }
  }

  private scaleOf(node: ValueNode): readonly string[] | undefined {
    return node.kind === 'path' && Object.hasOwn(this.orderedEnums, node.path) ? this.orderedEnums[node.path] : undefined;
  }

  /** An ordered-enum field is compared by rank: literals must name a step of its scale. */
  private checkEnumLiteral(field: PathNode, scale: readonly string[], lit: LiteralNode): number {
    const rank = typeof lit.value === 'string' ? scale.indexOf(lit.value) : -1;
    if (rank < 0) {
      const shown = typeof lit.value === 'string' ? `'${lit.value}'` : String(lit.value);
      const allowed = scale.map((s) => `'${s}'`).join(', ');
      throw conditionError(this.source, lit.pos, `${shown} is not a value of ${field.path}; allowed values are ${allowed}`);
    }
    return rank;
  }

  /** The operands of an ordering, as ranks when any of them is an ordered-enum field, else as they are. */
  private ordered(nodes: readonly ValueNode[]): Get[] {
    let field: PathNode | undefined;
    let scale: readonly string[] | undefined;
    for (const n of nodes) {
      const s = this.scaleOf(n);
      if (s === undefined) continue;
      if (scale !== undefined && s.join('\u0000') !== scale.join('\u0000')) {
        throw conditionError(this.source, n.pos, `${field!.path} and ${(n as PathNode).path} use different scales and cannot be ordered`);
      }
      field ??= n as PathNode;
      scale ??= s;
    }
    if (field === undefined || scale === undefined) return nodes.map((n) => this.value(n));
    const ranks = new Map<unknown, number>();
    for (let i = scale.length - 1; i >= 0; i--) ranks.set(scale[i], i);
    return nodes.map((n) => {
      if (n.kind === 'literal') {
        const rank = this.checkEnumLiteral(field, scale, n);
        return () => rank;
      }
      if (n.kind !== 'path') throw conditionError(this.source, n.pos, `${field.path} is an ordered scale and cannot be ordered against arithmetic`);
      const g = getter(n.segments);
      return (e) => ranks.get(g(e));
    });
  }

  private compare(op: CompareOp, left: ValueNode, right: ValueNode): Pred {
    if (left.kind === 'literal' && right.kind !== 'literal') [op, left, right] = [MIRROR[op], right, left];
    if (op === '=' || op === '!=') {
      const scale = this.scaleOf(left);
      if (scale !== undefined && right.kind === 'literal') this.checkEnumLiteral(left as PathNode, scale, right);
      const g = this.value(left);
      const [eq, ne]: [Tri, Tri] = op === '=' ? [T, F] : [F, T];
      if (right.kind === 'literal') {
        const c = right.value;
        return (e) => {
          const v = g(e);
          return v === c ? eq : v === undefined || v === null || v !== v ? U : ne;
        };
      }
      const h = this.value(right);
      return op === '=' ? (e) => equal(g(e), h(e)) : (e) => (T - equal(g(e), h(e))) as Tri;
    }
    const [g, h] = this.ordered([left, right]) as [Get, Get];
    if (right.kind === 'literal' && typeof right.value === 'number' && this.scaleOf(left) === undefined) {
      // The hot shape (`confidence_score > 0.85`): one read, one typeof, one comparison.
      const c = right.value;
      switch (op) {
        case '<':
          return (e) => {
            const v = g(e);
            return typeof v !== 'number' || v !== v ? U : v < c ? T : F;
          };
        case '<=':
          return (e) => {
            const v = g(e);
            return typeof v !== 'number' || v !== v ? U : v <= c ? T : F;
          };
        case '>':
          return (e) => {
            const v = g(e);
            return typeof v !== 'number' || v !== v ? U : v > c ? T : F;
          };
        default:
          return (e) => {
            const v = g(e);
            return typeof v !== 'number' || v !== v ? U : v >= c ? T : F;
          };
      }
    }
    switch (op) {
      case '<':
        return (e) => {
          const o = order(g(e), h(e));
          return o !== o ? U : o < 0 ? T : F;
        };
      case '<=':
        return (e) => {
          const o = order(g(e), h(e));
          return o !== o ? U : o <= 0 ? T : F;
        };
      case '>':
        return (e) => {
          const o = order(g(e), h(e));
          return o !== o ? U : o > 0 ? T : F;
        };
      default:
        return (e) => {
          const o = order(g(e), h(e));
          return o !== o ? U : o >= 0 ? T : F;
        };
    }
  }

  private between(operand: ValueNode, low: ValueNode, high: ValueNode, negated: boolean): Pred {
    const [g, lo, hi] = this.ordered([operand, low, high]) as [Get, Get, Get];
    const [inside, outside]: [Tri, Tri] = negated ? [F, T] : [T, F];
    return (e) => {
      const v = g(e);
      const a = order(v, lo(e));
      const b = order(v, hi(e));
      if (a < 0 || b > 0) return outside; // one side definitely fails: FALSE even if the other is unknown
      return a !== a || b !== b ? U : inside;
    };
  }

  private in(operand: ValueNode, items: readonly LiteralNode[], negated: boolean): Pred {
    const scale = this.scaleOf(operand);
    if (scale !== undefined) for (const item of items) this.checkEnumLiteral(operand as PathNode, scale, item);
    const g = this.value(operand);
    const set = new Set<unknown>(items.map((i) => i.value));
    const [hit, miss]: [Tri, Tri] = negated ? [F, T] : [T, F];
    return (e) => {
      const v = g(e);
      if (v === undefined || v === null || v !== v) return U;
      return set.has(v) ? hit : miss;
    };
  }
}

function logic(kind: 'and' | 'or', items: Pred[]): Pred {
  const [a, b] = items as [Pred, Pred];
  if (kind === 'and') {
    if (items.length === 2) {
      return (e) => {
        const x = a(e);
        if (x === F) return F;
        const y = b(e);
        return x < y ? x : y;
      };
    }
    return (e) => {
      let r: Tri = T;
      for (let i = 0; i < items.length; i++) {
        const x = items[i]!(e);
        if (x === F) return F;
        if (x < r) r = x;
      }
      return r;
    };
  }
  if (items.length === 2) {
    return (e) => {
      const x = a(e);
      if (x === T) return T;
      const y = b(e);
      return x > y ? x : y;
    };
  }
  return (e) => {
    let r: Tri = F;
    for (let i = 0; i < items.length; i++) {
      const x = items[i]!(e);
      if (x === T) return T;
      if (x > r) r = x;
    }
    return r;
  };
}

/** `text CONTAINS 'sub'` (substring) or `list CONTAINS value` (an element, strictly equal). */
function contains(hay: Get, needle: Get, negated: boolean): Pred {
  const [hit, miss]: [Tri, Tri] = negated ? [F, T] : [T, F];
  return (e) => {
    const h = hay(e);
    const n = needle(e);
    if (n === undefined || n === null || n !== n) return U;
    if (typeof h === 'string') return typeof n === 'string' ? (h.includes(n) ? hit : miss) : U;
    if (Array.isArray(h)) return h.includes(n) ? hit : miss;
    return U;
  };
}
