import { cityError } from '../errors.js';
import type { Feature, FeatureCollection, ZoneGeometry } from './geojson.js';

/**
 * The levels of the city hierarchy, lowest first; they mirror the brain layers L1 (local) to
 * L5 (national).
 *
 * @example
 *   ZONE_LEVELS.indexOf('district'); // → 1
 */
export const ZONE_LEVELS = ['neighbourhood', 'district', 'city', 'state', 'nation'] as const;

export type ZoneLevel = (typeof ZONE_LEVELS)[number];

/**
 * What a zone id may look like. Ids appear in MQTT topics (`city/{zone}/events/{plugin}`), so
 * no `/`, `+`, `#`, spaces or upper case (topics are case-sensitive; ids typed by people are not).
 */
export const ZONE_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/** One place in the hierarchy. `geometry` is null where a boundary is not needed (a nation). */
export interface Zone {
  id: string;
  name: string;
  level: ZoneLevel;
  parentId: string | null;
  geometry: ZoneGeometry | null;
  properties: Record<string, unknown>;
}

/**
 * @example
 *   isZoneLevel('ward'); // → false
 */
export function isZoneLevel(value: unknown): value is ZoneLevel {
  return typeof value === 'string' && (ZONE_LEVELS as readonly string[]).includes(value);
}

/**
 * How the validator names an item and its fields, so a zone file and a list built in code each
 * get errors in their own vocabulary (`feature 3 (zone_id "x"): property "level"` vs
 * `zone 3 (id "x"): level`).
 */
export interface ZoneWording {
  item: string;
  idKey: string;
  field: { id: string; parentId: string; level: string };
}

const TREE_WORDING: ZoneWording = {
  item: 'zone',
  idKey: 'id',
  field: { id: 'id', parentId: 'parentId', level: 'level' },
};

/** `feature 3 (zone_id "x")` — shared with the zone file parser so both name items alike. */
export function describeItem(wording: ZoneWording, index: number, id: unknown): string {
  return typeof id === 'string' ? `${wording.item} ${index} (${wording.idKey} ${JSON.stringify(id)})` : `${wording.item} ${index}`;
}

/** Why `id` is not a usable zone id, or null when it is. */
export function zoneIdProblem(id: string): string | null {
  if (ZONE_ID_PATTERN.test(id)) return null;
  return `is ${JSON.stringify(id)} but must be 1 to 64 characters of a-z, 0-9, "_" or "-", starting with a letter or digit, because zone ids appear in MQTT topics`;
}

/**
 * Checks what makes a list of zones a tree: usable unique ids, known parents, each level below
 * its parent's. Levels strictly falling towards the root also rule out cycles.
 *
 * @example
 *   validateZones(zones); // throws CITY_ERR_ZONE_FILE_INVALID on the first problem
 */
export function validateZones(zones: readonly Zone[], wording: ZoneWording = TREE_WORDING): void {
  const fail = (index: number, text: string): never => {
    throw cityError('ZONE_FILE_INVALID', { reason: `${describeItem(wording, index, zones[index]?.id)}: ${text}` });
  };
  const indexById = new Map<string, number>();
  zones.forEach((zone, i) => {
    if (typeof zone.id !== 'string') fail(i, `${wording.field.id} must be a string`);
    const idProblem = zoneIdProblem(zone.id);
    if (idProblem) fail(i, `${wording.field.id} ${idProblem}`);
    const first = indexById.get(zone.id);
    if (first !== undefined) fail(i, `${wording.field.id} ${JSON.stringify(zone.id)} is also the id of ${wording.item} ${first}`);
    indexById.set(zone.id, i);
    if (!isZoneLevel(zone.level)) fail(i, `${wording.field.level} must be one of ${ZONE_LEVELS.join(', ')}`);
  });
  zones.forEach((zone, i) => {
    if (zone.parentId === null) return;
    const p = indexById.get(zone.parentId);
    const f = wording.field.parentId;
    if (p === undefined) return fail(i, `${f} ${JSON.stringify(zone.parentId)} is not the id of any zone`);
    if (p === i) return fail(i, `${f} names the zone itself`);
    const parent = zones[p]!;
    if (ZONE_LEVELS.indexOf(zone.level) >= ZONE_LEVELS.indexOf(parent.level)) {
      fail(i, `${wording.field.level} "${zone.level}" must be below the level "${parent.level}" of its parent ${JSON.stringify(parent.id)} (${ZONE_LEVELS.join(' < ')})`);
    }
  });
}

interface Node {
  zone: Zone;
  children: Zone[];
  /** Nearest first; filled lazily because parents may come after their children in the input. */
  ancestors?: Zone[];
}

/**
 * The zone hierarchy (nation → state → city → district → neighbourhood), validated on
 * construction. Several roots are allowed, e.g. two cities without a shared state.
 *
 * @example
 *   const tree = new ZoneTree(await loadZoneFile('examples/cities/chennai/city.geojson'));
 *   tree.ancestors('chennai-w119').map((z) => z.id); // → ['chennai-z09', 'chennai', 'in-tn', 'in']
 *   tree.isWithin('chennai-w119', 'chennai'); // → true
 */
export class ZoneTree {
  readonly #nodes = new Map<string, Node>();
  readonly #zones: readonly Zone[];
  readonly #roots: Zone[] = [];

  constructor(zones: readonly Zone[]) {
    validateZones(zones);
    this.#zones = [...zones];
    for (const zone of zones) this.#nodes.set(zone.id, { zone, children: [] });
    for (const zone of zones) {
      if (zone.parentId === null) this.#roots.push(zone);
      else this.#nodes.get(zone.parentId)!.children.push(zone);
    }
  }

  get size(): number {
    return this.#zones.length;
  }

  has(id: string): boolean {
    return this.#nodes.has(id);
  }

  /** @throws CITY_ERR_ZONE_NOT_FOUND */
  get(id: string): Zone {
    return this.#node(id).zone;
  }

  /** Direct children, in input order. */
  children(id: string): readonly Zone[] {
    return this.#node(id).children;
  }

  /** Parent, grandparent, … up to the root; empty for a root. */
  ancestors(id: string): readonly Zone[] {
    const node = this.#node(id);
    if (!node.ancestors) {
      const parentId = node.zone.parentId;
      node.ancestors = parentId === null ? [] : [this.get(parentId), ...this.ancestors(parentId)];
    }
    return node.ancestors;
  }

  /** The zone and everything below it; a fresh Set the caller may change. */
  subtreeIds(id: string): Set<string> {
    const ids = new Set<string>();
    const stack = [this.#node(id).zone];
    for (let zone = stack.pop(); zone; zone = stack.pop()) {
      ids.add(zone.id);
      stack.push(...this.#node(zone.id).children);
    }
    return ids;
  }

  /** True when `id` is `ancestorId` or lies below it — the check an authority scope needs. */
  isWithin(id: string, ancestorId: string): boolean {
    this.#node(ancestorId);
    return id === ancestorId ? this.has(id) : this.ancestors(id).some((z) => z.id === ancestorId);
  }

  roots(): readonly Zone[] {
    return this.#roots;
  }

  /** Every zone, in input order. */
  all(): readonly Zone[] {
    return this.#zones;
  }

  /**
   * The zones in the zone file format, e.g. for a map layer. Geometries are shared, not copied.
   *
   * @example
   *   tree.toFeatureCollection({ level: 'neighbourhood' }).features.length; // → 201 for Chennai
   */
  toFeatureCollection(filter: { level?: ZoneLevel } = {}): FeatureCollection {
    const features: Feature[] = [];
    for (const zone of this.#zones) {
      if (filter.level !== undefined && zone.level !== filter.level) continue;
      const { zone_id: _i, name: _n, level: _l, parent_id: _p, ...rest } = zone.properties;
      features.push({
        type: 'Feature',
        geometry: zone.geometry,
        properties: { zone_id: zone.id, name: zone.name, level: zone.level, parent_id: zone.parentId, ...rest },
      });
    }
    return { type: 'FeatureCollection', features };
  }

  #node(id: string): Node {
    const node = this.#nodes.get(id);
    if (!node) throw cityError('ZONE_NOT_FOUND', { zoneId: id });
    return node;
  }
}
