import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CityError } from '../../src/errors.js';
import type { FeatureCollection, Polygon, Ring, ZoneGeometry } from '../../src/geo/geojson.js';
import { loadZoneFile } from '../../src/geo/zone-file.js';
import { ZoneIndex } from '../../src/geo/zone-index.js';
import { ZoneTree, type Zone, type ZoneLevel } from '../../src/geo/zones.js';

const CITY = new URL('../../examples/cities/chennai/', import.meta.url).pathname;

/**
 * A point inside a simple ring, found independently of ZoneIndex: cut the ring with the
 * horizontal line through the middle of its latitude range and take the middle of the widest
 * stretch between crossings.
 */
function interiorPoint(ring: Ring): [number, number] {
  const ys = ring.map((p) => p[1]!);
  const y = (Math.min(...ys) + Math.max(...ys)) / 2 + 1e-9; // off any vertex
  const xs: number[] = [];
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i] as [number, number];
    const [xj, yj] = ring[j] as [number, number];
    if (yi > y !== yj > y) xs.push(xi + ((y - yi) * (xj - xi)) / (yj - yi));
  }
  xs.sort((a, b) => a - b);
  let best: [number, number] = [NaN, y];
  for (let k = 0, width = 0; k + 1 < xs.length; k += 2) {
    if (xs[k + 1]! - xs[k]! > width) [width, best] = [xs[k + 1]! - xs[k]!, [(xs[k]! + xs[k + 1]!) / 2, y]];
  }
  return best;
}

function square(x0: number, y0: number, x1: number, y1: number): Ring {
  return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]];
}

function zone(id: string, level: ZoneLevel, parentId: string | null, geometry: ZoneGeometry | null): Zone {
  return { id, name: id, level, parentId, geometry, properties: {} };
}

function throwsNotFound(fn: () => unknown): void {
  assert.throws(fn, (err: unknown) => err instanceof CityError && err.code === 'CITY_ERR_ZONE_NOT_FOUND');
}

describe('ZoneIndex on the Chennai demo city', async () => {
  const tree = new ZoneTree(await loadZoneFile(`${CITY}city.geojson`));
  const index = new ZoneIndex(tree);
  const source = JSON.parse(readFileSync(`${CITY}source/Wards.geojson`, 'utf8')) as FeatureCollection<Polygon>;

  it('puts a point inside ward 119 (from the source data) in chennai-w119, under Teynampet', () => {
    const ward = source.features.find((f) => f.properties.Ward_No === 119)!;
    const [lng, lat] = interiorPoint(ward.geometry.coordinates[0]!);
    // Checked by hand against the source ring: ward 119 spans 80.2573–80.2713 E, 13.0387–13.0540 N.
    assert.ok(lng > 80.2573 && lng < 80.2713 && lat > 13.0387 && lat < 13.054, `${lng},${lat}`);
    const id = index.locate(lng, lat);
    assert.equal(id, 'chennai-w119');
    assert.deepEqual(tree.ancestors(id!).map((z) => z.level), ['district', 'city', 'state', 'nation']);
    assert.deepEqual(tree.ancestors(id!).map((z) => z.id), ['chennai-z09', 'chennai', 'in-tn', 'in']);
  });

  it('puts an interior point of each of the 201 source wards in that ward', () => {
    const wrong: string[] = [];
    for (const f of source.features) {
      const want = `chennai-w${String(f.properties.Ward_No).padStart(3, '0')}`;
      const got = index.locate(...interiorPoint(f.geometry.coordinates[0]!));
      if (got !== want) wrong.push(`${want} → ${got}`);
    }
    assert.equal(source.features.length, 201);
    assert.deepEqual(wrong, []);
  });

  it('finds nothing in the Bay of Bengal', () => {
    assert.equal(index.locate(80.35, 13.05), null);
    assert.equal(index.locate(80.31, 13.0), null); // inside the CMA's bounding box, but at sea
  });

  it('gives the city for points in the metropolitan area outside every ward', () => {
    for (const [lng, lat] of [[80.1, 12.9249], [80.097, 13.1067]] as const) { // Tambaram, Avadi
      assert.equal(index.locate(lng, lat), 'chennai');
      assert.equal(tree.children('chennai').some((d) => index.contains(d.id, lng, lat)), false);
    }
  });

  it('finds nothing for NaN or far away points', () => {
    assert.equal(index.locate(NaN, 13), null);
    assert.equal(index.locate(2.35, 48.85), null);
  });

  it('answers contains and bbox for zones with and without geometry', () => {
    const [lng, lat] = interiorPoint(tree.get('chennai-w119').geometry!.coordinates[0] as Ring);
    for (const id of ['chennai-w119', 'chennai-z09', 'chennai', 'in-tn', 'in']) assert.equal(index.contains(id, lng, lat), true, id);
    for (const id of ['chennai-w118', 'chennai-z10']) assert.equal(index.contains(id, lng, lat), false, id);
    assert.equal(index.contains('in', 80.35, 13.05), false);
    assert.deepEqual(index.bbox('chennai-w119'), [80.257327, 13.038733, 80.271297, 13.053985]);
    assert.deepEqual(index.bbox('in'), index.bbox('chennai'));
    throwsNotFound(() => index.contains('nowhere', lng, lat));
    throwsNotFound(() => index.bbox('nowhere'));
  });
});

describe('ZoneIndex on synthetic shapes', () => {
  // A 10×10 district; a neighbourhood covering its middle with a 2×2 hole; a lake park in the
  // hole; and a second neighbourhood made of two islands, one inside a hole of the other.
  const zones = [
    zone('country', 'nation', null, null),
    zone('d', 'district', 'country', { type: 'Polygon', coordinates: [square(0, 0, 10, 10)] }),
    zone('ring', 'neighbourhood', 'd', { type: 'Polygon', coordinates: [square(1, 1, 9, 9), square(4, 4, 6, 6)] }),
    zone('e', 'district', 'country', { type: 'Polygon', coordinates: [square(20, 0, 30, 10)] }),
    zone('islands', 'neighbourhood', 'e', {
      type: 'MultiPolygon',
      coordinates: [[square(21, 1, 29, 9), square(23, 3, 27, 7)], [square(24, 4, 26, 6)]],
    }),
    zone('lonely', 'district', 'country', { type: 'Polygon', coordinates: [square(40, 0, 50, 10)] }),
  ];
  const index = new ZoneIndex(new ZoneTree(zones));

  it('does not put a point in a hole in the polygon with the hole', () => {
    assert.equal(index.locate(2, 2), 'ring');
    assert.equal(index.locate(5, 5), 'd');
    assert.equal(index.contains('ring', 5, 5), false);
    assert.equal(index.locate(0.5, 5), 'd');
    assert.equal(index.locate(15, 5), null);
  });

  it('handles a MultiPolygon with an island inside a hole', () => {
    assert.equal(index.locate(22, 2), 'islands');
    assert.equal(index.locate(23.5, 3.5), 'e'); // in the hole, off the island
    assert.equal(index.locate(25, 5), 'islands'); // on the island
  });

  it('returns a district without neighbourhoods straight from the first tier', () => {
    assert.equal(index.locate(45, 5), 'lonely');
  });

  it('lets a neighbourhood fill a hole of its sibling', () => {
    const lake = zone('lake', 'neighbourhood', 'd', { type: 'Polygon', coordinates: [square(4, 4, 6, 6)] });
    const withLake = new ZoneIndex(new ZoneTree([...zones, lake]));
    assert.equal(withLake.locate(5, 5), 'lake');
    assert.equal(withLake.locate(3, 3), 'ring');
  });

  it('accepts rings given in either orientation and without a closing position', () => {
    const open: Ring = [[0, 0], [0, 2], [2, 2], [2, 0]]; // clockwise, not closed
    const i = new ZoneIndex(new ZoneTree([zone('c', 'city', null, { type: 'Polygon', coordinates: [open] })]));
    assert.equal(i.locate(1, 1), 'c');
    assert.equal(i.locate(2.5, 1), null);
    assert.equal(i.locate(1, -0.5), null);
  });

  it('finds points in long thin polygons whose edges span many bands', () => {
    const comb: Ring = [[0, 0], [1, 0], [1, 100], [0.6, 100], [0.6, 1], [0.4, 1], [0.4, 100], [0, 100], [0, 0]];
    const i = new ZoneIndex(new ZoneTree([zone('c', 'city', null, { type: 'Polygon', coordinates: [comb] })]));
    assert.equal(i.locate(0.2, 50), 'c');
    assert.equal(i.locate(0.5, 50), null); // between the teeth
    assert.equal(i.locate(0.5, 0.5), 'c');
    assert.equal(i.locate(0.8, 99.99), 'c');
  });

  it('finds nothing when no zone has geometry', () => {
    const i = new ZoneIndex(new ZoneTree([zone('n', 'nation', null, null)]));
    assert.equal(i.locate(0, 0), null);
    assert.equal(i.bbox('n'), null);
    assert.equal(i.contains('n', 0, 0), false);
  });
});
