import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { metresPerDegreeLat, metresPerDegreeLng } from '../../src/geo/geodesy.js';
import type { MultiPolygon, Polygon } from '../../src/geo/geojson.js';
import { loadZoneFile } from '../../src/geo/zone-file.js';
import { ZoneTree } from '../../src/geo/zones.js';
import { affectedAreas, allocate } from '../../src/hierarchy/flood.js';
import { CHENNAI_ZONES } from '../helpers/fixtures.js';

const close = (actual: number, expected: number, what: string, within: number): void =>
  assert.ok(Math.abs(actual - expected) < within, `${what}: ${actual}, expected ${expected}`);

/** An axis-aligned rectangle, closed, counter-clockwise. */
function rect(west: number, south: number, east: number, north: number): number[][] {
  return [[west, south], [east, south], [east, north], [west, north], [west, south]];
}
const polygon = (...rings: number[][][]): Polygon => ({ type: 'Polygon', coordinates: rings });

/** A rectangle's area in km² at its middle latitude (what the module's own metres per degree give). */
function rectKm2(west: number, south: number, east: number, north: number): number {
  const lat = (south + north) / 2;
  return ((east - west) * metresPerDegreeLng(lat) * (north - south) * metresPerDegreeLat(lat)) / 1e6;
}

describe('affectedAreas on the Chennai districts', async () => {
  const tree = new ZoneTree(await loadZoneFile(CHENNAI_ZONES));
  const districts = tree.all().filter((z) => z.level === 'district').map((z) => ({ id: z.id, geometry: z.geometry! }));
  // A storm surge along the coast from the Adyar estuary (12.99° N) to Triplicane (13.06° N),
  // from 80.255° E out to sea. Thiruvottiyur (chennai-z01) is 13.14–13.24° N, far to the north.
  const surge = polygon(rect(80.255, 12.99, 80.3, 13.06));

  it('finds the coastal districts of Teynampet and Adyar, most flooded first, and not Thiruvottiyur', (t) => {
    const started = performance.now();
    const hit = affectedAreas(surge, districts);
    t.diagnostic(`${districts.length} districts in ${(performance.now() - started).toFixed(1)} ms: ${hit.map((a) => `${a.id} ${a.overlap_km2.toFixed(2)} km²`).join(', ')}`);
    const ids = hit.map((a) => a.id);
    assert.ok(ids.includes('chennai-z09') && ids.includes('chennai-z13'), ids.join(', '));
    assert.ok(!ids.includes('chennai-z01'));
    assert.deepEqual(ids.slice(0, 2), ['chennai-z09', 'chennai-z13'], 'Teynampet has the longer coast in the box');
    for (let i = 1; i < hit.length; i++) assert.ok(hit[i - 1]!.overlap_km2 >= hit[i]!.overlap_km2, 'sorted by overlap');
    for (const a of hit) assert.ok(a.overlap_fraction > 0 && a.overlap_fraction <= 1, `${a.id}: ${a.overlap_fraction}`);
    // The box is 4.9 × 7.7 km, part of it sea: the land under it is less than the box.
    const total = hit.reduce((s, a) => s + a.overlap_km2, 0);
    assert.ok(total > 10 && total < rectKm2(80.255, 12.99, 80.3, 13.06), `${total} km² flooded`);
  });

  it('estimates overlaps that a four times finer grid confirms to within 3 %', () => {
    const coarse = affectedAreas(surge, districts);
    const fine = new Map(affectedAreas(surge, districts, { cellM: 62.5 }).map((a) => [a.id, a]));
    for (const a of coarse.filter((x) => x.overlap_km2 > 1)) {
      const f = fine.get(a.id)!;
      assert.ok(Math.abs(a.overlap_km2 - f.overlap_km2) / f.overlap_km2 < 0.03, `${a.id}: ${a.overlap_km2} vs ${f.overlap_km2}`);
    }
  });

  it('gives a district under its own outline all of its area', () => {
    const z09 = tree.get('chennai-z09').geometry!;
    const own = affectedAreas(z09, districts).find((a) => a.id === 'chennai-z09')!;
    assert.ok(own.overlap_fraction > 0.97, `${own.overlap_fraction}`);
  });
});

describe('affectedAreas on drawn shapes', () => {
  // A 0.1° square at 13° N with a 0.06° square hole in its middle (a lake, say).
  const ring = polygon(rect(80, 13, 80.1, 13.1), rect(80.02, 13.02, 80.08, 13.08));
  const candidates = [{ id: 'ring', geometry: ring }];

  it('treats a hole as outside: a flood within it affects nothing', () => {
    assert.deepEqual(affectedAreas(polygon(rect(80.03, 13.03, 80.07, 13.07)), candidates), []);
  });

  it('leaves the hole out of the overlap', () => {
    // The west half of the square, less the west half of the hole.
    const [hit] = affectedAreas(polygon(rect(79.99, 12.99, 80.05, 13.11)), candidates, { cellM: 100 });
    const expected = rectKm2(80, 13, 80.05, 13.1) - rectKm2(80.02, 13.02, 80.05, 13.08);
    assert.equal(hit!.id, 'ring');
    assert.ok(Math.abs(hit!.overlap_km2 - expected) / expected < 0.02, `${hit!.overlap_km2} km², expected ${expected}`);
    const own = rectKm2(80, 13, 80.1, 13.1) - rectKm2(80.02, 13.02, 80.08, 13.08);
    assert.ok(Math.abs(hit!.overlap_fraction - expected / own) < 0.01, `fraction ${hit!.overlap_fraction}`);
    assert.equal(hit!.below_resolution, undefined);
  });

  it('does not count shapes that only touch', () => {
    assert.deepEqual(affectedAreas(polygon(rect(80.1, 13, 80.2, 13.1)), candidates), [], 'a shared edge');
    assert.deepEqual(affectedAreas(polygon(rect(80.1, 13.1, 80.2, 13.2)), candidates), [], 'a shared corner');
    assert.deepEqual(affectedAreas(polygon(rect(80.02, 13.03, 80.05, 13.07)), candidates), [], 'inside the hole, along its edge');
  });

  it('counts a flood whose outline is the candidate\'s own', () => {
    const square = polygon(rect(80, 13, 80.1, 13.1));
    const [hit] = affectedAreas(square, [{ id: 'square', geometry: square }]);
    assert.equal(hit!.id, 'square');
    assert.ok(Math.abs(hit!.overlap_fraction - 1) < 0.01, `${hit!.overlap_fraction}`);
  });

  it('keeps a sliver the grid cannot see as affected, below resolution, after everything sampled', () => {
    // A flood east of the 0.1° square with a finger 0.00001° (1.1 m) wide reaching 0.05° into it
    // at 13.04° N: the grid over their common box (80.05–80.1 E) has rows 246 m apart, none
    // on the finger.
    const flood = polygon([[80.1, 13], [80.2, 13], [80.2, 13.1], [80.1, 13.1], [80.1, 13.04001], [80.05, 13.04001], [80.05, 13.04], [80.1, 13.04], [80.1, 13]]);
    const hit = affectedAreas(flood, [
      { id: 'square', geometry: polygon(rect(80, 13, 80.1, 13.1)) },
      { id: 'east', geometry: polygon(rect(80.1, 13, 80.2, 13.1)) },
      // 11 m across, inside the flood: one grid cell of its own size, sampled.
      { id: 'kiosk', geometry: polygon(rect(80.15, 13.05, 80.1501, 13.0501)) },
    ]);
    assert.deepEqual(hit.map((a) => [a.id, a.below_resolution ?? false]), [['east', false], ['kiosk', false], ['square', true]]);
    const [east, kiosk, square] = hit;
    assert.ok(Math.abs(east!.overlap_fraction - 1) < 0.01, `east: ${east!.overlap_fraction}`);
    close(kiosk!.overlap_km2, rectKm2(80.15, 13.05, 80.1501, 13.0501), 'the kiosk, all of it', 1e-9);
    // Half a cell of the common box's grid (about 246 × 246 m), though more than the kiosk's whole area.
    assert.ok(square!.overlap_km2 > 0.025 && square!.overlap_km2 < 0.035, `square: ${square!.overlap_km2}`);
    assert.ok(square!.overlap_km2 > kiosk!.overlap_km2);
  });

  it('handles MultiPolygons: a flood over one of two islands affects half', () => {
    const islands: MultiPolygon = { type: 'MultiPolygon', coordinates: [[rect(80, 13, 80.05, 13.05)], [rect(80.1, 13, 80.15, 13.05)]] };
    const [hit] = affectedAreas(polygon(rect(79.9, 12.9, 80.07, 13.2)), [{ id: 'islands', geometry: islands }], { cellM: 100 });
    assert.ok(Math.abs(hit!.overlap_fraction - 0.5) < 0.02, `${hit!.overlap_fraction}`);
    assert.throws(() => affectedAreas(islands, [], { cellM: 0 }), RangeError);
  });
});

describe('allocate', () => {
  it('splits by weight in whole units that add up to the pool, the largest remainders getting the rest', () => {
    // Boats 10 by 5:3:2 → 5, 3, 2 exactly; medical 4 → quotas 2.0, 1.2, 0.8 → 2, 1, 1.
    const out = allocate({ rescue_boats: 10, medical_teams: 4 }, [{ id: 'z13', weight: 5 }, { id: 'z09', weight: 3 }, { id: 'z05', weight: 2 }]);
    assert.deepEqual(out, {
      z13: { rescue_boats: 5, medical_teams: 2 },
      z09: { rescue_boats: 3, medical_teams: 1 },
      z05: { rescue_boats: 2, medical_teams: 1 },
    });
  });

  it('breaks equal remainders by id, whatever order the ids come in', () => {
    const weights = [{ id: 'c', weight: 1 }, { id: 'a', weight: 1 }, { id: 'b', weight: 1 }];
    assert.deepEqual(allocate({ boats: 2 }, weights), { c: { boats: 0 }, a: { boats: 1 }, b: { boats: 1 } });
    assert.deepEqual(allocate({ boats: 2 }, [...weights].reverse()), { b: { boats: 1 }, a: { boats: 1 }, c: { boats: 0 } });
  });

  it('gives the minimum first when the pool has enough for everyone, and not otherwise', () => {
    const weights = [{ id: 'big', weight: 98 }, { id: 'small', weight: 1 }, { id: 'tiny', weight: 1 }];
    assert.deepEqual(allocate({ boats: 10 }, weights), { big: { boats: 10 }, small: { boats: 0 }, tiny: { boats: 0 } });
    assert.deepEqual(allocate({ boats: 10 }, weights, { minimumEach: 2 }), { big: { boats: 6 }, small: { boats: 2 }, tiny: { boats: 2 } });
    assert.deepEqual(allocate({ boats: 5 }, weights, { minimumEach: 2 }), { big: { boats: 5 }, small: { boats: 0 }, tiny: { boats: 0 } });
  });

  it('adds up exactly for awkward weights, shares equally when all weights are 0, and refuses bad input', () => {
    const weights = [0.1, 0.2, 0.3, 1 / 3, Math.PI].map((weight, i) => ({ id: `d${i}`, weight }));
    for (const count of [0, 1, 7, 99, 1000]) {
      const out = allocate({ boats: count }, weights);
      assert.equal(Object.values(out).reduce((s, r) => s + r.boats!, 0), count, `${count} boats`);
      for (const r of Object.values(out)) assert.ok(Number.isInteger(r.boats));
    }
    assert.deepEqual(allocate({ boats: 4 }, [{ id: 'x', weight: 0 }, { id: 'y', weight: 0 }]), { x: { boats: 2 }, y: { boats: 2 } });
    assert.deepEqual(allocate({ boats: 4 }, []), {});
    assert.throws(() => allocate({ boats: 1.5 }, weights), RangeError);
    assert.throws(() => allocate({ boats: 1 }, [{ id: 'x', weight: -1 }]), RangeError);
    assert.throws(() => allocate({ boats: 1 }, [{ id: 'x', weight: 1 }, { id: 'x', weight: 2 }]), RangeError);
  });

  it('splits boats between the districts a surge floods, by flooded area', async () => {
    const tree = new ZoneTree(await loadZoneFile(CHENNAI_ZONES));
    const districts = tree.all().filter((z) => z.level === 'district').map((z) => ({ id: z.id, geometry: z.geometry! }));
    const hit = affectedAreas(polygon(rect(80.255, 12.99, 80.3, 13.06)), districts);
    const out = allocate({ rescue_boats: 20 }, hit.map((a) => ({ id: a.id, weight: a.overlap_km2 })));
    assert.equal(Object.values(out).reduce((s, r) => s + r.rescue_boats!, 0), 20);
    assert.ok(out['chennai-z09']!.rescue_boats! >= out['chennai-z13']!.rescue_boats!);
    assert.ok(out['chennai-z13']!.rescue_boats! > 0);
  });
});
