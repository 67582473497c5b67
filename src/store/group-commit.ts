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
}

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit: callers append rows (COPY text) and await one shared commit. One flush runs at
 * a time; rows that arrive meanwhile form the next one, so under load commits grow to
 * `maxRows` and the per-row cost of a commit (fsync, WAL, round trip) is shared.
 * A caller's promise resolves only after its rows are committed: that is when ingestion acks.
 */
export class GroupCommitter {
  #chunks: string[] = [];
  #rows = 0;
  #waiters: Waiter[] = [];
  #timer: NodeJS.Timeout | null = null;
  #flushing: Promise<void> | null = null;
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
    else if (this.#timer === null && this.#flushing === null) {
      this.#timer = setTimeout(() => this.#kick(), this.options.delayMs);
    }
    return done;
  }

  #kick(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    if (this.#flushing !== null || this.#rows === 0) return;
    this.#flushing = this.#flushOnce().finally(() => {
      this.#flushing = null;
      // Rows that arrived during the flush go out at once: they have already waited.
      if (this.#rows > 0) this.#kick();
    });
  }

  async #flushOnce(): Promise<void> {
    const chunks = this.#chunks;
    const waiters = this.#waiters;
    const rows = this.#rows;
    this.#chunks = [];
    this.#waiters = [];
    this.#rows = 0;
    this.#inFlightRows = rows;
    const started = performance.now();
    try {
      await this.store.copyRows(this.options.table, this.options.columns, chunks.join(''));
      this.metrics?.commitSeconds.observe((performance.now() - started) / 1000);
      this.metrics?.commitRows.observe(rows);
      for (let i = 0; i < waiters.length; i++) waiters[i]!.resolve();
    } catch (err) {
      const failure = cityError('STORE_FAILED', { reason: (err as Error).message }, err);
      for (let i = 0; i < waiters.length; i++) waiters[i]!.reject(failure);
    } finally {
      this.#inFlightRows = 0;
      this.metrics?.pendingRows.set(this.pendingRows);
    }
  }

  /** Commits everything queued so far; used by graceful shutdown. */
  async drain(): Promise<void> {
    while (this.#rows > 0 || this.#flushing !== null) {
      this.#kick();
      if (this.#flushing) await this.#flushing.catch(() => {});
    }
  }

  async close(): Promise<void> {
    await this.drain();
    this.#closed = true;
  }
}
