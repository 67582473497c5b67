import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareMatches, planDecision } from '../../src/decisions/plan.js';
import type { RuleMatch } from '../../src/decisions/types.js';
import { DEFAULT_CONFIG } from '../../src/config/config.js';

const CTX = { tenantId: 't', nodeId: 'n', layer: 'LOCAL', nowMs: 10_000, maxAttempts: () => 4, approvals: DEFAULT_CONFIG.approvals };

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

test('without approval, a plan runs internal actions in its transaction, dispatches external ones and fails what nobody can run', () => {
  const plan = planDecision(
    match({
      actions: [
        { type: 'notify_authority', target: 'traffic_officer', priority: 'medium' },
        { type: 'log_event', database: 'violations_db' },
        { type: 'escalate', target: 'district_layer', reason: 'why' },
        { type: 'traffic_reroute', target: 'traffic_control_system', parameters: { close_roads: ['a'] } },
        { type: 'actuate', target: 'fines', requires_approval: true, parameters: { fine_inr: 1000 } },
        { type: 'dance' },
      ],
    }),
    CTX,
  );
  assert.equal(plan.view.approval_status, 'NOT_REQUIRED');
  assert.deepEqual(plan.view.actions.map((a) => [a.type, a.status]), [
    ['notify_authority', 'COMPLETED'], ['log_event', 'COMPLETED'], ['escalate', 'COMPLETED'], ['traffic_reroute', 'PENDING'], ['actuate', 'HELD'], ['dance', 'FAILED'],
  ]);
  assert.deepEqual(plan.view.actions[3]!.parameters, { close_roads: ['a'] });
  assert.deepEqual(plan.view.actions[4]!.parameters, { fine_inr: 1000 });
  assert.match(plan.view.actions[4]!.result!, /no notify_authority action asks anyone/);
  assert.match(plan.view.actions[5]!.result!, /no executor for action type 'dance'/);
  assert.equal(plan.dispatch.length, 1, 'only the PENDING external action goes to the dispatcher now');
  assert.equal(plan.approvals[0]!.status, 'notice');
  assert.equal(plan.timers.length, 0);
  assert.equal(plan.logs[0]!.log_name, 'violations_db');
  assert.equal(plan.outbox[0]!.destination, 'parent');
  assert.equal(JSON.parse(plan.outbox[0]!.payload).target, 'district_layer');
  assert.equal(plan.actions[3]!.max_attempts, 4);
});

test('a decision that needs approval holds every other action, internal ones too, until it is answered', () => {
  const plan = planDecision(
    match({
      actions: [
        { type: 'notify_authority', target: 'traffic_officer', priority: 'medium', requires_approval: true },
        { type: 'log_event', database: 'violations_db' },
        { type: 'escalate', target: 'district_layer', reason: 'why' },
        { type: 'traffic_reroute', target: 'traffic_control_system', parameters: { close_roads: ['a'] } },
        { type: 'dance' },
      ],
      escalationRules: [{ condition: 'no_officer_response_within_30_minutes', action: 'auto_approve_fine' }],
    }),
    CTX,
  );
  assert.equal(plan.view.approval_status, 'PENDING');
  assert.deepEqual(plan.view.actions.map((a) => [a.type, a.status]), [
    ['notify_authority', 'COMPLETED'], ['log_event', 'HELD'], ['escalate', 'HELD'], ['traffic_reroute', 'HELD'], ['dance', 'FAILED'],
  ]);
  // The seed's violations_db entry is the fine record: nothing is written before approval.
  assert.equal(plan.logs.length, 0);
  assert.equal(plan.outbox.length, 0);
  assert.equal(plan.dispatch.length, 0);
  const request = plan.approvals[0]!;
  assert.equal(request.status, 'pending');
  assert.equal(request.level, 1);
  assert.equal(request.approval_type, 'traffic_officer');
  assert.match(plan.view.actions[1]!.result!, new RegExp(`held until approval request ${request.request_id}`));
  // The plugin's own escalation rule sets the deadline (seed §2.2 step 3).
  assert.equal(request.fail_safe_action, 'auto_approve_fine');
  assert.equal(new Date(request.deadline_at!).getTime(), 10_000 + 30 * 60_000);
  assert.equal(JSON.parse(request.summary).recommended_action, 'approve_fine');
  assert.equal(plan.timers.length, 1);
  assert.deepEqual(JSON.parse(plan.timers[0]!.payload), {
    request_id: request.request_id, decision_id: plan.view.decision_id, condition: 'no_officer_response_within_30_minutes', action: 'auto_approve_fine', outcome: 'approve', level: 1,
  });
  assert.equal(plan.actions[1]!.max_attempts, 0, 'internal actions are not retried by the dispatcher');
  assert.equal(plan.actions[3]!.max_attempts, 4);
});

test("without escalation rules, the approval type's level, timeout and fail-safe apply", () => {
  const approvals = {
    defaultType: { level: 1, timeoutMs: 30 * 60_000, failSafe: 'escalate' as const },
    types: { ward_engineer: { level: 2, timeoutMs: 90_000, failSafe: 'auto_reject' as const } },
  };
  const ask = (target: string) =>
    planDecision(match({ actions: [{ type: 'notify_authority', target, requires_approval: true }, { type: 'log_event' }] }), { ...CTX, approvals });
  const typed = ask('ward_engineer');
  assert.equal(typed.approvals[0]!.level, 2);
  assert.equal(typed.approvals[0]!.fail_safe_action, 'auto_reject');
  assert.equal(new Date(typed.approvals[0]!.deadline_at!).getTime(), 10_000 + 90_000);
  assert.deepEqual(JSON.parse(typed.timers[0]!.payload).condition, 'no_L2_response_within_90_seconds');
  assert.equal(JSON.parse(typed.timers[0]!.payload).outcome, 'reject');

  const fallback = ask('somebody_else');
  assert.equal(fallback.approvals[0]!.level, 1);
  assert.equal(fallback.approvals[0]!.approval_type, 'somebody_else');
  assert.equal(fallback.approvals[0]!.fail_safe_action, 'escalate');
  assert.equal(JSON.parse(fallback.timers[0]!.payload).condition, 'no_L1_response_within_30_minutes');
});
