import { uuidv7 } from '../events/ids.js';
import type { Insertable } from 'kysely';
import type { ActionsTable, ApprovalRequestsTable, AuditLogTable, DecisionsTable, EventLogsTable, OutboxTable, TimersTable } from '../store/schema.js';
import { severityRank } from '../events/severity.js';
import { approvalType, durationWords, failSafeOutcomeOf, type ApprovalsConfig, type FailSafeTimerPayload } from '../approvals/types.js';
import { escalationDelayMs, failSafeOutcome } from './action-triggers.js';
import type { ActionSpec, ActionStatus, ActionView, ApprovalStatus, DecisionView, EventSummary, RuleMatch } from './types.js';

/**
 * Turns a rule match into the rows of one decision (seed 001 §10.1), written in one transaction
 * by the decision writer. Actions that touch only this node's store happen inside that
 * transaction and are COMPLETED when the decision is: `log_event` (a named log), `escalate`
 * (the outbox to the parent node), `notify_authority` (an approval request, or a notice when no
 * approval is needed). Actions sent to other systems (`traffic_reroute`, `actuate`, `notify`,
 * or any action with a `target` naming an actuator) start PENDING for the action dispatcher.
 * An action nobody can execute is FAILED with the reason, so it is seen rather than dropped.
 *
 * A decision whose `notify_authority` requires approval (seed §8.2) holds every other action
 * HELD — internal ones too: the seed's `violations_db` entry is the fine record, and a fine must
 * not exist before an officer (or the fail-safe) approves it. src/approvals/release.ts runs or
 * cancels them when the request is answered.
 */

/** Actions executed by the action dispatcher (outbound webhook or MQTT command). */
const EXTERNAL_TYPES = new Set(['traffic_reroute', 'actuate', 'notify']);

export interface DecisionPlan {
  view: DecisionView;
  decision: Insertable<DecisionsTable>;
  actions: Array<Insertable<ActionsTable>>;
  approvals: Array<Insertable<ApprovalRequestsTable>>;
  logs: Array<Insertable<EventLogsTable>>;
  outbox: Array<Insertable<OutboxTable>>;
  timers: Array<Insertable<TimersTable>>;
  audit: Array<Insertable<AuditLogTable>>;
  /** Ids of actions for the dispatcher once the transaction has committed. */
  dispatch: string[];
}

export interface PlanContext {
  tenantId: string;
  nodeId: string;
  layer: string;
  nowMs: number;
  maxAttempts: (target: string) => number;
  /** Approval types (config `approvals`); the defaults when not given. */
  approvals: ApprovalsConfig;
}

/**
 * What an internal action needs to know about its decision: from the rule match when the
 * decision is made, from the stored decision when a held action is released later.
 */
export interface DecisionFacts {
  tenantId: string;
  nodeId: string;
  decisionId: string;
  triggerEventId: string;
  ruleName: string;
  severity: string | null;
  zoneId: string | null;
  lat: number | null;
  lng: number | null;
  eventIds: string[];
  /**
   * The event that set the decision off — at a higher layer, the L1 event behind the escalation.
   * Escalations carry it up (never its payload: only the envelope, seed 001 §1.2 data sovereignty)
   * so each layer's decision latency is measured from the first receipt.
   */
  origin: EventSummary | null;
  /** The values the rule's conditions read, merged. */
  values: Record<string, unknown>;
  summary: string;
}

/** Sort order among simultaneous matches: severity, then rule priority, then the oldest event. */
export function compareMatches(a: RuleMatch, b: RuleMatch): number {
  const s = severityRank(b.severity) - severityRank(a.severity);
  if (s !== 0) return s;
  if (a.rulePriority !== b.rulePriority) return b.rulePriority - a.rulePriority;
  return (a.events[0]?.tsMs ?? 0) - (b.events[0]?.tsMs ?? 0);
}

export function planDecision(match: RuleMatch, ctx: PlanContext): DecisionPlan {
  const decisionId = uuidv7(ctx.nowMs);
  const now = new Date(ctx.nowMs);
  const trigger = match.events[0];
  const actionPriority = severityRank(match.severity) * 1000 + Math.max(-999, Math.min(999, match.rulePriority));
  // One approval request per decision: the first notify_authority that requires approval.
  const approvalAt = match.actions.findIndex((a) => a.type === 'notify_authority' && a.requires_approval === true);
  const approval = approvalAt < 0 ? null : { position: approvalAt, requestId: uuidv7(ctx.nowMs) };
  const approvalStatus: ApprovalStatus = approval ? 'PENDING' : 'NOT_REQUIRED';
  const latencyMs = trigger ? Math.max(0, ctx.nowMs - trigger.receivedAtMs) : null;

  const rationale = {
    summary: match.explanation,
    rule: { kind: match.kind, id: match.ruleId, name: match.ruleName, priority: match.rulePriority },
    conditions: match.conditions,
    matched_events: match.events.map((e) => ({
      role: e.role,
      event_id: e.eventId,
      event_type: e.eventType,
      plugin_id: e.pluginId,
      severity: e.severity,
      confidence: e.confidence,
      timestamp: new Date(e.tsMs).toISOString(),
      zone_id: e.zoneId,
      location: e.lat !== null && e.lng !== null ? { latitude: e.lat, longitude: e.lng } : null,
    })),
    escalation_rules: match.escalationRules,
  };

  const plan: DecisionPlan = {
    view: null as unknown as DecisionView,
    decision: {
      decision_id: decisionId,
      tenant_id: ctx.tenantId,
      dedup_key: match.dedupKey,
      event_id: match.triggerEventId,
      decision_time: now,
      event_received_at: trigger ? new Date(trigger.receivedAtMs) : null,
      deciding_layer: ctx.layer,
      deciding_node: ctx.nodeId,
      rule_kind: match.kind,
      rule_id: match.ruleId,
      trigger: match.ruleName,
      severity: match.severity,
      priority: actionPriority,
      zone_id: match.zoneId,
      lat: match.lat,
      lng: match.lng,
      event_ids: JSON.stringify(match.events.map((e) => e.eventId)),
      rationale: JSON.stringify(rationale),
      approval_status: approvalStatus,
      approver_id: null,
    },
    actions: [],
    approvals: [],
    logs: [],
    outbox: [],
    timers: [],
    // The audit log records every decision the node makes (seed 001 §13.1 L5), in the same COPY.
    audit: [
      {
        tenant_id: ctx.tenantId,
        actor_kind: 'system',
        actor_id: ctx.nodeId,
        action: 'decision.made',
        target_kind: 'decision',
        target_id: decisionId,
        zone_id: match.zoneId,
        outcome: 'ok',
        remote: null,
        details: JSON.stringify({ rule_kind: match.kind, rule_id: match.ruleId, severity: match.severity, approval_status: approvalStatus, event_id: match.triggerEventId }),
      },
    ],
    dispatch: [],
  };
  const facts = factsOfMatch(match, decisionId, ctx);

  const views: ActionView[] = match.actions.map((spec, position) => {
    const actionId = uuidv7(ctx.nowMs);
    // What says how the action runs (type, target, approval) is not sent as its parameters.
    const { type, target, channel, requires_approval: _approval, ...rest } = spec;
    const targetSystem = typeof target === 'string' ? target : typeof channel === 'string' ? channel : null;
    const parameters = (isObject(rest.parameters) && Object.keys(rest).length === 1 ? rest.parameters : rest) as Record<string, unknown>;
    const outcome = planAction(spec, targetSystem, { actionId, position, approval, match, ctx, plan, facts });
    const runnable = outcome.status === 'PENDING' || (outcome.status === 'HELD' && !INTERNAL_TYPES.has(type));
    plan.actions.push({
      action_id: actionId,
      tenant_id: ctx.tenantId,
      decision_id: decisionId,
      position,
      type,
      target_system: targetSystem,
      parameters: JSON.stringify(parameters),
      status: outcome.status,
      priority: actionPriority,
      attempts: 0,
      max_attempts: runnable ? ctx.maxAttempts(targetSystem ?? type) : 0,
      next_attempt_at: outcome.status === 'PENDING' ? now : null,
      executed_at: outcome.status === 'COMPLETED' || outcome.status === 'FAILED' ? now : null,
      completed_at: outcome.status === 'COMPLETED' || outcome.status === 'FAILED' ? now : null,
      result: outcome.result,
      last_error: outcome.status === 'FAILED' ? outcome.result : null,
    });
    if (outcome.status === 'PENDING') plan.dispatch.push(actionId);
    return {
      action_id: actionId,
      decision_id: decisionId,
      position,
      type,
      target_system: targetSystem,
      parameters,
      status: outcome.status,
      attempts: 0,
      executed_at_ms: outcome.status === 'COMPLETED' || outcome.status === 'FAILED' ? ctx.nowMs : null,
      result: outcome.result,
      last_error: outcome.status === 'FAILED' ? outcome.result : null,
    };
  });

  plan.view = {
    decision_id: decisionId,
    event_id: match.triggerEventId,
    decision_time_ms: ctx.nowMs,
    deciding_layer: ctx.layer,
    deciding_brain_id: ctx.nodeId,
    actions: views,
    rationale,
    approval_status: approvalStatus,
    approver_id: null,
    rule: { kind: match.kind, id: match.ruleId, name: match.ruleName, priority: match.rulePriority },
    severity: match.severity,
    zone_id: match.zoneId,
    location: match.lat !== null && match.lng !== null ? { latitude: match.lat, longitude: match.lng } : null,
    event_ids: match.events.map((e) => e.eventId),
    latency_ms: latencyMs,
  };
  return plan;
}

/** Internal actions: they write to this node's store inside a transaction (see runInternalAction). */
export const INTERNAL_TYPES: ReadonlySet<string> = new Set(['log_event', 'escalate']);

/**
 * Runs an internal action (`log_event`, `escalate`): the rows it writes and the result text.
 * Used when a decision is made and when a held action is released by an approval.
 */
export function runInternalAction(
  spec: ActionSpec,
  targetSystem: string | null,
  facts: DecisionFacts,
  nowMs: number,
): { log?: Insertable<EventLogsTable>; outbox?: Insertable<OutboxTable>; result: string } {
  if (spec.type === 'log_event') {
    const logName = stringParam(spec.database) ?? stringParam(spec.log) ?? stringParam(spec.table) ?? 'events_log';
    return {
      log: {
        tenant_id: facts.tenantId,
        log_name: logName,
        decision_id: facts.decisionId,
        event_id: facts.triggerEventId,
        entry: JSON.stringify({
          rule: facts.ruleName,
          severity: facts.severity,
          zone_id: facts.zoneId,
          event_ids: facts.eventIds,
          values: facts.values,
          summary: facts.summary,
        }),
      },
      result: `logged to ${logName}`,
    };
  }
  const messageId = uuidv7(nowMs);
  const target = targetSystem ?? stringParam(spec.to) ?? 'parent';
  return {
    outbox: {
      tenant_id: facts.tenantId,
      message_id: messageId,
      destination: 'parent',
      kind: 'escalation',
      payload: JSON.stringify({
        incident_id: facts.decisionId,
        type: facts.ruleName,
        severity: facts.severity,
        reason: stringParam(spec.reason) ?? facts.summary,
        target,
        requires_district_coordination: true,
        source_node: facts.nodeId,
        zone_id: facts.zoneId,
        location: facts.lat !== null && facts.lng !== null ? { latitude: facts.lat, longitude: facts.lng } : null,
        event_ids: facts.eventIds,
        summary: facts.summary,
        escalated_at: new Date(nowMs).toISOString(),
        origin_event: facts.origin,
      }),
    },
    result: `queued for ${target} as outbox message ${messageId}`,
  };
}

/** The envelope only: the role and any other fields stay behind. */
function originOf(e: EventSummary): EventSummary {
  return { eventId: e.eventId, pluginId: e.pluginId, pluginVersion: e.pluginVersion, eventType: e.eventType, severity: e.severity, confidence: e.confidence, tsMs: e.tsMs, receivedAtMs: e.receivedAtMs, zoneId: e.zoneId, lat: e.lat, lng: e.lng };
}

function factsOfMatch(match: RuleMatch, decisionId: string, ctx: PlanContext): DecisionFacts {
  return {
    tenantId: ctx.tenantId,
    nodeId: ctx.nodeId,
    decisionId,
    triggerEventId: match.triggerEventId,
    ruleName: match.ruleName,
    severity: match.severity,
    zoneId: match.zoneId,
    lat: match.lat,
    lng: match.lng,
    eventIds: match.events.map((e) => e.eventId),
    origin: match.events[0] ? originOf(match.events[0]) : null,
    values: Object.assign({}, ...match.conditions.map((c) => c.values)),
    summary: match.explanation,
  };
}

interface ActionContext {
  actionId: string;
  position: number;
  /** The decision's approval request, when it needs one. */
  approval: { position: number; requestId: string } | null;
  match: RuleMatch;
  ctx: PlanContext;
  plan: DecisionPlan;
  facts: DecisionFacts;
}

function planAction(spec: ActionSpec, targetSystem: string | null, a: ActionContext): { status: ActionStatus; result: string | null } {
  const { ctx, plan } = a;
  if (spec.type === 'notify_authority') return planNotify(spec, targetSystem, a);
  const held = a.approval !== null;
  const waiting = held ? `held until approval request ${a.approval!.requestId} is answered` : null;
  if (INTERNAL_TYPES.has(spec.type)) {
    if (held) return { status: 'HELD', result: waiting };
    const done = runInternalAction(spec, targetSystem, a.facts, ctx.nowMs);
    if (done.log) plan.logs.push(done.log);
    if (done.outbox) plan.outbox.push(done.outbox);
    return { status: 'COMPLETED', result: done.result };
  }
  if (!EXTERNAL_TYPES.has(spec.type) && targetSystem === null) {
    return { status: 'FAILED', result: `no executor for action type '${spec.type}': give it a target (an action target or MQTT device) to send it to` };
  }
  if (targetSystem === null) {
    return { status: 'FAILED', result: `action '${spec.type}' names no target; add target: <actuator> (or channel: <name> for notify)` };
  }
  if (held) return { status: 'HELD', result: waiting };
  // An action that asks for approval itself, in a decision with no approval request, waits
  // for nobody: it stays HELD (visible) rather than running unapproved.
  return spec.requires_approval === true ? { status: 'HELD', result: 'requires approval, but no notify_authority action asks anyone for it' } : { status: 'PENDING', result: null };
}

/**
 * `notify_authority`: the decision's approval request (seed §8.2, §12.2) with its fail-safe
 * timers, or a notice. The plugin's own escalation rules (seed §2.2 step 3,
 * `no_officer_response_within_30_minutes` → `auto_approve_fine`) make the timers; when it has
 * none, the approval type's timeout and fail-safe do (config `approvals`).
 */
function planNotify(spec: ActionSpec, targetSystem: string | null, a: ActionContext): { status: ActionStatus; result: string | null } {
  const { match, ctx, plan } = a;
  const authority = targetSystem ?? 'duty_officer';
  const isRequest = a.approval !== null && a.approval.position === a.position;
  const requestId = isRequest ? a.approval!.requestId : uuidv7(ctx.nowMs);
  const type = approvalType(ctx.approvals, authority);
  let deadline: number | null = null;
  let failSafe: string | null = null;
  if (isRequest) {
    const timer = (fireAt: number, condition: string, action: string, outcome: FailSafeTimerPayload['outcome']): void => {
      if (deadline === null || fireAt < deadline) {
        deadline = fireAt;
        failSafe = action;
      }
      const payload: FailSafeTimerPayload = { request_id: requestId, decision_id: plan.decision.decision_id, condition, action, outcome, level: type.level };
      plan.timers.push({ timer_id: uuidv7(ctx.nowMs), tenant_id: ctx.tenantId, kind: 'fail_safe', fire_at: new Date(fireAt), payload: JSON.stringify(payload) });
    };
    // Each of the plugin's time conditions gets its own durable timer; the earliest is the deadline.
    for (const rule of match.escalationRules) {
      const delay = escalationDelayMs(rule.condition);
      const outcome = failSafeOutcome(rule.action);
      if (delay !== null && outcome !== null) timer(ctx.nowMs + delay, rule.condition, rule.action, outcome);
    }
    if (plan.timers.length === 0) {
      timer(ctx.nowMs + type.timeoutMs, `no_L${type.level}_response_within_${durationWords(type.timeoutMs)}`, type.failSafe, failSafeOutcomeOf(type.failSafe));
    }
  }
  plan.approvals.push({
    request_id: requestId,
    tenant_id: ctx.tenantId,
    decision_id: plan.decision.decision_id,
    action_id: a.actionId,
    target_authority: authority,
    priority: stringParam(spec.priority) ?? match.severity,
    zone_id: match.zoneId,
    status: isRequest ? 'pending' : 'notice',
    summary: JSON.stringify({
      event_summary: match.explanation,
      recommended_action: stringParam(spec.recommended_action) ?? recommendedAction(match),
      severity: match.severity,
      event_ids: match.events.map((e) => e.eventId),
    }),
    deadline_at: deadline === null ? null : new Date(deadline),
    fail_safe_action: failSafe,
    level: type.level,
    approval_type: authority,
  });
  if (!isRequest) {
    const shared = a.approval === null ? '' : `; approval is asked through request ${a.approval.requestId}`;
    return { status: 'COMPLETED', result: `notice ${requestId} sent to ${authority}${shared}` };
  }
  return {
    status: 'COMPLETED',
    result: `approval request ${requestId} queued for ${authority} (L${type.level})${deadline === null ? '' : `; fail-safe ${failSafe} at ${new Date(deadline).toISOString()}`}`,
  };
}

/**
 * What the officer is asked to approve, in the seed's words where the plugin gives them: an
 * escalation rule `auto_approve_fine` recommends `approve_fine`; otherwise the actions held.
 */
function recommendedAction(match: RuleMatch): string {
  for (const rule of match.escalationRules) {
    const m = /^auto_(approve_.+)$/.exec(rule.action);
    if (m) return m[1]!;
  }
  const held = match.actions.filter((s) => s.type !== 'notify_authority').map((s) => s.type);
  return held.length > 0 ? `approve: ${held.join(', ')}` : `approve ${match.ruleName}`;
}

function stringParam(v: unknown): string | null {
  return typeof v === 'string' && v.length > 0 ? v : null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
