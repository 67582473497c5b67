import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_CONFIG } from '../../src/config/config.js';
import { CHENNAI_ZONES } from '../helpers/fixtures.js';
import { call, restartableNode, startTestNode } from '../helpers/node.js';
import { signIn } from '../helpers/users.js';
import { answer, decideSpeeding, decision, DISTRICT, finedRegistration, finesNodeConfig, finesSystem, logEntries, queue, register, waitFor, WARD } from './helpers.js';

/**
 * Fail-safes (seed 001 §8.2 step 6): when nobody answers in time the configured default runs —
 * auto-approve, auto-reject or escalate — through the same transitions as a person's answer.
 * The timers are rows: one that came due while the node was down fires after the restart.
 */
describe('fail-safe timers', () => {
  test('auto-reject after a short timeout: the held actions are cancelled, and it is labelled as a fail-safe', async (t) => {
    const fines = await finesSystem(t);
    const node = await startTestNode(t, finesNodeConfig(fines));
    const key = await register(node, finedRegistration({ condition: 'no_officer_response_within_1_seconds', action: 'auto_reject_fine' }));
    const d = await decideSpeeding(node, key, 'silence-1');
    const decided = await waitFor('the fail-safe', async () => {
      const full = await decision(node, d.decision_id);
      return full.approval_status === 'AUTO_REJECTED' && full;
    });
    assert.equal(decided.approver_id, 'fail-safe');
    assert.deepEqual(decided.actions.map((a: any) => a.status), ['COMPLETED', 'CANCELLED', 'CANCELLED']);
    assert.equal(decided.approval_requests[0].status, 'auto_rejected');
    assert.match(decided.approval_requests[0].notes, /fail-safe: no officer response within 1 seconds → auto_reject_fine/);
    assert.deepEqual(await logEntries(node, 'violations_db', d.decision_id), []);
    assert.equal(fines.received.length, 0);

    const feedback = await node.store.db.selectFrom('feedback').selectAll().where('decision_id', '=', d.decision_id).execute();
    assert.deepEqual(feedback.map((f) => [f.human_decision, f.label_source, f.approver_id]), [['reject', 'fail_safe', 'fail-safe']]);
    const audit = await node.store.db.selectFrom('audit_log').selectAll().where('target_id', '=', d.decision_id).orderBy('id').execute();
    assert.deepEqual(audit.map((r) => [r.action, r.actor_kind, r.actor_id]), [
      ['decision.made', 'system', node.config.nodeId],
      ['approval.fail_safe', 'system', 'fail-safe'],
    ]);
    // An officer arriving late finds it answered.
    const officer = await signIn(node, { role: 'authority', level: 1, scope: WARD });
    const late = await answer(node, officer, d.decision_id, 'approve');
    assert.equal(late.status, 409);
    assert.match(late.body.error.message, /was already auto_rejected by fail-safe at /);
  });

  test('a fail-safe escalation that came due while the node was down fires after the restart and moves the request to L2', async (t) => {
    const { start } = await restartableNode(t, { zonesFile: CHENNAI_ZONES, mqtt: { enabled: false } });

    let decisionId: string;
    const first = await start();
    try {
      const key = await register(first, finedRegistration({ condition: 'no_officer_response_within_2_seconds', action: 'escalate_to_district' }));
      const d = await decideSpeeding(first, key, 'restart-1');
      decisionId = d.decision_id;
      assert.equal(d.approval_status, 'PENDING');
    } finally {
      await first.close(); // before the deadline: the timer lives only in the store now
    }
    await new Promise((r) => setTimeout(r, 2_100)); // the deadline passes while no node runs

    const second = await start();
    try {
      const approval = await waitFor('the escalation after the restart', async () => {
        const x = (await call(second, 'GET', `/api/v1/decisions/${decisionId!}/explanation`, { headers: second.admin })).body.approval;
        return x.level === 2 && x;
      });
      assert.equal(approval.status, 'pending');
      assert.equal(approval.escalations, 1, 'the explanation counts the escalation');
      const officer = await signIn(second, { role: 'authority', level: 1, scope: WARD });
      const commander = await signIn(second, { role: 'authority', level: 2, scope: DISTRICT });
      assert.ok(!(await queue(second, officer)).some((a) => a.decision_id === decisionId!), "gone from L1's queue");
      assert.ok((await queue(second, commander)).some((a) => a.decision_id === decisionId!), "in L2's queue");
      const explained = (await call(second, 'GET', `/api/v1/decisions/${decisionId!}/explanation`, { headers: commander.headers })).body;
      assert.deepEqual(explained.approval.history.map((h: any) => [h.actor_id, h.action, h.from_level, h.to_level]), [['fail-safe', 'escalate', 1, 2]]);
      assert.equal((await answer(second, commander, decisionId!, 'approve')).status, 200);
      assert.equal((await logEntries(second, 'violations_db', decisionId!)).length, 1);
    } finally {
      await second.close();
    }
  });

  test(
    "with no escalation rule of the plugin's, the approval type's timeout and fail-safe apply at every level",
    async (t) => {
      const node = await startTestNode(t, {
        zonesFile: CHENNAI_ZONES,
        mqtt: { enabled: false },
        approvals: { defaultType: DEFAULT_CONFIG.approvals.defaultType, types: { traffic_officer: { level: 1, timeoutMs: 1000, failSafe: 'escalate' } } },
      });
      const registration = finedRegistration();
      delete registration.action_definitions[0].escalation_rules;
      const key = await register(node, registration);
      const d = await decideSpeeding(node, key, 'typed-1');
      const approval = async () => (await call(node, 'GET', `/api/v1/decisions/${d.decision_id}/explanation`, { headers: node.admin })).body.approval;
      assert.equal((await approval()).fail_safe_action, 'escalate');
      // L1 → L2 after 1 s, L2 → L3 after another.
      await waitFor('two escalations', async () => (await approval()).level === 3);
    },
  );
});
