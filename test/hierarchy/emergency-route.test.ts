import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { haversineM } from '../../src/geo/geodesy.js';
import type { RoadLine } from '../../src/geo/road-file.js';
import { RoadNetwork, type ZoneLookup } from '../../src/geo/roads.js';
import { loadZoneFile } from '../../src/geo/zone-file.js';
import { ZoneIndex } from '../../src/geo/zone-index.js';
import { ZoneTree } from '../../src/geo/zones.js';
import { EMERGENCY_ROUTE_DEFAULTS, nearestAvailable, planEmergencyRoute, type ResourceCandidate } from '../../src/hierarchy/emergency-route.js';
import { CHENNAI_ZONES } from '../helpers/fixtures.js';

/** Zones as bands of longitude, so which zone an edge is in can be worked out by hand. */
function bands(locate: (lng: number) => string | null): ZoneLookup {
  return { tree: new ZoneTree([]), locate: (lng) => locate(lng), contains: () => false };
}

function line(roadId: string, coordinates: Array<[number, number]>, speedKmh = 30): RoadLine {
  return { roadId, name: roadId, highway: null, speedKmh, oneway: 'both', coordinates };
}

const close = (actual: number, expected: number, what: string, within = 1e-6): void =>
  assert.ok(Math.abs(actual - expected) < within, `${what}: ${actual}, expected ${expected}`);

describe('planEmergencyRoute on a hand-built street', () => {
  // One street along 13° N from 80.200 to 80.250 E, a vertex every 0.005°. Wards w1–w4 are
  // 0.01° bands from 80.20 E; east of 80.24 E is no zone. Each stretch is two edges of 0.005°.
  const zones = bands((lng) => (lng >= 80.2 && lng < 80.24 ? `w${Math.floor((lng - 80.2) * 100) + 1}` : null));
  const street = [80.2, 80.205, 80.21, 80.215, 80.22, 80.225, 80.23, 80.235, 80.24, 80.245, 80.25].map((lng): [number, number] => [lng, 13]);
  const network = RoadNetwork.fromLines([line('main', street), line('island', [[80.3, 13.1], [80.31, 13.1]])], zones);
  const stretchM = haversineM(80.2, 13, 80.21, 13);
  const from = { lat: 13, lng: 80.2 };
  const to = { lat: 13, lng: 80.25 };

  it('sends one command per node in route order, re-entered nodes once, and leaves unserved stretches uncovered', () => {
    const asked: string[] = [];
    const nodes: Record<string, string | null> = { w1: 'node-a', w2: 'node-b', w3: null, w4: 'node-a' };
    const plan = planEmergencyRoute(network, (zoneId) => (asked.push(zoneId), nodes[zoneId] ?? null), from, to)!;

    assert.deepEqual(asked, ['w1', 'w2', 'w3', 'w4'], 'asked once per zone, never for "no zone"');
    const speedMps = (30 / 3.6) * EMERGENCY_ROUTE_DEFAULTS.speedFactor;
    close(plan.route.length_m, 5 * stretchM, 'route length');
    close(plan.route.eta_s, (5 * stretchM) / speedMps, 'route ETA at 30 km/h × 1.5');
    assert.equal(plan.route.eta_minutes, Math.round((5 * stretchM) / speedMps / 6) / 10);
    assert.equal(plan.route.coordinates.length, 11);

    assert.deepEqual(plan.commands.map((c) => [c.node_id, c.zone_ids, c.route_segments.map((s) => s.zone_id)]), [
      ['node-a', ['w1', 'w4'], ['w1', 'w4']],
      ['node-b', ['w2'], ['w2']],
    ]);
    const [a, b] = plan.commands;
    close(a!.enters_after_s, 0, 'node-a from the start');
    close(b!.enters_after_s, stretchM / speedMps, 'node-b after w1');
    for (const c of plan.commands) {
      assert.equal(c.command, 'clear_route_for_emergency');
      assert.deepEqual(c.actions, ['adjust_traffic_lights_to_green', 'alert_traffic_police']);
    }
    assert.deepEqual(a!.route_segments[1]!.coordinates, [[80.23, 13], [80.235, 13], [80.24, 13]]);

    assert.deepEqual(plan.uncovered.map((u) => u.zone_id), ['w3', null]);
    for (const u of plan.uncovered) close(u.length_m, stretchM, `${u.zone_id} length`);
    const covered = plan.commands.flatMap((c) => c.route_segments).reduce((s, seg) => s + seg.length_m, 0);
    close(covered + plan.uncovered.reduce((s, u) => s + u.length_m, 0), plan.route.length_m, 'every metre accounted for');
  });

  it('takes its own actions and speed, and answers null when there is no way', () => {
    const plan = planEmergencyRoute(network, () => 'node-a', from, to, { speedFactor: 1, actions: ['alert_traffic_police'] })!;
    close(plan.route.eta_s, (5 * stretchM) / (30 / 3.6), 'ETA at plain 30 km/h');
    assert.deepEqual(plan.commands.map((c) => [c.node_id, c.zone_ids, c.actions]), [['node-a', ['w1', 'w2', 'w3', 'w4'], ['alert_traffic_police']]]);
    assert.deepEqual(plan.uncovered.map((u) => u.zone_id), [null], '"no zone" is never a node\'s');
    assert.equal(planEmergencyRoute(network, () => 'node-a', from, { lat: 13.1, lng: 80.31 }), null, 'the island is not connected');
    assert.throws(() => planEmergencyRoute(network, () => null, from, to, { speedFactor: 0 }), RangeError);
  });
});

describe('nearestAvailable', () => {
  // The incident I is at 80.300 E, 13.000 N. Ambulance B is 0.008° east of it on a straight road
  // (867 m); ambulance A is 0.005° north (553 m by straight line) but its road goes 0.015° west,
  // south, and 0.015° back east (3.8 km). Ambulance F is 0.001° south, on a lane that joins nothing.
  const network = RoadNetwork.fromLines([
    line('direct', [[80.308, 13], [80.3, 13]]),
    line('detour', [[80.3, 13.005], [80.285, 13.005], [80.285, 13], [80.3, 13]]),
    line('lane', [[80.3, 12.999], [80.3, 12.998]]),
  ], bands(() => null));
  const incident = { lat: 13, lng: 80.3 };
  const at = (lng: number, lat: number) => ({ latitude: lat, longitude: lng });
  const candidates: ResourceCandidate[] = [
    { resource_id: 'amb-a', resource_type: 'ambulance', status: 'available', node_id: 'n1', location: at(80.3, 13.005) },
    { resource_id: 'amb-b', resource_type: 'ambulance', status: 'available', node_id: 'n2', location: at(80.308, 13) },
    { resource_id: 'amb-f', resource_type: 'ambulance', status: 'available', node_id: 'n3', location: at(80.3, 12.999) },
    // Nearer than all of them, and each left out for its own reason.
    { resource_id: 'amb-busy', resource_type: 'ambulance', status: 'dispatched', node_id: 'n1', location: at(80.3001, 13) },
    { resource_id: 'fire-1', resource_type: 'fire_engine', status: 'available', node_id: 'n1', location: at(80.3002, 13) },
    { resource_id: 'amb-lost', resource_type: 'ambulance', status: 'available', node_id: 'n1', location: null },
  ];
  const roadB = haversineM(80.308, 13, 80.3, 13);
  const roadA = haversineM(80.3, 13.005, 80.285, 13.005) + haversineM(80.285, 13.005, 80.285, 13) + haversineM(80.285, 13, 80.3, 13);

  it('picks the road-nearest, not the straight-line nearest', () => {
    const found = nearestAvailable(network, candidates, 'ambulance', incident)!;
    assert.equal(found.resource.resource_id, 'amb-b');
    assert.equal(found.considered, 3, 'A, B and F pass the filters');
    close(found.length_m, roadB, 'along the direct road');
    close(found.eta_s, roadB / ((30 / 3.6) * EMERGENCY_ROUTE_DEFAULTS.speedFactor), 'ETA');
    assert.ok(roadA > 4 * roadB, `the detour (${roadA} m) is much longer than the direct road (${roadB} m)`);
  });

  it('routes only the shortlist, skips the unreachable, and takes other statuses and speeds', () => {
    // Straight-line order: F (111 m, no road to I), A (553 m), B (867 m).
    const two = nearestAvailable(network, candidates, 'ambulance', incident, { shortlist: 2 })!;
    assert.deepEqual([two.resource.resource_id, two.considered], ['amb-a', 2]);
    close(two.length_m, roadA, 'the detour');
    assert.equal(nearestAvailable(network, candidates, 'ambulance', incident, { shortlist: 1 }), null, 'F alone cannot reach I');
    const any = nearestAvailable(network, candidates, 'ambulance', incident, { availableStatuses: ['available', 'dispatched'], speedFactor: 1 })!;
    assert.equal(any.resource.resource_id, 'amb-busy');
    assert.equal(any.considered, 4);
    assert.equal(nearestAvailable(network, candidates, 'boat', incident), null);
    assert.throws(() => nearestAvailable(network, candidates, 'ambulance', incident, { shortlist: 0 }), RangeError);
  });
});

describe('planEmergencyRoute on the Chennai ward network', async () => {
  const tree = new ZoneTree(await loadZoneFile(CHENNAI_ZONES));
  const network = RoadNetwork.fromWardAdjacency(new ZoneIndex(tree));
  const pointOf = (wardId: string): { lat: number; lng: number } => {
    for (let n = 0; n < network.nodeCount; n++) {
      if (network.zoneOfNode(n) === wardId) return { lng: network.lng[n]!, lat: network.lat[n]! };
    }
    throw new Error(`no node in ${wardId}`);
  };
  // Two wards at opposite corners of the Teynampet district (chennai-z09).
  const from = pointOf('chennai-w109');
  const to = pointOf('chennai-w126');

  it('commands only the nodes that serve wards on the route; the rest is uncovered, and the lengths add up', () => {
    const served = new Set(['chennai-w109', 'chennai-w113', 'chennai-w123']);
    const plan = planEmergencyRoute(network, (zoneId) => (served.has(zoneId) ? `local-${zoneId.slice(-4)}` : null), from, to)!;
    assert.ok(plan, 'a route');
    const routeWards = [...plan.commands.flatMap((c) => c.zone_ids), ...plan.uncovered.map((u) => u.zone_id!)];
    assert.ok(routeWards.length >= 4, `${routeWards.length} wards on the route`);
    for (const ward of routeWards) assert.ok(tree.isWithin(ward, 'chennai-z09'), `${ward} is in Teynampet`);

    assert.deepEqual(plan.commands.map((c) => c.node_id), ['local-w109', 'local-w113', 'local-w123']);
    for (const c of plan.commands) assert.deepEqual(c.zone_ids, [`chennai-${c.node_id.slice(6)}`]);
    assert.ok(plan.uncovered.length >= 1);
    for (const u of plan.uncovered) assert.ok(u.zone_id !== null && !served.has(u.zone_id), `${u.zone_id} is not served`);
    assert.equal(plan.commands[0]!.route_segments[0]!.zone_id, 'chennai-w109');

    const commanded = plan.commands.flatMap((c) => c.route_segments).reduce((s, seg) => s + seg.length_m, 0);
    const uncovered = plan.uncovered.reduce((s, u) => s + u.length_m, 0);
    close(commanded + uncovered, plan.route.length_m, 'commanded + uncovered = route', 1e-6);
    // Ward links run at 25 km/h, × 1.5 for the ambulance.
    close(plan.route.eta_s, plan.route.length_m / ((25 / 3.6) * 1.5), 'ETA', 1e-6);
    // Each node enters when everything before its first stretch has been driven. With every ward
    // its own node, the commands' stretches are the whole route in order (a shortest path on the
    // ward graph passes each ward once).
    const all = planEmergencyRoute(network, (zoneId) => zoneId, from, to)!;
    assert.equal(all.uncovered.length, 0);
    let elapsed = 0;
    const enteredAfter = new Map<string, number>();
    for (const seg of all.commands.flatMap((c) => c.route_segments)) {
      enteredAfter.set(seg.zone_id!, elapsed);
      elapsed += seg.eta_s;
    }
    close(elapsed, plan.route.eta_s, 'the stretches make up the route', 1e-6);
    for (const c of plan.commands) close(c.enters_after_s, enteredAfter.get(c.zone_ids[0]!)!, `${c.node_id} enters`, 1e-6);
    assert.equal(all.commands.at(-1)!.node_id, 'chennai-w126');
  });

  it('gives a node that serves the whole district one command for all of it', () => {
    const plan = planEmergencyRoute(network, (zoneId) => (tree.isWithin(zoneId, 'chennai-z09') ? 'district-z09' : null), from, to)!;
    assert.equal(plan.commands.length, 1);
    assert.equal(plan.uncovered.length, 0);
    const [command] = plan.commands;
    assert.equal(command!.zone_ids[0], 'chennai-w109');
    assert.equal(command!.zone_ids.at(-1), 'chennai-w126');
    close(command!.route_segments.reduce((s, seg) => s + seg.length_m, 0), plan.route.length_m, 'all of the route');
  });
});
