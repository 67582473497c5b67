import { sql, type Kysely } from 'kysely';
import type { BrainBus } from '../decisions/bus.js';
import type { ActionStatus, ActionView, BrainUpdate, DecisionView, EventSummary, ResourceUpdate } from '../decisions/types.js';
import { cityError } from '../errors.js';
import type { ZoneService } from '../geo/zone-service.js';
import type { Database } from '../store/schema.js';
import { severityRank, type SeverityLevel } from '../events/severity.js';

/**
 * The Local State Store (seed 001 §3.2: "maintains context about recent events and the current
 * neighborhood state for low-latency decision making"): recent events, active incidents, the
 * status of response resources (ambulances, fire trucks, …) and the counters of the current
 * aggregation window, all in memory and all bounded.
 *
 * What flows in (DESIGN.md "Data flow of a Local Brain"):
 *   - BrainBus updates: every decision and action change; event summaries only while a live
 *     stream asks for them (so recent events are complete only while someone watches, plus the
 *     trigger event of every decision, which always flows);
 *   - countEvents(type, zone, n) once per type and zone per accepted batch (cheap: two map lookups);
 *   - updateResource(event, resource) for `resource_status` events.
 *
 * Only resources are persisted here (batched, at most once per `resourceFlushMs`); incidents are
 * the `decisions` rows with status 'open' and are reloaded from there on start.
 */
export const STATE_DEFAULTS = {
  /** Aggregation window (seed 001 §3.4: 14:00 to 14:15); windows are aligned to the epoch. */
  windowMs: 15 * 60_000,
  /** An open incident older than this leaves the active set (its row stays 'open'). */
  incidentTtlMs: 6 * 3_600_000,
  /** How far back load() looks for open decisions (also bounded by incidentTtlMs). */
  incidentLoadHorizonMs: 24 * 3_600_000,
  maxIncidents: 10_000,
  recentEvents: 1_000,
  recentEventsPerZone: 100,
  /** Zones with their own recent-events ring; zone ids come from the tree, this is a guard. */
  maxZoneRings: 10_000,
  maxResources: 100_000,
  resourceFlushMs: 1_000,
  incidentSweepMs: 60_000,
  /** Reservoir of decision latencies per window, for the p95 (the average is exact). */
  latencySamples: 4_096,
  /** Windows of counters kept (the current one and those not reported yet). */
  windowsKept: 4,
} as const;

export type StateStoreOptions = {
  db: Kysely<Database>;
  tenantId: string;
  nodeId: string;
  zones: ZoneService;
  bus: BrainBus;
  /** Clock (Unix ms); tests pass their own. */
  now?: () => number;
  /** A background write failed or a limit was reached; the store keeps going. */
  onError?: (err: unknown, what: string) => void;
  /** Used for those when there is no onError. */
  log?: { error(obj: object, msg: string): void };
} & Partial<StateLimits>;

type StateLimits = { -readonly [K in keyof typeof STATE_DEFAULTS]: number };

/** An event as the API and the live stream show it (snake_case, like DecisionView). */
export interface EventView {
  event_id: string;
  event_type: string | null;
  plugin_id: string | null;
  severity: string | null;
  confidence: number | null;
  ts_ms: number;
  received_at_ms: number | null;
  zone_id: string | null;
  location: { latitude: number; longitude: number } | null;
  /** Decisions this event triggered (seen by the state store). */
  decision_ids?: string[];
}

/** What a ring holds: an EventSummary as published, or what a decision tells of its trigger. */
type RecentEntry = Pick<EventSummary, 'eventId' | 'severity' | 'tsMs' | 'zoneId' | 'lat' | 'lng'> & {
  eventType: string | null;
  pluginId: string | null;
  confidence: number | null;
  receivedAtMs: number | null;
  decisionIds?: string[];
};

export function eventView(e: RecentEntry): EventView {
  const view: EventView = {
    event_id: e.eventId,
    event_type: e.eventType,
    plugin_id: e.pluginId,
    severity: e.severity,
    confidence: e.confidence,
    ts_ms: e.tsMs,
    received_at_ms: e.receivedAtMs,
    zone_id: e.zoneId,
    location: e.lat !== null && e.lng !== null ? { latitude: e.lat, longitude: e.lng } : null,
  };
  if (e.decisionIds) view.decision_ids = e.decisionIds;
  return view;
}

/**
 * The event types a decision is about: its rule name and the types of the events it matched
 * (`rationale.matched_events`, written by src/decisions/plan.ts). The first matched event is the trigger.
 */
export function decisionEventTypes(d: DecisionView): string[] {
  const types = [d.rule.name];
  const matched = (d.rationale as { matched_events?: unknown }).matched_events;
  if (Array.isArray(matched)) {
    for (const m of matched) {
      const t = (m as { event_type?: unknown } | null)?.event_type;
      if (typeof t === 'string' && !types.includes(t)) types.push(t);
    }
  }
  return types;
}

function recentKey(e: RecentEntry): string {
  return e.eventId;
}

function triggerOf(d: DecisionView): { eventType: string | null; pluginId: string | null; confidence: number | null } {
  const matched = (d.rationale as { matched_events?: unknown }).matched_events;
  const first = Array.isArray(matched) ? (matched[0] as Record<string, unknown> | undefined) : undefined;
  return {
    eventType: typeof first?.event_type === 'string' ? first.event_type : null,
    pluginId: typeof first?.plugin_id === 'string' ? first.plugin_id : null,
    confidence: typeof first?.confidence === 'number' ? first.confidence : null,
  };
}

/**
 * Fixed-size ring, newest overwriting oldest (house style #5: no shift()), with each item's
 * slot indexed by its key: a decision finds its trigger event in O(1) instead of scanning the
 * ring (bench:ingest saw that scan take ~10% of the main thread, one per decision).
 */
class Ring<T> {
  readonly #items: Array<T | undefined>;
  /** The newest slot holding each key. */
  readonly #slots = new Map<string, number>();
  #next = 0;
  #size = 0;
  constructor(
    readonly capacity: number,
    readonly keyOf: (item: T) => string,
  ) {
    this.#items = new Array<T | undefined>(capacity);
  }
  push(item: T): void {
    const old = this.#items[this.#next];
    if (old !== undefined) {
      const oldKey = this.keyOf(old);
      if (this.#slots.get(oldKey) === this.#next) this.#slots.delete(oldKey);
    }
    this.#items[this.#next] = item;
    this.#slots.set(this.keyOf(item), this.#next);
    this.#next = (this.#next + 1) % this.capacity;
    if (this.#size < this.capacity) this.#size++;
  }
  /** Up to `limit` items, newest first. */
  newest(limit = this.#size): T[] {
    const out: T[] = [];
    for (let i = 0; i < this.#size && out.length < limit; i++) out.push(this.#items[(this.#next - 1 - i + this.capacity) % this.capacity]!);
    return out;
  }
  /** Replaces the newest item with this key by `replace(item)` (same key); false when none is held. */
  update(key: string, replace: (item: T) => T): boolean {
    const at = this.#slots.get(key);
    if (at === undefined) return false;
    this.#items[at] = replace(this.#items[at]!);
    return true;
  }
}

/** An open decision, as the state shows it. */
export interface Incident {
  decision_id: string;
  event_id: string;
  rule: { kind: string; id: string; name: string };
  severity: string | null;
  zone_id: string | null;
  location: { latitude: number; longitude: number } | null;
  decision_time_ms: number;
  approval_status: string;
  latency_ms: number | null;
  actions: Array<{ action_id: string; type: string; status: ActionStatus }>;
}

export interface ResourceState {
  resource_id: string;
  resource_type: string;
  status: string;
  zone_id: string | null;
  location: { latitude: number; longitude: number } | null;
  event_id: string | null;
  updated_at_ms: number;
}

export interface ResourceCounts {
  available: number;
  total: number;
  by_status: Record<string, number>;
}

/** Counters of one aggregation window. Keys `null` are events and decisions without a zone. */
class WindowCounters {
  eventsTotal = 0;
  /** zone → event type → count */
  readonly events = new Map<string | null, Map<string, number>>();
  decisionsTotal = 0;
  /** zone → severity → count */
  readonly decisions = new Map<string | null, Map<string, number>>();
  latencySumMs = 0;
  latencyCount = 0;
  readonly latencySamples: Float64Array;
  constructor(readonly startMs: number, readonly endMs: number, samples: number) {
    this.latencySamples = new Float64Array(samples);
  }
  addLatency(ms: number): void {
    const n = this.latencyCount++;
    this.latencySumMs += ms;
    // Reservoir sampling (Algorithm R): a fair sample for the p95 in fixed memory.
    if (n < this.latencySamples.length) this.latencySamples[n] = ms;
    else {
      const j = Math.floor(Math.random() * (n + 1));
      if (j < this.latencySamples.length) this.latencySamples[j] = ms;
    }
  }
}

/** Totals of a window, optionally for a set of zones. */
export interface WindowTotals {
  window_start: string;
  window_end: string;
  events_total: number;
  events_by_type: Record<string, number>;
  events_by_zone: Record<string, number>;
  decisions_total: number;
  decisions_by_severity: Record<string, number>;
  /** Node-wide even when the totals are for a zone. */
  decision_latency_ms: { avg: number | null; p95: number | null; count: number };
}

/** Key used for events and decisions that have no zone, in by-zone breakdowns. */
export const NO_ZONE_KEY = '_none';

/**
 * @example
 *   const state = new StateStore({ db, tenantId, nodeId, zones, bus });
 *   await state.load();
 *   state.snapshot('chennai-z09').active_incidents.total;
 */
export class StateStore {
  readonly windowMs: number;
  /** When live counting began: windows that started earlier are counted from the store instead. */
  readonly liveSinceMs: number;
  readonly #o: StateStoreOptions & StateLimits;
  readonly #now: () => number;
  readonly #recent: Ring<RecentEntry>;
  readonly #recentByZone = new Map<string, Ring<RecentEntry>>();
  readonly #incidents = new Map<string, Incident>();
  /** Decisions closed by hand recently, so a late update does not reopen them. */
  readonly #closed = new Set<string>();
  readonly #resources = new Map<string, ResourceState>();
  #dirty = new Set<string>();
  #flushTimer: NodeJS.Timeout | null = null;
  #flushing: Promise<void> | null = null;
  #sweepTimer: NodeJS.Timeout | null = null;
  #unsubscribe: (() => void) | null = null;
  readonly #windows = new Map<number, WindowCounters>();
  #current: WindowCounters | null = null;
  /** Windows that started before this were dropped from memory. */
  #forgottenBeforeMs = -Infinity;
  #resourcesRefused = 0;

  constructor(options: StateStoreOptions) {
    this.#o = { ...STATE_DEFAULTS, ...withoutUndefined(options) } as StateStoreOptions & StateLimits;
    this.#now = options.now ?? Date.now;
    this.#o.onError ??= (err, what) => options.log?.error({ err }, `state store: ${what}`);
    this.windowMs = this.#o.windowMs;
    if (!(this.windowMs >= 1000) || !Number.isInteger(this.windowMs)) throw cityError('CONFIG_INVALID', { setting: 'windowMs', reason: 'must be a whole number of milliseconds, at least 1000' });
    this.liveSinceMs = this.#now();
    this.#recent = new Ring(this.#o.recentEvents, recentKey);
  }

  /**
   * Subscribes to the bus, then loads resources and open incidents from the store (updates that
   * arrive meanwhile win over loaded rows: they are newer).
   */
  async load(): Promise<this> {
    this.#unsubscribe ??= this.#o.bus.subscribe((u) => this.#onUpdate(u));
    const { db, tenantId } = this.#o;
    const resources = await db.selectFrom('resources').selectAll().where('tenant_id', '=', tenantId).limit(this.#o.maxResources).execute();
    for (const r of resources) {
      if (this.#resources.has(r.resource_id)) continue;
      this.#resources.set(r.resource_id, {
        resource_id: r.resource_id,
        resource_type: r.resource_type,
        status: r.status,
        zone_id: r.zone_id,
        location: r.lat !== null && r.lng !== null ? { latitude: r.lat, longitude: r.lng } : null,
        event_id: r.event_id,
        updated_at_ms: toMs(r.updated_at),
      });
    }
    const since = new Date(this.#now() - Math.min(this.#o.incidentLoadHorizonMs, this.#o.incidentTtlMs));
    const rows = await db
      .selectFrom('decisions')
      .select(['decision_id', 'event_id', 'rule_kind', 'rule_id', 'trigger', 'severity', 'zone_id', 'lat', 'lng', 'decision_time', 'event_received_at', 'approval_status'])
      .where('tenant_id', '=', tenantId)
      .where('status', '=', 'open')
      .where('decision_time', '>=', since)
      .orderBy('decision_time', 'desc')
      .limit(this.#o.maxIncidents)
      .execute();
    const loaded: Incident[] = rows.map((r) => ({
      decision_id: r.decision_id,
      event_id: r.event_id,
      rule: { kind: r.rule_kind, id: r.rule_id, name: r.trigger ?? r.rule_id },
      severity: r.severity,
      zone_id: r.zone_id,
      location: r.lat !== null && r.lng !== null ? { latitude: r.lat, longitude: r.lng } : null,
      decision_time_ms: toMs(r.decision_time),
      approval_status: r.approval_status,
      latency_ms: r.event_received_at ? toMs(r.decision_time) - toMs(r.event_received_at) : null,
      actions: [],
    }));
    const byId = new Map(loaded.map((i) => [i.decision_id, i]));
    const ids = [...byId.keys()];
    for (let i = 0; i < ids.length; i += 1000) {
      const actions = await db
        .selectFrom('actions')
        .select(['action_id', 'decision_id', 'type', 'status'])
        .where('decision_id', 'in', ids.slice(i, i + 1000))
        .orderBy('decision_id')
        .orderBy('position')
        .execute();
      for (const a of actions) byId.get(a.decision_id)?.actions.push({ action_id: a.action_id, type: a.type, status: a.status as ActionStatus });
    }
    // Oldest first, so eviction at maxIncidents drops the oldest.
    for (let i = loaded.length - 1; i >= 0; i--) {
      const incident = loaded[i]!;
      if (!this.#incidents.has(incident.decision_id)) this.#addIncident(incident);
    }
    this.#sweepTimer ??= setInterval(() => this.#sweepIncidents(), this.#o.incidentSweepMs).unref();
    return this;
  }

  /** Stops listening and writes the resources still waiting. */
  async close(): Promise<void> {
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    if (this.#sweepTimer) clearInterval(this.#sweepTimer);
    this.#sweepTimer = null;
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.#flushTimer = null;
    await this.flush();
  }

  // ---- input -------------------------------------------------------------------------------

  /**
   * Counts `n` accepted events of one type in one zone for the current window. Called once per
   * type and zone per batch on the ingest path: no allocation once the keys exist.
   */
  countEvents(eventType: string, zoneId: string | null, n: number): void {
    const w = this.#window(this.#now());
    w.eventsTotal += n;
    let byType = w.events.get(zoneId);
    if (byType === undefined) {
      byType = new Map();
      w.events.set(zoneId, byType);
    }
    byType.set(eventType, (byType.get(eventType) ?? 0) + n);
  }

  /**
   * A `resource_status` event: the resource's latest status, kept in memory at once and
   * written to the `resources` table with the next batched upsert. A report older than the one
   * held (delivered late) does not overwrite it.
   */
  updateResource(event: EventSummary, resource: ResourceUpdate): void {
    const prev = this.#resources.get(resource.resourceId);
    if (prev !== undefined && prev.updated_at_ms > event.tsMs) return;
    if (prev === undefined && this.#resources.size >= this.#o.maxResources) {
      if (this.#resourcesRefused++ === 0) this.#o.onError?.(new Error(`more than ${this.#o.maxResources} resources: new ones are not tracked`), 'resources');
      return;
    }
    this.#resources.set(resource.resourceId, {
      resource_id: resource.resourceId,
      resource_type: resource.resourceType,
      status: resource.status,
      zone_id: event.zoneId,
      location: event.lat !== null && event.lng !== null ? { latitude: event.lat, longitude: event.lng } : null,
      event_id: event.eventId,
      updated_at_ms: event.tsMs,
    });
    this.#dirty.add(resource.resourceId);
    this.#flushTimer ??= setTimeout(() => {
      this.#flushTimer = null;
      void this.flush();
    }, this.#o.resourceFlushMs).unref();
  }

  /** Writes changed resources now (one multi-row upsert per 500); resolves when written. */
  async flush(): Promise<void> {
    while (this.#flushing) await this.#flushing;
    if (this.#dirty.size === 0) return;
    const ids = this.#dirty;
    this.#dirty = new Set();
    this.#flushing = this.#write(ids).finally(() => (this.#flushing = null));
    await this.#flushing;
  }

  async #write(ids: Set<string>): Promise<void> {
    const rows = [];
    for (const id of ids) {
      const r = this.#resources.get(id);
      if (!r) continue;
      rows.push({
        tenant_id: this.#o.tenantId,
        resource_id: r.resource_id,
        resource_type: r.resource_type,
        status: r.status,
        zone_id: r.zone_id,
        lat: r.location?.latitude ?? null,
        lng: r.location?.longitude ?? null,
        event_id: r.event_id,
        updated_at: new Date(r.updated_at_ms),
      });
    }
    try {
      for (let i = 0; i < rows.length; i += 500) {
        await this.#o.db
          .insertInto('resources')
          .values(rows.slice(i, i + 500))
          .onConflict((oc) =>
            oc
              .columns(['tenant_id', 'resource_id'])
              .doUpdateSet((eb) => ({
                resource_type: eb.ref('excluded.resource_type'),
                status: eb.ref('excluded.status'),
                zone_id: eb.ref('excluded.zone_id'),
                lat: eb.ref('excluded.lat'),
                lng: eb.ref('excluded.lng'),
                event_id: eb.ref('excluded.event_id'),
                updated_at: eb.ref('excluded.updated_at'),
              }))
              .where('resources.updated_at', '<=', sql<Date>`excluded.updated_at`),
          )
          .execute();
      }
    } catch (err) {
      // Kept in memory and tried again with the next change or at close.
      for (const id of ids) this.#dirty.add(id);
      this.#o.onError?.(err, 'resources');
    }
  }

  #onUpdate(u: BrainUpdate): void {
    switch (u.kind) {
      case 'event':
        this.#pushRecent(u.event);
        return;
      case 'decision':
        this.#onDecision(u.decision);
        return;
      case 'action':
        this.#onAction(u.action);
        return;
    }
  }

  #onDecision(d: DecisionView): void {
    const existing = this.#incidents.get(d.decision_id);
    if (existing) {
      existing.approval_status = d.approval_status;
      existing.actions = d.actions.map((a) => ({ action_id: a.action_id, type: a.type, status: a.status }));
      return;
    }
    const now = this.#now();
    // Counted in the window of its decision time while that window's counters are held.
    const current = this.#window(now);
    const w = d.decision_time_ms >= current.startMs && d.decision_time_ms < current.endMs ? current : this.#windows.get(this.#windowStart(d.decision_time_ms));
    if (w !== undefined) {
      w.decisionsTotal++;
      let bySeverity = w.decisions.get(d.zone_id);
      if (bySeverity === undefined) {
        bySeverity = new Map();
        w.decisions.set(d.zone_id, bySeverity);
      }
      const sev = d.severity ?? 'unknown';
      bySeverity.set(sev, (bySeverity.get(sev) ?? 0) + 1);
      if (d.latency_ms !== null) w.addLatency(d.latency_ms);
    }
    this.#annotateTrigger(d);
    if (this.#closed.has(d.decision_id) || d.decision_time_ms < now - this.#o.incidentTtlMs) return;
    this.#addIncident({
      decision_id: d.decision_id,
      event_id: d.event_id,
      rule: { kind: d.rule.kind, id: d.rule.id, name: d.rule.name },
      severity: d.severity,
      zone_id: d.zone_id,
      location: d.location,
      decision_time_ms: d.decision_time_ms,
      approval_status: d.approval_status,
      latency_ms: d.latency_ms,
      actions: d.actions.map((a) => ({ action_id: a.action_id, type: a.type, status: a.status })),
    });
  }

  #onAction(a: ActionView): void {
    const incident = this.#incidents.get(a.decision_id);
    if (!incident) return;
    const held = incident.actions.find((x) => x.action_id === a.action_id);
    if (held) held.status = a.status;
    else incident.actions.push({ action_id: a.action_id, type: a.type, status: a.status });
  }

  #addIncident(incident: Incident): void {
    this.#incidents.set(incident.decision_id, incident);
    if (this.#incidents.size > this.#o.maxIncidents) {
      // Map order is insertion order: the first key is the oldest one held.
      this.#incidents.delete(this.#incidents.keys().next().value!);
    }
  }

  #sweepIncidents(): void {
    const oldest = this.#now() - this.#o.incidentTtlMs;
    for (const [id, incident] of this.#incidents) if (incident.decision_time_ms < oldest) this.#incidents.delete(id);
  }

  #pushRecent(entry: RecentEntry): void {
    this.#recent.push(entry);
    if (entry.zoneId === null) return;
    let ring = this.#recentByZone.get(entry.zoneId);
    if (ring === undefined) {
      if (this.#recentByZone.size >= this.#o.maxZoneRings) return;
      ring = new Ring(this.#o.recentEventsPerZone, recentKey);
      this.#recentByZone.set(entry.zoneId, ring);
    }
    ring.push(entry);
  }

  /** Marks the decision's trigger event among recent events, or adds it when it never flowed. */
  #annotateTrigger(d: DecisionView): void {
    const mark = (e: RecentEntry): RecentEntry => ({ ...e, decisionIds: [...(e.decisionIds ?? []), d.decision_id] });
    // Entries are shared by the node ring and the zone ring; each holds its own marked copy.
    const inZone = d.zone_id !== null && (this.#recentByZone.get(d.zone_id)?.update(d.event_id, mark) ?? false);
    const inNode = this.#recent.update(d.event_id, mark);
    if (inZone || inNode) return;
    const receivedAtMs = d.latency_ms === null ? null : d.decision_time_ms - d.latency_ms;
    this.#pushRecent({
      eventId: d.event_id,
      ...triggerOf(d),
      severity: d.severity,
      tsMs: receivedAtMs ?? d.decision_time_ms,
      receivedAtMs,
      zoneId: d.zone_id,
      lat: d.location?.latitude ?? null,
      lng: d.location?.longitude ?? null,
      decisionIds: [d.decision_id],
    });
  }

  #window(nowMs: number): WindowCounters {
    const c = this.#current;
    if (c !== null && nowMs >= c.startMs && nowMs < c.endMs) return c;
    const startMs = this.#windowStart(nowMs);
    let w = this.#windows.get(startMs);
    if (w === undefined) {
      w = new WindowCounters(startMs, startMs + this.windowMs, this.#o.latencySamples);
      this.#windows.set(startMs, w);
      while (this.#windows.size > this.#o.windowsKept) {
        const oldest = Math.min(...this.#windows.keys());
        this.#windows.delete(oldest);
        this.#forgottenBeforeMs = Math.max(this.#forgottenBeforeMs, oldest + this.windowMs);
      }
    }
    this.#current = w;
    return w;
  }

  #windowStart(ms: number): number {
    return Math.floor(ms / this.windowMs) * this.windowMs;
  }

  // ---- queries -----------------------------------------------------------------------------

  /**
   * The live counters of the window that starts at `startMs`, or null when live counting did
   * not see all of it (the node started during or after its start, or it was dropped from memory):
   * then the aggregation reporter counts from the store.
   */
  windowTotals(startMs: number, zoneIds?: ReadonlySet<string>): WindowTotals | null {
    if (startMs < this.liveSinceMs || startMs < this.#forgottenBeforeMs) return null;
    const w = this.#windows.get(startMs) ?? new WindowCounters(startMs, startMs + this.windowMs, 0);
    return totalsOf(w, zoneIds);
  }

  /** `/api/v1/state`: the picture of the node, or of one zone and everything inside it. */
  snapshot(zoneId?: string) {
    const zoneIds = zoneId === undefined ? undefined : this.#subtree(zoneId);
    const zone = zoneId === undefined ? null : this.#o.zones.tree.get(zoneId);
    const now = this.#now();
    return {
      node_id: this.#o.nodeId,
      zone: zone && { id: zone.id, name: zone.name, level: zone.level },
      generated_at: new Date(now).toISOString(),
      active_incidents: this.incidents({ zoneIds, limit: 100 }),
      resources: this.resources({ zoneIds, limit: 500 }),
      recent_events: this.recentEvents(zoneIds, 100),
      counters: totalsOf(this.#window(now), zoneIds),
    };
  }

  /** Active incidents, newest first, with counts by severity over all that match. */
  incidents(q: { zoneIds?: ReadonlySet<string> | undefined; minSeverity?: SeverityLevel | undefined; limit: number }) {
    const minRank = q.minSeverity === undefined ? 0 : severityRank(q.minSeverity);
    // Expired ones still held (the sweep runs once a minute) are not shown.
    const oldest = this.#now() - this.#o.incidentTtlMs;
    const matching: Incident[] = [];
    const bySeverity: Record<string, number> = {};
    for (const i of this.#incidents.values()) {
      if (i.decision_time_ms < oldest) continue;
      if (q.zoneIds && (i.zone_id === null || !q.zoneIds.has(i.zone_id))) continue;
      if (minRank > 0 && severityRank(i.severity) < minRank) continue;
      matching.push(i);
      const sev = i.severity ?? 'unknown';
      bySeverity[sev] = (bySeverity[sev] ?? 0) + 1;
    }
    matching.sort((a, b) => b.decision_time_ms - a.decision_time_ms);
    return { total: matching.length, by_severity: bySeverity, items: matching.slice(0, q.limit) };
  }

  /** Resources with counts by type (`available` is status 'available'). */
  resources(q: { zoneIds?: ReadonlySet<string> | undefined; type?: string | undefined; status?: string | undefined; limit: number }) {
    const items: ResourceState[] = [];
    const byType: Record<string, ResourceCounts> = {};
    let total = 0;
    for (const r of this.#resources.values()) {
      if (q.zoneIds && (r.zone_id === null || !q.zoneIds.has(r.zone_id))) continue;
      if (q.type !== undefined && r.resource_type !== q.type) continue;
      if (q.status !== undefined && r.status !== q.status) continue;
      total++;
      const counts = (byType[r.resource_type] ??= { available: 0, total: 0, by_status: {} });
      counts.total++;
      if (r.status === 'available') counts.available++;
      counts.by_status[r.status] = (counts.by_status[r.status] ?? 0) + 1;
      if (items.length < q.limit) items.push(r);
    }
    return { total, by_type: byType, items };
  }

  /** Recent events, newest first: the node's ring, or the merged rings of the zones given. */
  recentEvents(zoneIds: ReadonlySet<string> | undefined, limit: number): EventView[] {
    if (zoneIds === undefined) return this.#recent.newest(limit).map(eventView);
    const merged: RecentEntry[] = [];
    for (const id of zoneIds) {
      const ring = this.#recentByZone.get(id);
      if (ring) for (const e of ring.newest()) merged.push(e);
    }
    merged.sort((a, b) => b.tsMs - a.tsMs);
    return merged.slice(0, limit).map(eventView);
  }

  /** The ids of a zone and every zone inside it. @throws CITY_ERR_ZONE_NOT_FOUND */
  #subtree(zoneId: string): Set<string> {
    return this.#o.zones.tree.subtreeIds(zoneId);
  }

  /** For route handlers: the subtree of `zoneId`, or undefined for the whole node. */
  zoneFilter(zoneId: string | undefined): Set<string> | undefined {
    return zoneId === undefined ? undefined : this.#subtree(zoneId);
  }

  /**
   * Closes an incident by hand: the decision's row gets status 'closed' and it leaves the
   * active set. @throws CITY_ERR_DECISION_NOT_FOUND
   */
  async closeIncident(decisionId: string, checkZone: (zoneId: string | null) => void = () => {}): Promise<{ decision_id: string; status: 'closed'; was_active: boolean }> {
    const row = await this.#o.db
      .selectFrom('decisions')
      .select('zone_id')
      .where('tenant_id', '=', this.#o.tenantId)
      .where('decision_id', '=', decisionId)
      .executeTakeFirst();
    if (!row) throw cityError('DECISION_NOT_FOUND', { decisionId });
    checkZone(row.zone_id);
    const result = await this.#o.db
      .updateTable('decisions')
      .set({ status: 'closed' })
      .where('tenant_id', '=', this.#o.tenantId)
      .where('decision_id', '=', decisionId)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0) throw cityError('DECISION_NOT_FOUND', { decisionId });
    const wasActive = this.#incidents.delete(decisionId);
    this.#closed.add(decisionId);
    if (this.#closed.size > this.#o.maxIncidents) this.#closed.delete(this.#closed.values().next().value!);
    return { decision_id: decisionId, status: 'closed', was_active: wasActive };
  }
}

function totalsOf(w: WindowCounters, zoneIds: ReadonlySet<string> | undefined): WindowTotals {
  const byType: Record<string, number> = {};
  const byZone: Record<string, number> = {};
  let events = 0;
  for (const [zone, types] of w.events) {
    if (zoneIds && (zone === null || !zoneIds.has(zone))) continue;
    let inZone = 0;
    for (const [type, n] of types) {
      byType[type] = (byType[type] ?? 0) + n;
      inZone += n;
    }
    byZone[zone ?? NO_ZONE_KEY] = inZone;
    events += inZone;
  }
  const bySeverity: Record<string, number> = {};
  let decisions = 0;
  for (const [zone, severities] of w.decisions) {
    if (zoneIds && (zone === null || !zoneIds.has(zone))) continue;
    for (const [sev, n] of severities) {
      bySeverity[sev] = (bySeverity[sev] ?? 0) + n;
      decisions += n;
    }
  }
  return {
    window_start: new Date(w.startMs).toISOString(),
    window_end: new Date(w.endMs).toISOString(),
    events_total: zoneIds ? events : w.eventsTotal,
    events_by_type: byType,
    events_by_zone: byZone,
    decisions_total: zoneIds ? decisions : w.decisionsTotal,
    decisions_by_severity: bySeverity,
    decision_latency_ms: {
      avg: w.latencyCount === 0 ? null : round1(w.latencySumMs / w.latencyCount),
      p95: percentile(w.latencySamples.subarray(0, Math.min(w.latencyCount, w.latencySamples.length)), 0.95),
      count: w.latencyCount,
    },
  };
}

/** Nearest-rank percentile of the samples (copied; the reservoir keeps its order). */
function percentile(samples: Float64Array, p: number): number | null {
  if (samples.length === 0) return null;
  const sorted = Float64Array.from(samples).sort();
  return round1(sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!);
}

function withoutUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

export function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

export function toMs(v: Date | string): number {
  return v instanceof Date ? v.getTime() : Date.parse(v);
}
