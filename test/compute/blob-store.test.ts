import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { BlobCorruptError, BlobRefError, BlobTooLargeError, FolderBlobStore, parseRef } from '../../src/compute/blob-store.js';

const sha256 = (bytes: Uint8Array): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const bytesOf = (text: string): Uint8Array => new TextEncoder().encode(text);

/** A job input: a ward's hourly readings as JSON, some tens of kilobytes. */
const WARD_READINGS = bytesOf(
  JSON.stringify(Array.from({ length: 400 }, (_, i) => ({ zone_id: `chennai-w${String((i % 200) + 1).padStart(3, '0')}`, hour: i % 24, rain_mm: (i * 7) % 31, level_cm: (i * 13) % 97 }))),
);

interface Harness {
  dir: string;
  store: FolderBlobStore;
  clock: { ms: number };
}

async function harness(t: TestContext, maxBlobBytes = 1024 * 1024): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'city-blobs-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const clock = { ms: Date.parse('2025-03-01T09:00:00Z') };
  return { dir, clock, store: new FolderBlobStore(dir, { maxBlobBytes, now: () => clock.ms }) };
}

/** Every file under dir, relative, sorted. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

async function* chunks(bytes: Uint8Array, size: number, seen?: { chunks: number }): AsyncIterable<Uint8Array> {
  for (let i = 0; i < bytes.byteLength; i += size) {
    if (seen) seen.chunks++;
    yield bytes.subarray(i, i + size);
  }
}

describe('FolderBlobStore', () => {
  it('round trip: put returns the SHA-256 ref, get the same bytes, stat the size, media type and time', async (t) => {
    const { dir, store } = await harness(t);
    const info = await store.put(WARD_READINGS, { media_type: 'application/json' });
    const ref = sha256(WARD_READINGS);
    assert.deepEqual(info, { ref, size: WARD_READINGS.byteLength, media_type: 'application/json', created_at: '2025-03-01T09:00:00.000Z' });
    assert.deepEqual(await store.get(ref), WARD_READINGS);
    assert.deepEqual(await store.stat(ref), info);

    const hex = parseRef(ref).hex;
    assert.deepEqual(await filesUnder(dir), [`sha256/${hex.slice(0, 2)}/${hex.slice(2)}`, `sha256/${hex.slice(0, 2)}/${hex.slice(2)}.json`]);
    assert.deepEqual(await readFile(join(dir, 'sha256', hex.slice(0, 2), hex.slice(2))), Buffer.from(WARD_READINGS));
  });

  it('a streamed put gives the ref of the whole, and an empty blob is a blob', async (t) => {
    const { store } = await harness(t);
    const info = await store.put(chunks(WARD_READINGS, 1000));
    assert.equal(info.ref, sha256(WARD_READINGS));
    assert.equal(info.media_type, 'application/octet-stream');
    assert.deepEqual(await store.get(info.ref), WARD_READINGS);

    const empty = await store.put(new Uint8Array(0));
    assert.equal(empty.ref, 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    assert.deepEqual(await store.get(empty.ref), new Uint8Array(0));
  });

  it('dedup: a second put of the same content returns the same ref and keeps the first media type and time', async (t) => {
    const { dir, store, clock } = await harness(t);
    const first = await store.put(WARD_READINGS, { media_type: 'application/json' });
    clock.ms += 3_600_000;
    const second = await store.put(chunks(WARD_READINGS, 4096), { media_type: 'text/plain' });
    assert.deepEqual(second, first);
    assert.equal((await filesUnder(dir)).length, 2, 'one blob and its sidecar, no temp files');
  });

  it('detects a corrupted file on read, and a put of the content repairs it', async (t) => {
    const { dir, store } = await harness(t);
    const { ref } = await store.put(WARD_READINGS);
    const hex = parseRef(ref).hex;
    const path = join(dir, 'sha256', hex.slice(0, 2), hex.slice(2));
    const rotten = Buffer.from(WARD_READINGS);
    rotten[100] = rotten[100]! ^ 0x01; // one flipped bit
    await writeFile(path, rotten);

    await assert.rejects(store.get(ref), (err: unknown) => {
      assert.ok(err instanceof BlobCorruptError);
      assert.equal(err.ref, ref);
      assert.equal(`sha256:${err.actual}`, sha256(rotten));
      assert.match(err.message, new RegExp(`blob ${ref} is corrupt.*put the original content again`));
      return true;
    });
    await store.put(WARD_READINGS);
    assert.deepEqual(await store.get(ref), WARD_READINGS);
  });

  it('refuses a blob over maxBlobBytes with its size and the limit, and leaves nothing behind', async (t) => {
    const { dir, store } = await harness(t, 10_000);
    await assert.rejects(store.put(WARD_READINGS), (err: unknown) => {
      assert.ok(err instanceof BlobTooLargeError);
      assert.equal(err.message, `blob of ${WARD_READINGS.byteLength} bytes is over the limit of 10000 bytes; nothing was stored`);
      return true;
    });
    const seen = { chunks: 0 };
    await assert.rejects(store.put(chunks(WARD_READINGS, 4096, seen)), (err: unknown) => {
      assert.ok(err instanceof BlobTooLargeError);
      assert.equal(err.size, 12_288);
      assert.equal(err.message, 'blob of more than 10000 bytes is over the limit of 10000 bytes (refused after 12288 bytes of the stream); nothing was stored');
      return true;
    });
    assert.equal(seen.chunks, 3, 'the stream is not read past the limit');
    assert.deepEqual(await filesUnder(dir), [], 'no blob, no sidecar, no temp file');
    // Exactly at the limit is allowed.
    const fits = WARD_READINGS.subarray(0, 10_000);
    assert.equal((await store.put(fits)).size, 10_000);
  });

  it('refuses bad refs before touching the disk', async (t) => {
    const { store } = await harness(t);
    const good = sha256(WARD_READINGS);
    const bad = [
      'sha256:../../../etc/passwd',
      `sha256:${'../'.repeat(21)}a`,
      good.toUpperCase(),
      `sha256:${parseRef(good).hex.toUpperCase()}`,
      good.slice(0, -1),
      `${good}0`,
      `${good}\n`,
      `md5:${parseRef(good).hex.slice(0, 32)}`,
      parseRef(good).hex,
      '',
    ];
    for (const ref of bad) {
      assert.throws(() => parseRef(ref), BlobRefError, JSON.stringify(ref));
      await assert.rejects(store.get(ref), BlobRefError);
      await assert.rejects(store.stat(ref), BlobRefError);
      await assert.rejects(store.delete(ref), BlobRefError);
    }
    assert.throws(() => parseRef('sha256:../x'), /blob ref "sha256:\.\.\/x" is not valid: a ref is "sha256:" and 64 lower-case hex digits/);
    assert.deepEqual(parseRef(good), { algorithm: 'sha256', hex: good.slice(7) });
  });

  it('missing blobs: get and stat give null, delete false; delete removes blob and sidecar', async (t) => {
    const { dir, store } = await harness(t);
    const absent = sha256(bytesOf('never stored'));
    assert.equal(await store.get(absent), null);
    assert.equal(await store.stat(absent), null);
    assert.equal(await store.delete(absent), false);
    const { ref } = await store.put(WARD_READINGS);
    assert.equal(await store.delete(ref), true);
    assert.equal(await store.get(ref), null);
    assert.deepEqual(await filesUnder(dir), []);
  });

  it('sweep removes blobs not used for the age given, keeping pinned ones and ones read since', async (t) => {
    const { store, clock } = await harness(t);
    const input = await store.put(bytesOf('{"job":"flood-model","ward":"chennai-w042"}'), { media_type: 'application/json' });
    const result = await store.put(WARD_READINGS, { media_type: 'application/json' });
    const stale = await store.put(bytesOf('an old result nobody asked for'));
    const pinnedOld = await store.put(bytesOf('the input of a queued job'));

    clock.ms += 20 * 3_600_000;
    await store.get(result.ref); // read 4 h before the sweep: used recently
    clock.ms += 4 * 3_600_000;
    const fresh = await store.put(bytesOf('written just now'));

    const swept = await store.sweep(12 * 3_600_000, new Set([pinnedOld.ref]));
    assert.deepEqual(swept, { removed: 2, bytes: input.size + stale.size });
    assert.equal(await store.stat(input.ref), null);
    assert.equal(await store.stat(stale.ref), null);
    assert.ok(await store.get(result.ref));
    assert.ok(await store.get(pinnedOld.ref));
    assert.ok(await store.get(fresh.ref));

    // A put of content already stored counts as a use too.
    clock.ms += 24 * 3_600_000;
    await store.put(WARD_READINGS);
    assert.deepEqual(await store.sweep(12 * 3_600_000, new Set()), { removed: 2, bytes: pinnedOld.size + fresh.size });
    assert.ok(await store.stat(result.ref));
    await assert.rejects(store.sweep(-1, new Set()), RangeError);
  });

  it('concurrent puts of the same content all return one ref and leave one blob', async (t) => {
    const { dir, store } = await harness(t);
    const puts = Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? store.put(WARD_READINGS, { media_type: 'application/json' }) : store.put(chunks(WARD_READINGS, 777 + i), { media_type: 'application/json' })));
    const infos = await Promise.all(puts);
    assert.equal(new Set(infos.map((i) => i.ref)).size, 1);
    assert.equal(new Set(infos.map((i) => i.created_at)).size, 1);
    assert.deepEqual(await store.get(infos[0]!.ref), WARD_READINGS);
    assert.equal((await filesUnder(dir)).length, 2, 'one blob and its sidecar, no temp file left');
    // And a second store object on the same folder (another process) sees it.
    const other = new FolderBlobStore(dir, { maxBlobBytes: 1024 * 1024 });
    assert.deepEqual(await other.get(infos[0]!.ref), WARD_READINGS);
  });

  it('refuses a nonsense limit, media type or chunk', async (t) => {
    const { dir, store } = await harness(t);
    assert.throws(() => new FolderBlobStore(dir, { maxBlobBytes: 0 }), /maxBlobBytes must be a whole number of bytes ≥ 1, not 0/);
    await assert.rejects(store.put(WARD_READINGS, { media_type: '../json' }), /media type "\.\.\/json" is not valid/);
    async function* strings(): AsyncIterable<Uint8Array> {
      yield 'not bytes' as unknown as Uint8Array;
    }
    await assert.rejects(store.put(strings()), /must yield Uint8Array chunks, not string/);
    assert.deepEqual(await filesUnder(dir), []);
  });
});
