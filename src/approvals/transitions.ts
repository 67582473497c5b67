import { sql, type Kysely, type Selectable, type Updateable } from 'kysely';
import type { AuditLog } from '../auth/audit.js';
import type { ApprovalStatus } from '../decisions/types.js';
import { uuidv7 } from '../events/ids.js';
import type { ApprovalRequestsTable, Database, DecisionsTable } from '../store/schema.js';
import { recordFeedback } from './feedback.js';
import { NOTHING_RELEASED, releaseHeldActions, type Released } from './release.js';
import { approvalType, durationWords, failSafeOutcomeOf, TOP_LEVEL, type Actor, type ApprovalsConfig, type FailSafeTimerPayload } from './types.js';

/**
 * The state changes of an approval request (seed 001 §8.2 step 5–6, §12.2), shared by the
 * officer's answer (src/approvals/service.ts) and the fail-safe timers
 * (src/decisions/timers.ts). Each runs inside the caller's transaction and starts with one
 * conditional UPDATE … WHERE status = 'pending' AND level = <the level read>: of two answers
 * racing for the same request exactly one matches; the other gets null and reports a conflict.
 * The decision, the held actions, the timers, the history, the audit row and the feedback row
 * change in that same transaction.
 */
export interface TransitionDeps {
  tenantId: string;
  nodeId: string;
  audit: AuditLog;
  approvals: ApprovalsConfig;
}

export type RequestRow = Selectable<ApprovalRequestsTable>;
export type Answer = 'approve' | 'reject' | 'escalate';

export interface TransitionResult {
  decisionId: string;
  requestId: string;
  zoneId: string | null;
  answer: Answer;
  /** The request's status now: approved, rejected, auto_approved, auto_rejected, escalated or pending (moved up a level). */
  requestStatus: string;
  approvalStatus: ApprovalStatus;
  /** The level that must answer now (escalation raised it) or that answered. */
  level: number;
  released: Released;
  /** A new fail-safe timer's due time (escalation), for the timers to wake up for. */
  timerAtMs: number | null;
  at: Date;
}

const STATUS: Record<'approve' | 'reject', Record<Actor['kind'], { request: string; decision: ApprovalStatus }>> = {
  approve: { human: { request: 'approved', decision: 'APPROVED' }, fail_safe: { request: 'auto_approved', decision: 'AUTO_APPROVED' } },
  reject: { human: { request: 'rejected', decision: 'REJECTED' }, fail_safe: { request: 'auto_rejected', decision: 'AUTO_REJECTED' } },
};

/** Approve or reject: runs or cancels the held actions. Null when the request was no longer pending at its level. */
export async function resolveRequest(
  tx: Kysely<Database>,
  deps: TransitionDeps,
  request: RequestRow,
  answer: 'approve' | 'reject',
  actor: Actor,
  notes: string | null,
  now: Date,
): Promise<TransitionResult | null> {
  const status = STATUS[answer][actor.kind];
  if (!(await claim(tx, request, { status: status.request, resolved_at: now, resolved_by: actor.id, resolution: answer, notes }))) return null;
  const decision = await tx
    .updateTable('decisions')
    .set({ approval_status: status.decision, approver_id: actor.id })
    .where('decision_id', '=', request.decision_id)
    .returningAll()
    .executeTakeFirstOrThrow();
  const reason = `${answer === 'approve' ? 'approved' : 'rejected'} by ${actor.id}${notes ? `: ${notes}` : ''}`;
  const released = await releaseHeldActions(tx, decision, answer, reason, deps.nodeId, now);
  await cancelTimers(tx, request.request_id, now, `the request was ${status.request} by ${actor.id}`);
  await recordFeedback(tx, {
    decision,
    recommendedAction: recommendedOf(request),
    humanDecision: answer,
    labelSource: actor.kind,
    approverId: actor.id,
    notes,
  });
  await recordStep(tx, deps, request, decision, actor, answer, notes, request.level, null, now, released);
  return { decisionId: request.decision_id, requestId: request.request_id, zoneId: request.zone_id, answer, requestStatus: status.request, approvalStatus: status.decision, level: request.level, released, timerAtMs: null, at: now };
}

/**
 * Escalate (seed §8.2 step 5, §8.3): the request moves to the next level up with a fresh
 * fail-safe timer of its approval type; the held actions keep waiting. At L5 there is no level
 * up on this node: the request goes to the parent node through the outbox and is `escalated`.
 */
export async function escalateRequest(
  tx: Kysely<Database>,
  deps: TransitionDeps,
  request: RequestRow,
  actor: Actor,
  notes: string | null,
  now: Date,
): Promise<TransitionResult | null> {
  if (request.level >= TOP_LEVEL) return escalateToParent(tx, deps, request, actor, notes, now);
  const type = approvalType(deps.approvals, request.approval_type ?? request.target_authority);
  const level = request.level + 1;
  const fireAtMs = now.getTime() + type.timeoutMs;
  if (!(await claim(tx, request, { level, escalations: request.escalations + 1, deadline_at: new Date(fireAtMs), fail_safe_action: type.failSafe }))) return null;
  await cancelTimers(tx, request.request_id, now, `escalated to L${level} by ${actor.id}`);
  const payload: FailSafeTimerPayload = {
    request_id: request.request_id,
    decision_id: request.decision_id,
    condition: `no_L${level}_response_within_${durationWords(type.timeoutMs)}`,
    action: type.failSafe,
    outcome: failSafeOutcomeOf(type.failSafe),
    level,
  };
  await tx
    .insertInto('timers')
    .values({ timer_id: uuidv7(now.getTime()), tenant_id: deps.tenantId, kind: 'fail_safe', fire_at: new Date(fireAtMs), payload: JSON.stringify(payload) })
    .execute();
  const decision = await tx.selectFrom('decisions').selectAll().where('decision_id', '=', request.decision_id).executeTakeFirstOrThrow();
  await recordStep(tx, deps, request, decision, actor, 'escalate', notes, request.level, level, now, NOTHING_RELEASED);
  return { decisionId: request.decision_id, requestId: request.request_id, zoneId: request.zone_id, answer: 'escalate', requestStatus: 'pending', approvalStatus: decision.approval_status as ApprovalStatus, level, released: NOTHING_RELEASED, timerAtMs: fireAtMs, at: now };
}

async function escalateToParent(tx: Kysely<Database>, deps: TransitionDeps, request: RequestRow, actor: Actor, notes: string | null, now: Date): Promise<TransitionResult | null> {
  if (!(await claim(tx, request, { status: 'escalated', resolved_at: now, resolved_by: actor.id, resolution: 'escalate', notes }))) return null;
  const decision = await tx
    .updateTable('decisions')
    .set({ approval_status: 'ESCALATED', approver_id: actor.id })
    .where('decision_id', '=', request.decision_id)
    .returningAll()
    .executeTakeFirstOrThrow();
  await tx
    .insertInto('outbox')
    .values({
      tenant_id: deps.tenantId,
      message_id: uuidv7(now.getTime()),
      destination: 'parent',
      kind: 'approval_escalation',
      payload: JSON.stringify({
        decision_id: request.decision_id,
        request_id: request.request_id,
        approval_type: request.approval_type ?? request.target_authority,
        level: request.level,
        zone_id: request.zone_id,
        severity: decision.severity,
        summary: request.summary,
        reason: notes ?? `escalated beyond L${TOP_LEVEL} by ${actor.id}`,
        source_node: deps.nodeId,
        escalated_at: now.toISOString(),
      }),
    })
    .execute();
  await cancelTimers(tx, request.request_id, now, `escalated to the parent node by ${actor.id}`);
  await recordStep(tx, deps, request, decision, actor, 'escalate', notes, request.level, null, now, NOTHING_RELEASED);
  return { decisionId: request.decision_id, requestId: request.request_id, zoneId: request.zone_id, answer: 'escalate', requestStatus: 'escalated', approvalStatus: 'ESCALATED', level: request.level, released: NOTHING_RELEASED, timerAtMs: null, at: now };
}

/**
 * The race every transition starts with: the request changes only if it is still pending at
 * the level that was read. Of two answers at once exactly one gets true.
 */
async function claim(tx: Kysely<Database>, request: RequestRow, change: Updateable<ApprovalRequestsTable>): Promise<boolean> {
  const won = await tx
    .updateTable('approval_requests')
    .set(change)
    .where('request_id', '=', request.request_id)
    .where('status', '=', 'pending')
    .where('level', '=', request.level)
    .returning('request_id')
    .executeTakeFirst();
  return won !== undefined;
}

/** Open timers of the request stop: it was answered, or a new level has its own timer. */
async function cancelTimers(tx: Kysely<Database>, requestId: string, now: Date, why: string): Promise<void> {
  await tx
    .updateTable('timers')
    .set({ cancelled_at: now, outcome: why })
    .where('fired_at', 'is', null)
    .where('cancelled_at', 'is', null)
    .where(sql<string>`payload->>'request_id'`, '=', requestId)
    .execute();
}

/** The history row (the explanation's "who, when, with what notes") and the audit row. */
async function recordStep(
  tx: Kysely<Database>,
  deps: TransitionDeps,
  request: RequestRow,
  decision: Selectable<DecisionsTable>,
  actor: Actor,
  answer: Answer,
  notes: string | null,
  fromLevel: number,
  toLevel: number | null,
  now: Date,
  released: Released,
): Promise<void> {
  await tx
    .insertInto('approval_history')
    .values({
      tenant_id: deps.tenantId,
      request_id: request.request_id,
      decision_id: request.decision_id,
      at: now,
      actor_id: actor.id,
      actor_level: actor.level,
      action: answer,
      from_level: fromLevel,
      to_level: toLevel,
      notes,
    })
    .execute();
  await deps.audit.recordIn(tx, {
    actor: actor.audit,
    action: actor.kind === 'fail_safe' ? 'approval.fail_safe' : `approval.${answer}`,
    target: { kind: 'decision', id: decision.decision_id },
    zoneId: request.zone_id,
    remote: actor.remote ?? null,
    details: {
      request_id: request.request_id,
      answer,
      from_level: fromLevel,
      to_level: toLevel,
      notes,
      executed: released.completed.length,
      dispatched: released.dispatch.length,
      cancelled: released.cancelled.length,
    },
  });
}

function recommendedOf(request: RequestRow): string | null {
  const value = (request.summary as { recommended_action?: unknown } | null)?.recommended_action;
  return typeof value === 'string' ? value : null;
}
