// @pglite-only: the writer's grouping and ordering, with a recording commit; its SQL users are tested on both stores.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CoalescingWriter } from '../../src/store/coalescing-writer.js';

/** A commit that records what it was given and can be held open or made to fail. */
function recorder() {
  const commits: string[][] = [];
  let running = 0;
  let overlapped = false;
  let hold: Promise<void> | null = null;
  let failNext: Error | null = null;
  const writer = new CoalescingWriter<{ key: string; v: number }, string>(async (items) => {
    running++;
    if (running > 1) overlapped = true;
    commits.push(items.map((i) => `${i.key}=${i.v}`));
    try {
      if (hold) await hold;
      if (failNext) {
        const err = failNext;
        failNext = null;
        throw err;
      }
      return items.map((i) => `stored ${i.key}=${i.v}`);
    } finally {
      running--;
    }
  });
  return {
    writer,
    commits,
    overlapped: () => overlapped,
    holdUntil: (p: Promise<void>) => void (hold = p),
    release: () => void (hold = null),
    failNextWith: (err: Error) => void (failNext = err),
  };
}

test('writes asked for in one turn go out as one commit; a key written twice is committed once, as its last value', async () => {
  const r = recorder();
  const results = await Promise.all([r.writer.write('job-1', { key: 'job-1', v: 1 }), r.writer.write('job-2', { key: 'job-2', v: 1 }), r.writer.write('job-1', { key: 'job-1', v: 2 })]);
  assert.deepEqual(r.commits, [['job-1=2', 'job-2=1']]);
  assert.deepEqual(results, ['stored job-1=2', 'stored job-2=1', 'stored job-1=2'], 'both callers of job-1 get the committed value');
});

test('writes made while a commit runs form the next one; commits never overlap and land in order', async () => {
  const r = recorder();
  let open!: () => void;
  r.holdUntil(new Promise<void>((resolve) => (open = resolve)));
  const first = r.writer.write('job-1', { key: 'job-1', v: 1 });
  await new Promise((resolve) => setImmediate(resolve)); // the first commit has started
  const order: string[] = [];
  const second = r.writer.write('job-1', { key: 'job-1', v: 2 }).then((x) => order.push(x));
  const third = r.writer.write('job-3', { key: 'job-3', v: 1 }).then((x) => order.push(x));
  void first.then((x) => order.push(x));
  assert.deepEqual(r.commits, [['job-1=1']], 'the second batch waits for the first commit');
  r.release();
  open();
  await Promise.all([first, second, third]);
  assert.deepEqual(r.commits, [['job-1=1'], ['job-1=2', 'job-3=1']]);
  assert.deepEqual(order, ['stored job-1=1', 'stored job-1=2', 'stored job-3=1']);
  assert.equal(r.overlapped(), false);
});

test('a failed commit rejects exactly its own writers, and the next commit goes ahead', async () => {
  const r = recorder();
  r.failNextWith(new Error('disk full'));
  const failed = Promise.all([r.writer.write('a', { key: 'a', v: 1 }), r.writer.write('b', { key: 'b', v: 1 })]);
  await assert.rejects(failed, /disk full/);
  assert.equal(await r.writer.write('a', { key: 'a', v: 2 }), 'stored a=2');
  assert.deepEqual(r.commits, [['a=1', 'b=1'], ['a=2']]);
});

test('drain resolves once everything asked for so far is committed', async () => {
  const r = recorder();
  const written: string[] = [];
  for (let i = 0; i < 5; i++) void r.writer.write(`k${i}`, { key: `k${i}`, v: i }).then((x) => written.push(x));
  await r.writer.drain();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(written.length, 5);
  await r.writer.drain(); // nothing pending: resolves at once
});
