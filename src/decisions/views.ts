/** Stored decisions and actions as the API, the live stream and the dispatcher show them (seed 001 §10.1, snake_case). */
import type { Selectable } from 'kysely';
import type { ActionsTable, DecisionsTable } from '../store/schema.js';
import type { ActionStatus, ActionView, ApprovalStatus, DecisionView, RuleKind } from './types.js';

/** The action columns a view needs. */
export type ActionViewRow = Pick<
  Selectable<ActionsTable>,
  'action_id' | 'decision_id' | 'position' | 'type' | 'target_system' | 'parameters' | 'status' | 'attempts' | 'executed_at' | 'result' | 'last_error'
>;

export function actionView(r: ActionViewRow): ActionView {
  return {
    action_id: r.action_id,
    decision_id: r.decision_id,
    position: r.position,
    type: r.type,
    target_system: r.target_system,
    parameters: r.parameters ?? {},
    status: r.status as ActionStatus,
    attempts: r.attempts,
    executed_at_ms: r.executed_at ? new Date(r.executed_at).getTime() : null,
    result: r.result,
    last_error: r.last_error,
  };
}

export function decisionView(r: Selectable<DecisionsTable>, actions: readonly ActionViewRow[]): DecisionView {
  const rationale = r.rationale as Record<string, any>;
  const decisionMs = new Date(r.decision_time).getTime();
  return {
    decision_id: r.decision_id,
    event_id: r.event_id,
    decision_time_ms: decisionMs,
    deciding_layer: r.deciding_layer,
    deciding_brain_id: r.deciding_node,
    actions: actions.map(actionView),
    rationale,
    approval_status: r.approval_status as ApprovalStatus,
    approver_id: r.approver_id,
    rule: { kind: r.rule_kind as RuleKind, id: r.rule_id, name: r.trigger ?? r.rule_id, priority: Number(rationale?.rule?.priority ?? 0) },
    severity: r.severity,
    zone_id: r.zone_id,
    location: r.lat !== null && r.lng !== null ? { latitude: r.lat, longitude: r.lng } : null,
    event_ids: r.event_ids as unknown as string[],
    latency_ms: r.event_received_at ? decisionMs - new Date(r.event_received_at).getTime() : null,
  };
}
