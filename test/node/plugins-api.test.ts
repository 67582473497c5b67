import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { hashApiKey } from '../../src/auth/api-keys.js';
import { startNode } from '../../src/node/node.js';
import { call, startTestNode } from '../helpers/node.js';
import { examplePlugin, seedRegistration } from '../helpers/fixtures.js';

test('the seed manifest registers unchanged and gets a key shown once', async (t) => {
  const node = await startTestNode(t);
  const res = await call(node, 'POST', '/api/v1/plugin/register', { headers: node.admin, body: seedRegistration() });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assert.equal(res.body.status, 'created');
  assert.match(res.body.api_key, /^pk_[A-Za-z0-9_-]{43}$/);
  assert.equal(res.body.plugin.model_id, 'traffic-violation-detector-v2');
  assert.equal(res.body.plugin.current_version, '2.3.1');

  const fetched = await call(node, 'GET', '/api/v1/plugins/traffic-violation-detector-v2', { headers: node.admin });
  assert.equal(fetched.status, 200);
  assert.deepEqual(fetched.body.current.plugin_manifest, seedRegistration().plugin_manifest);
  assert.deepEqual(fetched.body.current.personal_fields, ['vehicle_data.license_plate']);
  assert.equal(JSON.stringify(fetched.body).includes(res.body.api_key), false, 'the key is never shown again');

  // Same documents again: idempotent, no new key.
  const again = await call(node, 'POST', '/api/v1/plugin/register', { headers: node.admin, body: seedRegistration() });
  assert.equal(again.status, 200);
  assert.equal(again.body.status, 'unchanged');
  assert.equal(again.body.api_key, undefined);
});

test('registration needs the admin token, or the plugin key for a new version of that plugin', async (t) => {
  const node = await startTestNode(t);
  const anonymous = await call(node, 'POST', '/api/v1/plugin/register', { body: seedRegistration() });
  assert.equal(anonymous.status, 401);
  assert.equal(anonymous.body.error.code, 'CITY_ERR_AUTH_REQUIRED');

  const created = await call(node, 'POST', '/api/v1/plugin/register', { headers: node.admin, body: seedRegistration() });
  const v2 = seedRegistration();
  v2.plugin_manifest.version = '2.4.0';
  const byVendor = await call(node, 'POST', '/api/v1/plugin/register', { headers: { 'x-api-key': created.body.api_key }, body: v2 });
  assert.equal(byVendor.status, 201, JSON.stringify(byVendor.body));
  assert.equal(byVendor.body.status, 'version_added');
  assert.deepEqual(byVendor.body.plugin.versions.map((v: any) => v.version), ['2.3.1', '2.4.0']);

  const changed = seedRegistration();
  changed.plugin_manifest.model_name = 'Something else';
  const conflict = await call(node, 'POST', '/api/v1/plugin/register', { headers: node.admin, body: changed });
  assert.equal(conflict.status, 409);
  assert.equal(conflict.body.error.code, 'CITY_ERR_PLUGIN_EXISTS');

  const other = examplePlugin('flood-sensor-network.json');
  const wrongKey = await call(node, 'POST', '/api/v1/plugin/register', { headers: { 'x-api-key': created.body.api_key }, body: other });
  assert.equal(wrongKey.status, 403);
  assert.equal(wrongKey.body.error.code, 'CITY_ERR_AUTH_FORBIDDEN');
});

test('a bad registration is refused with every problem named by field', async (t) => {
  const node = await startTestNode(t);
  const bad = seedRegistration();
  delete bad.plugin_manifest.vendor;
  bad.plugin_manifest.version = 'two';
  bad.output_schema.fields.confidence_score.type = 'percentage';
  const res = await call(node, 'POST', '/api/v1/plugin/register', { headers: node.admin, body: bad });
  assert.equal(res.status, 422);
  assert.equal(res.body.error.code, 'CITY_ERR_PLUGIN_MANIFEST_INVALID');
  const paths = res.body.error.details.errors.map((e: any) => e.path);
  assert.ok(paths.includes('plugin_manifest.vendor'), paths.join());
  assert.ok(paths.includes('plugin_manifest.version'), paths.join());
  assert.ok(paths.includes('output_schema.fields.confidence_score.type'), paths.join());

  const malformed = await call(node, 'POST', '/api/v1/plugin/register', { headers: node.admin, raw: '{"plugin_manifest": ' });
  assert.equal(malformed.status, 400);
  assert.equal(malformed.body.error.code, 'CITY_ERR_PAYLOAD_MALFORMED');
});

test('plugins are listed, disabled, re-enabled and their keys rotated', async (t) => {
  const node = await startTestNode(t);
  const created = await call(node, 'POST', '/api/v1/plugin/register', { headers: node.admin, body: seedRegistration() });
  await call(node, 'POST', '/api/v1/plugin/register', { headers: node.admin, body: examplePlugin('air-quality-monitor.json') });
  const list = await call(node, 'GET', '/api/v1/plugins', { headers: node.admin });
  assert.deepEqual(list.body.plugins.map((p: any) => p.model_id), ['air-quality-monitor-v1', 'traffic-violation-detector-v2']);

  const disabled = await call(node, 'POST', '/api/v1/plugins/traffic-violation-detector-v2/disable', { headers: node.admin });
  assert.equal(disabled.body.enabled, false);
  const enabled = await call(node, 'POST', '/api/v1/plugins/traffic-violation-detector-v2/enable', { headers: node.admin });
  assert.equal(enabled.body.enabled, true);

  const rotated = await call(node, 'POST', '/api/v1/plugins/traffic-violation-detector-v2/rotate-key', { headers: node.admin });
  assert.notEqual(rotated.body.api_key, created.body.api_key);
  assert.equal(node.registry.ownerOfKeyHash(hashApiKey(created.body.api_key)), null);
  assert.deepEqual(node.registry.ownerOfKeyHash(hashApiKey(rotated.body.api_key))?.principal, { kind: 'plugin', tenantId: 'default', pluginId: 'traffic-violation-detector-v2' });

  const missing = await call(node, 'GET', '/api/v1/plugins/nope', { headers: node.admin });
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error.code, 'CITY_ERR_PLUGIN_NOT_FOUND');
});

test('registrations survive a restart of the node on the same store', async (t) => {
  const node = await startTestNode(t);
  const created = await call(node, 'POST', '/api/v1/plugin/register', { headers: node.admin, body: seedRegistration() });
  await node.close();
  // Started directly and closed here: the first node's cleanup drops the database afterwards.
  const again = await startNode({ ...node.config, adminToken: node.adminToken! }, pino({ level: 'silent' }));
  try {
    assert.deepEqual(again.registry.ownerOfKeyHash(hashApiKey(created.body.api_key))?.principal, { kind: 'plugin', tenantId: 'default', pluginId: 'traffic-violation-detector-v2' });
    assert.equal(again.registry.summary('traffic-violation-detector-v2').current_version, '2.3.1');
  } finally {
    await again.close();
  }
});
