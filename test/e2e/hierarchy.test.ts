import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { PROJECT_ROOT } from '../../src/node/paths.js';
import { speedingEvent } from '../helpers/fixtures.js';
import { startTree, wardPoints, type TreeNode } from '../helpers/hierarchy.js';
import { call, suiteCleanup } from '../helpers/node.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Issue 5 "Show": the hierarchy as separate processes on loopback — 1 city, 2 districts, 4 locals
 * — each enrolled by its parent with a one-time token, every link signed both ways.
 *
 *   city-chennai (chennai)
 *   ├─ district-teynampet (chennai-z09) ─ local-w109, local-w113
 *   └─ district-adyar (chennai-z13)     ─ local-w170, local-w173
 *
 * Windows are 2 s long (FAST_HIERARCHY_CONFIG) so several pass within the test.
 *
 * @pglite-only: seven processes, each with its own embedded store (one PostgreSQL database
 * shared by all would be one node's store seven times); the hierarchy's storage code runs on
 * PostgreSQL in test/hierarchy/hierarchy.test.ts.
 */
const TRAFFIC = 'traffic-violation-detector-v2';
const FLOOD = 'flood-level-monitor-v1';
const WINDOW_MS = 2000;
const run = promisify(execFile);

describe('the hierarchy across processes: 1 city, 2 districts, 4 locals', { timeout: 240_000 }, () => {
  const cleanup = suiteCleanup();
  after(() => cleanup.run());
  let tree: Map<string, TreeNode>;
  let point: Awaited<ReturnType<typeof wardPoints>>;
  const node = (id: string): TreeNode => tree.get(id)!;
  const get = async (id: string, path: string) => {
    const res = await call(node(id).proc, 'GET', path, { headers: node(id).auth });
    assert.equal(res.status, 200, `${id} GET ${path}: ${JSON.stringify(res.body)}`);
    return res.body;
  };
  const postEvents = async (localId: string, ward: string, n: number) => {
    const l = node(localId);
    const events = Array.from({ length: n }, () => speedingEvent({ timestamp: new Date().toISOString(), location: { ...point(ward), address: ward } }));
    const res = await call(l.proc, 'POST', `/webhook/${TRAFFIC}`, { headers: { 'x-api-key': l.proc.pluginKeys[TRAFFIC]! }, body: events });
    assert.equal(res.status, 202, JSON.stringify(res.body).slice(0, 300));
  };
  const LOCALS = { 'local-w109': 'chennai-w109', 'local-w113': 'chennai-w113', 'local-w170': 'chennai-w170', 'local-w173': 'chennai-w173' } as const;

  before(async () => {
    point = await wardPoints();
    tree = await startTree(cleanup, [
      { nodeId: 'city-chennai', role: 'city', zoneId: 'chennai' },
      { nodeId: 'district-teynampet', role: 'district', zoneId: 'chennai-z09', parent: 'city-chennai' },
      { nodeId: 'district-adyar', role: 'district', zoneId: 'chennai-z13', parent: 'city-chennai' },
      { nodeId: 'local-w109', role: 'local', zoneId: 'chennai-w109', parent: 'district-teynampet' },
      { nodeId: 'local-w113', role: 'local', zoneId: 'chennai-w113', parent: 'district-teynampet' },
      { nodeId: 'local-w170', role: 'local', zoneId: 'chennai-w170', parent: 'district-adyar' },
      { nodeId: 'local-w173', role: 'local', zoneId: 'chennai-w173', parent: 'district-adyar' },
    ]);
    // Every local enrolled and heard from by its district.
    await waitFor('every child linked and up', async () => {
      const topo = await get('city-chennai', '/api/v1/topology');
      return topo.children.length === 2 && topo.children.every((c: any) => c.link.last_seen_at !== null) ? topo : undefined;
    }, 30_000);
  });

  it('enrols every node with a one-time token and shows the tree with link health', async () => {
    const district = await get('district-teynampet', '/api/v1/topology');
    assert.equal(district.node.role, 'district');
    assert.equal(district.node.zone_id, 'chennai-z09');
    assert.equal(district.parent.node_id, 'city-chennai');
    assert.deepEqual(district.children.map((c: any) => c.node_id).sort(), ['local-w109', 'local-w113']);
    // The token was spent: presenting it again is refused, naming why.
    const local = await get('local-w109', '/api/v1/layer/nodes');
    assert.equal(local.uplink.enrolled, true);
    assert.equal(local.uplink.parent, 'district-teynampet');
    // A request without a valid link credential is refused.
    const forged = await call(node('district-teynampet').proc, 'POST', '/api/v1/layer/messages', { headers: { 'x-city-node': 'not.a.jwt' }, body: { from_node: 'local-w109', messages: [] } });
    assert.equal(forged.status, 401);
    assert.equal(forged.body.error.code, 'CITY_ERR_LINK_AUTH_INVALID');
    // The city's topology shows the grandchildren from the districts' reports once one has arrived.
    const city = await waitFor('the city knows the locals from the district reports', async () => {
      const topo = await get('city-chennai', '/api/v1/topology');
      return topo.children.every((c: any) => c.children.length === 2) ? topo : undefined;
    }, 20_000);
    assert.deepEqual(city.children.flatMap((c: any) => c.children.map((g: any) => g.node_id)).sort(), Object.keys(LOCALS).sort());
    // `city topology` prints the same tree.
    const { stdout } = await run(process.execPath, [join(PROJECT_ROOT, 'bin/city.mjs'), 'topology', '--url', node('city-chennai').proc.url, '--token', node('city-chennai').proc.adminToken]);
    assert.match(stdout, /^city-chennai {2}city · Chennai Metropolitan Area/m);
    assert.match(stdout, /^├─ district-adyar {2}district · Adyar {3}(up|idle) · outbox 0/m);
    assert.match(stdout, /^│ {2}├─ local-w170 {2}local · Ward 170 {3}up/m);
    assert.match(stdout, /^peers: district-adyar|^└─ district-teynampet/m);
  });

  it('events at the locals show up in district and city reports; raw events never leave L1', async () => {
    const perLocal = 400;
    const since = Date.now();
    await Promise.all(Object.entries(LOCALS).map(([id, ward]) => postEvents(id, ward, perLocal)));
    // Each district's reports of windows after `since` add up to its locals' events; the city's to all of them.
    const sumDistrict = async (districtId: string) => {
      const { reports } = await get(districtId, '/api/v1/layer/child-reports?limit=200');
      return reports.filter((r: any) => Date.parse(r.window_end) > since).reduce((n: number, r: any) => n + r.report.aggregation_report.summary.total_events, 0);
    };
    await waitFor('the districts received the locals\' reports of the burst', async () => ((await sumDistrict('district-teynampet')) === 2 * perLocal && (await sumDistrict('district-adyar')) === 2 * perLocal) || undefined, 20_000);
    const cityReports = await waitFor('the city received the districts\' reports of the burst', async () => {
      const { reports } = await get('city-chennai', '/api/v1/layer/child-reports?limit=200');
      // Latest revision per district and window.
      const latest = new Map<string, any>();
      for (const r of reports.filter((x: any) => Date.parse(x.window_end) > since)) {
        const key = `${r.source_node}@${r.window_start}`;
        if (!latest.has(key) || latest.get(key).revision < r.revision) latest.set(key, r);
      }
      const total = [...latest.values()].reduce((n, r) => n + r.report.layer_report.summary.total_events, 0);
      return total === 4 * perLocal ? [...latest.values()] : undefined;
    }, 20_000);
    // Seed 001 §7.1 L1 → L2, 100:1: the district reports over the burst stand for its 1,600 events
    // and were built from a handful of local reports (one per local per window the burst spanned).
    const burst = cityReports.filter((r: any) => r.report.layer_report.summary.total_events > 0);
    let events = 0;
    let localReports = 0;
    for (const r of burst) {
      const lr = r.report.layer_report;
      assert.equal(lr.layer, 'district');
      assert.equal(lr.reduction.underlying_events, lr.summary.total_events);
      assert.equal(Object.values(lr.summary.event_breakdown as Record<string, number>).reduce((a, b) => a + b, 0), lr.summary.total_events, 'the breakdown adds up to the total');
      events += lr.reduction.underlying_events;
      localReports += lr.reduction.child_reports;
    }
    assert.equal(events, 4 * perLocal);
    assert.ok(events / localReports >= 100, `L1→L2 keeps at least 100 events per report: ${events} events in ${localReports} local reports`);
    // The city's own merged reports over the burst (one window, or two when the burst straddles a
    // window's end on a loaded machine) add up to every event, and name their KPIs.
    let lastSeen = '';
    const cityOwn = await waitFor('the city built reports over the burst', async () => {
      // One row per window: a revision (a late district report) updates it in place.
      const { reports } = await get('city-chennai', '/api/v1/reports?limit=50');
      const withEvents = reports.filter((r: any) => Date.parse(r.window_end) > since && r.report.layer_report.summary.total_events > 0);
      const total = withEvents.reduce((n: number, r: any) => n + r.report.layer_report.summary.total_events, 0);
      lastSeen = JSON.stringify(withEvents.map((r: any) => ({ window_start: r.window_start, revision: r.revision, events: r.report.layer_report.summary.total_events })));
      return total === 4 * perLocal ? (withEvents as any[]) : undefined;
    }, 20_000).catch((err: Error) => {
      // What the city had, and what it logged: a stalled or failed build says why here.
      throw new Error(`${err.message}; the city's reports with events over the burst: ${lastSeen}; its log ends: ${node('city-chennai').proc.output().slice(-3000)}`);
    });
    for (const own of cityOwn) {
      assert.equal(own.report.layer_report.layer, 'city');
      assert.equal(own.report.layer_report.reduction.underlying_events, own.report.layer_report.summary.total_events);
      assert.ok(own.report.layer_report.kpis, 'city KPIs');
      assert.ok(own.report.layer_report.strategic_summary.length >= 3);
    }
    // Data sovereignty: no district or city holds an event.
    for (const id of ['district-teynampet', 'district-adyar', 'city-chennai']) {
      const events = await get(id, '/api/v1/events?limit=1');
      assert.equal(events.events.length, 0, `${id} stores no raw events`);
    }
  });

  it('a city directive reaches all 4 locals, which execute it and acknowledge back up', async () => {
    const issued = await call(node('city-chennai').proc, 'POST', '/api/v1/layer/command', {
      headers: node('city-chennai').auth,
      // seed 001 §5.3's directive, unchanged
      body: { directive: 'flood_emergency_protocol', actions: ['evacuate_low_lying_areas', 'close_flood_prone_roads'], resources_allocated: { rescue_boats: 4, medical_teams: 2 } },
    });
    assert.equal(issued.status, 202, JSON.stringify(issued.body));
    assert.deepEqual(issued.body.targets.sort(), ['district-adyar', 'district-teynampet']);
    const view = await waitFor('every local completed the directive', async () => {
      const v = await get('city-chennai', `/api/v1/layer/directives/${issued.body.directive.directive_id}`);
      return v.finished ? v : undefined;
    }, 30_000);
    const byNode = Object.fromEntries(view.nodes.map((n: any) => [n.node_id, n]));
    for (const id of Object.keys(LOCALS)) {
      assert.equal(byNode[id]?.status, 'completed', `${id}: ${JSON.stringify(byNode[id])}`);
      assert.deepEqual(byNode[id].detail.actions.map((a: any) => a.type), ['evacuate_low_lying_areas', 'close_flood_prone_roads']);
    }
    assert.equal(byNode['district-teynampet'].status, 'acknowledged');
    assert.equal(byNode['local-w109'].parent_node, 'district-teynampet');
    // The local executed it as a decision of its own, with the resources it was allocated.
    const decisions = await get('local-w170', '/api/v1/decisions?limit=20');
    const executed = decisions.decisions.find((d: any) => d.rule.kind === 'directive' && d.rule.name === 'flood_emergency_protocol');
    assert.ok(executed, 'local-w170 made a directive decision');
    assert.equal(executed.actions[0].parameters.resources_allocated.rescue_boats, 4);
  });

  it('the ambulance scenario commands only the locals on the route', async () => {
    const res = await call(node('district-teynampet').proc, 'POST', '/api/v1/layer/emergency-routes', {
      headers: node('district-teynampet').auth,
      body: { location: point('chennai-w109'), destination: point('chennai-w126'), destination_name: 'Government Hospital', severity: 'critical' },
    });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const commanded = res.body.commands.map((c: any) => c.node_id);
    assert.deepEqual(commanded, ['local-w109', 'local-w113'], 'both Teynampet locals lie on the route, in route order');
    assert.ok(res.body.eta_minutes > 0);
    assert.ok(res.body.uncovered.length > 0, 'wards without a local node are named, not dropped');
    const view = await waitFor('the commanded locals completed', async () => {
      const v = await get('district-teynampet', `/api/v1/layer/directives/${res.body.directive_id}`);
      return v.finished ? v : undefined;
    }, 30_000);
    assert.deepEqual(view.nodes.map((n: any) => n.node_id).sort(), ['local-w109', 'local-w113']);
    // Each local got only its own stretches of the route.
    const w113 = await get('local-w113', '/api/v1/layer/directives?limit=10');
    const cmd = w113.directives.find((d: any) => d.directive.name === 'clear_route_for_emergency');
    assert.ok(cmd.directive.parameters.route_segments.every((s: any) => s.zone_id === 'chennai-w113'));
    // The Adyar locals heard nothing of it.
    for (const id of ['local-w170', 'local-w173']) {
      const listed = await get(id, '/api/v1/layer/directives?limit=50');
      assert.ok(!listed.directives.some((d: any) => d.directive.name === 'clear_route_for_emergency'), `${id} got no route command`);
    }
  });

  it('a critical event at a local is decided at the district and at the city', async () => {
    const l = node('local-w173');
    const flood = { timestamp: new Date().toISOString(), location: { ...point('chennai-w173') }, sensor_id: 'drain-17', water_level_cm: 80, severity: 'critical', confidence_score: 0.97 };
    const res = await call(l.proc, 'POST', `/webhook/${FLOOD}`, { headers: { 'x-api-key': l.proc.pluginKeys[FLOOD]! }, body: flood });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const eventId = res.body.event_id ?? res.body.results?.[0]?.event_id;
    const decision = await waitFor('the city decided on it', async () => {
      const { decisions } = await get('city-chennai', '/api/v1/decisions?limit=20');
      return decisions.find((d: any) => d.rule.kind === 'escalation' && d.event_ids?.includes?.(eventId)) ?? decisions.find((d: any) => d.rule.kind === 'escalation');
    }, 20_000);
    assert.equal(decision.deciding_layer, 'CITY');
    assert.equal(decision.severity, 'critical');
    const district = await get('district-adyar', '/api/v1/decisions?limit=20');
    const forwarded = district.decisions.find((d: any) => d.rule.kind === 'escalation');
    assert.ok(forwarded.actions.some((a: any) => a.type === 'escalate'), 'the district passed it on at once');
  });

  it('fault: a district stopped and restarted gets every report exactly once and in order; its locals decided meanwhile', async () => {
    const district = node('district-adyar');
    await district.stop();
    const stoppedAt = Date.now();
    // Keep feeding its locals for several windows; they decide locally (speeding events make decisions).
    for (let i = 0; i < 4; i++) {
      await postEvents('local-w170', 'chennai-w170', 50);
      await postEvents('local-w173', 'chennai-w173', 50);
      await new Promise((r) => setTimeout(r, WINDOW_MS));
    }
    const health = await get('local-w170', '/healthz');
    assert.notEqual(health.uplink.state, 'idle', `the local says its uplink is not well: ${JSON.stringify(health.uplink)}`);
    assert.ok(health.uplink.consecutive_failures > 0);
    const localDecisions = await get('local-w170', '/api/v1/decisions?limit=500');
    const during = localDecisions.decisions.filter((d: any) => d.decision_time_ms >= stoppedAt);
    assert.ok(during.length > 0, 'the local kept deciding while its district was down');
    await district.restart();
    // Every window of each local, from its first report to the latest, exactly once and in order.
    for (const local of ['local-w170', 'local-w173']) {
      const mine = await get(local, '/api/v1/reports?limit=200');
      const sent = mine.reports.map((r: any) => r.report_id).sort();
      const received = await waitFor(`${local}'s reports all arrived`, async () => {
        const { reports } = await get('district-adyar', `/api/v1/layer/child-reports?limit=500&source=${local}`);
        const ids = reports.map((r: any) => r.report_id.replace(/#\d+$/, ''));
        return sent.every((id: string) => ids.includes(id)) ? reports : undefined;
      }, 30_000);
      const ids = received.map((r: any) => r.report_id);
      assert.equal(new Set(ids).size, ids.length, 'no report twice');
      // Arrival order (received_at, the inbox's commit order) is window order.
      const byArrival = [...received].sort((a: any, b: any) => Date.parse(a.received_at) - Date.parse(b.received_at) || Date.parse(a.window_start) - Date.parse(b.window_start));
      const windows = byArrival.map((r: any) => Date.parse(r.window_start));
      for (let i = 1; i < windows.length; i++) assert.equal(windows[i]! - windows[i - 1]!, WINDOW_MS, `${local}: window ${i} follows ${i - 1} with no gap`);
    }
    const sources = await get('district-adyar', '/api/v1/layer/nodes');
    assert.ok(sources.nodes.length >= 2);
  });
});
