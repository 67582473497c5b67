import { metresPerDegreeLat, metresPerDegreeLng } from '../geo/geodesy.js';
import { polygonsOf, type BBox, type MultiPolygon, type Polygon, type Position, type Ring } from '../geo/geojson.js';

/**
 * The city's part of a major flood (seed 001 §5.3): which districts a predicted flood area
 * reaches (`identify_affected_districts`), and how a pool of boats and medical teams is split
 * between them (`allocate_boats`, `allocate_medical`). Pure functions; the caller sends the
 * directives.
 */
export const FLOOD_DEFAULTS = {
  /**
   * Spacing of the sample grid that estimates overlap areas. 250 m gives each sample 0.0625 km²:
   * a Chennai district (17–42 km²) holds 270–680 samples, and a flood's overlaps come within 3 %
   * of a 4× finer grid's (test/hierarchy/flood.test.ts), while all 16 districts take about 20 ms.
   */
  cellM: 250,
} as const;

export interface AffectedArea {
  id: string;
  /** Estimated area of the candidate under the flood. */
  overlap_km2: number;
  /** `overlap_km2` as a share of the candidate's own area (0–1). */
  overlap_fraction: number;
  /**
   * Present when the shapes do intersect but no sample point fell in the overlap: it is smaller
   * than the grid can see, and `overlap_km2` is half a cell's area (see `affectedAreas`).
   */
  below_resolution?: true;
}

/**
 * The candidates (districts, wards) a flood area reaches, most flooded first (ties by id, those
 * `below_resolution` last); candidates it does not reach are left out. Holes count as outside,
 * in the area and in the candidates alike.
 *
 * Whether two shapes meet is decided exactly: they meet when an edge of one properly crosses an
 * edge of the other, a vertex of one lies strictly inside the other, or an inner point of one
 * lies inside the other (which catches shapes whose boundaries coincide). Merely touching — a
 * shared border, a vertex on the other's edge — is not meeting, so of zones whose borders
 * coincide exactly, one used as the flood area does not flag its neighbours. (Chennai's
 * district outlines do not coincide exactly: Teynampet's own outline meets slivers of Adyar
 * and Annanagar, which come back `below_resolution`.)
 *
 * How much they overlap is then estimated: points on a grid of `cellM` metres over the
 * intersection of the two bounding boxes, each inside both shapes counting for its cell's area.
 * A thin sliver can meet a candidate yet hold no grid point. Such a candidate is still affected
 * (the exact test found it) and is marked `below_resolution`, with half a cell's area as its
 * overlap: all that is known is that the overlap is under about one cell, and half is the middle
 * of that range. It sorts below every candidate that got a sample.
 *
 * @example
 *   // A surge over Chennai's coast from the Adyar estuary to Triplicane, against its districts:
 *   const surge = { type: 'Polygon', coordinates: [[[80.255, 12.99], [80.3, 12.99], [80.3, 13.06], [80.255, 13.06], [80.255, 12.99]]] };
 *   affectedAreas(surge, districts.map((z) => ({ id: z.id, geometry: z.geometry! })));
 *   // → [{ id: 'chennai-z09', overlap_km2: 10.94, overlap_fraction: 0.434 }, { id: 'chennai-z13', overlap_km2: 8.14, …}, { id: 'chennai-z05', overlap_km2: 0.09, … }]
 * @throws RangeError when `cellM` is not a positive number
 */
export function affectedAreas(
  area: Polygon | MultiPolygon,
  candidates: ReadonlyArray<{ id: string; geometry: Polygon | MultiPolygon }>,
  options: { cellM?: number } = {},
): AffectedArea[] {
  const cellM = options.cellM ?? FLOOD_DEFAULTS.cellM;
  if (!Number.isFinite(cellM) || cellM <= 0) throw new RangeError(`cellM must be a positive number of metres, not ${cellM}`);
  const flood = shapeOf(area);
  const affected: AffectedArea[] = [];
  for (const candidate of candidates) {
    const shape = shapeOf(candidate.geometry);
    const box = boxIntersection(flood.box, shape.box);
    if (!box || !meets(flood, shape)) continue;
    const { insideKm2, cellKm2 } = sampleOverlap(flood, shape, box, cellM);
    const ownKm2 = areaKm2(shape.polygons);
    const entry: AffectedArea = insideKm2 > 0
      ? { id: candidate.id, overlap_km2: insideKm2, overlap_fraction: ownKm2 > 0 ? Math.min(1, insideKm2 / ownKm2) : 0 }
      : { id: candidate.id, overlap_km2: cellKm2 / 2, overlap_fraction: ownKm2 > 0 ? Math.min(1, cellKm2 / 2 / ownKm2) : 0, below_resolution: true };
    affected.push(entry);
  }
  const belowLast = (a: AffectedArea): number => (a.below_resolution ? 1 : 0);
  return affected.sort((a, b) => belowLast(a) - belowLast(b) || b.overlap_km2 - a.overlap_km2 || compareIds(a.id, b.id));
}

/**
 * Splits each resource type's count between the ids in proportion to their weights, in whole
 * units that add up to the pool exactly (the largest remainder method: everyone gets the whole
 * part of their share, the units left over go to the largest fractional parts, ties to the
 * smaller id). With `minimumEach`, each id first gets that many of a type when the pool has
 * enough for all of them, and the rest is split by weight; a smaller pool is split by weight
 * alone. When every weight is 0, the ids share equally. No ids: an empty answer (nothing can
 * receive the pool).
 *
 * @example
 *   allocate({ rescue_boats: 10, medical_teams: 4 }, [{ id: 'chennai-z09', weight: 10.94 }, { id: 'chennai-z13', weight: 8.14 }, { id: 'chennai-z05', weight: 0.09 }]);
 *   // → { 'chennai-z09': { rescue_boats: 6, medical_teams: 2 }, 'chennai-z13': { rescue_boats: 4, medical_teams: 2 }, 'chennai-z05': { rescue_boats: 0, medical_teams: 0 } }
 * @throws RangeError for a count that is not a whole number ≥ 0, a weight that is not a number ≥ 0, or an id given twice
 */
export function allocate(
  pool: Record<string, number>,
  weights: ReadonlyArray<{ id: string; weight: number }>,
  options: { minimumEach?: number } = {},
): Record<string, Record<string, number>> {
  const minimumEach = options.minimumEach ?? 0;
  if (!Number.isInteger(minimumEach) || minimumEach < 0) throw new RangeError(`minimumEach must be a whole number ≥ 0, not ${minimumEach}`);
  const seen = new Set<string>();
  for (const { id, weight } of weights) {
    if (seen.has(id)) throw new RangeError(`id ${JSON.stringify(id)} is given twice`);
    seen.add(id);
    if (!Number.isFinite(weight) || weight < 0) throw new RangeError(`the weight of ${JSON.stringify(id)} must be a number ≥ 0, not ${weight}`);
  }
  const result: Record<string, Record<string, number>> = {};
  for (const { id } of weights) result[id] = {};
  if (weights.length === 0) return result;

  const total = weights.reduce((s, w) => s + w.weight, 0);
  const byId = weights.map((w, i) => ({ i, id: w.id })).sort((a, b) => compareIds(a.id, b.id));
  for (const [resource, count] of Object.entries(pool)) {
    if (!Number.isInteger(count) || count < 0) throw new RangeError(`the pool's ${JSON.stringify(resource)} must be a whole number ≥ 0, not ${count}`);
    const floor = minimumEach * weights.length <= count ? minimumEach : 0;
    const rest = count - floor * weights.length;
    // Multiplying before dividing keeps a whole share whole (10 × 3 / 6 is 5, 10 × (3 / 6) may not be).
    const quotas = weights.map((w) => (total > 0 ? (rest * w.weight) / total : rest / weights.length));
    const given = quotas.map((q) => Math.floor(q));
    // Largest remainder first; the sort is stable over id order, so equal remainders go by id.
    const order = [...byId].sort((a, b) => quotas[b.i]! - given[b.i]! - (quotas[a.i]! - given[a.i]!));
    let left = rest - given.reduce((s, g) => s + g, 0);
    for (let k = 0; left > 0; k++, left--) given[order[k % order.length]!.i]!++;
    // Rounding can lift a quota just over a whole number, the floors then overshooting by a unit:
    // taken back from the smallest remainders.
    for (let k = order.length - 1; left < 0; k = (k + order.length - 1) % order.length) {
      if (given[order[k]!.i]! > 0) given[order[k]!.i]!--, left++;
    }
    weights.forEach((w, i) => (result[w.id]![resource] = floor + given[i]!));
  }
  return result;
}

/** A shape with what the tests need precomputed: its polygons, its box, an inner point of each polygon. */
interface Shape {
  polygons: Ring[][];
  box: BBox;
  inner: Array<[number, number]>;
}

function shapeOf(geometry: Polygon | MultiPolygon): Shape {
  const polygons = polygonsOf(geometry);
  const box: BBox = [Infinity, Infinity, -Infinity, -Infinity];
  for (const rings of polygons) {
    for (const [x, y] of rings[0] ?? []) {
      box[0] = Math.min(box[0], x!);
      box[1] = Math.min(box[1], y!);
      box[2] = Math.max(box[2], x!);
      box[3] = Math.max(box[3], y!);
    }
  }
  const shape: Shape = { polygons, box, inner: [] };
  for (const rings of polygons) {
    const p = innerPoint(rings, (x, y) => insideShape(shape, x, y));
    if (p) shape.inner.push(p);
  }
  return shape;
}

function boxIntersection(a: BBox, b: BBox): BBox | null {
  const box: BBox = [Math.max(a[0], b[0]), Math.max(a[1], b[1]), Math.min(a[2], b[2]), Math.min(a[3], b[3])];
  return box[0] <= box[2] && box[1] <= box[3] ? box : null;
}

/** Whether the interiors of two shapes meet (see `affectedAreas`): proper crossings, strict insides. */
function meets(a: Shape, b: Shape): boolean {
  for (const [one, other] of [[a, b], [b, a]] as const) {
    for (const ring of one.polygons.flat()) for (const [x, y] of ring) if (strictlyInside(other, x!, y!)) return true;
    for (const [x, y] of one.inner) if (strictlyInside(other, x, y)) return true;
  }
  const ringsOfB = b.polygons.flat();
  for (const ra of a.polygons.flat()) {
    for (let i = 0, j = ra.length - 1; i < ra.length; j = i++) {
      const p = ra[j]!;
      const q = ra[i]!;
      const minX = Math.min(p[0]!, q[0]!);
      const maxX = Math.max(p[0]!, q[0]!);
      const minY = Math.min(p[1]!, q[1]!);
      const maxY = Math.max(p[1]!, q[1]!);
      if (maxX < b.box[0] || minX > b.box[2] || maxY < b.box[1] || minY > b.box[3]) continue;
      for (const rb of ringsOfB) {
        for (let k = 0, l = rb.length - 1; k < rb.length; l = k++) {
          const r = rb[l]!;
          const s = rb[k]!;
          // Boxes first: most edge pairs of two districts are far apart.
          if (Math.max(r[0]!, s[0]!) < minX || Math.min(r[0]!, s[0]!) > maxX || Math.max(r[1]!, s[1]!) < minY || Math.min(r[1]!, s[1]!) > maxY) continue;
          if (properlyCross(p, q, r, s)) return true;
        }
      }
    }
  }
  return false;
}

/**
 * Tolerance, in degrees, for "on the line": 1e-9° is 0.1 mm, far below the 1e-6° (0.1 m) the
 * zone files are rounded to, and far above floating-point noise in coordinates near 100°.
 */
const ON_LINE_DEG = 1e-9;

/** Which side of the line p→q the point r lies: +1, −1, or 0 within `ON_LINE_DEG` (also when p = q). */
function side(p: Position, q: Position, r: Position): number {
  const dx = q[0]! - p[0]!;
  const dy = q[1]! - p[1]!;
  const cross = dx * (r[1]! - p[1]!) - dy * (r[0]! - p[0]!);
  // cross / |pq| is r's distance from the line.
  return Math.abs(cross) <= ON_LINE_DEG * Math.hypot(dx, dy) ? 0 : Math.sign(cross);
}

/** Segments pq and rs cross at a point inside both (touching or running along each other does not count). */
function properlyCross(p: Position, q: Position, r: Position, s: Position): boolean {
  return side(p, q, r) * side(p, q, s) < 0 && side(r, s, p) * side(r, s, q) < 0;
}

/** The point is inside the shape (holes are outside) and not on its boundary. */
function strictlyInside(shape: Shape, x: number, y: number): boolean {
  if (x < shape.box[0] || x > shape.box[2] || y < shape.box[1] || y > shape.box[3]) return false;
  if (!insideShape(shape, x, y)) return false;
  for (const ring of shape.polygons.flat()) {
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) if (onSegment(ring[j]!, ring[i]!, x, y)) return false;
  }
  return true;
}

function onSegment(p: Position, q: Position, x: number, y: number): boolean {
  if (x < Math.min(p[0]!, q[0]!) - ON_LINE_DEG || x > Math.max(p[0]!, q[0]!) + ON_LINE_DEG) return false;
  if (y < Math.min(p[1]!, q[1]!) - ON_LINE_DEG || y > Math.max(p[1]!, q[1]!) + ON_LINE_DEG) return false;
  return side(p, q, [x, y]) === 0;
}

/**
 * Even-odd ray casting over every ring of every polygon at once: a point in a hole crosses the
 * hole's ring too and comes out outside. Edges wrap round, so a ring that does not repeat its
 * first position is closed all the same (and one that does adds an edge of no length).
 */
function insideShape(shape: Shape, x: number, y: number): boolean {
  let inside = false;
  for (const ring of shape.polygons.flat()) {
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const [x1, y1] = ring[j]!;
      const [x2, y2] = ring[i]!;
      if (y1! > y !== y2! > y && x < ((x2! - x1!) * (y - y1!)) / (y2! - y1!) + x1!) inside = !inside;
    }
  }
  return inside;
}

/**
 * A point inside a polygon (holes excluded): the middle of the widest inside stretch along a
 * few horizontal lines across it. Lines at odd sixteenths of its height keep off its top and
 * bottom vertices, where a line only grazes the shape.
 */
function innerPoint(rings: Ring[], inside: (x: number, y: number) => boolean): [number, number] | null {
  const outer = rings[0];
  if (!outer || outer.length < 3) return null;
  let minY = Infinity;
  let maxY = -Infinity;
  for (const [, y] of outer) (minY = Math.min(minY, y!)), (maxY = Math.max(maxY, y!));
  let best: [number, number] | null = null;
  let widest = 0;
  for (let k = 1; k < 16; k += 2) {
    const y = minY + ((maxY - minY) * k) / 16;
    const xs: number[] = [];
    for (const ring of rings) {
      for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
        const [x1, y1] = ring[j]!;
        const [x2, y2] = ring[i]!;
        if (y1! > y !== y2! > y) xs.push(((x2! - x1!) * (y - y1!)) / (y2! - y1!) + x1!);
      }
    }
    xs.sort((a, b) => a - b);
    for (let i = 0; i + 1 < xs.length; i += 2) {
      const x = (xs[i]! + xs[i + 1]!) / 2;
      // In a MultiPolygon this stretch may lie in another polygon's hole: asked of the whole shape.
      if (xs[i + 1]! - xs[i]! > widest && inside(x, y)) (widest = xs[i + 1]! - xs[i]!), (best = [x, y]);
    }
  }
  return best;
}

/**
 * Grid samples over `box` inside both shapes, in km², and one cell's area at the box's middle
 * latitude. The box is cut into whole cells of about `cellM` (so the grid covers it exactly) and
 * each cell is sampled at its centre; a cell's size in metres is taken at its own latitude.
 */
function sampleOverlap(a: Shape, b: Shape, box: BBox, cellM: number): { insideKm2: number; cellKm2: number } {
  const midLat = (box[1] + box[3]) / 2;
  const widthM = (box[2] - box[0]) * metresPerDegreeLng(midLat);
  const heightM = (box[3] - box[1]) * metresPerDegreeLat(midLat);
  const nx = Math.max(1, Math.ceil(widthM / cellM));
  const ny = Math.max(1, Math.ceil(heightM / cellM));
  const dx = (box[2] - box[0]) / nx;
  const dy = (box[3] - box[1]) / ny;
  let insideM2 = 0;
  for (let j = 0; j < ny; j++) {
    const y = box[1] + (j + 0.5) * dy;
    const cellM2 = dx * metresPerDegreeLng(y) * dy * metresPerDegreeLat(y);
    for (let i = 0; i < nx; i++) {
      const x = box[0] + (i + 0.5) * dx;
      if (insideShape(a, x, y) && insideShape(b, x, y)) insideM2 += cellM2;
    }
  }
  // A box of no width or height (shapes meeting along a line of longitude) has cells of no area:
  // the nominal cell stands in.
  const cellM2 = dx > 0 && dy > 0 ? dx * metresPerDegreeLng(midLat) * dy * metresPerDegreeLat(midLat) : cellM * cellM;
  return { insideKm2: insideM2 / 1e6, cellKm2: cellM2 / 1e6 };
}

/**
 * A shape's area in km² by the shoelace formula in local metres (each ring projected at its own
 * mean latitude, exact enough at district scale); holes subtract, however they wind.
 */
function areaKm2(polygons: Ring[][]): number {
  let m2 = 0;
  for (const rings of polygons) {
    rings.forEach((ring, r) => {
      if (ring.length < 3) return;
      const lat = ring.reduce((s, p) => s + p[1]!, 0) / ring.length;
      const kx = metresPerDegreeLng(lat);
      const ky = metresPerDegreeLat(lat);
      // Relative to the first vertex, so the products stay small (no cancellation).
      const [ox, oy] = ring[0]!;
      let twice = 0;
      for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
        const x1 = (ring[j]![0]! - ox!) * kx;
        const y1 = (ring[j]![1]! - oy!) * ky;
        const x2 = (ring[i]![0]! - ox!) * kx;
        const y2 = (ring[i]![1]! - oy!) * ky;
        twice += x1 * y2 - x2 * y1;
      }
      m2 += (r === 0 ? 1 : -1) * Math.abs(twice / 2);
    });
  }
  return Math.max(0, m2) / 1e6;
}

/** Code-unit order: the same on every machine, unlike localeCompare. */
function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
