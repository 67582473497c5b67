import type { ActionSpec } from '../decisions/types.js';

/**
 * A correlation rule as plain data (seed 001 §3.3), after its YAML has been read and checked.
 * Every kind is a set of roles an event can play, plus how the roles must line up in time and
 * space:
 *
 * - correlation: roles[0] is the trigger, roles[1..] the `correlate_with` entries; fires once per
 *   trigger event when every correlate_with role has an event within `windowMs` of it (before
 *   or after: "in either order") and within `radiusM` metres (or the same zone, `sameZone`).
 * - sequence: roles in order (A then B then …); each next step within `windowMs` of the first.
 * - count: roles[0] only; fires when `count` such events lie within `radiusM` and `windowMs`.
 * - absence: roles[0] = A, roles[1] = B; fires when an A is not followed by a matching B within `windowMs`.
 *
 * `matchOn` names payload fields that must be equal across the events of one match (the same
 * vehicle, the same incident), in addition to time and place.
 */
export type CorrelationKind = 'correlation' | 'sequence' | 'count' | 'absence';

export interface RoleSpec {
  /** How the role is named in rationales: 'trigger', 'correlate_with[0]', 'steps[1]', 'expect', … */
  name: string;
  /** Event type the event must have (its event_type); null = any. */
  eventType: string | null;
  /** Plugin model_id the event must come from; null = any. */
  source: string | null;
  /** Condition on the event's payload, in the rules expression language; null = none. */
  condition: string | null;
  /**
   * correlate_with roles only (the seed writes `time_window`/`location_radius` on the entry):
   * this role's own window, radius and same-zone requirement, relative to the trigger. Absent
   * or null = the rule's `windowMs` / `radiusM` / `sameZone`.
   */
  windowMs?: number | null;
  radiusM?: number | null;
  sameZone?: boolean | null;
}

export interface CorrelationRuleSpec {
  name: string;
  kind: CorrelationKind;
  description: string | null;
  /** Higher wins among simultaneous matches (decision engine), default 0. */
  priority: number;
  /** Severity the decision gets; null = the highest severity among the matched events. */
  severity: string | null;
  enabled: boolean;
  roles: RoleSpec[];
  /** For correlation rules: the rule's own time_window, else the widest of the correlate_with entries' windows. */
  windowMs: number;
  /** Metres; null = no distance limit (or sameZone decides). */
  radiusM: number | null;
  sameZone: boolean;
  /** For count rules: how many events. */
  count: number | null;
  matchOn: string[];
  actions: ActionSpec[];
  /** Where it came from, for errors and the API: a file path and line, or 'api'. */
  origin: { file: string | null; line: number | null };
}
