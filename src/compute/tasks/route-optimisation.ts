import { distanceM, metresPerDegreeLat, metresPerDegreeLng } from '../../geo/geodesy.js';
import { arrayAt, chunkBounds, integerAt, numberAt, objectAt, partCount, stringAt, TaskInputError, type TaskKind } from './task.js';

/**
 * route_optimisation: visit every stop from one depot with a fleet, for the least total distance
 * (a capacitated vehicle routing problem). Exact solutions are NP-hard; this is the classic
 * construct-then-improve heuristic, typically within 10–25 % of optimal:
 *   1. nearest neighbour: each vehicle in turn leaves the depot and goes to the nearest
 *      unvisited stop whose demand still fits, until none does, then returns;
 *   2. 2-opt on each route: reverse any stretch of it whose reversal shortens the route (it
 *      removes every crossing of the route with itself), until no reversal helps.
 * Distances are `distanceM` (ellipsoidal, within 0.1 % of the geodesic at city scale), not road
 * distances: a planning estimate, to be routed on the road graph afterwards.
 */
export const ROUTE_DEFAULTS = {
  /** Construction is O(stops²) distance evaluations: 10,000 stops is about 10⁸, a few seconds. */
  maxStops: 10_000,
  maxVehicles: 10_000,
  /** Rounding guard: a 2-opt move must save more than this to be taken, so passes end. */
  minGainM: 1e-6,
} as const;

export interface LatLng {
  lat: number;
  lng: number;
}

export interface RouteStop extends LatLng {
  id: string;
  /** Load the stop takes from a vehicle; 1 when left out. */
  demand?: number;
}

export interface RouteInput {
  depot: LatLng;
  stops: RouteStop[];
  vehicles: number;
  /**
   * Each vehicle's load limit. Left out, vehicles share the stops evenly (a limit of the total
   * demand over the fleet, the last vehicle taking any rest) instead of one vehicle taking them
   * all — which is what minimising distance alone would do, and not what a city fleet wants.
   */
  capacity?: number;
}

export interface VehicleRoute {
  vehicle: number;
  stop_ids: string[];
  distance_m: number;
}

export interface RouteOutput {
  /** One per vehicle, in vehicle order; an unused vehicle has no stops and 0 m. */
  routes: VehicleRoute[];
  total_distance_m: number;
  /** Stops no vehicle had room for under `capacity` (empty unless the fleet is short). */
  unassigned_stop_ids: string[];
}

/** Index −1 is the depot, others index `stops`. */
function point(input: RouteInput, i: number): LatLng {
  return i < 0 ? input.depot : input.stops[i]!;
}

function dist(input: RouteInput, a: number, b: number): number {
  const p = point(input, a);
  const q = point(input, b);
  return distanceM(p.lat, p.lng, q.lat, q.lng);
}

/**
 * Length of a route: depot → stops (indices into `input.stops`) → depot.
 *
 * @example
 *   routeDistanceM(input, [0, 2, 1]);
 */
export function routeDistanceM(input: RouteInput, route: readonly number[]): number {
  let total = 0;
  let prev = -1;
  for (const i of route) {
    total += dist(input, prev, i);
    prev = i;
  }
  return route.length === 0 ? 0 : total + dist(input, prev, -1);
}

/**
 * Step 1, nearest-neighbour construction: one route (stop indices) per vehicle, and the stops
 * that did not fit.
 *
 * @example
 *   const { routes, unassigned } = constructRoutes(input);
 */
export function constructRoutes(input: RouteInput): { routes: number[][]; unassigned: number[] } {
  const n = input.stops.length;
  const demand = input.stops.map((s) => s.demand ?? 1);
  const hard = input.capacity !== undefined;
  const total = demand.reduce((a, b) => a + b, 0);
  const limit = input.capacity ?? Math.max(Math.ceil(total / input.vehicles), ...demand, 0);
  const visited = new Uint8Array(n);
  const routes: number[][] = [];
  for (let v = 0; v < input.vehicles; v++) {
    const takesTheRest = !hard && v === input.vehicles - 1;
    const route: number[] = [];
    let load = 0;
    let at = -1;
    for (;;) {
      let best = -1;
      let bestM = Infinity;
      for (let j = 0; j < n; j++) {
        if (visited[j] || (!takesTheRest && load + demand[j]! > limit)) continue;
        const d = dist(input, at, j);
        if (d < bestM) [best, bestM] = [j, d]; // strict: ties go to the earlier stop, deterministically
      }
      if (best < 0) break;
      visited[best] = 1;
      load += demand[best]!;
      route.push(best);
      at = best;
    }
    routes.push(route);
  }
  const unassigned: number[] = [];
  for (let j = 0; j < n; j++) if (!visited[j]) unassigned.push(j);
  return { routes, unassigned };
}

/**
 * Step 2, 2-opt: the route with every improving segment reversal applied, never longer than
 * the one given. The depot stays at both ends.
 *
 * @example
 *   routeDistanceM(input, improveRoute(input, r)) <= routeDistanceM(input, r); // always
 */
export function improveRoute(input: RouteInput, route: readonly number[]): number[] {
  const m = route.length;
  if (m < 3) return [...route];
  // Tour positions 0 and m + 1 are the depot; a distance matrix makes each pass O(m²) lookups.
  const tour = [-1, ...route, -1];
  const size = m + 2;
  const d = new Float64Array(size * size);
  for (let a = 0; a < size; a++) for (let b = a + 1; b < size; b++) d[a * size + b] = d[b * size + a] = dist(input, tour[a]!, tour[b]!);
  const order = Int32Array.from({ length: size }, (_, k) => k); // positions → matrix rows
  let improved = true;
  while (improved) {
    improved = false;
    for (let i = 1; i < m; i++) {
      for (let j = i + 1; j <= m; j++) {
        const a = order[i - 1]!;
        const b = order[i]!;
        const c = order[j]!;
        const e = order[j + 1]!;
        // Reversing i..j replaces edges (a,b) and (c,e) with (a,c) and (b,e).
        const gain = d[a * size + b]! + d[c * size + e]! - d[a * size + c]! - d[b * size + e]!;
        if (gain > ROUTE_DEFAULTS.minGainM) {
          order.subarray(i, j + 1).reverse();
          improved = true;
        }
      }
    }
  }
  return Array.from(order.subarray(1, m + 1), (k) => tour[k]!);
}

/** Splits `total` vehicles over parts in proportion to their weights, at least one each (largest remainder). */
function apportion(weights: number[], total: number): number[] {
  const sum = weights.reduce((a, b) => a + b, 0);
  const spare = total - weights.length;
  const quotas = weights.map((w) => (sum > 0 ? (spare * w) / sum : spare / weights.length));
  const shares = quotas.map((q) => 1 + Math.floor(q));
  let left = total - shares.reduce((a, b) => a + b, 0);
  const byRemainder = quotas.map((q, k) => [q - Math.floor(q), k] as const).sort((x, y) => y[0] - x[0] || x[1] - y[1]);
  for (const [, k] of byRemainder) if (left-- > 0) shares[k] = shares[k]! + 1;
  return shares;
}

function validate(raw: unknown): RouteInput {
  const input = objectAt(raw, '');
  const latLng = (v: unknown, field: string): LatLng => {
    const o = objectAt(v, field);
    return { lat: numberAt(o.lat, `${field}.lat`, -90, 90), lng: numberAt(o.lng, `${field}.lng`, -180, 180) };
  };
  const out: RouteInput = {
    depot: latLng(input.depot, 'depot'),
    stops: [],
    vehicles: integerAt(input.vehicles, 'vehicles', 1, ROUTE_DEFAULTS.maxVehicles),
  };
  if (input.capacity !== undefined) {
    out.capacity = numberAt(input.capacity, 'capacity', 0);
    if (out.capacity === 0) throw new TaskInputError('capacity', 'must be more than 0');
  }
  const stops = arrayAt(input.stops, 'stops');
  if (stops.length > ROUTE_DEFAULTS.maxStops) throw new TaskInputError('stops', `has ${stops.length} stops; at most ${ROUTE_DEFAULTS.maxStops} (split the job)`);
  const seen = new Set<string>();
  stops.forEach((s, k) => {
    const o = objectAt(s, `stops[${k}]`);
    const id = stringAt(o.id, `stops[${k}].id`);
    if (seen.has(id)) throw new TaskInputError(`stops[${k}].id`, `${JSON.stringify(id)} is used by an earlier stop`);
    seen.add(id);
    const stop: RouteStop = { id, ...latLng(o, `stops[${k}]`) };
    if (o.demand !== undefined) stop.demand = numberAt(o.demand, `stops[${k}].demand`, 0, out.capacity ?? Infinity);
    out.stops.push(stop);
  });
  return out;
}

/**
 * @example
 *   routeOptimisation.run({ depot, stops, vehicles: 3, capacity: 20 }, () => {}).total_distance_m;
 */
export const routeOptimisation: TaskKind<RouteInput, RouteOutput> = {
  name: 'route_optimisation',
  description: 'Vehicle routes from a depot through all stops for the least total distance (nearest neighbour + 2-opt, capacity respected); fans out by sectors around the depot.',
  validate,
  run(input, progress) {
    const { routes, unassigned } = constructRoutes(input);
    progress(0.5);
    const out: RouteOutput = { routes: [], total_distance_m: 0, unassigned_stop_ids: unassigned.map((j) => input.stops[j]!.id) };
    routes.forEach((route, v) => {
      const better = improveRoute(input, route);
      const distance = routeDistanceM(input, better);
      out.routes.push({ vehicle: v, stop_ids: better.map((j) => input.stops[j]!.id), distance_m: distance });
      out.total_distance_m += distance;
      progress(0.5 + (0.5 * (v + 1)) / routes.length);
    });
    return out;
  },
  /**
   * The sweep: stops sorted by bearing from the depot and cut into sectors of equal count,
   * starting at the widest empty angle so no cluster is cut across the start. The fleet is
   * shared in proportion to each sector's demand, a vehicle at least, so parts ≤ vehicles.
   */
  split(input, n) {
    const parts = Math.min(partCount(n), input.vehicles, input.stops.length);
    if (parts <= 1) return [input];
    const kx = metresPerDegreeLng(input.depot.lat);
    const ky = metresPerDegreeLat(input.depot.lat);
    const bearing = input.stops.map((s) => Math.atan2((s.lat - input.depot.lat) * ky, (s.lng - input.depot.lng) * kx));
    const sorted = input.stops.map((_, k) => k).sort((a, b) => bearing[a]! - bearing[b]! || a - b);
    let start = 0;
    let widest = bearing[sorted[0]!]! + 2 * Math.PI - bearing[sorted[sorted.length - 1]!]!;
    for (let k = 1; k < sorted.length; k++) {
      const gap = bearing[sorted[k]!]! - bearing[sorted[k - 1]!]!;
      if (gap > widest) [start, widest] = [k, gap];
    }
    const swept = [...sorted.slice(start), ...sorted.slice(0, start)];
    const sectors = chunkBounds(swept.length, parts).map(([a, b]) => swept.slice(a, b).map((k) => input.stops[k]!));
    const vehicles = apportion(
      sectors.map((stops) => stops.reduce((sum, s) => sum + (s.demand ?? 1), 0)),
      input.vehicles,
    );
    return sectors.map((stops, k) => ({ ...input, stops, vehicles: vehicles[k]! }));
  },
  merge(outputs) {
    const merged: RouteOutput = { routes: [], total_distance_m: 0, unassigned_stop_ids: [] };
    for (const o of outputs) {
      for (const r of o.routes) merged.routes.push({ ...r, vehicle: merged.routes.length });
      merged.total_distance_m += o.total_distance_m;
      merged.unassigned_stop_ids.push(...o.unassigned_stop_ids);
    }
    return merged;
  },
};
