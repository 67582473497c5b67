import { sql, type Kysely } from 'kysely';
import type { Logger } from 'pino';
import { actionView } from '../decisions/views.js';
import type { ActionStatus, ActionView } from '../decisions/types.js';
import type { Database } from '../store/schema.js';
import { VIEW_COLUMNS, type ActionRow } from './action-rows.js';
import { backoffMs } from './backoff.js';
import { deliverMqtt, deliverWebhook, type Delivery, type PublishMqtt } from './delivery.js';
import { holdCovered, holdResult, releaseCovered, triggerPluginColumn, triggerPluginOf, type Hold, type HoldChange, type HoldCheck, type HoldScope, type HoldSubject } from './holds.js';
import { Schedule, type Scheduled } from './schedule.js';
import { fillTopic, type ActionTargets } from './targets.js';

/** Dispatcher defaults, in one object (house style #7). */
export const DISPATCHER_DEFAULTS = {
  /** Attempts in flight at once, across all targets. */
  concurrency: 16,
  /** First retry after about this long; doubles per attempt (with jitter). */
  baseDelayMs: 1000,
  /** Longest wait between attempts, also the cap on a receiver's Retry-After. */
  maxDelayMs: 60_000,
  /** How long close() waits for attempts in flight before abandoning them to the next start. */
  closeTimeoutMs: 5000,
} as const;

export type ActionDispatcherOptions = Partial<Record<keyof typeof DISPATCHER_DEFAULTS, number>>;

export interface ActionDispatcherDeps {
  db: Kysely<Database>;
  tenantId: string;
  nodeId: string;
  targets: ActionTargets;
  /** Publishes to the node's MQTT broker; null when MQTT is off (MQTT targets then fail, saying so). */
  publishMqtt: PublishMqtt | null;
  /** Every status change of an action (for the BrainBus: `{ kind: 'action', action, zone_id }`). */
  onUpdate: (view: ActionView, zoneId: string | null) => void;
  /** Active suspensions (manual override, src/overrides, src/actions/holds.ts): actions they cover wait in SUSPENDED. None when absent. */
  holds?: HoldCheck | null;
  log: Logger;
  options?: ActionDispatcherOptions;
}

export interface ActionDispatcherStats {
  /** Scheduled, waiting for their due time or a free slot. */
  pending: number;
  /** Attempts in flight. */
  executing: number;
  /** Since start. */
  completedTotal: number;
  failedTotal: number;
  /** Attempts that failed and were scheduled again. */
  retriesTotal: number;
}

interface Entry extends Scheduled, HoldSubject {}

const RUNNABLE = ['PENDING', 'EXECUTING'] as const;
const INTERRUPTED = 'interrupted: the node stopped before the outcome was known; sending again (at-least-once)';
/** setTimeout's range is 2^31-1 ms; a later due time is reached by re-arming. */
const MAX_TIMER_MS = 3_600_000;
const ENQUEUE_CHUNK = 500;

/**
 * Executes the external actions of decisions (seed 001 §3.3 `traffic_reroute` → `target:
 * traffic_control_system`; §10.1 Action) — actuator commands and notifications — through the
 * action targets: an outbound webhook or an MQTT command topic.
 *
 * Durable: the `actions` table is the queue. The decision engine inserts PENDING rows with
 * their decision and then calls {@link enqueue}; {@link start} picks up whatever a previous run
 * left. Each attempt marks the action EXECUTING, sends, records an `action_attempts` row and
 * ends COMPLETED (with `result`), PENDING again (with `next_attempt_at` after an exponential
 * backoff) or FAILED (with `last_error` and `result`). Failures are recorded, never dropped.
 *
 * Delivery is at least once: an attempt interrupted by a crash or a shutdown has an unknown
 * outcome, and the next start sends it again. Receivers dedupe on the `Idempotency-Key`
 * header (the action id) and see the attempt number (`X-City-Attempt`, `attempt` in the body).
 *
 * Scheduling is in memory: due actions run by priority (higher first), then age, at most
 * `concurrency` at a time; one timer waits for the next due time. One dispatcher per tenant
 * and store: two nodes sharing a database would both send.
 *
 * @example
 *   const dispatcher = new ActionDispatcher({ db, tenantId, nodeId, targets, publishMqtt, onUpdate, log });
 *   await dispatcher.start();
 *   await dispatcher.enqueue(insertedActionIds);
 *   // …
 *   await dispatcher.close();
 */
export class ActionDispatcher {
  readonly #db: Kysely<Database>;
  readonly #tenantId: string;
  readonly #nodeId: string;
  readonly #targets: ActionTargets;
  readonly #publishMqtt: PublishMqtt | null;
  readonly #onUpdate: ActionDispatcherDeps['onUpdate'];
  readonly #holds: HoldCheck | null;
  readonly #log: Logger;
  readonly #options: { [K in keyof typeof DISPATCHER_DEFAULTS]: number };

  readonly #schedule = new Schedule<Entry>();
  /** Ids scheduled or in flight: an action is never run twice at once. */
  readonly #known = new Set<string>();
  readonly #inFlight = new Map<string, Promise<void>>();
  /** Aborts deliveries still running when close() stops waiting. */
  readonly #shutdown = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #timerAtMs = Infinity;
  #started = false;
  #closed = false;
  #closing: Promise<void> | undefined;
  #completedTotal = 0;
  #failedTotal = 0;
  #retriesTotal = 0;

  constructor(deps: ActionDispatcherDeps) {
    this.#db = deps.db;
    this.#tenantId = deps.tenantId;
    this.#nodeId = deps.nodeId;
    this.#targets = deps.targets;
    this.#publishMqtt = deps.publishMqtt;
    this.#onUpdate = deps.onUpdate;
    this.#holds = deps.holds ?? null;
    this.#log = deps.log;
    const o = { ...DISPATCHER_DEFAULTS, ...definedOnly(deps.options ?? {}) };
    this.#options = {
      concurrency: clampInt(o.concurrency, 1, 1024),
      baseDelayMs: clampInt(o.baseDelayMs, 1, 3_600_000),
      maxDelayMs: clampInt(o.maxDelayMs, 1, 24 * 3_600_000),
      closeTimeoutMs: clampInt(o.closeTimeoutMs, 0, 3_600_000),
    };
  }

  /**
   * Recovers actions a previous run left EXECUTING (records the interrupted attempt, makes them
   * PENDING and due now), then schedules every PENDING action by its `next_attempt_at`.
   */
  async start(): Promise<void> {
    if (this.#started || this.#closed) return;
    const now = new Date();
    const recovered = await this.#db.transaction().execute(async (tx) => {
      const stuck = await tx
        .selectFrom('actions')
        .select(['action_id', 'attempts', 'updated_at'])
        .where('tenant_id', '=', this.#tenantId)
        .where('status', '=', 'EXECUTING')
        .execute();
      if (stuck.length === 0) return [];
      for (let i = 0; i < stuck.length; i += ENQUEUE_CHUNK) {
        const rows = stuck.slice(i, i + ENQUEUE_CHUNK).map((r) => ({
          action_id: r.action_id,
          attempt: r.attempts,
          started_at: r.updated_at,
          finished_at: now,
          ok: false,
          detail: INTERRUPTED,
        }));
        await tx.insertInto('action_attempts').values(rows).onConflict((oc) => oc.columns(['action_id', 'attempt']).doNothing()).execute();
      }
      return tx
        .updateTable('actions')
        .set({ status: 'PENDING', next_attempt_at: now, last_error: INTERRUPTED, updated_at: now })
        .where('tenant_id', '=', this.#tenantId)
        .where('status', '=', 'EXECUTING')
        .returning(VIEW_COLUMNS)
        .execute();
    });
    const entries = await this.#load(null);
    const zoneOf = new Map(entries.map((e) => [e.actionId, e.zoneId]));
    for (const row of recovered) this.#emit(row, zoneOf.get(row.action_id) ?? null);
    if (recovered.length > 0) this.#log.warn({ actions: recovered.length }, 'actions interrupted by the last stop are sent again (at-least-once)');
    for (const entry of entries) this.#add(entry);
    this.#started = true;
    this.#pump();
  }

  /**
   * Schedules actions just inserted (ids, or rows with `action_id`). Only PENDING or EXECUTING
   * actions of this tenant are taken; ids already scheduled are ignored.
   */
  async enqueue(items: ReadonlyArray<string | { action_id: string }>): Promise<void> {
    if (this.#closed) return;
    const ids = [...new Set(items.map((i) => (typeof i === 'string' ? i : i.action_id)))].filter((id) => !this.#known.has(id));
    for (let i = 0; i < ids.length; i += ENQUEUE_CHUNK) {
      for (const entry of await this.#load(ids.slice(i, i + ENQUEUE_CHUNK))) this.#add(entry);
    }
    this.#pump();
  }

  stats(): ActionDispatcherStats {
    return {
      pending: this.#schedule.size,
      executing: this.#inFlight.size,
      completedTotal: this.#completedTotal,
      failedTotal: this.#failedTotal,
      retriesTotal: this.#retriesTotal,
    };
  }

  /**
   * Stops scheduling and waits up to `timeoutMs` for attempts in flight. Attempts still running
   * then are abandoned: their actions stay EXECUTING (outcome unknown) and the next start sends
   * them again; scheduled actions stay PENDING in the store.
   */
  close(timeoutMs = this.#options.closeTimeoutMs): Promise<void> {
    this.#closing ??= this.#close(timeoutMs);
    return this.#closing;
  }

  async #close(timeoutMs: number): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const entry of this.#schedule.drain()) this.#known.delete(entry.actionId);
    const all = Promise.allSettled([...this.#inFlight.values()]);
    if (!(await settlesWithin(all, timeoutMs))) {
      this.#log.warn({ executing: this.#inFlight.size }, 'action attempts still running at shutdown are left EXECUTING for the next start');
      this.#shutdown.abort();
      // Aborted deliveries settle at once; a store write in progress gets a moment more.
      await settlesWithin(all, 1000);
    }
  }

  /** Actions of this tenant still to run, with what suspensions are checked against; `ids` null for all. */
  async #load(ids: readonly string[] | null): Promise<Entry[]> {
    if (ids !== null && ids.length === 0) return [];
    let query = this.#db
      .selectFrom('actions as a')
      .innerJoin('decisions as d', 'd.decision_id', 'a.decision_id')
      .select(['a.action_id', 'a.priority', 'a.created_at', 'a.next_attempt_at', 'd.zone_id', 'd.rule_id'])
      .select(triggerPluginColumn)
      .where('a.tenant_id', '=', this.#tenantId)
      .where('a.status', 'in', RUNNABLE);
    if (ids !== null) query = query.where('a.action_id', 'in', ids);
    const rows = await query.execute();
    return rows.map((r) => ({
      actionId: r.action_id,
      priority: r.priority,
      createdAtMs: new Date(r.created_at).getTime(),
      dueAtMs: r.next_attempt_at === null ? 0 : new Date(r.next_attempt_at).getTime(),
      zoneId: r.zone_id,
      ruleId: r.rule_id,
      pluginId: triggerPluginOf(r.rule_id, r.trigger_plugin_id),
    }));
  }

  /**
   * Inside the caller's transaction (a new suspension's), moves the PENDING actions `scope`
   * covers to SUSPENDED (src/actions/holds.ts). Actions already being sent finish; actions that
   * become PENDING later are held when they come due. Pass the result to {@link announce} after the commit.
   */
  holdCovered(tx: Kysely<Database>, scope: HoldScope, hold: Hold): Promise<HoldChange> {
    return holdCovered(tx, this.#tenantId, scope, hold);
  }

  /**
   * Inside the caller's transaction (a resume's), moves the SUSPENDED actions `scope` covers
   * back to PENDING, except those another active suspension still holds (the resumed one must
   * already be gone from the hold check). Pass the result to {@link announce} after the commit.
   */
  releaseCovered(tx: Kysely<Database>, scope: HoldScope): Promise<HoldChange> {
    return releaseCovered(tx, this.#tenantId, scope, this.#holds);
  }

  /** After a suspend or resume committed: publishes the changed actions and schedules the released ones. */
  announce(change: HoldChange): void {
    for (const { row, zoneId } of change.changed) this.#emit(row, zoneId);
    if (change.released.length > 0) void this.enqueue(change.released).catch((err: unknown) => this.#log.error({ err }, 'could not schedule released actions; the next start picks them up'));
  }

  #add(entry: Entry): void {
    if (this.#closed || this.#known.has(entry.actionId)) return;
    this.#known.add(entry.actionId);
    this.#schedule.add(entry);
  }

  /** Starts due actions while slots are free, then arms the timer for the next due time. */
  #pump(): void {
    if (!this.#started || this.#closed) return;
    const now = Date.now();
    while (this.#inFlight.size < this.#options.concurrency) {
      const entry = this.#schedule.takeDue(now);
      if (entry === undefined) break;
      const run = this.#attempt(entry)
        .catch((err: unknown) => this.#log.error({ err, action_id: entry.actionId }, 'action attempt crashed'))
        .finally(() => {
          this.#inFlight.delete(entry.actionId);
          this.#pump();
        });
      this.#inFlight.set(entry.actionId, run);
    }
    // A full house needs no timer: the next finishing attempt pumps again.
    if (this.#inFlight.size >= this.#options.concurrency) return;
    const next = this.#schedule.nextDueAtMs();
    if (next === undefined) return;
    const at = Math.max(next, now);
    if (this.#timer !== undefined && this.#timerAtMs <= at) return;
    clearTimeout(this.#timer);
    this.#timerAtMs = at;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAtMs = Infinity;
      this.#pump();
    }, Math.min(at - now, MAX_TIMER_MS));
  }

  /** One attempt: claim (EXECUTING), deliver, record. Never leaves `#known` inconsistent. */
  async #attempt(entry: Entry): Promise<void> {
    const hold = this.#holds?.holdOf(entry) ?? null;
    if (hold !== null) return this.#hold(entry, hold);
    let row: ActionRow | undefined;
    try {
      row = await this.#claim(entry.actionId);
    } catch (err) {
      this.#log.error({ err, action_id: entry.actionId }, 'could not mark action EXECUTING; will try again');
      this.#reschedule(entry, backoffMs(1, this.#options));
      return;
    }
    if (row === undefined) {
      // Cancelled, finished or removed meanwhile: nothing to do.
      this.#known.delete(entry.actionId);
      return;
    }
    this.#emit(row, entry.zoneId);

    const attempt = row.attempts;
    const startedAt = new Date();
    let delivery: Delivery;
    try {
      delivery = await this.#deliver(row, entry.zoneId, attempt);
    } catch (err) {
      delivery = { ok: false, detail: `internal error: ${err instanceof Error ? err.message : String(err)}`, retry: true, retryAfterMs: null };
    }
    if (!delivery.ok && delivery.interrupted) {
      // Shutdown: the outcome is unknown; the action stays EXECUTING and the next start retries it.
      this.#known.delete(entry.actionId);
      return;
    }

    const finishedAt = new Date();
    let status: ActionStatus;
    let retryInMs = 0;
    const set: Partial<Record<'result' | 'last_error', string | null>> & { next_attempt_at?: Date | null; completed_at?: Date } = {};
    if (delivery.ok) {
      status = 'COMPLETED';
      Object.assign(set, { result: delivery.result, last_error: null, next_attempt_at: null, completed_at: finishedAt });
    } else if (delivery.retry && attempt < row.max_attempts) {
      status = 'PENDING';
      retryInMs = backoffMs(attempt, this.#options, delivery.retryAfterMs);
      Object.assign(set, { last_error: delivery.detail, next_attempt_at: new Date(finishedAt.getTime() + retryInMs) });
    } else {
      status = 'FAILED';
      const result = delivery.retry ? `failed after ${attempt} attempt${attempt === 1 ? '' : 's'}: ${delivery.detail}` : `failed, not retryable: ${delivery.detail}`;
      Object.assign(set, { result, last_error: delivery.detail, next_attempt_at: null, completed_at: finishedAt });
    }

    let updated: ActionRow | undefined;
    try {
      updated = await this.#db.transaction().execute(async (tx) => {
        await tx
          .insertInto('action_attempts')
          .values({ action_id: row.action_id, attempt, started_at: startedAt, finished_at: finishedAt, ok: delivery.ok, detail: delivery.detail })
          .onConflict((oc) => oc.columns(['action_id', 'attempt']).doNothing())
          .execute();
        return tx
          .updateTable('actions')
          .set({ ...set, status, updated_at: finishedAt })
          .where('action_id', '=', row.action_id)
          .where('status', '=', 'EXECUTING')
          .returning(VIEW_COLUMNS)
          .executeTakeFirst();
      });
    } catch (err) {
      // The action stays EXECUTING in the store; trying again re-sends (at-least-once).
      this.#log.error({ err, action_id: row.action_id, attempt }, 'could not record the outcome of an action attempt; will try again');
      this.#reschedule(entry, backoffMs(attempt, this.#options));
      return;
    }
    if (updated === undefined) {
      this.#known.delete(entry.actionId); // changed by someone else meanwhile (e.g. cancelled)
      return;
    }
    this.#emit(updated, entry.zoneId);

    if (status === 'PENDING') {
      this.#retriesTotal++;
      this.#log.warn({ action_id: row.action_id, target: row.target_system, attempt, retry_in_ms: retryInMs, reason: delivery.detail }, 'action attempt failed; will retry');
      this.#reschedule(entry, retryInMs);
      return;
    }
    this.#known.delete(entry.actionId);
    if (status === 'COMPLETED') {
      this.#completedTotal++;
      this.#log.debug({ action_id: row.action_id, target: row.target_system, attempt }, 'action completed');
    } else {
      this.#failedTotal++;
      this.#log.warn({ action_id: row.action_id, target: row.target_system, attempt, reason: delivery.detail }, 'action failed');
    }
  }

  /**
   * A suspension covers the action: SUSPENDED instead of sent, attempts unchanged, the result
   * naming the suspension. It leaves the schedule; resuming makes it PENDING and enqueues it.
   */
  async #hold(entry: Entry, hold: Hold): Promise<void> {
    let row: ActionRow | undefined;
    try {
      row = await this.#db
        .updateTable('actions')
        .set({ status: 'SUSPENDED', result: holdResult(hold), updated_at: new Date() })
        .where('action_id', '=', entry.actionId)
        .where('tenant_id', '=', this.#tenantId)
        .where('status', 'in', RUNNABLE)
        .returning(VIEW_COLUMNS)
        .executeTakeFirst();
    } catch (err) {
      this.#log.error({ err, action_id: entry.actionId }, 'could not mark action SUSPENDED; will try again');
      this.#reschedule(entry, backoffMs(1, this.#options));
      return;
    }
    this.#known.delete(entry.actionId);
    if (row === undefined) return; // no longer runnable (held in bulk, cancelled, finished)
    this.#log.info({ action_id: entry.actionId, suspension: hold.suspensionId, kind: hold.kind, target: hold.target }, 'action held by a suspension');
    this.#emit(row, entry.zoneId);
  }

  /** Marks the action EXECUTING and counts the attempt; undefined when it is no longer runnable. */
  #claim(actionId: string): Promise<ActionRow | undefined> {
    const now = new Date();
    return this.#db
      .updateTable('actions')
      .set({
        status: 'EXECUTING',
        attempts: sql<number>`attempts + 1`,
        executed_at: sql<Date>`coalesce(executed_at, ${now.toISOString()}::timestamptz)`,
        updated_at: now,
      })
      .where('action_id', '=', actionId)
      .where('tenant_id', '=', this.#tenantId)
      // EXECUTING too: an attempt whose outcome could not be recorded is tried again.
      .where('status', 'in', RUNNABLE)
      .returning(VIEW_COLUMNS)
      .executeTakeFirst();
  }

  #deliver(row: ActionRow, zoneId: string | null, attempt: number): Promise<Delivery> {
    if (row.target_system === null || row.target_system === '') {
      return Promise.resolve({ ok: false, detail: `action ${row.type} names no target_system (target, or channel for notify)`, retry: false, retryAfterMs: null });
    }
    const target = this.#targets.get(row.target_system);
    const body = JSON.stringify({
      action_id: row.action_id,
      decision_id: row.decision_id,
      type: row.type,
      target_system: row.target_system,
      parameters: row.parameters ?? {},
      zone_id: zoneId,
      attempt,
      sent_at: new Date().toISOString(),
    });
    if (target.kind === 'webhook') {
      return deliverWebhook({
        url: target.url,
        targetName: target.name,
        headers: target.headers,
        timeoutMs: target.timeoutMs,
        body,
        actionId: row.action_id,
        attempt,
        nodeId: this.#nodeId,
        shutdown: this.#shutdown.signal,
      });
    }
    return deliverMqtt(this.#publishMqtt, fillTopic(target.topic, zoneId, target.name), body, target.timeoutMs, this.#shutdown.signal);
  }

  #reschedule(entry: Entry, delayMs: number): void {
    if (this.#closed) {
      this.#known.delete(entry.actionId);
      return;
    }
    entry.dueAtMs = Date.now() + delayMs;
    this.#schedule.add(entry);
  }

  #emit(row: ActionRow, zoneId: string | null): void {
    try {
      this.#onUpdate(actionView(row), zoneId);
    } catch (err) {
      this.#log.error({ err, action_id: row.action_id }, 'action update listener failed');
    }
  }
}

async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(resolve, ms, false)))]);
  } finally {
    clearTimeout(timer);
  }
}

function clampInt(value: number, min: number, max: number): number {
  return Number.isFinite(value) ? Math.min(max, Math.max(min, Math.round(value))) : min;
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
