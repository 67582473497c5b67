import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import WebSocket from 'ws';
import type { Permission } from '../../src/auth/policy.js';
import type { UserPrincipal } from '../../src/auth/principal.js';
import { PROJECT_ROOT } from '../../src/node/paths.js';
import { call, NO_RATE_LIMITS, startTestNode, suiteCleanup } from '../helpers/node.js';
import { seedRegistration, speedingEvent } from '../helpers/fixtures.js';
import { waitFor } from '../helpers/wait.js';
import Fastify from 'fastify';
import { installTestPolicy } from '../helpers/policy.js';

/**
 * The authorization matrix (issue: "every route × {anonymous, citizen, device key, operator,
 * L1…L5 in scope, L1…L5 out of scope, another tenant's admin} → the expected allow/deny").
 *
 * Built from the node's own route table (`node.routes`, filled by the policy as routes are
 * registered): a route this file has no row for fails the test, and so does a route whose
 * declared permission differs from the row — adding a route means deciding here who may use it.
 * A route that declares no policy at all stops the node at start (src/auth/policy.ts).
 *
 * The zone tree (test/fixtures/scope-tree.geojson) has a second branch at every level, so each
 * authority level has a real "out of scope": L1 in ward w1 / w2, L2 in district d1 / d2, L3 in
 * city chennai / madurai, L4 in state tn / ka, L5 in nation in / np. The decision, event and
 * approval request the routes act on are all in w1.
 *
 * Expectations come from the table of grants below — the product's rules written down once,
 * independently of the code that enforces them — and every request is real HTTP (or a real
 * WebSocket upgrade) against a running node: 401/403 with an AUTH_* code is "deny", anything
 * else (200, 201, 204, 400, 404, 409, 422) means the policy let the request through.
 */

const PRINCIPALS = [
  'anonymous',
  'citizen',
  'device key',
  'plugin key',
  'operator',
  'L1 in scope',
  'L2 in scope',
  'L3 in scope',
  'L4 in scope',
  'L5 in scope',
  'L1 out of scope',
  'L2 out of scope',
  'L3 out of scope',
  'L4 out of scope',
  'L5 out of scope',
  'tenant admin',
  "another tenant's admin",
  'admin token',
] as const;
type PrincipalName = (typeof PRINCIPALS)[number];

const AUTHORITIES_IN: PrincipalName[] = ['L1 in scope', 'L2 in scope', 'L3 in scope', 'L4 in scope', 'L5 in scope'];
const AUTHORITIES_OUT: PrincipalName[] = ['L1 out of scope', 'L2 out of scope', 'L3 out of scope', 'L4 out of scope', 'L5 out of scope'];
const AUTHORITIES = [...AUTHORITIES_IN, ...AUTHORITIES_OUT];
const atLeast = (level: number) => AUTHORITIES.filter((p) => Number(p[1]) >= level);

/** Who holds each permission (before zone scope): seed 001 §8.3 levels, seed 002 RBAC. */
const GRANTS: Record<Permission, readonly PrincipalName[]> = {
  public: PRINCIPALS,
  signed_in: ['citizen', 'operator', ...AUTHORITIES, 'tenant admin', 'admin token'],
  ingest: ['device key', 'plugin key', 'admin token'],
  plugin_publish: ['plugin key', 'tenant admin', 'admin token'],
  monitor: ['operator', ...AUTHORITIES, 'tenant admin', 'admin token'],
  respond: ['operator', ...AUTHORITIES, 'tenant admin', 'admin token'],
  approve: [...AUTHORITIES, 'admin token'],
  override: [...AUTHORITIES, 'tenant admin', 'admin token'],
  configure: ['tenant admin', 'admin token'],
  configure_rules: [...atLeast(3), 'tenant admin', 'admin token'],
  audit: [...atLeast(2), 'tenant admin', 'admin token'],
  feedback: ['plugin key', 'tenant admin', 'admin token'],
  manage_users: ['tenant admin', 'admin token'],
  manage_tenants: ['admin token'],
  // Node principals (a signed link credential) hold it; of the principals here only the super admin does.
  link: ['admin token'],
  command: [...atLeast(2), 'tenant admin', 'admin token'],
  compute: ['operator', ...AUTHORITIES, 'tenant admin', 'admin token'],
  // Executor keys hold it; of the principals here only the super admin does (the socket then closes: not an executor).
  execute: ['admin token'],
};

interface RouteRow {
  permission: Permission;
  /** The route acts on one thing in ward w1: authorities out of scope are refused too. */
  inW1?: true;
  /** Concrete path (defaults to the route's URL); `{decision}`, `{event}` are filled in. */
  path?: string;
  body?: unknown;
  raw?: { text: string; contentType: string };
  /** Ends the caller's session (logout): run after every other route. */
  last?: true;
}

const PLUGIN = 'traffic-violation-detector-v2';
const MISSING = 'matrix-missing';

/** One row per route: the permission it must declare and a request that exercises it. */
const ROUTES: Record<string, RouteRow> = {
  'GET /healthz': { permission: 'public' },
  'GET /readyz': { permission: 'public' },
  'GET /metrics': { permission: 'public' },
  'GET /openapi.json': { permission: 'public' },
  'GET /docs': { permission: 'public' },
  // The dashboard (web/dist, built before the tests run): the app itself is public, its data is not.
  'GET /': { permission: 'public' },
  'GET /favicon.svg': { permission: 'public' },
  'GET /assets/*': { permission: 'public', path: '/assets/missing.js' },
  // Roads: public geography like the zones; a route from ward w1 to w2 (not neighbours in the scope tree: 404, past the policy); a bad road file (422).
  'GET /api/v1/roads': { permission: 'public' },
  'GET /api/v1/roads/route': { permission: 'monitor', path: '/api/v1/roads/route?from_lat=13.005&from_lng=80.205&to_lat=13.005&to_lng=80.225' },
  'PUT /api/v1/roads': { permission: 'configure', body: { type: 'FeatureCollection', features: 'not an array' } },
  'GET /api/v1/topology': { permission: 'monitor' },
  // The hierarchy (issue 5): bodies that fail validation (400) or name nothing (404/422) exercise the policy without side effects.
  'POST /api/v1/layer/messages': { permission: 'link', body: { from_node: '', messages: [] } },
  'POST /api/v1/layer/enrolments': { permission: 'configure', body: {} },
  'GET /api/v1/layer/enrolments': { permission: 'configure' },
  'POST /api/v1/layer/enrol': { permission: 'public', body: {} },
  'GET /api/v1/layer/nodes': { permission: 'monitor' },
  'DELETE /api/v1/layer/nodes/:nodeId': { permission: 'configure', path: '/api/v1/layer/nodes/matrix-missing' },
  'POST /api/v1/layer/command': { permission: 'command', body: {} },
  'GET /api/v1/layer/directives': { permission: 'monitor' },
  'GET /api/v1/layer/directives/:directiveId': { permission: 'monitor', path: '/api/v1/layer/directives/matrix-missing' },
  'POST /api/v1/layer/escalate': { permission: 'respond', body: {} },
  'GET /api/v1/layer/child-reports': { permission: 'monitor' },
  'POST /api/v1/layer/resource-requests': { permission: 'command', body: {} },
  'POST /api/v1/layer/handovers': { permission: 'command', body: {} },
  'GET /api/v1/layer/peer-messages': { permission: 'monitor' },
  'POST /api/v1/layer/emergency-routes': { permission: 'command', body: {} },
  'POST /api/v1/layer/incidents': { permission: 'command', body: {} },
  'GET /api/v1/layer/incidents': { permission: 'monitor' },
  'POST /api/v1/layer/incidents/:incidentId/close': { permission: 'command', path: '/api/v1/layer/incidents/matrix-missing/close' },
  'POST /api/v1/layer/transfers': { permission: 'command', body: {} },
  'GET /api/v1/layer/benchmark': { permission: 'monitor' },
  // The compute network (issue 7).
  'POST /api/v1/pool/executors': { permission: 'configure', body: {} },
  'GET /api/v1/pool/executors': { permission: 'configure' },
  'DELETE /api/v1/pool/executors/:executorId': { permission: 'configure', path: '/api/v1/pool/executors/matrix-missing' },
  'GET /api/v1/pool': { permission: 'compute' },
  'GET /api/v1/pool/devices': { permission: 'compute' },
  'GET /api/v1/pool/ws': { permission: 'execute' },
  'POST /api/v1/blobs': { permission: 'compute', raw: { text: '', contentType: 'application/octet-stream' } },
  'GET /api/v1/blobs/:ref': { permission: 'compute', path: `/api/v1/blobs/sha256:${'0'.repeat(64)}` },
  'POST /api/v1/jobs': { permission: 'compute', body: {} },
  'GET /api/v1/jobs': { permission: 'compute' },
  'GET /api/v1/jobs/:jobId': { permission: 'compute', path: '/api/v1/jobs/matrix-missing' },
  'GET /api/v1/jobs/:jobId/result': { permission: 'compute', path: '/api/v1/jobs/matrix-missing/result' },
  'POST /api/v1/jobs/:jobId/cancel': { permission: 'compute', path: '/api/v1/jobs/matrix-missing/cancel' },
  'GET /api/v1/jobs/ws': { permission: 'compute' },
  'GET /docs/static/index.html': { permission: 'public' },
  'GET /docs/static/swagger-initializer.js': { permission: 'public' },
  'GET /docs/json': { permission: 'public' },
  'GET /docs/yaml': { permission: 'public' },
  'GET /docs/static/*': { permission: 'public', path: '/docs/static/index.html' },
  'GET /mqtt': { permission: 'public' },
  'GET /api/v1/zones': { permission: 'public' },
  'GET /api/v1/zones/locate': { permission: 'public', path: '/api/v1/zones/locate?lat=13.005&lng=80.205' },
  'GET /api/v1/zones/:zone_id': { permission: 'public', path: '/api/v1/zones/w1' },
  'PUT /api/v1/zones': { permission: 'configure', body: { type: 'FeatureCollection', features: 'not an array' } },

  'POST /api/v1/plugin/register': { permission: 'plugin_publish', body: { plugin_manifest: { model_id: PLUGIN } } },
  'GET /api/v1/plugins': { permission: 'monitor' },
  'GET /api/v1/plugins/:model_id': { permission: 'monitor', path: `/api/v1/plugins/${PLUGIN}` },
  'GET /api/v1/plugins/:model_id/versions/:version': { permission: 'monitor', path: `/api/v1/plugins/${PLUGIN}/versions/2.3.1` },
  'POST /api/v1/plugins/:model_id/disable': { permission: 'configure', path: `/api/v1/plugins/${MISSING}/disable` },
  'POST /api/v1/plugins/:model_id/enable': { permission: 'configure', path: `/api/v1/plugins/${MISSING}/enable` },
  'POST /api/v1/plugins/:model_id/rotate-key': { permission: 'configure', path: `/api/v1/plugins/${MISSING}/rotate-key` },
  'POST /webhook/:plugin_id': { permission: 'ingest', path: `/webhook/${PLUGIN}`, raw: { text: 'not json', contentType: 'application/json' } },

  'GET /api/v1/events': { permission: 'monitor' },
  'GET /api/v1/events/:event_id': { permission: 'monitor', inW1: true, path: '/api/v1/events/{event}' },
  'GET /api/v1/dead-letters': { permission: 'configure' },

  'GET /api/v1/rules': { permission: 'monitor' },
  'POST /api/v1/rules': { permission: 'configure_rules', raw: { text: 'not: [a rule', contentType: 'application/yaml' } },
  'GET /api/v1/rules/:name': { permission: 'monitor', path: `/api/v1/rules/${MISSING}` },
  'PUT /api/v1/rules/:name': { permission: 'configure_rules', path: `/api/v1/rules/${MISSING}`, raw: { text: 'not: [a rule', contentType: 'application/yaml' } },
  'DELETE /api/v1/rules/:name': { permission: 'configure_rules', path: `/api/v1/rules/${MISSING}` },
  'POST /api/v1/rules/:name/enable': { permission: 'configure_rules', path: `/api/v1/rules/${MISSING}/enable` },
  'POST /api/v1/rules/:name/disable': { permission: 'configure_rules', path: `/api/v1/rules/${MISSING}/disable` },

  'GET /api/v1/decisions': { permission: 'monitor' },
  'GET /api/v1/decisions/:decision_id': { permission: 'monitor', inW1: true, path: '/api/v1/decisions/{decision}' },
  'GET /api/v1/actions': { permission: 'monitor' },
  'GET /api/v1/approval-requests': { permission: 'monitor' },
  'GET /api/v1/logs/:name': { permission: 'monitor', path: '/api/v1/logs/violations_db' },
  'GET /api/v1/outbox': { permission: 'configure' },

  'GET /api/v1/action-targets': { permission: 'configure' },
  'GET /api/v1/action-targets/:name': { permission: 'configure', path: `/api/v1/action-targets/${MISSING}` },
  'PUT /api/v1/action-targets/:name': { permission: 'configure', path: `/api/v1/action-targets/${MISSING}`, body: { kind: 'nonsense' } },
  'DELETE /api/v1/action-targets/:name': { permission: 'configure', path: `/api/v1/action-targets/${MISSING}` },

  'GET /api/v1/state': { permission: 'monitor' },
  'GET /api/v1/state/incidents': { permission: 'monitor' },
  'POST /api/v1/state/incidents/:decisionId/close': { permission: 'respond', inW1: true, path: '/api/v1/state/incidents/{decision}/close' },
  'GET /api/v1/state/resources': { permission: 'monitor' },
  'GET /api/v1/reports': { permission: 'monitor' },
  'GET /api/v1/reports/latest': { permission: 'monitor' },
  'GET /api/v1/stream': { permission: 'monitor' },

  // Sign-in answers its own refusals (wrong password, used code): those are not the policy's.
  'POST /api/v1/auth/login': { permission: 'public', body: { username: 'nobody', password: 'not-the-password' } },
  'POST /api/v1/auth/otp/request': { permission: 'public', body: { phone: '+919800000001' } },
  'POST /api/v1/auth/otp/verify': { permission: 'public', body: { phone: '+919800000001', code: '000000' } },
  'POST /api/v1/auth/refresh': { permission: 'public', body: { refresh_token: 'rt_not-a-token' } },
  'POST /api/v1/auth/logout': { permission: 'signed_in', last: true },
  'GET /api/v1/auth/me': { permission: 'signed_in' },
  'POST /api/v1/auth/password': { permission: 'signed_in', body: {} },
  'GET /api/v1/users': { permission: 'manage_users' },
  'POST /api/v1/users': { permission: 'manage_users', body: {} },
  'GET /api/v1/users/:user_id': { permission: 'manage_users', path: `/api/v1/users/${MISSING}` },
  'PATCH /api/v1/users/:user_id': { permission: 'manage_users', path: `/api/v1/users/${MISSING}`, body: { display_name: 'x' } },
  'POST /api/v1/users/:user_id/password': { permission: 'manage_users', path: `/api/v1/users/${MISSING}/password`, body: {} },
  'GET /api/v1/tenants': { permission: 'manage_tenants' },
  'POST /api/v1/tenants': { permission: 'manage_tenants', body: {} },
  'GET /api/v1/notifications': { permission: 'configure' },

  'GET /api/v1/authority/pending-approvals': { permission: 'approve' },
  'POST /api/v1/authority/approve-decision': { permission: 'approve', inW1: true, body: { decision_id: '{decision}', action: 'escalate', notes: 'authorization matrix' } },
  'GET /api/v1/decisions/:decision_id/explanation': { permission: 'monitor', inW1: true, path: '/api/v1/decisions/{decision}/explanation' },
  'GET /api/v1/feedback/:plugin_id': { permission: 'feedback', path: `/api/v1/feedback/${PLUGIN}` },

  'GET /api/v1/devices': { permission: 'configure' },
  'POST /api/v1/devices': { permission: 'configure', body: {} },
  'GET /api/v1/devices/:device_id': { permission: 'configure', path: `/api/v1/devices/${MISSING}` },
  'PATCH /api/v1/devices/:device_id': { permission: 'configure', path: `/api/v1/devices/${MISSING}`, body: { name: 'x' } },
  'POST /api/v1/devices/:device_id/rotate-key': { permission: 'configure', path: `/api/v1/devices/${MISSING}/rotate-key` },
  'POST /api/v1/devices/:device_id/revoke': { permission: 'configure', path: `/api/v1/devices/${MISSING}/revoke` },
  'PUT /api/v1/plugins/:model_id/allowed-sources': { permission: 'configure', path: `/api/v1/plugins/${MISSING}/allowed-sources`, body: { allowed_sources: [] } },

  'GET /api/v1/audit': { permission: 'audit' },
  'GET /api/v1/overrides': { permission: 'override' },
  'POST /api/v1/overrides/suspend': { permission: 'override', inW1: true, body: { kind: 'zone', target: 'w1', reason: 'authorization matrix' } },
  'POST /api/v1/overrides/resume': { permission: 'override', inW1: true, body: { kind: 'zone', target: 'w1', reason: 'authorization matrix' } },
};

/** The refusals the policy itself gives; a handler's own 401/403 (a wrong password) is not one. */
const POLICY_REFUSALS = new Set(['AUTH_REQUIRED', 'AUTH_KEY_MISSING', 'AUTH_KEY_INVALID', 'AUTH_TOKEN_INVALID', 'AUTH_FORBIDDEN', 'AUTH_WRONG_TENANT', 'AUTH_OUT_OF_SCOPE', 'AUTH_SOURCE_NOT_ALLOWED'].map((c) => `CITY_ERR_${c}`));

/** A point inside ward w1 of the scope tree. */
const IN_W1 = { latitude: 13.005, longitude: 80.205 };

describe('authorization matrix', () => {
  const suite = suiteCleanup();
  after(() => suite.run());
  let node: Awaited<ReturnType<typeof startTestNode>>;
  const credentials = new Map<PrincipalName, string | null>();
  const ids = { decision: '', event: '' };

  before(async () => {
    node = await startTestNode(suite, {
      zonesFile: join(PROJECT_ROOT, 'test/fixtures/scope-tree.geojson'),
      // Hundreds of requests from one address: the limits have their own test.
      ...NO_RATE_LIMITS,
    });
    const registered = await call(node, 'POST', '/api/v1/plugin/register', { headers: node.admin, body: seedRegistration() });
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    const sent = await call(node, 'POST', `/webhook/${PLUGIN}`, { headers: { 'x-api-key': registered.body.api_key }, body: speedingEvent({ location: { ...IN_W1 } }) });
    assert.equal(sent.status, 202, JSON.stringify(sent.body));
    assert.equal(sent.body.zone_id, 'w1');
    ids.event = sent.body.event_id;
    ids.decision = await waitFor('the decision on the speeding event', async () => {
      const found = (await call(node, 'GET', `/api/v1/decisions?event_id=${ids.event}`, { headers: node.admin })).body.decisions?.[0];
      return found?.decision_id as string | undefined;
    });

    const device = await call(node, 'POST', '/api/v1/devices', { headers: node.admin, body: { device_id: 'cam-17', name: 'Camera 17', zone_id: 'w1', plugin_id: PLUGIN } });
    assert.equal(device.status, 201, JSON.stringify(device.body));

    const user = (name: string, role: UserPrincipal['role'], level: UserPrincipal['level'], scope: string | null, tenantId = 'default') =>
      node.accessTokens.sign({ userId: `matrix-${name}`, tenantId, role, level, scopeZoneId: scope, sessionId: `matrix-${name}`, name }).then((t) => t.token);
    const scopes = { in: ['w1', 'd1', 'chennai', 'tn', 'in'], out: ['w2', 'd2', 'madurai', 'ka', 'np'] };
    credentials.set('anonymous', null);
    credentials.set('citizen', await user('citizen', 'citizen', null, 'w1'));
    credentials.set('device key', device.body.api_key);
    credentials.set('plugin key', registered.body.api_key);
    credentials.set('operator', await user('operator', 'operator', null, null));
    for (let level = 1; level <= 5; level++) {
      credentials.set(`L${level} in scope` as PrincipalName, await user(`l${level}-in`, 'authority', level as 1, scopes.in[level - 1]!));
      credentials.set(`L${level} out of scope` as PrincipalName, await user(`l${level}-out`, 'authority', level as 1, scopes.out[level - 1]!));
    }
    credentials.set('tenant admin', await user('tenant-admin', 'tenant_admin', null, null));
    credentials.set("another tenant's admin", await user('other-admin', 'tenant_admin', null, null, 'other-city'));
    credentials.set('admin token', node.adminToken);
  });

  test('every route has a row here and declares the permission the row says', () => {
    const seen = new Set<string>();
    const problems: string[] = [];
    for (const route of node.routes) {
      if (route.method === 'HEAD') continue;
      const key = `${route.method} ${route.url}`;
      seen.add(key);
      const row = ROUTES[key];
      if (!row) problems.push(`${key} (declares ${route.permission}) has no row in the matrix: add one to ROUTES`);
      else if (row.permission !== route.permission) problems.push(`${key} declares ${route.permission}; the matrix expects ${row.permission}`);
    }
    for (const key of Object.keys(ROUTES)) if (!seen.has(key)) problems.push(`${key} is in the matrix but the node has no such route`);
    assert.deepEqual(problems, []);
  });

  test('list routes filter by scope: an officer of another ward sees none of w1', async () => {
    for (const [principal, sees] of [['L1 in scope', true], ['L1 out of scope', false], ['L2 out of scope', false], ['L3 in scope', true]] as const) {
      const auth = { authorization: `Bearer ${credentials.get(principal)}` };
      const decisions = await call(node, 'GET', '/api/v1/decisions', { headers: auth });
      assert.equal(decisions.status, 200);
      assert.equal(decisions.body.decisions.some((d: any) => d.decision_id === ids.decision), sees, `${principal} decisions`);
      const events = await call(node, 'GET', '/api/v1/events', { headers: auth });
      assert.equal(events.body.events.some((e: any) => e.event_id === ids.event), sees, `${principal} events`);
      const approvals = await call(node, 'GET', '/api/v1/approval-requests', { headers: auth });
      assert.equal(approvals.body.approval_requests.some((r: any) => r.decision_id === ids.decision), sees, `${principal} approval requests`);
    }
  });

  test('every route × every principal gets the expected allow or deny', async () => {
    const wrong: string[] = [];
    let checked = 0;
    const ordered = [...node.routes].sort((a, b) => Number(ROUTES[`${a.method} ${a.url}`]?.last ?? false) - Number(ROUTES[`${b.method} ${b.url}`]?.last ?? false));
    for (const route of ordered) {
      const row = ROUTES[`${route.method} ${route.url}`];
      if (route.method === 'HEAD' || !row) continue;
      for (const principal of PRINCIPALS) {
        const expected = expectation(row, principal);
        const path = fill(row.path ?? route.url, ids);
        const got = route.websocket ? await tryStream(node.url, path, credentials.get(principal) ?? null) : await tryRoute(node, route.method, path, row, credentials.get(principal) ?? null, ids);
        checked++;
        if (got.verdict !== expected) wrong.push(`${route.method} ${route.url} as ${principal}: expected ${expected}, got ${got.verdict} (${got.detail})`);
      }
    }
    assert.deepEqual(wrong, []);
    assert.ok(checked >= Object.keys(ROUTES).length * PRINCIPALS.length - 20 * PRINCIPALS.length);
  });

});

test('a route that declares no permission stops the app at start, naming the route', async () => {
  const app = Fastify();
  installTestPolicy(app, 'adm_test-token-for-the-policy');
  app.get('/declared', { config: { policy: { permission: 'public' } } }, async () => 'ok');
  assert.throws(() => app.get('/forgotten', async () => 'oops'), /route GET \/forgotten declares no authorization policy/);
  await app.close();
});

function expectation(row: RouteRow, principal: PrincipalName): 'allow' | 'deny' {
  if (!GRANTS[row.permission].includes(principal)) return 'deny';
  if (row.inW1 && AUTHORITIES_OUT.includes(principal)) return 'deny';
  return 'allow';
}

function fill(path: string, ids: { decision: string; event: string }): string {
  return path.replace('{decision}', ids.decision).replace('{event}', ids.event);
}

/** What a request showed: the policy let it through, refused it, or the route failed (a test failure). */
type Verdict = 'allow' | 'deny' | 'error';

async function tryRoute(
  node: { url: string },
  method: string,
  path: string,
  row: RouteRow,
  credential: string | null,
  ids: { decision: string; event: string },
): Promise<{ verdict: Verdict; detail: string }> {
  const headers: Record<string, string> = credential ? { authorization: `Bearer ${credential}` } : {};
  const body: unknown = JSON.parse(fill(JSON.stringify(row.body ?? null), ids));
  const res = await call(node, method, path, {
    headers,
    ...(row.raw ? { raw: row.raw.text, contentType: row.raw.contentType } : body !== null ? { body } : {}),
  }).catch((err: Error) => ({ status: 0, body: err.message }));
  const code = typeof res.body === 'object' && res.body !== null ? String(res.body.error?.code ?? '') : '';
  // A crash or no answer proves nothing either way: it fails the row.
  if (res.status === 0 || res.status >= 500) return { verdict: 'error', detail: `${res.status} ${code || JSON.stringify(res.body).slice(0, 200)}` };
  if (POLICY_REFUSALS.has(code)) return { verdict: 'deny', detail: `${res.status} ${code}` };
  if (res.status === 401 || res.status === 403) return { verdict: 'allow', detail: `${res.status} ${code} (the handler's answer, not the policy's)` };
  return { verdict: 'allow', detail: `${res.status} ${code}` };
}

/** The live stream is a WebSocket: the upgrade is what the policy allows or refuses. */
function tryStream(base: string, path: string, credential: string | null): Promise<{ verdict: Verdict; detail: string }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(base.replace('http', 'ws') + path, { headers: credential ? { authorization: `Bearer ${credential}` } : {} });
    ws.once('open', () => {
      ws.close();
      resolve({ verdict: 'allow', detail: 'upgraded' });
    });
    ws.once('unexpected-response', (_req, res) => {
      const status = res.statusCode ?? 0;
      resolve({ verdict: status === 401 || status === 403 ? 'deny' : status >= 500 ? 'error' : 'allow', detail: `HTTP ${status}` });
      ws.terminate();
    });
    ws.once('error', (err) => resolve({ verdict: 'error', detail: `error ${err.message}` }));
  });
}
