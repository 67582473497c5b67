import type { Kysely, Selectable } from 'kysely';
import type { Database, DecisionsTable, FeedbackTable } from '../store/schema.js';

/**
 * Labelled examples for retraining (seed 001 §11.2 "Model Update & Versioning"): every approve
 * and reject — by a person or by a fail-safe, told apart by `label_source` — records the
 * triggering event's features, what the system recommended and what was decided. The features
 * are the stored payload, in which personal fields (plates) were tokenized at ingest, so the
 * export carries no raw personal data.
 */
export interface FeedbackLabel {
  decision: Selectable<DecisionsTable>;
  recommendedAction: string | null;
  humanDecision: 'approve' | 'reject';
  labelSource: 'human' | 'fail_safe';
  approverId: string;
  notes: string | null;
}

export async function recordFeedback(tx: Kysely<Database>, label: FeedbackLabel): Promise<void> {
  const d = label.decision;
  const event = await tx
    .selectFrom('events')
    .select(['event_id', 'plugin_id', 'plugin_version', 'payload'])
    .where('tenant_id', '=', d.tenant_id)
    .where('event_id', '=', d.event_id)
    .executeTakeFirst();
  // The event is kept as long as its decision; a rationale is the fallback should it be purged.
  const matched = ((d.rationale as { matched_events?: Array<{ plugin_id?: string }> })?.matched_events ?? [])[0];
  const pluginId = event?.plugin_id ?? matched?.plugin_id;
  if (!pluginId) return;
  await tx
    .insertInto('feedback')
    .values({
      tenant_id: d.tenant_id,
      plugin_id: pluginId,
      plugin_version: event?.plugin_version ?? null,
      decision_id: d.decision_id,
      event_id: d.event_id,
      features: JSON.stringify(event?.payload ?? {}),
      recommended_action: label.recommendedAction,
      human_decision: label.humanDecision,
      label_source: label.labelSource,
      approver_id: label.approverId,
      notes: label.notes,
    })
    .execute();
}

export interface FeedbackQuery {
  tenantId: string;
  pluginId: string;
  sinceMs?: number;
  untilMs?: number;
  labelSource?: string;
  limit?: number;
}

/** Rows read per query: the export streams page by page and never holds more than this. */
const PAGE = 1000;

/**
 * The plugin's labelled examples as JSON lines, oldest first (newest last), read in keyset
 * pages of {@link PAGE} rows so a large export streams rather than sitting in memory.
 */
export async function* feedbackLines(db: Kysely<Database>, q: FeedbackQuery): AsyncGenerator<string> {
  let after = '0';
  let left = q.limit ?? Number.POSITIVE_INFINITY;
  while (left > 0) {
    let query = db
      .selectFrom('feedback')
      .selectAll()
      .where('tenant_id', '=', q.tenantId)
      .where('plugin_id', '=', q.pluginId)
      .where('id', '>', after);
    if (q.sinceMs !== undefined) query = query.where('created_at', '>=', new Date(q.sinceMs));
    if (q.untilMs !== undefined) query = query.where('created_at', '<', new Date(q.untilMs));
    if (q.labelSource !== undefined) query = query.where('label_source', '=', q.labelSource);
    const rows = await query.orderBy('id').limit(Math.min(PAGE, left)).execute();
    for (const row of rows) yield JSON.stringify(feedbackLine(row)) + '\n';
    if (rows.length < Math.min(PAGE, left)) return;
    left -= rows.length;
    after = String(rows[rows.length - 1]!.id);
  }
}

function feedbackLine(r: Selectable<FeedbackTable>): Record<string, unknown> {
  return {
    id: String(r.id),
    plugin_id: r.plugin_id,
    plugin_version: r.plugin_version,
    decision_id: r.decision_id,
    event_id: r.event_id,
    features: r.features,
    recommended_action: r.recommended_action,
    human_decision: r.human_decision,
    label_source: r.label_source,
    approver_id: r.approver_id,
    notes: r.notes,
    labelled_at: new Date(r.created_at).toISOString(),
  };
}
