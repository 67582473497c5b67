import { Type, type Static } from '@sinclair/typebox';
import type { AuditEntry } from '../auth/audit.js';
import type { FailSafeOutcome } from '../decisions/action-triggers.js';

/**
 * Approval types (seed 001 §8.2 step 6, §8.3): who must answer an approval request first and
 * what happens when nobody does. The type is the `notify_authority` target (the seed's
 * `traffic_officer`); a type the config does not name gets `defaultType`.
 */
export const FAIL_SAFES = ['auto_approve', 'auto_reject', 'escalate'] as const;
export type FailSafe = (typeof FAIL_SAFES)[number];

export const ApprovalTypeSchema = Type.Object(
  {
    /** The authority level that answers first (seed 001 §8.3: L1 Local Officer … L5 National Admin). */
    level: Type.Integer({ minimum: 1, maximum: 5 }),
    /** How long each level has before the fail-safe runs (seed §8.2: "e.g., 30 minutes"). */
    timeoutMs: Type.Integer({ minimum: 1000, maximum: 30 * 86_400_000 }),
    /** What runs then (seed §8.2: "auto-approve or auto-reject"; escalate hands it one level up). */
    failSafe: Type.Union(FAIL_SAFES.map((f) => Type.Literal(f))),
  },
  { additionalProperties: false },
);
export type ApprovalTypeSettings = Static<typeof ApprovalTypeSchema>;

export const ApprovalsConfigSchema = Type.Object(
  {
    defaultType: ApprovalTypeSchema,
    types: Type.Record(Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,100}$' }), ApprovalTypeSchema),
  },
  { additionalProperties: false },
);
export type ApprovalsConfig = Static<typeof ApprovalsConfigSchema>;

/** The highest authority level; an escalation beyond it goes to the parent node. */
export const TOP_LEVEL = 5;

/** The settings of approval type `name`. */
export function approvalType(config: ApprovalsConfig, name: string | null): ApprovalTypeSettings {
  return (name !== null && Object.hasOwn(config.types, name) ? config.types[name] : undefined) ?? config.defaultType;
}

export function failSafeOutcomeOf(failSafe: FailSafe): FailSafeOutcome {
  return failSafe === 'auto_approve' ? 'approve' : failSafe === 'auto_reject' ? 'reject' : 'escalate';
}

/**
 * A duration in the words escalation conditions use, `30_minutes`, so a type's timeout reads
 * like a plugin's own rule (`no_L1_response_within_30_minutes`) and parses the same way.
 */
export function durationWords(ms: number): string {
  for (const [unit, size] of [['day', 86_400_000], ['hour', 3_600_000], ['minute', 60_000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}_${unit}${ms === size ? '' : 's'}`;
  }
  const s = Math.max(1, Math.round(ms / 1000));
  return `${s}_second${s === 1 ? '' : 's'}`;
}

/** The payload of a `fail_safe` timer row (src/decisions/timers.ts). */
export interface FailSafeTimerPayload {
  request_id: string;
  decision_id: string;
  /** e.g. `no_officer_response_within_30_minutes` */
  condition: string;
  /** e.g. `auto_approve_fine` */
  action: string;
  outcome: FailSafeOutcome;
  /** The level the timer guards; absent on timers stored before levels existed (any level). */
  level?: number;
}

/** Who acts on a request: an authority (or the admin token) through the API, or a fail-safe timer. */
export interface Actor {
  /** Written to resolved_by, approver_id, approval_history and feedback. */
  id: string;
  /** The authority level; null for the admin token and fail-safes. */
  level: number | null;
  kind: 'human' | 'fail_safe';
  audit: AuditEntry['actor'];
  remote?: string | null;
}

export const FAIL_SAFE_ACTOR: Actor = { id: 'fail-safe', level: null, kind: 'fail_safe', audit: { kind: 'system', id: 'fail-safe' } };
