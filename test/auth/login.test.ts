import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { seedDemoUsers } from '../../src/auth/demo-users.js';
import { DEFAULT_CONFIG, type Config } from '../../src/config/config.js';
import { CityError } from '../../src/errors.js';
import { call, startTestNode, suiteCleanup, type Cleanup, type DeepPartial } from '../helpers/node.js';
import { ADMIN, auditRows, chennaiTree, identityServices, openTestStore, testClock } from './fixtures.js';

const PASSWORD = 'a long enough password';
const MINUTE_MS = 60_000;

/** A node whose per-address sign-in limit is out of the way (these tests sign in many times). */
function startNode(t: Cleanup, overrides: DeepPartial<Config> = {}) {
  return startTestNode(t, { http: { rateLimit: { signInPerMinute: 10_000 } }, ...overrides });
}

// One node for the file (starting one costs seconds): every test makes its own users and
// tenants, named by `unique`. Three wrong passwords lock an account here.
const suite = suiteCleanup();
let node: Node;
before(async () => {
  node = await startNode(suite, { auth: { ...DEFAULT_CONFIG.auth, maxFailedLogins: 3 } });
});
after(() => suite.run());

let names = 0;
/** A user name or tenant id no other test uses. */
const unique = (prefix: string) => `${prefix}${++names}`;

type Node = Awaited<ReturnType<typeof startNode>>;

/** Creates a user through the API (as the super admin unless `headers` say otherwise). */
async function createUser(body: Record<string, unknown>, headers = node.admin): Promise<any> {
  const res = await call(node, 'POST', '/api/v1/users', { headers, body: { display_name: String(body.username ?? 'someone'), password: PASSWORD, ...body } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

/** An operator with a fresh name. */
async function newOperator(): Promise<{ username: string; user_id: string }> {
  return createUser({ username: unique('op.'), role: 'operator' });
}

function login(username: string, password = PASSWORD, tenant?: string) {
  return call(node, 'POST', '/api/v1/auth/login', { body: { username, password, ...(tenant ? { tenant } : {}) } });
}

const refresh = (token: string) => call(node, 'POST', '/api/v1/auth/refresh', { body: { refresh_token: token } });
const me = (token: string) => call(node, 'GET', '/api/v1/auth/me', { headers: bearer(token) });
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** A tenant with its first admin, made by the super admin. */
async function newTenant(): Promise<{ id: string; admin: string }> {
  const id = unique('town-');
  const admin = `${id}.admin`;
  const res = await call(node, 'POST', '/api/v1/tenants', { headers: node.admin, body: { id, name: `Town ${id}`, admin: { username: admin, password: PASSWORD, display_name: 'Admin' } } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return { id, admin };
}

describe('password sign-in', () => {
  it('answers access and refresh tokens and the user; /me shows role, level title and scope zone', async () => {
    const username = unique('officer.');
    await createUser({ username, display_name: 'Raja', role: 'authority', level: 1, scope_zone_id: 'chennai-w119' });
    const res = await login(username.toUpperCase()); // user names are case-insensitive
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.token_type, 'Bearer');
    assert.equal(res.body.expires_in, 3600);
    assert.match(res.body.refresh_token, /^rt_[A-Za-z0-9_-]{43}$/);
    assert.ok(Date.parse(res.body.refresh_expires_at) > Date.now() + 29 * 86_400_000);
    assert.equal(res.body.user.role, 'authority');
    assert.equal(JSON.stringify(res.body).includes('argon2'), false, 'no password hash in answers');

    const mine = await me(res.body.access_token);
    assert.equal(mine.status, 200);
    assert.equal(mine.body.username, username);
    assert.equal(mine.body.level, 1);
    assert.equal(mine.body.level_title, 'Local Officer');
    assert.equal(mine.body.scope_zone.id, 'chennai-w119');
    assert.ok(mine.body.scope_zone.name);
    assert.equal(mine.body.scope, 'zone chennai-w119 and below');
  });

  it('an unknown user, a wrong password and another tenant all answer the same 401', async () => {
    const { username } = await newOperator();
    const other = await newTenant();
    const answers = [await login(unique('nobody.')), await login(username, 'not the password'), await login(other.admin, PASSWORD, other.id), await login(username, PASSWORD, other.id)];
    for (const res of answers) {
      assert.equal(res.status, 401);
      assert.deepEqual(res.body.error, { code: 'CITY_ERR_AUTH_LOGIN_FAILED', message: 'user name or password is wrong', details: {} });
    }
    assert.equal((await login(username, PASSWORD, 'default')).status, 200, 'the node tenant by name works');
    const failed = (await auditRows(node.store, 'auth.login')).filter((r) => r.outcome === 'failed' && [username, other.admin].includes((r.details as any).username));
    assert.equal(failed.length, 3, 'failed sign-ins are audited');
  });

  it('locks the account after repeated wrong passwords, even for the right one, and says until when', async () => {
    const { username, user_id } = await newOperator();
    assert.equal((await login(username, 'wrong password 1')).status, 401);
    assert.equal((await login(username, 'wrong password 2')).status, 401);
    const third = await login(username, 'wrong password 3');
    assert.equal(third.status, 429);
    assert.equal(third.body.error.code, 'CITY_ERR_AUTH_LOCKED');
    const until = Date.parse(third.body.error.details.until);
    assert.ok(until > Date.now() + 14 * MINUTE_MS && until <= Date.now() + 15 * MINUTE_MS, third.body.error.details.until);
    assert.match(third.body.error.message, /locked until \d{4}-\d\d-\d\dT/);

    assert.equal((await login(username)).status, 429, 'the right password does not open a locked account');

    // An admin reset ends the lockout.
    const shown = await call(node, 'GET', `/api/v1/users/${user_id}`, { headers: node.admin });
    assert.equal(shown.body.locked_until, third.body.error.details.until);
    const reset = await call(node, 'POST', `/api/v1/users/${user_id}/password`, { headers: node.admin, body: { new_password: 'another long password' } });
    assert.equal(reset.status, 204, JSON.stringify(reset.body));
    assert.equal((await login(username, 'another long password')).status, 200);
  });

  it('a success resets the failure count', async () => {
    const { username } = await newOperator();
    for (let round = 0; round < 3; round++) {
      assert.equal((await login(username, 'wrong password')).status, 401);
      assert.equal((await login(username, 'wrong password')).status, 401);
      assert.equal((await login(username)).status, 200);
    }
  });

  it('the lock ends after lockoutMs, with fresh tries (service, moved clock)', async (t) => {
    const store = await openTestStore(t);
    const clock = testClock();
    const { users } = identityServices(store, clock, { maxFailedLogins: 2, lockoutMs: 15 * MINUTE_MS });
    await users.create('default', { username: 'op.meena', display_name: 'Meena', role: 'operator', password: PASSWORD }, ADMIN);
    const attempt = (password: string) => users.passwordLogin({ username: 'op.meena', password }, null);
    const code = (err: unknown) => (err as CityError).code;
    await assert.rejects(attempt('wrong password'), (e) => code(e) === 'CITY_ERR_AUTH_LOGIN_FAILED');
    await assert.rejects(attempt('wrong password'), (e) => code(e) === 'CITY_ERR_AUTH_LOCKED');
    clock.advance(15 * MINUTE_MS - 1);
    await assert.rejects(attempt(PASSWORD), (e) => code(e) === 'CITY_ERR_AUTH_LOCKED' && (e as CityError).details.retryAfterS === 1);
    clock.advance(1);
    await assert.rejects(attempt('wrong password'), (e) => code(e) === 'CITY_ERR_AUTH_LOGIN_FAILED', 'one wrong try after the lock does not lock again');
    assert.equal((await attempt(PASSWORD)).username, 'op.meena');
  });

  it('a disabled user cannot sign in or refresh; enabling lets them sign in again', async () => {
    const { username, user_id } = await newOperator();
    const session = (await login(username)).body;
    const disabled = await call(node, 'PATCH', `/api/v1/users/${user_id}`, { headers: node.admin, body: { disabled: true } });
    assert.equal(disabled.status, 200);
    assert.equal(disabled.body.disabled, true);

    const refused = await refresh(session.refresh_token);
    assert.equal(refused.status, 401);
    assert.equal(refused.body.error.code, 'CITY_ERR_AUTH_REFRESH_INVALID');
    assert.equal((await me(session.access_token)).status, 401, 'its access token stops at once');
    const again = await login(username);
    assert.equal(again.status, 403);
    assert.equal(again.body.error.code, 'CITY_ERR_AUTH_USER_DISABLED');

    await call(node, 'PATCH', `/api/v1/users/${user_id}`, { headers: node.admin, body: { disabled: false } });
    assert.equal((await login(username)).status, 200);
  });
});

describe('refresh tokens over HTTP', () => {
  it('rotate: each refresh answers a new pair and spends the presented token', async () => {
    const { username } = await newOperator();
    const first = (await login(username)).body;
    const second = await refresh(first.refresh_token);
    assert.equal(second.status, 200, JSON.stringify(second.body));
    assert.notEqual(second.body.refresh_token, first.refresh_token);
    assert.equal(second.body.user.username, username);
    assert.equal((await me(second.body.access_token)).status, 200);
  });

  it('reusing a rotated token revokes the family: the newest token and its access token are refused at once', async () => {
    const { username } = await newOperator();
    const first = (await login(username)).body;
    const second = (await refresh(first.refresh_token)).body;
    assert.equal((await me(second.access_token)).status, 200);

    const replay = await refresh(first.refresh_token);
    assert.equal(replay.status, 401);
    assert.equal(replay.body.error.code, 'CITY_ERR_AUTH_REFRESH_INVALID');
    assert.match(replay.body.error.message, /reuse detected/);

    const newest = await refresh(second.refresh_token);
    assert.equal(newest.status, 401);
    assert.match(newest.body.error.message, /revoked \(reuse detected\)/);
    const meAfter = await me(second.access_token);
    assert.equal(meAfter.status, 401);
    assert.equal(meAfter.body.error.code, 'CITY_ERR_AUTH_TOKEN_INVALID');
    assert.match(meAfter.body.error.message, /signed out or revoked/);
  });

  it('logout revokes the session: its refresh token and access token are refused; other sessions live on', async () => {
    const { username, user_id } = await newOperator();
    const phone = (await login(username)).body;
    const laptop = (await login(username)).body;
    assert.equal((await call(node, 'POST', '/api/v1/auth/logout', { headers: bearer(phone.access_token) })).status, 204);

    const refused = await refresh(phone.refresh_token);
    assert.equal(refused.status, 401);
    assert.match(refused.body.error.message, /revoked \(signed out\)/);
    assert.equal((await me(phone.access_token)).status, 401);
    assert.equal((await me(laptop.access_token)).status, 200);
    assert.equal((await call(node, 'POST', '/api/v1/auth/logout')).status, 401, 'logout needs a signed-in caller');
    assert.equal((await auditRows(node.store, 'auth.logout')).filter((r) => r.target_id === user_id).length, 1);
  });

  it('refuses unknown and malformed refresh tokens', async () => {
    const unknown = await refresh('rt_' + 'x'.repeat(43));
    assert.equal(unknown.status, 401);
    assert.match(unknown.body.error.message, /not known/);
    assert.equal((await call(node, 'POST', '/api/v1/auth/refresh', { body: {} })).status, 400);
  });
});

describe('managing users', () => {
  it('validates role, level and scope, naming the problem', async () => {
    const invalid = async (body: Record<string, unknown>, pattern: RegExp) => {
      const res = await call(node, 'POST', '/api/v1/users', { headers: node.admin, body: { display_name: 'X', password: PASSWORD, ...body } });
      assert.equal(res.status, 422, JSON.stringify(res.body));
      assert.match(res.body.error.message, pattern);
    };
    await invalid({ username: unique('v.'), role: 'authority', scope_zone_id: 'chennai' }, /authority needs a level from 1 to 5/);
    await invalid({ username: unique('v.'), role: 'authority', level: 2 }, /needs a scope_zone_id/);
    await invalid({ username: unique('v.'), role: 'authority', level: 2, scope_zone_id: 'atlantis' }, /scope zone atlantis does not exist/);
    await invalid({ username: unique('v.'), role: 'operator', level: 1 }, /only authorities have a level/);
    await invalid({ username: unique('v.'), role: 'tenant_admin', scope_zone_id: 'chennai' }, /manages the whole tenant/);
    await invalid({ role: 'operator' }, /needs a username/);
    await invalid({ role: 'citizen', password: undefined }, /citizen needs a phone/);
    await invalid({ username: unique('v.'), role: 'operator', password: 'short' }, /at least 12 characters/);
    const badLevel = await call(node, 'POST', '/api/v1/users', { headers: node.admin, body: { username: unique('v.'), display_name: 'X', role: 'authority', level: 6, scope_zone_id: 'chennai', password: PASSWORD } });
    assert.equal(badLevel.status, 400, 'the schema refuses level 6');

    const { username } = await createUser({ username: unique('op.'), role: 'operator', scope_zone_id: 'chennai-z09' });
    const duplicate = await call(node, 'POST', '/api/v1/users', { headers: node.admin, body: { username: username.toUpperCase(), display_name: 'X', role: 'operator', password: PASSWORD } });
    assert.equal(duplicate.status, 409);
    assert.equal(duplicate.body.error.code, 'CITY_ERR_USER_EXISTS');
  });

  it('lists with filters, gets, and audits changes; a level change signs the user out', async () => {
    const tag = unique('ls');
    const l1 = await createUser({ username: `${tag}.officer`, role: 'authority', level: 1, scope_zone_id: 'chennai-w119' });
    await createUser({ username: `${tag}.commander`, role: 'authority', level: 2, scope_zone_id: 'chennai-z09' });
    await createUser({ username: `${tag}.operator`, role: 'operator' });
    const list = async (query: string) => (await call(node, 'GET', `/api/v1/users?q=${tag}.${query}`, { headers: node.admin })).body.users.map((u: any) => u.username);
    assert.deepEqual(await list(''), [`${tag}.commander`, `${tag}.officer`, `${tag}.operator`]);
    assert.deepEqual(await list('&role=authority&level=2'), [`${tag}.commander`]);
    assert.deepEqual(await list('OFFIC'), [`${tag}.officer`]);
    assert.equal((await call(node, 'GET', `/api/v1/users/${l1.user_id}`, { headers: node.admin })).body.level_title, 'Local Officer');
    assert.equal((await call(node, 'GET', '/api/v1/users/nope', { headers: node.admin })).status, 404);

    const session = (await login(l1.username)).body;
    const promoted = await call(node, 'PATCH', `/api/v1/users/${l1.user_id}`, { headers: node.admin, body: { level: 2, scope_zone_id: 'chennai-z09' } });
    assert.equal(promoted.status, 200, JSON.stringify(promoted.body));
    assert.equal(promoted.body.level_title, 'District Commander');
    assert.equal((await me(session.access_token)).status, 401, 'old claims stop at once');
    const fresh = (await login(l1.username)).body;
    assert.equal((await me(fresh.access_token)).body.scope_zone.id, 'chennai-z09');

    const updates = (await auditRows(node.store, 'user.update')).filter((r) => r.target_id === l1.user_id);
    assert.equal(updates.length, 1);
    assert.equal(updates[0]!.actor_id, 'admin-token');
    assert.deepEqual((updates[0]!.details as any).changed.level, { from: 1, to: 2 });
    assert.equal((await auditRows(node.store, 'user.create')).filter((r) => String((r.details as any).username).startsWith(`${tag}.`)).length, 3);
  });

  it("a tenant admin manages their own tenant's users only; operators cannot manage users", async () => {
    const tenantAdmin = await createUser({ username: unique('admin.'), role: 'tenant_admin' });
    const { username: operatorName } = await newOperator();
    const admin = bearer((await login(tenantAdmin.username)).body.access_token);
    const operator = bearer((await login(operatorName)).body.access_token);

    const made = await call(node, 'POST', '/api/v1/users', { headers: admin, body: { username: unique('op.'), display_name: 'New', role: 'operator', password: PASSWORD } });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const superAdmin = await call(node, 'POST', '/api/v1/users', { headers: admin, body: { username: unique('root.'), display_name: 'Root', role: 'super_admin', password: PASSWORD } });
    assert.equal(superAdmin.status, 403, 'only the super admin makes super admins');
    const other = await newTenant();
    const otherTenant = await call(node, 'GET', `/api/v1/users?tenant=${other.id}`, { headers: admin });
    assert.equal(otherTenant.status, 403);
    assert.equal(otherTenant.body.error.code, 'CITY_ERR_AUTH_WRONG_TENANT');
    const asSuper = await call(node, 'GET', `/api/v1/users?tenant=${other.id}`, { headers: node.admin });
    assert.deepEqual(asSuper.body.users.map((u: any) => [u.username, u.role, u.tenant_id]), [[other.admin, 'tenant_admin', other.id]]);
    assert.equal((await call(node, 'GET', '/api/v1/users?tenant=no-such-town', { headers: node.admin })).status, 404);

    assert.equal((await call(node, 'GET', '/api/v1/users', { headers: operator })).status, 403);
    assert.equal((await call(node, 'GET', '/api/v1/tenants', { headers: admin })).status, 403, "tenants are the super admin's");
  });

  it('tenants: the super admin creates a tenant with its first admin, once', async () => {
    const id = unique('madurai-');
    const body = { id, name: 'Madurai Corporation', admin: { username: `${id}.admin`, password: PASSWORD, display_name: 'Madurai admin' } };
    const created = await call(node, 'POST', '/api/v1/tenants', { headers: node.admin, body });
    assert.equal(created.status, 201);
    assert.equal(created.body.tenant.id, id);
    assert.equal(created.body.admin.role, 'tenant_admin');
    assert.equal((await call(node, 'POST', '/api/v1/tenants', { headers: node.admin, body })).body.error.code, 'CITY_ERR_TENANT_EXISTS');
    const weakId = unique('salem-');
    const weak = await call(node, 'POST', '/api/v1/tenants', { headers: node.admin, body: { ...body, id: weakId, admin: { ...body.admin, password: 'short' } } });
    assert.equal(weak.status, 422);
    const ids = (await call(node, 'GET', '/api/v1/tenants', { headers: node.admin })).body.tenants.map((x: any) => x.id);
    assert.ok(ids.includes('default') && ids.includes(id));
    assert.equal(ids.includes(weakId), false, 'a refused tenant leaves nothing behind');
    assert.equal((await auditRows(node.store, 'tenant.create')).filter((r) => r.target_id === id).length, 1);
  });

  it('a user changes their own password with the old one, which signs out their sessions', async () => {
    const { username } = await newOperator();
    const session = (await login(username)).body;
    const headers = bearer(session.access_token);
    const wrongOld = await call(node, 'POST', '/api/v1/auth/password', { headers, body: { old_password: 'not my password', new_password: 'my new long password' } });
    assert.equal(wrongOld.status, 401);
    const changed = await call(node, 'POST', '/api/v1/auth/password', { headers, body: { old_password: PASSWORD, new_password: 'my new long password' } });
    assert.equal(changed.status, 204, JSON.stringify(changed.body));
    assert.equal((await refresh(session.refresh_token)).status, 401);
    assert.equal((await login(username)).status, 401);
    assert.equal((await login(username, 'my new long password')).status, 200);
  });
});

describe('demo users', () => {
  it('creates a tenant admin, an operator and L1/L2/L3 authorities on real Chennai zones, with random passwords kept in a file', async (t) => {
    const store = await openTestStore(t);
    const tree = await chennaiTree();
    const { users } = identityServices(store, testClock(), { tree });
    const first = await seedDemoUsers(users, tree, store.dataDir);
    assert.deepEqual(first.users.map((u) => [u.username, u.role, u.level]), [
      ['demo-admin', 'tenant_admin', null],
      ['demo-operator', 'operator', null],
      ['demo-officer', 'authority', 1],
      ['demo-commander', 'authority', 2],
      ['demo-commissioner', 'authority', 3],
    ]);
    const [officer, commander, commissioner] = first.users.slice(2);
    assert.equal(tree.get(officer!.scope_zone_id!).level, 'neighbourhood');
    assert.equal(tree.get(commander!.scope_zone_id!).level, 'district');
    assert.equal(commissioner!.scope_zone_id, 'chennai');
    assert.ok(tree.isWithin(officer!.scope_zone_id!, commander!.scope_zone_id!), "the officer's ward lies in the commander's district");
    assert.deepEqual(first.fresh.length, 5);

    const file = JSON.parse(await readFile(first.file, 'utf8'));
    assert.equal(((await stat(first.file)).mode & 0o777).toString(8), '600');
    for (const u of first.users) {
      assert.equal(file[u.username], u.password);
      assert.ok(u.password.length >= 12);
      assert.equal((await users.passwordLogin({ username: u.username, password: u.password }, null)).username, u.username);
    }

    const second = await seedDemoUsers(users, tree, store.dataDir);
    assert.deepEqual(second.fresh, [], 'a restart keeps the users and their passwords');
    assert.deepEqual(second.users, first.users);
  });
});
