import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../store/schema.js';
import { compareMatches, planDecision, type DecisionPlan, type PlanContext } from './plan.js';
import type { DecisionView, RuleMatch } from './types.js';

export interface DecisionWriterDeps {
  db: Kysely<Database>;
  context: Omit<PlanContext, 'nowMs'>;
  /** After commit: the decision is stored; its PENDING actions go to the dispatcher, its earliest fail-safe timer to the timers. */
  onDecided(view: DecisionView, dispatch: string[], firstTimerAtMs: number | null): void;
  log: Logger;
  now?: () => number;
}

/** Rows per multi-row INSERT: well under PostgreSQL's 65,535 bind parameters at ~20 columns. */
const CHUNK = 1000;

/**
 * The decision engine's writer (seed 001 §3.2 "Decision Engine: prioritizes simultaneous alerts
 * and determines the necessary action"). Matches found while a write is in flight wait and go
 * together in the next one — group commit, as for events — and within one write they are
 * ordered by severity, rule priority and age, so the most urgent decisions are stored, published
 * and dispatched first. One transaction holds a decision, its actions and everything its
 * internal actions do (approval request, named log, outbox message, fail-safe timers).
 *
 * A decision whose dedup key exists already (a replay after a restart) is skipped whole.
 */
export class DecisionWriter {
  #queue: RuleMatch[] = [];
  #flushing: Promise<void> | null = null;
  #idle: Array<() => void> = [];
  #written = 0;
  #duplicates = 0;
  #failed = 0;
  /** Receipt time of the oldest event whose decision could not be stored (sticky until restart). */
  #oldestLostMs: number | null = null;
  readonly #now: () => number;

  /** Matches waiting beyond this are refused (logged and counted) rather than growing memory without bound. */
  static readonly MAX_QUEUE = 200_000;

  constructor(private readonly deps: DecisionWriterDeps) {
    this.#now = deps.now ?? Date.now;
  }

  submit(matches: readonly RuleMatch[]): void {
    if (matches.length === 0) return;
    if (this.#queue.length + matches.length > DecisionWriter.MAX_QUEUE) {
      this.#failed += matches.length;
      this.#markLost(matches);
      this.deps.log.error({ dropped: matches.length, queued: this.#queue.length }, 'decision queue full: matches refused; the store is not keeping up');
      return;
    }
    for (const m of matches) this.#queue.push(m);
    this.#flushing ??= this.#drain();
  }

  /** Resolves when everything submitted so far is written (tests, shutdown, replay). */
  idle(): Promise<void> {
    if (this.#flushing === null) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  stats(): { written: number; duplicates: number; failed: number; queued: number; busy: boolean; oldestLostMs: number | null } {
    return {
      written: this.#written,
      duplicates: this.#duplicates,
      failed: this.#failed,
      queued: this.#queue.length,
      busy: this.#flushing !== null,
      oldestLostMs: this.#oldestLostMs,
    };
  }

  /** Remembers how far back the next start's replay must reach to make lost decisions again. */
  #markLost(matches: readonly RuleMatch[]): void {
    for (const m of matches) {
      for (const e of m.events) if (this.#oldestLostMs === null || e.receivedAtMs < this.#oldestLostMs) this.#oldestLostMs = e.receivedAtMs;
    }
  }

  async #drain(): Promise<void> {
    // Let matches found in the same turn of the event loop join this write.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.#queue.length > 0) {
      const batch = this.#queue;
      this.#queue = [];
      batch.sort(compareMatches);
      try {
        await this.#write(batch);
      } catch (err) {
        // The events are stored; a failed write loses no input. The decisions are made again on
        // the next start's replay (dedup keys make that safe); until then, say so loudly.
        this.#failed += batch.length;
        this.#markLost(batch);
        this.deps.log.error({ err, matches: batch.length }, 'decisions could not be stored; they will be made again from the stored events at the next start');
      }
    }
    this.#flushing = null;
    for (const resolve of this.#idle.splice(0)) resolve();
  }

  async #write(matches: RuleMatch[]): Promise<void> {
    const nowMs = this.#now();
    const plans = matches.map((m) => planDecision(m, { ...this.deps.context, nowMs }));
    // Several matches in one write may share a dedup key (the same event replayed twice).
    const unique = new Map<string, DecisionPlan>();
    for (const p of plans) if (!unique.has(p.decision.dedup_key)) unique.set(p.decision.dedup_key, p);
    const candidates = [...unique.values()];

    const stored = await this.deps.db.transaction().execute(async (tx) => {
      const inserted = new Set<string>();
      for (let i = 0; i < candidates.length; i += CHUNK) {
        const rows = await tx
          .insertInto('decisions')
          .values(candidates.slice(i, i + CHUNK).map((p) => p.decision))
          .onConflict((oc) => oc.columns(['tenant_id', 'dedup_key']).doNothing())
          .returning('decision_id')
          .execute();
        for (const r of rows) inserted.add(r.decision_id);
      }
      const kept = candidates.filter((p) => inserted.has(p.decision.decision_id));
      await insertChunks(tx, 'actions', kept.flatMap((p) => p.actions));
      await insertChunks(tx, 'approval_requests', kept.flatMap((p) => p.approvals));
      await insertChunks(tx, 'event_logs', kept.flatMap((p) => p.logs));
      await insertChunks(tx, 'outbox', kept.flatMap((p) => p.outbox));
      await insertChunks(tx, 'timers', kept.flatMap((p) => p.timers));
      return kept;
    });

    this.#written += stored.length;
    this.#duplicates += plans.length - stored.length;
    for (const p of stored) {
      const fireTimes = p.timers.map((t) => new Date(t.fire_at).getTime());
      this.deps.onDecided(p.view, p.dispatch, fireTimes.length > 0 ? Math.min(...fireTimes) : null);
    }
  }
}

async function insertChunks<T extends 'actions' | 'approval_requests' | 'event_logs' | 'outbox' | 'timers'>(
  tx: Kysely<Database>,
  table: T,
  rows: Array<Parameters<ReturnType<Kysely<Database>['insertInto']>['values']>[0]>,
): Promise<void> {
  for (let i = 0; i < rows.length; i += CHUNK) {
    await tx.insertInto(table).values(rows.slice(i, i + CHUNK) as never).execute();
  }
}
