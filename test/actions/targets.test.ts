import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { installTestPolicy } from '../helpers/policy.js';

const ADMIN_TOKEN = 'adm_action-targets-test-0123456789';
import { actionTargetRoutes } from '../../src/actions/routes.js';
import { ActionTargets, fillTopic, validateTarget } from '../../src/actions/targets.js';
import { CityError } from '../../src/errors.js';
import { createHttpApp } from '../../src/http/app.js';
import { openStore, type Store } from '../../src/store/store.js';
import { createTestDatabase } from '../helpers/store.js';

/** One store for the file; each test uses its own tenant. */
let shared: Promise<{ store: Store; dispose(): Promise<void> }> | undefined;
let tenants = 0;
async function fresh(): Promise<{ store: Store; tenant: string; targets: ActionTargets }> {
  shared ??= (async () => {
    const database = await createTestDatabase();
    const store = await openStore({ databaseUrl: database.databaseUrl, dataDir: database.dataDir });
    return { store, dispose: async () => (await store.close(), await database.dispose()) };
  })();
  const { store } = await shared;
  const tenant = `t${++tenants}`;
  return { store, tenant, targets: await ActionTargets.load(store.db, tenant) };
}

/** Asserts ACTION_TARGET_INVALID naming `field`, with the message matching `message`. */
function rejects(body: unknown, field: string, message: RegExp, name = 'tcs'): void {
  assert.throws(
    () => validateTarget(name, body),
    (err: unknown) => {
      assert.ok(err instanceof CityError, `expected a CityError, got ${String(err)}`);
      assert.equal(err.code, 'CITY_ERR_ACTION_TARGET_INVALID');
      assert.equal(err.details.field, field);
      assert.ok(err.message.startsWith(`action target ${name} is invalid: ${field} `), err.message);
      assert.match(err.message, message);
      return true;
    },
  );
}

describe('action targets', { timeout: 60_000 }, () => {
  after(async () => (await shared)?.dispose());

  it('(g) validation errors name the field', () => {
    rejects({ kind: 'webhook', url: 'not a url' }, 'url', /is not a valid URL/);
    rejects({ kind: 'webhook', url: 'ftp://tcs.example/x' }, 'url', /must use http or https \(got ftp\)/);
    rejects({ kind: 'webhook', url: 'https://user:pw@tcs.example/x' }, 'url', /must not contain credentials/);
    rejects({ kind: 'webhook' }, 'url', /is required/);
    rejects({ kind: 'smtp', url: 'https://x.example' }, 'kind', /must be 'webhook' or 'mqtt' \(got "smtp"\)/);
    rejects({ url: 'https://x.example' }, 'kind', /must be 'webhook' or 'mqtt'/);
    rejects({ kind: 'webhook', url: 'https://x.example', timeout_ms: 50 }, 'timeout_ms', /integer from 100 to 60000 \(got 50\)/);
    rejects({ kind: 'webhook', url: 'https://x.example', timeout_ms: 60_001 }, 'timeout_ms', /from 100 to 60000/);
    rejects({ kind: 'webhook', url: 'https://x.example', timeout_ms: '5000' }, 'timeout_ms', /integer/);
    rejects({ kind: 'webhook', url: 'https://x.example', max_attempts: 0 }, 'max_attempts', /integer from 1 to 20 \(got 0\)/);
    rejects({ kind: 'mqtt', max_attempts: 21 }, 'max_attempts', /from 1 to 20/);
    rejects({ kind: 'webhook', url: 'https://x.example', headers: { 'Bad Name': 'x' } }, 'headers.Bad Name', /not a valid header name/);
    rejects({ kind: 'webhook', url: 'https://x.example', headers: { 'X-Token': 'a\r\nInjected: 1' } }, 'headers.X-Token', /CR, LF or NUL/);
    rejects({ kind: 'webhook', url: 'https://x.example', headers: { 'X-Count': 3 } }, 'headers.X-Count', /must be a string/);
    rejects({ kind: 'webhook', url: 'https://x.example', headers: { 'Idempotency-Key': 'x' } }, 'headers.Idempotency-Key', /set by the node/);
    rejects({ kind: 'webhook', url: 'https://x.example', headers: ['x'] }, 'headers', /must be an object/);
    rejects({ kind: 'webhook', url: 'https://x.example', timeout: 5000 }, 'timeout', /not a known field/);
    rejects({ kind: 'webhook', url: 'https://x.example', topic: 'a/b' }, 'topic', /only to mqtt targets/);
    rejects({ kind: 'mqtt', url: 'https://x.example' }, 'url', /only to webhook targets/);
    rejects({ kind: 'mqtt', headers: {} }, 'headers', /only to webhook targets/);
    rejects({ kind: 'mqtt', topic: 'city/+/commands' }, 'topic', /must not contain '\+', '#'/);
    rejects({ kind: 'mqtt', topic: '$SYS/x' }, 'topic', /must not start with '\$'/);
    rejects({ kind: 'mqtt', topic: 'city/{ward}/x' }, 'topic', /unknown placeholder \{ward\}/);
    rejects('webhook', 'body', /must be an object/);
    rejects({ kind: 'mqtt' }, 'name', /letters, digits/, 'bad/name');
  });

  it('stores, resolves, lists, reloads and deletes targets; unknown names resolve to the default command topic', async () => {
    const { store, tenant, targets } = await fresh();
    const put = await targets.put('traffic_control_system', {
      kind: 'webhook',
      url: 'https://tcs.example/commands',
      headers: { Authorization: 'Bearer s3cret', 'X-Region': 'south' },
      timeout_ms: 3000,
    });
    assert.equal(put.created, true);
    assert.deepEqual(put.target.headers, { Authorization: '***', 'X-Region': 'south' }, 'credentials are write-only');
    assert.equal((await targets.put('traffic_control_system', { kind: 'webhook', url: 'https://tcs.example/v2', max_attempts: 3 })).created, false);
    await targets.put('signals', { kind: 'mqtt', topic: 'city/{zone}/signals/{target}' });

    assert.deepEqual(targets.get('traffic_control_system'), {
      name: 'traffic_control_system',
      kind: 'webhook',
      url: 'https://tcs.example/v2',
      headers: {},
      timeoutMs: 5000,
      maxAttempts: 3,
      configured: true,
    });
    assert.deepEqual(targets.get('pump_7'), { name: 'pump_7', kind: 'mqtt', topic: 'city/{zone}/commands/{target}', timeoutMs: 5000, maxAttempts: 5, configured: false });
    assert.equal(targets.has('pump_7'), false);
    assert.equal(targets.has('signals'), true);
    assert.deepEqual(targets.list().map((v) => [v.name, v.kind, v.url, v.topic, v.max_attempts]), [
      ['signals', 'mqtt', null, 'city/{zone}/signals/{target}', 5],
      ['traffic_control_system', 'webhook', 'https://tcs.example/v2', null, 3],
    ]);

    const reloaded = await ActionTargets.load(store.db, tenant);
    assert.deepEqual(reloaded.list(), targets.list());
    assert.deepEqual(reloaded.get('traffic_control_system'), targets.get('traffic_control_system'));

    await targets.delete('signals');
    assert.equal(targets.has('signals'), false);
    assert.equal(targets.get('signals').configured, false);
    await assert.rejects(targets.delete('signals'), (err: CityError) => err.code === 'CITY_ERR_ACTION_TARGET_NOT_FOUND');
    assert.throws(() => targets.view('signals'), (err: CityError) => err.code === 'CITY_ERR_ACTION_TARGET_NOT_FOUND');
    assert.equal((await ActionTargets.load(store.db, tenant)).has('signals'), false);
  });

  it('seeds targets from config, validating all before writing any', async () => {
    const { targets } = await fresh();
    await targets.seed({ tcs: { kind: 'webhook', url: 'http://10.0.0.5/cmd' }, pumps: { kind: 'mqtt', max_attempts: 2 } });
    assert.deepEqual(targets.list().map((v) => v.name), ['pumps', 'tcs']);
    assert.equal(targets.get('pumps').maxAttempts, 2);
    await assert.rejects(targets.seed({ alpha: { kind: 'mqtt' }, beta: { kind: 'webhook', url: 'nope' } }), (err: CityError) => err.details.field === 'url');
    assert.equal(targets.has('alpha'), false);
  });

  it('fills topic templates with safe topic levels', () => {
    assert.equal(fillTopic('city/{zone}/commands/{target}', 'w119', 'pump_7'), 'city/w119/commands/pump_7');
    assert.equal(fillTopic('city/{zone}/commands/{target}', null, 'a/b+c#'), 'city/unzoned/commands/a_b_c_');
  });

  it('serves the action-target routes to admins, with errors in the catalogue shape', async (t) => {
    const { targets } = await fresh();
    const app = await createHttpApp({ logger: pino({ level: 'silent' }), jsonBodyLimitBytes: 1 << 20, version: 'test' });
    t.after(() => app.close());
    installTestPolicy(app, ADMIN_TOKEN);
    await app.register(actionTargetRoutes, { targets });
    const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

    assert.equal((await app.inject({ method: 'GET', url: '/api/v1/action-targets' })).statusCode, 401);

    const created = await app.inject({ method: 'PUT', url: '/api/v1/action-targets/tcs', headers: admin, payload: { kind: 'webhook', url: 'https://tcs.example/c' } });
    assert.equal(created.statusCode, 201);
    assert.equal(created.json().url, 'https://tcs.example/c');
    const replaced = await app.inject({ method: 'PUT', url: '/api/v1/action-targets/tcs', headers: admin, payload: { kind: 'webhook', url: 'https://tcs.example/d' } });
    assert.equal(replaced.statusCode, 200);

    const list = await app.inject({ method: 'GET', url: '/api/v1/action-targets', headers: admin });
    assert.deepEqual(list.json().targets.map((v: { name: string }) => v.name), ['tcs']);
    assert.equal(list.json().default.topic, 'city/{zone}/commands/{target}');
    assert.equal((await app.inject({ method: 'GET', url: '/api/v1/action-targets/tcs', headers: admin })).json().url, 'https://tcs.example/d');

    const bad = await app.inject({ method: 'PUT', url: '/api/v1/action-targets/tcs', headers: admin, payload: { kind: 'webhook', url: 'https://x.example', retries: 3 } });
    assert.equal(bad.statusCode, 422);
    assert.equal(bad.json().error.code, 'CITY_ERR_ACTION_TARGET_INVALID');
    assert.equal(bad.json().error.details.field, 'retries');

    const missing = await app.inject({ method: 'GET', url: '/api/v1/action-targets/nope', headers: admin });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().error.code, 'CITY_ERR_ACTION_TARGET_NOT_FOUND');

    assert.deepEqual((await app.inject({ method: 'DELETE', url: '/api/v1/action-targets/tcs', headers: admin })).json(), { name: 'tcs', deleted: true });
    assert.equal((await app.inject({ method: 'DELETE', url: '/api/v1/action-targets/tcs', headers: admin })).statusCode, 404);
  });
});
