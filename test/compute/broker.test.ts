import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import { DEFERRED_WRITE_MS } from '../../src/compute/job-writer.js';
import { resultDigest, type BrokerMessage, type ResourceInfo } from '../../src/compute/protocol.js';
import { DEFAULT_CONFIG } from '../../src/config/config.js';
import { call, NO_RATE_LIMITS, restartableNode, startTestNode, type TestNode } from '../helpers/node.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The broker on the node's own store (PGlite and PostgreSQL): the job table survives a restart,
 * and the executor protocol as an executor speaks it — here a protocol client in the test, so
 * it can send what a real executor would not: a duplicate, a late result, a forged signature.
 */

const RESOURCES: ResourceInfo = { cpu: { model: 'test', cores: 4, usage_percent: 10 }, memory_mb: { total: 8192, available: 6000 }, storage_mb: { total: 100_000, available: 50_000 }, gpu: null };

/** One executor connection speaking seed 003's protocol. */
async function protocolExecutor(node: TestNode, id: string, givenKey?: string): Promise<{ key: string; ws: WebSocket; inbox: BrokerMessage[]; result(jobId: string, attempt: number, output: Buffer, forged?: boolean): void; close(): void }> {
  let key = givenKey;
  if (key === undefined) {
    const issued = await call(node, 'POST', '/api/v1/pool/executors', { headers: node.admin, body: { executor_id: id } });
    assert.equal(issued.status, 201, JSON.stringify(issued.body));
    key = issued.body.key as string;
  }
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const other = generateKeyPairSync('ed25519');
  const ws = new WebSocket(`${node.url.replace('http', 'ws')}/api/v1/pool/ws`, { headers: { authorization: `Bearer ${key}` } });
  const inbox: BrokerMessage[] = [];
  ws.on('message', (d) => inbox.push(JSON.parse(String(d)) as BrokerMessage));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const jwk = publicKey.export({ format: 'jwk' });
  ws.send(JSON.stringify({ type: 'register', name: id, platform: 'test', resources: RESOURCES, limits: { max_cpu_share: 1, max_memory_share: 1, max_storage_share: 1 }, public_key: jwk, concurrency: 4, version: 'test' }));
  await waitFor(`${id} registered or refused`, async () => inbox.find((m) => m.type === 'registered' || m.type === 'error'));
  return {
    key,
    ws,
    inbox,
    result: (jobId, attempt, output, forged = false) =>
      ws.send(JSON.stringify({ type: 'task_result', job_id: jobId, attempt, ok: true, output_b64: output.toString('base64'), media_type: 'application/json', signature_b64: sign(null, resultDigest(jobId, attempt, output), forged ? other.privateKey : privateKey).toString('base64'), cpu_ms: 1, wall_ms: 1 })),
    close: () => ws.close(),
  };
}

const INPUT = { series: [{ sensor_id: 's', values: [1, 2, 3, 2, 1, 2, 3, 2, 1, 2] }] };

describe('the broker', () => {
  it('takes a result once: a duplicate or late one is ignored, a forged one never stored', async (t) => {
    const node = await startTestNode(t, NO_RATE_LIMITS);
    const exec = await protocolExecutor(node, 'proto-1');
    t.after(() => exec.close());
    const submitted = await call(node, 'POST', '/api/v1/jobs', { headers: node.admin, body: { kind: 'anomaly_scoring', input: INPUT, max_attempts: 2 } });
    assert.equal(submitted.status, 202);
    const assign = await waitFor('assigned', async () => exec.inbox.find((m): m is Extract<BrokerMessage, { type: 'task_assign' }> => m.type === 'task_assign' && m.job_id === submitted.body.job_id));
    assert.deepEqual(JSON.parse(Buffer.from(assign.input_b64, 'base64').toString('utf8')), INPUT, 'the input came from the data store');
    // A forged signature: not stored, the job is placed again (attempt 2).
    exec.result(assign.job_id, 1, Buffer.from('{"forged":true}'), true);
    const second = await waitFor('assigned again', async () => exec.inbox.find((m): m is Extract<BrokerMessage, { type: 'task_assign' }> => m.type === 'task_assign' && m.job_id === assign.job_id && m.attempt === 2));
    // The real result, then the same again, then one for the old attempt.
    const output = Buffer.from('{"sensors":[],"total_anomalies":0}');
    exec.result(second.job_id, 2, output);
    const done = await waitFor('succeeded', async () => {
      const j = (await call(node, 'GET', `/api/v1/jobs/${assign.job_id}`, { headers: node.admin })).body;
      return j.status === 'succeeded' ? j : undefined;
    });
    exec.result(second.job_id, 2, Buffer.from('{"duplicate":true}'));
    exec.result(second.job_id, 1, Buffer.from('{"late":true}'));
    await waitFor('both ignored', async () => (node.broker.staleResults >= 2 ? true : undefined));
    const stored = await fetch(`${node.url}/api/v1/jobs/${done.job_id}/result`, { headers: node.admin });
    assert.equal(await stored.text(), output.toString());
    assert.equal(done.attempts, 2);
  });

  it('tells watchers of each change once it is committed, in order, and of each outcome exactly once — even when results beat their assignment\'s commit; an assignment is written only if its job outlasts DEFERRED_WRITE_MS', async (t) => {
    const node = await startTestNode(t, NO_RATE_LIMITS);
    const exec = await protocolExecutor(node, 'proto-fast');
    t.after(() => exec.close());
    const seen = new Map<string, string[]>();
    const stop = node.broker.onUpdate((u) => {
      if (u.kind === 'job') seen.set(u.job.job_id, [...(seen.get(u.job.job_id) ?? []), u.job.status]);
    });
    t.after(stop);
    // This executor answers most assignments the moment they arrive, as a fast one does, and
    // those of sensor s0 … s4 only after the deferred assignment write is due.
    const slow = new Set<string>();
    exec.ws.on('message', (d) => {
      const m = JSON.parse(String(d)) as BrokerMessage;
      if (m.type !== 'task_assign') return;
      const answer = () => exec.result(m.job_id, m.attempt, Buffer.from(`{"job":"${m.job_id}"}`));
      if (/"s[0-4]"/.test(Buffer.from(m.input_b64, 'base64').toString('utf8'))) {
        slow.add(m.job_id);
        setTimeout(answer, DEFERRED_WRITE_MS + 300);
      } else answer();
    });
    const ids = await Promise.all(
      Array.from({ length: 30 }, async (_, i) => {
        const r = await call(node, 'POST', '/api/v1/jobs', { headers: node.admin, body: { kind: 'anomaly_scoring', input: { series: [{ sensor_id: `s${i}`, values: [1] }] } } });
        assert.equal(r.status, 202);
        return r.body.job_id as string;
      }),
    );
    await waitFor('every job succeeded', async () => (ids.every((id) => seen.get(id)?.includes('succeeded')) ? true : undefined));
    for (const id of ids) {
      const statuses = seen.get(id)!;
      assert.equal(statuses.filter((s) => s === 'succeeded').length, 1, `${id}: ${statuses.join(' → ')}`);
      assert.equal(statuses.at(-1), 'succeeded', `${id}: nothing after the outcome (${statuses.join(' → ')})`);
      const distinct = [...new Set(statuses)];
      if (slow.has(id)) assert.deepEqual(distinct, ['queued', 'running', 'succeeded'], `${id}: ${statuses.join(' → ')}`);
      else assert.ok(['queued → succeeded', 'queued → running → succeeded'].includes(distinct.join(' → ')), `${id}: ${statuses.join(' → ')}`);
      // What watchers were told is what the store holds.
      const stored = (await call(node, 'GET', `/api/v1/jobs/${id}`, { headers: node.admin })).body;
      assert.equal(stored.status, 'succeeded');
    }
  });

  it('takes a job from an executor that stops heartbeating and gives it to another; after its last attempt the job fails saying why', async (t) => {
    const node = await startTestNode(t, { ...NO_RATE_LIMITS, compute: { ...DEFAULT_CONFIG.compute, heartbeatTimeoutMs: 1_000 } });
    const silent = await protocolExecutor(node, 'proto-silent');
    t.after(() => silent.close());
    const submitted = await call(node, 'POST', '/api/v1/jobs', { headers: node.admin, body: { kind: 'anomaly_scoring', input: INPUT, max_attempts: 2 } });
    assert.equal(submitted.status, 202);
    const jobId = submitted.body.job_id as string;
    await waitFor('given to the first executor', async () => silent.inbox.find((m) => m.type === 'task_assign' && m.job_id === jobId));
    // A second executor that keeps heartbeating (a protocol client sends nothing by itself).
    const alive = await protocolExecutor(node, 'proto-alive');
    t.after(() => alive.close());
    const beating = setInterval(() => alive.ws.send(JSON.stringify({ type: 'heartbeat' })), 200);
    t.after(() => clearInterval(beating));
    const closed = new Promise<number>((resolve) => silent.ws.once('close', (code) => resolve(code)));
    const second = (await waitFor('given to the executor still alive', async () => alive.inbox.find((m) => m.type === 'task_assign' && m.job_id === jobId), 10_000)) as Extract<BrokerMessage, { type: 'task_assign' }>;
    assert.equal(second.attempt, 2);
    assert.equal(await closed, 4002, 'the silent executor was dropped for missing heartbeats');
    // The second one falls silent too: no attempts left.
    clearInterval(beating);
    const failed = await waitFor('failed', async () => {
      const j = (await call(node, 'GET', `/api/v1/jobs/${jobId}`, { headers: node.admin })).body;
      return j.status === 'failed' ? j : undefined;
    }, 10_000);
    assert.match(failed.error, /executor proto-alive was lost \(no heartbeat for \d+ s\) on attempt 2 of 2; no attempts left/);
  });

  it('refuses an input_ref that is not JSON for a task kind with a 422 naming it', async (t) => {
    const node = await startTestNode(t, NO_RATE_LIMITS);
    const upload = await fetch(`${node.url}/api/v1/blobs`, { method: 'POST', headers: { ...node.admin, 'content-type': 'application/octet-stream' }, body: Buffer.from([0xff, 0x00, 0x7b]) });
    const { ref } = (await upload.json()) as { ref: string };
    const submitted = await call(node, 'POST', '/api/v1/jobs', { headers: node.admin, body: { kind: 'anomaly_scoring', input_ref: ref } });
    assert.equal(submitted.status, 422, JSON.stringify(submitted.body));
    assert.match(submitted.body.error.message, new RegExp(`input_ref ${ref} for anomaly_scoring is not JSON`));
  });

  it('keeps its job table across a restart: a running job is queued again, a waiting one still waits', async (t) => {
    const setup = await restartableNode(t, NO_RATE_LIMITS);
    let node = await setup.start();
    let running: string;
    let waiting: string;
    try {
      const exec = await protocolExecutor(node, 'proto-2');
      running = (await call(node, 'POST', '/api/v1/jobs', { headers: node.admin, body: { kind: 'anomaly_scoring', input: INPUT } })).body.job_id;
      waiting = (await call(node, 'POST', '/api/v1/jobs', { headers: node.admin, body: { kind: 'anomaly_scoring', input: INPUT, needs: { gpu: true }, deadline_s: 3600 } })).body.job_id;
      await waitFor('running', async () => ((await call(node, 'GET', `/api/v1/jobs/${running}`, { headers: node.admin })).body.status === 'running' ? true : undefined));
      exec.close();
    } finally {
      await node.close();
    }
    node = await setup.start();
    try {
      const r = (await call(node, 'GET', `/api/v1/jobs/${running}`, { headers: node.admin })).body;
      assert.equal(r.status, 'queued', 'its executor is gone with the old broker: queued again');
      assert.equal(r.attempts, 1);
      const w = (await call(node, 'GET', `/api/v1/jobs/${waiting}`, { headers: node.admin })).body;
      assert.equal(w.status, 'queued');
      // An executor joining the new broker takes the queued job (attempt 2).
      const exec = await protocolExecutor(node, 'proto-3');
      const assign = await waitFor('re-assigned', async () => exec.inbox.find((m) => m.type === 'task_assign' && m.job_id === running));
      assert.equal((assign as Extract<BrokerMessage, { type: 'task_assign' }>).attempt, 2);
      exec.close();
    } finally {
      await node.close();
    }
  });

  it('refuses a second registration with another signing key', async (t) => {
    const node = await startTestNode(t, NO_RATE_LIMITS);
    const first = await protocolExecutor(node, 'proto-4');
    assert.ok(first.inbox.some((m) => m.type === 'registered'));
    first.close();
    const listed = await call(node, 'GET', '/api/v1/pool/executors', { headers: node.admin });
    assert.equal(listed.body.executors[0].has_public_key, true);
    // The same executor key on another machine (another signing key): refused, saying why.
    const second = await protocolExecutor(node, 'proto-4', first.key);
    const refusal = second.inbox.find((m) => m.type === 'error') as Extract<BrokerMessage, { type: 'error' }> | undefined;
    assert.match(refusal?.error.message ?? '', /registered with another signing key/);
    await waitFor('closed', async () => (second.ws.readyState === WebSocket.CLOSED ? true : undefined));
  });
});
