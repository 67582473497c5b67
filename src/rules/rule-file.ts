/**
 * Correlation rule files (seed 001 §3.3): YAML (or JSON, which YAML reads too) into checked
 * `CorrelationRuleSpec`s. A file holds one or more YAML documents separated by `---`; each is a
 * rule (`correlation_rule:`, `sequence_rule:`, `count_rule:` or `absence_rule:`), a `rules:` list
 * of them, or a bare list of them. Everything is checked here, once: unknown keys are refused (a
 * misspelt `condtion` must not make a rule fire on every event), every condition is compiled,
 * durations and distances are read with their units, and every error names the line.
 *
 * Keys every kind takes: `name` (required, `^[A-Za-z0-9_.:-]{1,100}$`, unique in the file),
 * `description`, `priority` (integer, default 0, higher first), `severity` (low|medium|high|
 * critical; default: the highest among the matched events), `enabled` (default true),
 * `time_window`, `location_radius`, `same_zone`, `match_on` (payload fields that must be equal
 * across the matched events, e.g. [vehicle_id]) and `actions` (a list of mappings with a `type`).
 * A role (an event the rule waits for) is a mapping of `event_type`, `source` (the plugin's
 * model_id) and `condition` (the rules expression language, see expression.ts), at least one.
 *
 * Durations: `last_5_minutes`, `5_minutes`, `5 minutes`, `90_seconds`, `1_hour`, `30s`, `5m`,
 * `2h`, `1d`, `500ms`, ISO-8601 `PT5M`; a bare number is refused (seconds? minutes?). Distances:
 * `500_meters`, `500_metres`, `500m`, `1.5_km`, `1.5km`, `2_kilometers`. Limits: windows up to
 * 24 h, radii up to 100 km, counts up to 10,000, up to 16 roles.
 *
 * correlation — the seed's own rule, as written there: fires once per trigger event when every
 * `correlate_with` role has an event within its window (before or after the trigger) and radius.
 * `time_window`/`location_radius`/`same_zone` may sit on each correlate_with entry (the seed's
 * way) or on the rule (the default for entries that have none); a window is required.
 *
 *   correlation_rule:
 *     name: "flood_traffic_coordination"
 *     trigger:
 *       - event_type: "flood_warning"
 *         source: "flood_prediction_model"
 *         condition: "water_level_cm > 30"
 *     correlate_with:
 *       - event_type: "traffic_status"
 *         source: "traffic_monitoring"
 *         time_window: "last_5_minutes"
 *         location_radius: "500_meters"
 *     actions:
 *       - type: "traffic_reroute"
 *         target: "traffic_control_system"
 *         parameters: { close_roads: ["identified_flooded_roads"], suggest_alternatives: true }
 *       - type: "escalate"
 *         target: "district_layer"
 *         reason: "multi_road_flooding_detected"
 *
 * sequence — the steps in event-time order, all within `time_window` of the first step:
 *
 *   sequence_rule:
 *     name: wrong_way_then_crash
 *     steps:
 *       - { event_type: wrong_way_driver }
 *       - { event_type: collision, condition: "vehicles_involved >= 2" }
 *     time_window: 10m
 *     location_radius: 1km
 *     actions: [{ type: notify, target: emergency_services }]
 *
 * count — `count` events of one kind (written inline or under `match:`) within the window and
 * radius of each other; the events of a match are used up, so 10 events with count 5 match twice:
 *
 *   count_rule:
 *     name: pothole_cluster
 *     event_type: pothole_report
 *     condition: "confidence_score > 0.7"
 *     count: 5
 *     time_window: 1h
 *     location_radius: 200m
 *     actions: [{ type: create_work_order, target: road_maintenance }]
 *
 * absence — a `trigger` (A) not followed by an `expect` (B) within `time_window`:
 *
 *   absence_rule:
 *     name: ambulance_not_dispatched
 *     trigger: { event_type: cardiac_arrest_report }
 *     expect: { event_type: ambulance_dispatched }
 *     time_window: 3m
 *     same_zone: true
 *     match_on: [incident_id]
 *     actions: [{ type: escalate, target: district_layer, reason: no_dispatch }]
 */
import {
  LineCounter,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  parseAllDocuments,
  type ParsedNode,
  type YAMLError,
} from 'yaml';
import { CityError, cityError } from '../errors.js';
import type { ActionSpec } from '../decisions/types.js';
import type { CorrelationKind, CorrelationRuleSpec, RoleSpec } from './correlation-types.js';
import { compileCondition } from './expression.js';
import { parseCondition } from './expression-parser.js';
import { SEVERITY_LEVELS } from '../events/severity.js';
import { RULE_CONDITION_OPTIONS } from './role-screen.js';

export const RULE_KINDS: readonly CorrelationKind[] = Object.freeze(['correlation', 'sequence', 'count', 'absence']);

// Declared with the screen, which ingest workers load without this file (and its YAML parser).
export { RULE_CONDITION_OPTIONS };

export const RULE_LIMITS = Object.freeze({
  maxWindowMs: 24 * 3_600_000,
  maxRadiusM: 100_000,
  maxCount: 10_000,
  maxRoles: 16,
  maxActions: 32,
  maxMatchOn: 8,
  maxRulesPerFile: 1_000,
  maxFileChars: 1_000_000,
  /** Nesting of action parameters. */
  maxDepth: 32,
  /** Brackets of flow collections, and block indentation, before the YAML parser sees the text (see checkNesting). */
  maxFlowDepth: 64,
  maxIndent: 256,
});

export const RULE_NAME = /^[A-Za-z0-9_.:-]{1,100}$/;

const KIND_KEYS: Readonly<Record<string, CorrelationKind>> = {
  correlation_rule: 'correlation',
  sequence_rule: 'sequence',
  count_rule: 'count',
  absence_rule: 'absence',
};
const KIND_KEY_LIST = Object.keys(KIND_KEYS);

const COMMON_KEYS = [
  'name', 'description', 'priority', 'severity', 'enabled',
  'time_window', 'location_radius', 'same_zone', 'match_on', 'actions',
] as const;
const KEYS: Readonly<Record<CorrelationKind, readonly string[]>> = {
  correlation: [...COMMON_KEYS, 'trigger', 'correlate_with'],
  sequence: [...COMMON_KEYS, 'steps'],
  count: [...COMMON_KEYS, 'event_type', 'source', 'condition', 'match', 'count'],
  absence: [...COMMON_KEYS, 'trigger', 'expect'],
};
const ROLE_KEYS = ['event_type', 'source', 'condition'] as const;
const CORRELATE_KEYS = [...ROLE_KEYS, 'time_window', 'location_radius', 'same_zone'] as const;

// ---------------------------------------------------------------------------------------------
// Durations and distances

const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1, msec: 1, millisecond: 1, milliseconds: 1,
  s: 1000, sec: 1000, secs: 1000, second: 1000, seconds: 1000,
  m: 60_000, min: 60_000, mins: 60_000, minute: 60_000, minutes: 60_000,
  h: 3_600_000, hr: 3_600_000, hrs: 3_600_000, hour: 3_600_000, hours: 3_600_000,
  d: 86_400_000, day: 86_400_000, days: 86_400_000,
};
const DURATION = /^(?:last[_ ])?(\d+(?:\.\d+)?)[_ ]?([a-z]+)$/;
/** `last_hour`, `last_minute`: one of the unit. */
const DURATION_ONE = /^last[_ ](second|minute|hour|day)$/;
const ISO_DURATION = /^p(?:(\d+(?:\.\d+)?)d)?(?:t(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?)?$/;

/**
 * A duration in milliseconds, or null when the text is not one.
 *
 * @example
 *   parseDuration('last_5_minutes'); // 300000
 *   parseDuration('PT1M30S'); // 90000
 *   parseDuration('300'); // null: seconds or milliseconds?
 */
export function parseDuration(text: string): number | null {
  if (typeof text !== 'string') return null;
  const t = text.trim().toLowerCase();
  let ms: number;
  const m = DURATION.exec(t);
  if (m !== null) {
    const unit = UNIT_MS[m[2]!];
    if (unit === undefined) return null;
    ms = Number(m[1]) * unit;
  } else if (DURATION_ONE.test(t)) {
    ms = UNIT_MS[t.slice(5)]!;
  } else {
    const iso = ISO_DURATION.exec(t);
    // `P` and `PT` alone name no duration; `T` needs a component after it.
    if (iso === null || t === 'p' || t.endsWith('t')) return null;
    const [, d, h, mi, s] = iso;
    ms = Number(d ?? 0) * 86_400_000 + Number(h ?? 0) * 3_600_000 + Number(mi ?? 0) * 60_000 + Number(s ?? 0) * 1000;
  }
  return Number.isFinite(ms) ? Math.round(ms) : null;
}

const UNIT_M: Readonly<Record<string, number>> = {
  m: 1, meter: 1, meters: 1, metre: 1, metres: 1,
  km: 1000, kilometer: 1000, kilometers: 1000, kilometre: 1000, kilometres: 1000,
};
const DISTANCE = /^(\d+(?:\.\d+)?)[_ ]?([a-z]+)$/;

/**
 * A distance in metres, or null when the text is not one.
 *
 * @example
 *   parseDistance('500_meters'); // 500
 *   parseDistance('1.5km'); // 1500
 */
export function parseDistance(text: string): number | null {
  if (typeof text !== 'string') return null;
  const m = DISTANCE.exec(text.trim().toLowerCase());
  if (m === null) return null;
  const unit = UNIT_M[m[2]!];
  if (unit === undefined) return null;
  const metres = Number(m[1]) * unit;
  return Number.isFinite(metres) ? metres : null;
}

function formatMs(ms: number): string {
  return ms % 3_600_000 === 0 ? `${ms / 3_600_000} h` : ms % 60_000 === 0 ? `${ms / 60_000} min` : `${ms / 1000} s`;
}

// ---------------------------------------------------------------------------------------------
// Reading the YAML tree with positions

type YNode = ParsedNode;
interface Field {
  key: YNode;
  value: YNode | null;
}

/** Where a node starts, 1-based. */
interface At {
  line: number;
  column: number;
}

class Reader {
  /** The rule being read, for errors: its name once known. */
  rule = '(unnamed)';

  constructor(
    readonly file: string | null,
    private readonly lines: LineCounter,
  ) {}

  at(node: YNode | null | undefined, fallback?: YNode | null): At {
    const n = node ?? fallback;
    const offset = n?.range?.[0] ?? 0;
    const { line, col } = this.lines.linePos(offset);
    return { line, column: col };
  }

  fail(node: YNode | null | undefined, path: string, reason: string, extra: Record<string, unknown> = {}, cause?: unknown): never {
    const { line, column } = this.at(node);
    const where = path === '' ? '' : `${path}: `;
    throw cityError(
      'RULE_INVALID',
      { rule: this.rule, reason: `line ${line}: ${where}${reason}`, file: this.file, line, column, path, ...extra },
      cause,
    );
  }

  /** The fields of a mapping, refusing keys not in `allowed` (with a did-you-mean). */
  fields(node: YNode | null, path: string, allowed: readonly string[], what = 'a mapping'): Map<string, Field> {
    if (node === null || !isMap(node)) this.fail(node, path, `expected ${what}, found ${describe(node)}`);
    const out = new Map<string, Field>();
    for (const pair of node.items) {
      const key = pair.key as YNode;
      if (!isScalar(key) || typeof key.value !== 'string') this.fail(key, path, `keys must be names, found ${describe(key)}`);
      const name = key.value;
      if (!allowed.includes(name)) {
        const hint = closest(name, allowed);
        const guess = hint === null ? '' : ` (did you mean '${hint}'?)`;
        this.fail(key, path, `unknown key '${name}'${guess}; allowed keys are ${allowed.join(', ')}`, { key: name });
      }
      out.set(name, { key, value: (pair.value as YNode | null) ?? null });
    }
    return out;
  }

  node(f: Field): YNode {
    if (f.value === null) this.fail(f.key, '', 'a value is missing');
    if (isAlias(f.value)) this.fail(f.value, '', 'anchors and aliases (*name) are not supported in rule files');
    return f.value;
  }

  /** A scalar's value; null (`key:` or `key: null`) is "not given". */
  scalar(f: Field | undefined, path: string): { node: YNode; value: unknown } | null {
    if (f === undefined) return null;
    const node = f.value ?? f.key;
    if (isAlias(node)) this.fail(node, path, 'anchors and aliases (*name) are not supported in rule files');
    if (f.value === null || (isScalar(node) && node.value === null)) return null;
    if (!isScalar(node)) this.fail(node, path, `expected a single value, found ${describe(node)}`);
    return { node, value: node.value };
  }

  string(f: Field | undefined, path: string, maxLength = 200): string | null {
    const s = this.scalar(f, path);
    if (s === null) return null;
    if (typeof s.value !== 'string') this.fail(s.node, path, `expected text, found ${describe(s.node)}`);
    if (s.value.trim() === '') this.fail(s.node, path, 'must not be empty');
    if (s.value.length > maxLength) this.fail(s.node, path, `is ${s.value.length} characters long; the limit is ${maxLength}`);
    return s.value;
  }

  boolean(f: Field | undefined, path: string): boolean | null {
    const s = this.scalar(f, path);
    if (s === null) return null;
    if (typeof s.value !== 'boolean') this.fail(s.node, path, `expected true or false, found ${describe(s.node)}`);
    return s.value;
  }

  integer(f: Field | undefined, path: string, min: number, max: number): number | null {
    const s = this.scalar(f, path);
    if (s === null) return null;
    if (typeof s.value !== 'number' || !Number.isInteger(s.value)) this.fail(s.node, path, `expected a whole number, found ${describe(s.node)}`);
    if (s.value < min || s.value > max) this.fail(s.node, path, `${s.value} is out of range; allowed is ${min} to ${max}`);
    return s.value;
  }

  duration(f: Field | undefined, path: string): number | null {
    const s = this.scalar(f, path);
    if (s === null) return null;
    if (typeof s.value === 'number') {
      this.fail(s.node, path, `${s.value} is a bare number, which is ambiguous; write it with a unit, such as ${s.value}s or ${s.value}_minutes`);
    }
    const ms = typeof s.value === 'string' ? parseDuration(s.value) : null;
    if (ms === null) this.fail(s.node, path, `${show(s.value)} is not a duration such as 5_minutes, 30s or PT5M`);
    if (ms <= 0) this.fail(s.node, path, `${show(s.value)} must be longer than zero`);
    if (ms > RULE_LIMITS.maxWindowMs) this.fail(s.node, path, `${show(s.value)} is longer than the limit of ${formatMs(RULE_LIMITS.maxWindowMs)}`);
    return ms;
  }

  distance(f: Field | undefined, path: string): number | null {
    const s = this.scalar(f, path);
    if (s === null) return null;
    if (typeof s.value === 'number') {
      this.fail(s.node, path, `${s.value} is a bare number; write it with a unit, such as ${s.value}_meters or ${s.value}km`);
    }
    const m = typeof s.value === 'string' ? parseDistance(s.value) : null;
    if (m === null) this.fail(s.node, path, `${show(s.value)} is not a distance such as 500_meters, 500m or 1.5km`);
    if (m <= 0) this.fail(s.node, path, `${show(s.value)} must be more than zero`);
    if (m > RULE_LIMITS.maxRadiusM) this.fail(s.node, path, `${show(s.value)} is over the limit of ${RULE_LIMITS.maxRadiusM / 1000} km`);
    return m;
  }

  /** A sequence's items, or a lone mapping as a list of one when `single` allows it. */
  list(f: Field | undefined, path: string, what: string, single: boolean): YNode[] | null {
    if (f === undefined || f.value === null || (isScalar(f.value) && f.value.value === null)) return null;
    const node = this.node(f);
    if (isSeq(node)) {
      return node.items.map((item) => {
        if (isAlias(item)) this.fail(item as YNode, path, 'anchors and aliases (*name) are not supported in rule files');
        return item as YNode;
      });
    }
    if (single && isMap(node)) return [node];
    this.fail(node, path, `expected a list of ${what}, found ${describe(node)}`);
  }

  /** A YAML subtree as plain JSON data (action parameters): no aliases, no prototype keys, finite numbers. */
  plain(node: YNode | null, path: string, depth = 0): unknown {
    if (node === null) return null;
    if (depth > RULE_LIMITS.maxDepth) this.fail(node, path, `is nested more than ${RULE_LIMITS.maxDepth} levels deep`);
    if (isAlias(node)) this.fail(node, path, 'anchors and aliases (*name) are not supported in rule files');
    if (isScalar(node)) {
      const v = node.value;
      if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
      if (typeof v === 'number' && Number.isFinite(v)) return v;
      this.fail(node, path, `${describe(node)} cannot be stored as JSON`);
    }
    if (isSeq(node)) return node.items.map((item, i) => this.plain(item as YNode, `${path}[${i}]`, depth + 1));
    if (isMap(node)) {
      const out: Record<string, unknown> = {};
      for (const pair of node.items) {
        const key = pair.key as YNode;
        if (!isScalar(key) || (typeof key.value !== 'string' && typeof key.value !== 'number')) {
          this.fail(key, path, `keys must be names, found ${describe(key)}`);
        }
        const name = String(key.value);
        if (name === '__proto__' || name === 'constructor' || name === 'prototype') this.fail(key, path, `the key ${name} is not allowed`);
        out[name] = this.plain((pair.value as YNode | null) ?? null, `${path}.${name}`, depth + 1);
      }
      return out;
    }
    this.fail(node, path, `${describe(node)} cannot be stored as JSON`);
  }
}

function describe(node: unknown): string {
  if (node === null || node === undefined) return 'nothing';
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isAlias(node)) return 'an alias';
  if (isScalar(node)) {
    const v = node.value;
    if (v === null) return 'null';
    if (typeof v === 'string') return `the text ${show(v)}`;
    return `${typeof v === 'number' ? 'the number' : typeof v === 'boolean' ? 'the value' : 'the value'} ${String(v)}`;
  }
  return 'an unknown node';
}

function show(v: unknown): string {
  const s = typeof v === 'string' ? v : String(v);
  return `'${s.length > 60 ? `${s.slice(0, 57)}...` : s}'`;
}

/** The allowed name nearest to a misspelt one (edit distance ≤ 2), for "did you mean". */
function closest(name: string, allowed: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = 3;
  for (const a of allowed) {
    const d = editDistance(name.toLowerCase(), a);
    if (d < bestD) {
      bestD = d;
      best = a;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

// ---------------------------------------------------------------------------------------------
// Rules

/**
 * Reads every rule in a rule file (YAML or JSON; several documents and/or a `rules:` list).
 * Throws CITY_ERR_RULE_INVALID naming the rule, the line and what is wrong, with details
 * { rule, reason, file, line, column, path }.
 *
 * @example
 *   const [rule] = parseRuleDocuments(readFileSync('rules/flood.yaml', 'utf8'), 'rules/flood.yaml');
 *   rule.roles[0]; // { name: 'trigger', eventType: 'flood_warning', source: 'flood_prediction_model', condition: 'water_level_cm > 30' }
 */
export function parseRuleDocuments(text: string, file: string | null): CorrelationRuleSpec[] {
  if (typeof text !== 'string') throw cityError('RULE_INVALID', { rule: '(file)', reason: 'the rule file must be text', file });
  if (text.length > RULE_LIMITS.maxFileChars) {
    const reason = `the rule file is ${text.length} characters long; the limit is ${RULE_LIMITS.maxFileChars}`;
    throw cityError('RULE_INVALID', { rule: '(file)', reason, file });
  }
  const deep = checkNesting(text);
  if (deep !== null) {
    const reason = `line ${deep.line}, column ${deep.column}: ${deep.reason}`;
    throw cityError('RULE_INVALID', { rule: '(file)', reason, file, line: deep.line, column: deep.column, path: '' });
  }
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (!Array.isArray(docs)) return [];
  const r = new Reader(file, lines);
  const specs: CorrelationRuleSpec[] = [];
  const names = new Map<string, number>();

  for (let d = 0; d < docs.length; d++) {
    const doc = docs[d]!;
    r.rule = docs.length > 1 ? `(document ${d + 1})` : '(unnamed)';
    const error: YAMLError | undefined = doc.errors[0];
    if (error !== undefined) {
      const { line, col } = lines.linePos(error.pos[0]);
      const reason = `line ${line}, column ${col}: YAML syntax error: ${error.message}`;
      throw cityError('RULE_INVALID', { rule: r.rule, reason, file, line, column: col, path: '' }, error);
    }
    const root = doc.contents as YNode | null;
    if (root === null || (isScalar(root) && root.value === null)) continue;
    let entries: Array<{ node: YNode; path: string }>;
    if (isSeq(root)) {
      entries = root.items.map((n, i) => ({ node: n as YNode, path: `[${i}]` }));
    } else if (isMap(root) && root.items.some((p) => isScalar(p.key) && p.key.value === 'rules')) {
      const f = r.fields(root, '', ['rules']);
      const items = r.list(f.get('rules'), 'rules', 'rules', false) ?? [];
      entries = items.map((n, i) => ({ node: n, path: `rules[${i}]` }));
    } else {
      entries = [{ node: root, path: '' }];
    }
    for (const { node, path } of entries) {
      r.rule = path === '' ? r.rule : path;
      const { spec, nameNode, namePath } = readEntry(r, node, path);
      const first = names.get(spec.name);
      if (first !== undefined) r.fail(nameNode, namePath, `'${spec.name}' is already the name of the rule at line ${first}; rule names must be unique in a file`);
      names.set(spec.name, spec.origin.line ?? 0);
      specs.push(spec);
      if (specs.length > RULE_LIMITS.maxRulesPerFile) r.fail(node, path, `a file holds at most ${RULE_LIMITS.maxRulesPerFile} rules`);
    }
  }
  return specs;
}

/**
 * Refuses text nested deeper than any rule needs, before the YAML parser recurses into it.
 * The parser turns a stack overflow into a syntax error, but measured here (yaml 2.9, Node 20)
 * a few hundred kilobytes of `[[[[…` or `- - - …` can instead abort the process (V8 fails to
 * compile a regular expression with the stack exhausted): one rule file must not take the node
 * down. A rough scan — quotes and comments are skipped, brackets inside plain text are counted —
 * is enough, as the limits are far above what a rule uses.
 */
function checkNesting(text: string): { line: number; column: number; reason: string } | null {
  let depth = 0;
  let line = 1;
  let lineStart = 0;
  let atLineStart = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) {
      line++;
      lineStart = i + 1;
      atLineStart = true;
      continue;
    }
    if (atLineStart) {
      // Indentation, counting compact nesting (`- - - x`, `? - x`) as indentation too.
      let j = i;
      while (j < text.length) {
        const d = text.charCodeAt(j);
        const next = text.charCodeAt(j + 1);
        if (d === 32) j++;
        else if ((d === 45 || d === 63 || d === 58) && (next === 32 || next === 10 || Number.isNaN(next))) j += 2;
        else break;
      }
      if (j - lineStart > RULE_LIMITS.maxIndent) {
        return { line, column: RULE_LIMITS.maxIndent + 1, reason: `the text is indented or nested more than ${RULE_LIMITS.maxIndent} columns deep` };
      }
      atLineStart = false;
      i = j - 1;
      continue;
    }
    const prev = i === lineStart ? 32 : text.charCodeAt(i - 1);
    const tokenStart = prev === 32 || prev === 9 || prev === 91 || prev === 123 || prev === 44 || prev === 58;
    if (c === 35 && (prev === 32 || prev === 9)) {
      // A comment: to the end of the line.
      while (i + 1 < text.length && text.charCodeAt(i + 1) !== 10) i++;
    } else if ((c === 39 || c === 34) && tokenStart) {
      // A quoted scalar ('' escapes in single quotes, backslash escapes in double quotes).
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 10) {
          line++;
          lineStart = i + 1;
        } else if (c === 34 && d === 92) {
          i++;
        } else if (d === c) {
          if (c === 39 && text.charCodeAt(i + 1) === 39) i++;
          else break;
        }
      }
    } else if (c === 91 || c === 123) {
      if (++depth > RULE_LIMITS.maxFlowDepth) {
        return { line, column: i - lineStart + 1, reason: `brackets are nested more than ${RULE_LIMITS.maxFlowDepth} deep` };
      }
    } else if ((c === 93 || c === 125) && depth > 0) {
      depth--;
    }
  }
  return null;
}

/** `correlation_rule: {...}` (or another kind): exactly one key naming the kind. */
function readEntry(r: Reader, node: YNode, path: string): { spec: CorrelationRuleSpec; nameNode: YNode | null; namePath: string } {
  const what = `a rule: a mapping with one key, ${KIND_KEY_LIST.join(', ')}`;
  const f = r.fields(node, path, KIND_KEY_LIST, what);
  if (f.size !== 1) r.fail(node, path, `expected ${what}; found ${[...f.keys()].join(' and ')} together (write each rule as its own entry or document)`);
  const [[keyName, field]] = [...f.entries()] as [[string, Field]];
  const kind = KIND_KEYS[keyName]!;
  const at = path === '' ? keyName : `${path}.${keyName}`;
  const body = r.node(field);
  const spec = readRule(r, kind, body, at, r.at(field.key).line);
  const nameNode = isMap(body) ? ((body.items.find((p) => isScalar(p.key) && p.key.value === 'name')?.value as YNode | null) ?? null) : null;
  return { spec, nameNode, namePath: `${at}.name` };
}

function readRule(r: Reader, kind: CorrelationKind, node: YNode, path: string, line: number): CorrelationRuleSpec {
  // The name first, so that every later error can say which rule it is about.
  if (isMap(node)) {
    const nameItem = node.items.find((p) => isScalar(p.key) && p.key.value === 'name');
    const name = nameItem === undefined ? null : (nameItem.value as YNode | null);
    if (name !== null && isScalar(name) && typeof name.value === 'string' && RULE_NAME.test(name.value)) r.rule = name.value;
  }
  const f = r.fields(node, path, KEYS[kind]);
  const p = (key: string): string => `${path}.${key}`;

  const nameField = f.get('name');
  if (nameField === undefined) r.fail(node, path, 'the rule has no name');
  const name = r.string(nameField, p('name'), 1000);
  if (name === null) r.fail(nameField.value ?? nameField.key, p('name'), 'the rule has no name');
  if (!RULE_NAME.test(name)) {
    r.fail(nameField.value, p('name'), `${show(name)} is not a rule name: use 1 to 100 letters, digits and _ . : -`);
  }
  r.rule = name;

  const description = r.string(f.get('description'), p('description'), 2000);
  const priority = r.integer(f.get('priority'), p('priority'), -1_000_000, 1_000_000) ?? 0;
  const severity = r.string(f.get('severity'), p('severity'));
  if (severity !== null && !(SEVERITY_LEVELS as readonly string[]).includes(severity)) {
    r.fail(f.get('severity')!.value, p('severity'), `${show(severity)} is not a severity; allowed values are ${SEVERITY_LEVELS.join(', ')}`);
  }
  const enabled = r.boolean(f.get('enabled'), p('enabled')) ?? true;
  const ruleWindow = r.duration(f.get('time_window'), p('time_window'));
  const radiusM = r.distance(f.get('location_radius'), p('location_radius'));
  const sameZone = r.boolean(f.get('same_zone'), p('same_zone')) ?? false;
  const matchOn = readMatchOn(r, f.get('match_on'), p('match_on'));
  const actions = readActions(r, f.get('actions'), p('actions'), node);

  let roles: RoleSpec[];
  let windowMs = ruleWindow;
  let count: number | null = null;
  const needWindow = (): number => {
    if (ruleWindow === null) r.fail(node, path, `a ${kind} rule needs a time_window`);
    return ruleWindow;
  };

  switch (kind) {
    case 'correlation': {
      const trigger = readOne(r, f.get('trigger'), p('trigger'), 'trigger', node);
      const items = r.list(f.get('correlate_with'), p('correlate_with'), 'roles', true);
      if (items === null || items.length === 0) r.fail(f.get('correlate_with')?.key ?? node, p('correlate_with'), 'a correlation rule needs at least one correlate_with entry');
      checkRoleCount(r, items.length + 1, f.get('correlate_with')!.key, p('correlate_with'));
      roles = [trigger];
      let widest = 0;
      items.forEach((item, i) => {
        const role = readRole(r, item, `${p('correlate_with')}[${i}]`, `correlate_with[${i}]`, CORRELATE_KEYS);
        const w = role.windowMs ?? ruleWindow;
        if (w === null || w === undefined) {
          r.fail(item, `${p('correlate_with')}[${i}]`, 'has no time_window, and neither has the rule; a correlation needs one');
        }
        widest = Math.max(widest, w);
        roles.push(role);
      });
      windowMs = ruleWindow ?? widest;
      break;
    }
    case 'sequence': {
      const items = r.list(f.get('steps'), p('steps'), 'steps', false);
      if (items === null || items.length < 2) r.fail(f.get('steps')?.key ?? node, p('steps'), 'a sequence rule needs at least two steps');
      checkRoleCount(r, items.length, f.get('steps')!.key, p('steps'));
      roles = items.map((item, i) => readRole(r, item, `${p('steps')}[${i}]`, `steps[${i}]`, ROLE_KEYS));
      needWindow();
      break;
    }
    case 'count': {
      const inline = ROLE_KEYS.filter((k) => f.has(k));
      const match = f.get('match');
      if (match !== undefined && inline.length > 0) {
        r.fail(f.get(inline[0]!)!.key, p(inline[0]!), `write event_type, source and condition either under match: or on the rule, not both`);
      }
      const role =
        match !== undefined
          ? readRole(r, r.node(match), p('match'), 'match', ROLE_KEYS)
          : readRoleFields(r, f, path, 'match', node);
      roles = [role];
      const countField = f.get('count');
      if (countField === undefined) r.fail(node, path, 'a count rule needs count: how many events make a match');
      count = r.integer(countField, p('count'), 2, RULE_LIMITS.maxCount);
      if (count === null) r.fail(countField.key, p('count'), 'a count rule needs count: how many events make a match');
      needWindow();
      break;
    }
    case 'absence': {
      roles = [
        readOne(r, f.get('trigger'), p('trigger'), 'trigger', node),
        readOne(r, f.get('expect'), p('expect'), 'expect', node),
      ];
      needWindow();
      break;
    }
  }

  return {
    name,
    kind,
    description,
    priority,
    severity,
    enabled,
    roles,
    windowMs: windowMs!,
    radiusM,
    sameZone,
    count,
    matchOn,
    actions,
    origin: { file: r.file, line },
  };
}

function checkRoleCount(r: Reader, n: number, node: YNode, path: string): void {
  if (n > RULE_LIMITS.maxRoles) r.fail(node, path, `a rule has at most ${RULE_LIMITS.maxRoles} roles; this one has ${n}`);
}

/** `trigger:` / `expect:` — a mapping, or a list of exactly one (the seed writes `trigger: [- ...]`). */
function readOne(r: Reader, f: Field | undefined, path: string, name: string, ruleNode: YNode): RoleSpec {
  const key = path.slice(path.lastIndexOf('.') + 1);
  const items = r.list(f, path, 'roles', true);
  if (items === null || items.length === 0) r.fail(f?.key ?? ruleNode, path, `the rule needs a ${key}: the event it waits for`);
  if (items.length > 1) {
    r.fail(items[1]!, path, `has ${items.length} entries; a rule has one ${key} (write one rule per ${key}, or use a condition with OR)`);
  }
  return readRole(r, items[0]!, isSeq(f!.value) ? `${path}[0]` : path, name, ROLE_KEYS);
}

function readRole(r: Reader, node: YNode, path: string, name: string, allowed: readonly string[]): RoleSpec {
  const f = r.fields(node, path, allowed, `a role (a mapping of ${ROLE_KEYS.join(', ')})`);
  const role = readRoleFields(r, f, path, name, node);
  if (allowed === CORRELATE_KEYS) {
    const windowMs = r.duration(f.get('time_window'), `${path}.time_window`);
    const radiusM = r.distance(f.get('location_radius'), `${path}.location_radius`);
    const sameZone = r.boolean(f.get('same_zone'), `${path}.same_zone`);
    if (windowMs !== null) role.windowMs = windowMs;
    if (radiusM !== null) role.radiusM = radiusM;
    if (sameZone !== null) role.sameZone = sameZone;
  }
  return role;
}

function readRoleFields(r: Reader, f: Map<string, Field>, path: string, name: string, node: YNode): RoleSpec {
  const at = (k: string): string => (path === '' ? k : `${path}.${k}`);
  const eventType = r.string(f.get('event_type'), at('event_type'));
  const source = r.string(f.get('source'), at('source'));
  const condition = r.string(f.get('condition'), at('condition'), 4000);
  if (eventType === null && source === null && condition === null) {
    r.fail(node, path, 'a role needs at least one of event_type, source and condition (otherwise every event would fit it)');
  }
  if (condition !== null) {
    try {
      compileCondition(condition, RULE_CONDITION_OPTIONS);
    } catch (err) {
      if (!(err instanceof CityError) || err.code !== 'CITY_ERR_RULE_CONDITION_INVALID') throw err;
      const { position, reason } = err.details as { position: number; reason: string };
      r.fail(f.get('condition')!.value, at('condition'), `${show(condition)} is not a valid condition: at position ${position}: ${reason}`, { position, conditionReason: reason }, err);
    }
  }
  return { name, eventType, source, condition };
}

function readMatchOn(r: Reader, f: Field | undefined, path: string): string[] {
  if (f === undefined || f.value === null || (isScalar(f.value) && f.value.value === null)) return [];
  const node = r.node(f);
  const items = isScalar(node) ? [node] : r.list(f, path, 'field names', false) ?? [];
  if (items.length > RULE_LIMITS.maxMatchOn) r.fail(node, path, `at most ${RULE_LIMITS.maxMatchOn} fields`);
  const out: string[] = [];
  items.forEach((item, i) => {
    const at = isScalar(node) ? path : `${path}[${i}]`;
    if (!isScalar(item) || typeof item.value !== 'string') r.fail(item, at, `expected a field name such as vehicle_id, found ${describe(item)}`);
    const text = item.value;
    let canonical: string | null = null;
    try {
      const parsed = parseCondition(text);
      // A bare path parses as a truth test of that path; anything else is not a field name.
      if (parsed.root.kind === 'truth' && parsed.root.operand.kind === 'path') canonical = parsed.root.operand.path;
    } catch {
      canonical = null;
    }
    if (canonical === null) r.fail(item, at, `${show(text)} is not a field name (such as vehicle_id or location.zone_id)`);
    if (out.includes(canonical)) r.fail(item, at, `${show(text)} is listed twice`);
    out.push(canonical);
  });
  return out;
}

function readActions(r: Reader, f: Field | undefined, path: string, ruleNode: YNode): ActionSpec[] {
  const items = r.list(f, path, 'actions', true);
  if (items === null || items.length === 0) r.fail(f?.key ?? ruleNode, path, 'the rule needs at least one action (a mapping with a type)');
  if (items.length > RULE_LIMITS.maxActions) r.fail(f!.key, path, `at most ${RULE_LIMITS.maxActions} actions`);
  return items.map((item, i) => {
    const at = `${path}[${i}]`;
    if (!isMap(item)) r.fail(item, at, `expected an action (a mapping with a type), found ${describe(item)}`);
    const action = r.plain(item, at) as Record<string, unknown>;
    const type = action.type;
    if (typeof type !== 'string' || type.trim() === '' || type.length > 100) {
      const typeNode = item.items.find((p) => isScalar(p.key) && p.key.value === 'type');
      r.fail((typeNode?.value as YNode | null) ?? item, at, 'an action needs a type, such as traffic_reroute or escalate');
    }
    return action as ActionSpec;
  });
}
