import { haversineM } from './geodesy.js';
import type { Position } from './geojson.js';
import type { RoadEdge, RoadNetwork } from './roads.js';

/** The part of a route inside one zone (null: outside every zone), in travel order. */
export interface RouteSegment {
  zone_id: string | null;
  length_m: number;
  eta_s: number;
  coordinates: Position[];
}

export interface RoadPath {
  /** Node numbers from start to end. */
  nodes: number[];
  /** Edge numbers, one fewer than nodes. */
  edges: number[];
  length_m: number;
  eta_s: number;
  coordinates: Position[];
  /**
   * Consecutive stretches by zone; a zone the route leaves and re-enters appears twice. The
   * lengths add up to `length_m` (seed 001 §4.3: a district sends each neighbourhood on an
   * ambulance's route "route.get_segments_in(neighborhood)").
   */
  segments: RouteSegment[];
}

export interface PathOptions {
  /** What "shortest" means: least travel time (default, what an ambulance needs) or least distance. */
  by?: 'time' | 'distance';
  /** Multiplies every edge's speed for the ETA, e.g. 1.5 for an emergency vehicle. */
  speedFactor?: number;
}

/** The graph in the flat form the search walks: node n's arcs are `arcStart[n] .. arcStart[n + 1]`. */
export interface Adjacency {
  arcStart: Int32Array;
  arcTo: Int32Array;
  arcEdge: Int32Array;
  lengthM: Float64Array;
  speedMps: Float64Array;
  maxSpeedMps: number;
}

/** The edges as arcs per node (a two-way edge is an arc each way), built once per network. */
export function buildAdjacency(nodeCount: number, edges: readonly RoadEdge[]): Adjacency {
  const degree = new Int32Array(nodeCount + 1);
  for (const e of edges) {
    degree[e.from]!++;
    if (!e.oneway) degree[e.to]!++;
  }
  const arcStart = new Int32Array(nodeCount + 1);
  for (let n = 0; n < nodeCount; n++) arcStart[n + 1] = arcStart[n]! + degree[n]!;
  const fill = arcStart.slice(0, nodeCount);
  const arcTo = new Int32Array(arcStart[nodeCount]!);
  const arcEdge = new Int32Array(arcStart[nodeCount]!);
  const lengthM = new Float64Array(edges.length);
  const speedMps = new Float64Array(edges.length);
  let maxSpeedMps = 0;
  edges.forEach((e, i) => {
    arcTo[fill[e.from]!] = e.to;
    arcEdge[fill[e.from]!++] = i;
    if (!e.oneway) (arcTo[fill[e.to]!] = e.from), (arcEdge[fill[e.to]!++] = i);
    lengthM[i] = e.length_m;
    speedMps[i] = e.speed_kmh / 3.6;
    maxSpeedMps = Math.max(maxSpeedMps, speedMps[i]!);
  });
  return { arcStart, arcTo, arcEdge, lengthM, speedMps, maxSpeedMps };
}

/**
 * The shortest path between two nodes by A* (a binary-heap Dijkstra guided by the straight-line
 * distance to the goal, which never overestimates: an edge is at least as long as the straight
 * line between its ends, and no edge is faster than the network's fastest). Null when `to`
 * cannot be reached from `from` (one-way streets count).
 *
 * @example
 *   const path = shortestPath(network, network.snap(80.30, 13.21)!.node, network.snap(80.23, 12.90)!.node);
 *   path?.segments.map((s) => s.zone_id); // → ['chennai-w015', 'chennai-w016', … 'chennai-w197'] (21 wards, 47.5 km)
 */
export function shortestPath(network: RoadNetwork, from: number, to: number, options: PathOptions = {}): RoadPath | null {
  const { arcStart, arcTo, arcEdge, lengthM, speedMps, maxSpeedMps } = network.adjacency;
  const byTime = (options.by ?? 'time') === 'time';
  const n = network.nodeCount;
  const cost = new Float64Array(n).fill(Infinity);
  const viaEdge = new Int32Array(n).fill(-1);
  const done = new Uint8Array(n);
  const goalLng = network.lng[to]!;
  const goalLat = network.lat[to]!;
  const estimate = (node: number): number => {
    const d = haversineM(network.lng[node]!, network.lat[node]!, goalLng, goalLat);
    return byTime ? d / (maxSpeedMps || 1) : d;
  };
  const heap = new MinHeap();
  cost[from] = 0;
  heap.push(from, estimate(from));
  while (heap.size > 0) {
    const node = heap.pop();
    if (node === to) break;
    if (done[node]) continue; // a stale entry: the node was reached more cheaply since
    done[node] = 1;
    for (let a = arcStart[node]!, end = arcStart[node + 1]!; a < end; a++) {
      const next = arcTo[a]!;
      if (done[next]) continue;
      const e = arcEdge[a]!;
      const c = cost[node]! + (byTime ? lengthM[e]! / speedMps[e]! : lengthM[e]!);
      if (c < cost[next]!) {
        cost[next] = c;
        viaEdge[next] = e;
        heap.push(next, c + estimate(next));
      }
    }
  }
  if (cost[to] === Infinity) return null;

  const nodes = [to];
  const edges: number[] = [];
  for (let node = to; node !== from; ) {
    const e = network.edges[viaEdge[node]!]!;
    edges.push(viaEdge[node]!);
    node = e.from === node ? e.to : e.from;
    nodes.push(node);
  }
  nodes.reverse();
  edges.reverse();
  return describe(network, nodes, edges, options.speedFactor ?? 1);
}

/**
 * The shortest path between two points, each snapped to the network first (`RoadNetwork.snap`).
 * `path` is null when they are not connected; the whole answer is null for an empty network.
 *
 * @example
 *   route(network, { lng: 80.30, lat: 13.21 }, { lng: 80.23, lat: 12.90 }, { speedFactor: 1.5 });
 */
export function route(
  network: RoadNetwork,
  from: { lng: number; lat: number },
  to: { lng: number; lat: number },
  options: PathOptions = {},
): { from: { node: number; distance_m: number }; to: { node: number; distance_m: number }; path: RoadPath | null } | null {
  const start = network.snap(from.lng, from.lat);
  const end = network.snap(to.lng, to.lat);
  if (!start || !end) return null;
  return { from: start, to: end, path: shortestPath(network, start.node, end.node, options) };
}

function describe(network: RoadNetwork, nodes: number[], edges: number[], speedFactor: number): RoadPath {
  const segments: RouteSegment[] = [];
  let length = 0;
  let eta = 0;
  const add = (zoneId: string | null, metres: number, speedKmh: number, a: Position, b: Position): void => {
    const seconds = metres / ((speedKmh / 3.6) * speedFactor);
    length += metres;
    eta += seconds;
    const last = segments[segments.length - 1];
    if (last && last.zone_id === zoneId) {
      last.length_m += metres;
      last.eta_s += seconds;
      last.coordinates.push(b);
    } else {
      segments.push({ zone_id: zoneId, length_m: metres, eta_s: seconds, coordinates: [a, b] });
    }
  };
  edges.forEach((e, i) => {
    const edge: RoadEdge = network.edges[e]!;
    const a = network.position(nodes[i]!);
    const b = network.position(nodes[i + 1]!);
    if (!edge.via) return add(edge.zoneId, edge.length_m, edge.speed_kmh, a, b);
    // A ward link: its first ward up to the crossing, its second after, whichever way it is taken.
    const v: Position = [edge.via.lng, edge.via.lat];
    const forward = edge.from === nodes[i];
    const first = { zone: edge.zoneId, metres: edge.via.before_m };
    const second = { zone: edge.via.zoneId, metres: edge.length_m - edge.via.before_m };
    const [p, q] = forward ? [first, second] : [second, first];
    add(p.zone, p.metres, edge.speed_kmh, a, v);
    add(q.zone, q.metres, edge.speed_kmh, v, b);
  });
  return { nodes, edges, length_m: length, eta_s: eta, coordinates: nodes.map((n) => network.position(n)), segments };
}

/** A binary min-heap of (node, priority) in typed arrays that double when full. */
class MinHeap {
  #nodes = new Int32Array(64);
  #keys = new Float64Array(64);
  size = 0;

  push(node: number, key: number): void {
    if (this.size === this.#nodes.length) {
      const nodes = new Int32Array(this.size * 2);
      const keys = new Float64Array(this.size * 2);
      nodes.set(this.#nodes);
      keys.set(this.#keys);
      this.#nodes = nodes;
      this.#keys = keys;
    }
    let i = this.size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.#keys[parent]! <= key) break;
      this.#nodes[i] = this.#nodes[parent]!;
      this.#keys[i] = this.#keys[parent]!;
      i = parent;
    }
    this.#nodes[i] = node;
    this.#keys[i] = key;
  }

  /** Removes and returns the node with the smallest key; the heap must not be empty. */
  pop(): number {
    const top = this.#nodes[0]!;
    const n = --this.size;
    const node = this.#nodes[n]!;
    const key = this.#keys[n]!;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && this.#keys[child + 1]! < this.#keys[child]!) child++;
      if (this.#keys[child]! >= key) break;
      this.#nodes[i] = this.#nodes[child]!;
      this.#keys[i] = this.#keys[child]!;
      i = child;
    }
    this.#nodes[i] = node;
    this.#keys[i] = key;
    return top;
  }
}
