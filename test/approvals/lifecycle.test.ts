import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { call, startTestNode, suiteCleanup } from '../helpers/node.js';
import { signIn, type SignedIn } from '../helpers/users.js';
import { resolveRequest } from '../../src/approvals/transitions.js';
import type { Actor } from '../../src/approvals/types.js';
import { answer, decideSpeeding, decision, DISTRICT, finedRegistration, finesNodeConfig, finesSystem, logEntries, OTHER_WARD, queue, register, waitFor, WARD } from './helpers.js';

/**
 * The approval workflow end to end (seed 001 §8.2, §8.3, §12.2): a speeding decision waits for
 * an officer with its fine record and fine held; approve runs them, reject cancels them,
 * escalate hands the request up a level; two answers at once, one wins; other wards see nothing.
 */
describe('approval lifecycle', () => {
  let node: Awaited<ReturnType<typeof startTestNode>>;
  let fines: Awaited<ReturnType<typeof finesSystem>>;
  let key: string;
  let officer: SignedIn;
  let partner: SignedIn;
  let outsider: SignedIn;
  let commander: SignedIn;
  const suite = suiteCleanup();
  after(() => suite.run());

  before(async () => {
    fines = await finesSystem(suite);
    node = await startTestNode(suite, finesNodeConfig(fines));
    key = await register(node, finedRegistration());
    officer = await signIn(node, { role: 'authority', level: 1, scope: WARD, name: 'officer' });
    partner = await signIn(node, { role: 'authority', level: 1, scope: WARD, name: 'partner' });
    outsider = await signIn(node, { role: 'authority', level: 1, scope: OTHER_WARD, name: 'outsider' });
    commander = await signIn(node, { role: 'authority', level: 2, scope: DISTRICT, name: 'commander' });
  });

  test('a decision needing approval waits in the L1 queue of its ward with the seed payload; nothing runs yet', async () => {
    const d = await decideSpeeding(node, key, 'wait-1');
    assert.equal(d.approval_status, 'PENDING');
    assert.deepEqual(d.actions.map((a: any) => [a.type, a.status]), [['notify_authority', 'COMPLETED'], ['log_event', 'HELD'], ['actuate', 'HELD']]);
    assert.deepEqual(await logEntries(node, 'violations_db', d.decision_id), [], 'the fine record does not exist before approval');

    const item = (await queue(node, officer)).find((a) => a.decision_id === d.decision_id);
    assert.ok(item, 'the officer of the ward sees it');
    // seed §12.2: decision_id, event_summary, evidence_urls, recommended_action — plus the deadline.
    assert.match(item.event_summary, /^Speeding detected at Anna Salai near Teynampet signal \(chennai-w119\): .*confidence_score 0\.9/);
    assert.deepEqual(item.evidence_urls, ['https://evidence.example/cam/17/frame-0001.jpg', 'https://evidence.example/cam/17/clip.mp4']);
    assert.equal(item.recommended_action, 'approve_fine');
    assert.equal(item.level, 1);
    assert.equal(item.approval_type, 'traffic_officer');
    assert.equal(item.fail_safe_action, 'auto_approve_fine');
    assert.ok(item.seconds_to_deadline > 29 * 60 && item.seconds_to_deadline <= 30 * 60, String(item.seconds_to_deadline));
    assert.equal(item.severity, 'high');
    assert.equal(item.zone_id, WARD);
    // What the dashboard shows beside it, so a queue costs one request.
    assert.equal(item.rule_name, 'speeding_detected');
    assert.equal(item.escalations, 0);
    assert.deepEqual(item.conditions.map((c: any) => c.values), [{ severity: 'high', confidence_score: 0.9, violation_type: 'speeding' }]);
    assert.equal(item.matched_events[0].event_id, d.event_id);
    assert.equal(item.trigger_event.plugin_id, 'traffic-violation-detector-v2');
    assert.equal(item.trigger_event.confidence, 0.9);
    assert.equal(item.trigger_event.payload.vehicle_data.speed_kmh, 85);
  });

  test('approve: the violations_db entry is written and the held fine goes to the fines system', async () => {
    const d = await decideSpeeding(node, key, 'approve-1');
    const res = await answer(node, officer, d.decision_id, 'approve', 'Violation confirmed from video evidence');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.status, 'approved');
    assert.equal(res.body.approval_status, 'APPROVED');
    assert.equal(res.body.authority_id, officer.userId);
    assert.equal(res.body.actions.executed.length, 1);
    assert.equal(res.body.actions.dispatched.length, 1);

    const [entry] = await logEntries(node, 'violations_db', d.decision_id);
    assert.equal(entry.event_id, 'approve-1');
    const done = await waitFor('the fine sent', async () => {
      const full = await decision(node, d.decision_id);
      return full.actions[2].status === 'COMPLETED' && full;
    });
    assert.equal(done.approval_status, 'APPROVED');
    assert.equal(done.approver_id, officer.userId);
    assert.equal(done.actions[1].status, 'COMPLETED');
    assert.match(done.actions[1].result, /logged to violations_db/);
    assert.match(done.actions[2].result, /HTTP 200/);
    assert.equal(done.approval_requests[0].status, 'approved');
    assert.equal(done.approval_requests[0].notes, 'Violation confirmed from video evidence');
    assert.ok(fines.received.some((c) => c.decision_id === d.decision_id && c.parameters.fine_inr === 1000));
    assert.ok(!(await queue(node, officer)).some((a) => a.decision_id === d.decision_id), 'answered requests leave the queue');
  });

  test('reject: nothing is logged or sent, the held actions are CANCELLED with the reason', async () => {
    const d = await decideSpeeding(node, key, 'reject-1');
    const res = await answer(node, officer, d.decision_id, 'reject', 'Plate unreadable');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.approval_status, 'REJECTED');
    const full = await decision(node, d.decision_id);
    assert.deepEqual(full.actions.map((a: any) => a.status), ['COMPLETED', 'CANCELLED', 'CANCELLED']);
    assert.match(full.actions[2].result, new RegExp(`cancelled: rejected by ${officer.userId}: Plate unreadable`));
    assert.deepEqual(await logEntries(node, 'violations_db', d.decision_id), []);
    assert.ok(!fines.received.some((c) => c.decision_id === d.decision_id));
  });

  test('escalate: the request moves to L2 and away from L1; L1 can no longer act, L2 can', async () => {
    const d = await decideSpeeding(node, key, 'escalate-1');
    const res = await answer(node, officer, d.decision_id, 'escalate', 'Repeat offender, district should decide');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.level, 2);
    assert.equal(res.body.status, 'pending');

    assert.ok(!(await queue(node, officer)).some((a) => a.decision_id === d.decision_id), "not in L1's queue");
    const item = (await queue(node, commander)).find((a) => a.decision_id === d.decision_id);
    assert.ok(item, "in L2's queue");
    assert.equal(item.level, 2);
    // The new level gets the approval type's timeout (traffic_officer: 30 minutes, auto_approve).
    assert.equal(item.fail_safe_action, 'auto_approve');
    assert.ok(item.seconds_to_deadline > 29 * 60, String(item.seconds_to_deadline));
    assert.ok((await queue(node, commander, '?all_levels=true')).some((a) => a.decision_id === d.decision_id));

    const late = await answer(node, officer, d.decision_id, 'approve');
    assert.equal(late.status, 403);
    assert.equal(late.body.error.code, 'CITY_ERR_APPROVAL_WRONG_LEVEL');
    assert.match(late.body.error.message, /waits for level L2; you are L1/);

    const decided = await answer(node, commander, d.decision_id, 'approve', 'Confirmed');
    assert.equal(decided.status, 200, JSON.stringify(decided.body));
    assert.equal((await logEntries(node, 'violations_db', d.decision_id)).length, 1);
    const full = await decision(node, d.decision_id);
    assert.equal(full.approver_id, commander.userId);
  });

  test('a higher level may answer a lower level request', async () => {
    const d = await decideSpeeding(node, key, 'from-above-1');
    assert.ok((await queue(node, commander, '?all_levels=true')).some((a) => a.decision_id === d.decision_id));
    assert.ok(!(await queue(node, commander)).some((a) => a.decision_id === d.decision_id), 'not at L2 itself');
    const res = await answer(node, commander, d.decision_id, 'reject');
    assert.equal(res.status, 200, JSON.stringify(res.body));
  });

  test('two authorities answering at once: exactly one wins, the other gets a conflict naming the winner', async () => {
    const d = await decideSpeeding(node, key, 'race-1');
    const [a, b] = await Promise.all([answer(node, officer, d.decision_id, 'approve'), answer(node, partner, d.decision_id, 'reject')]);
    const statuses = [a.status, b.status].sort();
    assert.deepEqual(statuses, [200, 409], JSON.stringify([a.body, b.body]));
    const [won, lost, winner] = a.status === 200 ? [a, b, officer] : [b, a, partner];
    assert.equal(lost.body.error.code, 'CITY_ERR_APPROVAL_CONFLICT');
    assert.match(lost.body.error.message, new RegExp(`was already ${won.body.status} by ${winner.userId} at `));
    // The loser changed nothing: the decision is as the winner left it.
    const full = await decision(node, d.decision_id);
    assert.equal(full.approver_id, winner.userId);
    assert.equal(full.approval_status, won.body.approval_status);
    const again = await answer(node, officer, d.decision_id, 'escalate');
    assert.equal(again.status, 409);
  });

  test('an officer of another ward neither sees the request nor may act on it', async () => {
    const d = await decideSpeeding(node, key, 'scope-1');
    assert.ok(!(await queue(node, outsider)).some((a) => a.decision_id === d.decision_id));
    const res = await answer(node, outsider, d.decision_id, 'approve');
    assert.equal(res.status, 403);
    assert.equal(res.body.error.code, 'CITY_ERR_AUTH_OUT_OF_SCOPE');
    const explained = await call(node, 'GET', `/api/v1/decisions/${d.decision_id}/explanation`, { headers: outsider.headers });
    assert.equal(explained.body.error.code, 'CITY_ERR_AUTH_OUT_OF_SCOPE');
    assert.equal((await decision(node, d.decision_id)).approval_status, 'PENDING');
  });

  test('the request is checked: authority_id must be the caller, notes are bounded, the action is one of three', async () => {
    const d = await decideSpeeding(node, key, 'checks-1');
    const impostor = await call(node, 'POST', '/api/v1/authority/approve-decision', { headers: officer.headers, body: { decision_id: d.decision_id, action: 'approve', authority_id: partner.userId } });
    assert.equal(impostor.status, 403);
    assert.equal(impostor.body.error.code, 'CITY_ERR_AUTH_FORBIDDEN');
    const long = await call(node, 'POST', '/api/v1/authority/approve-decision', { headers: officer.headers, body: { decision_id: d.decision_id, action: 'approve', notes: 'x'.repeat(2001) } });
    assert.equal(long.status, 400);
    const odd = await call(node, 'POST', '/api/v1/authority/approve-decision', { headers: officer.headers, body: { decision_id: d.decision_id, action: 'ignore' } });
    assert.equal(odd.status, 400);
    const missing = await answer(node, officer, 'no-such-decision', 'approve');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, 'CITY_ERR_APPROVAL_NOT_FOUND');
    const self = await call(node, 'POST', '/api/v1/authority/approve-decision', { headers: officer.headers, body: { decision_id: d.decision_id, action: 'approve', authority_id: officer.userId } });
    assert.equal(self.status, 200, JSON.stringify(self.body));
  });

  test('only authorities answer: an operator may not, and answers are audited', async () => {
    const d = await decideSpeeding(node, key, 'roles-1');
    const operator = await signIn(node, { role: 'operator', scope: WARD, name: 'operator' });
    const res = await answer(node, operator, d.decision_id, 'approve');
    assert.equal(res.status, 403);
    assert.equal(res.body.error.code, 'CITY_ERR_AUTH_FORBIDDEN');
    assert.equal((await call(node, 'GET', '/api/v1/authority/pending-approvals', { headers: operator.headers })).status, 403);

    assert.equal((await answer(node, officer, d.decision_id, 'approve', 'ok')).status, 200);
    const audit = await node.store.db.selectFrom('audit_log').selectAll().where('target_id', '=', d.decision_id).orderBy('id').execute();
    assert.deepEqual(audit.map((r) => [r.action, r.actor_id]), [
      ['decision.made', node.config.nodeId],
      ['approval.approve', officer.userId],
    ]);
  });

  test('the transition itself: two answers that both read the request while pending, only the first changes it', async () => {
    // Below the service (whose own pre-read would answer 409 first): the conditional UPDATE in
    // claim() is what makes one answer win, on any store and any interleaving.
    const d = await decideSpeeding(node, key, 'claim-1');
    const db = node.store.db;
    const stale = await db.selectFrom('approval_requests').selectAll().where('decision_id', '=', d.decision_id).where('status', '=', 'pending').executeTakeFirstOrThrow();
    const deps = { tenantId: node.config.tenantId, nodeId: node.config.nodeId, audit: node.audit, approvals: node.config.approvals };
    const actor = (id: string): Actor => ({
      id,
      level: 1,
      kind: 'human',
      audit: { kind: 'user', userId: id, tenantId: node.config.tenantId, role: 'authority', level: 1, scopeZoneId: WARD, sessionId: `s-${id}`, name: id },
    });
    const first = await db.transaction().execute((tx) => resolveRequest(tx, deps, stale, 'approve', actor(officer.userId), 'first', new Date()));
    const second = await db.transaction().execute((tx) => resolveRequest(tx, deps, stale, 'reject', actor(partner.userId), 'second', new Date()));
    assert.ok(first, 'the first answer wins');
    assert.equal(second, null, 'the second, with the same stale row, changes nothing');
    const row = await db.selectFrom('approval_requests').selectAll().where('request_id', '=', stale.request_id).executeTakeFirstOrThrow();
    assert.deepEqual([row.status, row.resolved_by, row.notes], ['approved', officer.userId, 'first']);
    assert.equal((await decision(node, d.decision_id)).approval_status, 'APPROVED');
  });
});
