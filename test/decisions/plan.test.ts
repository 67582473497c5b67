import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareMatches, planDecision } from '../../src/decisions/plan.js';
import type { RuleMatch } from '../../src/decisions/types.js';

function match(over: Partial<RuleMatch> & { tsMs?: number } = {}): RuleMatch {
  const tsMs = over.tsMs ?? 1_000;
  const event = { eventId: 'e1', pluginId: 'p', pluginVersion: '1', eventType: 'violation_event', severity: 'high', confidence: 0.9, tsMs, receivedAtMs: tsMs, zoneId: 'z', lat: 13, lng: 80, role: 'trigger' };
  return {
    kind: 'action_trigger', ruleId: 'r', ruleName: 'r', rulePriority: 0, dedupKey: 'k', triggerEventId: 'e1', events: [event], conditions: [],
    severity: 'high', zoneId: 'z', lat: 13, lng: 80, actions: [], escalationRules: [], explanation: 'x', matchedAtMs: tsMs,
    ...over,
  };
}

test('simultaneous matches are ordered by severity, then rule priority, then age', () => {
  const matches = [
    match({ ruleId: 'medium-old', severity: 'medium', tsMs: 1 }),
    match({ ruleId: 'high-low-priority-new', severity: 'high', rulePriority: 0, tsMs: 9 }),
    match({ ruleId: 'critical', severity: 'critical', tsMs: 5 }),
    match({ ruleId: 'high-low-priority-old', severity: 'high', rulePriority: 0, tsMs: 2 }),
    match({ ruleId: 'high-priority', severity: 'high', rulePriority: 10, tsMs: 8 }),
    match({ ruleId: 'no-severity', severity: null, tsMs: 0 }),
  ];
  assert.deepEqual(matches.sort(compareMatches).map((m) => m.ruleId), [
    'critical', 'high-priority', 'high-low-priority-old', 'high-low-priority-new', 'medium-old', 'no-severity',
  ]);
});

test('a plan runs internal actions in its transaction, holds what needs approval and fails what nobody can run', () => {
  const plan = planDecision(
    match({
      actions: [
        { type: 'notify_authority', target: 'traffic_officer', priority: 'medium', requires_approval: true },
        { type: 'log_event', database: 'violations_db' },
        { type: 'escalate', target: 'district_layer', reason: 'why' },
        { type: 'traffic_reroute', target: 'traffic_control_system', parameters: { close_roads: ['a'] } },
        { type: 'actuate', target: 'fines', requires_approval: true, parameters: { fine_inr: 1000 } },
        { type: 'dance' },
      ],
      escalationRules: [{ condition: 'no_officer_response_within_30_minutes', action: 'auto_approve_fine' }],
    }),
    { tenantId: 't', nodeId: 'n', layer: 'LOCAL', nowMs: 10_000, maxAttempts: () => 4 },
  );
  assert.equal(plan.view.approval_status, 'PENDING');
  assert.deepEqual(plan.view.actions.map((a) => [a.type, a.status]), [
    ['notify_authority', 'COMPLETED'], ['log_event', 'COMPLETED'], ['escalate', 'COMPLETED'], ['traffic_reroute', 'PENDING'], ['actuate', 'HELD'], ['dance', 'FAILED'],
  ]);
  assert.deepEqual(plan.view.actions[3]!.parameters, { close_roads: ['a'] });
  assert.deepEqual(plan.view.actions[4]!.parameters, { fine_inr: 1000 });
  assert.match(plan.view.actions[5]!.result!, /no executor for action type 'dance'/);
  assert.equal(plan.dispatch.length, 1, 'only the PENDING external action goes to the dispatcher now');
  assert.equal(plan.approvals.length, 1);
  assert.equal(plan.approvals[0]!.fail_safe_action, 'auto_approve_fine');
  assert.equal(new Date(plan.approvals[0]!.deadline_at!).getTime(), 10_000 + 30 * 60_000);
  assert.equal(plan.timers.length, 1);
  assert.equal(plan.logs[0]!.log_name, 'violations_db');
  assert.equal(plan.outbox[0]!.destination, 'parent');
  assert.equal(JSON.parse(plan.outbox[0]!.payload).target, 'district_layer');
  assert.equal(plan.actions[3]!.max_attempts, 4);
});
