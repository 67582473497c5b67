import type { ZoneTree } from '../geo/zones.js';
import { wardAdjacency } from '../geo/ward-adjacency.js';
import type { ZoneLookup } from '../geo/roads.js';

/** The layers of seed 001 §1.1, bottom up. */
export const NODE_ROLES = ['local', 'district', 'city', 'state', 'national'] as const;
export type NodeRole = (typeof NODE_ROLES)[number];

/** L1 … L5 (seed 001 §1.1). */
export function layerNumber(role: NodeRole): number {
  return NODE_ROLES.indexOf(role) + 1;
}

export function isNodeRole(value: unknown): value is NodeRole {
  return typeof value === 'string' && (NODE_ROLES as readonly string[]).includes(value);
}

/**
 * Why a node of `childRole` over `childZone` cannot be the child of a `parentRole` node over
 * `parentZone`, or null when it can. A child sits on a lower layer (a city may take locals
 * directly when it has no districts) and, when both have zones, inside the parent's zone.
 */
export function childProblem(tree: ZoneTree, parentRole: NodeRole, parentZone: string | null, childRole: NodeRole, childZone: string | null): string | null {
  if (layerNumber(childRole) >= layerNumber(parentRole)) return `a ${childRole} node (L${layerNumber(childRole)}) cannot be the child of a ${parentRole} node (L${layerNumber(parentRole)})`;
  if (childZone !== null && !tree.has(childZone)) return `zone ${childZone} does not exist on the parent`;
  if (childZone !== null && parentZone !== null && !tree.isWithin(childZone, parentZone)) return `zone ${childZone} is not inside the parent's zone ${parentZone}`;
  return null;
}

/**
 * Which of `zoneIds` touch each other, for introducing peers (seed 001 §7.3: "Resource sharing
 * and load balancing across adjacent districts"; an incident on a boundary road). Two zones of
 * any level touch when a neighbourhood of one borders a neighbourhood of the other (the ward
 * adjacency the road fallback uses), so siblings are introduced to their neighbours only —
 * not 500 locals to 499 others each.
 */
export function touchingZones(zones: ZoneLookup, zoneIds: readonly string[]): Map<string, Set<string>> {
  const tree = zones.tree;
  const result = new Map<string, Set<string>>(zoneIds.map((id) => [id, new Set<string>()]));
  if (zoneIds.length < 2) return result;
  const { wards, links } = wardAdjacency(zones);
  // Each ward → the given zone it lies in (if any).
  const owner = (wardId: string): string | null => {
    if (result.has(wardId)) return wardId;
    for (const a of tree.ancestors(wardId)) if (result.has(a.id)) return a.id;
    return null;
  };
  const owners = wards.map((w) => owner(w.zone.id));
  for (const { a, b } of links) {
    const x = owners[a];
    const y = owners[b];
    if (!x || !y || x === y) continue;
    result.get(x)!.add(y);
    result.get(y)!.add(x);
  }
  return result;
}
