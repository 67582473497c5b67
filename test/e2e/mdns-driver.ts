/**
 * Run by test/e2e/mdns.test.ts inside a network namespace of its own (never on the host network):
 * a node announcing its broker over mDNS, and `city executor` started with no --broker, which must
 * find it and join. Prints one JSON line with what happened; exits 0 when the executor joined.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { DEFAULT_CONFIG, type Config } from '../../src/config/config.js';
import { startNode } from '../../src/node/node.js';
import { PROJECT_ROOT } from '../../src/node/paths.js';

const dataDir = await mkdtemp(join(tmpdir(), 'city-mdns-'));
const config: Config = {
  ...DEFAULT_CONFIG,
  dataDir,
  logLevel: 'silent',
  nodeId: 'broker-mdns',
  http: { ...DEFAULT_CONFIG.http, port: 0 },
  mqtt: { ...DEFAULT_CONFIG.mqtt, enabled: false },
  compute: { ...DEFAULT_CONFIG.compute, mdns: true },
};
const node = await startNode(config, pino({ level: 'silent' }));
let out = '';
let code = 1;
try {
  const issued = await (await fetch(`${node.url}/api/v1/pool/executors`, { method: 'POST', headers: { authorization: `Bearer ${node.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ executor_id: 'exec-mdns' }) })).json() as { key: string };
  const env = { ...process.env };
  delete env.CITY_BROKER_URL;
  const executor = spawn(process.execPath, [join(PROJECT_ROOT, 'bin/city.mjs'), 'executor', '--key', issued.key, '--data', join(dataDir, 'executor'), '--log-level', 'warn'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  executor.stdout.on('data', (d: Buffer) => (out += d.toString()));
  executor.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 30_000;
  let devices: Array<{ device_id: string }> = [];
  while (Date.now() < deadline) {
    devices = ((await (await fetch(`${node.url}/api/v1/pool/devices`, { headers: { authorization: `Bearer ${node.adminToken}` } })).json()) as { devices: Array<{ device_id: string }> }).devices;
    if (devices.length > 0) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  executor.kill('SIGTERM');
  code = devices.some((d) => d.device_id === 'exec-mdns') ? 0 : 1;
  process.stdout.write(`${JSON.stringify({ joined: code === 0, devices: devices.map((d) => d.device_id), executor_output: out, broker_url: node.url })}\n`);
} finally {
  await node.close();
  await rm(dataDir, { recursive: true, force: true });
}
process.exit(code);
