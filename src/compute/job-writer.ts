import { sql, type Kysely } from 'kysely';
import type { Database } from '../store/schema.js';
import type { JobView } from './broker.js';

/** The columns a job's row changes after it is created: everything the upsert refreshes. */
const MUTABLE = ['status', 'attempts', 'executor_id', 'progress', 'result_ref', 'result_signature', 'error', 'assigned_at', 'finished_at', 'updated_at'] as const;

/**
 * Rows per statement: 25 parameters a row, well under PostgreSQL's 65,535 per statement.
 */
const MAX_ROWS_PER_STATEMENT = 1_000;

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit for the broker's job table. Every change to a job asked for while a commit runs
 * (or in the same turn of the event loop) goes out in the next one, as one multi-row upsert of
 * the jobs' current state: a job changed twice before its commit is written once. Under load a
 * commit carries many jobs, so a job costs a fraction of a statement instead of the three
 * statements (insert, assign, finish) it took one by one — bench:jobs measured the store at
 * ~5.7 ms of CPU per job that way. A caller's promise resolves once the row holding its change
 * is committed; commits never overlap, so they land in the order they were asked for.
 *
 * @example
 *   const writer = new JobWriter(db, tenantId);
 *   job.status = 'succeeded';
 *   await writer.write(job); // durable now
 */
export class JobWriter {
  readonly #db: Kysely<Database>;
  readonly #tenantId: string;
  #pending = new Map<string, JobView>();
  #waiters: Waiter[] = [];
  #flushing: Promise<void> | null = null;
  #scheduled = false;

  constructor(db: Kysely<Database>, tenantId: string) {
    this.#db = db;
    this.#tenantId = tenantId;
  }

  /** Writes the job as it is when the commit starts (not as it is now). */
  write(job: JobView): Promise<void> {
    this.#pending.set(job.job_id, job);
    const done = new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    this.#schedule();
    return done;
  }

  /** Resolves when everything asked for so far is committed (or failed). */
  async drain(): Promise<void> {
    while (this.#flushing || this.#pending.size > 0) {
      if (!this.#flushing) this.#start();
      await this.#flushing!.catch(() => {});
    }
  }

  #schedule(): void {
    if (this.#flushing || this.#scheduled) return; // a running commit starts the next when it ends
    this.#scheduled = true;
    // One turn of the event loop: changes made by the same burst of messages share the commit.
    setImmediate(() => {
      this.#scheduled = false;
      if (!this.#flushing) this.#start();
    });
  }

  #start(): void {
    if (this.#pending.size === 0) return;
    const jobs = [...this.#pending.values()];
    const waiters = this.#waiters;
    this.#pending = new Map();
    this.#waiters = [];
    this.#flushing = this.#commit(jobs).then(
      () => waiters.forEach((w) => w.resolve()),
      (err: unknown) => {
        waiters.forEach((w) => w.reject(err));
        throw err;
      },
    );
    void this.#flushing
      .catch(() => {}) // each waiter has it
      .finally(() => {
        this.#flushing = null;
        if (this.#pending.size > 0) this.#start();
      });
  }

  async #commit(jobs: JobView[]): Promise<void> {
    const now = new Date();
    const rows = jobs.map((j) => ({
      job_id: j.job_id,
      tenant_id: this.#tenantId,
      client_id: j.client_id,
      kind: j.kind,
      wasm_ref: j.wasm_ref,
      input_ref: j.input_ref,
      needs: JSON.stringify(j.needs),
      priority: j.priority,
      deadline_at: j.deadline_at === null ? null : new Date(j.deadline_at),
      timeout_ms: j.timeout_ms,
      max_attempts: j.max_attempts,
      attempts: j.attempts,
      status: j.status,
      executor_id: j.executor_id,
      progress: j.progress,
      result_ref: j.result_ref,
      result_signature: j.result_signature,
      error: j.error,
      parent_job_id: j.parent_job_id,
      part_index: j.part_index,
      parts: j.parts,
      created_at: new Date(j.created_at),
      assigned_at: j.assigned_at === null ? null : new Date(j.assigned_at),
      finished_at: j.finished_at === null ? null : new Date(j.finished_at),
      updated_at: now,
    }));
    const upsert = async (db: Kysely<Database>) => {
      for (let i = 0; i < rows.length; i += MAX_ROWS_PER_STATEMENT) {
        await db
          .insertInto('jobs')
          .values(rows.slice(i, i + MAX_ROWS_PER_STATEMENT))
          .onConflict((oc) => oc.column('job_id').doUpdateSet(Object.fromEntries(MUTABLE.map((c) => [c, sql.ref(`excluded.${c}`)]))))
          .execute();
      }
    };
    if (rows.length <= MAX_ROWS_PER_STATEMENT) await upsert(this.#db);
    else await this.#db.transaction().execute(upsert);
  }
}
