import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it, test } from 'node:test';
import { CityError } from '../../src/errors.js';
import { loadZoneFile } from '../../src/geo/zone-file.js';
import { ZoneIndex } from '../../src/geo/zone-index.js';
import { ZoneTree } from '../../src/geo/zones.js';
import { RoadNetwork } from '../../src/geo/roads.js';
import { route, shortestPath } from '../../src/geo/road-graph.js';
import { call, restartableNode } from '../helpers/node.js';

import { CHENNAI_ZONES as CHENNAI } from '../helpers/fixtures.js';
const SCOPE_TREE = new URL('../fixtures/scope-tree.geojson', import.meta.url).pathname;
const SMALL = new URL('../fixtures/roads-small.geojson', import.meta.url).pathname;
const smallFile = (): unknown => JSON.parse(readFileSync(SMALL, 'utf8'));

const chennai = new ZoneIndex(new ZoneTree(await loadZoneFile(CHENNAI)));
const started = performance.now();
const wardNetwork = RoadNetwork.fromWardAdjacency(chennai);
const wardNetworkMs = performance.now() - started;

/** Each ward's neighbours, from the network's ward links. */
function neighbours(network: RoadNetwork): Map<string, Set<string>> {
  const map = new Map<string, Set<string>>();
  for (const e of network.edges) {
    const [a, b] = [e.zoneId!, e.via!.zoneId!];
    map.set(a, (map.get(a) ?? new Set()).add(b));
    map.set(b, (map.get(b) ?? new Set()).add(a));
  }
  return map;
}

function nodeOfWard(network: RoadNetwork, zoneId: string): number {
  const n = Array.from({ length: network.nodeCount }, (_, i) => i).find((i) => network.zoneOfNode(i) === zoneId);
  assert.ok(n !== undefined, `no node in ${zoneId}`);
  return n;
}

describe('the Chennai ward graph (no road file)', () => {
  const adjacent = neighbours(wardNetwork);

  test('is derived well under a second', (t) => {
    t.diagnostic(`201 wards → ${wardNetwork.edges.length} ward links in ${wardNetworkMs.toFixed(0)} ms`);
    assert.ok(wardNetworkMs < 1000, `took ${wardNetworkMs} ms`);
  });

  test('has a node inside every ward and every ward reachable from ward 1', () => {
    assert.equal(wardNetwork.nodeCount, 201);
    for (let n = 0; n < wardNetwork.nodeCount; n++) assert.match(wardNetwork.zoneOfNode(n) ?? 'none', /^chennai-w\d{3}$/, `node ${n}`);
    const { arcStart, arcTo } = wardNetwork.adjacency;
    const seen = new Set([nodeOfWard(wardNetwork, 'chennai-w001')]);
    for (const stack = [...seen]; stack.length > 0; ) {
      const n = stack.pop()!;
      for (let a = arcStart[n]!; a < arcStart[n + 1]!; a++) if (!seen.has(arcTo[a]!)) seen.add(arcTo[a]!), stack.push(arcTo[a]!);
    }
    assert.equal(seen.size, 201);
  });

  test('links each ward to a plausible number of neighbours', () => {
    const counts = [...adjacent.values()].map((s) => s.size);
    assert.equal(adjacent.size, 201);
    assert.ok(Math.max(...counts) <= 12, `most neighbours: ${Math.max(...counts)}`);
    const mean = counts.reduce((s, c) => s + c, 0) / counts.length;
    assert.ok(mean > 4 && mean < 7, `mean ${mean}`);
    // Two wards at the corporation's edge really have one neighbour: ward 1 (Thiruvottiyur, the
    // northern tip) touches only ward 2, the next boundary being 694 m away; ward 191 touches only
    // ward 190 (ward 189 is 286 m away). Every other ward has 2 to 12.
    const single = [...adjacent].filter(([, s]) => s.size < 2).map(([id]) => id).sort();
    assert.deepEqual(single, ['chennai-w001', 'chennai-w191']);
    assert.deepEqual([...adjacent.get('chennai-w001')!], ['chennai-w002']);
  });

  test('routes from the northern tip to the south through neighbouring wards, its parts adding up', () => {
    const from = nodeOfWard(wardNetwork, 'chennai-w001');
    const to = nodeOfWard(wardNetwork, 'chennai-w200');
    const path = shortestPath(wardNetwork, from, to)!;
    assert.ok(path, 'a path');
    const ids = path.segments.map((s) => s.zone_id!);
    assert.equal(ids[0], 'chennai-w001');
    assert.equal(ids.at(-1), 'chennai-w200');
    assert.ok(ids.length >= 10, `${ids.length} wards on the way`);
    for (let i = 1; i < ids.length; i++) assert.ok(adjacent.get(ids[i - 1]!)!.has(ids[i]!), `${ids[i - 1]} → ${ids[i]} are not neighbours`);
    const sum = (key: 'length_m' | 'eta_s') => path.segments.reduce((s, seg) => s + seg[key], 0);
    assert.ok(Math.abs(sum('length_m') - path.length_m) < 1e-6);
    assert.ok(Math.abs(sum('eta_s') - path.eta_s) < 1e-6);
    assert.ok(Math.abs(path.eta_s - path.length_m / (25 / 3.6)) < 1e-6, 'ward links at 25 km/h');
    // Ward 1 (13.21° N) to ward 200 (12.9° N) is over 30 km as the crow flies.
    assert.ok(path.length_m > 30_000 && path.length_m < 60_000, `${path.length_m} m`);
    for (const seg of path.segments) assert.ok(seg.coordinates.length >= 2);
    assert.deepEqual(path.segments[0]!.coordinates[0], wardNetwork.position(from));
  });

  test('snaps a point to the node of the ward it is in', () => {
    const snapped = wardNetwork.snap(80.2654, 13.0464)!;
    assert.equal(wardNetwork.zoneOfNode(snapped.node), 'chennai-w119');
    const found = route(wardNetwork, { lng: 80.2654, lat: 13.0464 }, { lng: 80.2654, lat: 13.0464 })!;
    assert.deepEqual(found.path!.nodes, [snapped.node]);
    assert.equal(found.path!.length_m, 0);
  });

  test('is drawn as GeoJSON, all of it or one district', () => {
    const all = wardNetwork.toFeatureCollection();
    assert.equal(all.source, 'ward_adjacency');
    assert.equal(all.features.length, wardNetwork.edges.length);
    const first = all.features[0]!.properties as Record<string, unknown>;
    assert.deepEqual(Object.keys(first).sort(), ['highway', 'kind', 'length_m', 'name', 'oneway', 'road_id', 'speed_kmh', 'zone_ids']);
    assert.equal(first.kind, 'ward_link');
    assert.match(String(first.name), /^(Ward \d+|St\. Thomas Mount) – Ward \d+$/);
    const z09 = chennai.tree.subtreeIds('chennai-z09');
    const some = wardNetwork.toFeatureCollection({ zoneIds: z09 });
    assert.ok(some.features.length > 5 && some.features.length < all.features.length);
    for (const f of some.features) assert.ok((f.properties as { zone_ids: string[] }).zone_ids.some((id) => z09.has(id)));
  });
});

describe('a road file (test/fixtures/roads-small.geojson)', () => {
  // The scope tree's ward w1 is 80.20–80.21 E, 13.00–13.01 N and w2 is 80.22–80.23 E; between
  // them no zone has a boundary. Distances on the mean sphere (R = 6,371,008.8 m): 0.001° of
  // latitude is 111.195 m; 0.004° of longitude at 13.001° N is 433.379 m.
  const zones = new ZoneIndex(new ZoneTree(JSON.parse(readFileSync(SCOPE_TREE, 'utf8')).features.map((f: any) => ({
    id: f.properties.zone_id, name: f.properties.name, level: f.properties.level, parentId: f.properties.parent_id, geometry: f.geometry, properties: {},
  }))));
  const network = RoadNetwork.fromGeoJson(smallFile(), zones);
  const at = (lng: number, lat: number): number => network.nearestNode(lng, lat);
  const [D, E, B, C, P, Q] = [at(80.203, 13.004), at(80.207, 13.004), at(80.203, 13.001), at(80.207, 13.001), at(80.203, 13.008), at(80.207, 13.008)];
  const close = (actual: number, expected: number, what: string) => assert.ok(Math.abs(actual - expected) < 0.01, `${what}: ${actual}, expected ${expected}`);

  it('joins lines at shared vertices only', () => {
    // 3 + 1 + 1 + 0 + 2 + 2 (the flyover, joined to nothing) + 3 nodes.
    assert.equal(network.nodeCount, 12);
    assert.equal(network.edges.length, 2 + 1 + 1 + 1 + 3 + 1 + 3);
    assert.equal(shortestPath(network, at(80.205, 13.0005), D), null, 'the flyover crosses two streets without a junction');
  });

  it('takes the long way round against a one-way street, and the one-way street with it', () => {
    // D → E: One Way Street runs E → D only ("oneway": "-1" on a line drawn D → E).
    const byDistance = shortestPath(network, D, E, { by: 'distance' })!;
    assert.deepEqual(byDistance.nodes, [D, B, C, E]);
    close(byDistance.length_m, 333.585 + 433.379 + 333.585, 'Temple Street + Main Road + Canal Road');
    close(byDistance.eta_s, 1100.549 / (30 / 3.6), 'at 30 km/h');
    const back = shortestPath(network, E, D)!;
    assert.deepEqual(back.nodes, [E, D]);
    close(back.length_m, 433.374, 'One Way Street at 13.004° N');
  });

  it('prefers the faster, longer road when shortest means quickest', () => {
    const byTime = shortestPath(network, D, E)!;
    assert.deepEqual(byTime.nodes, [D, P, Q, E]);
    close(byTime.length_m, 444.780 + 433.367 + 444.780, 'Express Road');
    close(byTime.eta_s, 1322.927 / (60 / 3.6), 'at 60 km/h');
    close(shortestPath(network, D, E, { speedFactor: 2 })!.eta_s, 1322.927 / (120 / 3.6), 'twice as fast');
  });

  it('splits a route into its parts per zone, outside any zone included', () => {
    const found = route(network, { lng: 80.201, lat: 13.001 }, { lng: 80.2261, lat: 13.0011 }, { by: 'distance' })!;
    const parts = found.path!.segments.map((s) => [s.zone_id, Math.round(s.length_m * 100) / 100]);
    // Main Road A → C and Bridge Road to 80.211 in w1; 80.211 → 80.219 has its midpoint between
    // the wards; the rest in w2. Bridge Road's "maxspeed": "30 km/h" sets its speed.
    assert.deepEqual(parts, [['w1', 1083.45], [null, 866.76], ['w2', 758.41]]);
    close(found.path!.eta_s, (1083.447 + 866.758 + 758.413) / (30 / 3.6), 'at 30 km/h');
    // 0.0001° east (10.834 m) and north (11.120 m) of Bridge Road's end.
    close(found.to.distance_m, Math.hypot(10.834, 11.120), 'snapped to the end of Bridge Road');
  });

  it('is drawn as GeoJSON with one-way lines in their direction of travel', () => {
    const fc = network.toFeatureCollection();
    assert.equal(fc.source, 'file');
    assert.equal(fc.features.length, 7);
    const oneWay = fc.features.find((f) => (f.properties as { name: string }).name === 'One Way Street')!;
    assert.deepEqual(oneWay.geometry, { type: 'LineString', coordinates: [[80.207, 13.004], [80.203, 13.004]] });
    assert.deepEqual(oneWay.properties, { road_id: 'r2', name: 'One Way Street', kind: 'road', highway: null, length_m: 433.4, speed_kmh: 30, oneway: true, zone_ids: ['w1'] });
    const w2 = network.toFeatureCollection({ zoneIds: new Set(['w2']) });
    assert.deepEqual(w2.features.map((f) => [(f.properties as { name: string }).name, (f.geometry as { coordinates: unknown }).coordinates]), [['Bridge Road', [[80.219, 13.001], [80.226, 13.001]]]]);
  });
});

describe('a bad road file', () => {
  const line = { type: 'LineString', coordinates: [[80.2, 13.0], [80.21, 13.0]] };
  const file = (...features: unknown[]) => ({ type: 'FeatureCollection', features });
  const cases: Array<[string, unknown, RegExp]> = [
    ['not a collection', { type: 'Feature' }, /the top level must be a GeoJSON FeatureCollection/],
    ['no features', file(), /"features" is empty/],
    ['a point', file({ type: 'Feature', properties: {}, geometry: line }, { type: 'Feature', properties: { name: 'Ripon Building' }, geometry: { type: 'Point', coordinates: [80.27, 13.08] } }), /^road file is invalid: feature 1 \(name "Ripon Building"\): geometry must be a LineString or MultiLineString, not "Point"$/],
    ['a latitude out of range', file({ type: 'Feature', properties: null, geometry: { type: 'LineString', coordinates: [[80.2, 13], [80.2, 95]] } }), /feature 0: geometry.coordinates\[1\] latitude must be a number from -90 to 90/],
    ['a one-position line', file({ type: 'Feature', properties: {}, geometry: { type: 'MultiLineString', coordinates: [line.coordinates, [[80.2, 13]]] } }), /feature 0: geometry.coordinates\[1\] must be an array of at least 2 positions/],
    ['a line with no length', file({ type: 'Feature', properties: { name: 'Dot' }, geometry: { type: 'LineString', coordinates: [[80.2, 13], [80.2, 13]] } }), /feature 0 \(name "Dot"\): the line has no length/],
    ['an unknown oneway', file({ type: 'Feature', properties: { oneway: 'sometimes' }, geometry: line }), /feature 0: property "oneway" is "sometimes"/],
    ['a speed of zero', file({ type: 'Feature', properties: { speed_kmh: 0 }, geometry: line }), /feature 0: property "speed_kmh" must be a number above 0/],
  ];
  for (const [what, doc, message] of cases) {
    it(`is refused with the feature and the problem named: ${what}`, () => {
      assert.throws(() => RoadNetwork.fromGeoJson(doc, chennai), (err: unknown) => {
        assert.ok(err instanceof CityError);
        assert.equal(err.code, 'CITY_ERR_ROADS_INVALID');
        assert.equal(err.status, 422);
        assert.match(err.message, message);
        return true;
      });
    });
  }
});

describe('the road routes on a node', () => {
  it('serve the derived network, route on it, take a road file and keep it across a restart', async (t) => {
    const nodes = await restartableNode(t);
    const first = await nodes.start();
    try {
      const roads = await call(first, 'GET', '/api/v1/roads');
      assert.equal(roads.status, 200);
      assert.equal(roads.body.source, 'ward_adjacency');
      assert.equal(roads.body.features.length, wardNetwork.edges.length);
      const z09 = await call(first, 'GET', '/api/v1/roads?zone=chennai-z09');
      assert.ok(z09.body.features.length > 5 && z09.body.features.length < roads.body.features.length);
      assert.equal((await call(first, 'GET', '/api/v1/roads?zone=nowhere')).body.error.code, 'CITY_ERR_ZONE_NOT_FOUND');

      const w001 = roads.body.features.find((f: any) => f.properties.road_id === 'link:chennai-w001:chennai-w002').geometry.coordinates[0];
      const path = `/api/v1/roads/route?from_lat=13.0464&from_lng=80.2654&to_lat=${w001[1]}&to_lng=${w001[0]}`;
      assert.equal((await call(first, 'GET', path)).status, 401, 'routing needs the monitor permission');
      const routed = await call(first, 'GET', `${path}&speed_factor=1.5`, { headers: first.admin });
      assert.equal(routed.status, 200, JSON.stringify(routed.body));
      assert.equal(routed.body.type, 'Feature');
      assert.equal(routed.body.geometry.type, 'LineString');
      const props = routed.body.properties;
      assert.equal(props.source, 'ward_adjacency');
      assert.deepEqual([props.from.zone_id, props.from.snap_m > 0, props.to.zone_id, props.to.snap_m], ['chennai-w119', true, 'chennai-w001', 0]);
      assert.deepEqual([props.segments[0].zone_id, props.segments[0].zone_name, props.segments.at(-1).zone_id], ['chennai-w119', 'Ward 119', 'chennai-w001']);
      const total = props.segments.reduce((s: number, seg: any) => s + seg.length_m, 0);
      assert.ok(Math.abs(total - props.length_m) < 0.1 * props.segments.length, `${total} vs ${props.length_m}`);
      assert.ok(Math.abs(props.eta_s - props.length_m / ((25 / 3.6) * 1.5)) < 0.1);

      const bad = await call(first, 'PUT', '/api/v1/roads', { headers: first.admin, body: { type: 'FeatureCollection', features: [{ type: 'Feature', properties: { name: 'Nowhere' }, geometry: null }] } });
      assert.equal(bad.status, 422);
      assert.equal(bad.body.error.message, 'road file is invalid: feature 0 (name "Nowhere"): geometry must be a LineString or MultiLineString, not null');
      assert.equal((await call(first, 'PUT', '/api/v1/roads', { body: smallFile() })).status, 401);
      const put = await call(first, 'PUT', '/api/v1/roads', { headers: first.admin, body: smallFile() });
      assert.deepEqual(put.body, { source: 'file', roads: 7, nodes: 12, edges: 12 });
      const audited = await first.store.db.selectFrom('audit_log').select(['action', 'details']).where('action', '=', 'roads.replace').execute();
      assert.deepEqual(audited, [{ action: 'roads.replace', details: { roads: 7, nodes: 12, edges: 12 } }]);
      assert.equal((await call(first, 'GET', '/api/v1/roads')).body.source, 'file');
      const cut = await call(first, 'GET', '/api/v1/roads/route?from_lat=13.0005&from_lng=80.205&to_lat=13.004&to_lng=80.203', { headers: first.admin });
      assert.equal(cut.status, 404);
      assert.equal(cut.body.error.code, 'CITY_ERR_ROAD_PATH_NOT_FOUND');
      assert.match(cut.body.error.message, /^no road path from 13.0005,80.205 to 13.004,80.203: the loaded road file has no way from chennai-w\d+ \(node at 13.000500,80.205000\) to chennai-w\d+ \(node at 13.004000,80.203000\), one-way streets respected/);
    } finally {
      await first.close();
    }

    const second = await nodes.start();
    try {
      const roads = await call(second, 'GET', '/api/v1/roads');
      assert.equal(roads.body.source, 'file');
      assert.deepEqual(roads.body.features.map((f: any) => f.properties.name), ['Main Road', 'Temple Street', 'One Way Street', 'Canal Road', 'Express Road', 'Flyover', 'Bridge Road']);
      const routed = await call(second, 'GET', '/api/v1/roads/route?from_lat=13.004&from_lng=80.207&to_lat=13.004&to_lng=80.203', { headers: second.admin });
      assert.equal(routed.status, 200);
      assert.equal(routed.body.properties.length_m, 433.4);
      // New zones re-tag the file's roads: One Way Street lies in the scope tree's ward w1.
      const zones = await call(second, 'PUT', '/api/v1/zones', { headers: second.admin, raw: readFileSync(SCOPE_TREE, 'utf8') });
      assert.equal(zones.status, 200, JSON.stringify(zones.body));
      const retagged = (await call(second, 'GET', '/api/v1/roads')).body;
      assert.equal(retagged.source, 'file');
      assert.deepEqual(retagged.features.find((f: any) => f.properties.name === 'One Way Street').properties.zone_ids, ['w1']);
    } finally {
      await second.close();
    }
  });

  it('derives the network again when the zones are replaced', async (t) => {
    const nodes = await restartableNode(t);
    const node = await nodes.start();
    try {
      assert.equal((await call(node, 'GET', '/api/v1/roads')).body.features.length, wardNetwork.edges.length);
      const zones = await call(node, 'PUT', '/api/v1/zones', { headers: node.admin, raw: readFileSync(SCOPE_TREE, 'utf8') });
      assert.equal(zones.status, 200, JSON.stringify(zones.body));
      // The scope tree's wards are squares apart from each other: six nodes, no links.
      const roads = (await call(node, 'GET', '/api/v1/roads')).body;
      assert.deepEqual([roads.source, roads.features.length], ['ward_adjacency', 0]);
      const apart = await call(node, 'GET', '/api/v1/roads/route?from_lat=13.005&from_lng=80.205&to_lat=13.005&to_lng=80.225', { headers: node.admin });
      assert.equal(apart.status, 404);
      assert.equal(
        apart.body.error.message,
        'no road path from 13.005,80.205 to 13.005,80.225: no chain of neighbouring wards leads from w1 (node at 13.005000,80.205000) to w2 (node at 13.005000,80.225000); load a road file that connects them (PUT /api/v1/roads)',
      );
    } finally {
      await node.close();
    }
  });
});
