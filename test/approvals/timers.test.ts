import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import type { ApprovalsConfig } from '../../src/approvals/types.js';
import { DecisionWriter } from '../../src/decisions/decision-writer.js';
import { FailSafeTimers, type FailSafeFired } from '../../src/decisions/timers.js';
import type { RuleMatch } from '../../src/decisions/types.js';
import { openTestStore } from '../helpers/store.js';
import { AuditLog } from '../../src/auth/audit.js';
import { DEFAULT_CONFIG } from '../../src/config/config.js';

const log = pino({ level: 'silent' });
const TENANT = 'default';

/** A match whose notify_authority asks `target` for approval, with no escalation rule of its own. */
function match(target: string, eventId: string, nowMs: number): RuleMatch {
  const event = { eventId, pluginId: 'p', pluginVersion: '1', eventType: 'violation_event', severity: 'high', confidence: 0.9, tsMs: nowMs, receivedAtMs: nowMs, zoneId: 'z', lat: 13, lng: 80, role: 'trigger' };
  return {
    kind: 'action_trigger', ruleId: 'plugin:p@1#0', ruleName: 'speeding_detected', rulePriority: 0, dedupKey: `k-${eventId}`, triggerEventId: eventId, events: [event],
    conditions: [{ role: 'trigger', source: 'confidence_score > 0.85', values: { confidence_score: 0.9 } }],
    severity: 'high', zoneId: 'z', lat: 13, lng: 80,
    actions: [{ type: 'notify_authority', target, requires_approval: true }, { type: 'log_event', database: 'violations_db' }],
    escalationRules: [], explanation: 'speeding', matchedAtMs: nowMs,
  };
}

test("the approval type's fail-safe escalates level by level with a fresh timer, and beyond L5 to the parent node", async (t) => {
  // The store closes before its database is dropped (after hooks run in the order they were added).
  const store = await openTestStore(t);
  let clock = Date.parse('2026-11-22T08:30:00Z');
  const now = () => clock;
  const approvals: ApprovalsConfig = {
    defaultType: { level: 1, timeoutMs: 30 * 60_000, failSafe: 'escalate' },
    types: { state_director: { level: 4, timeoutMs: 60_000, failSafe: 'escalate' } },
  };
  const writer = new DecisionWriter({ store, context: { tenantId: TENANT, nodeId: 'n1', layer: 'LOCAL', maxAttempts: () => 3, approvals }, onDecided: () => {}, log, now });
  const fired: FailSafeFired[] = [];
  const timers = new FailSafeTimers({ db: store.db, tenantId: TENANT, nodeId: 'n1', log, approvals, audit: new AuditLog(store.db, TENANT, log), onFired: (f) => fired.push(f), now });
  t.after(() => timers.close());

  writer.submit([match('state_director', 'e1', clock)]);
  await writer.idle();
  const request = () => store.db.selectFrom('approval_requests').selectAll().where('status', '!=', 'notice').executeTakeFirstOrThrow();
  assert.equal((await request()).level, 4);

  clock += 30_000;
  await timers.fireDue();
  assert.equal(fired.length, 0, 'not due yet');

  clock += 30_000;
  await timers.fireDue();
  assert.equal(fired.length, 1);
  assert.equal((await request()).level, 5);
  assert.equal((await request()).status, 'pending');
  assert.equal(fired[0]!.transition.timerAtMs, clock + 60_000, "the new level has the type's timeout");

  clock += 60_000;
  await timers.fireDue();
  assert.equal(fired.length, 2);
  const last = await request();
  assert.equal(last.status, 'escalated');
  assert.equal(last.resolved_by, 'fail-safe');
  const decision = await store.db.selectFrom('decisions').selectAll().executeTakeFirstOrThrow();
  assert.equal(decision.approval_status, 'ESCALATED');
  const outbox = await store.db.selectFrom('outbox').selectAll().where('kind', '=', 'approval_escalation').execute();
  assert.equal(outbox.length, 1);
  assert.equal((outbox[0]!.payload as any).decision_id, decision.decision_id);
  assert.equal((outbox[0]!.payload as any).level, 5);
  // The parent decides now: the held fine record stays held here.
  const actions = await store.db.selectFrom('actions').select(['type', 'status']).orderBy('position').execute();
  assert.deepEqual(actions.map((a) => [a.type, a.status]), [['notify_authority', 'COMPLETED'], ['log_event', 'HELD']]);

  const history = await store.db.selectFrom('approval_history').selectAll().orderBy('id').execute();
  assert.deepEqual(history.map((h) => [h.actor_id, h.action, h.from_level, h.to_level]), [['fail-safe', 'escalate', 4, 5], ['fail-safe', 'escalate', 5, null]]);
  const open = await store.db.selectFrom('timers').selectAll().where('fired_at', 'is', null).where('cancelled_at', 'is', null).execute();
  assert.deepEqual(open, [], 'no timer is left armed for an answered request');
});

test('an earlier fail-safe wins; the later timers of the same request close with nothing to do', async (t) => {
  // The store closes before its database is dropped (after hooks run in the order they were added).
  const store = await openTestStore(t);
  let clock = Date.parse('2026-11-22T08:30:00Z');
  const now = () => clock;
  const writer = new DecisionWriter({ store, context: { tenantId: TENANT, nodeId: 'n1', layer: 'LOCAL', maxAttempts: () => 3, approvals: DEFAULT_CONFIG.approvals }, onDecided: () => {}, log, now });
  const fired: FailSafeFired[] = [];
  const timers = new FailSafeTimers({ db: store.db, tenantId: TENANT, nodeId: 'n1', log, approvals: DEFAULT_CONFIG.approvals, audit: new AuditLog(store.db, TENANT, log), onFired: (f) => fired.push(f), now });
  t.after(() => timers.close());

  const m = match('traffic_officer', 'e2', clock);
  m.escalationRules = [
    { condition: 'no_officer_response_within_10_minutes', action: 'auto_approve_fine' },
    { condition: 'no_officer_response_within_20_minutes', action: 'auto_reject_fine' },
  ];
  writer.submit([m]);
  await writer.idle();
  clock += 25 * 60_000; // both are due in one pass
  await timers.fireDue();
  assert.equal(fired.length, 1);
  assert.equal(fired[0]!.approvalStatus, 'AUTO_APPROVED');
  const rows = await store.db.selectFrom('timers').select(['fired_at', 'cancelled_at', 'outcome']).orderBy('fire_at').execute();
  assert.equal(rows[0]!.outcome, 'auto_approved (auto_approve_fine)');
  assert.ok(rows[1]!.cancelled_at !== null && rows[1]!.fired_at === null, JSON.stringify(rows[1]));
  // The fine record was written by the approval, in its transaction.
  const logs = await store.db.selectFrom('event_logs').selectAll().execute();
  assert.equal(logs.length, 1);
  assert.equal(logs[0]!.log_name, 'violations_db');
  assert.equal((logs[0]!.entry as any).rule, 'speeding_detected');
  assert.deepEqual((logs[0]!.entry as any).values, { confidence_score: 0.9 });
});
