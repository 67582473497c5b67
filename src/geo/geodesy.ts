import { polygonsOf, type Position, type ZoneGeometry } from './geojson.js';

const RAD = Math.PI / 180;

/** Mean Earth radius (IUGG), the radius haversine distances use. */
const EARTH_RADIUS_M = 6_371_008.8;

/**
 * Distances at city scale, cheaply: an equirectangular projection scaled by the WGS84 ellipsoid
 * at the pair's mean latitude (the "cheap ruler" idea). Within a few tens of kilometres it agrees
 * with the geodesic to well under 0.1%, at the cost of one cos and one sqrt (no trigonometry per
 * coordinate, no atan2 as in haversine). Windows compare thousands of pairs per second, so this
 * matters more than the last metre.
 */

/** WGS84 semi-major axis (m) and first eccentricity squared. */
const A = 6_378_137;
const E2 = 0.006_694_379_990_14;

/** Metres per degree of longitude (kx) at a latitude, on the WGS84 ellipsoid. */
export function metresPerDegreeLng(lat: number): number {
  const c = Math.cos(lat * RAD);
  const w = 1 / Math.sqrt(1 - E2 * (1 - c * c));
  return RAD * A * w * c;
}

/** Metres per degree of latitude (ky) at a latitude, on the WGS84 ellipsoid. */
export function metresPerDegreeLat(lat: number): number {
  const c = Math.cos(lat * RAD);
  const w2 = 1 / (1 - E2 * (1 - c * c));
  return RAD * A * w2 * Math.sqrt(w2) * (1 - E2);
}

/**
 * Distance in metres between two points (degrees). Accurate to <0.1% up to ~50 km apart; the
 * error grows with distance, not with where on Earth the city is (short of the poles).
 *
 * @example
 *   distanceM(53.55, 9.99, 53.5527, 9.99); // ≈ 300
 */
export function distanceM(lat1: number, lng1: number, lat2: number, lng2: number): number {
  const c = Math.cos((lat1 + lat2) * 0.5 * RAD);
  const w2 = 1 / (1 - E2 * (1 - c * c));
  const w = Math.sqrt(w2);
  const kx = RAD * A * w * c;
  const ky = RAD * A * w * w2 * (1 - E2);
  let dl = lng2 - lng1;
  if (dl > 180) dl -= 360;
  else if (dl < -180) dl += 360;
  const dx = dl * kx;
  const dy = (lat2 - lat1) * ky;
  return Math.sqrt(dx * dx + dy * dy);
}

/**
 * Great-circle distance in metres between two WGS 84 points (haversine on the mean sphere; the
 * ellipsoid would change a city-scale distance by under 0.5 %). Road lengths and the A*
 * heuristic use it rather than {@link distanceM}: a true metric, so the heuristic stays
 * consistent (never above an edge's own length) and A* stays exact.
 *
 * @example
 *   haversineM(80.27, 13.08, 80.28, 13.08); // → 1083.1 (0.01° of longitude at 13.08° N)
 */
export function haversineM(lng1: number, lat1: number, lng2: number, lat2: number): number {
  const dLat = (lat2 - lat1) * RAD;
  const dLng = (lng2 - lng1) * RAD;
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(lat1 * RAD) * Math.cos(lat2 * RAD) * Math.sin(dLng / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(a)));
}

/**
 * Distance in metres from point p to segment ab, in a flat projection around p (the same
 * ellipsoid scale as {@link distanceM}): exact enough for the tens of metres boundary matching works in.
 */
export function pointSegmentDistanceM(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  const kx = metresPerDegreeLng(py);
  const ky = metresPerDegreeLat(py);
  const x1 = (ax - px) * kx;
  const y1 = (ay - py) * ky;
  const x2 = (bx - px) * kx;
  const y2 = (by - py) * ky;
  const dx = x2 - x1;
  const dy = y2 - y1;
  const len2 = dx * dx + dy * dy;
  // t is where the perpendicular from p (the origin) meets ab, clamped to the segment.
  const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, -(x1 * dx + y1 * dy) / len2));
  return Math.hypot(x1 + t * dx, y1 + t * dy);
}

/**
 * The area-weighted centroid of a Polygon or MultiPolygon (holes subtract), computed on lng/lat
 * directly: a centroid is preserved by affine maps, and at city scale the equirectangular
 * projection is one, so projecting first would give the same point. Null for a zero-area shape.
 */
export function centroidOf(geometry: ZoneGeometry): Position | null {
  let area = 0;
  let cx = 0;
  let cy = 0;
  const origin = polygonsOf(geometry)[0]?.[0]?.[0];
  if (!origin) return null;
  // Coordinates relative to one origin keep the shoelace products small (no cancellation).
  const [ox, oy] = origin as [number, number];
  for (const rings of polygonsOf(geometry)) {
    rings.forEach((ring, r) => {
      let a = 0;
      let x = 0;
      let y = 0;
      for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
        const xj = ring[j]![0]! - ox;
        const yj = ring[j]![1]! - oy;
        const xi = ring[i]![0]! - ox;
        const yi = ring[i]![1]! - oy;
        const cross = xj * yi - xi * yj;
        a += cross;
        x += (xj + xi) * cross;
        y += (yj + yi) * cross;
      }
      // Outer rings add, holes subtract, whatever way round the file winds them.
      const sign = (r === 0 ? 1 : -1) * Math.sign(a);
      area += (sign * a) / 2;
      cx += (sign * x) / 6;
      cy += (sign * y) / 6;
    });
  }
  return area > 0 ? [ox + cx / area, oy + cy / area] : null;
}

/**
 * A point inside the shape, as near its centroid as a few scan lines find: the centroid itself
 * when it is inside (the usual case), else the middle of the inside stretch, along horizontal
 * lines through the centroid and across the shape, nearest to the centroid. A crescent-shaped
 * ward's centroid lies outside it, and a graph node there would sit in the neighbouring ward.
 */
export function interiorPoint(geometry: ZoneGeometry, inside: (x: number, y: number) => boolean): Position | null {
  const centroid = centroidOf(geometry);
  if (!centroid) return null;
  const [cx, cy] = centroid as [number, number];
  if (inside(cx, cy)) return centroid;
  let minY = Infinity;
  let maxY = -Infinity;
  for (const rings of polygonsOf(geometry)) for (const [, y] of rings[0]!) (minY = Math.min(minY, y!)), (maxY = Math.max(maxY, y!));
  const SCAN_LINES = 16;
  const lines = [cy, ...Array.from({ length: SCAN_LINES }, (_, k) => minY + ((k + 0.5) * (maxY - minY)) / SCAN_LINES)];
  let best: Position | null = null;
  let bestD = Infinity;
  for (const y of lines) {
    const xs = crossings(geometry, y).sort((a, b) => a - b);
    // Even-odd: the stretches between crossings 0–1, 2–3, … are inside.
    for (let i = 0; i + 1 < xs.length; i += 2) {
      const x = (xs[i]! + xs[i + 1]!) / 2;
      const d = haversineM(cx, cy, x, y);
      if (d < bestD) (best = [x, y]), (bestD = d);
    }
  }
  return best;
}

function crossings(geometry: ZoneGeometry, y: number): number[] {
  const xs: number[] = [];
  for (const rings of polygonsOf(geometry)) {
    for (const ring of rings) {
      for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
        const [xi, yi] = ring[i]!;
        const [xj, yj] = ring[j]!;
        if (yi! > y !== yj! > y) xs.push(((xj! - xi!) * (y - yi!)) / (yj! - yi!) + xi!);
      }
    }
  }
  return xs;
}
