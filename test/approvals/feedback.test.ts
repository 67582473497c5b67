import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CHENNAI_ZONES, examplePlugin, seedRegistration } from '../helpers/fixtures.js';
import { startTestNode } from '../helpers/node.js';
import { signIn } from '../helpers/users.js';
import { answer, decideSpeeding, register, WARD } from './helpers.js';

/** Labelled examples for retraining (seed 001 §11.2), exported as JSON lines per plugin. */
test("every approve and reject becomes a labelled example in the plugin's JSONL export; only that plugin's key may read it", async (t) => {
  const node = await startTestNode(t, { zonesFile: CHENNAI_ZONES, mqtt: { enabled: false } });
  const key = await register(node, seedRegistration());
  const otherKey = await register(node, examplePlugin('flood-prediction-model.json'));
  const officer = await signIn(node, { role: 'authority', level: 1, scope: WARD, name: 'officer' });

  const approved = await decideSpeeding(node, key, 'label-1');
  const rejected = await decideSpeeding(node, key, 'label-2', { vehicle_data: { license_plate: 'TN07ZZ9999', vehicle_type: 'bike', speed_kmh: 70 } });
  assert.equal((await answer(node, officer, approved.decision_id, 'approve', 'clear on video')).status, 200);
  assert.equal((await answer(node, officer, rejected.decision_id, 'reject', 'wrong plate read')).status, 200);

  const exportAs = (headers: Record<string, string>, query = '') => fetch(`${node.url}/api/v1/feedback/traffic-violation-detector-v2${query}`, { headers });
  const res = await exportAs({ 'x-api-key': key });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^application\/x-ndjson/);
  const text = await res.text();
  assert.ok(text.endsWith('\n'));
  const lines = text.trimEnd().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 2);
  assert.deepEqual(lines.map((l) => [l.event_id, l.human_decision, l.label_source, l.approver_id, l.notes]), [
    ['label-1', 'approve', 'human', officer.userId, 'clear on video'],
    ['label-2', 'reject', 'human', officer.userId, 'wrong plate read'],
  ]);
  const [first, second] = lines;
  assert.equal(first.plugin_id, 'traffic-violation-detector-v2');
  assert.equal(first.plugin_version, '2.3.1');
  assert.equal(first.decision_id, approved.decision_id);
  assert.equal(first.recommended_action, 'approve_fine');
  assert.equal(first.features.confidence_score, 0.9);
  assert.equal(first.features.violation_type, 'speeding');
  assert.equal(second.features.vehicle_data.speed_kmh, 70);
  // Plates were tokenized at ingest: the export carries no raw personal data.
  assert.match(first.features.vehicle_data.license_plate, /^tok_/);
  assert.ok(!text.includes('TN07ZZ9999') && !text.includes('TN09AB1234'));

  const admin = await exportAs(node.admin, '?limit=1');
  assert.equal((await admin.text()).trimEnd().split('\n').length, 1);
  assert.equal(await (await exportAs(node.admin, '?label_source=fail_safe')).text(), '');
  assert.equal(await (await exportAs(node.admin, `?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).text(), '');

  const foreign = await exportAs({ 'x-api-key': otherKey });
  assert.equal(foreign.status, 403);
  assert.equal(((await foreign.json()) as any).error.code, 'CITY_ERR_AUTH_FORBIDDEN');
  const ownOther = await fetch(`${node.url}/api/v1/feedback/flood_prediction_model`, { headers: { 'x-api-key': otherKey } });
  assert.equal(ownOther.status, 200);
  assert.equal(await ownOther.text(), '');
  assert.equal((await exportAs(officer.headers)).status, 403, 'authorities approve; they do not export training data');
});
