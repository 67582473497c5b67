import type { Logger } from 'pino';
import { copyLines } from '../store/copy-text.js';
import type { CopyInto, Store } from '../store/store.js';
import { compareMatches, planDecision, type DecisionPlan, type PlanContext } from './plan.js';
import type { DecisionView, RuleMatch } from './types.js';

export interface DecisionWriterDeps {
  store: Pick<Store, 'copyTransaction'>;
  context: Omit<PlanContext, 'nowMs'>;
  /** After commit: the decision is stored; its PENDING actions go to the dispatcher, its earliest fail-safe timer to the timers. */
  onDecided(view: DecisionView, dispatch: string[], firstTimerAtMs: number | null): void;
  log: Logger;
  now?: () => number;
}

/** Dedup keys looked up per query. */
const CHUNK = 1000;

/**
 * The decision engine's writer (seed 001 §3.2 "Decision Engine: prioritizes simultaneous alerts
 * and determines the necessary action"). Matches found while a write is in flight wait and go
 * together in the next one — group commit, as for events — and within one write they are
 * ordered by severity, rule priority and age, so the most urgent decisions are stored, published
 * and dispatched first. One transaction holds a decision, its actions and everything its
 * internal actions do (approval request, named log, outbox message, fail-safe timers).
 *
 * A decision whose dedup key exists already (a replay after a restart) is skipped whole: the
 * keys are looked up first, then every table is written by COPY in the same transaction (about
 * half the cost of multi-row INSERTs on PGlite, measured). One writer per node writes its
 * tenant's decisions, so nothing can insert the same key between the lookup and the COPY; the
 * unique index would still refuse it, failing that write loudly rather than deciding twice.
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

    const stored = await this.deps.store.copyTransaction(async (tx, copy) => {
      const existing = new Set<string>();
      for (let i = 0; i < candidates.length; i += CHUNK) {
        const keys = candidates.slice(i, i + CHUNK).map((p) => p.decision.dedup_key);
        const rows = await tx.selectFrom('decisions').select('dedup_key').where('tenant_id', '=', this.deps.context.tenantId).where('dedup_key', 'in', keys).execute();
        for (const r of rows) existing.add(r.dedup_key);
      }
      const kept = candidates.filter((p) => !existing.has(p.decision.dedup_key));
      await copyTable(copy, 'decisions', kept.map((p) => p.decision));
      await copyTable(copy, 'actions', kept.flatMap((p) => p.actions));
      await copyTable(copy, 'approval_requests', kept.flatMap((p) => p.approvals));
      await copyTable(copy, 'event_logs', kept.flatMap((p) => p.logs));
      await copyTable(copy, 'outbox', kept.flatMap((p) => p.outbox));
      await copyTable(copy, 'timers', kept.flatMap((p) => p.timers));
      await copyTable(copy, 'audit_log', kept.flatMap((p) => p.audit));
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

/** COPYs plan rows into `table`; the columns are those of the first row (every plan row of a table has the same). */
async function copyTable(copy: CopyInto, table: string, rows: ReadonlyArray<object>): Promise<void> {
  if (rows.length === 0) return;
  const columns = Object.keys(rows[0]!);
  await copy(table, columns, copyLines(rows as ReadonlyArray<Record<string, unknown>>, columns));
}
