import { distanceM } from '../geo/geodesy.js';
import type { Position } from '../geo/geojson.js';
import { route, type RouteSegment } from '../geo/road-graph.js';
import type { RoadNetwork } from '../geo/roads.js';

/**
 * The district's part of an emergency (seed 001 §4.3): route an ambulance across neighbourhoods
 * and tell every Local Brain on the way what to clear, and pick the resource that can get to an
 * incident first. Pure functions over a `RoadNetwork`; the caller owns the node registry (it
 * passes `servingNode`) and sends the commands.
 */
export const EMERGENCY_ROUTE_DEFAULTS = {
  /**
   * An ambulance under lights and siren moves through traffic faster than the average flow an
   * edge's speed stands for (ward links are 25 km/h city traffic). 1.5 is an assumption, not a
   * measurement: it matches the `speed_factor` the road route's examples use, and only scales
   * the ETA — which route is quickest does not depend on it. Tune per city.
   */
  speedFactor: 1.5,
  /** What each Local Brain on the route is asked to do: the seed's two actions, verbatim (§4.3). */
  actions: ['adjust_traffic_lights_to_green', 'alert_traffic_police'] as readonly string[],
  /**
   * Candidates routed by `nearestAvailable`, nearest by straight line first. A road route is never
   * shorter than the straight line, so the road-nearest is almost always among the few
   * straight-nearest; each one costs an A* search (about a millisecond on a city's ward graph).
   */
  shortlist: 5,
  /** Statuses a resource may have and still be dispatched. */
  availableStatuses: ['available'] as readonly string[],
} as const;

export interface EmergencyCommand {
  node_id: string;
  /** The zones of this node's stretches, in route order, each once. */
  zone_ids: string[];
  /** This node's stretches of the route, in route order (a node left and re-entered has several). */
  route_segments: RouteSegment[];
  /** Seconds from the start until the vehicle enters this node's first stretch. */
  enters_after_s: number;
  command: 'clear_route_for_emergency';
  actions: string[];
}

export interface EmergencyRoutePlan {
  route: { length_m: number; eta_s: number; eta_minutes: number; coordinates: Position[] };
  /** One command per serving node on the route, in route order (seed: "Send commands to all Local Brains on route"). */
  commands: EmergencyCommand[];
  /** Stretches in zones no node serves (the district must handle them itself); never silently dropped. */
  uncovered: Array<{ zone_id: string | null; length_m: number }>;
}

/**
 * The quickest route between two points and one `clear_route_for_emergency` command per node
 * serving a zone on it (seed 001 §4.3). Every stretch of the route ends up in exactly one place:
 * the command of the node `servingNode` names for its zone, or `uncovered` when it names none
 * (or the stretch lies outside every zone), so the lengths of both add up to the route's.
 * `servingNode` is asked once per zone; it should answer the child node whose zone is the ward
 * or one of its ancestors. Null when the two points are not connected (or the network is empty).
 *
 * @example
 *   // On Chennai's ward network, every ward its own node:
 *   const plan = planEmergencyRoute(network, (zoneId) => `node-${zoneId}`, { lat: 13.0464, lng: 80.2654 }, { lat: 13.0405, lng: 80.2337 });
 *   plan?.commands.map((c) => [c.node_id, Math.round(c.enters_after_s)]);
 *   // → [['node-chennai-w119', 0], ['node-chennai-w118', 61], ['node-chennai-w117', 227], ['node-chennai-w136', 325]]
 *   plan?.route.eta_minutes; // → 7 (4.4 km at 25 km/h × 1.5)
 * @throws RangeError when `speedFactor` is not a positive number
 */
export function planEmergencyRoute(
  network: RoadNetwork,
  servingNode: (zoneId: string) => string | null,
  from: { lat: number; lng: number },
  to: { lat: number; lng: number },
  options: { speedFactor?: number; actions?: string[] } = {},
): EmergencyRoutePlan | null {
  const speedFactor = checkSpeedFactor(options.speedFactor ?? EMERGENCY_ROUTE_DEFAULTS.speedFactor);
  const actions = [...(options.actions ?? EMERGENCY_ROUTE_DEFAULTS.actions)];
  const found = route(network, from, to, { by: 'time', speedFactor });
  const path = found?.path;
  if (!path) return null;

  const nodeOfZone = new Map<string, string | null>();
  const serving = (zoneId: string): string | null => {
    if (!nodeOfZone.has(zoneId)) nodeOfZone.set(zoneId, servingNode(zoneId));
    return nodeOfZone.get(zoneId)!;
  };
  const byNode = new Map<string, EmergencyCommand>();
  const uncovered: EmergencyRoutePlan['uncovered'] = [];
  let elapsedS = 0;
  for (const segment of path.segments) {
    const nodeId = segment.zone_id === null ? null : serving(segment.zone_id);
    if (nodeId === null) {
      uncovered.push({ zone_id: segment.zone_id, length_m: segment.length_m });
    } else {
      let command = byNode.get(nodeId);
      if (!command) {
        command = { node_id: nodeId, zone_ids: [], route_segments: [], enters_after_s: elapsedS, command: 'clear_route_for_emergency', actions: [...actions] };
        byNode.set(nodeId, command);
      }
      if (!command.zone_ids.includes(segment.zone_id!)) command.zone_ids.push(segment.zone_id!);
      command.route_segments.push(segment);
    }
    elapsedS += segment.eta_s;
  }
  return {
    // Whole tenths of a minute: the hospital is told an ETA (§4.3 step 3), not a stopwatch reading.
    route: { length_m: path.length_m, eta_s: path.eta_s, eta_minutes: Math.round(path.eta_s / 6) / 10, coordinates: path.coordinates },
    // A Map keeps insertion order: the order nodes are first entered along the route.
    commands: [...byNode.values()],
    uncovered,
  };
}

export interface ResourceCandidate {
  resource_id: string;
  resource_type: string;
  status: string;
  node_id: string;
  location: { latitude: number; longitude: number } | null;
}

/**
 * The available resource of a type that reaches the incident soonest by road. Candidates of
 * another type, in a status not in `availableStatuses`, or without a location are left out; the
 * `shortlist` nearest of the rest by straight line are routed from where they are to the
 * incident, and the least ETA wins (ties: the straight-line nearer, then the smaller id).
 * `considered` is how many were routed. A candidate outside the shortlist is never routed, so
 * the answer is the road-nearest of the shortlist, which is the road-nearest overall unless the
 * roads are very indirect. Null when none is left or none can reach the incident.
 *
 * ETAs are along the network from the nodes the two points snap to, as `route` gives them.
 *
 * @example
 *   nearestAvailable(network, ambulances, 'ambulance', { lat: 13.0464, lng: 80.2654 });
 *   // → { resource: <the ambulance with the least eta_s of the 5 straight-line nearest>, eta_s, length_m, considered: 5 }
 * @throws RangeError when `shortlist` is not a positive integer or `speedFactor` not a positive number
 */
export function nearestAvailable(
  network: RoadNetwork,
  candidates: readonly ResourceCandidate[],
  type: string,
  incident: { lat: number; lng: number },
  options: { shortlist?: number; availableStatuses?: string[]; speedFactor?: number } = {},
): { resource: ResourceCandidate; eta_s: number; length_m: number; considered: number } | null {
  const shortlist = options.shortlist ?? EMERGENCY_ROUTE_DEFAULTS.shortlist;
  if (!Number.isInteger(shortlist) || shortlist < 1) throw new RangeError(`shortlist must be a positive integer, not ${shortlist}`);
  const speedFactor = checkSpeedFactor(options.speedFactor ?? EMERGENCY_ROUTE_DEFAULTS.speedFactor);
  const statuses = new Set(options.availableStatuses ?? EMERGENCY_ROUTE_DEFAULTS.availableStatuses);

  const near: Array<{ resource: ResourceCandidate; straightM: number }> = [];
  for (const resource of candidates) {
    const at = resource.location;
    if (resource.resource_type !== type || !statuses.has(resource.status) || !at) continue;
    if (!Number.isFinite(at.latitude) || !Number.isFinite(at.longitude)) continue;
    near.push({ resource, straightM: distanceM(at.latitude, at.longitude, incident.lat, incident.lng) });
  }
  near.sort((a, b) => a.straightM - b.straightM || compareIds(a.resource.resource_id, b.resource.resource_id));
  const routed = near.slice(0, shortlist);

  let best: { resource: ResourceCandidate; eta_s: number; length_m: number } | null = null;
  // `routed` is in straight-line order, so a strict < keeps the straight-line nearer on equal ETAs.
  for (const { resource } of routed) {
    const from = { lat: resource.location!.latitude, lng: resource.location!.longitude };
    const path = route(network, from, incident, { by: 'time', speedFactor })?.path;
    if (path && (!best || path.eta_s < best.eta_s)) best = { resource, eta_s: path.eta_s, length_m: path.length_m };
  }
  return best && { ...best, considered: routed.length };
}

function checkSpeedFactor(value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`speedFactor must be a positive number, not ${value}`);
  return value;
}

/** Code-unit order: the same on every machine, unlike localeCompare. */
function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
