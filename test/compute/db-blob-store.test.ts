import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { BlobCorruptError, BlobRefError, BlobTooLargeError, FolderBlobStore } from '../../src/compute/blob-store.js';
import { DbBlobStore } from '../../src/compute/db-blob-store.js';
import { TieredBlobStore } from '../../src/compute/tiered-blob-store.js';
import { openTestStore } from '../helpers/store.js';

/**
 * The data store's small tier (rows in the node's database, group-committed) and the tiered
 * store the node runs: small blobs in the database, large ones in the folder. On PGlite and on
 * PostgreSQL.
 */

const sha256 = (bytes: Uint8Array): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const bytesOf = (text: string): Uint8Array => new TextEncoder().encode(text);
const READINGS = bytesOf(JSON.stringify({ zone_id: 'chennai-w109', level_cm: [12, 14, 31, 44] }));

async function* chunks(bytes: Uint8Array, size: number): AsyncIterable<Uint8Array> {
  for (let i = 0; i < bytes.byteLength; i += size) yield bytes.subarray(i, i + size);
}

async function harness(t: TestContext) {
  const store = await openTestStore(t);
  const clock = { ms: Date.parse('2025-03-01T09:00:00Z') };
  const small = new DbBlobStore(store.db, { maxBlobBytes: 4096, now: () => clock.ms });
  return { db: store.db, small, clock };
}

describe('DbBlobStore', () => {
  it('stores content under its SHA-256, once: a second put keeps when and as what it was first stored', async (t) => {
    const { small, clock } = await harness(t);
    const first = await small.put(READINGS, { media_type: 'application/json' });
    assert.deepEqual(first, { ref: sha256(READINGS), size: READINGS.byteLength, media_type: 'application/json', created_at: '2025-03-01T09:00:00.000Z' });
    clock.ms += 60_000;
    assert.deepEqual(await small.put(READINGS, { media_type: 'text/plain' }), first);
    assert.deepEqual(await small.get(first.ref), READINGS);
    assert.deepEqual(await small.stat(first.ref), first);
  });

  it('commits puts asked for together as one group, each answered with its own ref', async (t) => {
    const { small } = await harness(t);
    const many = Array.from({ length: 60 }, (_, i) => bytesOf(`{"sensor":"w109-${i}"}`));
    const stored = await Promise.all([...many, many[0]!].map((b) => small.put(b)));
    assert.deepEqual(stored.map((s) => s.ref), [...many, many[0]!].map(sha256));
    for (const b of many) assert.deepEqual(await small.get(sha256(b)), b);
  });

  it('refuses what it cannot hold and names why; missing refs answer null or false', async (t) => {
    const { small, db } = await harness(t);
    await assert.rejects(small.put(new Uint8Array(4097)), (err) => err instanceof BlobTooLargeError && /4097 bytes is over the limit of 4096/.test(err.message));
    await assert.rejects(small.put(chunks(new Uint8Array(9000), 1000)), (err) => err instanceof BlobTooLargeError && err.streamed && err.size === 5000);
    await assert.rejects(small.put(READINGS, { media_type: 'json' }), /media type "json" is not valid/);
    await assert.rejects(small.get('sha256:../../etc/passwd'), BlobRefError);
    const missing = sha256(bytesOf('never stored'));
    assert.equal(await small.get(missing), null);
    assert.equal(await small.stat(missing), null);
    assert.equal(await small.delete(missing), false);
    assert.equal((await db.selectFrom('small_blobs').select('ref').execute()).length, 0, 'nothing of the refused puts was kept');
  });

  it('finds bytes that no longer hash to their ref, and a put of the content repairs them', async (t) => {
    const { small, db } = await harness(t);
    const { ref } = await small.put(READINGS);
    await db.updateTable('small_blobs').set({ data: Buffer.from('{"level_cm":[0]}') }).where('ref', '=', ref).execute();
    await assert.rejects(small.get(ref), (err) => err instanceof BlobCorruptError && err.ref === ref && /put the original content again/.test(err.message));
    await small.put(READINGS);
    assert.deepEqual(await small.get(ref), READINGS);
    assert.equal(await small.delete(ref), true);
    assert.equal(await small.get(ref), null);
  });

  it('sweeps blobs unused for longer than asked, keeping pinned ones and those read since', async (t) => {
    const { small, clock } = await harness(t);
    const [old, pinned, read, fresh] = await Promise.all(['old', 'pinned', 'read', 'fresh'].map((w) => small.put(bytesOf(`{"w":"${w}"}`))));
    clock.ms += 2 * 3_600_000;
    await small.get(read!.ref); // a read is a use
    assert.deepEqual(await small.put(bytesOf('{"w":"fresh"}')), fresh, 'a put of stored content is a use too');
    assert.deepEqual(await small.sweep(3_600_000, new Set([pinned!.ref])), { removed: 1, bytes: old!.size });
    assert.equal(await small.stat(old!.ref), null);
    for (const kept of [pinned, read, fresh]) assert.ok(await small.stat(kept!.ref), `${kept!.ref} kept`);
    await assert.rejects(small.sweep(-1, new Set()), RangeError);
  });
});

describe('TieredBlobStore', () => {
  it('keeps small blobs in the database and large ones in the folder, under the same refs, whether given whole or streamed', async (t) => {
    const { small, clock } = await harness(t);
    const dir = await mkdtemp(join(tmpdir(), 'city-tiered-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const bulk = new FolderBlobStore(dir, { maxBlobBytes: 1024 * 1024, now: () => clock.ms });
    const blobs = new TieredBlobStore(small, bulk, 4096);
    const grid = bytesOf(JSON.stringify({ elevation_m: Array.from({ length: 2000 }, (_, i) => (i % 13) / 10) }));
    assert.ok(grid.byteLength > 4096);

    const a = await blobs.put(READINGS, { media_type: 'application/json' });
    const b = await blobs.put(grid, { media_type: 'application/json' });
    const c = await blobs.put(chunks(bytesOf('{"streamed":"small"}'), 5));
    const d = await blobs.put(chunks(grid.subarray(0, 6000), 1000));
    assert.ok(await small.stat(a.ref), 'small, whole: database');
    assert.equal(await bulk.stat(a.ref), null);
    assert.ok(await bulk.stat(b.ref), 'large, whole: folder');
    assert.equal(await small.stat(b.ref), null);
    assert.ok(await small.stat(c.ref), 'small, streamed: database');
    assert.ok(await bulk.stat(d.ref), 'large, streamed: folder');
    assert.equal(d.ref, sha256(grid.subarray(0, 6000)), 'the chunks read to choose the tier are not lost');
    assert.deepEqual(await blobs.get(a.ref), READINGS);
    assert.deepEqual(await blobs.get(b.ref), grid);
    assert.deepEqual(await blobs.stat(b.ref), b);

    clock.ms += 2 * 3_600_000;
    assert.deepEqual(await blobs.sweep(3_600_000, new Set([b.ref])), { removed: 3, bytes: a.size + c.size + d.size });
    assert.equal(await blobs.delete(b.ref), true);
    assert.equal(await blobs.get(b.ref), null);
  });
});
