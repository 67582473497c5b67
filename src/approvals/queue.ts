import { sql, type Kysely } from 'kysely';
import { SEVERITY_WORDS, severityRank } from '../events/severity.js';
import type { Database } from '../store/schema.js';

/**
 * The Pending Approvals priority queue (seed 001 §8.1, §12.2 GET /authority/pending-approvals):
 * requests waiting for the caller's level in the caller's zones, most severe first, then the
 * nearest deadline, then the oldest. Each item carries the seed's payload (decision_id,
 * event_summary, evidence_urls, recommended_action) and what an officer needs to prioritise.
 */
export interface PendingApproval {
  decision_id: string;
  request_id: string;
  event_id: string;
  event_summary: string;
  evidence_urls: string[];
  recommended_action: string | null;
  severity: string | null;
  priority: string | null;
  zone_id: string | null;
  level: number;
  approval_type: string;
  created_at: string;
  deadline_at: string | null;
  seconds_to_deadline: number | null;
  fail_safe_action: string | null;
  /** What the dashboard shows beside the seed's payload, so a queue needs no request per item: */
  /** the rule's name, as DecisionView.rule.name (the trigger of an action trigger, else the rule id); */
  rule_name: string;
  /** times this request went up a level; */
  escalations: number;
  /** the conditions the rule checked with the values it read, and the events it matched (the decision's rationale); */
  conditions: Array<{ role?: string; source?: string; values?: Record<string, unknown> }>;
  matched_events: Array<{ role?: string; event_id: string; event_type?: string; plugin_id?: string; confidence?: number | null; timestamp?: string }>;
  /** the event that triggered it, as stored (null once the event is gone from the store). */
  trigger_event: { event_id: string; plugin_id: string; event_type: string; confidence: number | null; payload: unknown } | null;
}

export interface QueueQuery {
  tenantId: string;
  /** The caller's level; null (the admin token) sees every level. */
  level: number | null;
  /** Also requests below the caller's level (a commander looking over the officers' queue). */
  allLevels: boolean;
  /** The caller's zones; null for the whole tenant. */
  zoneIds: string[] | null;
  limit: number;
  nowMs: number;
}

/** The queue orders by the one severity scale (src/events/severity.ts), ranked in SQL. */
const SEVERITY_ORDER = sql.raw(`case lower(d.severity) ${SEVERITY_WORDS.map((n) => `when '${n}' then ${severityRank(n)}`).join(' ')} else 0 end`);

export async function pendingApprovals(db: Kysely<Database>, q: QueueQuery): Promise<PendingApproval[]> {
  if (q.zoneIds !== null && q.zoneIds.length === 0) return [];
  let query = db
    .selectFrom('approval_requests as ar')
    .innerJoin('decisions as d', 'd.decision_id', 'ar.decision_id')
    .select([
      'ar.request_id', 'ar.decision_id', 'ar.target_authority', 'ar.approval_type', 'ar.priority', 'ar.zone_id', 'ar.level', 'ar.summary',
      'ar.created_at', 'ar.deadline_at', 'ar.fail_safe_action', 'ar.escalations', 'd.event_id', 'd.severity', 'd.trigger', 'd.rule_id', 'd.rationale',
    ])
    .where('ar.tenant_id', '=', q.tenantId)
    .where('ar.status', '=', 'pending');
  if (q.level !== null) query = query.where('ar.level', q.allLevels ? '<=' : '=', q.level);
  if (q.zoneIds !== null) query = query.where('ar.zone_id', 'in', q.zoneIds);
  const rows = await query
    .orderBy(sql`${SEVERITY_ORDER}`, 'desc')
    .orderBy(sql`ar.deadline_at asc nulls last`)
    .orderBy('ar.created_at')
    .orderBy('ar.request_id')
    .limit(q.limit)
    .execute();
  if (rows.length === 0) return [];

  const events = await db
    .selectFrom('events')
    .select(['event_id', 'plugin_id', 'event_type', 'confidence', 'zone_id', 'payload'])
    .where('tenant_id', '=', q.tenantId)
    .where('event_id', 'in', [...new Set(rows.map((r) => r.event_id))])
    .execute();
  const byId = new Map(events.map((e) => [e.event_id, e]));

  return rows.map((r) => {
    const event = byId.get(r.event_id);
    const payload = (event?.payload ?? {}) as Record<string, unknown>;
    const summary = (r.summary ?? {}) as { event_summary?: string; recommended_action?: string };
    const rationale = (r.rationale ?? {}) as Pick<PendingApproval, 'conditions' | 'matched_events'>;
    const conditions = rationale.conditions ?? [];
    const deadlineMs = r.deadline_at ? new Date(r.deadline_at).getTime() : null;
    return {
      decision_id: r.decision_id,
      request_id: r.request_id,
      event_id: r.event_id,
      event_summary: event ? eventSummary(r.trigger ?? r.rule_id, payload, Object.assign({}, ...conditions.map((c) => c.values ?? {})), r.zone_id) : (summary.event_summary ?? r.rule_id),
      evidence_urls: evidenceUrls(payload),
      recommended_action: summary.recommended_action ?? null,
      severity: r.severity,
      priority: r.priority,
      zone_id: r.zone_id,
      level: r.level,
      approval_type: r.approval_type ?? r.target_authority,
      created_at: new Date(r.created_at).toISOString(),
      deadline_at: deadlineMs === null ? null : new Date(deadlineMs).toISOString(),
      // 0 once due: the fail-safe is about to run.
      seconds_to_deadline: deadlineMs === null ? null : Math.max(0, Math.round((deadlineMs - q.nowMs) / 1000)),
      fail_safe_action: r.fail_safe_action,
      rule_name: r.trigger ?? r.rule_id,
      escalations: r.escalations,
      conditions,
      matched_events: rationale.matched_events ?? [],
      trigger_event: event ? { event_id: event.event_id, plugin_id: event.plugin_id, event_type: event.event_type, confidence: event.confidence, payload: event.payload } : null,
    };
  });
}

/**
 * One line an officer can read at a glance (seed §12.2: "Speeding violation - 85 km/h in 60
 * zone"), built from what every event has: the trigger, where, and the values the rule read.
 *
 * @example
 *   eventSummary('speeding_detected', { location: { address: 'Anna Salai' } }, { severity: 'high' }, 'chennai-w119')
 *   // → 'Speeding detected at Anna Salai (chennai-w119): severity high'
 */
export function eventSummary(trigger: string, payload: Record<string, unknown>, values: Record<string, unknown>, zoneId: string | null): string {
  const words = trigger.replaceAll('_', ' ');
  const title = words.charAt(0).toUpperCase() + words.slice(1);
  const location = payload.location as { address?: unknown } | undefined;
  const address = typeof location?.address === 'string' && location.address.length > 0 ? location.address : null;
  const where = address ? ` at ${address}${zoneId ? ` (${zoneId})` : ''}` : zoneId ? ` in ${zoneId}` : '';
  const read = Object.entries(values)
    .filter(([, v]) => v !== undefined && v !== null && typeof v !== 'object')
    .map(([k, v]) => `${k} ${String(v)}`)
    .join(', ');
  return `${title}${where}${read ? `: ${read}` : ''}`;
}

/** Links shown per item at most. */
const MAX_EVIDENCE = 20;
const URL_RE = /^https?:\/\/\S+$/i;

/**
 * The evidence to review (seed §8.2 step 4 "images, video, speed data"): the schema's
 * evidence.image_urls and evidence.video_url first, then any other http(s) URL in the payload.
 */
export function evidenceUrls(payload: Record<string, unknown>): string[] {
  const out = new Set<string>();
  const add = (v: unknown): void => {
    if (typeof v === 'string' && URL_RE.test(v) && out.size < MAX_EVIDENCE) out.add(v);
  };
  const evidence = payload.evidence as { image_urls?: unknown; video_url?: unknown } | undefined;
  if (Array.isArray(evidence?.image_urls)) for (const u of evidence.image_urls) add(u);
  add(evidence?.video_url);
  const walk = (v: unknown, depth: number): void => {
    if (depth > 8 || out.size >= MAX_EVIDENCE) return;
    if (typeof v === 'string') add(v);
    else if (Array.isArray(v)) for (const x of v) walk(x, depth + 1);
    else if (typeof v === 'object' && v !== null) for (const x of Object.values(v)) walk(x, depth + 1);
  };
  walk(payload, 0);
  return [...out];
}
