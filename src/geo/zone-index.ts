import Flatbush from 'flatbush';
import { cityError } from '../errors.js';
import { polygonsOf, type BBox, type Ring } from './geojson.js';
import type { Zone, ZoneTree } from './zones.js';

/** The flatbush layout `#search` walks; a new layout version must be re-checked by hand. */
const FLATBUSH_FORMAT = 3;
/** Edges per band to aim for: a ray then crosses a handful of edges, not a whole coastline. */
const EDGES_PER_BAND = 4;
const MAX_BANDS = 1024;

interface Tier {
  index: Flatbush;
  /** Number of this tier's first polygon; flatbush item i is polygon `firstPolygon + i`. */
  firstPolygon: number;
}

/**
 * Point-in-zone lookup for the ingest path. The zones with geometry are sorted into tiers by
 * their height among zones with geometry: tier 0 holds those with no geometry below them (wards),
 * tier 1 their nearest geometric ancestors (districts), and so on. `locate` asks tier 0 first
 * and falls back tier by tier, so a point between wards still gets its district or city.
 *
 * Each tier has a flatbush over polygon bounding boxes, walked with a preallocated stack. Each
 * polygon is cut into horizontal bands holding the edges (of all its rings) that reach into
 * them as flat Float64Array `x1,y1,x2,y2` runs, so even-odd ray casting only visits the few
 * edges at the point's latitude. A lookup allocates nothing.
 *
 * @example
 *   const index = new ZoneIndex(tree);
 *   index.locate(80.2654, 13.0464); // → 'chennai-w119'; 'chennai' between wards; null at sea
 */
export class ZoneIndex {
  readonly tree: ZoneTree;
  readonly #polyBox: Float64Array;
  readonly #polyZone: Int32Array;
  /** Polygon p's band b is band number `bandFirst[p] + b`, of `bandCount[p]` bands. */
  readonly #bandFirst: Int32Array;
  readonly #bandCount: Int32Array;
  /** 1 / band height, 0 for a flat polygon (everything then lands in band 0). */
  readonly #bandScale: Float64Array;
  /** Band k's edges are `#edges[bandEdge[k] .. bandEdge[k + 1])`, four numbers per edge. */
  readonly #bandEdge: Int32Array;
  readonly #edges: Float64Array;
  /** Geometric zone g owns polygons `zonePoly[g] .. zonePoly[g + 1]`. */
  readonly #zonePoly: Int32Array;
  readonly #zoneIds: string[];
  /** For every zone: the geometric zones whose union is its area (itself when it has geometry). */
  readonly #cover = new Map<string, number[]>();
  readonly #tiers: Tier[] = [];
  #stack = new Int32Array(64);

  constructor(tree: ZoneTree) {
    this.tree = tree;
    const height = new Map<string, number>();
    const measure = (zone: Zone): number => {
      let below = -1;
      for (const child of tree.children(zone.id)) below = Math.max(below, measure(child));
      const h = zone.geometry ? below + 1 : below;
      height.set(zone.id, h);
      return h;
    };
    for (const root of tree.roots()) measure(root);

    const geometric = tree.all().filter((z) => z.geometry !== null);
    geometric.sort((a, b) => height.get(a.id)! - height.get(b.id)!); // stable: input order within a tier
    this.#zoneIds = geometric.map((z) => z.id);

    const b = { box: [] as number[], zone: [] as number[], first: [] as number[], count: [] as number[], scale: [] as number[] };
    const bandEdge = [0];
    const edges: number[] = [];
    const zonePoly = [0];
    for (const [g, zone] of geometric.entries()) {
      for (const rings of polygonsOf(zone.geometry!)) {
        const box = ringBox(rings[0]!); // holes lie inside the outer ring
        const polygonEdges = rings.flatMap(ringEdges);
        const count = Math.min(MAX_BANDS, Math.max(1, Math.ceil(polygonEdges.length / EDGES_PER_BAND)));
        const scale = box[3] > box[1] ? count / (box[3] - box[1]) : 0;
        const bands: number[][] = Array.from({ length: count }, () => []);
        for (const [x1, y1, x2, y2] of polygonEdges) {
          const last = bandOf(Math.max(y1, y2), box[1], scale, count);
          for (let k = bandOf(Math.min(y1, y2), box[1], scale, count); k <= last; k++) bands[k]!.push(x1, y1, x2, y2);
        }
        b.first.push(bandEdge.length - 1);
        for (const band of bands) {
          for (const v of band) edges.push(v);
          bandEdge.push(edges.length);
        }
        b.box.push(...box);
        b.zone.push(g);
        b.count.push(count);
        b.scale.push(scale);
      }
      zonePoly.push(b.zone.length);
    }
    this.#polyBox = Float64Array.from(b.box);
    this.#polyZone = Int32Array.from(b.zone);
    this.#bandFirst = Int32Array.from(b.first);
    this.#bandCount = Int32Array.from(b.count);
    this.#bandScale = Float64Array.from(b.scale);
    this.#bandEdge = Int32Array.from(bandEdge);
    this.#edges = Float64Array.from(edges);
    this.#zonePoly = Int32Array.from(zonePoly);

    for (let g = 0; g < geometric.length; ) {
      const tierHeight = height.get(geometric[g]!.id);
      let end = g;
      while (end < geometric.length && height.get(geometric[end]!.id) === tierHeight) end++;
      this.#tiers.push(this.#buildTier(zonePoly[g]!, zonePoly[end]!));
      g = end;
    }

    const numberOf = new Map(geometric.map((z, g) => [z.id, g]));
    const cover = (zone: Zone): number[] => {
      const below = tree.children(zone.id).flatMap(cover);
      const own = numberOf.get(zone.id);
      const parts = own !== undefined ? [own] : below;
      this.#cover.set(zone.id, parts);
      return parts;
    };
    for (const root of tree.roots()) cover(root);
  }

  /**
   * The id of the deepest zone whose geometry contains the point, or null outside all of them.
   * A point exactly on a border shared by two zones goes to one of them.
   *
   * @example
   *   index.locate(80.35, 13.05); // → null (Bay of Bengal)
   */
  locate(lng: number, lat: number): string | null {
    if (!(lng === lng && lat === lat)) return null; // NaN: no box would match, skip the walk
    for (let t = 0; t < this.#tiers.length; t++) {
      const p = this.#search(this.#tiers[t]!, lng, lat);
      if (p >= 0) return this.#zoneIds[this.#polyZone[p]!]!;
    }
    return null;
  }

  /**
   * Whether the zone's area contains the point. A zone without geometry (a nation) covers what
   * its descendants with geometry cover.
   *
   * @example
   *   index.contains('chennai', 80.2654, 13.0464); // → true
   * @throws CITY_ERR_ZONE_NOT_FOUND
   */
  contains(zoneId: string, lng: number, lat: number): boolean {
    const box = this.#polyBox;
    for (const g of this.#coverOf(zoneId)) {
      for (let p = this.#zonePoly[g]!, o = p * 4; p < this.#zonePoly[g + 1]!; p++, o += 4) {
        if (lng >= box[o]! && lat >= box[o + 1]! && lng <= box[o + 2]! && lat <= box[o + 3]! && this.#inPolygon(p, lng, lat)) return true;
      }
    }
    return false;
  }

  /**
   * `[minLng, minLat, maxLng, maxLat]` of the zone's area, or null when nothing in it has
   * geometry.
   *
   * @example
   *   index.bbox('in'); // → the box round every boundary below India
   * @throws CITY_ERR_ZONE_NOT_FOUND
   */
  bbox(zoneId: string): BBox | null {
    const box: BBox = [Infinity, Infinity, -Infinity, -Infinity];
    const b = this.#polyBox;
    for (const g of this.#coverOf(zoneId)) {
      for (let o = this.#zonePoly[g]! * 4; o < this.#zonePoly[g + 1]! * 4; o += 4) {
        box[0] = Math.min(box[0], b[o]!);
        box[1] = Math.min(box[1], b[o + 1]!);
        box[2] = Math.max(box[2], b[o + 2]!);
        box[3] = Math.max(box[3], b[o + 3]!);
      }
    }
    return box[0] === Infinity ? null : box;
  }

  #coverOf(zoneId: string): number[] {
    const cover = this.#cover.get(zoneId);
    if (!cover) throw cityError('ZONE_NOT_FOUND', { zoneId });
    return cover;
  }

  #buildTier(firstPolygon: number, endPolygon: number): Tier {
    const index = new Flatbush(endPolygon - firstPolygon);
    const version = new Uint8Array(index.data, 0, 2)[1]! >> 4;
    if (version !== FLATBUSH_FORMAT) throw new Error(`ZoneIndex walks flatbush format ${FLATBUSH_FORMAT}, found ${version}`);
    const box = this.#polyBox;
    for (let o = firstPolygon * 4; o < endPolygon * 4; o += 4) index.add(box[o]!, box[o + 1]!, box[o + 2]!, box[o + 3]!);
    index.finish();
    const depth = index._levelBounds.length * index.nodeSize * 2 + 2;
    if (this.#stack.length < depth) this.#stack = new Int32Array(depth);
    return { index, firstPolygon };
  }

  /**
   * flatbush's own `search` allocates a queue and a result array per call; this is the same walk
   * over its packed boxes with a reused stack, stopping at the first polygon that holds the point.
   */
  #search(tier: Tier, x: number, y: number): number {
    const { _boxes: boxes, _indices: indices, _levelBounds: bounds, nodeSize, numItems } = tier.index;
    const leaves = numItems * 4;
    const stack = this.#stack;
    let sp = 0;
    stack[sp++] = boxes.length - 4;
    stack[sp++] = bounds.length - 1;
    while (sp > 0) {
      const level = stack[--sp]!;
      const node = stack[--sp]!;
      const end = Math.min(node + nodeSize * 4, bounds[level]!);
      for (let pos = node; pos < end; pos += 4) {
        if (x < boxes[pos]! || y < boxes[pos + 1]! || x > boxes[pos + 2]! || y > boxes[pos + 3]!) continue;
        const item = indices[pos >> 2]!;
        if (node >= leaves) {
          stack[sp++] = item;
          stack[sp++] = level - 1;
        } else if (this.#inPolygon(tier.firstPolygon + item, x, y)) {
          return tier.firstPolygon + item;
        }
      }
    }
    return -1;
  }

  /**
   * Even-odd ray casting over the edges of every ring at once, so holes need no special case.
   * Only the point's band is visited: an edge outside it cannot span the point's latitude.
   */
  #inPolygon(p: number, x: number, y: number): boolean {
    const k = this.#bandFirst[p]! + bandOf(y, this.#polyBox[p * 4 + 1]!, this.#bandScale[p]!, this.#bandCount[p]!);
    const e = this.#edges;
    let inside = false;
    for (let i = this.#bandEdge[k]!, end = this.#bandEdge[k + 1]!; i < end; i += 4) {
      const x1 = e[i]!;
      const y1 = e[i + 1]!;
      const x2 = e[i + 2]!;
      const y2 = e[i + 3]!;
      if (y1 > y !== y2 > y && x < ((x2 - x1) * (y - y1)) / (y2 - y1) + x1) inside = !inside;
    }
    return inside;
  }
}

/** Monotone in y, so an edge listed in the bands of its two end latitudes is in every band between. */
function bandOf(y: number, minY: number, scale: number, count: number): number {
  const k = Math.floor((y - minY) * scale);
  return k < 0 ? 0 : k >= count ? count - 1 : k;
}

function ringBox(ring: Ring): BBox {
  const box: BBox = [Infinity, Infinity, -Infinity, -Infinity];
  for (const [x, y] of ring) {
    box[0] = Math.min(box[0], x!);
    box[1] = Math.min(box[1], y!);
    box[2] = Math.max(box[2], x!);
    box[3] = Math.max(box[3], y!);
  }
  return box;
}

/**
 * `[x1, y1, x2, y2]` per edge a horizontal ray can cross (so not the level ones), wrapping round
 * whether or not the ring repeats its first position.
 */
function ringEdges(ring: Ring): [number, number, number, number][] {
  const edges: [number, number, number, number][] = [];
  for (let i = 0; i < ring.length; i++) {
    const [x1, y1] = ring[i]!;
    const [x2, y2] = ring[(i + 1) % ring.length]!;
    if (y1 !== y2) edges.push([x1!, y1!, x2!, y2!]);
  }
  return edges;
}
