import { cityError } from '../errors.js';
import type { NodeMetrics } from '../ops/metrics.js';
import type { Store } from './store.js';

export interface GroupCommitOptions {
  table: string;
  columns: readonly string[];
  /** Flush as soon as this many rows wait. */
  maxRows: number;
  /** Otherwise flush this long after the first row arrived (a small delay batches concurrent callers). */
  delayMs: number;
  /** Refuse appends beyond this many waiting rows (back-pressure instead of an unbounded queue). */
  maxPendingRows: number;
  /**
   * Commits that may run at once. PGlite is one backend, so 1; a PostgreSQL server can use
   * another core for a second COPY while the first commits.
   */
  maxConcurrentFlushes?: number;
}

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit: callers append rows (COPY text) and await one shared commit. Up to
 * `maxConcurrentFlushes` flushes run at a time; rows that arrive meanwhile form the next one, so
 * under load commits grow to `maxRows` and the per-row cost of a commit (fsync, WAL, round trip)
 * is shared. Commits that run side by side may finish in either order.
 * A caller's promise resolves only after its rows are committed: that is when ingestion acks.
 */
export class GroupCommitter {
  #chunks: string[] = [];
  #rows = 0;
  #waiters: Waiter[] = [];
  #timer: NodeJS.Timeout | null = null;
  readonly #flushing = new Set<Promise<void>>();
  #inFlightRows = 0;
  #closed = false;

  constructor(
    private readonly store: Store,
    private readonly options: GroupCommitOptions,
    private readonly metrics?: NodeMetrics,
  ) {}

  /** Rows waiting or being committed. */
  get pendingRows(): number {
    return this.#rows + this.#inFlightRows;
  }

  /**
   * Queues `rowCount` rows given as COPY text (each line ending in \n).
   * Throws CITY_ERR_OVERLOADED synchronously when the queue is full.
   */
  append(text: string, rowCount: number): Promise<void> {
    if (this.#closed) return Promise.reject(cityError('SHUTTING_DOWN'));
    if (rowCount === 0) return Promise.resolve();
    if (this.pendingRows + rowCount > this.options.maxPendingRows && this.pendingRows > 0) {
      throw cityError('OVERLOADED', { reason: `${this.pendingRows} events waiting to commit` });
    }
    this.#chunks.push(text);
    this.#rows += rowCount;
    this.metrics?.pendingRows.set(this.pendingRows);
    const done = new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    if (this.#rows >= this.options.maxRows) this.#kick();
    else if (this.#timer === null && this.#flushing.size < this.#maxFlushes) {
      this.#timer = setTimeout(() => this.#kick(), this.options.delayMs);
    }
    return done;
  }

  get #maxFlushes(): number {
    return this.options.maxConcurrentFlushes ?? 1;
  }

  #kick(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    if (this.#flushing.size >= this.#maxFlushes || this.#rows === 0) return;
    const flush: Promise<void> = this.#flushOnce().finally(() => {
      this.#flushing.delete(flush);
      // Rows that arrived during the flush go out at once: they have already waited.
      if (this.#rows > 0) this.#kick();
    });
    this.#flushing.add(flush);
  }

  async #flushOnce(): Promise<void> {
    const chunks = this.#chunks;
    const waiters = this.#waiters;
    const rows = this.#rows;
    this.#chunks = [];
    this.#waiters = [];
    this.#rows = 0;
    this.#inFlightRows += rows;
    const started = performance.now();
    try {
      await this.store.copyRows(this.options.table, this.options.columns, chunks);
      this.metrics?.commitSeconds.observe((performance.now() - started) / 1000);
      this.metrics?.commitRows.observe(rows);
      for (let i = 0; i < waiters.length; i++) waiters[i]!.resolve();
    } catch (err) {
      const failure = cityError('STORE_FAILED', { reason: (err as Error).message }, err);
      for (let i = 0; i < waiters.length; i++) waiters[i]!.reject(failure);
    } finally {
      this.#inFlightRows -= rows;
      this.metrics?.pendingRows.set(this.pendingRows);
    }
  }

  /** Commits everything queued so far; used by graceful shutdown. */
  async drain(): Promise<void> {
    while (this.#rows > 0 || this.#flushing.size > 0) {
      this.#kick();
      await Promise.allSettled([...this.#flushing]);
    }
  }

  async close(): Promise<void> {
    await this.drain();
    this.#closed = true;
  }
}
