import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_CONFIG, type Config } from '../../src/config/config.js';
import { DEMO_PLUGINS_DIR } from '../../src/node/node.js';
import { linkFetch } from '../../src/hierarchy/link-http.js';
import { call, NO_RATE_LIMITS, startTestNode, suiteCleanup, type TestNode } from '../helpers/node.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The hierarchy on the node's own stores (PGlite, and PostgreSQL in the second pass): enrolment
 * and its refusals, revocation, peers introduced by their parent and what they exchange, the
 * city's EOC flood response, the state's resource pool and benchmarking. The multi-process
 * tree is test/e2e/hierarchy.test.ts.
 */
const FLEET = 'emergency-fleet-tracker';

function hierarchyConfig(role: Config['role'], nodeId: string, zoneId: string, parent?: { url: string; token: string }): Partial<Config> {
  return {
    ...NO_RATE_LIMITS,
    role,
    nodeId,
    brain: { ...DEFAULT_CONFIG.brain, reportWindowMs: 1000, reportSettleMs: 100 },
    hierarchy: {
      ...DEFAULT_CONFIG.hierarchy,
      zoneId,
      reportGraceMs: 300,
      link: { batchSize: 100, requestTimeoutMs: 2000, idlePollMs: 100, backoffBaseMs: 50, backoffMaxMs: 500 },
      ...(parent ? { parentUrl: parent.url, enrolToken: parent.token } : {}),
    },
  } as Partial<Config>;
}

async function token(parent: TestNode, nodeId: string, role: string, zoneId: string): Promise<string> {
  const res = await call(parent, 'POST', '/api/v1/layer/enrolments', { headers: parent.admin, body: { node_id: nodeId, role, zone_id: zoneId } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assert.match(res.body.command, new RegExp(`--enrol-token ${res.body.token}`));
  return res.body.token;
}

async function child(cleanup: { after(fn: () => unknown): void }, parent: TestNode, role: Config['role'], nodeId: string, zoneId: string, extra: Partial<Config> = {}): Promise<TestNode> {
  const t = await token(parent, nodeId, role, zoneId);
  const node = await startTestNode(cleanup, { ...hierarchyConfig(role, nodeId, zoneId, { url: parent.url, token: t }), ...extra });
  await waitFor(`${nodeId} enrolled`, async () => node.hierarchy.links.parent() ?? undefined, 10_000);
  return node;
}

describe('a district with two neighbouring locals', () => {
  const cleanup = suiteCleanup();
  after(() => cleanup.run());
  let district: TestNode;
  let w109: TestNode;
  let w110: TestNode;

  before(async () => {
    district = await startTestNode(cleanup, hierarchyConfig('district', 'district-z09', 'chennai-z09'));
    w109 = await child(cleanup, district, 'local', 'local-w109', 'chennai-w109', { pluginsDir: DEMO_PLUGINS_DIR } as Partial<Config>);
    w110 = await child(cleanup, district, 'local', 'local-w110', 'chennai-w110', { pluginsDir: DEMO_PLUGINS_DIR } as Partial<Config>);
  });

  it('refuses tokens for nodes that cannot sit under the district, and spent or mismatched tokens', async () => {
    const sibling = await call(district, 'POST', '/api/v1/layer/enrolments', { headers: district.admin, body: { node_id: 'district-z13', role: 'district', zone_id: 'chennai-z13' } });
    assert.equal(sibling.status, 422);
    assert.match(sibling.body.error.message, /cannot be the child of a district/);
    const outside = await call(district, 'POST', '/api/v1/layer/enrolments', { headers: district.admin, body: { node_id: 'local-w170', role: 'local', zone_id: 'chennai-w170' } });
    assert.equal(outside.status, 422);
    assert.match(outside.body.error.message, /not inside the parent's zone chennai-z09/);

    const t = await token(district, 'local-w111', 'local', 'chennai-w111');
    const key = { kty: 'OKP', crv: 'Ed25519', x: w109.hierarchy.links.publicJwk.x };
    const mismatch = await call(district, 'POST', '/api/v1/layer/enrol', { body: { token: t, node_id: 'local-w999', role: 'local', zone_id: 'chennai-w111', url: 'http://127.0.0.1:9', public_key: key } });
    assert.equal(mismatch.status, 409);
    assert.match(mismatch.body.error.message, /issued for local-w111 \(local over chennai-w111\), not local-w999/);
    const ok = await call(district, 'POST', '/api/v1/layer/enrol', { body: { token: t, node_id: 'local-w111', role: 'local', zone_id: 'chennai-w111', url: 'http://127.0.0.1:9', public_key: key } });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.body.parent.node_id, 'district-z09');
    const again = await call(district, 'POST', '/api/v1/layer/enrol', { body: { token: t, node_id: 'local-w111', role: 'local', zone_id: 'chennai-w111', url: 'http://127.0.0.1:9', public_key: key } });
    assert.equal(again.status, 401);
    assert.match(again.body.error.message, /already used/);
    const unknown = await call(district, 'POST', '/api/v1/layer/enrol', { body: { token: 'enr_not-a-real-token', node_id: 'local-w111', role: 'local', zone_id: 'chennai-w111', url: 'http://127.0.0.1:9', public_key: key } });
    assert.equal(unknown.status, 401);
    // The stand-in for w111 never answers: revoke it so the district stops trying.
    assert.equal((await call(district, 'DELETE', '/api/v1/layer/nodes/local-w111', { headers: district.admin })).status, 204);
  });

  it('introduces neighbouring locals to each other as peers', async () => {
    const peers = await waitFor('w109 knows w110 as a peer', async () => {
      const n = await call(w109, 'GET', '/api/v1/layer/nodes', { headers: w109.admin });
      const peer = n.body.nodes.find((x: any) => x.relation === 'peer');
      return peer ? n.body.nodes : undefined;
    });
    assert.deepEqual(peers.filter((x: any) => x.relation === 'peer').map((x: any) => x.node_id), ['local-w110']);
  });

  it('answers a peer\'s resource request with what it can spare beyond its reserve', async () => {
    // Three ambulances available at w110 (its fleet tracker reports them).
    const now = new Date().toISOString();
    const fleet = ['amb-1', 'amb-2', 'amb-3'].map((id) => ({ timestamp: now, location: { latitude: 13.05, longitude: 80.27 }, resource_id: id, resource_type: 'ambulance', status: 'available' }));
    const posted = await call(w110, 'POST', `/webhook/${FLEET}`, { headers: { 'x-api-key': w110.pluginKeys[FLEET]! }, body: fleet });
    assert.equal(posted.status, 202, JSON.stringify(posted.body));
    await waitFor('w110 has its ambulances', async () => (w110.state.resources({ limit: 10 }).by_type.ambulance?.available === 3 ? true : undefined));
    await w110.state.flush();
    const asked = await call(w109, 'POST', '/api/v1/layer/resource-requests', { headers: w109.admin, body: { resource_type: 'ambulance', quantity: 5, reason: 'multi-vehicle collision' } });
    assert.equal(asked.status, 202, JSON.stringify(asked.body));
    const offer = await waitFor('the offer came back', async () => {
      const m = await call(w109, 'GET', '/api/v1/layer/peer-messages', { headers: w109.admin });
      return m.body.messages.find((x: any) => x.kind === 'resource_offer' && x.direction === 'in');
    });
    assert.equal(offer.peer_node, 'local-w110');
    assert.equal(offer.in_reply_to, asked.body.message_ids[0]);
    assert.equal(offer.payload.quantity, 2, 'three available, one kept in reserve');
    assert.equal(offer.payload.requested, 5);
  });

  it('hands an incident over to a peer, which decides on it and accepts', async () => {
    const res = await call(w109, 'POST', '/api/v1/layer/handovers', { headers: w109.admin, body: { peer: 'local-w110', incident_id: 'INC-boundary-1', type: 'road_accident', severity: 'high', zone_id: 'chennai-w110', reason: 'the crash scene spans the ward boundary' } });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    await waitFor('w109 got the acceptance', async () => {
      const m = await call(w109, 'GET', '/api/v1/layer/peer-messages', { headers: w109.admin });
      return m.body.messages.find((x: any) => x.kind === 'handover_accepted');
    });
    const decided = await waitFor('w110 decided on it', async () => {
      const d = await call(w110, 'GET', '/api/v1/decisions?limit=20', { headers: w110.admin });
      return d.body.decisions.find((x: any) => x.event_id === 'INC-boundary-1');
    });
    assert.equal(decided.rule.kind, 'escalation');
    assert.match(decided.explanation ?? JSON.stringify(decided), /handed over by peer local-w109/);
  });

  it('dispatches the nearest available ambulance from the locals\' resource status and clears its route (seed 001 §4.3)', async () => {
    // w110's three ambulances (previous test) reach the district in w110's next window report.
    await waitFor('the district knows w110\'s ambulances', async () => {
      const [latest] = await district.hierarchy.reporter!.childReports({ limit: 1, source: 'local-w110' });
      return (latest?.report as any)?.aggregation_report?.resources?.length === 3 ? true : undefined;
    }, 10_000);
    const res = await call(district, 'POST', '/api/v1/layer/emergency-routes', {
      headers: district.admin,
      body: { location: { latitude: 13.0505, longitude: 80.2725 }, destination: { latitude: 13.0405, longitude: 80.2337 }, resource_type: 'ambulance', patient_condition: 'cardiac arrest', severity: 'critical' },
    });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(res.body.resource.node_id, 'local-w110');
    assert.match(res.body.resource.resource_id, /^amb-[123]$/);
    assert.ok(res.body.eta_minutes > 0);
    const dispatched = await waitFor('w110 executed the dispatch', async () => {
      const d = await call(w110, 'GET', '/api/v1/decisions?limit=20', { headers: w110.admin });
      return d.body.decisions.find((x: any) => x.rule.name === 'dispatch_resource');
    });
    assert.equal(dispatched.actions[0].parameters.resource_id, res.body.resource.resource_id);
    // The hospital is told the ETA by a decision of the district's own (its action target, else MQTT).
    const own = await waitFor('the district notified the hospital', async () => {
      const d = await call(district, 'GET', '/api/v1/decisions?limit=20', { headers: district.admin });
      return d.body.decisions.find((x: any) => x.rule.name === 'emergency_route');
    });
    assert.equal(own.actions[0].target_system, 'hospital_system');
    assert.equal(own.actions[0].parameters.eta_minutes, res.body.eta_minutes);
  });

  it('merges its locals\' window reports into its own, and refuses a revoked child', async () => {
    const report = await waitFor('a district report covering both locals', async () => {
      const r = await call(district, 'GET', '/api/v1/reports?limit=5', { headers: district.admin });
      return r.body.reports.find((x: any) => x.report.layer_report.coverage.reporting === 2);
    }, 15_000);
    assert.equal(report.report.layer_report.layer, 'district');
    assert.deepEqual(report.report.layer_report.children.map((c: any) => c.node_id).sort(), ['local-w109', 'local-w110', 'local-w111'].filter((id) => report.report.layer_report.children.some((c: any) => c.node_id === id)).sort());
    // Revoke w110: its next message is refused, and its uplink says why.
    assert.equal((await call(district, 'DELETE', '/api/v1/layer/nodes/local-w110', { headers: district.admin })).status, 204);
    await call(w110, 'POST', '/api/v1/layer/escalate', { headers: w110.admin, body: { type: 'test_after_revocation', severity: 'low' } });
    const uplink = await waitFor('w110 is refused', async () => {
      const h = await call(w110, 'GET', '/healthz');
      return h.body.uplink.last_error?.includes('revoked') ? h.body.uplink : undefined;
    });
    assert.notEqual(uplink.state, 'idle');
  });
});

describe('a city with two districts: the EOC flood response (seed 001 §5.3)', () => {
  const cleanup = suiteCleanup();
  after(() => cleanup.run());
  let city: TestNode;
  let teynampet: TestNode;

  before(async () => {
    city = await startTestNode(cleanup, hierarchyConfig('city', 'city-chennai', 'chennai'));
    teynampet = await child(cleanup, city, 'district', 'district-z09', 'chennai-z09');
    await child(cleanup, city, 'district', 'district-z01', 'chennai-z01');
  });

  it('activates the EOC, directs only the districts under the flood area with resources by overlap, and notifies the agencies', async () => {
    // A flood prediction's area over the coast at Teynampet / Adyar (not the far north, Thiruvottiyur z01).
    const area = { type: 'Polygon', coordinates: [[[80.255, 12.99], [80.3, 12.99], [80.3, 13.06], [80.255, 13.06], [80.255, 12.99]]] };
    const res = await call(city, 'POST', '/api/v1/layer/incidents', { headers: city.admin, body: { incident_type: 'flood', severity: 'major', area, resources: { rescue_boats: 10, medical_teams: 4 } } });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.deepEqual(res.body.affected_districts.map((d: any) => d.node_id), ['district-z09']);
    assert.deepEqual(res.body.affected_districts[0].resources_allocated, { rescue_boats: 10, medical_teams: 4 });
    const incidents = await call(city, 'GET', '/api/v1/layer/incidents', { headers: city.admin });
    assert.equal(incidents.body.incidents[0].status, 'active');
    const view = await waitFor('Teynampet executed flood_emergency_protocol', async () => {
      const v = await call(city, 'GET', `/api/v1/layer/directives/${res.body.directive_id}`, { headers: city.admin });
      return v.body.finished ? v.body : undefined;
    }, 15_000);
    assert.deepEqual(view.nodes.map((n: any) => n.node_id), ['district-z09']);
    assert.equal(view.directive.name, 'flood_emergency_protocol');
    const executed = await call(teynampet, 'GET', '/api/v1/decisions?limit=10', { headers: teynampet.admin });
    const protocol = executed.body.decisions.find((d: any) => d.rule.name === 'flood_emergency_protocol');
    assert.deepEqual(protocol.actions.map((a: any) => a.type), ['evacuate_low_lying_areas', 'close_flood_prone_roads']);
    assert.equal(protocol.actions[0].parameters.resources_allocated.rescue_boats, 10);
    // The agencies, through the city's own actions (configured webhooks, else MQTT command topics).
    const own = await call(city, 'GET', '/api/v1/decisions?limit=10', { headers: city.admin });
    const eoc = own.body.decisions.find((d: any) => d.rule.name === 'flood_eoc_activation');
    assert.deepEqual(eoc.actions.map((a: any) => a.target_system), ['state_disaster_management', 'power_utility']);
    const closed = await call(city, 'POST', `/api/v1/layer/incidents/${res.body.incident_id}/close`, { headers: city.admin });
    assert.equal(closed.body.status, 'closed');
  });
});

describe('a state with two cities: the resource pool and benchmarking (seed 001 §6)', () => {
  const cleanup = suiteCleanup();
  after(() => cleanup.run());
  let state: TestNode;

  before(async () => {
    state = await startTestNode(cleanup, hierarchyConfig('state', 'state-tn', 'in-tn'));
    await child(cleanup, state, 'city', 'city-chennai', 'chennai');
  });

  it('serves a city from the state pool first and directs the receiving city', async () => {
    await waitFor('a report from the city', async () => ((await state.hierarchy.reporter!.childReports({ limit: 1 })).length > 0 ? true : undefined), 10_000);
    const res = await call(state, 'POST', '/api/v1/layer/transfers', { headers: state.admin, body: { requests: [{ city: 'city-chennai', resource_type: 'rescue_boat', quantity: 3, priority: 'critical' }], state_pool: { rescue_boat: 2 } } });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.deepEqual(res.body.transfers.map((t: any) => [t.from, t.to, t.quantity]), [['state_pool', 'city-chennai', 2]]);
    assert.deepEqual(res.body.unmet.map((u: any) => u.quantity), [1]);
    assert.equal(res.body.directives.length, 1);
    const stranger = await call(state, 'POST', '/api/v1/layer/transfers', { headers: state.admin, body: { requests: [{ city: 'city-madurai', resource_type: 'rescue_boat', quantity: 1, priority: 'low' }] } });
    assert.equal(stranger.status, 422);
    const bench = await call(state, 'GET', '/api/v1/layer/benchmark', { headers: state.admin });
    assert.equal(bench.status, 200);
    assert.deepEqual(bench.body.members.map((m: any) => m.id), ['city-chennai']);
    assert.ok(bench.body.kpis.some((k: any) => k.kpi === 'coverage'));
  });
});

describe('links over TLS (http.tls, hierarchy.caFile)', () => {
  const cleanup = suiteCleanup();
  after(() => cleanup.run());

  it('enrols and carries a directive and its acknowledgement over HTTPS, trusting only the configured CA', async () => {
    // A throwaway CA and one certificate for 127.0.0.1, as a city's IT would issue per node.
    const dir = await mkdtemp(join(tmpdir(), 'city-tls-'));
    cleanup.after(() => rm(dir, { recursive: true, force: true }));
    const openssl = (...args: string[]) => promisify(execFile)('openssl', args, { cwd: dir });
    await openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=Possible City test CA');
    await openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'node.key', '-out', 'node.csr', '-subj', '/CN=127.0.0.1');
    await writeFile(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
    await openssl('x509', '-req', '-in', 'node.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'node.pem', '-days', '2', '-extfile', 'san.ext');
    const tls = { tls: { certFile: join(dir, 'node.pem'), keyFile: join(dir, 'node.key') } };
    const withTls = (c: Partial<Config>): Partial<Config> => ({ ...c, http: { ...NO_RATE_LIMITS.http, ...tls } as Config['http'], hierarchy: { ...c.hierarchy!, caFile: join(dir, 'ca.pem') } });

    const district = await startTestNode(cleanup, withTls(hierarchyConfig('district', 'district-z09', 'chennai-z09')));
    assert.match(district.url, /^https:/);
    const res = await fetch(`${district.url}/api/v1/layer/enrolments`, { method: 'POST' }).catch((err: Error) => err);
    assert.ok(res instanceof Error, 'a client that does not trust the CA cannot even connect');
    // Issue the child's token over HTTPS with the CA (the test's own client).
    const fetchTls = linkFetch(await readFile(join(dir, 'ca.pem')));
    const issued = await fetchTls(`${district.url}/api/v1/layer/enrolments`, { method: 'POST', headers: { ...district.admin, 'content-type': 'application/json' }, body: JSON.stringify({ node_id: 'local-w109', role: 'local', zone_id: 'chennai-w109' }) });
    assert.equal(issued.status, 201);
    const { token: t } = (await issued.json()) as { token: string };
    const local = await startTestNode(cleanup, withTls(hierarchyConfig('local', 'local-w109', 'chennai-w109', { url: district.url, token: t })));
    await waitFor('enrolled over TLS', async () => local.hierarchy.links.parent() ?? undefined, 10_000);
    const sent = await fetchTls(`${district.url}/api/v1/layer/command`, { method: 'POST', headers: { ...district.admin, 'content-type': 'application/json' }, body: JSON.stringify({ command: 'alert_traffic_police' }) });
    assert.equal(sent.status, 202);
    const { directive } = (await sent.json()) as { directive: { directive_id: string } };
    await waitFor('the local acknowledged over TLS', async () => {
      const v = await district.hierarchy.directives.get(directive.directive_id);
      return v.nodes.some((n) => n.node_id === 'local-w109' && n.status !== 'sent') ? v : undefined;
    }, 10_000);
  });
});
