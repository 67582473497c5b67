import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { DEMO_RULES_DIR } from '../../src/node/node.js';
import { call, restartableNode, startTestNode, suiteCleanup } from '../helpers/node.js';
import { signIn } from '../helpers/users.js';
import { waitFor } from '../helpers/wait.js';
import { recorder } from '../helpers/recorder.js';
import { finesNodeConfig } from '../approvals/helpers.js';
import { CHENNAI_ZONES, examplePlugin, seedRegistration, speedingEvent, TEYNAMPET } from '../helpers/fixtures.js';

const SEED_FLOOD_RULE = join(DEMO_RULES_DIR, 'flood-traffic-coordination.yaml');


/** A point `metres` north of Teynampet (1° of latitude ≈ 111.2 km). */
function north(metres: number): { latitude: number; longitude: number } {
  return { latitude: TEYNAMPET.latitude + metres / 111_195, longitude: TEYNAMPET.longitude };
}

function floodWarning(at: string, location: { latitude: number; longitude: number }, waterLevelCm: number, eventId: string) {
  return { event_id: eventId, timestamp: at, location, water_level_cm: waterLevelCm, severity: 'high', confidence_score: 0.9 };
}

function trafficStatus(at: string, location: { latitude: number; longitude: number }, eventId: string) {
  return { event_id: eventId, timestamp: at, location, road_name: 'Anna Salai', congestion_level: 'heavy', average_speed_kmh: 12, severity: 'medium', confidence_score: 0.9 };
}

/** An actuator that always answers 503, counting the calls it got. */
async function failingActuator(): Promise<{ url: string; calls: () => number; close(): Promise<void> }> {
  let calls = 0;
  const server: Server = createServer((req, res) => {
    calls++;
    req.resume();
    res.writeHead(503, { 'content-type': 'text/plain' }).end('signal controller offline');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/commands`, calls: () => calls, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe('decisions on a Local Brain', () => {
  let node: Awaited<ReturnType<typeof startTestNode>>;
  let actuator: Awaited<ReturnType<typeof failingActuator>>;
  let rulesDir: string;
  const keys: Record<string, string> = {};
  const suite = suiteCleanup();
  after(() => suite.run());

  const post = (plugin: string, body: unknown) => call(node, 'POST', `/webhook/${plugin}`, { body, headers: { 'x-api-key': keys[plugin]! } });
  const decisionsFor = async (eventId: string) => (await call(node, 'GET', `/api/v1/decisions?event_id=${encodeURIComponent(eventId)}`, { headers: node.admin })).body.decisions as any[];

  before(async () => {
    actuator = await failingActuator();
    suite.after(() => actuator.close());
    rulesDir = await mkdtemp(join(tmpdir(), 'city-rules-'));
    suite.after(() => rm(rulesDir, { recursive: true, force: true }));
    await writeFile(join(rulesDir, 'flood.yaml'), await import('node:fs/promises').then((fs) => fs.readFile(SEED_FLOOD_RULE, 'utf8')));
    node = await startTestNode(suite, {
      zonesFile: CHENNAI_ZONES,
      rulesDir,
      actions: {
        retryBaseDelayMs: 10,
        retryMaxDelayMs: 50,
        targets: { traffic_control_system: { kind: 'webhook', url: actuator.url, max_attempts: 3, timeout_ms: 2000 } },
      },
    });
    for (const body of [seedRegistration(), examplePlugin('flood-prediction-model.json'), examplePlugin('traffic-monitoring.json')]) {
      const res = await call(node, 'POST', '/api/v1/plugin/register', { headers: node.admin, body });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      keys[body.plugin_manifest.model_id] = res.body.api_key;
    }
  });

  test('seed traffic example: speeding, high, 0.9 → a decision with notify_authority (approval) and log_event, written once an officer approves', async () => {
    const res = await post('traffic-violation-detector-v2', speedingEvent({ event_id: 'speed-0.9' }));
    assert.equal(res.status, 202);
    const [decision] = await waitFor('the decision', async () => {
      const d = await decisionsFor('speed-0.9');
      return d.length > 0 && d;
    });
    assert.equal(decision.event_id, 'speed-0.9');
    assert.equal(decision.deciding_layer, 'LOCAL');
    assert.equal(decision.deciding_brain_id, node.config.nodeId);
    assert.equal(decision.approval_status, 'PENDING');
    assert.equal(decision.rule.kind, 'action_trigger');
    assert.equal(decision.rule.name, 'speeding_detected');
    assert.equal(decision.zone_id, 'chennai-w119');
    // The violations_db entry is the fine record: it waits (HELD) for the officer's approval.
    assert.deepEqual(decision.actions.map((a: any) => [a.type, a.status]), [['notify_authority', 'COMPLETED'], ['log_event', 'HELD']]);
    // The rationale names the rule, the condition and the values it read.
    assert.equal(decision.rationale.conditions[0].source, "severity >= 'medium' AND confidence_score > 0.85");
    assert.deepEqual(decision.rationale.conditions[0].values, { severity: 'high', confidence_score: 0.9, violation_type: 'speeding' });
    assert.equal(decision.rationale.matched_events[0].event_id, 'speed-0.9');

    // notify_authority stored an approval request with its 30-minute fail-safe.
    const full = (await call(node, 'GET', `/api/v1/decisions/${decision.decision_id}`, { headers: node.admin })).body;
    assert.equal(full.approval_requests.length, 1);
    const request = full.approval_requests[0];
    assert.equal(request.target_authority, 'traffic_officer');
    assert.equal(request.status, 'pending');
    assert.equal(request.fail_safe_action, 'auto_approve_fine');
    const deadlineIn = new Date(request.deadline_at).getTime() - decision.decision_time_ms;
    assert.ok(Math.abs(deadlineIn - 30 * 60_000) < 1000, `deadline ${deadlineIn} ms after the decision`);
    const logged = async () => (await call(node, 'GET', '/api/v1/logs/violations_db', { headers: node.admin })).body.entries.some((e: any) => e.decision_id === decision.decision_id && e.event_id === 'speed-0.9');
    assert.equal(await logged(), false, 'nothing is logged before approval');
    // An officer of the ward approves (seed §8.2 step 5): log_event writes to the named log.
    const officer = await signIn(node, { role: 'authority', level: 1, scope: 'chennai-w119' });
    const approved = await call(node, 'POST', '/api/v1/authority/approve-decision', { headers: officer.headers, body: { decision_id: decision.decision_id, action: 'approve', notes: 'Violation confirmed from video evidence' } });
    assert.equal(approved.status, 200, JSON.stringify(approved.body));
    assert.equal(await logged(), true);
  });

  test('seed traffic example: confidence 0.8 → no decision', async () => {
    const res = await post('traffic-violation-detector-v2', speedingEvent({ event_id: 'speed-0.8', confidence_score: 0.8 }));
    assert.equal(res.status, 202);
    // A later event that does decide proves the 0.8 one has been through the brain.
    await post('traffic-violation-detector-v2', speedingEvent({ event_id: 'speed-0.8-witness' }));
    await waitFor('the witness decision', async () => (await decisionsFor('speed-0.8-witness')).length > 0);
    assert.deepEqual(await decisionsFor('speed-0.8'), []);
  });

  test('flood_traffic_coordination fires for flood then traffic, and for traffic then flood', async () => {
    await post('flood_prediction_model', floodWarning('2026-11-22T09:00:00Z', north(0), 42, 'flood-a'));
    await post('traffic_monitoring', trafficStatus('2026-11-22T09:02:00Z', north(300), 'traffic-a'));
    const [first] = await waitFor('flood → traffic', async () => {
      const d = await decisionsFor('flood-a');
      return d.length > 0 && d;
    });
    assert.equal(first.rule.name, 'flood_traffic_coordination');
    assert.equal(first.rule.kind, 'correlation');
    assert.deepEqual(first.event_ids, ['flood-a', 'traffic-a']);
    assert.deepEqual(first.actions.map((a: any) => a.type), ['traffic_reroute', 'escalate']);
    assert.equal(first.actions[1].status, 'COMPLETED');
    assert.match(first.actions[1].result, /outbox/);

    await post('traffic_monitoring', trafficStatus('2026-11-22T10:00:00Z', north(0), 'traffic-b'));
    await post('flood_prediction_model', floodWarning('2026-11-22T10:04:00Z', north(-250), 55, 'flood-b'));
    const [second] = await waitFor('traffic → flood', async () => {
      const d = await decisionsFor('flood-b');
      return d.length > 0 && d;
    });
    assert.deepEqual(second.event_ids, ['flood-b', 'traffic-b']);

    // The escalation waits in the outbox for the parent node.
    const outbox = (await call(node, 'GET', '/api/v1/outbox?pending=true', { headers: node.admin })).body.messages;
    assert.ok(outbox.some((m: any) => m.kind === 'escalation' && m.payload.incident_id === second.decision_id && m.payload.target === 'district_layer'));
  });

  test('flood_traffic_coordination does not fire outside 5 minutes, beyond 500 m, or at 20 cm', async () => {
    await post('flood_prediction_model', floodWarning('2026-11-22T11:00:00Z', north(0), 42, 'flood-late'));
    await post('traffic_monitoring', trafficStatus('2026-11-22T11:06:00Z', north(100), 'traffic-late'));
    await post('flood_prediction_model', floodWarning('2026-11-22T12:00:00Z', north(0), 42, 'flood-far'));
    await post('traffic_monitoring', trafficStatus('2026-11-22T12:01:00Z', north(700), 'traffic-far'));
    await post('flood_prediction_model', floodWarning('2026-11-22T13:00:00Z', north(0), 20, 'flood-shallow'));
    await post('traffic_monitoring', trafficStatus('2026-11-22T13:01:00Z', north(100), 'traffic-shallow'));
    // A positive case sent after them proves they were all examined.
    await post('flood_prediction_model', floodWarning('2026-11-22T14:00:00Z', north(0), 80, 'flood-witness'));
    await post('traffic_monitoring', trafficStatus('2026-11-22T14:00:30Z', north(50), 'traffic-witness'));
    await waitFor('the witness correlation', async () => (await decisionsFor('flood-witness')).length > 0);
    for (const id of ['flood-late', 'flood-far', 'flood-shallow']) assert.deepEqual(await decisionsFor(id), [], id);
  });

  test('an actuator webhook that keeps failing is retried and the action ends FAILED with the reason', async () => {
    const [decision] = await decisionsFor('flood-a');
    const reroute = decision.actions.find((a: any) => a.type === 'traffic_reroute');
    const failed = await waitFor('the failed action', async () => {
      const full = (await call(node, 'GET', `/api/v1/decisions/${decision.decision_id}`, { headers: node.admin })).body;
      const a = full.actions.find((x: any) => x.action_id === reroute.action_id);
      return a.status === 'FAILED' && a;
    });
    assert.equal(failed.attempts, 3);
    assert.match(failed.result, /failed after 3 attempts/);
    assert.match(failed.last_error, /503/);
    assert.equal(failed.attempts_log.length, 3);
    assert.ok(failed.attempts_log.every((t: any) => t.ok === false && /503/.test(t.detail)));
    assert.ok(actuator.calls() >= 3);
    const listed = (await call(node, 'GET', '/api/v1/actions?status=FAILED', { headers: node.admin })).body.actions;
    assert.ok(listed.some((a: any) => a.action_id === reroute.action_id));
  });

  test('the live stream delivers new decisions, filtered by zone', async () => {
    const ws = new WebSocket(`${node.url.replace('http', 'ws')}/api/v1/stream?kinds=decision&zone=chennai-z09&token=${node.adminToken}`);
    const messages: any[] = [];
    ws.on('message', (data) => messages.push(JSON.parse(String(data))));
    await waitFor('hello', async () => messages.some((m) => m.kind === 'hello'));
    await post('traffic-violation-detector-v2', speedingEvent({ event_id: 'speed-live' }));
    const got = await waitFor('the live decision', async () => messages.find((m) => m.kind === 'decision' && m.decision.event_id === 'speed-live'));
    assert.equal(got.decision.zone_id, 'chennai-w119');
    ws.close();
  });

  test('rules change through the API without a restart; a bad rule is refused with its line and reason', async () => {
    const bad = await call(node, 'POST', '/api/v1/rules', {
      raw: 'count_rule:\n  name: too_many\n  event_type: violation_event\n  count: 2\n  time_window: 5 lightyears\n  actions: [{ type: log_event }]\n',
      contentType: 'application/yaml',
      headers: node.admin,
    });
    assert.equal(bad.status, 422);
    assert.equal(bad.body.error.code, 'CITY_ERR_RULE_INVALID');
    assert.match(bad.body.error.message, /line 5/);

    const created = await call(node, 'POST', '/api/v1/rules', {
      raw: 'count_rule:\n  name: two_speeders\n  event_type: violation_event\n  count: 2\n  time_window: 5_minutes\n  location_radius: 200_meters\n  actions: [{ type: log_event, database: pairs }]\n',
      contentType: 'application/yaml',
      headers: node.admin,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    await post('traffic-violation-detector-v2', [speedingEvent({ event_id: 'pair-1', timestamp: '2026-11-22T15:00:00Z' }), speedingEvent({ event_id: 'pair-2', timestamp: '2026-11-22T15:01:00Z' })]);
    const [pair] = await waitFor('the count decision', async () => {
      const d = (await decisionsFor('pair-2')).filter((x) => x.rule.name === 'two_speeders');
      return d.length > 0 && d;
    });
    assert.deepEqual([...pair.event_ids].sort(), ['pair-1', 'pair-2']);

    const listed = (await call(node, 'GET', '/api/v1/rules', { headers: node.admin })).body;
    assert.ok(listed.rules.some((r: any) => r.name === 'flood_traffic_coordination' && r.origin.file === 'flood.yaml'));
    assert.ok(listed.action_triggers.some((r: any) => r.trigger === 'speeding_detected'));
    assert.equal((await call(node, 'DELETE', '/api/v1/rules/two_speeders', { headers: node.admin })).status, 204);
    assert.equal((await call(node, 'DELETE', '/api/v1/rules/flood_traffic_coordination', { headers: node.admin })).status, 422);
  });

  test('the rules folder is watched: a new file applies without a restart, a bad one is refused with its line', async () => {
    const rules = async () => (await call(node, 'GET', '/api/v1/rules', { headers: node.admin })).body;
    await writeFile(join(rulesDir, 'hotspot.yaml'), 'count_rule:\n  name: folder_pairs\n  event_type: violation_event\n  count: 2\n  time_window: 1_minutes\n  actions: [{ type: log_event }]\n');
    await waitFor('the new rule', async () => (await rules()).rules.some((r: any) => r.name === 'folder_pairs' && r.origin.file === 'hotspot.yaml'));
    await writeFile(join(rulesDir, 'broken.yaml'), 'absence_rule:\n  name: broken\n  trigger: { event_type: a }\n  expect: { event_type: b }\n  time_window: soon\n  actions: [{ type: log_event }]\n');
    const listed = await waitFor('the refusal', async () => {
      const body = await rules();
      return body.file_errors.length > 0 && body;
    });
    assert.equal(listed.file_errors[0].file, 'broken.yaml');
    assert.match(listed.file_errors[0].message, /line 5/);
    assert.ok(!listed.rules.some((r: any) => r.name === 'broken'));
    await rm(join(rulesDir, 'hotspot.yaml'));
    await waitFor('the removed rule', async () => !(await rules()).rules.some((r: any) => r.name === 'folder_pairs'));
  });
});

describe('fail-safe timers', () => {
  test('an escalation rule becomes a durable timer: it fires after a restart, auto-approves and releases the held action', async (t) => {
    const fines = await recorder('/fines', 'fine issued');
    t.after(() => fines.close());
    const received = fines.received;
    const { start } = await restartableNode(t, finesNodeConfig(fines));
    // The seed's definition with a short deadline and a fine that waits for approval.
    const registration = seedRegistration();
    registration.action_definitions[0].escalation_rules = [{ condition: 'no_officer_response_within_3_seconds', action: 'auto_approve_fine' }];
    registration.action_definitions[0].actions.push({ type: 'actuate', target: 'fines_system', requires_approval: true, parameters: { fine_inr: 1000 } });

    let decisionId: string;
    const first = await start();
    try {
      const admin = { authorization: `Bearer ${first.adminToken}` };
      const reg = await call(first, 'POST', '/api/v1/plugin/register', { headers: admin, body: registration });
      assert.equal(reg.status, 201, JSON.stringify(reg.body));
      await call(first, 'POST', '/webhook/traffic-violation-detector-v2', { headers: { 'x-api-key': reg.body.api_key }, body: speedingEvent({ event_id: 'fine-me' }) });
      const [decision] = await waitFor('the decision', async () => {
        const d = (await call(first, 'GET', '/api/v1/decisions?event_id=fine-me', { headers: admin })).body.decisions;
        return d.length > 0 && d;
      });
      decisionId = decision.decision_id;
      assert.equal(decision.approval_status, 'PENDING');
      assert.deepEqual(decision.actions.map((a: any) => [a.type, a.status]), [['notify_authority', 'COMPLETED'], ['log_event', 'HELD'], ['actuate', 'HELD']]);
    } finally {
      await first.close(); // before the deadline: the timer lives only in the store now
    }
    assert.equal(received.length, 0, 'nothing was sent while the decision waited for approval');

    const second = await start();
    try {
      const admin = { authorization: `Bearer ${second.adminToken}` };
      const decided = await waitFor('the fail-safe', async () => {
        const d = (await call(second, 'GET', `/api/v1/decisions/${decisionId!}`, { headers: admin })).body;
        return d.approval_status === 'AUTO_APPROVED' && d.actions[2].status === 'COMPLETED' && d;
      });
      assert.equal(decided.approver_id, 'fail-safe');
      assert.equal(decided.approval_requests[0].status, 'auto_approved');
      assert.match(decided.approval_requests[0].notes, /no officer response within 3 seconds → auto_approve_fine/);
      // The auto-approval wrote the fine record too, in its own transaction.
      assert.equal(decided.actions[1].status, 'COMPLETED');
      const log = (await call(second, 'GET', '/api/v1/logs/violations_db', { headers: admin })).body;
      assert.ok(log.entries.some((e: any) => e.decision_id === decisionId!));
      assert.match(decided.actions[2].result, /HTTP 200/);
      assert.equal(received.length, 1);
      assert.deepEqual((received[0] as any).parameters, { fine_inr: 1000 });
    } finally {
      await second.close();
    }
  });
});

describe('restart', () => {
  test('windows rebuilt after a restart still correlate an event that arrived before it', async (t) => {
    const { start } = await restartableNode(t, { zonesFile: CHENNAI_ZONES, rulesDir: DEMO_RULES_DIR, mqtt: { enabled: false } });
    const keys: Record<string, string> = {};

    const first = await start();
    try {
      const admin = { authorization: `Bearer ${first.adminToken}` };
      for (const file of ['flood-prediction-model.json', 'traffic-monitoring.json']) {
        const res = await call(first, 'POST', '/api/v1/plugin/register', { headers: admin, body: examplePlugin(file) });
        keys[res.body.plugin.model_id] = res.body.api_key;
      }
      const now = Date.now();
      const res = await call(first, 'POST', '/webhook/flood_prediction_model', {
        headers: { 'x-api-key': keys.flood_prediction_model! },
        body: floodWarning(new Date(now).toISOString(), north(0), 60, 'flood-before-restart'),
      });
      assert.equal(res.status, 202);
    } finally {
      await first.close();
    }

    const second = await start();
    try {
      const admin = { authorization: `Bearer ${second.adminToken}` };
      const res = await call(second, 'POST', '/webhook/traffic_monitoring', {
        headers: { 'x-api-key': keys.traffic_monitoring! },
        body: trafficStatus(new Date(Date.now()).toISOString(), north(200), 'traffic-after-restart'),
      });
      assert.equal(res.status, 202);
      const [decision] = await waitFor('the correlation across the restart', async () => {
        const d = (await call(second, 'GET', '/api/v1/decisions?event_id=flood-before-restart', { headers: admin })).body.decisions;
        return d.length > 0 && d;
      });
      assert.equal(decision.rule.name, 'flood_traffic_coordination');
      assert.deepEqual(decision.event_ids, ['flood-before-restart', 'traffic-after-restart']);
    } finally {
      await second.close();
    }
  });
});
