import type { Kysely, Selectable } from 'kysely';
import type { Database, DecisionsTable } from '../store/schema.js';
import { conditionFields, renderComparisons, show, type RenderedComparison } from './condition-text.js';

/**
 * The right to explanation (seed 001 §13.2; §10.1 Decision.rationale): for one decision, the
 * events it was made from, the rule and the conditions with the values that matched, what its
 * actions did, and who approved or rejected it — when, at which level, with what notes — ending
 * in one paragraph a citizen can read.
 */
export interface Explanation {
  decision: {
    decision_id: string;
    decision_time: string;
    deciding_layer: string;
    deciding_node: string;
    severity: string | null;
    zone_id: string | null;
    status: string;
    approval_status: string;
  };
  events: Array<{ event_id: string; plugin_id: string; plugin_version: string; event_type: string; time: string; zone_id: string | null; severity: string | null; confidence: number | null; payload: unknown }>;
  rule: { kind: string; id: string; trigger: string; condition: string | null; source_text: string | null };
  conditions: Array<{ role: string; source: string; values: Record<string, unknown>; text: string[]; comparisons: RenderedComparison[] }>;
  actions: Array<{
    action_id: string;
    position: number;
    type: string;
    target: string | null;
    status: string;
    attempts: number;
    result: string | null;
    last_error: string | null;
    executed_at: string | null;
    attempts_log: Array<{ attempt: number; finished_at: string; ok: boolean; detail: string }>;
  }>;
  approval: {
    request_id: string;
    status: string;
    level: number;
    approval_type: string;
    requested_at: string;
    /** Times the request went up a level (or to the parent node). */
    escalations: number;
    deadline: string | null;
    fail_safe_action: string | null;
    history: Array<{ at: string; actor_id: string; actor_level: number | null; action: string; from_level: number | null; to_level: number | null; notes: string | null }>;
    approved_by: string | null;
    approved_at: string | null;
    rejected_by: string | null;
    rejected_at: string | null;
    notes: string | null;
  } | null;
  narrative: string;
}

export async function explainDecision(db: Kysely<Database>, d: Selectable<DecisionsTable>): Promise<Explanation> {
  const rationale = (d.rationale ?? {}) as { conditions?: Array<{ role?: string; source?: string; values?: Record<string, unknown> }> };
  const eventIds = (d.event_ids as unknown as string[]) ?? [d.event_id];
  const [events, actions, request, ruleRow] = await Promise.all([
    db
      .selectFrom('events')
      .select(['event_id', 'plugin_id', 'plugin_version', 'event_type', 'ts', 'zone_id', 'severity', 'confidence', 'payload'])
      .where('tenant_id', '=', d.tenant_id)
      .where('event_id', 'in', eventIds.length > 0 ? eventIds : [d.event_id])
      .execute(),
    db.selectFrom('actions').selectAll().where('decision_id', '=', d.decision_id).orderBy('position').execute(),
    db.selectFrom('approval_requests').selectAll().where('decision_id', '=', d.decision_id).where('status', '!=', 'notice').orderBy('created_at', 'desc').limit(1).executeTakeFirst(),
    d.rule_kind === 'action_trigger'
      ? Promise.resolve(undefined)
      : db.selectFrom('rules').select(['source_text']).where('tenant_id', '=', d.tenant_id).where('name', '=', d.rule_id).executeTakeFirst(),
  ]);
  const attempts = actions.length === 0 ? [] : await db.selectFrom('action_attempts').selectAll().where('action_id', 'in', actions.map((a) => a.action_id)).orderBy('attempt').execute();
  const history = request ? await db.selectFrom('approval_history').selectAll().where('decision_id', '=', d.decision_id).where('request_id', '=', request.request_id).orderBy('id').execute() : [];

  const trigger = d.trigger ?? d.rule_id;
  // Events in the decision's order (trigger first), as the rule saw them.
  const order = new Map(eventIds.map((id, i) => [id, i]));
  events.sort((a, b) => (order.get(a.event_id) ?? 0) - (order.get(b.event_id) ?? 0));
  const conditions = (rationale.conditions ?? []).map((c) => {
    const source = c.source ?? '';
    const values = c.values ?? {};
    const comparisons = renderComparisons(source, values);
    // A value the condition does not read came from the trigger's name (`speeding_detected`
    // implies violation_type = 'speeding', src/decisions/action-triggers.ts) or a match_on key.
    const read = new Set(conditionFields(source));
    for (const [field, value] of Object.entries(values)) {
      if (!read.has(field) && typeof value === 'string' && trigger === `${value}_detected`) {
        comparisons.push({ text: `${field} = ${show(value)} (implied by the trigger name ${trigger})`, holds: true });
      }
    }
    return { role: c.role ?? 'trigger', source, values, text: comparisons.map((x) => x.text), comparisons };
  });

  const resolvedAt = request?.resolved_at ? new Date(request.resolved_at).toISOString() : null;
  const approved = request ? /approved$/.test(request.status) : false;
  const rejected = request ? /rejected$/.test(request.status) : false;
  const explanation: Explanation = {
    decision: {
      decision_id: d.decision_id,
      decision_time: new Date(d.decision_time).toISOString(),
      deciding_layer: d.deciding_layer,
      deciding_node: d.deciding_node,
      severity: d.severity,
      zone_id: d.zone_id,
      status: d.status,
      approval_status: d.approval_status,
    },
    events: events.map((e) => ({
      event_id: e.event_id,
      plugin_id: e.plugin_id,
      plugin_version: e.plugin_version,
      event_type: e.event_type,
      time: new Date(e.ts).toISOString(),
      zone_id: e.zone_id,
      severity: e.severity,
      confidence: e.confidence,
      payload: e.payload,
    })),
    rule: {
      kind: d.rule_kind,
      id: d.rule_id,
      trigger,
      condition: conditions.length > 0 ? conditions.map((c) => c.source).join(' ; ') : null,
      source_text: ruleRow?.source_text ?? null,
    },
    conditions,
    actions: actions.map((a) => ({
      action_id: a.action_id,
      position: a.position,
      type: a.type,
      target: a.target_system,
      status: a.status,
      attempts: a.attempts,
      result: a.result,
      last_error: a.last_error,
      executed_at: a.executed_at ? new Date(a.executed_at).toISOString() : null,
      attempts_log: attempts
        .filter((t) => t.action_id === a.action_id)
        .map((t) => ({ attempt: t.attempt, finished_at: new Date(t.finished_at).toISOString(), ok: t.ok, detail: t.detail })),
    })),
    approval: request
      ? {
          request_id: request.request_id,
          status: request.status,
          level: request.level,
          approval_type: request.approval_type ?? request.target_authority,
          requested_at: new Date(request.created_at).toISOString(),
          escalations: request.escalations,
          deadline: request.deadline_at ? new Date(request.deadline_at).toISOString() : null,
          fail_safe_action: request.fail_safe_action,
          history: history.map((h) => ({
            at: new Date(h.at).toISOString(),
            actor_id: h.actor_id,
            actor_level: h.actor_level,
            action: h.action,
            from_level: h.from_level,
            to_level: h.to_level,
            notes: h.notes,
          })),
          approved_by: approved ? request.resolved_by : null,
          approved_at: approved ? resolvedAt : null,
          rejected_by: rejected ? request.resolved_by : null,
          rejected_at: rejected ? resolvedAt : null,
          notes: request.notes,
        }
      : null,
    narrative: '',
  };
  explanation.narrative = narrate(explanation);
  return explanation;
}

/** One plain-language paragraph from the parts above (nothing in it that they do not say). */
function narrate(x: Explanation): string {
  const parts: string[] = [];
  const first = x.events[0];
  const about = first
    ? `event ${first.event_id} (${first.event_type} from ${first.plugin_id}${first.zone_id ? ` in ${first.zone_id}` : ''}, ${first.time})${x.events.length > 1 ? ` and ${x.events.length - 1} related event${x.events.length > 2 ? 's' : ''}` : ''}`
    : 'its events';
  parts.push(`On ${x.decision.decision_time} the ${x.decision.deciding_layer.toLowerCase()} node ${x.decision.deciding_node} decided on ${about}.`);
  const held = x.conditions.flatMap((c) => c.comparisons.filter((k) => k.holds).map((k) => k.text));
  parts.push(`Rule ${x.rule.trigger} (${x.rule.kind.replace('_', ' ')}) matched${held.length > 0 ? ` because ${held.join(' and ')}` : x.rule.condition ? ` its condition ${x.rule.condition}` : ''}.`);
  const a = x.approval;
  if (a) {
    parts.push(`It required approval from ${a.approval_type} (level L${a.history[0]?.from_level ?? a.level}).`);
    for (const h of a.history) {
      const who = h.actor_id === 'fail-safe' ? 'the fail-safe' : `${h.actor_id}${h.actor_level ? ` (L${h.actor_level})` : ''}`;
      const what = h.action === 'escalate' ? (h.to_level ? `escalated it to L${h.to_level}` : 'escalated it to the parent node') : h.action === 'approve' ? 'approved it' : 'rejected it';
      parts.push(`At ${h.at} ${who} ${what}${h.notes ? ` with the note "${h.notes}"` : ''}.`);
    }
    if (a.status === 'pending') parts.push(`It waits for level L${a.level}${a.deadline ? `; if nobody answers by ${a.deadline}, ${a.fail_safe_action ?? 'the fail-safe'} runs` : ''}.`);
  }
  const actions = x.actions.map((act) => `${act.type}${act.target ? ` → ${act.target}` : ''}: ${act.status.toLowerCase()}${act.result ? ` (${act.result})` : ''}`);
  if (actions.length > 0) parts.push(`Actions: ${actions.join('; ')}.`);
  return parts.join(' ');
}
