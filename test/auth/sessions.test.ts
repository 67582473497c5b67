import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AccessTokens } from '../../src/auth/access-tokens.js';
import { Sessions, sessionUserOf, tokenResponse } from '../../src/auth/sessions.js';
import type { UserRow } from '../../src/auth/sessions.js';
import { CityError } from '../../src/errors.js';
import { ADMIN, auditRows, identityServices, openTestStore, testClock, type IdentityServices } from './fixtures.js';
import { suiteCleanup } from '../helpers/node.js';
import type { Store } from '../../src/store/store.js';
import { eventually } from '../helpers/wait.js';

const DAY_MS = 86_400_000;

/** Asserts a refresh is refused with CITY_ERR_AUTH_REFRESH_INVALID and a reason matching `reason`. */
async function refused(promise: Promise<unknown>, reason: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof CityError, String(err));
    assert.equal(err.code, 'CITY_ERR_AUTH_REFRESH_INVALID');
    assert.equal(err.status, 401);
    assert.match(String(err.details.reason), reason);
    return true;
  });
}

// One store for the file (opening one costs seconds); every test has its own user and clock.
const suite = suiteCleanup();
let shared: Store;
before(async () => {
  shared = await openTestStore(suite);
});
after(() => suite.run());

let userCount = 0;
async function setup(options: Parameters<typeof identityServices>[2] = {}) {
  const store = shared;
  const clock = testClock();
  const services = identityServices(store, clock, options);
  const user = await services.users.create('default', { username: `operator.${++userCount}`, display_name: 'Meena', role: 'operator', password: 'a long enough password' }, ADMIN);
  return { store, clock, ...services, user };
}

describe('refresh-token rotation', () => {
  it('issues rt_ tokens of 32 random bytes, stores only their SHA-256, and rotates within the family', async () => {
    const { store, sessions, user } = await setup();
    const first = await sessions.issue(sessionUserOf(user));
    assert.match(first.refreshToken, /^rt_[A-Za-z0-9_-]{43}$/);
    assert.equal(Buffer.from(first.refreshToken.slice(3), 'base64url').length, 32);
    const rows = await store.db.selectFrom('refresh_tokens').selectAll().where('user_id', '=', user.user_id).execute();
    assert.equal(rows.length, 1);
    assert.equal(JSON.stringify(rows).includes(first.refreshToken.slice(3)), false, 'the token itself is not stored');

    const second = await sessions.rotate(first.refreshToken);
    assert.equal(second.sessionId, first.sessionId, 'same family');
    assert.notEqual(second.refreshToken, first.refreshToken);
    assert.equal(second.user.user_id, user.user_id);
    const third = await sessions.rotate(second.refreshToken);
    assert.equal(third.sessionId, first.sessionId);
    assert.equal(sessions.isRevoked(first.sessionId), false);
  });

  it('a rotated token presented again revokes the whole family: the newest token and its access tokens stop too', async () => {
    const { store, sessions, user } = await setup();
    const first = await sessions.issue(sessionUserOf(user));
    const second = await sessions.rotate(first.refreshToken);

    await refused(sessions.rotate(first.refreshToken), /already used.*reuse detected/);
    assert.equal(sessions.isRevoked(first.sessionId), true, 'access tokens of the family are refused at once');
    await refused(sessions.rotate(second.refreshToken), /revoked \(reuse detected\)/);

    const family = await store.db.selectFrom('refresh_tokens').select(['revoked_reason']).where('family_id', '=', first.sessionId).execute();
    assert.deepEqual(family.map((r) => r.revoked_reason), ['reuse detected', 'reuse detected']);
    await eventually(async () => {
      const entry = (await auditRows(store, 'auth.refresh_reuse')).find((r) => r.target_id === user.user_id);
      assert.equal(entry?.target_id, user.user_id);
      assert.equal(entry?.outcome, 'denied');
    });
  });

  it('two concurrent rotations of one token: one succeeds, the other counts as reuse and revokes the family', async () => {
    const { sessions, user } = await setup();
    const first = await sessions.issue(sessionUserOf(user));
    const outcomes = await Promise.allSettled([sessions.rotate(first.refreshToken), sessions.rotate(first.refreshToken)]);
    const won = outcomes.filter((o) => o.status === 'fulfilled');
    const lost = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    assert.equal(won.length, 1);
    assert.equal(lost.length, 1);
    assert.match(String((lost[0]!.reason as CityError).details.reason), /reuse detected/);
    assert.equal(sessions.isRevoked(first.sessionId), true);
    await refused(sessions.rotate((won[0] as PromiseFulfilledResult<{ refreshToken: string }>).value.refreshToken), /revoked/);
  });

  it('an expired refresh token is refused, naming when it expired', async () => {
    const { sessions, clock, user } = await setup({ refreshTtlMs: 30 * DAY_MS });
    const first = await sessions.issue(sessionUserOf(user));
    clock.advance(30 * DAY_MS - 1000);
    const second = await sessions.rotate(first.refreshToken); // still valid a second before
    clock.advance(30 * DAY_MS);
    await refused(sessions.rotate(second.refreshToken), /^expired \(at \d{4}-/);
    assert.equal(sessions.isRevoked(first.sessionId), false, 'expiry is not reuse');
  });

  it('a revoked (signed-out) token is refused, naming the reason', async () => {
    const { sessions, user } = await setup();
    const first = await sessions.issue(sessionUserOf(user));
    await sessions.revokeFamily(first.sessionId, 'signed out');
    assert.equal(sessions.isRevoked(first.sessionId), true);
    await refused(sessions.rotate(first.refreshToken), /^revoked \(signed out\)$/);
  });

  it('refuses unknown, malformed and other tenants\' tokens', async () => {
    const { store, sessions, audit, user } = await setup();
    await refused(sessions.rotate('rt_' + 'A'.repeat(43)), /not known/);
    await refused(sessions.rotate('not-a-token'), /not a refresh token/);
    await refused(sessions.rotate(''), /not a refresh token/);
    // The same identity database serving another tenant's node: its tokens do not work here.
    await store.db.insertInto('tenants').values({ id: 'madurai', name: 'Madurai' }).execute();
    const other = new Sessions({ db: store.db, tenantId: 'madurai', refreshTtlMs: DAY_MS, accessTokenTtlS: 3600, audit });
    const foreign = await other.issue(sessionUserOf(user));
    await refused(sessions.rotate(foreign.refreshToken), /not known/);
  });

  it('a disabled user cannot refresh, and disabling revokes their sessions', async () => {
    const { sessions, users, user } = await setup();
    const first = await sessions.issue(sessionUserOf(user));
    await users.update('default', user.user_id, { disabled: true }, ADMIN);
    assert.equal(sessions.isRevoked(first.sessionId), true);
    await refused(sessions.rotate(first.refreshToken), /revoked \(user disabled\)/);
  });

  it('a user disabled behind the service\'s back (another node, SQL) is still refused at the next refresh', async () => {
    const { store, sessions, user } = await setup();
    const first = await sessions.issue(sessionUserOf(user));
    await store.db.updateTable('users').set({ disabled_at: new Date() }).where('user_id', '=', user.user_id).execute();
    await refused(sessions.rotate(first.refreshToken), /disabled account/);
    assert.equal(sessions.isRevoked(first.sessionId), true);
  });

  it('the new access token carries the user as they are now, not as they were at sign-in', async () => {
    const { store, sessions, user } = await setup();
    const first = await sessions.issue(sessionUserOf(user));
    await store.db.updateTable('users').set({ display_name: 'Meena R.', scope_zone_id: 'chennai-w119' }).where('user_id', '=', user.user_id).execute();
    const next = await sessions.rotate(first.refreshToken);
    assert.equal(next.user.display_name, 'Meena R.');
    assert.equal(sessionUserOf(next.user).scopeZoneId, 'chennai-w119');
  });

  it('a role, level or scope change through Users revokes the sessions, so the next sign-in carries it', async () => {
    const { sessions, users, user } = await setup();
    const first = await sessions.issue(sessionUserOf(user));
    await users.update('default', user.user_id, { role: 'tenant_admin' }, ADMIN);
    await refused(sessions.rotate(first.refreshToken), /revoked \(role, level or scope changed\)/);
  });

  it('revokeUser ends every family of the user', async () => {
    const { sessions, user } = await setup();
    const a = await sessions.issue(sessionUserOf(user));
    const b = await sessions.issue(sessionUserOf(user));
    assert.equal(await sessions.revokeUser(user.user_id, 'password changed'), 2);
    assert.equal(sessions.isRevoked(a.sessionId), true);
    assert.equal(sessions.isRevoked(b.sessionId), true);
    await refused(sessions.rotate(b.refreshToken), /password changed/);
  });
});

describe('the revoked-session set', () => {
  it('is loaded at start with families revoked within the access-token lifetime, and forgets older ones', async () => {
    const { store, clock, sessions, audit, user } = await setup({ accessTokenTtlS: 3600 });
    const old = await sessions.issue(sessionUserOf(user));
    await sessions.revokeFamily(old.sessionId, 'signed out');
    clock.advance(2 * 3600_000);
    const recent = await sessions.issue(sessionUserOf(user));
    await sessions.revokeFamily(recent.sessionId, 'signed out');
    const live = await sessions.issue(sessionUserOf(user));

    const restarted = new Sessions({ db: store.db, tenantId: 'default', refreshTtlMs: DAY_MS, accessTokenTtlS: 3600, audit, now: clock.now });
    await restarted.loadRevoked();
    assert.equal(restarted.isRevoked(recent.sessionId), true);
    assert.equal(restarted.isRevoked(old.sessionId), false, 'its access tokens expired long ago');
    assert.equal(restarted.isRevoked(live.sessionId), false);

    clock.advance(3600_000 + 1);
    assert.equal(sessions.isRevoked(recent.sessionId), false, 'dropped once its last access token has expired');
  });
});

describe('access tokens with sessions', () => {
  async function signed(services: IdentityServices & { user: UserRow }, clock: { now: () => number }, ttlS = 3600) {
    const accessTokens = new AccessTokens({ key: Buffer.alloc(32, 1), issuer: 'test', ttlS, isSessionRevoked: (sid) => services.sessions.isRevoked(sid), now: clock.now });
    const session = await services.sessions.issue(sessionUserOf(services.user));
    return { accessTokens, session, tokens: await tokenResponse(accessTokens, sessionUserOf(services.user), session) };
  }

  it('an access token expires after its lifetime (moved clock, no sleeping)', async () => {
    const s = await setup();
    const { accessTokens, session, tokens } = await signed(s, s.clock);
    assert.equal(tokens.token_type, 'Bearer');
    assert.equal(tokens.expires_in, 3600);
    const ok = await accessTokens.verify(tokens.access_token);
    assert.ok('user' in ok && ok.user.sessionId === session.sessionId && ok.user.role === 'operator');
    s.clock.advance(3600_000 + 1000);
    assert.deepEqual(await accessTokens.verify(tokens.access_token), { reason: 'it has expired' });
  });

  it('an access token of a revoked family is refused at once, long before it expires', async () => {
    const s = await setup();
    const { accessTokens, session, tokens } = await signed(s, s.clock);
    await s.sessions.revokeFamily(session.sessionId, 'signed out');
    assert.deepEqual(await accessTokens.verify(tokens.access_token), { reason: 'the session was signed out or revoked' });
  });
});

