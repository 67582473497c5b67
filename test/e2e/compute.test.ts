import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { createPublicKey, verify } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { DEFAULT_CONFIG } from '../../src/config/config.js';
import { resultDigest } from '../../src/compute/protocol.js';
import { PROJECT_ROOT } from '../../src/node/paths.js';
import { call, NO_RATE_LIMITS, startTestNode, suiteCleanup, type TestNode } from '../helpers/node.js';
import { relay } from '../helpers/relay.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Issue 7 "Show": a broker (the node) and 3 executor processes (`city executor`) on loopback.
 * A job's result comes back signed and lands in the data store; an executor SIGKILLed mid-job
 * loses it to another; a GPU job with no GPU fails at its deadline saying why; bad references, an
 * over-quota client and a broken WebAssembly module get clear errors; fan-out, cancellation.
 */

const run = promisify(execFile);

interface Executor {
  id: string;
  child: ChildProcess;
  output: () => string;
}

/** A series of `n` minute readings around 40 with one planted spike at `spikeAt`. */
function series(sensor: string, n: number, spikeAt: number): { sensor_id: string; values: number[] } {
  const values = Array.from({ length: n }, (_, i) => 40 + Math.sin(i / 5) * 2 + ((i * 7919) % 13) / 13);
  values[spikeAt] = 95;
  return { sensor_id: sensor, values };
}

/** A flood grid big enough to keep an executor busy for a few seconds. */
function heavyFlood(): Record<string, unknown> {
  const rows = 220;
  const cols = 220;
  const elevation = Array.from({ length: rows * cols }, (_, i) => 5 + ((i % cols) / cols) * 3 + Math.floor(i / cols) / rows);
  return { grid: { rows, cols, elevation_m: elevation, cell_m: 25 }, rainfall_mm_per_h: 60, duration_min: 180 };
}

describe('the compute network: a broker and 3 executor processes', { timeout: 180_000 }, () => {
  const cleanup = suiteCleanup();
  after(() => cleanup.run());
  let node: TestNode;
  const executors = new Map<string, Executor>();

  const startExecutor = async (id: string, brokerUrl = node.url): Promise<Executor> => {
    const issued = await call(node, 'POST', '/api/v1/pool/executors', { headers: node.admin, body: { executor_id: id, name: `test ${id}` } });
    assert.equal(issued.status, 201, JSON.stringify(issued.body));
    const data = await mkdtemp(join(tmpdir(), `city-${id}-`));
    cleanup.after(() => rm(data, { recursive: true, force: true }));
    const child = spawn(process.execPath, [join(PROJECT_ROOT, 'bin/city.mjs'), 'executor', '--broker', brokerUrl, '--key', issued.body.key, '--name', id, '--data', data, '--max-cpu', '1', '--max-memory', '0.5', '--dedicated', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    cleanup.after(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    const e = { id, child, output: () => out };
    executors.set(id, e);
    return e;
  };
  const job = async (jobId: string) => (await call(node, 'GET', `/api/v1/jobs/${jobId}`, { headers: node.admin })).body;
  const submit = async (body: unknown, headers = node.admin) => call(node, 'POST', '/api/v1/jobs', { headers, body });
  const finished = (jobId: string, timeoutMs = 30_000) => waitFor(`job ${jobId} finished`, async () => {
    const j = await job(jobId);
    return ['succeeded', 'failed', 'cancelled'].includes(j.status) ? j : undefined;
  }, timeoutMs);

  before(async () => {
    node = await startTestNode(cleanup, { ...NO_RATE_LIMITS, compute: { ...DEFAULT_CONFIG.compute, maxBlobBytes: 8 * 1024 * 1024, maxOpenJobsPerClient: 4 } });
    await Promise.all(['exec-a', 'exec-b', 'exec-c'].map((id) => startExecutor(id)));
    await waitFor('3 executors registered', async () => {
      const pool = await call(node, 'GET', '/api/v1/pool/devices', { headers: node.admin });
      return pool.body.devices.length === 3 ? true : undefined;
    }, 30_000);
  });

  it('shows the executors and the pooled totals', async () => {
    const pool = (await call(node, 'GET', '/api/v1/pool', { headers: node.admin })).body;
    assert.equal(pool.totals.devices, 3);
    assert.ok(pool.totals.cpu_cores > 0 && pool.totals.memory_mb > 0);
    for (const d of pool.devices) {
      assert.ok(d.resources.cpu.cores >= 1, 'cores read with systeminformation');
      assert.ok(d.resources.memory_mb.total > 0);
      assert.equal(d.limits.max_memory_share, 0.5);
    }
  });

  it('runs a job and returns its signed result, which lands in the data store', async () => {
    const submitted = await submit({ kind: 'anomaly_scoring', input: { series: [series('aq-17', 240, 200)] } });
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const done = await finished(submitted.body.job_id);
    assert.equal(done.status, 'succeeded', done.error);
    const result = await fetch(`${node.url}/api/v1/jobs/${done.job_id}/result`, { headers: node.admin });
    const bytes = Buffer.from(await result.arrayBuffer());
    const output = JSON.parse(bytes.toString('utf8'));
    assert.ok(output.sensors[0].anomalies.some((a: any) => a.index === 200), 'the planted spike is found');
    // The same bytes are in the data store under the result's content address.
    const stored = await fetch(`${node.url}/api/v1/blobs/${done.result_ref}`, { headers: node.admin });
    assert.deepEqual(Buffer.from(await stored.arrayBuffer()), bytes);
    // Signed by the executor that ran it, with the key it registered.
    const [, executorId, signature] = /^ed25519:([^:]+):(.+)$/.exec(done.result_signature)!;
    assert.equal(executorId, done.executor_id);
    const row = await node.store.db.selectFrom('executor_keys').select('public_key').where('executor_id', '=', executorId!).executeTakeFirstOrThrow();
    const jwk = (typeof row.public_key === 'string' ? JSON.parse(row.public_key) : row.public_key) as { kty: 'OKP'; crv: string; x: string };
    assert.ok(verify(null, resultDigest(done.job_id, done.attempts, bytes), createPublicKey({ key: jwk, format: 'jwk' }), Buffer.from(signature!, 'base64')));
  });

  it('moves a job to another executor when the one running it is SIGKILLed', async () => {
    const submitted = await submit({ kind: 'flood_simulation', input: heavyFlood(), timeout_s: 120 });
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const running = await waitFor('the job is running', async () => {
      const j = await job(submitted.body.job_id);
      return j.status === 'running' && j.executor_id ? j : undefined;
    });
    const victim = executors.get(running.executor_id)!;
    victim.child.kill('SIGKILL');
    const killedAt = Date.now();
    const done = await finished(submitted.body.job_id, 60_000);
    assert.equal(done.status, 'succeeded', done.error);
    assert.notEqual(done.executor_id, victim.id);
    assert.equal(done.attempts, 2);
    // Issue 7: "the job completes on another within 20 s" (placed again at once: the socket closed).
    assert.ok(Date.now() - killedAt < 20_000, `completed ${Date.now() - killedAt} ms after the kill`);
    const output = JSON.parse(Buffer.from(await (await fetch(`${node.url}/api/v1/jobs/${done.job_id}/result`, { headers: node.admin })).arrayBuffer()).toString('utf8'));
    assert.ok(output.flooded_cells > 0);
    // Bring the pool back to three for the tests after.
    await startExecutor(`${victim.id}-2`);
    await waitFor('3 executors again', async () => ((await call(node, 'GET', '/api/v1/pool/devices', { headers: node.admin })).body.devices.length === 3 ? true : undefined), 30_000);
  });

  it('lets a job that needs a GPU wait, then fails it at its deadline saying why', async () => {
    const submitted = await submit({ kind: 'anomaly_scoring', input: { series: [series('s', 100, 50)] }, needs: { gpu: true }, deadline_s: 2 });
    assert.equal(submitted.status, 202);
    const waiting = await job(submitted.body.job_id);
    assert.equal(waiting.status, 'queued');
    const done = await finished(submitted.body.job_id, 15_000);
    assert.equal(done.status, 'failed');
    assert.match(done.error, /deadline/);
    assert.match(done.error, /GPU/);
  });

  it('refuses a missing data reference, an unknown kind and bad input with errors that name them', async () => {
    const missing = await submit({ kind: 'anomaly_scoring', input_ref: `sha256:${'a'.repeat(64)}` });
    assert.equal(missing.status, 422);
    assert.match(missing.body.error.message, /input_ref sha256:a+ is not in the data store/);
    const unknown = await submit({ kind: 'mine_bitcoin', input: {} });
    assert.equal(unknown.status, 422);
    assert.match(unknown.body.error.message, /kind mine_bitcoin is not one the executors run/);
    const bad = await submit({ kind: 'route_optimisation', input: { stops: [] } });
    assert.equal(bad.status, 422);
    assert.match(bad.body.error.message, /input for route_optimisation: /);
  });

  it('fails a broken WebAssembly module with the compiler\'s reason', async () => {
    const up = await fetch(`${node.url}/api/v1/blobs`, { method: 'POST', headers: { ...node.admin, 'content-type': 'application/wasm' }, body: Buffer.from('this is not wasm') });
    assert.equal(up.status, 201);
    const { ref } = (await up.json()) as { ref: string };
    const input = await fetch(`${node.url}/api/v1/blobs`, { method: 'POST', headers: { ...node.admin, 'content-type': 'application/octet-stream' }, body: Buffer.from('hello') });
    const { ref: inputRef } = (await input.json()) as { ref: string };
    const submitted = await submit({ wasm_ref: ref, input_ref: inputRef });
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const done = await finished(submitted.body.job_id);
    assert.equal(done.status, 'failed');
    assert.match(done.error, /WebAssembly|wasm/i);
  });

  it('holds a client to its quota of open jobs', async () => {
    // Four GPU jobs wait (no GPU here); the fifth is over the quota of 4.
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await submit({ kind: 'anomaly_scoring', input: { series: [series('q', 80, 40)] }, needs: { gpu: true }, deadline_s: 600 });
      assert.equal(r.status, 202, JSON.stringify(r.body));
      ids.push(r.body.job_id);
    }
    const over = await submit({ kind: 'anomaly_scoring', input: { series: [series('q', 80, 40)] } });
    assert.equal(over.status, 429);
    assert.match(over.body.error.message, /limit of 4 open jobs/);
    for (const id of ids) {
      const cancelled = await call(node, 'POST', `/api/v1/jobs/${id}/cancel`, { headers: node.admin });
      assert.equal(cancelled.body.status, 'cancelled');
    }
  });

  it('fans a job out over several executors and merges the parts', async () => {
    const input = { series: [series('a', 200, 150), series('b', 200, 60), series('c', 200, 20)] };
    const submitted = await submit({ kind: 'anomaly_scoring', input, fan_out: 3 });
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    assert.equal(submitted.body.parts, 3);
    const done = await finished(submitted.body.job_id);
    assert.equal(done.status, 'succeeded', done.error);
    const output = JSON.parse(Buffer.from(await (await fetch(`${node.url}/api/v1/jobs/${done.job_id}/result`, { headers: node.admin })).arrayBuffer()).toString('utf8'));
    assert.deepEqual(output.sensors.map((s: any) => s.sensor_id), ['a', 'b', 'c']);
    const parts = await node.store.db.selectFrom('jobs').select(['executor_id', 'status']).where('parent_job_id', '=', done.job_id).execute();
    assert.equal(parts.length, 3);
    assert.ok(parts.every((p) => p.status === 'succeeded'));
  });

  it('takes jobs over a client WebSocket and answers with their progress and result (seed 003 task_submit → task_result)', async () => {
    const ws = new WebSocket(`${node.url.replace('http', 'ws')}/api/v1/jobs/ws`, { headers: node.admin });
    const inbox: any[] = [];
    ws.on('message', (d) => inbox.push(JSON.parse(String(d))));
    await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
    ws.send(JSON.stringify({ type: 'task_submit', request_id: 'r1', kind: 'anomaly_scoring', input: { series: [series('ws', 120, 90)] } }));
    ws.send(JSON.stringify({ type: 'task_submit', request_id: 'r2', kind: 'anomaly_scoring', needs: { cpu_cores: 'lots' } }));
    const accepted = await waitFor('accepted', async () => inbox.find((m) => m.type === 'task_accepted' && m.request_id === 'r1'));
    const refused = await waitFor('refused', async () => inbox.find((m) => m.type === 'error' && m.request_id === 'r2'));
    assert.match(refused.error.message, /needs.cpu_cores must be a number/);
    const result = await waitFor('result', async () => inbox.find((m) => m.type === 'task_result' && m.job.job_id === accepted.job.job_id), 30_000);
    assert.equal(result.job.status, 'succeeded');
    assert.ok(result.job.result_ref.startsWith('sha256:'));
    ws.close();
  });

  it('city submit --wait uploads the input, follows the job and prints its result', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'city-submit-'));
    cleanup.after(() => rm(dir, { recursive: true, force: true }));
    const inputFile = join(dir, 'input.json');
    await writeFile(inputFile, JSON.stringify({ series: [series('cli', 150, 120)] }));
    const { stdout, stderr } = await run(process.execPath, [join(PROJECT_ROOT, 'bin/city.mjs'), 'submit', '--url', node.url, '--token', node.adminToken!, '--kind', 'anomaly_scoring', '--input', inputFile, '--cpu', '0.5', '--wait']);
    const output = JSON.parse(stdout);
    assert.ok(output.sensors[0].anomalies.some((a: any) => a.index === 120), stdout);
    assert.match(stderr, /succeeded .*100%/, 'the progress line ends at 100%');
  });

  it('shows executors leaving and joining on the live stream; one whose connection drops rejoins by itself', async () => {
    const link = await relay(Number(new URL(node.url).port));
    cleanup.after(() => link.close());
    const stream = new WebSocket(`${node.url.replace('http', 'ws')}/api/v1/stream?kinds=pool`, { headers: node.admin });
    const updates: any[] = [];
    stream.on('message', (d) => updates.push(JSON.parse(String(d))));
    await new Promise<void>((resolve, reject) => stream.once('open', () => resolve()).once('error', reject));
    cleanup.after(() => stream.close());
    const pool = (kind: string, id: string) => updates.find((m) => m.kind === 'pool' && m.update.kind === kind && (m.update.device?.device_id ?? m.update.device_id) === id);
    await startExecutor('exec-r', link.url);
    await waitFor('joined, on the stream', async () => pool('device_joined', 'exec-r'), 30_000);
    link.cut();
    const left = await waitFor('left, on the stream', async () => pool('device_left', 'exec-r'), 20_000);
    assert.match(left.update.reason, /disconnected|heartbeat/);
    updates.length = 0;
    link.restore();
    const back = await waitFor('rejoined by itself', async () => pool('device_joined', 'exec-r'), 30_000);
    assert.ok(back.update.device.resources.cpu.cores >= 1);
  });

  it('cancels a running job: the executor stops it', async () => {
    const submitted = await submit({ kind: 'flood_simulation', input: heavyFlood(), timeout_s: 120 });
    await waitFor('running', async () => ((await job(submitted.body.job_id)).status === 'running' ? true : undefined));
    const cancelled = await call(node, 'POST', `/api/v1/jobs/${submitted.body.job_id}/cancel`, { headers: node.admin });
    assert.equal(cancelled.body.status, 'cancelled');
    // The executor is free again: a small job runs at once.
    const next = await submit({ kind: 'anomaly_scoring', input: { series: [series('z', 100, 10)] } });
    assert.equal((await finished(next.body.job_id)).status, 'succeeded');
  });
});
