// @pglite-only: the S3 blob store touches no database; it runs against s3rver on loopback.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, utimes } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BlobCorruptError, BlobRefError, BlobTooLargeError, parseRef } from '../../src/compute/blob-store.js';
import { S3BlobStore, S3RequestError, type S3BlobStoreOptions } from '../../src/compute/s3-blob-store.js';
import { signV4 } from '../../src/compute/s3-sigv4.js';
import { S3RVER_CREDENTIALS as CREDENTIALS, startS3rver, type S3rver } from '../helpers/s3rver.js';

const BUCKET = 'city-blobs';
const HOUR_MS = 3_600_000;

const sha256 = (bytes: Uint8Array): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const bytesOf = (text: string): Uint8Array => new TextEncoder().encode(text);

/** A job input: a ward's hourly readings as JSON, some tens of kilobytes. */
const WARD_READINGS = bytesOf(
  JSON.stringify(Array.from({ length: 400 }, (_, i) => ({ zone_id: `chennai-w${String((i % 200) + 1).padStart(3, '0')}`, hour: i % 24, rain_mm: (i * 7) % 31, level_cm: (i * 13) % 97 }))),
);

async function* chunks(bytes: Uint8Array, size: number, seen?: { chunks: number }): AsyncIterable<Uint8Array> {
  for (let i = 0; i < bytes.byteLength; i += size) {
    if (seen) seen.chunks++;
    yield bytes.subarray(i, i + size);
  }
}

let server: S3rver;
let endpoint: string;
let prefixes = 0;

interface Harness {
  store: S3BlobStore;
  clock: { ms: number };
  /** Every request the store sent: `METHOD path[?query]`, `COPY` for a CopyObject. */
  requests: string[];
  /** Runs before each request goes out (to act as another process at a chosen moment). */
  beforeRequest?: (request: string) => Promise<void>;
  prefix: string;
  /** Where s3rver keeps the object of a ref (its LastModified is the file's mtime). */
  objectFile(ref: string): string;
}

/** A store on its own prefix of the shared bucket, so tests do not see each other's blobs. */
function harness(options: Partial<S3BlobStoreOptions> = {}): Harness {
  const prefix = `t${++prefixes}/blobs/`;
  const recording: typeof fetch = async (input, init) => {
    const url = new URL(String(input));
    const headers = (init?.headers ?? {}) as Record<string, string>;
    const request = headers['x-amz-copy-source'] ? `COPY ${url.pathname}` : `${init?.method ?? 'GET'} ${url.pathname}${url.search}`;
    h.requests.push(request);
    await h.beforeRequest?.(request);
    return fetch(input, init);
  };
  const clock = { ms: Date.parse('2025-03-01T09:00:00Z') };
  const store = new S3BlobStore({ endpoint, bucket: BUCKET, prefix, ...CREDENTIALS, maxBlobBytes: 1024 * 1024, now: () => clock.ms, fetch: recording, ...options });
  const h: Harness = { store, clock, requests: [], prefix, objectFile: (ref) => join(server.directory, BUCKET, `${prefix}sha256`, `${parseRef(ref).hex}._S3rver_object`) };
  return h;
}

/** Sets an object's LastModified back, as if it had been stored `hours` ago. */
async function age(h: Harness, ref: string, hours: number): Promise<void> {
  const then = new Date(Date.now() - hours * HOUR_MS);
  await utimes(h.objectFile(ref), then, then);
}

/** A PutObject that does not go through the store: what another writer (or rot) could leave. */
async function rawPut(key: string, body: Uint8Array, extraHeaders: Record<string, string> = {}): Promise<void> {
  const url = new URL(`${endpoint}/${BUCKET}/${key}`);
  const payloadSha256 = createHash('sha256').update(body).digest('hex');
  const { headers } = signV4({ method: 'PUT', url, headers: { ...extraHeaders, 'x-amz-content-sha256': payloadSha256 }, payloadSha256 }, CREDENTIALS, { region: 'us-east-1', service: 's3' }, new Date());
  const res = await fetch(url, { method: 'PUT', headers, body });
  assert.equal(res.status, 200, await res.text());
}

async function objectsUnder(h: Harness): Promise<string[]> {
  return (await readdir(join(server.directory, BUCKET, `${h.prefix}sha256`)).catch(() => [])).filter((f) => f.endsWith('._S3rver_object')).sort();
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

describe('S3BlobStore against s3rver', () => {
  before(async () => {
    server = await startS3rver(BUCKET);
    endpoint = server.endpoint;
  });
  after(() => server?.stop());

  it('round trip: put returns the SHA-256 ref, get the same bytes, stat the size, media type and time', async () => {
    const h = harness();
    const info = await h.store.put(WARD_READINGS, { media_type: 'application/json' });
    const ref = sha256(WARD_READINGS);
    assert.deepEqual(info, { ref, size: WARD_READINGS.byteLength, media_type: 'application/json', created_at: '2025-03-01T09:00:00.000Z' });
    assert.deepEqual(await h.store.get(ref), WARD_READINGS);
    assert.deepEqual(await h.store.stat(ref), info);
    assert.deepEqual(await objectsUnder(h), [`${parseRef(ref).hex}._S3rver_object`], 'one object, under <prefix>sha256/<hex>');
    assert.deepEqual(h.requests, [`HEAD /${BUCKET}/${h.prefix}sha256/${parseRef(ref).hex}`, `PUT /${BUCKET}/${h.prefix}sha256/${parseRef(ref).hex}`, `GET /${BUCKET}/${h.prefix}sha256/${parseRef(ref).hex}`, `HEAD /${BUCKET}/${h.prefix}sha256/${parseRef(ref).hex}`]);

    const streamed = await h.store.put(chunks(bytesOf('streamed in pieces'), 4));
    assert.equal(streamed.ref, sha256(bytesOf('streamed in pieces')));
    assert.equal(streamed.media_type, 'application/octet-stream');
    const empty = await h.store.put(new Uint8Array(0));
    assert.equal(empty.ref, 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    assert.deepEqual(await h.store.get(empty.ref), new Uint8Array(0));
  });

  it('dedup: the same content again returns the same ref, keeps media type and created_at, and is not uploaded again', async () => {
    const h = harness();
    const first = await h.store.put(WARD_READINGS, { media_type: 'application/json' });
    h.clock.ms += 2 * HOUR_MS;
    h.requests.length = 0;
    const second = await h.store.put(chunks(WARD_READINGS, 4096), { media_type: 'text/plain' });
    assert.deepEqual(second, first);
    assert.deepEqual(h.requests.map((r) => r.split(' ')[0]), ['HEAD', 'COPY'], 'no PutObject: only a renewal of its last use');
    // Within the hour, a third put is one HEAD.
    h.requests.length = 0;
    assert.deepEqual(await h.store.put(WARD_READINGS), first);
    assert.deepEqual(h.requests.map((r) => r.split(' ')[0]), ['HEAD']);
    assert.deepEqual(await h.store.stat(first.ref), first, 'the copy onto itself kept the metadata');
  });

  it('refuses a blob over maxBlobBytes, reads a stream no further and sends nothing', async () => {
    const h = harness({ maxBlobBytes: 10_000 });
    await assert.rejects(h.store.put(WARD_READINGS), (err: unknown) => {
      assert.ok(err instanceof BlobTooLargeError);
      assert.equal(err.message, `blob of ${WARD_READINGS.byteLength} bytes is over the limit of 10000 bytes; nothing was stored`);
      return true;
    });
    const seen = { chunks: 0 };
    await assert.rejects(h.store.put(chunks(WARD_READINGS, 4096, seen)), (err: unknown) => {
      assert.ok(err instanceof BlobTooLargeError);
      assert.equal(err.size, 12_288);
      assert.equal(err.streamed, true);
      return true;
    });
    assert.equal(seen.chunks, 3, 'the stream is not read past the limit');
    assert.deepEqual(h.requests, [], 'no request at all');
    assert.deepEqual(await objectsUnder(h), []);
    // Exactly at the limit is allowed.
    assert.equal((await h.store.put(chunks(WARD_READINGS.subarray(0, 10_000), 4096))).size, 10_000);
  });

  it('missing blobs: get and stat give null, delete false; delete removes the object', async () => {
    const h = harness();
    const absent = sha256(bytesOf('never stored'));
    assert.equal(await h.store.get(absent), null);
    assert.equal(await h.store.stat(absent), null);
    assert.equal(await h.store.delete(absent), false);
    const { ref } = await h.store.put(WARD_READINGS);
    assert.equal(await h.store.delete(ref), true);
    assert.equal(await h.store.get(ref), null);
    assert.equal(await h.store.delete(ref), false);
    assert.deepEqual(await objectsUnder(h), []);
  });

  it('refuses bad refs before any request', async () => {
    const h = harness();
    const good = sha256(WARD_READINGS);
    const bad = ['sha256:../../../etc/passwd', `sha256:${'../'.repeat(21)}a`, good.toUpperCase(), good.slice(0, -1), `${good}0`, `${good}\n`, `sha256:${parseRef(good).hex.slice(0, 62)}%2F`, parseRef(good).hex, ''];
    for (const ref of bad) {
      await assert.rejects(h.store.get(ref), BlobRefError, JSON.stringify(ref));
      await assert.rejects(h.store.stat(ref), BlobRefError);
      await assert.rejects(h.store.delete(ref), BlobRefError);
    }
    assert.deepEqual(h.requests, []);
  });

  it('detects an object whose bytes no longer match its ref, and a put of the content repairs it', async () => {
    const h = harness();
    const first = await h.store.put(WARD_READINGS, { media_type: 'application/json' });
    const rotten = Buffer.from(WARD_READINGS);
    rotten[100] = rotten[100]! ^ 0x01; // one flipped bit
    // Rot changes the bytes, not the metadata.
    await rawPut(`${h.prefix}sha256/${parseRef(first.ref).hex}`, rotten, { 'content-type': first.media_type, 'x-amz-meta-created-at': first.created_at });

    await assert.rejects(h.store.get(first.ref), (err: unknown) => {
      assert.ok(err instanceof BlobCorruptError);
      assert.equal(err.ref, first.ref);
      assert.equal(`sha256:${err.actual}`, sha256(rotten));
      assert.match(err.message, new RegExp(`blob ${first.ref} is corrupt: the ${BUCKET}/${h.prefix}sha256/[0-9a-f]{64} bytes hash to .*put the original content again`));
      return true;
    });
    h.clock.ms += HOUR_MS;
    h.requests.length = 0;
    await h.store.put(WARD_READINGS, { media_type: 'text/plain' });
    assert.deepEqual(h.requests.map((r) => r.split(' ')[0]), ['HEAD', 'PUT'], 'the ETag told the stored bytes apart: uploaded again');
    assert.deepEqual(await h.store.get(first.ref), WARD_READINGS);
    const repaired = await h.store.stat(first.ref);
    assert.equal(repaired?.media_type, 'application/json', 'the first put\'s media type survives the repair');
    assert.equal(repaired?.created_at, first.created_at);
  });

  it('a read renews last use by a copy onto itself, at most once an hour', async () => {
    const h = harness();
    const info = await h.store.put(WARD_READINGS, { media_type: 'application/json' });
    h.requests.length = 0;
    await h.store.get(info.ref);
    assert.deepEqual(h.requests.map((r) => r.split(' ')[0]), ['GET'], 'the upload itself was the last renewal');

    h.clock.ms += HOUR_MS;
    h.requests.length = 0;
    await h.store.get(info.ref);
    await h.store.get(info.ref);
    assert.deepEqual(h.requests.map((r) => r.split(' ')[0]), ['GET', 'COPY', 'GET']);
    assert.deepEqual(await h.store.stat(info.ref), info, 'media type and created_at kept by the copy');
  });

  it('sweep removes blobs unused for the age given (plus the renewal hour), keeping pinned ones and other objects', async () => {
    const h = harness({ listPageKeys: 2 });
    h.clock.ms = Date.now(); // the sweep compares with the server's LastModified, which is real time
    const input = await h.store.put(bytesOf('{"job":"flood-model","ward":"chennai-w042"}'), { media_type: 'application/json' });
    const stale = await h.store.put(bytesOf('an old result nobody asked for'));
    const pinnedOld = await h.store.put(bytesOf('the input of a queued job'));
    const withinMargin = await h.store.put(WARD_READINGS);
    const fresh = await h.store.put(bytesOf('written just now'));
    await rawPut(`${h.prefix}sha256/README`, bytesOf('not a blob'));
    for (const ref of [input.ref, stale.ref, pinnedOld.ref]) await age(h, ref, 30);
    // 12.5 h ago: older than 12 h, but LastModified may lag a use by up to the renewal hour.
    await age(h, withinMargin.ref, 12.5);

    h.requests.length = 0;
    const swept = await h.store.sweep(12 * HOUR_MS, new Set([pinnedOld.ref]));
    assert.deepEqual(swept, { removed: 2, bytes: input.size + stale.size });
    assert.ok(h.requests.filter((r) => r.includes('continuation-token=')).length >= 2, `listed in pages of 2: ${h.requests.join(', ')}`);
    assert.equal(await h.store.stat(input.ref), null);
    assert.equal(await h.store.stat(stale.ref), null);
    for (const kept of [pinnedOld, withinMargin, fresh]) assert.deepEqual(await h.store.stat(kept.ref), kept);
    assert.ok((await objectsUnder(h)).includes('README._S3rver_object'), 'an object that is not a blob is left alone');

    // Older than 12 h + 1 h: gone now too, unless pinned.
    await age(h, withinMargin.ref, 13.5);
    assert.deepEqual(await h.store.sweep(12 * HOUR_MS, new Set([pinnedOld.ref])), { removed: 1, bytes: withinMargin.size });
    // Unpinned, the old one goes; the fresh one is within the renewal hour even at age 0.
    assert.deepEqual(await h.store.sweep(0, new Set()), { removed: 1, bytes: pinnedOld.size });
    assert.ok(await h.store.stat(fresh.ref));
    await assert.rejects(h.store.sweep(-1, new Set()), RangeError);
  });

  it('sweep checks each candidate again before deleting it: a blob renewed since the listing stays', async () => {
    const h = harness();
    h.clock.ms = Date.now();
    const renewed = await h.store.put(bytesOf('renewed by another process after the listing'));
    const old = await h.store.put(bytesOf('old and unused'));
    await age(h, renewed.ref, 30);
    await age(h, old.ref, 30);
    h.beforeRequest = async (request) => {
      if (request === `HEAD /${BUCKET}/${h.prefix}sha256/${parseRef(renewed.ref).hex}`) await age(h, renewed.ref, 0);
    };
    assert.deepEqual(await h.store.sweep(12 * HOUR_MS, new Set()), { removed: 1, bytes: old.size });
    assert.ok(await h.store.stat(renewed.ref));
  });

  it('concurrent puts of the same content upload it once and agree on created_at', async () => {
    const h = harness();
    const puts = Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? h.store.put(WARD_READINGS, { media_type: 'application/json' }) : h.store.put(chunks(WARD_READINGS, 777 + i), { media_type: 'application/json' })));
    const infos = await Promise.all(puts);
    assert.equal(new Set(infos.map((i) => i.ref)).size, 1);
    assert.equal(new Set(infos.map((i) => i.created_at)).size, 1);
    assert.equal(h.requests.filter((r) => r.startsWith('PUT ')).length, 1, 'one upload; the others found it with a HEAD');
    assert.deepEqual(await h.store.get(infos[0]!.ref), WARD_READINGS);
  });

  it('service errors name the operation, the key, the status and the S3 error code', async () => {
    const ref = sha256(WARD_READINGS);
    const hex = parseRef(ref).hex;

    const stranger = harness({ accessKeyId: 'NOT-AN-ACCOUNT', secretAccessKey: 'whatever' });
    await assert.rejects(stranger.store.get(ref), (err: unknown) => {
      assert.ok(err instanceof S3RequestError);
      assert.equal(err.status, 403);
      assert.equal(err.code, 'InvalidAccessKeyId');
      assert.equal(err.message, `S3 GetObject of ${BUCKET}/${stranger.prefix}sha256/${hex} at ${endpoint} failed: 403 InvalidAccessKeyId: The AWS Access Key Id you provided does not exist in our records.`);
      return true;
    });
    // HEAD answers have no body: the status is all there is to tell.
    await assert.rejects(stranger.store.put(WARD_READINGS), /S3 HeadObject of city-blobs\/t\d+\/blobs\/sha256\/[0-9a-f]{64} at .* failed: 403 \(no S3 error in the response\)/);

    const noBucket = harness({ bucket: 'no-such-bucket' });
    await assert.rejects(noBucket.store.put(WARD_READINGS), (err: unknown) => {
      assert.ok(err instanceof S3RequestError);
      assert.equal(err.operation, 'PutObject');
      assert.equal(err.status, 404);
      assert.equal(err.code, 'NoSuchBucket');
      return true;
    });
    await assert.rejects(noBucket.store.get(ref), /GetObject .* 404 NoSuchBucket/, 'a missing bucket is not a missing blob');

    const nobody = harness({ endpoint: `http://127.0.0.1:${await closedPort()}` });
    await assert.rejects(nobody.store.stat(ref), (err: unknown) => {
      assert.ok(err instanceof S3RequestError);
      assert.equal(err.status, 0);
      assert.match(err.message, /S3 HeadObject of .* failed: no response/);
      assert.ok(err.cause, 'the network error is the cause');
      return true;
    });
  });

  it('refuses nonsense options, media types and chunks', async () => {
    const h = harness();
    const base = { endpoint, bucket: BUCKET, ...CREDENTIALS, maxBlobBytes: 1024 };
    assert.throws(() => new S3BlobStore({ ...base, maxBlobBytes: 0 }), /maxBlobBytes must be a whole number of bytes ≥ 1, not 0/);
    assert.throws(() => new S3BlobStore({ ...base, bucket: 'Not_A_Bucket' }), /not a valid S3 bucket name/);
    for (const prefix of ['../', 'blobs', 'a//', './', '/blobs/']) assert.throws(() => new S3BlobStore({ ...base, prefix }), /prefix .* is not valid/, prefix);
    assert.throws(() => new S3BlobStore({ ...base, endpoint: 'ftp://127.0.0.1' }), /must be an http\(s\) URL/);
    assert.throws(() => new S3BlobStore({ ...base, secretAccessKey: '' }), /accessKeyId and secretAccessKey are both needed/);
    await assert.rejects(h.store.put(WARD_READINGS, { media_type: '../json' }), /media type "\.\.\/json" is not valid/);
    async function* strings(): AsyncIterable<Uint8Array> {
      yield 'not bytes' as unknown as Uint8Array;
    }
    await assert.rejects(h.store.put(strings()), /must yield Uint8Array chunks, not string/);
    assert.deepEqual(h.requests, []);
  });
});
