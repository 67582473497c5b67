// @pglite-only: what is shown is where the node puts blobs; the small tier's SQL runs on both stores in db-blob-store.test.ts.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_CONFIG } from '../../src/config/config.js';
import { startTestNode } from '../helpers/node.js';
import { S3RVER_CREDENTIALS, startS3rver, type S3rver } from '../helpers/s3rver.js';

/**
 * The node's data store as configured: small blobs in its database, larger ones in an
 * S3-compatible bucket (s3rver on loopback) when `compute.s3` is set — and a job whose input
 * lives in the bucket runs from it.
 */

const BUCKET = 'city-jobs';
let s3: S3rver;
let endpoint: string;

const hexOf = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

describe('a node with an S3-compatible bulk store', () => {
  before(async () => {
    s3 = await startS3rver(BUCKET);
    endpoint = s3.endpoint;
  });
  after(() => s3?.stop());

  it('keeps small blobs in its database and large ones in the bucket, each under its SHA-256', async (t) => {
    const node = await startTestNode(t, { compute: { ...DEFAULT_CONFIG.compute, smallBlobMaxBytes: 1024, s3: { endpoint, bucket: BUCKET, prefix: 'node-a/', ...S3RVER_CREDENTIALS } } });
    const small = Buffer.from('{"ward":"chennai-w109","level_cm":31}');
    const large = Buffer.from(JSON.stringify({ series: [{ sensor_id: 'w109-aq', values: Array.from({ length: 400 }, (_, i) => 40 + (i % 7)) }] }));
    assert.ok(large.byteLength > 1024);
    const put = async (body: Buffer) => {
      const res = await fetch(`${node.url}/api/v1/blobs`, { method: 'POST', headers: { ...node.admin, 'content-type': 'application/json' }, body });
      assert.equal(res.status, 201, await res.clone().text());
      return ((await res.json()) as { ref: string }).ref;
    };
    const smallRef = await put(small);
    const largeRef = await put(large);
    assert.equal(smallRef, `sha256:${hexOf(small)}`);
    assert.equal(largeRef, `sha256:${hexOf(large)}`);

    const inBucket = await readdir(join(s3.directory, BUCKET, 'node-a', 'sha256')).catch(() => []);
    assert.deepEqual(inBucket.filter((f) => f.endsWith('._S3rver_object')), [`${hexOf(large)}._S3rver_object`], 'only the large blob is an object in the bucket');
    for (const [ref, bytes] of [[smallRef, small], [largeRef, large]] as const) {
      const res = await fetch(`${node.url}/api/v1/blobs/${ref}`, { headers: node.admin });
      assert.equal(res.status, 200);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes);
    }

    // A job reads its input from the bucket: the broker checks it there before accepting the job.
    const job = await fetch(`${node.url}/api/v1/jobs`, { method: 'POST', headers: { ...node.admin, 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'anomaly_scoring', input_ref: largeRef }) });
    assert.equal(job.status, 202, await job.clone().text());
    const missing = await fetch(`${node.url}/api/v1/jobs`, { method: 'POST', headers: { ...node.admin, 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'anomaly_scoring', input_ref: `sha256:${'b'.repeat(64)}` }) });
    assert.equal(missing.status, 422);
  });
});
