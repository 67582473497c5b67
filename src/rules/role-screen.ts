/**
 * Which correlation-rule roles an event can play (seed 001 §3.3 `trigger`, `correlate_with`, …),
 * decided where the event is decoded — in an ingest worker or inline — while it is still an
 * object (DESIGN.md "Hot paths"). Conditions are compiled once, here, and roles are indexed by
 * event type, so an event no rule cares about costs one Map lookup and allocates nothing.
 *
 * Built from plain `CorrelationRuleSpec`s, so a worker thread can build its own copy from the
 * specs it is sent.
 *
 * @example
 *   const screen = new RoleScreen(parseRuleDocuments(yamlText, 'rules/flood.yaml'));
 *   screen.screen('flood_warning', 'flood_prediction_model', { water_level_cm: 42 });
 *   // [{ rule: 'flood_traffic_coordination', role: 0, values: { water_level_cm: 42 } }]
 */
import type { RoleHit } from '../decisions/types.js';
import type { CorrelationRuleSpec } from './correlation-types.js';
import { compileCondition, type CompiledCondition, type CompileOptions } from './expression.js';
import { parseCondition, type Segment } from './expression-parser.js';
import { SEVERITY_LEVELS } from '../events/severity.js';

/** The severity scale of events and decisions, lowest first. */

/** How rule conditions are compiled: when a file is read (rule-file.ts) and here, where they run. */
export const RULE_CONDITION_OPTIONS: CompileOptions = Object.freeze({ orderedEnums: Object.freeze({ severity: SEVERITY_LEVELS }) });

interface ScreenRole {
  readonly rule: string;
  readonly role: number;
  readonly source: string | null;
  readonly condition: CompiledCondition | null;
  /** The rule's match_on fields: the path as the spec spells it (the key in `values`) and its segments. */
  readonly matchOn: ReadonlyArray<readonly [string, readonly Segment[]]>;
}

/** What `screen` returns for an event that fits no role: shared, and frozen so nobody adds to it. */
const NO_HITS: RoleHit[] = Object.freeze([]) as unknown as RoleHit[];
const NO_ROLES: readonly ScreenRole[] = Object.freeze([]);

export class RoleScreen {
  /** Roles by the event type they require, in rule order then role order. */
  readonly #byType = new Map<string, readonly ScreenRole[]>();
  /** Roles that take any event type (they name only a source or a condition). */
  readonly #anyType: readonly ScreenRole[];
  /** Number of roles screened. */
  readonly size: number;

  constructor(specs: readonly CorrelationRuleSpec[]) {
    const byType = new Map<string, ScreenRole[]>();
    const anyType: ScreenRole[] = [];
    // A condition text used by several roles is compiled once.
    const compiled = new Map<string, CompiledCondition>();
    let size = 0;
    for (const spec of specs) {
      if (!spec.enabled) continue;
      const matchOn = spec.matchOn.map((path) => [path, pathSegments(path)] as const);
      spec.roles.forEach((r, index) => {
        let condition: CompiledCondition | null = null;
        if (r.condition !== null) {
          condition = compiled.get(r.condition) ?? compileCondition(r.condition, RULE_CONDITION_OPTIONS);
          compiled.set(r.condition, condition);
        }
        const role: ScreenRole = { rule: spec.name, role: index, source: r.source, condition, matchOn };
        if (r.eventType === null) anyType.push(role);
        else {
          const list = byType.get(r.eventType);
          if (list === undefined) byType.set(r.eventType, [role]);
          else list.push(role);
        }
        size++;
      });
    }
    for (const [type, list] of byType) this.#byType.set(type, Object.freeze(list));
    this.#anyType = anyType.length === 0 ? NO_ROLES : Object.freeze(anyType);
    this.size = size;
  }

  /**
   * The roles the event fits: its type and plugin match the role's and the role's condition
   * holds. `values` holds what the condition read and the rule's match_on fields. The result for
   * an event that fits nothing is a shared frozen empty array.
   */
  screen(eventType: string, pluginId: string, payload: Record<string, unknown>): RoleHit[] {
    const typed = this.#byType.get(eventType);
    const any = this.#anyType;
    if (typed === undefined && any.length === 0) return NO_HITS;
    let out: RoleHit[] | null = null;
    if (typed !== undefined) out = this.#check(typed, pluginId, payload, out);
    if (any.length > 0) out = this.#check(any, pluginId, payload, out);
    return out ?? NO_HITS;
  }

  /** Whether any role wants events of this type (for callers that can skip work early). */
  wants(eventType: string): boolean {
    return this.#anyType.length > 0 || this.#byType.has(eventType);
  }

  #check(roles: readonly ScreenRole[], pluginId: string, payload: Record<string, unknown>, out: RoleHit[] | null): RoleHit[] | null {
    for (let i = 0; i < roles.length; i++) {
      const r = roles[i]!;
      if (r.source !== null && r.source !== pluginId) continue;
      if (r.condition !== null && !r.condition.test(payload)) continue;
      const values: Record<string, unknown> = r.condition === null ? {} : r.condition.values(payload);
      for (let k = 0; k < r.matchOn.length; k++) {
        const [path, segments] = r.matchOn[k]!;
        values[path] = readPath(payload, segments);
      }
      (out ??= []).push({ rule: r.rule, role: r.role, values });
    }
    return out;
  }
}

/** The segments of a match_on path, parsed as the expression language spells paths (`a.b[0]`). */
function pathSegments(path: string): readonly Segment[] {
  const { root } = parseCondition(path);
  if (root.kind !== 'truth' || root.operand.kind !== 'path') throw new TypeError(`match_on entry ${JSON.stringify(path)} is not a field path`);
  return root.operand.segments;
}

/**
 * Reads a path as conditions do: own properties of objects, in-range elements of arrays,
 * anything else undefined (so `toString` or a polluted prototype never reaches a decision).
 */
export function readPath(obj: unknown, segments: readonly Segment[]): unknown {
  let o = obj;
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!;
    if (typeof o !== 'object' || o === null) return undefined;
    if (typeof s === 'number') o = Array.isArray(o) && s < o.length ? o[s] : undefined;
    else o = Object.hasOwn(o, s) ? (o as Record<string, unknown>)[s] : undefined;
  }
  return o;
}
