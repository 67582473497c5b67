import Flatbush from 'flatbush';
import { haversineM, interiorPoint, metresPerDegreeLat, metresPerDegreeLng, pointSegmentDistanceM } from './geodesy.js';
import { polygonsOf, type BBox } from './geojson.js';
import { ZONE_LEVELS, type Zone } from './zones.js';
import type { ZoneLookup } from './roads.js';

/** How close two boundaries must run, and for how long, to make two wards neighbours. */
export const ADJACENCY_DEFAULTS = {
  /**
   * Boundaries drawn separately rarely share exact vertices; within 20 m of each other is the
   * same border (Chennai's wards share rounded vertices, which this also covers).
   */
  toleranceM: 20,
  /**
   * Border that must be shared: wards meeting at one corner are not neighbours (no street need
   * cross there), and 40 m of shared border is more than a corner's neighbouring vertices give.
   */
  minContactM: 40,
};

/** One neighbourhood as a graph node: a point inside it, near its centroid. */
export interface WardPoint {
  zone: Zone;
  lng: number;
  lat: number;
}

/** Two neighbourhoods (indices into `wards`) sharing at least `minContactM` of border. */
export interface WardLink {
  a: number;
  b: number;
}

interface Outline {
  /** Every ring's positions, closed (a ring's first and last positions are equal), as x,y pairs. */
  xy: Float64Array;
  /** Ring k spans vertices `ringStart[k] .. ringStart[k + 1]`. */
  ringStart: number[];
  /** The bounding box grown by the tolerance. */
  box: BBox;
}

/**
 * The neighbourhoods of a zone tree (the lowest level that has boundaries) and which of them
 * share a border. Each ward's boundary box, grown by the tolerance, goes into a flatbush, so
 * only wards whose boxes overlap are compared, and within a pair only the vertices and segments
 * inside the other's box (Chennai's 201 wards: see the timing in test/geo/roads.test.ts).
 *
 * @example
 *   const { wards, links } = wardAdjacency(tree);
 *   links.filter((l) => wards[l.a]!.zone.id === 'chennai-w119' || wards[l.b]!.zone.id === 'chennai-w119');
 */
export function wardAdjacency(zones: ZoneLookup): { wards: WardPoint[]; links: WardLink[] } {
  // Per zone tree (a replaced tree is a new object): the road fallback and the hierarchy's peer
  // introductions both ask, and it costs 20–160 ms for Chennai's 201 wards.
  let cached = adjacencyCache.get(zones.tree);
  if (!cached) {
    cached = computeAdjacency(zones);
    adjacencyCache.set(zones.tree, cached);
  }
  return cached;
}

const adjacencyCache = new WeakMap<ZoneLookup['tree'], { wards: WardPoint[]; links: WardLink[] }>();

function computeAdjacency(zones: ZoneLookup): { wards: WardPoint[]; links: WardLink[] } {
  const { toleranceM, minContactM } = ADJACENCY_DEFAULTS;
  const withGeometry = zones.tree.all().filter((z) => z.geometry !== null);
  const lowest = Math.min(...withGeometry.map((z) => ZONE_LEVELS.indexOf(z.level)));
  const wards: WardPoint[] = [];
  const outlines: Outline[] = [];
  for (const zone of withGeometry) {
    if (ZONE_LEVELS.indexOf(zone.level) !== lowest) continue;
    // Inside by the node's own point-in-zone index: where the node must locate it later.
    const point = interiorPoint(zone.geometry!, (x, y) => zones.contains(zone.id, x, y));
    if (!point) continue; // a zero-area boundary: nothing to route to
    wards.push({ zone, lng: point[0]!, lat: point[1]! });
    outlines.push(outlineOf(zone, toleranceM));
  }
  const links: WardLink[] = [];
  if (wards.length < 2) return { wards, links };

  const index = new Flatbush(outlines.length);
  for (const { box } of outlines) index.add(box[0], box[1], box[2], box[3]);
  index.finish();
  for (let a = 0; a < outlines.length; a++) {
    const box = outlines[a]!.box;
    for (const b of index.search(box[0], box[1], box[2], box[3])) {
      if (b <= a) continue; // each pair once
      const contact = Math.max(contactM(outlines[a]!, outlines[b]!, toleranceM), contactM(outlines[b]!, outlines[a]!, toleranceM));
      if (contact >= minContactM) links.push({ a, b });
    }
  }
  return { wards, links };
}

function outlineOf(zone: Zone, toleranceM: number): Outline {
  const coords: number[] = [];
  const ringStart: number[] = [];
  const box: BBox = [Infinity, Infinity, -Infinity, -Infinity];
  for (const rings of polygonsOf(zone.geometry!)) {
    for (const ring of rings) {
      ringStart.push(coords.length / 2);
      for (const [x, y] of ring) {
        coords.push(x!, y!);
        box[0] = Math.min(box[0], x!);
        box[1] = Math.min(box[1], y!);
        box[2] = Math.max(box[2], x!);
        box[3] = Math.max(box[3], y!);
      }
      const first = ring[0];
      const last = ring[ring.length - 1];
      if (first && last && (first[0] !== last[0] || first[1] !== last[1])) coords.push(first[0]!, first[1]!); // close it
    }
  }
  ringStart.push(coords.length / 2);
  const padLat = toleranceM / metresPerDegreeLat(box[1]);
  // Pad longitude at the latitude furthest from the equator, where a degree is shortest.
  const padLng = toleranceM / metresPerDegreeLng(Math.max(Math.abs(box[1]), Math.abs(box[3])));
  return { xy: Float64Array.from(coords), ringStart, box: [box[0] - padLng, box[1] - padLat, box[2] + padLng, box[3] + padLat] };
}

/**
 * Metres of `a`'s boundary running along `b`'s: the length of `a`'s segments whose two ends both
 * lie within the tolerance of `b`'s boundary. Exactly shared vertices count (distance 0), and so
 * do borders digitised separately a few metres apart.
 */
function contactM(a: Outline, b: Outline, toleranceM: number): number {
  const [minX, minY, maxX, maxY] = b.box;
  // b's segments that come near a at all.
  const near: number[] = [];
  const [aMinX, aMinY, aMaxX, aMaxY] = a.box;
  forEachSegment(b, (i) => {
    const x1 = b.xy[i * 2]!, y1 = b.xy[i * 2 + 1]!, x2 = b.xy[i * 2 + 2]!, y2 = b.xy[i * 2 + 3]!;
    if (Math.max(x1, x2) >= aMinX && Math.min(x1, x2) <= aMaxX && Math.max(y1, y2) >= aMinY && Math.min(y1, y2) <= aMaxY) near.push(i);
  });
  if (near.length === 0) return 0;
  const vertexNear = (v: number): boolean => {
    const x = a.xy[v * 2]!;
    const y = a.xy[v * 2 + 1]!;
    if (x < minX || x > maxX || y < minY || y > maxY) return false;
    for (const i of near) {
      if (pointSegmentDistanceM(x, y, b.xy[i * 2]!, b.xy[i * 2 + 1]!, b.xy[i * 2 + 2]!, b.xy[i * 2 + 3]!) <= toleranceM) return true;
    }
    return false;
  };
  let total = 0;
  for (let k = 0; k + 1 < a.ringStart.length; k++) {
    let previous = vertexNear(a.ringStart[k]!);
    for (let v = a.ringStart[k]! + 1; v < a.ringStart[k + 1]!; v++) {
      const current = vertexNear(v);
      if (previous && current) total += haversineM(a.xy[v * 2 - 2]!, a.xy[v * 2 - 1]!, a.xy[v * 2]!, a.xy[v * 2 + 1]!);
      previous = current;
    }
  }
  return total;
}

/** Calls `fn(i)` for each boundary segment from vertex i to vertex i + 1 (rings are closed). */
function forEachSegment(o: Outline, fn: (i: number) => void): void {
  for (let k = 0; k + 1 < o.ringStart.length; k++) {
    for (let i = o.ringStart[k]!; i + 1 < o.ringStart[k + 1]!; i++) fn(i);
  }
}
