import { CompiledQuery, type Kysely } from 'kysely';
import { CoalescingWriter } from '../store/coalescing-writer.js';
import type { Database } from '../store/schema.js';
import type { JobView } from './broker.js';

/** The columns a job's row changes after it is created: everything the upsert refreshes. */
const MUTABLE = ['status', 'attempts', 'executor_id', 'progress', 'result_ref', 'result_signature', 'error', 'assigned_at', 'finished_at', 'updated_at'] as const;

/**
 * How long a deferred write (a job's assignment) waits for a later write of the same job to
 * take its place. Most jobs of a busy pool finish within it, and their row is written twice
 * (accepted, ended) instead of three times.
 */
export const DEFERRED_WRITE_MS = 250;

/** Rows per statement: 25 parameters a row, well under PostgreSQL's 65,535 per statement. */
const MAX_ROWS_PER_STATEMENT = 1_000;

/**
 * The broker's job table, written in group commits (src/store/coalescing-writer.ts): each
 * commit is one multi-row upsert of the jobs' current state. Under load a commit carries many
 * jobs, so a job costs a fraction of a statement instead of the three statements (insert,
 * assign, finish) it took one by one — bench:jobs measured those at ~5.7 ms of the store's CPU
 * per job.
 *
 * @example
 *   const writer = new JobWriter(db, tenantId);
 *   job.status = 'succeeded';
 *   await writer.write(job); // durable now
 */
export class JobWriter {
  readonly #db: Kysely<Database>;
  readonly #tenantId: string;
  readonly #rows: CoalescingWriter<JobView>;
  /** Jobs whose write may wait for a later one (writeDeferred), and who waits to hear which. */
  #deferred = new Map<string, { job: JobView; committed: (yes: boolean) => void }>();
  #deferredTimer: NodeJS.Timeout | null = null;

  constructor(db: Kysely<Database>, tenantId: string) {
    this.#db = db;
    this.#tenantId = tenantId;
    this.#rows = new CoalescingWriter((jobs) => this.#upsert(jobs));
  }

  /** Writes the job as it is when its commit starts (so a later change may ride along). */
  write(job: JobView): Promise<void> {
    this.#takeDeferred(job.job_id)?.committed(false);
    return this.#rows.write(job.job_id, job);
  }

  /**
   * Writes the job within DEFERRED_WRITE_MS unless a write() of it comes first and takes its
   * place; answers whether this write was the one committed (false also when its commit failed:
   * the job's next write carries the change). For changes a restart does not need: the broker
   * queues a running job again at start as it does a queued one.
   */
  writeDeferred(job: JobView): Promise<boolean> {
    this.#takeDeferred(job.job_id)?.committed(false);
    return new Promise<boolean>((committed) => {
      this.#deferred.set(job.job_id, { job, committed });
      if (this.#deferredTimer) return;
      this.#deferredTimer = setTimeout(() => this.#flushDeferred(), DEFERRED_WRITE_MS);
      this.#deferredTimer.unref();
    });
  }

  /** Commits everything asked for, deferred writes included. */
  async drain(): Promise<void> {
    this.#flushDeferred();
    await this.#rows.drain();
  }

  #takeDeferred(jobId: string): { job: JobView; committed: (yes: boolean) => void } | undefined {
    const entry = this.#deferred.get(jobId);
    if (entry) this.#deferred.delete(jobId);
    return entry;
  }

  #flushDeferred(): void {
    if (this.#deferredTimer) clearTimeout(this.#deferredTimer);
    this.#deferredTimer = null;
    const due = this.#deferred;
    this.#deferred = new Map();
    for (const { job, committed } of due.values()) {
      this.#rows.write(job.job_id, job).then(
        () => committed(true),
        () => committed(false),
      );
    }
  }

  async #upsert(jobs: JobView[]): Promise<void[]> {
    // Dates go as ISO text (PostgreSQL reads them into timestamptz): the row is built straight
    // into the parameter list, with no query builder in between (bench:jobs saw kysely's build
    // and compile of these wide statements take ~9% of the broker's thread).
    const now = new Date().toISOString();
    const params: unknown[] = [];
    const statements: CompiledQuery[] = [];
    for (let i = 0; i < jobs.length; i++) {
      const row = jobRow(jobs[i]!, this.#tenantId, now);
      for (const column of COLUMNS) params.push(row[column]);
      const rows = params.length / COLUMNS.length;
      if (rows === MAX_ROWS_PER_STATEMENT || i === jobs.length - 1) {
        statements.push(CompiledQuery.raw(upsertText(rows), params.splice(0)));
      }
    }
    if (statements.length === 1) await this.#db.executeQuery(statements[0]!);
    else await this.#db.transaction().execute(async (tx) => {
      for (const statement of statements) await tx.executeQuery(statement);
    });
    return jobs.map(() => undefined);
  }
}

/** The columns of `jobs`, in the order of each row's parameters. */
const COLUMNS = [
  'job_id', 'tenant_id', 'client_id', 'kind', 'wasm_ref', 'input_ref', 'needs', 'priority', 'deadline_at', 'timeout_ms', 'max_attempts',
  'attempts', 'status', 'executor_id', 'progress', 'result_ref', 'result_signature', 'error', 'parent_job_id', 'part_index', 'parts', 'created_at', 'assigned_at', 'finished_at', 'updated_at',
] as const;

/** A job's row as parameter values: dates as the ISO text the job holds, `needs` as JSON. */
function jobRow(j: JobView, tenantId: string, now: string): Record<(typeof COLUMNS)[number], unknown> {
  return {
    ...j,
    tenant_id: tenantId,
    needs: JSON.stringify(j.needs),
    updated_at: now,
  };
}

const CACHED_TEXTS_UP_TO_ROWS = 128;
const upsertTexts = new Map<number, string>();

/** `insert … values (…) × rows on conflict … do update`, made once per row count. */
function upsertText(rows: number): string {
  let text = upsertTexts.get(rows);
  if (text !== undefined) return text;
  const values: string[] = [];
  for (let r = 0; r < rows; r++) values.push(`(${COLUMNS.map((_, c) => `$${r * COLUMNS.length + c + 1}`).join(', ')})`);
  text = `insert into jobs (${COLUMNS.join(', ')}) values ${values.join(', ')} on conflict (job_id) do update set ${MUTABLE.map((c) => `${c} = excluded.${c}`).join(', ')}`;
  // Only the common sizes are kept: a thousand-row text is ~200 kB, and such commits are rare.
  if (rows <= CACHED_TEXTS_UP_TO_ROWS) upsertTexts.set(rows, text);
  return text;
}
