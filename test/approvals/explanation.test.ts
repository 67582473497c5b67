import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CHENNAI_ZONES, seedRegistration } from '../helpers/fixtures.js';
import { call, startTestNode } from '../helpers/node.js';
import { signIn } from '../helpers/users.js';
import { answer, decideSpeeding, register, WARD } from './helpers.js';

/** The right to explanation (seed 001 §13.2) for the seed's own traffic example, approved by an officer. */
test('an approved speeding decision explains its event, rule, the values that matched and who approved it', async (t) => {
  const node = await startTestNode(t, { zonesFile: CHENNAI_ZONES, mqtt: { enabled: false } });
  const key = await register(node, seedRegistration()); // seed §2.2, unchanged
  const officer = await signIn(node, { role: 'authority', level: 1, scope: WARD, name: 'officer' });
  const d = await decideSpeeding(node, key, 'explain-1');
  const approved = await answer(node, officer, d.decision_id, 'approve', 'Violation confirmed from video evidence');
  assert.equal(approved.status, 200, JSON.stringify(approved.body));

  // Anyone who may monitor the ward may ask why: here an operator of the ward.
  const operator = await signIn(node, { role: 'operator', scope: WARD, name: 'operator' });
  const res = await call(node, 'GET', `/api/v1/decisions/${d.decision_id}/explanation`, { headers: operator.headers });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const x = res.body;

  assert.equal(x.decision.decision_id, d.decision_id);
  assert.equal(x.decision.approval_status, 'APPROVED');
  assert.equal(x.decision.deciding_layer, 'LOCAL');
  assert.deepEqual(x.events.map((e: any) => [e.event_id, e.plugin_id, e.event_type, e.zone_id]), [['explain-1', 'traffic-violation-detector-v2', 'violation_event', WARD]]);
  assert.equal(x.events[0].payload.vehicle_data.speed_kmh, 85);

  assert.equal(x.rule.kind, 'action_trigger');
  assert.equal(x.rule.trigger, 'speeding_detected');
  assert.equal(x.rule.condition, "severity >= 'medium' AND confidence_score > 0.85");
  assert.deepEqual(x.conditions[0].text, [
    "severity = 'high' >= 'medium'",
    'confidence_score = 0.9 > 0.85',
    "violation_type = 'speeding' (implied by the trigger name speeding_detected)",
  ]);
  assert.ok(x.conditions[0].comparisons.every((c: any) => c.holds === true));

  assert.deepEqual(x.actions.map((a: any) => [a.type, a.status]), [['notify_authority', 'COMPLETED'], ['log_event', 'COMPLETED']]);
  assert.equal(x.approval.status, 'approved');
  assert.equal(x.approval.approval_type, 'traffic_officer');
  assert.equal(x.approval.escalations, 0);
  assert.equal(x.approval.approved_by, officer.userId);
  assert.ok(Date.parse(x.approval.approved_at) > 0);
  assert.equal(x.approval.notes, 'Violation confirmed from video evidence');
  assert.deepEqual(
    x.approval.history.map((h: any) => [h.actor_id, h.actor_level, h.action, h.notes]),
    [[officer.userId, 1, 'approve', 'Violation confirmed from video evidence']],
  );

  assert.match(x.narrative, /decided on event explain-1 \(violation_event from traffic-violation-detector-v2 in chennai-w119/);
  assert.match(x.narrative, /Rule speeding_detected \(action trigger\) matched because severity = 'high' >= 'medium' and confidence_score = 0\.9 > 0\.85/);
  assert.match(x.narrative, new RegExp(`${officer.userId} \\(L1\\) approved it with the note "Violation confirmed from video evidence"`));
  assert.match(x.narrative, /log_event: completed \(logged to violations_db\)/);

  const missing = await call(node, 'GET', '/api/v1/decisions/nope/explanation', { headers: node.admin });
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error.code, 'CITY_ERR_DECISION_NOT_FOUND');
});
