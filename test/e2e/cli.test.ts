import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import WebSocket from 'ws';
import { PROJECT_ROOT } from '../../src/node/paths.js';
import { spawnCity } from '../helpers/process.js';
import { testDatabase } from '../helpers/store.js';

const run = promisify(execFile);
const CITY = join(PROJECT_ROOT, 'bin/city.mjs');

test('city --help names the commands and city start --help its options', async () => {
  const { stdout } = await run(process.execPath, [CITY, '--help']);
  assert.match(stdout, /Usage: city/);
  assert.match(stdout, /start\s+\[options\]\s+run a node/);
  const start = await run(process.execPath, [CITY, 'start', '--help']);
  for (const option of ['--data <dir>', '--port <port>', '--mqtt-port <port>', '--zones <file>', '--demo', '--config <file>']) {
    assert.ok(start.stdout.includes(option), `start --help shows ${option}`);
  }
});

test('a bad setting stops the start with a message naming the setting and its source', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'city-cli-'));
  try {
    await assert.rejects(run(process.execPath, [CITY, 'start', '--data', dir], { env: { ...process.env, CITY_HTTP_PORT: '70000' } }), (err: any) => {
      assert.equal(err.code, 1);
      assert.match(err.stderr, /configuration setting http\.port is invalid: .*65535.*environment CITY_HTTP_PORT.*\[CITY_ERR_CONFIG_INVALID\]/);
      return true;
    });
    const file = join(dir, 'city.yaml');
    await writeFile(file, 'http:\n  prot: 8080\n');
    await assert.rejects(run(process.execPath, [CITY, 'start', '--config', file, '--data', dir]), (err: any) => {
      assert.match(err.stderr, /http\.prot is invalid: unknown setting/);
      return true;
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('city start on a fresh data folder answers /healthz and /readyz, then stops cleanly on SIGTERM', { timeout: 120_000 }, async (t) => {
  const db = await testDatabase(t);
  const started = Date.now();
  const node = await spawnCity(['--data', db.dataDir, '--port', '0', '--mqtt-port', '0', '--demo'], { DATABASE_URL: db.databaseUrl });
  t.after(() => void node.child.kill('SIGKILL'));
  const health = await fetch(`${node.url}/healthz`);
  t.diagnostic(`healthz answered ${Date.now() - started} ms after spawn`);
  assert.equal(health.status, 200);
  assert.equal(((await health.json()) as { status: string }).status, 'ok');
  assert.equal((await fetch(`${node.url}/readyz`)).status, 200);
  assert.deepEqual(Object.keys(node.pluginKeys).sort(), [
    'air-quality-monitor-v1',
    'emergency-fleet-tracker',
    'flood-level-monitor-v1',
    'flood_prediction_model',
    'traffic-violation-detector-v2',
    'traffic_monitoring',
  ]);
  const openapi = (await (await fetch(`${node.url}/openapi.json`)).json()) as { paths: Record<string, unknown> };
  for (const path of ['/api/v1/plugin/register', '/webhook/{plugin_id}', '/api/v1/events', '/api/v1/dead-letters', '/api/v1/zones', '/api/v1/rules', '/api/v1/decisions', '/api/v1/state']) {
    assert.ok(openapi.paths[path], `OpenAPI documents ${path}`);
  }
  assert.equal((await fetch(`${node.url}/docs/`)).status, 200, 'the docs page is served');

  // The demo decides: the simulator's events make decisions, visible through the API and live.
  const ws = new WebSocket(`${node.url.replace('http', 'ws')}/api/v1/stream?kinds=decision&token=${node.adminToken}`);
  const live: unknown[] = [];
  ws.on('message', (data) => {
    const m = JSON.parse(String(data)) as { kind: string };
    if (m.kind === 'decision') live.push(m);
  });
  const admin = { authorization: `Bearer ${node.adminToken}` };
  let decisions: Array<{ rule: { kind: string } }> = [];
  for (const deadline = Date.now() + 60_000; Date.now() < deadline && (decisions.length === 0 || live.length === 0); ) {
    await new Promise((r) => setTimeout(r, 500));
    decisions = ((await (await fetch(`${node.url}/api/v1/decisions?limit=50`, { headers: admin })).json()) as { decisions: typeof decisions }).decisions;
  }
  ws.close();
  assert.ok(decisions.length > 0, 'the API lists decisions made from simulated events');
  assert.ok(live.length > 0, 'the live stream delivered decisions');
  node.child.kill('SIGTERM');
  assert.equal(await node.exited, 0);
});
