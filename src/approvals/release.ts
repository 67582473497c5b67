import type { Kysely, Selectable } from 'kysely';
import { INTERNAL_TYPES, runInternalAction, type DecisionFacts } from '../decisions/plan.js';
import type { Database, DecisionsTable } from '../store/schema.js';

/** What answering an approval request did to the decision's held actions. */
export interface Released {
  /** Internal actions (log_event, escalate) executed inside the transaction: now COMPLETED. */
  completed: string[];
  /** External actions made PENDING: hand them to `dispatcher.enqueue` after the commit. */
  dispatch: string[];
  /** Actions CANCELLED by a rejection. */
  cancelled: string[];
}

export const NOTHING_RELEASED: Released = Object.freeze({ completed: [], dispatch: [], cancelled: [] }) as Released;

/**
 * The one place held actions leave HELD (seed 001 §8.2 step 5–6), for the officer's answer and
 * for the fail-safe alike. Approve: internal actions run now, in the caller's transaction, so
 * the violations_db entry commits with the approval or not at all; external actions become
 * PENDING for the dispatcher. Reject: every held action is CANCELLED with the reason.
 *
 * Only HELD rows are touched: an action a suspension moved to SUSPENDED stays there (its
 * resumption decides), and answering twice releases nothing the second time.
 */
export async function releaseHeldActions(
  tx: Kysely<Database>,
  decision: Selectable<DecisionsTable>,
  outcome: 'approve' | 'reject',
  reason: string,
  nodeId: string,
  now: Date,
): Promise<Released> {
  if (outcome === 'reject') {
    const rows = await tx
      .updateTable('actions')
      .set({ status: 'CANCELLED', result: `cancelled: ${reason}`, completed_at: now, updated_at: now })
      .where('decision_id', '=', decision.decision_id)
      .where('status', '=', 'HELD')
      .returning('action_id')
      .execute();
    return { completed: [], dispatch: [], cancelled: rows.map((r) => r.action_id) };
  }

  const held = await tx
    .selectFrom('actions')
    .select(['action_id', 'type', 'target_system', 'parameters'])
    .where('decision_id', '=', decision.decision_id)
    .where('status', '=', 'HELD')
    .orderBy('position')
    .execute();
  const out: Released = { completed: [], dispatch: [], cancelled: [] };
  const facts = factsOfDecision(decision, nodeId);
  for (const action of held) {
    if (!INTERNAL_TYPES.has(action.type)) {
      out.dispatch.push(action.action_id);
      continue;
    }
    // The plan stored the spec's own settings (database, reason, to, …) as the parameters.
    const spec = { ...(action.parameters ?? {}), type: action.type };
    const done = runInternalAction(spec, action.target_system, facts, now.getTime());
    if (done.log) await tx.insertInto('event_logs').values(done.log).execute();
    if (done.outbox) await tx.insertInto('outbox').values(done.outbox).execute();
    await tx
      .updateTable('actions')
      .set({ status: 'COMPLETED', result: done.result, executed_at: now, completed_at: now, updated_at: now })
      .where('action_id', '=', action.action_id)
      .execute();
    out.completed.push(action.action_id);
  }
  if (out.dispatch.length > 0) {
    await tx
      .updateTable('actions')
      .set({ status: 'PENDING', result: null, next_attempt_at: now, updated_at: now })
      .where('action_id', 'in', out.dispatch)
      .where('status', '=', 'HELD')
      .execute();
  }
  return out;
}

/** The facts an internal action needs, read back from the stored decision and its rationale. */
export function factsOfDecision(d: Selectable<DecisionsTable>, nodeId: string): DecisionFacts {
  const rationale = (d.rationale ?? {}) as {
    summary?: unknown;
    conditions?: Array<{ values?: Record<string, unknown> }>;
    matched_events?: Array<{ event_id?: string; event_type?: string; plugin_id?: string; severity?: string | null; confidence?: number | null; timestamp?: string; zone_id?: string | null; location?: { latitude: number; longitude: number } | null }>;
  };
  const conditions = Array.isArray(rationale.conditions) ? rationale.conditions : [];
  const first = Array.isArray(rationale.matched_events) ? rationale.matched_events[0] : undefined;
  const receivedAtMs = d.event_received_at === null ? null : new Date(d.event_received_at).getTime();
  return {
    tenantId: d.tenant_id,
    nodeId,
    decisionId: d.decision_id,
    triggerEventId: d.event_id,
    ruleName: d.trigger ?? d.rule_id,
    severity: d.severity,
    zoneId: d.zone_id,
    lat: d.lat,
    lng: d.lng,
    eventIds: (d.event_ids as unknown as string[]) ?? [d.event_id],
    values: Object.assign({}, ...conditions.map((c) => c.values ?? {})),
    summary: typeof rationale.summary === 'string' ? rationale.summary : (d.trigger ?? d.rule_id),
    origin:
      first?.event_id && receivedAtMs !== null
        ? {
            eventId: first.event_id,
            pluginId: first.plugin_id ?? '',
            pluginVersion: '',
            eventType: first.event_type ?? '',
            severity: first.severity ?? null,
            confidence: first.confidence ?? null,
            tsMs: first.timestamp ? Date.parse(first.timestamp) : receivedAtMs,
            receivedAtMs,
            zoneId: first.zone_id ?? null,
            lat: first.location?.latitude ?? null,
            lng: first.location?.longitude ?? null,
          }
        : null,
  };
}
