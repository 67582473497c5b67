import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createPublicKey, verify } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_CONFIG } from '../../src/config/config.js';
import { resultDigest } from '../../src/compute/protocol.js';
import { PROJECT_ROOT } from '../../src/node/paths.js';
import { call, NO_RATE_LIMITS, startTestNode, suiteCleanup, type TestNode } from '../helpers/node.js';
import { relay } from '../helpers/relay.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Issue 7 §6 and "Show": two brokers and a backhaul between them (seed 000's second broker as an
 * alternative route). Broker A offers its executors to broker B over the backhaul; a client on B
 * runs a job on an executor attached only to A. The backhaul runs through a TCP relay the test
 * controls, so it can be cut and restored without stopping either broker: with it cut, B's own
 * executor still serves B and A's still serves A; restored, B sees A's executors again.
 */

describe('two brokers sharing executors over a backhaul', { timeout: 180_000 }, () => {
  const cleanup = suiteCleanup();
  after(() => cleanup.run());
  let a: TestNode;
  let b: TestNode;
  let link: Awaited<ReturnType<typeof relay>>;

  const executor = async (node: TestNode, id: string): Promise<void> => {
    const issued = await call(node, 'POST', '/api/v1/pool/executors', { headers: node.admin, body: { executor_id: id } });
    assert.equal(issued.status, 201, JSON.stringify(issued.body));
    const data = await mkdtemp(join(tmpdir(), `city-${id}-`));
    cleanup.after(() => rm(data, { recursive: true, force: true }));
    const child = spawn(process.execPath, [join(PROJECT_ROOT, 'bin/city.mjs'), 'executor', '--broker', node.url, '--key', issued.body.key, '--data', data, '--concurrency', '1', '--dedicated', '--log-level', 'warn'], { stdio: 'ignore' });
    cleanup.after(() => void child.kill('SIGKILL'));
    await waitFor(`${id} joined`, async () => ((await call(node, 'GET', '/api/v1/pool/devices', { headers: node.admin })).body.devices.some((d: any) => d.device_id === id) ? true : undefined), 30_000);
  };
  const devices = async (node: TestNode) => (await call(node, 'GET', '/api/v1/pool/devices', { headers: node.admin })).body.devices as Array<{ device_id: string; kind: string }>;
  const submit = async (node: TestNode, job: { kind: string; input: unknown }) => {
    // A tenth of a core: executors are admitted by the machine's measured load, and this machine runs the whole test.
    const submitted = await call(node, 'POST', '/api/v1/jobs', { headers: node.admin, body: { ...job, needs: { cpu_cores: 0.1 } } });
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    return submitted.body.job_id as string;
  };
  const run = (node: TestNode) => submit(node, { kind: 'anomaly_scoring', input: { series: [{ sensor_id: 's0', values: Array.from({ length: 3000 }, (_, i) => Math.sin(i / 7) + (i === 2000 ? 40 : 0)) }] } });
  /**
   * A job that keeps its executor busy for most of a second whatever the machine: a flood over a
   * small grid for twelve simulated hours (its cost is in the steps, not the input), so a second
   * job placed while it runs cannot go to the same single-slot executor.
   */
  const runLong = async (node: TestNode) => {
    const rows = 40;
    const cols = 40;
    const elevation_m = Array.from({ length: rows * cols }, (_, i) => (i % cols) * 0.01 + Math.floor(i / cols) * 0.02);
    return submit(node, { kind: 'flood_simulation', input: { grid: { rows, cols, cell_m: 4, elevation_m }, rainfall_mm_per_h: 50, duration_min: 720 } });
  };
  const finished = async (node: TestNode, jobId: string) => {
    let last: any;
    try {
      return await waitFor(`job ${jobId}`, async () => {
        last = (await call(node, 'GET', `/api/v1/jobs/${jobId}`, { headers: node.admin })).body;
        return ['succeeded', 'failed', 'cancelled'].includes(last.status) ? last : undefined;
      }, 30_000);
    } catch (err) {
      throw new Error(`${(err as Error).message}: last seen ${JSON.stringify(last)}; pool ${JSON.stringify((await call(node, 'GET', '/api/v1/pool', { headers: node.admin })).body)}`);
    }
  };

  before(async () => {
    b = await startTestNode(cleanup, { ...NO_RATE_LIMITS, nodeId: 'broker-b' });
    const key = await call(b, 'POST', '/api/v1/pool/executors', { headers: b.admin, body: { executor_id: 'broker-a', name: 'broker A (backhaul)' } });
    link = await relay(Number(new URL(b.url).port));
    cleanup.after(() => link.close());
    a = await startTestNode(cleanup, { ...NO_RATE_LIMITS, nodeId: 'broker-a', compute: { ...DEFAULT_CONFIG.compute, backhaul: [{ url: link.url, key: key.body.key }] } });
    await executor(a, 'exec-a');
    await waitFor('B sees broker A', async () => ((await devices(b)).some((d) => d.device_id === 'broker-a' && d.kind === 'broker') ? true : undefined), 20_000);
  });

  it('runs a job submitted on B on the executor attached only to A, signed by A', async () => {
    const jobId = await run(b);
    const done = await finished(b, jobId);
    assert.equal(done.status, 'succeeded', done.error);
    assert.equal(done.executor_id, 'broker-a');
    // On A it ran on A's own executor, for B.
    const onA = (await call(a, 'GET', '/api/v1/jobs?limit=5', { headers: a.admin })).body.jobs[0];
    assert.equal(onA.executor_id, 'exec-a');
    assert.match(onA.client_id, /^broker:/);
    // B checked A's signature with the key A registered over the backhaul.
    const bytes = Buffer.from(await (await fetch(`${b.url}/api/v1/jobs/${jobId}/result`, { headers: b.admin })).arrayBuffer());
    const row = await b.store.db.selectFrom('executor_keys').select('public_key').where('executor_id', '=', 'broker-a').executeTakeFirstOrThrow();
    const jwk = (typeof row.public_key === 'string' ? JSON.parse(row.public_key) : row.public_key) as { kty: 'OKP'; crv: string; x: string };
    const signature = /^ed25519:broker-a:(.+)$/.exec(done.result_signature)![1]!;
    assert.ok(verify(null, resultDigest(jobId, done.attempts, bytes), createPublicKey({ key: jwk, format: 'jwk' }), Buffer.from(signature, 'base64')));
    assert.equal(JSON.parse(bytes.toString('utf8')).total_anomalies >= 1, true);
  });

  it('keeps both sides working with the backhaul cut, and shares again when it returns', async () => {
    await executor(b, 'exec-b');
    link.cut();
    await waitFor('B lost broker A', async () => (!(await devices(b)).some((d) => d.device_id === 'broker-a') ? true : undefined), 20_000);
    const onB = await finished(b, await run(b));
    assert.equal(onB.status, 'succeeded', onB.error);
    assert.equal(onB.executor_id, 'exec-b', "B's own executor serves B");
    const onA = await finished(a, await run(a));
    assert.equal(onA.status, 'succeeded', onA.error);
    assert.equal(onA.executor_id, 'exec-a', "A's own executor serves A");
    link.restore();
    await waitFor('B sees broker A again', async () => ((await devices(b)).some((d) => d.device_id === 'broker-a') ? true : undefined), 30_000);
    // Two long jobs at once on B: its own single-slot executor takes one, A's the other.
    const [first, second] = await Promise.all([runLong(b), runLong(b)]);
    const done = [await finished(b, first), await finished(b, second)];
    assert.deepEqual(done.map((j) => j.status), ['succeeded', 'succeeded']);
    assert.deepEqual(done.map((j) => j.executor_id).sort(), ['broker-a', 'exec-b']);
  });
});
