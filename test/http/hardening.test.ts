import { test } from 'node:test';
import assert from 'node:assert/strict';
import { call, startTestNode } from '../helpers/node.js';

/**
 * Hardening (issue 4 §7, seed 001 §13.1 L4): rate limits per user, key and address; security
 * headers; CORS only for configured origins; body size limits.
 */

const operator = (node: Awaited<ReturnType<typeof startTestNode>>, id: string) =>
  node.accessTokens.sign({ userId: id, tenantId: 'default', role: 'operator', level: null, scopeZoneId: null, sessionId: `s-${id}`, name: id }).then((t) => ({ authorization: `Bearer ${t.token}` }));

test('each user has their own request budget; the one over it gets 429 with Retry-After, the other does not', async (t) => {
  const node = await startTestNode(t, { http: { rateLimit: { enabled: true, perMinute: 5, ingestPerMinute: 100, signInPerMinute: 3 } } });
  const alice = await operator(node, 'alice');
  const bob = await operator(node, 'bob');
  for (let i = 0; i < 5; i++) assert.equal((await call(node, 'GET', '/api/v1/decisions', { headers: alice })).status, 200);
  const res = await fetch(`${node.url}/api/v1/decisions`, { headers: alice });
  assert.equal(res.status, 429);
  assert.ok(Number(res.headers.get('retry-after')) > 0);
  const body = (await res.json()) as any;
  assert.equal(body.error.code, 'CITY_ERR_RATE_LIMITED');
  assert.match(body.error.message, /alice/);
  assert.equal((await call(node, 'GET', '/api/v1/decisions', { headers: bob })).status, 200);
});

test('sign-in attempts are limited per address, separately from the API budget', async (t) => {
  const node = await startTestNode(t, { http: { rateLimit: { enabled: true, perMinute: 100, ingestPerMinute: 100, signInPerMinute: 3 } } });
  const attempt = () => call(node, 'POST', '/api/v1/auth/login', { body: { username: 'mallory', password: 'guess-number-one' } });
  for (let i = 0; i < 3; i++) assert.equal((await attempt()).status, 401);
  const limited = await attempt();
  assert.equal(limited.status, 429);
  assert.equal(limited.body.error.code, 'CITY_ERR_RATE_LIMITED');
  assert.match(limited.body.error.message, /address 127\.0\.0\.1/);
  assert.equal((await call(node, 'GET', '/api/v1/decisions', { headers: node.admin })).status, 200);
});

test('refused callers are counted too: bad keys run out of budget, and refused ingest stops writing dead letters at the limit', async (t) => {
  const node = await startTestNode(t, { http: { rateLimit: { enabled: true, perMinute: 3, ingestPerMinute: 3, signInPerMinute: 3 } } });
  const badKey = { authorization: 'Bearer not-a-key-of-this-node' };
  for (let i = 0; i < 3; i++) assert.equal((await call(node, 'GET', '/api/v1/decisions', { headers: badKey })).status, 401);
  assert.equal((await call(node, 'GET', '/api/v1/decisions', { headers: badKey })).status, 429, 'the fourth bad key is throttled by address');

  const send = () => call(node, 'POST', '/webhook/traffic-violation-detector-v2', { headers: { 'x-api-key': 'not-a-key-of-this-node' }, body: { x: 1 } });
  for (let i = 0; i < 3; i++) assert.equal((await send()).status, 401);
  assert.equal((await send()).status, 429);
  assert.equal((await send()).status, 429);
  const letters = (await call(node, 'GET', '/api/v1/dead-letters?code=CITY_ERR_AUTH_KEY_INVALID', { headers: node.admin })).body.dead_letters;
  assert.equal(letters.length, 3, 'one dead letter per refused request within the budget, none beyond it');
});

test('security headers on every answer; CORS only for the configured origin', async (t) => {
  const node = await startTestNode(t, { http: { corsOrigins: ['https://ops.city.example'] } });
  const res = await fetch(`${node.url}/healthz`);
  assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'self'/);
  assert.match(res.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  assert.ok(res.headers.get('strict-transport-security'));

  const preflight = (origin: string) =>
    fetch(`${node.url}/api/v1/decisions`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' } });
  const allowed = await preflight('https://ops.city.example');
  assert.equal(allowed.headers.get('access-control-allow-origin'), 'https://ops.city.example');
  const other = await preflight('https://evil.example');
  assert.equal(other.headers.get('access-control-allow-origin'), null);
});

test('bodies over the route limit are refused with 413 before they are parsed', async (t) => {
  const node = await startTestNode(t);
  const big = JSON.stringify({ username: 'x'.repeat(5 * 1024 * 1024), password: 'y' });
  const res = await call(node, 'POST', '/api/v1/auth/login', { raw: big, contentType: 'application/json' });
  assert.equal(res.status, 413);
  assert.equal(res.body.error.code, 'CITY_ERR_PAYLOAD_TOO_LARGE');
});
