import { sql, type Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { BrainSink } from '../brain/ingest.js';
import { readResource, summaryOf, RESOURCE_STATUS_EVENT } from '../brain/ingest-batch.js';
import type { CepEngine } from '../brain/cep/engine.js';
import type { PluginRegistry } from '../plugins/registry.js';
import type { RuleRegistry } from '../rules/rule-registry.js';
import type { Database } from '../store/schema.js';
import type { BrainBus } from './bus.js';
import type { DecisionWriter } from './decision-writer.js';
import type { EventSummary, ResourceUpdate, RoleHit, RuleMatch, ScreenedEvent } from './types.js';

/** What the brain tells the state store (src/brain/state-store.ts). */
export interface StateHooks {
  countEvents(eventType: string, zoneId: string | null, n: number): void;
  updateResource(event: EventSummary, resource: ResourceUpdate): void;
}

export interface LocalBrainDeps {
  db: Kysely<Database>;
  tenantId: string;
  registry: PluginRegistry;
  rules: RuleRegistry;
  cep: CepEngine;
  writer: DecisionWriter;
  bus: BrainBus;
  state: StateHooks;
  /** Whether the live stream has event watchers (summaries of every event are then wanted). */
  wantsEvents: () => boolean;
  log: Logger;
  now?: () => number;
}

/** How often absence rules are checked for deadlines that passed. */
const TICK_MS = 250;
/** How often the checkpoint (everything received before it is decided) is saved. */
const CHECKPOINT_MS = 5_000;
/** Events replayed per page at start. */
const REPLAY_PAGE = 5_000;
/** A start never replays more than this many events (a warning says so). */
const REPLAY_LIMIT = 2_000_000;

/**
 * The decision half of the Local Brain (seed 001 §3.3 steps 2–5): for each committed batch, the
 * screened events run their plugin's action triggers and feed the CEP engine; the matches go to
 * the decision writer, which prioritises, stores and publishes them.
 *
 * Restart: the brain saves a checkpoint — a time before which every received event has been
 * decided. At start it replays the stored events received since min(checkpoint, now − longest
 * rule window) in arrival order: action triggers for those after the checkpoint (decisions lost
 * in a crash between event commit and decision commit are made now), and every event through
 * the CEP engine, which rebuilds its windows. Decision dedup keys make a replayed match that
 * was already decided a no-op.
 */
export class LocalBrain implements BrainSink {
  #tick: NodeJS.Timeout | null = null;
  #checkpointTimer: NodeJS.Timeout | null = null;
  #lastIdleMs: number;
  #savedCheckpoint = 0;
  readonly #now: () => number;

  constructor(private readonly deps: LocalBrainDeps) {
    this.#now = deps.now ?? Date.now;
    this.#lastIdleMs = this.#now();
    deps.rules.onChange(() => deps.cep.setRules(deps.rules.specs()));
  }

  wantsSummaries(): boolean {
    return this.deps.wantsEvents();
  }

  committed(screened: ScreenedEvent[], counts: Array<[string, string | null, number]>): void {
    for (const [type, zone, n] of counts) this.deps.state.countEvents(type, zone, n);
    if (screened.length === 0) return;
    const publishEvents = this.deps.bus.listenerCount > 0 && this.deps.wantsEvents();
    const matches: RuleMatch[] = [];
    for (const e of screened) {
      if (publishEvents) this.deps.bus.publish({ kind: 'event', event: summaryOf(e) });
      this.#process(e, matches, true);
    }
    this.deps.writer.submit(matches);
  }

  #process(e: ScreenedEvent, matches: RuleMatch[], runTriggers: boolean): void {
    if (e.resource) this.deps.state.updateResource(summaryOf(e), e.resource);
    if (runTriggers && e.triggers.length > 0) this.#triggerMatches(e, matches);
    if (e.roles.length > 0) for (const m of this.deps.cep.offer(e)) matches.push(m);
  }

  #triggerMatches(e: ScreenedEvent, out: RuleMatch[]): void {
    const version = this.deps.registry.version(e.pluginId, e.pluginVersion);
    if (!version) return;
    for (const hit of e.triggers) {
      const def = version.actionDefinitions[hit.definition];
      if (!def) continue;
      const ruleId = `plugin:${e.pluginId}@${e.pluginVersion}#${hit.definition}`;
      const values = Object.entries(hit.values)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(', ');
      out.push({
        kind: 'action_trigger',
        ruleId,
        ruleName: def.trigger,
        rulePriority: 0,
        dedupKey: `${ruleId}:${e.eventId}`,
        triggerEventId: e.eventId,
        events: [{ ...summaryOf(e), role: 'trigger' }],
        conditions: [{ role: 'trigger', source: def.condition ?? '(none: every event)', values: hit.values }],
        severity: e.severity,
        zoneId: e.zoneId,
        lat: e.lat,
        lng: e.lng,
        actions: def.actions,
        escalationRules: def.escalation_rules ?? [],
        explanation: `${def.trigger}: ${def.condition ?? 'every event'} held for ${e.eventType} ${e.eventId} from ${e.pluginId}${values ? ` (${values})` : ''}`,
        matchedAtMs: this.#now(),
      });
    }
  }

  /** Starts the absence-rule clock and the checkpoint. */
  start(): void {
    this.#tick = setInterval(() => {
      const matches = this.deps.cep.tick(this.#now());
      if (matches.length > 0) this.deps.writer.submit(matches);
    }, TICK_MS);
    this.#tick.unref();
    this.#checkpointTimer = setInterval(() => void this.#saveCheckpoint().catch((err) => this.deps.log.warn({ err }, 'brain checkpoint not saved')), CHECKPOINT_MS);
    this.#checkpointTimer.unref();
  }

  /** Replays stored events into the engine (see the class comment). Returns how many. */
  async replay(): Promise<number> {
    const { db, tenantId, rules, registry } = this.deps;
    const checkpointRow = await db.selectFrom('brain_state').select('value').where('tenant_id', '=', tenantId).where('name', '=', 'decided_through').executeTakeFirst();
    const checkpointMs = typeof checkpointRow?.value === 'number' ? checkpointRow.value : null;
    const windowStart = this.#now() - rules.maxWindowMs();
    // A node with no checkpoint yet has nothing undecided from before (first start).
    const sinceMs = checkpointMs === null ? windowStart : Math.min(checkpointMs, windowStart);
    const screen = rules.roleScreen();
    if (screen === null && checkpointMs === null) return 0;

    let afterSeq = '0';
    let replayed = 0;
    for (;;) {
      const rows = await db
        .selectFrom('events')
        .select(['seq', 'event_id', 'plugin_id', 'plugin_version', 'event_type', 'severity', 'confidence', 'ts', 'received_at', 'zone_id', 'lat', 'lng', 'payload'])
        .where('tenant_id', '=', tenantId)
        .where('received_at', '>=', new Date(sinceMs))
        .where('seq', '>', afterSeq)
        .orderBy('seq')
        .limit(REPLAY_PAGE)
        .execute();
      if (rows.length === 0) break;
      const matches: RuleMatch[] = [];
      for (const r of rows) {
        const receivedAtMs = new Date(r.received_at).getTime();
        const payload = (typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload) as Record<string, unknown>;
        const runTriggers = checkpointMs !== null && receivedAtMs >= checkpointMs;
        const triggers = runTriggers ? (registry.version(r.plugin_id, r.plugin_version)?.screenTriggers(payload) ?? null) : null;
        const roles = screen?.screen(r.event_type, r.plugin_id, payload) ?? [];
        const resource = r.event_type === RESOURCE_STATUS_EVENT ? readResource(payload) : undefined;
        if (triggers === null && roles.length === 0 && !resource) continue;
        const e: ScreenedEvent = {
          eventId: r.event_id,
          pluginId: r.plugin_id,
          pluginVersion: r.plugin_version,
          eventType: r.event_type,
          severity: r.severity,
          confidence: r.confidence,
          tsMs: new Date(r.ts).getTime(),
          receivedAtMs,
          zoneId: r.zone_id,
          lat: r.lat,
          lng: r.lng,
          triggers: triggers ?? [],
          roles: roles as RoleHit[],
        };
        if (resource) e.resource = resource;
        this.#process(e, matches, runTriggers);
      }
      this.deps.writer.submit(matches);
      await this.deps.writer.idle();
      replayed += rows.length;
      afterSeq = rows[rows.length - 1]!.seq;
      if (replayed >= REPLAY_LIMIT) {
        this.deps.log.warn({ replayed }, 'replay stopped at its limit; older events were not re-examined');
        break;
      }
    }
    const late = this.deps.cep.tick(this.#now());
    this.deps.writer.submit(late);
    await this.deps.writer.idle();
    if (replayed > 0) this.deps.log.info({ replayed, since: new Date(sinceMs).toISOString() }, 'brain rebuilt from stored events');
    return replayed;
  }

  async #saveCheckpoint(): Promise<void> {
    const stats = this.deps.writer.stats();
    if (!stats.busy) this.#lastIdleMs = this.#now();
    // One second of margin: a batch committed just before the writer was seen idle may not
    // have reached `committed` yet. Decisions the writer could not store hold the checkpoint
    // back, so the next start's replay makes them again.
    const checkpoint = Math.min(this.#lastIdleMs, stats.oldestLostMs ?? Infinity) - 1_000;
    if (checkpoint <= this.#savedCheckpoint) return;
    await this.deps.db
      .insertInto('brain_state')
      .values({ tenant_id: this.deps.tenantId, name: 'decided_through', value: JSON.stringify(checkpoint) })
      .onConflict((oc) => oc.columns(['tenant_id', 'name']).doUpdateSet({ value: JSON.stringify(checkpoint), updated_at: sql`now()` }))
      .execute();
    this.#savedCheckpoint = checkpoint;
  }

  async close(): Promise<void> {
    if (this.#tick) clearInterval(this.#tick);
    if (this.#checkpointTimer) clearInterval(this.#checkpointTimer);
    await this.deps.writer.idle();
    await this.#saveCheckpoint().catch(() => {});
  }
}
