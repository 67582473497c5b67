import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { call, startTestNode } from '../helpers/node.js';
import { signIn } from '../helpers/users.js';
import { answer, DISTRICT, decideSpeeding, register, WARD } from '../approvals/helpers.js';
import { seedRegistration } from '../helpers/fixtures.js';

/**
 * The audit log (issue 4 §5, seed 001 §13.1 L5): sign-ins, key changes, decisions, approvals,
 * overrides and configuration changes are recorded; GET /api/v1/audit shows them within the
 * caller's scope; and the table refuses to be rewritten.
 */
test('what happened on the node is in the audit log, scoped, and cannot be rewritten', async (t) => {
  const node = await startTestNode(t, { zonesFile: undefined });
  const admin = await signIn(node, { role: 'tenant_admin', name: 'admin' });
  const officer = await signIn(node, { role: 'authority', level: 1, scope: WARD, name: 'officer' });
  const commander = await signIn(node, { role: 'authority', level: 2, scope: DISTRICT, name: 'commander' });
  const otherCommander = await signIn(node, { role: 'authority', level: 2, scope: 'chennai-z01', name: 'elsewhere' });
  const wrong = await call(node, 'POST', '/api/v1/auth/login', { body: { username: officer.username, password: 'not-the-password' } });
  assert.equal(wrong.status, 401);

  const key = await register(node, seedRegistration());
  assert.equal((await call(node, 'POST', '/api/v1/plugins/traffic-violation-detector-v2/rotate-key', { headers: admin.headers })).status, 200);
  const rotatedKey = (await call(node, 'POST', '/api/v1/plugins/traffic-violation-detector-v2/rotate-key', { headers: admin.headers })).body.api_key as string;
  assert.ok(key !== rotatedKey);
  const device = await call(node, 'POST', '/api/v1/devices', { headers: admin.headers, body: { device_id: 'cam-9', name: 'Camera 9', zone_id: WARD } });
  assert.equal(device.status, 201, JSON.stringify(device.body));
  const d = await decideSpeeding(node, rotatedKey, 'audit-1');
  assert.equal((await answer(node, officer, d.decision_id, 'approve', 'seen on video')).status, 200);
  assert.equal((await call(node, 'POST', '/api/v1/overrides/suspend', { headers: officer.headers, body: { kind: 'zone', target: WARD, reason: 'drill' } })).status, 201);
  assert.equal((await call(node, 'POST', '/api/v1/overrides/resume', { headers: officer.headers, body: { kind: 'zone', target: WARD } })).status, 200);

  const all = await call(node, 'GET', '/api/v1/audit?limit=1000', { headers: admin.headers });
  assert.equal(all.status, 200);
  const actions = new Set(all.body.entries.map((e: any) => e.action));
  for (const a of ['auth.login', 'user.create', 'plugin.created', 'plugin.rotate-key', 'device.create', 'decision.made', 'approval.approve', 'override.suspend', 'override.resume']) {
    assert.ok(actions.has(a), `${a} is audited (have ${[...actions].join(', ')})`);
  }
  const refused = all.body.entries.find((e: any) => e.action === 'auth.login' && e.outcome !== 'ok');
  assert.ok(refused, 'a refused sign-in is audited too');
  const approval = all.body.entries.find((e: any) => e.action === 'approval.approve');
  assert.equal(approval.actor_id, officer.userId);
  assert.equal(approval.zone_id, 'chennai-w119');

  // A prefix filter, and paging.
  const approvals = await call(node, 'GET', '/api/v1/audit?action=approval.', { headers: admin.headers });
  assert.deepEqual(approvals.body.entries.map((e: any) => e.action), ['approval.approve']);
  const page = await call(node, 'GET', '/api/v1/audit?limit=2', { headers: admin.headers });
  assert.equal(page.body.entries.length, 2);
  const next = await call(node, 'GET', `/api/v1/audit?limit=2&cursor=${page.body.next_cursor}`, { headers: admin.headers });
  assert.ok(BigInt(next.body.entries[0].id) < BigInt(page.body.entries[1].id));

  // A district commander sees what happened in their district, not sign-ins or other districts.
  const mine = (await call(node, 'GET', '/api/v1/audit?limit=1000', { headers: commander.headers })).body.entries;
  assert.ok(mine.length > 0);
  const district = node.zones.tree.subtreeIds(DISTRICT);
  assert.ok(mine.every((e: any) => district.has(e.zone_id)), JSON.stringify(mine.map((e: any) => e.zone_id)));
  assert.ok(mine.some((e: any) => e.action === 'approval.approve'));
  const theirs = (await call(node, 'GET', '/api/v1/audit?limit=1000', { headers: otherCommander.headers })).body.entries;
  assert.deepEqual(theirs.filter((e: any) => !node.zones.tree.isWithin(e.zone_id, 'chennai-z01')), []);
  assert.equal(theirs.some((e: any) => e.zone_id === 'chennai-w119'), false);
  // An L1 officer may not read the audit log (seed §8.3: from L2 up).
  const denied = await call(node, 'GET', '/api/v1/audit', { headers: officer.headers });
  assert.equal(denied.status, 403);
  assert.equal(denied.body.error.code, 'CITY_ERR_AUTH_FORBIDDEN');

  // Append-only in the database itself.
  await assert.rejects(sql`update audit_log set actor_id = 'someone else'`.execute(node.store.db), /append-only/);
  await assert.rejects(sql`delete from audit_log`.execute(node.store.db), /append-only/);
  const after = await call(node, 'GET', '/api/v1/audit?limit=1000', { headers: admin.headers });
  assert.equal(after.body.entries.length >= all.body.entries.length, true);
});
