import Flatbush from 'flatbush';
import { haversineM } from './geodesy.js';
import { buildAdjacency, type Adjacency } from './road-graph.js';
import type { Feature, FeatureCollection, Position } from './geojson.js';
import { parseRoadFile, type RoadLine } from './road-file.js';
import { wardAdjacency } from './ward-adjacency.js';
import type { ZoneTree } from './zones.js';

export type EdgeKind = 'road' | 'ward_link';
/** Where the network came from: a loaded road file, or links between neighbouring wards. */
export type RoadSource = 'file' | 'ward_adjacency';

/** What the network needs of the zones: ZoneService and ZoneIndex both fit. */
export interface ZoneLookup {
  readonly tree: ZoneTree;
  /** The deepest zone containing the point, or null. */
  locate(lng: number, lat: number): string | null;
  /** Whether the zone's area contains the point. */
  contains(zoneId: string, lng: number, lat: number): boolean;
}

export const ROAD_DEFAULTS = {
  /** Line vertices equal after rounding to 1e-6° (about 0.1 m) are one junction. */
  vertexScale: 1e6,
  /**
   * A ward link is a straight line between two ward centres; streets between them are longer.
   * The ratio of road distance to straight-line distance ("circuity") of real road networks is
   * typically 1.2–1.4 (Ballou, Rahardja & Sakai 2002, Transportation Research A 36(9)); 1.3 is
   * the middle of that range.
   */
  wardLinkDetour: 1.3,
  /** Average speed through city traffic, which is what a ward link stands for. */
  wardLinkSpeedKmh: 25,
};

/**
 * One edge of the graph. Traffic may go both ways unless `oneway`, then only from → to. An edge
 * lies in one zone (`zoneId`, by the zone of its midpoint), except a ward link, which crosses
 * from its first ward into its second at `via`.
 */
export interface RoadEdge {
  from: number;
  to: number;
  length_m: number;
  speed_kmh: number;
  oneway: boolean;
  kind: EdgeKind;
  name: string | null;
  highway: string | null;
  /** Index into `roads`: the line (or ward link) this edge is part of. */
  road: number;
  zoneId: string | null;
  via: { lng: number; lat: number; before_m: number; zoneId: string | null } | null;
}

/** A line of the source file, or one ward link: the unit drawn on the map. */
export interface Road {
  id: string;
  /** Its edges in order along the line. */
  edges: number[];
}

/**
 * A road network: nodes (lng/lat), edges tagged with their zones, and a spatial index to snap
 * points to nodes. Built from a road file (`fromLines`, `fromGeoJson`) or, when a city has no
 * road file, from its ward boundaries (`fromWardAdjacency`). Immutable once built.
 *
 * @example
 *   const network = RoadNetwork.fromWardAdjacency(zoneService);
 *   network.snap(80.2654, 13.0464); // → { node: 119, distance_m: 89.0 }: chennai-w119's node
 */
export class RoadNetwork {
  readonly adjacency: Adjacency;
  readonly #index: Flatbush | null;
  readonly #lngScale: number;
  #collection: FeatureCollection<unknown> | null = null;

  private constructor(
    readonly source: RoadSource,
    readonly lng: Float64Array,
    readonly lat: Float64Array,
    readonly edges: readonly RoadEdge[],
    readonly roads: readonly Road[],
    /** Ward networks: the node of each neighbourhood, so a point snaps to its own ward's node. */
    private readonly nodeOfZone: ReadonlyMap<string, number>,
    private readonly zones: ZoneLookup,
  ) {
    this.adjacency = buildAdjacency(lng.length, edges);
    // The index stores x = lng·cos(mean latitude), so its planar distances are close to true ones.
    const meanLat = lat.reduce((s, v) => s + v, 0) / Math.max(1, lat.length);
    this.#lngScale = Math.cos((meanLat * Math.PI) / 180);
    this.#index = lng.length > 0 ? new Flatbush(lng.length) : null;
    if (this.#index) {
      for (let n = 0; n < lng.length; n++) this.#index.add(lng[n]! * this.#lngScale, lat[n]!, lng[n]! * this.#lngScale, lat[n]!);
      this.#index.finish();
    }
  }

  /**
   * The network of a road file's lines: consecutive positions become edges, and lines meet
   * where they share a vertex (crossing without one, like a flyover, does not join them).
   */
  static fromLines(lines: readonly RoadLine[], zones: ZoneLookup): RoadNetwork {
    const b = new Builder();
    const nodeOf = new Map<string, number>();
    const node = ([x, y]: [number, number]): number => {
      const key = `${Math.round(x * ROAD_DEFAULTS.vertexScale)},${Math.round(y * ROAD_DEFAULTS.vertexScale)}`;
      let n = nodeOf.get(key);
      if (n === undefined) nodeOf.set(key, (n = b.node(x, y)));
      return n;
    };
    for (const line of lines) {
      // A line one-way against its drawing is stored reversed, so every one-way edge runs from → to.
      const coords = line.oneway === 'backward' ? [...line.coordinates].reverse() : line.coordinates;
      const road = b.road(line.roadId);
      let previous = node(coords[0]!);
      for (let i = 1; i < coords.length; i++) {
        const next = node(coords[i]!);
        if (next === previous) continue; // a repeated position
        const length = haversineM(b.lng[previous]!, b.lat[previous]!, b.lng[next]!, b.lat[next]!);
        const zoneId = zones.locate((b.lng[previous]! + b.lng[next]!) / 2, (b.lat[previous]! + b.lat[next]!) / 2);
        b.edge(road, { from: previous, to: next, length_m: length, speed_kmh: line.speedKmh, oneway: line.oneway !== 'both', kind: 'road', name: line.name, highway: line.highway, zoneId, via: null });
        previous = next;
      }
    }
    return RoadNetwork.#build(b, 'file', new Map(), zones);
  }

  /**
   * @throws CITY_ERR_ROADS_INVALID naming the feature and what is wrong with it
   */
  static fromGeoJson(doc: unknown, zones: ZoneLookup): RoadNetwork {
    return RoadNetwork.fromLines(parseRoadFile(doc), zones);
  }

  /**
   * The stand-in network for a city without a road file: one node per neighbourhood (a point
   * inside it, near its centroid) and a two-way link between every two neighbourhoods that share
   * a border, `wardLinkDetour` × the straight distance long.
   */
  static fromWardAdjacency(zones: ZoneLookup): RoadNetwork {
    const { wards, links } = wardAdjacency(zones);
    const b = new Builder();
    const nodeOfZone = new Map<string, number>();
    // Positions to 1e-6° (0.1 m), as in the zone files: nothing finer means anything, and the GeoJSON is shorter.
    for (const ward of wards) nodeOfZone.set(ward.zone.id, b.node(round6(ward.lng), round6(ward.lat)));
    for (const { a, b: c } of links) {
      const [wa, wb] = [wards[a]!, wards[c]!];
      const [x1, y1, x2, y2] = [b.lng[a]!, b.lat[a]!, b.lng[c]!, b.lat[c]!];
      const straight = haversineM(x1, y1, x2, y2);
      const cross = crossing(zones, wa.zone.id, x1, y1, x2, y2);
      const length = straight * ROAD_DEFAULTS.wardLinkDetour;
      const road = b.road(`link:${wa.zone.id}:${wb.zone.id}`);
      b.edge(road, {
        from: a, to: c, length_m: length, speed_kmh: ROAD_DEFAULTS.wardLinkSpeedKmh, oneway: false, kind: 'ward_link',
        name: `${wa.zone.name} – ${wb.zone.name}`, highway: null, zoneId: wa.zone.id,
        via: { lng: round6(cross[0]!), lat: round6(cross[1]!), before_m: length * cross[2]!, zoneId: wb.zone.id },
      });
    }
    return RoadNetwork.#build(b, 'ward_adjacency', nodeOfZone, zones);
  }

  static #build(b: Builder, source: RoadSource, nodeOfZone: Map<string, number>, zones: ZoneLookup): RoadNetwork {
    return new RoadNetwork(source, Float64Array.from(b.lng), Float64Array.from(b.lat), b.edges, b.roads, nodeOfZone, zones);
  }

  get nodeCount(): number {
    return this.lng.length;
  }

  /** The node nearest to the point (by true distance among the index's nearest few), or -1 when empty. */
  nearestNode(lng: number, lat: number): number {
    if (!this.#index) return -1;
    let best = -1;
    let bestD = Infinity;
    for (const n of this.#index.neighbors(lng * this.#lngScale, lat, 4)) {
      const d = haversineM(lng, lat, this.lng[n]!, this.lat[n]!);
      if (d < bestD) (best = n), (bestD = d);
    }
    return best;
  }

  /**
   * Where a route from or to the point starts: in a ward network, the node of the ward the point
   * is in (the nearest centre may be a neighbour's); otherwise the nearest node. Null when empty.
   */
  snap(lng: number, lat: number): { node: number; distance_m: number } | null {
    const zoneId = this.nodeOfZone.size > 0 ? this.zones.locate(lng, lat) : null;
    const node = (zoneId !== null ? this.nodeOfZone.get(zoneId) : undefined) ?? this.nearestNode(lng, lat);
    return node < 0 ? null : { node, distance_m: haversineM(lng, lat, this.lng[node]!, this.lat[node]!) };
  }

  /** The zone the node lies in (a ward network's node: its own ward). */
  zoneOfNode(node: number): string | null {
    return this.zones.locate(this.lng[node]!, this.lat[node]!);
  }

  position(node: number): Position {
    return [this.lng[node]!, this.lat[node]!];
  }

  /**
   * The roads as GeoJSON LineStrings, `source` as a top-level member. With `zoneIds`, only the
   * stretches of roads whose edges lie in those zones (a ward link: either of its wards).
   *
   * @example
   *   network.toFeatureCollection({ zoneIds: tree.subtreeIds('chennai-z09') });
   */
  toFeatureCollection(filter: { zoneIds?: ReadonlySet<string> } = {}): FeatureCollection<unknown> {
    if (!filter.zoneIds && this.#collection) return this.#collection;
    const keep = filter.zoneIds;
    const inZones = (e: RoadEdge): boolean =>
      !keep || (e.zoneId !== null && keep.has(e.zoneId)) || (e.via?.zoneId != null && keep.has(e.via.zoneId));
    const features: Feature<unknown>[] = [];
    for (const road of this.roads) {
      let run: RoadEdge[] = [];
      for (let i = 0; i <= road.edges.length; i++) {
        const edge = i < road.edges.length ? this.edges[road.edges[i]!]! : null;
        if (edge && inZones(edge)) {
          run.push(edge);
          continue;
        }
        if (run.length > 0) features.push(this.#feature(road.id, run));
        run = [];
      }
    }
    const collection = { type: 'FeatureCollection' as const, source: this.source, features };
    if (!keep) this.#collection = collection;
    return collection;
  }

  #feature(roadId: string, run: RoadEdge[]): Feature<unknown> {
    const first = run[0]!;
    const zoneIds = new Set<string>();
    let length = 0;
    const coordinates: Position[] = [this.position(first.from)];
    for (const e of run) {
      coordinates.push(this.position(e.to));
      length += e.length_m;
      if (e.zoneId !== null) zoneIds.add(e.zoneId);
      if (e.via?.zoneId != null) zoneIds.add(e.via.zoneId);
    }
    return {
      type: 'Feature',
      geometry: { type: 'LineString', coordinates },
      properties: {
        road_id: roadId, name: first.name, kind: first.kind, highway: first.highway, length_m: Math.round(length * 10) / 10,
        speed_kmh: first.speed_kmh, oneway: first.oneway, zone_ids: [...zoneIds],
      },
    };
  }
}

/** Collects nodes and edges in growable lists, then freezes them into a RoadNetwork. */
class Builder {
  readonly lng: number[] = [];
  readonly lat: number[] = [];
  readonly edges: RoadEdge[] = [];
  readonly roads: Road[] = [];

  node(lng: number, lat: number): number {
    this.lng.push(lng);
    this.lat.push(lat);
    return this.lng.length - 1;
  }

  /** A new road; its number is what `edge` takes. */
  road(id: string): number {
    this.roads.push({ id, edges: [] });
    return this.roads.length - 1;
  }

  edge(road: number, edge: Omit<RoadEdge, 'road'>): void {
    this.roads[road]!.edges.push(this.edges.length);
    this.edges.push({ ...edge, road });
  }
}

/**
 * Where the straight line from (x1, y1) in zone `fromZone` to (x2, y2) leaves that zone, as
 * [lng, lat, fraction of the way]: bisection on point-in-zone, to about a millionth of the line.
 * Splitting a ward link there gives each of its two wards its own part of a route.
 */
function crossing(zones: ZoneLookup, fromZone: string, x1: number, y1: number, x2: number, y2: number): [number, number, number] {
  let inside = 0;
  let outside = 1;
  for (let k = 0; k < 20; k++) {
    const t = (inside + outside) / 2;
    if (zones.locate(x1 + (x2 - x1) * t, y1 + (y2 - y1) * t) === fromZone) inside = t;
    else outside = t;
  }
  const t = (inside + outside) / 2;
  return [x1 + (x2 - x1) * t, y1 + (y2 - y1) * t, t];
}

function round6(v: number): number {
  return Math.round(v * 1e6) / 1e6;
}
