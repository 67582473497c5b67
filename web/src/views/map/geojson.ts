import type { Feature, FeatureCollection, Geometry, Point, Position } from 'geojson';
import type { ResourceState } from '../../api/types';
import { severityRank } from '../../api/types';
import { canonicalSeverity } from '../../components/Severity';
import type { MapItem } from './items';

/** What the filter bar chooses; applied to the map and the list alike. */
export interface MapFilters {
  /** 0 = every severity, including none; 1–4 = at least low … critical. */
  minRank: number;
  events: boolean;
  decisions: boolean;
  resources: boolean;
}

export const ALL_FILTERS: MapFilters = { minRank: 0, events: true, decisions: true, resources: true };

export function passes(item: MapItem, f: MapFilters): boolean {
  if (item.kind === 'event' ? !f.events : !f.decisions) return false;
  return f.minRank === 0 || severityRank(item.severity) >= f.minRank;
}

/**
 * The properties the style reads: `key` to find the item again on click, `kind` for the shape,
 * `severity` (canonical word) for the colour and `rank` so a cluster can take its worst one.
 */
export interface PointProps {
  key: string;
  kind: 'event' | 'decision';
  severity: string;
  rank: number;
}

export function pointCollection(items: readonly MapItem[], f: MapFilters): FeatureCollection<Point, PointProps> {
  const features: Feature<Point, PointProps>[] = [];
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    if (item.location === null || !passes(item, f)) continue;
    features.push({
      type: 'Feature',
      geometry: { type: 'Point', coordinates: [item.location.longitude, item.location.latitude] },
      properties: { key: item.key, kind: item.kind, severity: canonicalSeverity(item.severity), rank: severityRank(item.severity) },
    });
  }
  return { type: 'FeatureCollection', features };
}

/** Resources by availability: 'available', 'out' (out_of_service) or 'busy' (anything else). */
export function availability(status: string): 'available' | 'busy' | 'out' {
  return status === 'available' ? 'available' : status === 'out_of_service' ? 'out' : 'busy';
}

export function resourceCollection(items: readonly ResourceState[], f: MapFilters): FeatureCollection<Point> {
  const features: Feature<Point>[] = [];
  if (f.resources) {
    for (const r of items) {
      if (r.location === null) continue;
      features.push({
        type: 'Feature',
        geometry: { type: 'Point', coordinates: [r.location.longitude, r.location.latitude] },
        properties: { key: `r:${r.resource_id}`, availability: availability(r.status) },
      });
    }
  }
  return { type: 'FeatureCollection', features };
}

/** Zones with a geometry (the nation and state of the demo city have none, and draw nothing). */
export function drawableZones(zones: FeatureCollection): FeatureCollection {
  return { type: 'FeatureCollection', features: zones.features.filter((z) => z.geometry !== null) };
}

export type Bounds = [[number, number], [number, number]];

/** [[west, south], [east, north]] of the zones given (all when `zoneId` is null or unknown). */
export function zoneBounds(zones: FeatureCollection, zoneId: string | null | undefined): Bounds | null {
  const scoped = zoneId ? zones.features.filter((z) => z.properties?.zone_id === zoneId && z.geometry !== null) : [];
  const chosen = scoped.length > 0 ? scoped : zones.features;
  const b: Bounds = [[Infinity, Infinity], [-Infinity, -Infinity]];
  const add = (p: Position) => {
    const [x = NaN, y = NaN] = p;
    if (x < b[0][0]) b[0][0] = x;
    if (y < b[0][1]) b[0][1] = y;
    if (x > b[1][0]) b[1][0] = x;
    if (y > b[1][1]) b[1][1] = y;
  };
  for (const z of chosen) if (z.geometry) eachPosition(z.geometry, add);
  return Number.isFinite(b[0][0]) ? b : null;
}

function eachPosition(g: Geometry, fn: (p: Position) => void): void {
  switch (g.type) {
    case 'Point': return fn(g.coordinates);
    case 'MultiPoint': case 'LineString': return g.coordinates.forEach(fn);
    case 'MultiLineString': case 'Polygon': return g.coordinates.forEach((r) => r.forEach(fn));
    case 'MultiPolygon': return g.coordinates.forEach((p) => p.forEach((r) => r.forEach(fn)));
    case 'GeometryCollection': return g.geometries.forEach((c) => eachPosition(c, fn));
  }
}

export interface ZoneNames {
  /** "Ward 119"; the id when the zone has no name; "no zone" for null. */
  name(zoneId: string | null): string;
  /** "Ward 119 (Teynampet)": the zone with its parent, for the map's hover label. */
  label(zoneId: string): string;
}

export function zoneNames(zones: FeatureCollection | undefined): ZoneNames {
  const byId = new Map<string, { name: string; parent: string | null }>();
  for (const z of zones?.features ?? []) {
    const id = z.properties?.zone_id as string | undefined;
    if (id) byId.set(id, { name: (z.properties?.name as string | null) ?? id, parent: (z.properties?.parent_id as string | null) ?? null });
  }
  const name = (id: string | null) => (id === null ? 'no zone' : (byId.get(id)?.name ?? id));
  return {
    name,
    label: (id) => {
      const parent = byId.get(id)?.parent ?? null;
      return parent && byId.has(parent) ? `${name(id)} (${name(parent)})` : name(id);
    },
  };
}
