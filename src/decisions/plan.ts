import { uuidv7 } from '../events/ids.js';
import type { Insertable } from 'kysely';
import type { ActionsTable, ApprovalRequestsTable, DecisionsTable, EventLogsTable, OutboxTable, TimersTable } from '../store/schema.js';
import { severityRank } from '../events/severity.js';
import { escalationDelayMs, failSafeOutcome } from './action-triggers.js';
import type { ActionSpec, ActionStatus, ActionView, ApprovalStatus, DecisionView, RuleMatch } from './types.js';

/**
 * Turns a rule match into the rows of one decision (seed 001 §10.1), written in one transaction
 * by the decision writer. Actions that touch only this node's store happen inside that
 * transaction and are COMPLETED when the decision is: `log_event` (a named log), `escalate`
 * (the outbox to the parent node), `notify_authority` (an approval request, or a notice when no
 * approval is needed). Actions sent to other systems (`traffic_reroute`, `actuate`, `notify`,
 * or any action with a `target` naming an actuator) start PENDING for the action dispatcher —
 * or HELD when they themselves require approval. An action nobody can execute is FAILED with
 * the reason, so it is seen rather than dropped.
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
  /** Ids of actions for the dispatcher once the transaction has committed. */
  dispatch: string[];
}

export interface PlanContext {
  tenantId: string;
  nodeId: string;
  layer: string;
  nowMs: number;
  maxAttempts: (target: string) => number;
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
  const needsApproval = match.actions.some((a) => a.type === 'notify_authority' && a.requires_approval === true);
  const approvalStatus: ApprovalStatus = needsApproval ? 'PENDING' : 'NOT_REQUIRED';
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
    dispatch: [],
  };

  const views: ActionView[] = match.actions.map((spec, position) => {
    const actionId = uuidv7(ctx.nowMs);
    // What says how the action runs (type, target, approval) is not sent as its parameters.
    const { type, target, channel, requires_approval: _approval, ...rest } = spec;
    const targetSystem = typeof target === 'string' ? target : typeof channel === 'string' ? channel : null;
    const parameters = (isObject(rest.parameters) && Object.keys(rest).length === 1 ? rest.parameters : rest) as Record<string, unknown>;
    const outcome = planAction(spec, targetSystem, { decisionId, actionId, match, ctx, plan, severity: match.severity });
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
      max_attempts: outcome.status === 'PENDING' || outcome.status === 'HELD' ? ctx.maxAttempts(targetSystem ?? type) : 0,
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

interface ActionContext {
  decisionId: string;
  actionId: string;
  match: RuleMatch;
  ctx: PlanContext;
  plan: DecisionPlan;
  severity: string | null;
}

function planAction(spec: ActionSpec, targetSystem: string | null, a: ActionContext): { status: ActionStatus; result: string | null } {
  const { match, ctx, plan } = a;
  switch (spec.type) {
    case 'log_event': {
      const logName = stringParam(spec.database) ?? stringParam(spec.log) ?? stringParam(spec.table) ?? 'events_log';
      plan.logs.push({
        tenant_id: ctx.tenantId,
        log_name: logName,
        decision_id: a.decisionId,
        event_id: match.triggerEventId,
        entry: JSON.stringify({
          rule: match.ruleName,
          severity: match.severity,
          zone_id: match.zoneId,
          event_ids: match.events.map((e) => e.eventId),
          values: Object.assign({}, ...match.conditions.map((c) => c.values)),
          summary: match.explanation,
        }),
      });
      return { status: 'COMPLETED', result: `logged to ${logName}` };
    }
    case 'escalate': {
      const messageId = uuidv7(ctx.nowMs);
      const target = targetSystem ?? stringParam(spec.to) ?? 'parent';
      plan.outbox.push({
        tenant_id: ctx.tenantId,
        message_id: messageId,
        destination: 'parent',
        kind: 'escalation',
        payload: JSON.stringify({
          incident_id: a.decisionId,
          type: match.ruleName,
          severity: match.severity,
          reason: stringParam(spec.reason) ?? match.explanation,
          target,
          requires_district_coordination: true,
          source_node: ctx.nodeId,
          zone_id: match.zoneId,
          location: match.lat !== null && match.lng !== null ? { latitude: match.lat, longitude: match.lng } : null,
          event_ids: match.events.map((e) => e.eventId),
          summary: match.explanation,
          escalated_at: new Date(ctx.nowMs).toISOString(),
        }),
      });
      return { status: 'COMPLETED', result: `queued for ${target} as outbox message ${messageId}` };
    }
    case 'notify_authority': {
      const requestId = uuidv7(ctx.nowMs);
      const authority = targetSystem ?? 'duty_officer';
      const requiresApproval = spec.requires_approval === true;
      // The earliest time condition of the escalation rules is the fail-safe deadline; each
      // rule gets its own durable timer (src/decisions/timers.ts).
      let deadline: number | null = null;
      let failSafe: string | null = null;
      if (requiresApproval) {
        for (const rule of match.escalationRules) {
          const delay = escalationDelayMs(rule.condition);
          const outcome = failSafeOutcome(rule.action);
          if (delay === null || outcome === null) continue;
          const fireAt = ctx.nowMs + delay;
          if (deadline === null || fireAt < deadline) {
            deadline = fireAt;
            failSafe = rule.action;
          }
          plan.timers.push({
            timer_id: uuidv7(ctx.nowMs),
            tenant_id: ctx.tenantId,
            kind: 'fail_safe',
            fire_at: new Date(fireAt),
            payload: JSON.stringify({ request_id: requestId, decision_id: a.decisionId, condition: rule.condition, action: rule.action, outcome }),
          });
        }
      }
      plan.approvals.push({
        request_id: requestId,
        tenant_id: ctx.tenantId,
        decision_id: a.decisionId,
        action_id: a.actionId,
        target_authority: authority,
        priority: stringParam(spec.priority) ?? a.severity,
        zone_id: match.zoneId,
        status: requiresApproval ? 'pending' : 'notice',
        summary: JSON.stringify({
          event_summary: match.explanation,
          recommended_action: failSafe ?? stringParam(spec.recommended_action) ?? match.ruleName,
          severity: match.severity,
          event_ids: match.events.map((e) => e.eventId),
        }),
        deadline_at: deadline === null ? null : new Date(deadline),
        fail_safe_action: failSafe,
      });
      return {
        status: 'COMPLETED',
        result: requiresApproval
          ? `approval request ${requestId} queued for ${authority}${deadline === null ? '' : `; fail-safe ${failSafe} at ${new Date(deadline).toISOString()}`}`
          : `notice ${requestId} sent to ${authority}`,
      };
    }
    default: {
      if (!EXTERNAL_TYPES.has(spec.type) && targetSystem === null) {
        return { status: 'FAILED', result: `no executor for action type '${spec.type}': give it a target (an action target or MQTT device) to send it to` };
      }
      if (targetSystem === null) {
        return { status: 'FAILED', result: `action '${spec.type}' names no target; add target: <actuator> (or channel: <name> for notify)` };
      }
      return { status: spec.requires_approval === true ? 'HELD' : 'PENDING', result: null };
    }
  }
}

function stringParam(v: unknown): string | null {
  return typeof v === 'string' && v.length > 0 ? v : null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
