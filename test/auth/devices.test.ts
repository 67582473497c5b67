import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { call, startTestNode, suiteCleanup } from '../helpers/node.js';
import { CHENNAI_ZONES, seedRegistration, speedingEvent } from '../helpers/fixtures.js';
import { signIn } from '../helpers/users.js';

const TRAFFIC = 'traffic-violation-detector-v2';

describe('devices and their keys', () => {
  let node: Awaited<ReturnType<typeof startTestNode>>;
  let pluginKey: string;
  const suite = suiteCleanup();
  after(() => suite.run());

  const send = (key: string, eventId: string, plugin = TRAFFIC) => call(node, 'POST', `/webhook/${plugin}`, { headers: { 'x-api-key': key }, body: speedingEvent({ event_id: eventId }) });
  const createDevice = (body: Record<string, unknown>) => call(node, 'POST', '/api/v1/devices', { headers: node.admin, body });
  const audited = async (action: string, targetId: string) =>
    node.store.db.selectFrom('audit_log').selectAll().where('action', '=', action).where('target_id', '=', targetId).execute();

  before(async () => {
    node = await startTestNode(suite, { zonesFile: CHENNAI_ZONES });
    const reg = await call(node, 'POST', '/api/v1/plugin/register', { headers: node.admin, body: seedRegistration() });
    assert.equal(reg.status, 201, JSON.stringify(reg.body));
    pluginKey = reg.body.api_key;
  });

  test("the key is shown once and sends its plugin's events over the webhook, and only its plugin's", async () => {
    const created = await createDevice({ device_id: 'cam-17', name: 'Camera 17, Anna Salai', zone_id: 'chennai-w119', plugin_id: TRAFFIC });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.match(created.body.api_key, /^dk_/);
    assert.equal(created.body.device.status, 'active');
    assert.equal(created.body.device.api_key_prefix, created.body.api_key.slice(0, created.body.device.api_key_prefix.length));
    const shown = await call(node, 'GET', '/api/v1/devices/cam-17', { headers: node.admin });
    assert.equal(shown.status, 200);
    assert.equal(shown.body.api_key, undefined, 'never shown again');
    assert.ok(!JSON.stringify((await call(node, 'GET', '/api/v1/devices', { headers: node.admin })).body).includes(created.body.api_key));

    assert.equal((await send(created.body.api_key, 'dev-1')).status, 202);
    assert.equal((await call(node, 'GET', '/api/v1/events/dev-1', { headers: node.admin })).status, 200);
    const other = await send(created.body.api_key, 'dev-other', 'flood_prediction_model');
    assert.equal(other.status, 403);
    assert.equal(other.body.error.code, 'CITY_ERR_AUTH_FORBIDDEN');
    assert.equal((await audited('device.create', 'cam-17')).length, 1);
  });

  test('rotate: the old key stops at once, the new one works; revoke: the key stops, the device stays', async () => {
    const created = await createDevice({ device_id: 'cam-18', name: 'Camera 18', plugin_id: TRAFFIC });
    const oldKey = created.body.api_key;
    const rotated = await call(node, 'POST', '/api/v1/devices/cam-18/rotate-key', { headers: node.admin });
    assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
    assert.notEqual(rotated.body.api_key, oldKey);
    assert.ok(rotated.body.device.rotated_at);
    const refused = await send(oldKey, 'dev-old-key');
    assert.equal(refused.status, 401);
    assert.equal(refused.body.error.code, 'CITY_ERR_AUTH_KEY_INVALID');
    assert.equal((await send(rotated.body.api_key, 'dev-new-key')).status, 202);

    const revoked = await call(node, 'POST', '/api/v1/devices/cam-18/revoke', { headers: node.admin });
    assert.equal(revoked.status, 200);
    assert.equal(revoked.body.status, 'revoked');
    assert.equal((await send(rotated.body.api_key, 'dev-revoked')).status, 401);
    assert.equal((await call(node, 'GET', '/api/v1/devices/cam-18', { headers: node.admin })).body.status, 'revoked', 'kept for the record');
    const again = await call(node, 'POST', '/api/v1/devices/cam-18/rotate-key', { headers: node.admin });
    assert.equal(again.status, 409);
    assert.equal(again.body.error.code, 'CITY_ERR_DEVICE_REVOKED');
    assert.equal((await audited('device.rotate_key', 'cam-18')).length, 1);
    assert.equal((await audited('device.revoke', 'cam-18')).length, 1);
  });

  test('allow-list: 127.0.0.1/32 lets this test through, 10.0.0.0/8 refuses it', async () => {
    const created = await createDevice({ device_id: 'cam-19', name: 'Camera 19', plugin_id: TRAFFIC, allowed_sources: ['127.0.0.1/32'] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal((await send(created.body.api_key, 'dev-allowed')).status, 202);
    const patched = await call(node, 'PATCH', '/api/v1/devices/cam-19', { headers: node.admin, body: { allowed_sources: ['10.0.0.0/8'] } });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.deepEqual(patched.body.allowed_sources, ['10.0.0.0/8']);
    const refused = await send(created.body.api_key, 'dev-refused');
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error.code, 'CITY_ERR_AUTH_SOURCE_NOT_ALLOWED');
    const bad = await call(node, 'PATCH', '/api/v1/devices/cam-19', { headers: node.admin, body: { allowed_sources: ['10.0.0.0/33'] } });
    assert.equal(bad.status, 422);
    assert.equal(bad.body.error.code, 'CITY_ERR_DEVICE_INVALID');
    assert.match(bad.body.error.message, /prefix length/);
  });

  test("a plugin's key allow-list, audited", async () => {
    const put = (allowed: string[]) => call(node, 'PUT', `/api/v1/plugins/${TRAFFIC}/allowed-sources`, { headers: node.admin, body: { allowed_sources: allowed } });
    const narrowed = await put(['10.0.0.0/8']);
    assert.equal(narrowed.status, 200, JSON.stringify(narrowed.body));
    assert.deepEqual(narrowed.body.allowed_sources, ['10.0.0.0/8']);
    assert.equal((await send(pluginKey, 'plugin-refused')).status, 403);
    assert.equal((await put(['127.0.0.1'])).status, 200);
    assert.equal((await send(pluginKey, 'plugin-allowed')).status, 202);
    assert.equal((await put([])).status, 200);
    assert.equal((await put(['not-an-address'])).status, 400);
    const rows = await audited('plugin.allowed_sources', TRAFFIC);
    assert.equal(rows.length, 3);
    assert.deepEqual((rows[0]!.details as any).allowed_sources, ['10.0.0.0/8']);
  });

  test('invalid devices are refused naming the field; a second device with the same id conflicts', async () => {
    const expectInvalid = async (body: Record<string, unknown>, pattern: RegExp) => {
      const res = await createDevice(body);
      assert.equal(res.status, 422, JSON.stringify(res.body));
      assert.equal(res.body.error.code, 'CITY_ERR_DEVICE_INVALID');
      assert.match(res.body.error.message, pattern);
    };
    await expectInvalid({ device_id: 'bad/id', name: 'x' }, /device_id/);
    await expectInvalid({ device_id: 'cam-20', name: 'x', zone_id: 'atlantis' }, /zone_id atlantis/);
    await expectInvalid({ device_id: 'cam-20', name: 'x', plugin_id: 'no-such-plugin' }, /plugin_id no-such-plugin/);
    const extra = await createDevice({ device_id: 'cam-20', name: 'x', colour: 'blue' });
    assert.equal(extra.status, 400);
    assert.equal((await createDevice({ device_id: 'cam-20', name: 'Camera 20' })).status, 201);
    const twice = await createDevice({ device_id: 'cam-20', name: 'Camera 20' });
    assert.equal(twice.status, 409);
    assert.equal(twice.body.error.code, 'CITY_ERR_DEVICE_EXISTS');
    assert.equal((await call(node, 'GET', '/api/v1/devices/nope', { headers: node.admin })).status, 404);
  });

  test('only tenant admins manage devices', async () => {
    const operator = await signIn(node, { role: 'operator' });
    const res = await call(node, 'GET', '/api/v1/devices', { headers: operator.headers });
    assert.equal(res.status, 403);
    assert.equal(res.body.error.code, 'CITY_ERR_AUTH_FORBIDDEN');
    const admin = await signIn(node, { role: 'tenant_admin' });
    assert.equal((await call(node, 'GET', '/api/v1/devices', { headers: admin.headers })).status, 200);
  });
});
