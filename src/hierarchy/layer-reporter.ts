import type { Kysely, Transaction } from 'kysely';
import { listReports, storedView, type AggregationReport, type StoredReport } from '../brain/aggregation.js';
import { cityError } from '../errors.js';
import { uuidv7 } from '../events/ids.js';
import type { Database } from '../store/schema.js';
import type { LinkAuth } from './link-auth.js';
import { mergeReports, type ChildReportInput, type LayerReport, type LayerRole } from './report-merge.js';

export const LAYER_REPORT_DEFAULTS = {
  /**
   * Wait after a window's end before merging it: the children build theirs after their own
   * settle time (5 s) and deliver it over the link. A report arriving later still counts: the
   * window is merged again as a new revision.
   */
  graceMs: 10_000,
  /** Windows rebuilt at start (the node was down): 96 × 15 min = a day. */
  maxCatchUpWindows: 96,
  /** Own previous reports the district's pattern detection compares with. */
  historyWindows: 12,
  /** Late reports for one window are merged together when they arrive within this time. */
  revisionDelayMs: 1_000,
} as const;

/** A child report as a layer stores it (one row per report and revision). */
export interface StoredChildReport {
  source_node: string;
  report_id: string;
  window_start: string;
  window_end: string;
  revision: number;
  received_at: string;
  report: AggregationReport | LayerReport;
}

export interface LayerReporterOptions {
  db: Kysely<Database>;
  tenantId: string;
  nodeId: string;
  role: LayerRole;
  zoneId: string | null;
  zoneName: (zoneId: string | null) => string | null;
  links: LinkAuth;
  windowMs: number;
  /** After a report (or revision) is stored with its outbox message. */
  onReport: () => void;
  onError: (err: unknown, what: string) => void;
  now?: () => number;
  graceMs?: number;
}

/**
 * A higher layer's report each window (issue 5 §2; seed 001 §7.1 upward flow): the children's
 * reports of the window, received exactly once through the link inbox into `child_reports`,
 * merged by src/hierarchy/report-merge.ts into this layer's own — a district's patterns and
 * resource picture, a city's KPIs, a state's city metrics, a nation's benchmarking — stored in
 * `aggregation_reports` like a Local Brain's and queued to the parent in the same transaction.
 *
 * A child's report that arrives after its window was merged (the child or this node was
 * offline) is not lost: the window is merged again as revision 2, 3 … and sent up again; the
 * parent keeps the latest revision of each window.
 */
export class LayerReporter {
  readonly #o: LayerReporterOptions;
  readonly #now: () => number;
  readonly #graceMs: number;
  #timer: NodeJS.Timeout | null = null;
  #nextStartMs = 0;
  /**
   * Windows before this have been read for merging (or are being read): a child report of one
   * of them that arrives now may have been missed, so its window is merged again. Ahead of
   * #nextStartMs while the window at #nextStartMs is being built — a report arriving then was
   * ignored before, and the window stayed without it.
   */
  #readBeforeMs = 0;
  #chain: Promise<unknown> = Promise.resolve();
  #closed = false;
  readonly #lateWindows = new Set<number>();
  #lateTimer: NodeJS.Timeout | null = null;

  constructor(options: LayerReporterOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#graceMs = options.graceMs ?? LAYER_REPORT_DEFAULTS.graceMs;
  }

  get windowMs(): number {
    return this.#o.windowMs;
  }

  async start(): Promise<void> {
    const current = this.#align(this.#now());
    this.#nextStartMs = current;
    this.#readBeforeMs = current;
    await this.#serial(async () => {
      const last = await this.#o.db
        .selectFrom('aggregation_reports')
        .select('window_start')
        .where('tenant_id', '=', this.#o.tenantId)
        .where('node_id', '=', this.#o.nodeId)
        .orderBy('window_start', 'desc')
        .limit(1)
        .executeTakeFirst();
      if (!last) return;
      const from = Math.max(new Date(last.window_start).getTime() + this.#o.windowMs, current - LAYER_REPORT_DEFAULTS.maxCatchUpWindows * this.#o.windowMs);
      for (let start = from; start < current && !this.#closed; start += this.#o.windowMs) {
        if (start + this.#o.windowMs + this.#graceMs <= this.#now()) await this.#build(start);
        else {
          this.#nextStartMs = start;
          break;
        }
      }
    });
    this.#schedule();
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#lateTimer) clearTimeout(this.#lateTimer);
    await this.#chain.catch(() => {});
  }

  /** A child report was applied (committed): when its window is already merged, merge it again. */
  childReportArrived(windowStartMs: number): void {
    if (this.#closed || windowStartMs >= this.#readBeforeMs) return;
    this.#lateWindows.add(windowStartMs);
    this.#lateTimer ??= setTimeout(() => {
      this.#lateTimer = null;
      const windows = [...this.#lateWindows].sort((a, b) => a - b);
      this.#lateWindows.clear();
      for (const w of windows) void this.#serial(() => this.#build(w)).catch((err) => this.#o.onError(err, `revision of the layer report for ${iso(w)}`));
    }, LAYER_REPORT_DEFAULTS.revisionDelayMs).unref();
  }

  /** Builds (or re-merges) the report of a window that has ended. */
  buildNow(windowStartMs: number): Promise<StoredReport> {
    if (!Number.isInteger(windowStartMs) || windowStartMs % this.#o.windowMs !== 0) throw cityError('REQUEST_INVALID', { reason: `${windowStartMs} is not the start of a ${this.#o.windowMs} ms window` });
    if (windowStartMs + this.#o.windowMs > this.#now()) throw cityError('REQUEST_INVALID', { reason: `the window starting ${iso(windowStartMs)} has not ended` });
    return this.#serial(() => this.#build(windowStartMs));
  }

  async latest(): Promise<StoredReport | null> {
    return (await this.list({ limit: 1 })).reports[0] ?? null;
  }

  async list(q: { limit: number; before?: string | undefined }): Promise<{ reports: StoredReport[]; next_before: string | null }> {
    return listReports(this.#o.db, this.#o.tenantId, this.#o.nodeId, q);
  }

  /** Child reports received, newest window first (GET /api/v1/layer/child-reports). */
  async childReports(q: { limit: number; source?: string | undefined; windowStart?: string | undefined }): Promise<StoredChildReport[]> {
    let query = this.#o.db.selectFrom('child_reports').selectAll().where('tenant_id', '=', this.#o.tenantId);
    if (q.source !== undefined) query = query.where('source_node', '=', q.source);
    if (q.windowStart !== undefined) query = query.where('window_start', '=', new Date(q.windowStart));
    const rows = await query.orderBy('window_start', 'desc').orderBy('source_node').orderBy('revision', 'desc').limit(q.limit).execute();
    return rows.map(childView);
  }

  /** Each child's newest report (its latest window, latest revision), by child: one read. */
  async latestChildReports(): Promise<Map<string, StoredChildReport>> {
    const rows = await this.#o.db
      .selectFrom('child_reports')
      .selectAll()
      .distinctOn('source_node')
      .where('tenant_id', '=', this.#o.tenantId)
      .orderBy('source_node')
      .orderBy('window_start', 'desc')
      .orderBy('revision', 'desc')
      .execute();
    return new Map(rows.map((r) => [r.source_node, childView(r)]));
  }

  // ---- schedule --------------------------------------------------------------------------

  #schedule(): void {
    if (this.#closed) return;
    const dueAt = this.#nextStartMs + this.#o.windowMs + this.#graceMs;
    this.#timer = setTimeout(() => void this.#tick(), Math.max(0, dueAt - this.#now())).unref();
  }

  async #tick(): Promise<void> {
    this.#timer = null;
    while (!this.#closed && this.#nextStartMs + this.#o.windowMs + this.#graceMs <= this.#now()) {
      const start = this.#nextStartMs;
      try {
        await this.#serial(() => {
          this.#readBeforeMs = Math.max(this.#readBeforeMs, start + this.#o.windowMs);
          return this.#build(start);
        });
        this.#nextStartMs += this.#o.windowMs;
      } catch (err) {
        this.#o.onError(err, `layer report for ${iso(start)}`);
        break;
      }
    }
    if (!this.#closed && this.#timer === null) {
      if (this.#nextStartMs + this.#o.windowMs + this.#graceMs <= this.#now()) this.#timer = setTimeout(() => void this.#tick(), 30_000).unref();
      else this.#schedule();
    }
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#chain.then(work, work);
    this.#chain = next.catch(() => {});
    return next;
  }

  #align(ms: number): number {
    return Math.floor(ms / this.#o.windowMs) * this.#o.windowMs;
  }

  // ---- building ----------------------------------------------------------------------------

  async #build(startMs: number): Promise<StoredReport> {
    const { db, tenantId, nodeId } = this.#o;
    const endMs = startMs + this.#o.windowMs;
    const rows = await db.selectFrom('child_reports').selectAll().where('tenant_id', '=', tenantId).where('window_start', '=', new Date(startMs)).execute();
    // The latest revision of each child's report for the window.
    const latest = new Map<string, StoredChildReport>();
    for (const r of rows.map(childView)) {
      const seen = latest.get(r.source_node);
      if (!seen || r.revision > seen.revision) latest.set(r.source_node, r);
    }
    const children: ChildReportInput[] = [];
    const listed = new Set<string>();
    for (const c of this.#o.links.active('child')) {
      listed.add(c.node_id);
      children.push({ node_id: c.node_id, role: c.role as ChildReportInput['role'], zone_id: c.zone_id, zone_name: this.#o.zoneName(c.zone_id), report: latest.get(c.node_id)?.report ?? null });
    }
    // A child revoked since still counts for the windows it reported.
    for (const [source, r] of latest) {
      if (listed.has(source)) continue;
      const node = this.#o.links.node(source);
      children.push({ node_id: source, role: (node?.role ?? 'local') as ChildReportInput['role'], zone_id: node?.zone_id ?? null, zone_name: this.#o.zoneName(node?.zone_id ?? null), report: r.report });
    }
    const history = (await this.list({ limit: LAYER_REPORT_DEFAULTS.historyWindows, before: new Date(startMs).toISOString() })).reports.map((r) => r.report as unknown as LayerReport);
    const previous = await db.selectFrom('aggregation_reports').select(['report_id', 'report']).where('tenant_id', '=', tenantId).where('node_id', '=', nodeId).where('window_start', '=', new Date(startMs)).executeTakeFirst();
    const previousRevision = previous ? Number((parseJson<LayerReport>(previous.report).layer_report as { revision?: number }).revision ?? 1) : 0;
    const reportId = previous?.report_id ?? uuidv7(startMs);
    const merged = mergeReports(children, {
      layer: this.#o.role,
      nodeId,
      zoneId: this.#o.zoneId,
      reportId,
      windowStartMs: startMs,
      windowEndMs: endMs,
      nowMs: this.#now(),
      history,
    });
    const revision = previousRevision + 1;
    (merged.layer_report as LayerReport['layer_report'] & { revision: number }).revision = revision;
    const payload = JSON.stringify(merged);
    await db.transaction().execute(async (trx: Transaction<Database>) => {
      if (previous) await trx.updateTable('aggregation_reports').set({ report: payload }).where('report_id', '=', reportId).execute();
      else await trx.insertInto('aggregation_reports').values({ report_id: reportId, tenant_id: tenantId, node_id: nodeId, window_start: new Date(startMs), window_end: new Date(endMs), report: payload }).execute();
      await trx.insertInto('outbox').values({ tenant_id: tenantId, message_id: revision === 1 ? reportId : `${reportId}.r${revision}`, destination: 'parent', kind: 'layer_report', payload }).execute();
    });
    this.#o.onReport();
    const stored = await db.selectFrom('aggregation_reports').select(['report_id', 'window_start', 'window_end', 'created_at', 'report']).where('report_id', '=', reportId).executeTakeFirstOrThrow();
    return storedView(stored);
  }
}

/** Stores a child's report in the inbox transaction. Returns its window start, or null when it was not a report of a window. */
export async function recordChildReport(trx: Transaction<Database>, tenantId: string, source: string, payload: AggregationReport | LayerReport): Promise<number | null> {
  const body = 'aggregation_report' in payload ? payload.aggregation_report : 'layer_report' in payload ? payload.layer_report : null;
  if (!body || typeof body.window_start !== 'string' || typeof body.window_end !== 'string' || typeof body.report_id !== 'string') return null;
  const revision = Number((body as { revision?: number }).revision ?? 1);
  await trx
    .insertInto('child_reports')
    .values({ tenant_id: tenantId, source_node: source, report_id: `${body.report_id}#${revision}`, window_start: new Date(body.window_start), window_end: new Date(body.window_end), revision, report: JSON.stringify(payload) })
    .onConflict((oc) => oc.columns(['tenant_id', 'source_node', 'report_id']).doNothing())
    .execute();
  return new Date(body.window_start).getTime();
}

function childView(r: { source_node: string; report_id: string; window_start: Date | string; window_end: Date | string; revision: number; received_at: Date | string; report: unknown }): StoredChildReport {
  return {
    source_node: r.source_node,
    report_id: r.report_id,
    window_start: new Date(r.window_start).toISOString(),
    window_end: new Date(r.window_end).toISOString(),
    revision: Number(r.revision),
    received_at: new Date(r.received_at).toISOString(),
    report: parseJson(r.report),
  };
}


function parseJson<T>(value: unknown): T {
  return (typeof value === 'string' ? JSON.parse(value) : value) as T;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
