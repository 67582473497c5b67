interface Pending<T, R> {
  item: T;
  waiters: Array<{ resolve: (r: R) => void; reject: (err: unknown) => void }>;
}

/**
 * Group commit for rows that are written whole and may be written again (upserts): items asked
 * for while a commit runs, or in the same turn of the event loop, go out together in the next
 * one, and an item written twice before its commit is written once (the later one wins; both
 * callers get its result). Commits never overlap, so they land in the order they were asked for.
 * A caller's promise settles when the commit holding its item does.
 *
 * @example
 *   const rows = new CoalescingWriter<JobView, void>(async (jobs) => { await upsert(jobs); return jobs.map(() => undefined); });
 *   await rows.write(job.job_id, job); // durable now
 */
export class CoalescingWriter<T, R = void> {
  readonly #commit: (items: T[]) => Promise<R[]>;
  #pending = new Map<string, Pending<T, R>>();
  #flushing: Promise<void> | null = null;
  #scheduled = false;

  /** `commit` writes the items and answers one result per item, in their order. */
  constructor(commit: (items: T[]) => Promise<R[]>) {
    this.#commit = commit;
  }

  write(key: string, item: T): Promise<R> {
    let entry = this.#pending.get(key);
    if (entry) entry.item = item;
    else this.#pending.set(key, (entry = { item, waiters: [] }));
    const done = new Promise<R>((resolve, reject) => entry.waiters.push({ resolve, reject }));
    this.#schedule();
    return done;
  }

  /** Resolves when everything asked for so far has been committed or has failed. */
  async drain(): Promise<void> {
    while (this.#flushing || this.#pending.size > 0) {
      if (!this.#flushing) this.#start();
      await this.#flushing;
    }
  }

  #schedule(): void {
    if (this.#flushing || this.#scheduled) return; // a running commit starts the next when it ends
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      if (!this.#flushing) this.#start();
    });
  }

  #start(): void {
    if (this.#pending.size === 0) return;
    const batch = [...this.#pending.values()];
    this.#pending = new Map();
    this.#flushing = this.#commitBatch(batch).finally(() => {
      this.#flushing = null;
      if (this.#pending.size > 0) this.#start();
    });
  }

  /** Never rejects: each waiter gets the outcome. */
  async #commitBatch(batch: Array<Pending<T, R>>): Promise<void> {
    try {
      const results = await this.#commit(batch.map((p) => p.item));
      batch.forEach((p, i) => p.waiters.forEach((w) => w.resolve(results[i]!)));
    } catch (err) {
      for (const p of batch) for (const w of p.waiters) w.reject(err);
    }
  }
}
