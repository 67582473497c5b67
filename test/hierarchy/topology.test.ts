import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DEMO_RULES_DIR } from '../../src/node/node.js';
import { VERSION } from '../../src/node/paths.js';
import { call, startTestNode, suiteCleanup, type TestNode } from '../helpers/node.js';
import { signIn } from '../helpers/users.js';
import { waitFor } from '../helpers/wait.js';
import { examplePlugin, TEYNAMPET } from '../helpers/fixtures.js';

/**
 * GET /api/v1/topology on a real node. No hierarchy exists yet, so every node is standalone:
 * the route says so (parent null, no children) and still reports what waits for a parent in
 * the outbox — here an escalation queued by the seed's flood rule (seed 001 §3.3).
 */
describe('GET /api/v1/topology', () => {
  let node: TestNode;
  const keys: Record<string, string> = {};
  const suite = suiteCleanup();
  after(() => suite.run());

  before(async () => {
    // The seed's flood rule alone (its escalate action queues a row for the parent node).
    const rulesDir = await mkdtemp(join(tmpdir(), 'city-topology-rules-'));
    suite.after(() => rm(rulesDir, { recursive: true, force: true }));
    await writeFile(join(rulesDir, 'flood.yaml'), await readFile(join(DEMO_RULES_DIR, 'flood-traffic-coordination.yaml'), 'utf8'));
    node = await startTestNode(suite, { rulesDir, nodeId: 'ward-119-node' });
    for (const file of ['flood-prediction-model.json', 'traffic-monitoring.json']) {
      const body = examplePlugin(file);
      const res = await call(node, 'POST', '/api/v1/plugin/register', { headers: node.admin, body });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      keys[body.plugin_manifest.model_id] = res.body.api_key;
    }
  });

  const topology = async (headers: Record<string, string>) => {
    const res = await call(node, 'GET', '/api/v1/topology', { headers });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body;
  };

  /** Undelivered outbox rows, counted straight from the store. */
  const pendingInStore = async () => (await node.store.db.selectFrom('outbox').select('id').where('delivered_at', 'is', null).execute()).length;

  test("the node's own facts, no parent, no children; an operator reads the same", async () => {
    const admin = await topology(node.admin);
    assert.equal(admin.node.node_id, 'ward-119-node');
    assert.equal(admin.node.role, 'local');
    assert.equal(admin.node.version, VERSION);
    assert.equal(admin.node.store, node.store.kind);
    assert.equal(admin.node.status, 'ok');
    // The demo city's zone tree has one root (India): a standalone node holds the whole tree.
    assert.equal(admin.node.zone_id, 'in');
    assert.equal(admin.node.zone_name, 'India');
    const startedAgoMs = Date.now() - Date.parse(admin.node.started_at);
    assert.ok(startedAgoMs >= 0 && startedAgoMs < 60_000, `started ${startedAgoMs} ms ago`);
    assert.equal(admin.parent, null);
    assert.deepEqual(admin.children, []);
    assert.equal(admin.uplink.outbox_pending, await pendingInStore());

    const operator = await signIn(node, { role: 'operator' });
    assert.deepEqual(await topology(operator.headers), admin);
  });

  test('outbox_pending counts an escalation queued for the parent node', async () => {
    const before = (await topology(node.admin)).uplink.outbox_pending;
    const post = (plugin: string, body: unknown) => call(node, 'POST', `/webhook/${plugin}`, { body, headers: { 'x-api-key': keys[plugin]! } });
    const at = { ...TEYNAMPET };
    assert.equal((await post('flood_prediction_model', { event_id: 'topo-flood', timestamp: '2026-11-22T09:00:00Z', location: at, water_level_cm: 42, severity: 'high', confidence_score: 0.9 })).status, 202);
    assert.equal(
      (await post('traffic_monitoring', { event_id: 'topo-traffic', timestamp: '2026-11-22T09:02:00Z', location: at, road_name: 'Anna Salai', congestion_level: 'heavy', average_speed_kmh: 12, severity: 'medium', confidence_score: 0.9 })).status,
      202,
    );
    const escalation = await waitFor('the escalation in the outbox', async () => {
      const messages = (await call(node, 'GET', '/api/v1/outbox?pending=true', { headers: node.admin })).body.messages as any[];
      return messages.find((m) => m.kind === 'escalation');
    });

    const after = await topology(node.admin);
    assert.ok(after.uplink.outbox_pending >= before + 1, `${before} → ${after.uplink.outbox_pending}`);
    assert.equal(after.uplink.outbox_pending, await pendingInStore());
    assert.ok(after.uplink.oldest_pending_at !== null);
    assert.ok(Date.parse(after.uplink.oldest_pending_at) <= Date.parse(escalation.created_at));
  });

  test('a citizen is refused (monitor is for operators, authorities and admins)', async () => {
    const phone = '+919876543210';
    assert.equal((await call(node, 'POST', '/api/v1/auth/otp/request', { body: { phone } })).status, 202);
    const sent = (await call(node, 'GET', `/api/v1/notifications?recipient=${encodeURIComponent(phone)}&limit=1`, { headers: node.admin })).body.notifications[0];
    const code = /\b(\d{6})\b/.exec(sent.body)![1];
    const citizen = await call(node, 'POST', '/api/v1/auth/otp/verify', { body: { phone, code } });
    assert.equal(citizen.status, 200, JSON.stringify(citizen.body));
    const res = await call(node, 'GET', '/api/v1/topology', { headers: { authorization: `Bearer ${citizen.body.access_token}` } });
    assert.equal(res.status, 403);
    assert.equal(res.body.error.code, 'CITY_ERR_AUTH_FORBIDDEN');
    assert.equal((await call(node, 'GET', '/api/v1/topology')).status, 401);
  });
});
