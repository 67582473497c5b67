import type { ActionDefinition } from '../plugins/registration.js';
import { compileCondition, type CompiledCondition } from '../rules/expression.js';
import type { TriggerHit } from './types.js';

/**
 * A plugin's action definitions (seed 001 §2.2 step 3) compiled for the hot path.
 *
 * The trigger name is a label, except when it reads `{value}_detected` and `value` is one of the
 * values of an enum field of the plugin's schema: then the trigger also requires that field to
 * hold that value. So the seed's `speeding_detected` on a plugin whose `violation_type` enum
 * holds `speeding` fires for speeding events only, not for a red-light event of high severity —
 * what the trigger's name promises. The implied test shows in the decision's rationale.
 */
export interface CompiledTrigger {
  index: number;
  name: string;
  condition: CompiledCondition | null;
  /** The test implied by the trigger name, e.g. { field: 'violation_type', value: 'speeding' }. */
  implied: { field: string; value: string } | null;
}

export function compileTriggers(
  definitions: readonly ActionDefinition[],
  jsonSchema: { properties?: Record<string, unknown> },
  severityValues: readonly string[] | null,
): CompiledTrigger[] {
  const orderedEnums: Record<string, readonly string[]> = severityValues ? { severity: severityValues } : {};
  const enums = enumFields(jsonSchema);
  return definitions.map((d, index) => ({
    index,
    name: d.trigger,
    // Conditions were compiled once at registration already; a throw here would mean the
    // stored definition changed underneath, which registration forbids.
    condition: d.condition === undefined ? null : compileCondition(d.condition, { orderedEnums }),
    implied: impliedTest(d.trigger, enums),
  }));
}

/**
 * The definitions whose trigger and condition hold for `event`, or null when none does (the
 * common case: no allocation).
 */
export function evaluateTriggers(triggers: readonly CompiledTrigger[], event: Record<string, unknown>): TriggerHit[] | null {
  let hits: TriggerHit[] | null = null;
  for (let i = 0; i < triggers.length; i++) {
    const t = triggers[i]!;
    if (t.implied !== null && event[t.implied.field] !== t.implied.value) continue;
    if (t.condition !== null && !t.condition.test(event)) continue;
    const values = t.condition === null ? {} : t.condition.values(event);
    if (t.implied !== null) values[t.implied.field] = t.implied.value;
    (hits ??= []).push({ definition: t.index, values });
  }
  return hits;
}

function enumFields(jsonSchema: { properties?: Record<string, unknown> }): Map<string, string> {
  const byValue = new Map<string, string>();
  for (const [field, schema] of Object.entries(jsonSchema.properties ?? {})) {
    const values = (schema as { enum?: unknown }).enum;
    if (!Array.isArray(values) || field === 'severity') continue;
    for (const v of values) if (typeof v === 'string' && !byValue.has(v)) byValue.set(v, field);
  }
  return byValue;
}

function impliedTest(trigger: string, enums: Map<string, string>): CompiledTrigger['implied'] {
  const m = /^(.+)_detected$/.exec(trigger);
  if (!m) return null;
  const field = enums.get(m[1]!);
  return field === undefined ? null : { field, value: m[1]! };
}

/**
 * Reads an escalation rule's time condition (seed: `no_officer_response_within_30_minutes`).
 * Returns milliseconds, or null when the text is not a time condition.
 */
export function escalationDelayMs(condition: string): number | null {
  const m = /_within_(\d+)_(second|minute|hour|day)s?$/.exec(condition);
  if (!m) return null;
  const n = Number(m[1]);
  const unit = { second: 1_000, minute: 60_000, hour: 3_600_000, day: 86_400_000 }[m[2] as 'second' | 'minute' | 'hour' | 'day'];
  return n > 0 ? n * unit : null;
}

/** What a fail-safe does when its timer fires: from the escalation rule's action name. */
export type FailSafeOutcome = 'approve' | 'reject' | 'escalate';

export function failSafeOutcome(action: string): FailSafeOutcome | null {
  if (/^auto_approve(_|$)/.test(action)) return 'approve';
  if (/^auto_reject(_|$)/.test(action)) return 'reject';
  if (/^escalate(_|$)/.test(action)) return 'escalate';
  return null;
}
