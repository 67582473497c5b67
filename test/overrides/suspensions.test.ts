import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { call, startTestNode, suiteCleanup } from '../helpers/node.js';
import { CHENNAI_ZONES, seedRegistration, speedingEvent } from '../helpers/fixtures.js';
import { signIn } from '../helpers/users.js';
import { recorder, type Recorder } from '../helpers/recorder.js';
import { waitFor } from '../helpers/wait.js';

const TRAFFIC = 'traffic-violation-detector-v2';
/** The seed plugin's one action trigger (src/decisions/brain.ts rule ids). */
const TRIGGER_ID = `plugin:${TRAFFIC}@2.3.1#0`;



describe('manual override: suspend and resume', () => {
  let node: Awaited<ReturnType<typeof startTestNode>>;
  let sign: Recorder;
  let pluginKey: string;
  const suite = suiteCleanup();
  after(() => suite.run());

  const suspend = (body: Record<string, unknown>, headers = node.admin) => call(node, 'POST', '/api/v1/overrides/suspend', { headers, body });
  const resume = (body: Record<string, unknown>, headers = node.admin) => call(node, 'POST', '/api/v1/overrides/resume', { headers, body });
  /** Sends a speeding event in ward 119 and returns its decision's actuate action once it is `status`. */
  const decideAndWait = async (eventId: string, status: string) => {
    const res = await call(node, 'POST', `/webhook/${TRAFFIC}`, { headers: { 'x-api-key': pluginKey }, body: speedingEvent({ event_id: eventId }) });
    assert.equal(res.status, 202);
    return actionOf(eventId, status);
  };
  const actionOf = (eventId: string, status: string) =>
    waitFor(`the action of ${eventId} to be ${status}`, async () => {
      const [decision] = (await call(node, 'GET', `/api/v1/decisions?event_id=${eventId}`, { headers: node.admin })).body.decisions;
      const action = decision?.actions.find((a: any) => a.type === 'actuate');
      return action?.status === status && { decision, action };
    });
  const sentFor = (actionId: string) => sign.received.filter((r) => r.action_id === actionId).length;
  const audit = (action: string) => node.store.db.selectFrom('audit_log').selectAll().where('action', '=', action).orderBy('id').execute();

  before(async () => {
    sign = await recorder('/signs', 'sign updated');
    suite.after(() => sign.close());
    node = await startTestNode(suite, {
      zonesFile: CHENNAI_ZONES,
      actions: { retryBaseDelayMs: 10, retryMaxDelayMs: 50, targets: { speed_sign: { kind: 'webhook', url: sign.url } } },
    });
    // The seed plugin with one external action and no approval step, so actions run at once.
    const registration = seedRegistration();
    registration.action_definitions[0].actions = [{ type: 'actuate', target: 'speed_sign', parameters: { message: 'SLOW DOWN' } }];
    const reg = await call(node, 'POST', '/api/v1/plugin/register', { headers: node.admin, body: registration });
    assert.equal(reg.status, 201, JSON.stringify(reg.body));
    pluginKey = reg.body.api_key;
  });

  test('without a suspension the action runs (the baseline)', async () => {
    const { action } = await decideAndWait('baseline', 'COMPLETED');
    assert.equal(sentFor(action.action_id), 1);
  });

  for (const [kind, target] of [['zone', 'chennai-z09'], ['rule', TRIGGER_ID], ['plugin', TRAFFIC]] as const) {
    test(`suspending ${kind} ${target}: the decision is recorded, its action waits; resuming sends it exactly once`, async () => {
      const suspended = await suspend({ kind, target, reason: `drill: ${kind}` });
      assert.equal(suspended.status, 201, JSON.stringify(suspended.body));
      assert.equal(suspended.body.suspension.active, true);

      const eventId = `held-by-${kind}`;
      const { decision, action } = await decideAndWait(eventId, 'SUSPENDED');
      assert.equal(decision.zone_id, 'chennai-w119');
      assert.equal(action.attempts, 0, 'not tried');
      assert.match(action.result, new RegExp(`${kind} ${target.replace(/[.@#]/g, '\\$&')} is suspended \\(drill: ${kind}`));
      await new Promise((r) => setTimeout(r, 150));
      assert.equal(sentFor(action.action_id), 0, 'the actuator got nothing');

      const resumed = await resume({ kind, target, reason: 'drill over' });
      assert.equal(resumed.status, 200, JSON.stringify(resumed.body));
      assert.equal(resumed.body.actions_released, 1);
      assert.equal(resumed.body.suspension.active, false);
      assert.equal(resumed.body.suspension.resume_reason, 'drill over');
      const done = await actionOf(eventId, 'COMPLETED');
      assert.equal(done.action.attempts, 1);
      await new Promise((r) => setTimeout(r, 150));
      assert.equal(sentFor(action.action_id), 1, 'sent exactly once');

      const suspendRows = (await audit('override.suspend')).filter((r) => r.target_kind === kind && r.target_id === target);
      const resumeRows = (await audit('override.resume')).filter((r) => r.target_kind === kind && r.target_id === target);
      assert.equal(suspendRows.length, 1);
      assert.equal(resumeRows.length, 1);
      assert.equal(suspendRows[0]!.actor_id, 'admin-token');
      assert.equal((resumeRows[0]!.details as any).actions_released, 1);
    });
  }

  test('an action held by two suspensions waits until both are resumed', async () => {
    assert.equal((await suspend({ kind: 'zone', target: 'chennai-w119', reason: 'ward stop' })).status, 201);
    assert.equal((await suspend({ kind: 'plugin', target: TRAFFIC, reason: 'vendor fault' })).status, 201);
    const { action } = await decideAndWait('held-twice', 'SUSPENDED');
    const first = await resume({ kind: 'zone', target: 'chennai-w119' });
    assert.equal(first.body.actions_released, 0);
    assert.equal(first.body.actions_still_held, 1);
    const still = await actionOf('held-twice', 'SUSPENDED');
    assert.match(still.action.result, /plugin traffic-violation-detector-v2 is suspended \(vendor fault/);
    assert.equal((await resume({ kind: 'plugin', target: TRAFFIC })).body.actions_released, 1);
    await actionOf('held-twice', 'COMPLETED');
    assert.equal(sentFor(action.action_id), 1);
  });

  test('a duplicate suspension conflicts; resuming nothing, or an unknown target, is refused', async () => {
    assert.equal((await suspend({ kind: 'zone', target: 'chennai-w001', reason: 'test' })).status, 201);
    const twice = await suspend({ kind: 'zone', target: 'chennai-w001', reason: 'again' });
    assert.equal(twice.status, 409);
    assert.equal(twice.body.error.code, 'CITY_ERR_SUSPENSION_EXISTS');
    assert.equal((await resume({ kind: 'zone', target: 'chennai-w001' })).status, 200);
    const nothing = await resume({ kind: 'zone', target: 'chennai-w001' });
    assert.equal(nothing.status, 404);
    assert.equal(nothing.body.error.code, 'CITY_ERR_SUSPENSION_NOT_FOUND');
    assert.equal((await suspend({ kind: 'zone', target: 'atlantis', reason: 'x' })).body.error.code, 'CITY_ERR_ZONE_NOT_FOUND');
    assert.equal((await suspend({ kind: 'rule', target: 'no_such_rule', reason: 'x' })).body.error.code, 'CITY_ERR_RULE_NOT_FOUND');
    assert.equal((await suspend({ kind: 'rule', target: `plugin:${TRAFFIC}@2.3.1#7`, reason: 'x' })).body.error.code, 'CITY_ERR_RULE_NOT_FOUND');
    assert.equal((await suspend({ kind: 'plugin', target: 'no-such-plugin', reason: 'x' })).body.error.code, 'CITY_ERR_PLUGIN_NOT_FOUND');
    assert.equal((await suspend({ kind: 'zone', target: 'chennai-w001' })).status, 400, 'a reason is required');
  });

  test('an L1 officer may stop their own ward, not another ward, nor a rule or a plugin; an operator nothing', async () => {
    const officer = await signIn(node, { role: 'authority', level: 1, scope: 'chennai-w119' });
    const outside = await suspend({ kind: 'zone', target: 'chennai-w001', reason: 'not mine' }, officer.headers);
    assert.equal(outside.status, 403);
    assert.equal(outside.body.error.code, 'CITY_ERR_AUTH_OUT_OF_SCOPE');
    const rule = await suspend({ kind: 'rule', target: TRIGGER_ID, reason: 'city-wide' }, officer.headers);
    assert.equal(rule.status, 403);
    assert.equal(rule.body.error.code, 'CITY_ERR_AUTH_FORBIDDEN');
    assert.match(rule.body.error.message, /L2/);
    assert.equal((await suspend({ kind: 'plugin', target: TRAFFIC, reason: 'city-wide' }, officer.headers)).status, 403);

    const own = await suspend({ kind: 'zone', target: 'chennai-w119', reason: 'water on the road' }, officer.headers);
    assert.equal(own.status, 201, JSON.stringify(own.body));
    assert.equal(own.body.suspension.created_by, officer.userId);
    const listed = await call(node, 'GET', '/api/v1/overrides', { headers: officer.headers });
    assert.equal(listed.status, 200);
    assert.deepEqual(listed.body.active.map((s: any) => s.target), ['chennai-w119']);
    assert.ok(!listed.body.recent.some((s: any) => s.target === 'chennai-w001'), "another ward's suspensions are not shown");
    assert.ok(listed.body.recent.some((s: any) => s.target === 'chennai-z09'), 'a suspension of the zone above is shown');
    assert.equal((await resume({ kind: 'zone', target: 'chennai-w119' }, officer.headers)).status, 200);

    const commander = await signIn(node, { role: 'authority', level: 2, scope: 'chennai-z09' });
    assert.equal((await suspend({ kind: 'rule', target: TRIGGER_ID, reason: 'district review' }, commander.headers)).status, 201);
    assert.equal((await resume({ kind: 'rule', target: TRIGGER_ID }, commander.headers)).status, 200);

    const operator = await signIn(node, { role: 'operator', scope: 'chennai-w119' });
    assert.equal((await suspend({ kind: 'zone', target: 'chennai-w119', reason: 'x' }, operator.headers)).status, 403);
  });
});
