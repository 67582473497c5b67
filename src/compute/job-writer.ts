import { CompiledQuery, type Kysely } from 'kysely';
import { CoalescingWriter } from '../store/coalescing-writer.js';
import type { Database } from '../store/schema.js';
import type { StagedBlob } from './blob-store.js';
import type { JobView } from './broker.js';
import { pushSmallBlobParams, SMALL_BLOB_PARAMS, smallBlobsUpsert } from './db-blob-store.js';

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
 * per job. A job's small input or result (BlobStore.stage) goes in the same statement as its
 * row: one commit for both instead of one each (on PGlite a one-row statement costs about as
 * much as its row again), and never a row pointing at a blob that was not committed.
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
  /** Blobs to commit with the next write of their job, by job id. */
  #staged = new Map<string, StagedBlob[]>();
  /** Jobs whose write may wait for a later one (writeDeferred), and who waits to hear which. */
  #deferred = new Map<string, { job: JobView; committed: (yes: boolean) => void }>();
  #deferredTimer: NodeJS.Timeout | null = null;

  constructor(db: Kysely<Database>, tenantId: string) {
    this.#db = db;
    this.#tenantId = tenantId;
    this.#rows = new CoalescingWriter((jobs) => this.#upsert(jobs));
  }

  /**
   * Writes the job as it is when its commit starts (so a later change may ride along), and
   * `blob` (its input or result, staged by the data store's small tier) in the same statement.
   */
  write(job: JobView, blob: StagedBlob | null = null): Promise<void> {
    this.#takeDeferred(job.job_id)?.committed(false);
    if (blob) this.#staged.set(job.job_id, [...(this.#staged.get(job.job_id) ?? []), blob]);
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
    // The blobs staged for these jobs (taken now, before the first await: a blob staged for a job
    // written again while this commit runs goes with that next write). One row per ref: a
    // statement may not upsert a row twice.
    const blobs = new Map<string, StagedBlob>();
    for (const job of jobs) {
      for (const b of this.#staged.get(job.job_id) ?? []) blobs.set(b.ref, b);
      this.#staged.delete(job.job_id);
    }
    const now = new Date().toISOString();
    const params: unknown[] = [];
    for (const b of blobs.values()) pushSmallBlobParams(params, b);
    const statements: CompiledQuery[] = [];
    for (let i = 0; i < jobs.length; i++) {
      const row = jobRow(jobs[i]!, this.#tenantId, now);
      for (const column of COLUMNS) params.push(row[column]);
      // The staged blobs go with the first statement (all of them commit together).
      const blobRows = statements.length === 0 ? blobs.size : 0;
      const rows = (params.length - blobRows * SMALL_BLOB_PARAMS) / COLUMNS.length;
      if (rows === MAX_ROWS_PER_STATEMENT || i === jobs.length - 1) {
        statements.push(CompiledQuery.raw(upsertText(rows, blobRows), params.splice(0)));
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
const CACHED_TEXTS = 256;
const upsertTexts = new Map<string, string>();

/**
 * `insert … values (…) × rows on conflict … do update`, made once per row count; with blob rows,
 * their upsert first in a data-modifying WITH (parameters from $1), so one statement commits both.
 */
function upsertText(rows: number, blobRows: number): string {
  const key = `${rows}+${blobRows}`;
  let text = upsertTexts.get(key);
  if (text !== undefined) return text;
  const first = blobRows * SMALL_BLOB_PARAMS + 1;
  const values: string[] = [];
  for (let r = 0; r < rows; r++) values.push(`(${COLUMNS.map((_, c) => `$${first + r * COLUMNS.length + c}`).join(', ')})`);
  text = `insert into jobs (${COLUMNS.join(', ')}) values ${values.join(', ')} on conflict (job_id) do update set ${MUTABLE.map((c) => `${c} = excluded.${c}`).join(', ')}`;
  if (blobRows > 0) text = `with staged_blobs as (${smallBlobsUpsert(blobRows, 1)}) ${text}`;
  // Only the common sizes are kept (a thousand-row text is ~200 kB, and such commits are rare),
  // and only so many of them: the pairs of job and blob rows a busy broker sees are many.
  if (rows <= CACHED_TEXTS_UP_TO_ROWS && blobRows <= CACHED_TEXTS_UP_TO_ROWS) {
    if (upsertTexts.size >= CACHED_TEXTS) upsertTexts.delete(upsertTexts.keys().next().value!);
    upsertTexts.set(key, text);
  }
  return text;
}
