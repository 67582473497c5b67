import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { closedPort } from '../helpers/recorder.js';
import { after, before, describe, it } from 'node:test';
import { maskPhone, normalisePhone } from '../../src/auth/otp.js';
import { DEFAULT_CONFIG } from '../../src/config/config.js';
import { CityError } from '../../src/errors.js';
import { WebhookSmsChannel } from '../../src/notify/channels.js';
import { call, startTestNode, suiteCleanup, type Cleanup } from '../helpers/node.js';
import type { Store } from '../../src/store/store.js';
import { auditRows, identityServices, openTestStore, testClock } from './fixtures.js';
import { eventually } from '../helpers/wait.js';

const PHONE = '+919876543210';
let phones = 0;
/** A phone number no other test uses (tests share a store or node). */
const nextPhone = () => `+9194440${String(++phones).padStart(5, '0')}`;
type TestNode = Awaited<ReturnType<typeof startTestNode>>;
const MINUTE_MS = 60_000;
/** The per-address sign-in limit would get in the way of tests that sign in many times. */
const NO_ADDRESS_LIMIT = { http: { rateLimit: { signInPerMinute: 10_000 } } };

function codeIn(body: string): string {
  const match = /\b(\d{6})\b/.exec(body);
  assert.ok(match, `no code in "${body}"`);
  return match[1]!;
}

/** The newest code sent to `phone`, read the way an operator would: from the outbox API. */
async function codeFromOutbox(node: { url: string; admin: Record<string, string> }, phone: string): Promise<string> {
  const res = await call(node, 'GET', `/api/v1/notifications?recipient=${encodeURIComponent(phone)}&limit=1`, { headers: node.admin });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const [latest] = res.body.notifications;
  assert.ok(latest, `no message to ${phone}`);
  assert.equal(latest.provider, 'outbox');
  assert.ok(latest.sent_at);
  return codeIn(latest.body);
}

function otpRefused(reason: RegExp) {
  return (err: unknown) => err instanceof CityError && err.code === 'CITY_ERR_AUTH_OTP_INVALID' && reason.test(String(err.details.reason));
}

describe('normalisePhone (E.164)', () => {
  it('drops spaces, dashes, dots and brackets and turns a 00 prefix into +', () => {
    assert.equal(normalisePhone('+91 98765-43210'), PHONE);
    assert.equal(normalisePhone('0091 (98765) 43.210'), PHONE);
    assert.equal(normalisePhone(' +44 20 7946 0958 '), '+442079460958');
  });

  it('refuses what is not E.164, naming the rule', () => {
    const rule = (input: string) => {
      try {
        normalisePhone(input);
      } catch (err) {
        assert.ok(err instanceof CityError && err.code === 'CITY_ERR_PHONE_INVALID' && err.status === 422);
        return String(err.details.rule);
      }
      assert.fail(`${input} was accepted`);
    };
    assert.match(rule('98765 43210'), /\+ and the country code/);
    assert.match(rule('+91 98765 4321O'), /only digits/);
    assert.match(rule('+091234567'), /never starts with 0/);
    assert.match(rule('+12345'), /7 to 15 digits; this one has 5/);
    assert.match(rule('+1234567890123456'), /7 to 15 digits; this one has 16/);
  });
});

describe('one-time codes (service, moved clock)', () => {
  // One store for the block (opening one costs seconds); every test has its own phone and clock.
  const suite = suiteCleanup();
  let store: Store;
  before(async () => {
    store = await openTestStore(suite);
  });
  after(() => suite.run());

  function setup(otp: { requestsPer15Min?: number; maxAttempts?: number } = {}) {
    const clock = testClock();
    return { store, clock, phone: nextPhone(), ...identityServices(store, clock, { otp }) };
  }
  const latestCode = async (phone: string) =>
    codeIn((await store.db.selectFrom('notifications').select('body').where('recipient', '=', phone).orderBy('id', 'desc').limit(1).executeTakeFirstOrThrow()).body);
  const codeRows = (phone: string) => store.db.selectFrom('otp_codes').selectAll().where('phone', '=', phone).execute();

  it('a code is six digits, stored only as an HMAC, and signs in once', async () => {
    const { otp } = setup();
    assert.deepEqual(await otp.request('+91 98765 43210'), { phone: PHONE, expiresInS: 300 });
    const code = await latestCode(PHONE);
    const [row] = await codeRows(PHONE);
    assert.match(row!.code_hash, /^[0-9a-f]{64}$/);
    assert.equal(JSON.stringify(row).includes(code), false);

    assert.equal(await otp.verify(PHONE, code), PHONE);
    await assert.rejects(otp.verify(PHONE, code), otpRefused(/already used/));
  });

  it('expires after five minutes', async () => {
    const { clock, otp, phone } = setup();
    await otp.request(phone);
    const code = await latestCode(phone);
    clock.advance(5 * MINUTE_MS);
    await assert.rejects(otp.verify(phone, code), otpRefused(/^expired \(at /));
  });

  it('is still good just before it expires', async () => {
    const { clock, otp, phone } = setup();
    await otp.request(phone);
    const code = await latestCode(phone);
    clock.advance(5 * MINUTE_MS - 1);
    assert.equal(await otp.verify(phone, code), phone);
  });

  it('counts wrong tries, and the sixth try is refused even with the right code', async () => {
    const { otp, phone } = setup();
    await otp.request(phone);
    const code = await latestCode(phone);
    const wrong = code === '000000' ? '111111' : '000000';
    for (let left = 4; left >= 0; left--) {
      await assert.rejects(otp.verify(phone, wrong), otpRefused(new RegExp(`^wrong \\(${left} tr(y|ies) left\\)$`)));
    }
    await assert.rejects(otp.verify(phone, code), otpRefused(/refused after 5 tries/));
    const [row] = await codeRows(phone);
    assert.equal(row!.attempts, 5);
    assert.equal(row!.used_at, null);
  });

  it('parallel guesses cannot exceed the try limit', async () => {
    const { otp, phone } = setup({ maxAttempts: 3 });
    await otp.request(phone);
    const code = await latestCode(phone);
    const guesses = Array.from({ length: 10 }, (_, i) => String((Number(code) + 1 + i) % 1_000_000).padStart(6, '0'));
    await Promise.allSettled(guesses.map((g) => otp.verify(phone, g)));
    const [row] = await codeRows(phone);
    assert.equal(row!.attempts, 3);
  });

  it('only the newest code of a phone counts', async () => {
    const { otp, phone } = setup();
    await otp.request(phone);
    const first = await latestCode(phone);
    await otp.request(phone);
    const second = await latestCode(phone);
    if (first !== second) await assert.rejects(otp.verify(phone, first), otpRefused(/^wrong/));
    assert.equal(await otp.verify(phone, second), phone);
  });

  it('a phone may ask for N codes per 15 minutes; then RATE_LIMITED says when to retry', async () => {
    const { clock, otp, phone } = setup({ requestsPer15Min: 3 });
    for (let i = 0; i < 3; i++) {
      await otp.request(phone);
      clock.advance(MINUTE_MS);
    }
    await assert.rejects(otp.request(phone), (err: unknown) => {
      assert.ok(err instanceof CityError);
      assert.equal(err.code, 'CITY_ERR_RATE_LIMITED');
      assert.equal(err.status, 429);
      assert.match(String(err.details.who), new RegExp(`phone …${phone.slice(-4)} \\(at most 3 codes per 15 minutes\\)`));
      assert.equal(err.details.retryAfterS, 12 * 60, 'the oldest request leaves the window 12 minutes from now');
      return true;
    });
    await otp.request(nextPhone()); // another phone is not affected
    clock.advance(12 * MINUTE_MS + 1);
    await otp.request(phone);
  });

  it('a code for a phone that asked for none is refused', async () => {
    const { otp, phone } = setup();
    await assert.rejects(otp.verify(phone, '123456'), otpRefused(/no code was requested/));
  });

  it('audits verifications, with the phone masked', async () => {
    const { otp, phone } = setup();
    await otp.request(phone);
    const code = await latestCode(phone);
    await assert.rejects(otp.verify(phone, code === '999999' ? '888888' : '999999'));
    await otp.verify(phone, code);
    await eventually(async () => {
      const rows = (await auditRows(store, 'auth.otp_verify')).filter((r) => JSON.stringify(r.details).includes(maskPhone(phone)));
      assert.deepEqual(rows.map((r) => r.outcome), ['failed', 'ok']);
      assert.equal(JSON.stringify(rows).includes(phone.slice(3)), false);
    });
  });
});

describe('citizen sign-in over HTTP', () => {
  // One node for the block; every test uses its own phone number.
  const suite = suiteCleanup();
  let node: TestNode;
  before(async () => {
    node = await startTestNode(suite, { ...NO_ADDRESS_LIMIT, auth: { ...DEFAULT_CONFIG.auth, otpRequestsPer15Min: 3 } });
  });
  after(() => suite.run());

  it('the code travels through the outbox; the first sign-in creates a citizen who reaches only signed_in routes', async () => {
    const requested = await call(node, 'POST', '/api/v1/auth/otp/request', { body: { phone: '+91 98765 43210' } });
    assert.equal(requested.status, 202, JSON.stringify(requested.body));
    assert.deepEqual(requested.body, { sent: true, expires_in: 300 });

    const code = await codeFromOutbox(node, PHONE);
    const signedIn = await call(node, 'POST', '/api/v1/auth/otp/verify', { body: { phone: PHONE, code } });
    assert.equal(signedIn.status, 200, JSON.stringify(signedIn.body));
    assert.equal(signedIn.body.token_type, 'Bearer');
    assert.match(signedIn.body.refresh_token, /^rt_/);
    assert.equal(signedIn.body.user.role, 'citizen');
    assert.equal(signedIn.body.user.phone, PHONE);
    assert.equal(signedIn.body.user.username, null);

    const bearer = { authorization: `Bearer ${signedIn.body.access_token}` };
    const me = await call(node, 'GET', '/api/v1/auth/me', { headers: bearer });
    assert.equal(me.status, 200);
    assert.equal(me.body.role, 'citizen');
    assert.equal(me.body.user_id, signedIn.body.user.user_id);
    for (const path of ['/api/v1/users', '/api/v1/events', '/api/v1/notifications', '/api/v1/rules']) {
      const res = await call(node, 'GET', path, { headers: bearer });
      assert.equal(res.status, 403, `${path}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error.code, 'CITY_ERR_AUTH_FORBIDDEN');
    }

    // Single use, over HTTP too.
    const again = await call(node, 'POST', '/api/v1/auth/otp/verify', { body: { phone: PHONE, code } });
    assert.equal(again.status, 401);
    assert.equal(again.body.error.code, 'CITY_ERR_AUTH_OTP_INVALID');
    assert.match(again.body.error.message, /already used/);

    // A second sign-in finds the same citizen.
    await call(node, 'POST', '/api/v1/auth/otp/request', { body: { phone: '0091 98765 43210' } });
    const second = await call(node, 'POST', '/api/v1/auth/otp/verify', { body: { phone: PHONE, code: await codeFromOutbox(node, PHONE) } });
    assert.equal(second.status, 200);
    assert.equal(second.body.user.user_id, signedIn.body.user.user_id);
  });

  it('wrong codes count: the sixth try is refused even with the right code', async () => {
    const phone = nextPhone();
    await call(node, 'POST', '/api/v1/auth/otp/request', { body: { phone } });
    const code = await codeFromOutbox(node, phone);
    const wrong = code === '000000' ? '111111' : '000000';
    for (let i = 0; i < 5; i++) {
      const res = await call(node, 'POST', '/api/v1/auth/otp/verify', { body: { phone, code: wrong } });
      assert.equal(res.status, 401);
      assert.match(res.body.error.message, /wrong \(\d tr(y|ies) left\)/);
    }
    const sixth = await call(node, 'POST', '/api/v1/auth/otp/verify', { body: { phone, code } });
    assert.equal(sixth.status, 401);
    assert.match(sixth.body.error.message, /refused after 5 tries/);
  });

  it('requests per phone are limited (429 RATE_LIMITED); malformed numbers are refused naming the rule', async () => {
    const phone = nextPhone();
    for (let i = 0; i < 3; i++) assert.equal((await call(node, 'POST', '/api/v1/auth/otp/request', { body: { phone } })).status, 202);
    const fourth = await call(node, 'POST', '/api/v1/auth/otp/request', { body: { phone } });
    assert.equal(fourth.status, 429);
    assert.equal(fourth.body.error.code, 'CITY_ERR_RATE_LIMITED');
    assert.ok(fourth.body.error.details.retryAfterS > 0);

    const bad = await call(node, 'POST', '/api/v1/auth/otp/request', { body: { phone: '98765 43210' } });
    assert.equal(bad.status, 422);
    assert.equal(bad.body.error.code, 'CITY_ERR_PHONE_INVALID');
    assert.match(bad.body.error.message, /E\.164/);
    const extra = await call(node, 'POST', '/api/v1/auth/otp/request', { body: { phone, extra: 1 } });
    assert.equal(extra.status, 400, 'the body schema refuses unknown fields');
  });

  it("a staff member's phone does not sign in by code", async () => {
    const phone = nextPhone();
    const staff = await call(node, 'POST', '/api/v1/users', { headers: node.admin, body: { username: 'op.kumar', phone, display_name: 'Kumar', role: 'operator', password: 'a long enough password' } });
    assert.equal(staff.status, 201, JSON.stringify(staff.body));
    await call(node, 'POST', '/api/v1/auth/otp/request', { body: { phone } });
    const res = await call(node, 'POST', '/api/v1/auth/otp/verify', { body: { phone, code: await codeFromOutbox(node, phone) } });
    assert.equal(res.status, 401);
    assert.match(res.body.error.message, /staff sign in with their user name and password/);
  });
});

describe('WebhookSmsChannel', () => {
  const suite = suiteCleanup();
  let store: Store;
  before(async () => {
    store = await openTestStore(suite);
  });
  after(() => suite.run());
  /** A real HTTP server on 127.0.0.1:0 that records what it receives and answers `status`. */
  async function smsProvider(t: Cleanup, status = 200) {
    const received: Array<{ headers: IncomingMessage['headers']; body: any }> = [];
    const server = createServer((req, res) => {
      let text = '';
      req.on('data', (chunk) => (text += chunk));
      req.on('end', () => {
        received.push({ headers: req.headers, body: JSON.parse(text) });
        res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'queued' : 'provider says no');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/sms`, received };
  }

  it('POSTs {to, body} as JSON with the configured headers and records the message as sent', async (t) => {
    const phone = nextPhone();
    const provider = await smsProvider(t);
    const channel = new WebhookSmsChannel(store.db, { url: provider.url, headers: { authorization: 'Bearer sms-secret' } });
    await channel.send({ tenantId: 'default', channel: 'sms', recipient: phone, body: 'hello' });
    assert.deepEqual(provider.received.map((r) => r.body), [{ to: phone, body: 'hello' }]);
    assert.equal(provider.received[0]!.headers.authorization, 'Bearer sms-secret');
    assert.equal(provider.received[0]!.headers['content-type'], 'application/json');
    const [row] = await store.db.selectFrom('notifications').selectAll().where('recipient', '=', phone).execute();
    assert.equal(row!.provider, 'webhook-sms');
    assert.equal(row!.attempts, 1);
    assert.ok(row!.sent_at);
    assert.equal(row!.last_error, null);
  });

  it('a sign-in code goes to the provider but is not kept in the record of the message', async (t) => {
    const phone = nextPhone();
    const provider = await smsProvider(t);
    const channel = new WebhookSmsChannel(store.db, { url: provider.url });
    await channel.send({ tenantId: 'default', channel: 'sms', recipient: phone, body: '123456 is your code', recordBody: '•••••• is your code' });
    assert.equal(provider.received[0]!.body.body, '123456 is your code');
    const [row] = await store.db.selectFrom('notifications').selectAll().where('recipient', '=', phone).execute();
    assert.equal(row!.body, '•••••• is your code');
  });

  it('a refusal or an unreachable provider throws NOTIFICATION_FAILED and leaves the row with the error, unsent', async (t) => {
    const phone = nextPhone();
    const provider = await smsProvider(t, 503);
    const refusing = new WebhookSmsChannel(store.db, { url: provider.url });
    await assert.rejects(refusing.send({ tenantId: 'default', channel: 'sms', recipient: phone, body: 'hello' }), (err: unknown) => {
      return err instanceof CityError && err.code === 'CITY_ERR_NOTIFICATION_FAILED' && /answered 503: provider says no/.test(err.message);
    });
    const unreachable = new WebhookSmsChannel(store.db, { url: `http://127.0.0.1:${await closedPort()}/sms` });
    await assert.rejects(unreachable.send({ tenantId: 'default', channel: 'sms', recipient: phone, body: 'again' }), /could not be reached: connect ECONNREFUSED/);
    const rows = await store.db.selectFrom('notifications').selectAll().where('recipient', '=', phone).orderBy('id').execute();
    assert.deepEqual(rows.map((r) => [r.body, r.sent_at, r.attempts]), [['hello', null, 1], ['again', null, 1]]);
    assert.match(rows[0]!.last_error!, /503/);
    assert.match(rows[1]!.last_error!, /could not be reached/);
  });

  it('a node configured with auth.otpChannel webhook sends sign-in codes to the provider', async (t) => {
    const provider = await smsProvider(t);
    const node = await startTestNode(t, { ...NO_ADDRESS_LIMIT, auth: { ...DEFAULT_CONFIG.auth, otpChannel: { kind: 'webhook', url: provider.url } } });
    assert.equal((await call(node, 'POST', '/api/v1/auth/otp/request', { body: { phone: PHONE } })).status, 202);
    assert.equal(provider.received.length, 1);
    assert.equal(provider.received[0]!.body.to, PHONE);
    const res = await call(node, 'POST', '/api/v1/auth/otp/verify', { body: { phone: PHONE, code: codeIn(provider.received[0]!.body.body) } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.user.role, 'citizen');
    // The record of the message does not hold the code: an admin reading it cannot sign in as the citizen.
    const code = codeIn(provider.received[0]!.body.body);
    const [record] = (await call(node, 'GET', `/api/v1/notifications?recipient=${encodeURIComponent(PHONE)}&limit=1`, { headers: node.admin })).body.notifications;
    assert.ok(!String(record.body).includes(code), record.body);
    assert.match(record.body, /^•••••• is your Possible City sign-in code/);
  });
});

