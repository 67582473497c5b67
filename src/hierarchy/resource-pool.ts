import { haversineM } from '../geo/geodesy.js';

/**
 * The state's inter-city resource pooling (seed 001 §6.1: "resource balancing and emergency
 * transfers between different cities", "a shared pool of state assets"). A pure planner: it
 * reads requests, what each city holds and the state's own pool, and answers which transfers
 * to order; the caller sends them and updates the holdings.
 */

export type PoolPriority = 'critical' | 'high' | 'medium' | 'low';

/** Most urgent first; the order requests are served in. */
export const POOL_PRIORITIES: readonly PoolPriority[] = ['critical', 'high', 'medium', 'low'];

export interface PoolRequest {
  request_id: string;
  /** The city that needs the resource (a city id, as in holdings). */
  city: string;
  resource_type: string;
  quantity: number;
  priority: PoolPriority;
}

export interface PoolHolding {
  city: string;
  resource_type: string;
  available: number;
  /** What the city keeps for itself whatever others need: it never gives below this. */
  reserve: number;
  /** Where the city's stock of this type is, for choosing the nearest donor. */
  location?: { lat: number; lng: number };
}

export interface PoolTransfer {
  request_id: string;
  /** A city id, or `'state_pool'` for the state's own assets. */
  from: string;
  to: string;
  resource_type: string;
  quantity: number;
  /** Great-circle distance between donor and receiver, 0.1 km; null when either location is unknown. */
  distance_km: number | null;
}

export interface PoolPlan {
  transfers: PoolTransfer[];
  /** What could not be found, per request; a request served in part is here and in `transfers`. */
  unmet: Array<{ request_id: string; resource_type: string; quantity: number }>;
}

export interface PoolOptions {
  /** Where the state keeps its pool, for `distance_km` of transfers from it. */
  statePoolLocation?: { lat: number; lng: number };
  /**
   * Where each city is, for cities whose holdings carry no location (e.g. a requesting city that
   * holds none of the type). A holding's own location wins for that holding.
   */
  cityLocations?: Record<string, { lat: number; lng: number }>;
}

/** The donor name for the state's own assets in a transfer. */
export const STATE_POOL = 'state_pool';

/**
 * Plans transfers for resource requests between the cities of a state. The policy, in order:
 *
 *  1. Requests are served most urgent first (critical, high, medium, low), in the order given
 *     within a priority. An earlier request takes what it can before a later one gets anything.
 *  2. Each request draws on the state's own pool first (§6.1: the pool is there for exactly
 *     this, and using it leaves cities' stocks where they are), then on other cities' surplus.
 *  3. A city's surplus is what it has `available` above its `reserve`; it never gives below its
 *     reserve, never to itself, and never a type it has itself asked for in these requests (its
 *     stock is then spoken for, and moving it away and back would be a wasted transfer).
 *  4. Donor cities are taken nearest first when the requester's location is known: those whose
 *     location is known by great-circle distance, then the others by largest surplus. Without the
 *     requester's location, largest surplus first. Ties go to the smaller city id.
 *  5. What no one can give is `unmet`; a request served in part appears in both lists.
 *
 * Quantities are not required to be whole numbers (litres of fuel pool like boats do). The inputs
 * are not changed.
 *
 * @example
 *   planTransfers(
 *     [{ request_id: 'r1', city: 'chennai', resource_type: 'rescue_boats', quantity: 30, priority: 'critical' }],
 *     [{ city: 'madurai', resource_type: 'rescue_boats', available: 25, reserve: 5, location: { lat: 9.925, lng: 78.120 } },
 *      { city: 'vellore', resource_type: 'rescue_boats', available: 12, reserve: 4, location: { lat: 12.916, lng: 79.133 } }],
 *     { rescue_boats: 10 },
 *     { cityLocations: { chennai: { lat: 13.083, lng: 80.270 } } });
 *   // → transfers: 10 from state_pool (distance_km null: no statePoolLocation given), 8 from vellore
 *   //   (124.6 km), 12 from madurai (422.1 km); unmet: []
 * @throws RangeError for a negative or non-finite number, an unknown priority, or a city holding the same type twice
 */
export function planTransfers(
  requests: readonly PoolRequest[],
  holdings: readonly PoolHolding[],
  statePool: Record<string, number>,
  options: PoolOptions = {},
): PoolPlan {
  const pool = new Map<string, number>();
  for (const [type, count] of Object.entries(statePool)) pool.set(type, checkAmount(count, `the state pool's ${JSON.stringify(type)}`));

  // What each city can still give, per type: starts at available − reserve, goes down as it gives.
  const surplus = new Map<string, Map<string, number>>();
  const located = new Map<string, { lat: number; lng: number }>();
  for (const [city, at] of Object.entries(options.cityLocations ?? {})) located.set(city, at);
  for (const h of holdings) {
    const what = `${JSON.stringify(h.city)}'s ${JSON.stringify(h.resource_type)}`;
    const available = checkAmount(h.available, `${what} available`);
    const reserve = checkAmount(h.reserve, `${what} reserve`);
    const byCity = surplus.get(h.resource_type) ?? new Map<string, number>();
    if (byCity.has(h.city)) throw new RangeError(`${what} is held twice: give one holding per city and type`);
    byCity.set(h.city, Math.max(0, available - reserve));
    surplus.set(h.resource_type, byCity);
  }
  const locationOf = (city: string, type: string): { lat: number; lng: number } | null =>
    holdings.find((h) => h.city === city && h.resource_type === type && h.location)?.location ??
    located.get(city) ??
    holdings.find((h) => h.city === city && h.location)?.location ??
    null;

  const asking = new Set<string>();
  const order = requests.map((request, index) => {
    const rank = POOL_PRIORITIES.indexOf(request.priority);
    if (rank < 0) throw new RangeError(`request ${JSON.stringify(request.request_id)}: priority must be one of ${POOL_PRIORITIES.join(', ')}, not ${JSON.stringify(request.priority)}`);
    checkAmount(request.quantity, `request ${JSON.stringify(request.request_id)}'s quantity`);
    asking.add(`${request.city}\u0000${request.resource_type}`);
    return { request, rank, index };
  });
  order.sort((a, b) => a.rank - b.rank || a.index - b.index);

  const plan: PoolPlan = { transfers: [], unmet: [] };
  for (const { request } of order) {
    const { request_id, city: to, resource_type } = request;
    const here = locationOf(to, resource_type);
    let wanted = request.quantity;
    const give = (from: string, quantity: number, at: { lat: number; lng: number } | null): void => {
      const distance = at && here ? Math.round(haversineM(at.lng, at.lat, here.lng, here.lat) / 100) / 10 : null;
      plan.transfers.push({ request_id, from, to, resource_type, quantity, distance_km: distance });
      wanted -= quantity;
    };

    const inPool = pool.get(resource_type) ?? 0;
    if (wanted > 0 && inPool > 0) {
      const quantity = Math.min(wanted, inPool);
      pool.set(resource_type, inPool - quantity);
      give(STATE_POOL, quantity, options.statePoolLocation ?? null);
    }

    const byCity = surplus.get(resource_type) ?? new Map<string, number>();
    const donors = [...byCity]
      .filter(([city, spare]) => spare > 0 && city !== to && !asking.has(`${city}\u0000${resource_type}`))
      .map(([city, spare]) => {
        const at = locationOf(city, resource_type);
        // Distances only rank donors when the requester's own location is known.
        return { city, spare, at, distanceM: at && here ? haversineM(at.lng, at.lat, here.lng, here.lat) : Infinity };
      })
      .sort((a, b) => (a.distanceM === b.distanceM ? 0 : a.distanceM - b.distanceM) || b.spare - a.spare || compareIds(a.city, b.city));
    for (const donor of donors) {
      if (wanted <= 0) break;
      const quantity = Math.min(wanted, donor.spare);
      byCity.set(donor.city, donor.spare - quantity);
      give(donor.city, quantity, donor.at);
    }

    if (wanted > 0) plan.unmet.push({ request_id, resource_type, quantity: wanted });
  }
  return plan;
}

function checkAmount(value: number, what: string): number {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${what} must be a number ≥ 0, not ${value}`);
  return value;
}

/** Code-unit order: the same on every machine, unlike localeCompare. */
function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
