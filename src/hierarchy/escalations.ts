import { sql, type Kysely, type Transaction } from 'kysely';
import { severityRank } from '../events/severity.js';
import type { ActionSpec, EventSummary, RuleMatch } from '../decisions/types.js';
import type { Database } from '../store/schema.js';
import type { LinkedNode } from './link-auth.js';
import { NODE_ROLES, type NodeRole } from './roles.js';

/** An escalation as a child's decision queued it (src/decisions/plan.ts, seed 001 §3.3 `escalate`, §3.4 escalated_incidents). */
export interface EscalationPayload {
  incident_id: string;
  type: string;
  severity: string | null;
  reason: string | null;
  target: string | null;
  requires_district_coordination?: boolean;
  source_node: string;
  zone_id: string | null;
  location: { latitude: number; longitude: number } | null;
  event_ids?: string[];
  summary?: string;
  escalated_at?: string;
  origin_event?: EventSummary | null;
  [field: string]: unknown;
}

export interface EscalationPolicy {
  /** Escalations at or above this severity go on up at once (seed 001 §14.1: critical events decided within 5 s end to end). */
  forwardSeverity: string;
}

/** Records a child's escalation in the inbox transaction (exactly once with the message). */
export async function recordEscalation(trx: Transaction<Database>, tenantId: string, source: string, messageId: string, payload: EscalationPayload): Promise<boolean> {
  const row = await trx
    .insertInto('layer_escalations')
    .values({ tenant_id: tenantId, source_node: source, incident_id: String(payload.incident_id), message_id: messageId, severity: payload.severity ?? null, payload: JSON.stringify(payload) })
    .onConflict((oc) => oc.columns(['tenant_id', 'source_node', 'incident_id']).doNothing())
    .returning('incident_id')
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * The decision a layer makes on a child's escalation (DESIGN.md: "higher layers run the same
 * program: their events are child reports and escalations"). It is logged; it goes on up to this
 * node's parent when it is severe enough or names a layer above this one as its target
 * (`target: city_layer`); and the L1 event it started from stays its trigger, so the decision's
 * latency here is counted from the first receipt at L1.
 */
export function escalationMatch(payload: EscalationPayload, source: LinkedNode, self: { role: NodeRole; hasParent: boolean }, policy: EscalationPolicy, nowMs: number): RuleMatch {
  const forward = self.hasParent && (severityRank(payload.severity) >= severityRank(policy.forwardSeverity) || targetsAbove(payload.target, self.role));
  const actions: ActionSpec[] = [{ type: 'log_event', log: 'layer_escalations' }];
  if (forward) actions.push({ type: 'escalate', to: 'parent', reason: payload.reason ?? payload.summary ?? payload.type });
  const origin = payload.origin_event ?? null;
  const lat = payload.location?.latitude ?? null;
  const lng = payload.location?.longitude ?? null;
  const trigger: EventSummary & { role: string } = origin
    ? { ...origin, role: 'trigger' }
    : { eventId: String(payload.incident_id), pluginId: `node:${source.node_id}`, pluginVersion: '', eventType: payload.type, severity: payload.severity, confidence: null, tsMs: nowMs, receivedAtMs: nowMs, zoneId: payload.zone_id, lat, lng, role: 'trigger' };
  return {
    kind: 'escalation',
    ruleId: `escalation:${payload.type}`,
    ruleName: payload.type,
    rulePriority: 0,
    dedupKey: `escalation:${source.node_id}:${payload.incident_id}`,
    triggerEventId: String(payload.incident_id),
    events: [trigger],
    conditions: [
      {
        role: 'escalation',
        source: `escalated by ${source.node_id} (${source.role}${source.zone_id ? ` over ${source.zone_id}` : ''})${forward ? '; forwarded to the parent' : ''}`,
        values: { incident_id: payload.incident_id, source_node: source.node_id, severity: payload.severity, target: payload.target, reason: payload.reason },
      },
    ],
    severity: payload.severity,
    zoneId: payload.zone_id,
    lat,
    lng,
    actions,
    escalationRules: [],
    explanation: `${payload.type} escalated by ${source.node_id}: ${payload.reason ?? payload.summary ?? 'no reason given'}`,
    matchedAtMs: nowMs,
  };
}

/** Escalations received whose decision is not stored yet (a crash between the inbox commit and the decision). */
export async function undecidedEscalations(db: Kysely<Database>, tenantId: string): Promise<Array<{ source_node: string; payload: EscalationPayload }>> {
  const rows = await db
    .selectFrom('layer_escalations as e')
    .leftJoin('decisions as d', (j) => j.on('d.tenant_id', '=', tenantId).on(sql<boolean>`d.dedup_key = 'escalation:' || e.source_node || ':' || e.incident_id`))
    .select(['e.source_node', 'e.payload'])
    .where('e.tenant_id', '=', tenantId)
    .where('d.decision_id', 'is', null)
    .orderBy('e.received_at')
    .limit(10_000)
    .execute();
  return rows.map((r) => ({ source_node: r.source_node, payload: (typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload) as EscalationPayload }));
}

/** `city_layer`, `CITY`, `state` …: a layer named above `role`. */
function targetsAbove(target: string | null, role: NodeRole): boolean {
  if (!target) return false;
  const word = target.toLowerCase().replace(/_layer$/, '');
  const at = NODE_ROLES.indexOf(word as NodeRole);
  return at > NODE_ROLES.indexOf(role);
}
