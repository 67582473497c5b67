import { sql, type Kysely } from 'kysely';
import { cityError } from '../errors.js';
import { uuidv7 } from '../events/ids.js';
import type { Database } from '../store/schema.js';
import { NO_ZONE_KEY, round1, toMs, type StateStore } from './state-store.js';

/**
 * Aggregation for the District Layer (seed 001 §3.4: "the Local Brain minimizes upward bandwidth
 * by sending aggregated reports, not raw events"). At the end of every window (the state
 * store's `windowMs`, 15 min by default, aligned to the epoch: 14:00–14:15) the reporter builds
 * the seed's `aggregation_report` with real values and stores it, with an outbox message to
 * the parent, in one transaction. The hierarchy delivers the outbox.
 *
 * Where the numbers come from:
 *   - total_events, event_breakdown, zone_breakdown: the state store's live counters when they
 *     saw the whole window, else counted from the `events` table by received_at (the window the
 *     node started in, and windows that ended while it was down);
 *   - decisions, latency, escalated incidents: the `decisions` and `actions` tables (exact, few rows);
 *   - resource_status: the state store's resources now (there is no history of them);
 *   - event_accuracy: approval requests resolved in the window.
 */
export const AGGREGATION_DEFAULTS = {
  /**
   * Wait after a window's end before building its report, so events counted and decisions
   * committed in its last milliseconds are in it.
   */
  settleMs: 5_000,
  /** At most this many missed windows are rebuilt from the store at start (96 × 15 min = 1 day). */
  maxCatchUpWindows: 96,
  /** Escalated incidents listed in one report; `escalated_incidents_total` has the full count. */
  maxEscalatedListed: 500,
  /** Resources listed with their position in one report. */
  maxResourcesListed: 500,
} as const;

export type AggregationOptions = {
  db: Kysely<Database>;
  tenantId: string;
  nodeId: string;
  state: StateStore;
  /**
   * The window length. The state store counts by its own `windowMs`, so this must be the same
   * (pass the one setting to both); when left out the state store's is used.
   */
  windowMs?: number;
  now?: () => number;
  /** A scheduled build failed; the reporter keeps going and tries the window again at the next tick. */
  onError?: (err: unknown, what: string) => void;
  /** Used for failures when there is no onError. */
  log?: { error(obj: object, msg: string): void };
} & Partial<AggregationLimits>;

type AggregationLimits = { -readonly [K in keyof typeof AGGREGATION_DEFAULTS]: number };

export interface EscalatedIncident {
  incident_id: string;
  type: string;
  severity: string | null;
  requires_district_coordination: boolean;
  zone_id: string | null;
  decided_at: string;
  target: string | null;
  reason: string | null;
}

/** Seed 001 §3.4, field for field, with additions after the seed's own fields. */
export interface AggregationReport {
  aggregation_report: {
    source_layer: string;
    time_window: string;
    summary: {
      total_events: number;
      event_breakdown: Record<string, number>;
      escalated_incidents: EscalatedIncident[];
      /** `${plural type}_available`, e.g. ambulances_available, fire_trucks_available. */
      resource_status: Record<string, number>;
      performance_metrics: {
        avg_processing_latency_ms: number | null;
        /**
         * Approved / (approved + rejected) of approval requests people resolved in the window:
         * how often the node's proposed actions were right. null when none was resolved — the
         * seed's figure has no other honest source here, and 0 or 1 would be invented.
         */
        event_accuracy: number | null;
        p95_processing_latency_ms: number | null;
        /** Decisions whose latency is known (those with a trigger event). */
        decisions_measured: number;
        approvals_resolved: number;
      };
      zone_breakdown: Record<string, number>;
      /** Inputs refused into the dead-letter table in the window. */
      rejected_events: number;
      decisions_total: number;
      escalated_incidents_total: number;
      /** `${plural type}_total`: every resource of the type, whatever its status. */
      resource_totals: Record<string, number>;
    };
    report_id: string;
    window_start: string;
    window_end: string;
    generated_at: string;
    /** 'live': event counts from the live counters; 'store': counted from the events table. */
    event_counts_from: 'live' | 'store';
    /**
     * The response resources and where they are as the window closed (at most
     * `maxResourcesListed`): what a district dispatches the nearest available one from
     * (issue 5 §6). Ids and positions of vehicles, never people.
     */
    resources?: Array<{ resource_id: string; resource_type: string; status: string; zone_id: string | null; location: { latitude: number; longitude: number } | null }>;
  };
}

export interface StoredReport {
  report_id: string;
  window_start: string;
  window_end: string;
  created_at: string;
  report: AggregationReport;
}

interface EventCounts {
  total: number;
  byType: Record<string, number>;
  byZone: Record<string, number>;
}

/**
 * @example
 *   const reporter = new AggregationReporter({ db, tenantId, nodeId, state });
 *   await reporter.start();            // rebuilds missed windows, then one report per window
 *   (await reporter.latest())?.report.aggregation_report.summary.total_events;
 */
export class AggregationReporter {
  readonly #o: AggregationOptions & AggregationLimits;
  readonly #now: () => number;
  readonly #windowMs: number;
  /** Builds run one at a time (a scheduled one and one asked for by the API). */
  #chain: Promise<unknown> = Promise.resolve();
  #timer: NodeJS.Timeout | null = null;
  /** The next window the schedule will build. */
  #nextStartMs = 0;
  #closed = false;

  constructor(options: AggregationOptions) {
    const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
    this.#o = { ...AGGREGATION_DEFAULTS, ...given } as AggregationOptions & AggregationLimits;
    this.#now = options.now ?? Date.now;
    this.#windowMs = options.state.windowMs;
    if (options.windowMs !== undefined && options.windowMs !== this.#windowMs) {
      throw cityError('CONFIG_INVALID', {
        setting: 'windowMs',
        reason: `the aggregation window (${options.windowMs} ms) differs from the state store's (${this.#windowMs} ms): give the StateStore the same windowMs`,
      });
    }
    this.#o.onError ??= (err, what) => options.log?.error({ err }, `${what} failed`);
  }

  /**
   * Rebuilds from the store the windows that ended without a report (since the last report,
   * or since the node's first start when there is none; at most `maxCatchUpWindows`), then
   * builds one report per window as each ends.
   */
  async start(): Promise<void> {
    const currentStart = this.#align(this.#now());
    this.#nextStartMs = currentStart;
    // In the serial chain, so close() waits for it (and stops it between windows).
    await this.#serial(async () => {
      const from = await this.#catchUpFrom(currentStart);
      if (from === null || from >= currentStart) return;
      const missing = await this.#missingWindows(from, currentStart);
      if (missing.length === 0) return;
      // One scan of the events for the whole gap, not one per window.
      const counts = await this.#countStoredEvents(missing[0]!, currentStart);
      for (const start of missing) {
        if (this.#closed) return;
        await this.#build(start, counts.get(start) ?? emptyCounts());
      }
    });
    this.#schedule();
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#chain.catch(() => {});
  }

  /**
   * The report of the window starting at `windowStartMs`, built and stored now if there is none
   * yet (an existing report is returned as stored: reports are final once sent to the parent).
   * @throws CITY_ERR_REQUEST_INVALID when the time is not a window start or the window has not ended
   */
  buildNow(windowStartMs: number): Promise<StoredReport> {
    if (!Number.isInteger(windowStartMs) || windowStartMs % this.#windowMs !== 0) {
      throw cityError('REQUEST_INVALID', { reason: `${windowStartMs} is not the start of a ${this.#windowMs} ms window` });
    }
    if (windowStartMs + this.#windowMs > this.#now()) {
      throw cityError('REQUEST_INVALID', { reason: `the window starting ${iso(windowStartMs)} has not ended` });
    }
    return this.#serial(() => this.#build(windowStartMs, null));
  }

  async latest(): Promise<StoredReport | null> {
    return (await this.list({ limit: 1 })).reports[0] ?? null;
  }

  /** Reports newest first; `before` (ISO time) pages on with the previous page's `next_before`. */
  async list(q: { limit: number; before?: string | undefined }): Promise<{ reports: StoredReport[]; next_before: string | null }> {
    return listReports(this.#o.db, this.#o.tenantId, this.#o.nodeId, q);
  }

  // ---- schedule ------------------------------------------------------------------------------

  #schedule(): void {
    if (this.#closed) return;
    const dueAt = this.#nextStartMs + this.#windowMs + this.#o.settleMs;
    this.#timer = setTimeout(() => void this.#tick(), Math.max(0, dueAt - this.#now())).unref();
  }

  async #tick(): Promise<void> {
    this.#timer = null;
    // Every window that is due: more than one after a long stall (a laptop asleep).
    while (!this.#closed && this.#nextStartMs + this.#windowMs + this.#o.settleMs <= this.#now()) {
      const start = this.#nextStartMs;
      try {
        await this.#serial(() => this.#build(start, null));
        this.#nextStartMs += this.#windowMs;
      } catch (err) {
        this.#o.onError?.(err, `aggregation report for ${iso(start)}`);
        break; // tried again at the next tick
      }
    }
    if (!this.#closed && this.#timer === null) {
      // After a failure, retry within a minute rather than at the next window.
      if (this.#nextStartMs + this.#windowMs + this.#o.settleMs <= this.#now()) this.#timer = setTimeout(() => void this.#tick(), 60_000).unref();
      else this.#schedule();
    }
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(fn, fn);
    this.#chain = run.catch(() => {});
    return run;
  }

  /** Where catch-up starts: the end of the last report, else the window of the first start. */
  async #catchUpFrom(currentStart: number): Promise<number | null> {
    const { db, tenantId, nodeId } = this.#o;
    const last = await db
      .selectFrom('aggregation_reports')
      .select('window_end')
      .where('tenant_id', '=', tenantId)
      .where('node_id', '=', nodeId)
      .orderBy('window_start', 'desc')
      .limit(1)
      .executeTakeFirst();
    // The first start is remembered once, so a node that never lived through a whole window
    // (restarted within minutes, again and again) still reports the windows it saw.
    const name = `aggregation_first_start:${nodeId}`;
    await db
      .insertInto('brain_state')
      .values({ tenant_id: tenantId, name, value: JSON.stringify({ started_at_ms: this.#o.state.liveSinceMs }) })
      .onConflict((oc) => oc.columns(['tenant_id', 'name']).doNothing())
      .execute();
    const mark = await db.selectFrom('brain_state').select('value').where('tenant_id', '=', tenantId).where('name', '=', name).executeTakeFirst();
    const firstStartMs = (mark?.value as { started_at_ms?: number } | undefined)?.started_at_ms;
    const from = last ? toMs(last.window_end) : typeof firstStartMs === 'number' ? this.#align(firstStartMs) : null;
    return from === null ? null : Math.max(from, currentStart - this.#o.maxCatchUpWindows * this.#windowMs);
  }

  async #missingWindows(fromMs: number, untilMs: number): Promise<number[]> {
    const have = await this.#o.db
      .selectFrom('aggregation_reports')
      .select('window_start')
      .where('tenant_id', '=', this.#o.tenantId)
      .where('node_id', '=', this.#o.nodeId)
      .where('window_start', '>=', new Date(fromMs))
      .where('window_start', '<', new Date(untilMs))
      .execute();
    const built = new Set(have.map((r) => toMs(r.window_start)));
    const missing: number[] = [];
    for (let s = fromMs; s < untilMs; s += this.#windowMs) if (!built.has(s)) missing.push(s);
    return missing;
  }

  // ---- building ------------------------------------------------------------------------------

  async #build(startMs: number, storedCounts: EventCounts | null): Promise<StoredReport> {
    const existing = await this.#stored(startMs);
    if (existing) return existing;
    const { db, tenantId, nodeId, state } = this.#o;
    const endMs = startMs + this.#windowMs;
    const from = new Date(startMs);
    const to = new Date(endMs);

    const live = storedCounts === null ? state.windowTotals(startMs) : null;
    const counts: EventCounts = live
      ? { total: live.events_total, byType: live.events_by_type, byZone: live.events_by_zone }
      : (storedCounts ?? (await this.#countStoredEvents(startMs, endMs)).get(startMs) ?? emptyCounts());

    const latency = await sql<{ decisions: number; measured: number; avg_ms: number | null; p95_ms: number | null }>`
      select count(*)::int as decisions,
             count(event_received_at)::int as measured,
             avg(extract(epoch from (decision_time - event_received_at)) * 1000)::float8 as avg_ms,
             percentile_cont(0.95) within group (order by (extract(epoch from (decision_time - event_received_at)) * 1000)::float8)::float8 as p95_ms
        from decisions
       where tenant_id = ${tenantId} and decision_time >= ${from} and decision_time < ${to}`.execute(db);
    const l = latency.rows[0]!;

    // Seed 001 §3.4 escalated_incidents: decisions of the window with an `escalate` action
    // (src/decisions/plan.ts queues those for the parent through the outbox).
    const escalations = await db
      .selectFrom('decisions as d')
      .innerJoin('actions as a', 'a.decision_id', 'd.decision_id')
      .select(['d.decision_id', 'd.rule_id', 'd.trigger', 'd.severity', 'd.zone_id', 'd.decision_time', 'a.target_system', 'a.parameters'])
      .where('d.tenant_id', '=', tenantId)
      .where('d.decision_time', '>=', from)
      .where('d.decision_time', '<', to)
      .where('a.type', '=', 'escalate')
      .orderBy('d.decision_time')
      .orderBy('a.position')
      .execute();
    const escalated = new Map<string, EscalatedIncident>();
    for (const e of escalations) {
      if (escalated.has(e.decision_id)) continue;
      const params = (e.parameters ?? {}) as Record<string, unknown>;
      escalated.set(e.decision_id, {
        incident_id: e.decision_id,
        type: e.trigger ?? e.rule_id,
        severity: e.severity,
        // An escalation from a Local Brain goes to its parent, the district (seed 001 §3.3
        // `target: "district_layer"`): coordination there is what it asks for.
        requires_district_coordination: true,
        zone_id: e.zone_id,
        decided_at: new Date(toMs(e.decision_time)).toISOString(),
        target: e.target_system,
        reason: typeof params.reason === 'string' ? params.reason : null,
      });
    }

    const approvals = await db
      .selectFrom('approval_requests')
      .select([sql<string>`lower(status)`.as('status'), sql<number>`count(*)::int`.as('n')])
      .where('tenant_id', '=', tenantId)
      .where('resolved_at', '>=', from)
      .where('resolved_at', '<', to)
      // Only people's verdicts: a fail-safe's automatic outcome says nothing about accuracy.
      .where(sql<string>`lower(status)`, 'in', ['approved', 'rejected'])
      .groupBy(sql`lower(status)`)
      .execute();
    const approved = approvals.find((a) => a.status === 'approved')?.n ?? 0;
    const rejected = approvals.find((a) => a.status === 'rejected')?.n ?? 0;

    const deadLetters = await db
      .selectFrom('dead_letters')
      .select(sql<number>`count(*)::int`.as('n'))
      .where('tenant_id', '=', tenantId)
      .where('received_at', '>=', from)
      .where('received_at', '<', to)
      .executeTakeFirst();

    const resourceStatus: Record<string, number> = {};
    const resourceTotals: Record<string, number> = {};
    const resourcesNow = state.resources({ limit: this.#o.maxResourcesListed });
    for (const [type, c] of Object.entries(resourcesNow.by_type)) {
      resourceStatus[`${pluralise(type)}_available`] = c.available;
      resourceTotals[`${pluralise(type)}_total`] = c.total;
    }

    const reportId = uuidv7(this.#now());
    const report: AggregationReport = {
      aggregation_report: {
        source_layer: nodeId,
        time_window: `${iso(startMs)} to ${iso(endMs)}`,
        summary: {
          total_events: counts.total,
          event_breakdown: counts.byType,
          escalated_incidents: [...escalated.values()].slice(0, this.#o.maxEscalatedListed),
          resource_status: resourceStatus,
          performance_metrics: {
            avg_processing_latency_ms: l.avg_ms === null ? null : round1(Number(l.avg_ms)),
            event_accuracy: approved + rejected === 0 ? null : Math.round((approved / (approved + rejected)) * 1000) / 1000,
            p95_processing_latency_ms: l.p95_ms === null ? null : round1(Number(l.p95_ms)),
            decisions_measured: l.measured,
            approvals_resolved: approved + rejected,
          },
          zone_breakdown: counts.byZone,
          rejected_events: deadLetters?.n ?? 0,
          decisions_total: l.decisions,
          escalated_incidents_total: escalated.size,
          resource_totals: resourceTotals,
        },
        report_id: reportId,
        window_start: iso(startMs),
        window_end: iso(endMs),
        generated_at: new Date(this.#now()).toISOString(),
        event_counts_from: live ? 'live' : 'store',
        resources: resourcesNow.items.map((r) => ({ resource_id: r.resource_id, resource_type: r.resource_type, status: r.status, zone_id: r.zone_id, location: r.location })),
      },
    };

    const payload = JSON.stringify(report);
    const stored = await db.transaction().execute(async (tx) => {
      const inserted = await tx
        .insertInto('aggregation_reports')
        .values({ report_id: reportId, tenant_id: tenantId, node_id: nodeId, window_start: from, window_end: to, report: payload })
        .onConflict((oc) => oc.columns(['tenant_id', 'node_id', 'window_start']).doNothing())
        .returning('report_id')
        .executeTakeFirst();
      if (!inserted) return false; // built meanwhile by another node process on the same store
      await tx
        .insertInto('outbox')
        .values({ tenant_id: tenantId, message_id: reportId, destination: 'parent', kind: 'aggregation_report', payload })
        .execute();
      return true;
    });
    const row = await this.#stored(startMs);
    if (!row) throw cityError('STORE_FAILED', { reason: `aggregation report ${reportId} was ${stored ? 'written' : 'skipped'} but cannot be read back` });
    return row;
  }

  async #stored(startMs: number): Promise<StoredReport | null> {
    const row = await this.#o.db
      .selectFrom('aggregation_reports')
      .select(['report_id', 'window_start', 'window_end', 'created_at', 'report'])
      .where('tenant_id', '=', this.#o.tenantId)
      .where('node_id', '=', this.#o.nodeId)
      .where('window_start', '=', new Date(startMs))
      .executeTakeFirst();
    return row ? storedView(row) : null;
  }

  /**
   * Events received in [fromMs, toMs), by window, type and zone. No index covers received_at,
   * so this scans the events of the period: fine for the windows missed across a restart, and
   * the reason live counters are used whenever they saw a whole window. On PGlite (one
   * single-threaded engine) a scan of a busy window takes seconds, not milliseconds.
   */
  async #countStoredEvents(fromMs: number, untilMs: number): Promise<Map<number, EventCounts>> {
    const w = this.#windowMs;
    const rows = await sql<{ bucket: string | number; event_type: string; zone_id: string | null; n: number }>`
      select floor(extract(epoch from received_at) * 1000 / ${w})::bigint as bucket, event_type, zone_id, count(*)::int as n
        from events
       where tenant_id = ${this.#o.tenantId} and received_at >= ${new Date(fromMs)} and received_at < ${new Date(untilMs)}
       group by 1, 2, 3`.execute(this.#o.db);
    const out = new Map<number, EventCounts>();
    for (const r of rows.rows) {
      const start = Number(r.bucket) * w;
      let c = out.get(start);
      if (!c) out.set(start, (c = emptyCounts()));
      c.total += r.n;
      c.byType[r.event_type] = (c.byType[r.event_type] ?? 0) + r.n;
      const zone = r.zone_id ?? NO_ZONE_KEY;
      c.byZone[zone] = (c.byZone[zone] ?? 0) + r.n;
    }
    return out;
  }

  #align(ms: number): number {
    return Math.floor(ms / this.#windowMs) * this.#windowMs;
  }
}

/**
 * The plural the seed uses in resource_status keys (`ambulances_available`).
 *
 * @example
 *   pluralise('fire_truck'); // → 'fire_trucks'
 *   pluralise('bus');        // → 'buses'
 */
export function pluralise(word: string): string {
  if (/(s|x|z|ch|sh)$/.test(word)) return `${word}es`;
  if (/[^aeiou]y$/.test(word)) return `${word.slice(0, -1)}ies`;
  return `${word}s`;
}

function emptyCounts(): EventCounts {
  return { total: 0, byType: {}, byZone: {} };
}

/** `2025-12-03T14:00:00Z`, as the seed writes times (no milliseconds when there are none). */
function iso(ms: number): string {
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}

/**
 * A node's stored window reports, newest first; `before` (ISO time) pages on with the previous
 * page's `next_before`. A Local Brain's and a higher layer's (src/hierarchy/layer-reporter.ts) alike.
 */
export async function listReports(db: Kysely<Database>, tenantId: string, nodeId: string, q: { limit: number; before?: string | undefined }): Promise<{ reports: StoredReport[]; next_before: string | null }> {
  let query = db.selectFrom('aggregation_reports').select(['report_id', 'window_start', 'window_end', 'created_at', 'report']).where('tenant_id', '=', tenantId).where('node_id', '=', nodeId);
  if (q.before !== undefined) query = query.where('window_start', '<', new Date(q.before));
  const rows = await query.orderBy('window_start', 'desc').limit(q.limit + 1).execute();
  const reports = rows.slice(0, q.limit).map(storedView);
  return { reports, next_before: rows.length > q.limit ? reports[reports.length - 1]!.window_start : null };
}

export function storedView(r: { report_id: string; window_start: Date | string; window_end: Date | string; created_at: Date | string; report: unknown }): StoredReport {
  return {
    report_id: r.report_id,
    window_start: iso(toMs(r.window_start)),
    window_end: iso(toMs(r.window_end)),
    created_at: new Date(toMs(r.created_at)).toISOString(),
    report: (typeof r.report === 'string' ? JSON.parse(r.report) : r.report) as AggregationReport,
  };
}
