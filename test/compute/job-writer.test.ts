import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JobView } from '../../src/compute/broker.js';
import { DbBlobStore } from '../../src/compute/db-blob-store.js';
import { JobWriter } from '../../src/compute/job-writer.js';
import { openTestStore } from '../helpers/store.js';

function job(id: string, changes: Partial<JobView> = {}): JobView {
  return {
    job_id: id,
    client_id: 'client-1',
    kind: 'anomaly_scoring',
    wasm_ref: null,
    input_ref: `sha256:${'0'.repeat(64)}`,
    needs: { cpu_cores: 1, memory_mb: 128, storage_mb: 0, gpu: false },
    priority: 'normal',
    deadline_at: null,
    timeout_ms: 60_000,
    status: 'queued',
    attempts: 0,
    max_attempts: 3,
    executor_id: null,
    progress: 0,
    result_ref: null,
    result_signature: null,
    error: null,
    parent_job_id: null,
    part_index: null,
    parts: null,
    created_at: '2026-11-23T08:00:00.000Z',
    assigned_at: null,
    finished_at: null,
    ...changes,
  };
}

test('a deferred write is committed when due (or on drain), and a write of the same job in the meantime takes its place', async (t) => {
  const store = await openTestStore(t);
  const writer = new JobWriter(store.db, 'default');
  const taken = job('job-taken');
  const due = job('job-due');
  await Promise.all([writer.write(taken), writer.write(due)]);

  Object.assign(taken, { status: 'running', attempts: 1, executor_id: 'exec-1', assigned_at: '2026-11-23T08:00:01.000Z' });
  const takenDeferred = writer.writeDeferred(taken);
  Object.assign(due, { status: 'running', attempts: 1, executor_id: 'exec-2', assigned_at: '2026-11-23T08:00:01.000Z' });
  const dueDeferred = writer.writeDeferred(due);
  // The outcome comes before the assignment is due: only it is written.
  Object.assign(taken, { status: 'succeeded', progress: 1, finished_at: '2026-11-23T08:00:01.100Z', result_ref: `sha256:${'1'.repeat(64)}` });
  await writer.write(taken);
  assert.equal(await takenDeferred, false, 'the later write took its place');
  assert.equal(await dueDeferred, true, 'the one left alone is committed when due');

  const rows = await store.db.selectFrom('jobs').select(['job_id', 'status', 'attempts', 'executor_id', 'result_ref', 'needs']).orderBy('job_id').execute();
  assert.deepEqual(
    rows.map((r) => [r.job_id, r.status, r.attempts, r.executor_id, r.result_ref]),
    [
      ['job-due', 'running', 1, 'exec-2', null],
      ['job-taken', 'succeeded', 1, 'exec-1', `sha256:${'1'.repeat(64)}`],
    ],
  );
  const needs = rows[0]!.needs;
  assert.deepEqual(typeof needs === 'string' ? JSON.parse(needs) : needs, due.needs);

  // drain() commits a deferred write at once.
  Object.assign(due, { status: 'queued', executor_id: null });
  const drained = writer.writeDeferred(due);
  await writer.drain();
  assert.equal(await drained, true);
  assert.equal((await store.db.selectFrom('jobs').select('status').where('job_id', '=', 'job-due').executeTakeFirstOrThrow()).status, 'queued');
});

test('a commit of more jobs than one statement holds is split into statements in one transaction', async (t) => {
  const store = await openTestStore(t);
  const writer = new JobWriter(store.db, 'default');
  const blobs = new DbBlobStore(store.db, { maxBlobBytes: 1024 });
  const jobs = Array.from({ length: 2_345 }, (_, i) => job(`job-${String(i).padStart(5, '0')}`, { progress: (i % 4) / 4 }));
  jobs.at(-1)!.progress = 0.75;
  // Every third job with an input staged to commit with it: all of them go in the first statement.
  const staged = jobs.map((j, i) => (i % 3 === 0 ? blobs.stage(Buffer.from(`{"job":"${j.job_id}"}`), { media_type: 'application/json' }, store.db) : null));
  await Promise.all(jobs.map((j, i) => writer.write(j, staged[i])));
  const count = await store.db.selectFrom('jobs').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
  assert.equal(Number(count.n), 2_345);
  const blobCount = await store.db.selectFrom('small_blobs').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
  assert.equal(Number(blobCount.n), 782);
  assert.equal(Buffer.from((await blobs.get(staged[2_343]!.ref))!).toString(), '{"job":"job-02343"}');
  const last = await store.db.selectFrom('jobs').select(['progress', 'created_at']).where('job_id', '=', 'job-02344').executeTakeFirstOrThrow();
  assert.equal(last.progress, 0.75, 'the third statement carries the last row as given');
  assert.equal(new Date(last.created_at).toISOString(), '2026-11-23T08:00:00.000Z');
});

test("a job's staged input or result commits in the job's own statement: both rows or neither", async (t) => {
  const store = await openTestStore(t);
  const writer = new JobWriter(store.db, 'default');
  const blobs = new DbBlobStore(store.db, { maxBlobBytes: 64 });
  const bytes = (text: string) => Buffer.from(text);

  // Staged only for the store's own database and within its size limit (put() says why not).
  assert.equal(blobs.stage(bytes('{}'), {}, store.db.withPlugin({ transformQuery: (a) => a.node, transformResult: async (a) => a.result })), null);
  assert.equal(blobs.stage(Buffer.alloc(65), {}, store.db), null);
  assert.throws(() => blobs.stage(bytes('{}'), { media_type: 'json' }, store.db), RangeError);

  const input = blobs.stage(bytes('{"series":[]}'), { media_type: 'application/json' }, store.db)!;
  const a = job('job-a', { input_ref: input.ref });
  await writer.write(a, input);
  assert.equal(Buffer.from((await blobs.get(input.ref))!).toString(), '{"series":[]}');
  assert.equal((await blobs.stat(input.ref))!.media_type, 'application/json');

  // Two jobs with the same content in one commit: one blob row (a statement upserts a row once).
  const same1 = blobs.stage(bytes('{"total":0}'), { media_type: 'application/json' }, store.db)!;
  const same2 = blobs.stage(bytes('{"total":0}'), { media_type: 'application/json' }, store.db)!;
  await Promise.all([writer.write(job('job-b', { status: 'succeeded', result_ref: same1.ref }), same1), writer.write(job('job-c', { status: 'succeeded', result_ref: same2.ref }), same2)]);
  assert.equal(Buffer.from((await blobs.get(same1.ref))!).toString(), '{"total":0}');

  // A job row the database refuses takes its blob down with it.
  const orphan = blobs.stage(bytes('{"orphan":true}'), {}, store.db)!;
  await assert.rejects(writer.write(job('job-bad', { client_id: null as unknown as string }), orphan));
  assert.equal(await blobs.get(orphan.ref), null, 'no blob without its job');
  assert.equal(await store.db.selectFrom('jobs').select('job_id').where('job_id', '=', 'job-bad').executeTakeFirst(), undefined);

  // The writer goes on after a refused commit.
  const d = job('job-d');
  await writer.write(d);
  assert.equal((await store.db.selectFrom('jobs').select('status').where('job_id', '=', 'job-d').executeTakeFirstOrThrow()).status, 'queued');
});
