import { useMemo } from 'react';
import { useQuery } from '@tanstack/react-query';
import type { FeatureCollection, Geometry } from 'geojson';
import { api } from './client';

export interface ZoneInfo {
  id: string;
  name: string | null;
  level: string | null;
  parentId: string | null;
}

interface ZoneProperties {
  zone_id: string;
  name?: string | null;
  level?: string | null;
  parent_id?: string | null;
}

/** Levels from the top down (src/geo/zones.ts ZONE_LEVELS), with what a zone list calls them. */
const LEVELS: Array<[string, string]> = [
  ['nation', 'Nation'],
  ['state', 'State'],
  ['city', 'City'],
  ['district', 'Districts'],
  ['neighbourhood', 'Neighbourhoods (wards)'],
];

/**
 * The tenant's zone tree (public geography, GET /api/v1/zones). The node has no list of zones
 * without their geometry, so the whole collection (~450 kB for Chennai) is fetched once per
 * session under one key: the map draws it, the other views read names and parents from it.
 */
export function useZoneCollection() {
  return useQuery({
    queryKey: ['zones', 'all'],
    queryFn: ({ signal }) => api<FeatureCollection<Geometry, ZoneProperties>>('/api/v1/zones', { signal }),
    staleTime: Infinity,
    gcTime: Infinity,
  });
}

export interface Zones {
  byId: ReadonlyMap<string, ZoneInfo>;
  isPending: boolean;
  error: unknown;
  /** "Ward 119 (chennai-w119)", or the id alone when the zone is unknown. */
  label(id: string | null): string;
  /** The zone and every zone inside it. */
  subtree(id: string): Set<string>;
  /** The zones in `scopeZoneId`'s subtree (all without one), by level from the top down, each sorted by id. */
  groupsInScope(scopeZoneId: string | null | undefined): Array<{ level: string; label: string; zones: ZoneInfo[] }>;
}

export function useZones(): Zones {
  const query = useZoneCollection();
  return useMemo(() => {
    const byId = new Map<string, ZoneInfo>();
    const children = new Map<string, string[]>();
    for (const f of query.data?.features ?? []) {
      const p = f.properties;
      const parentId = p.parent_id ?? null;
      byId.set(p.zone_id, { id: p.zone_id, name: p.name ?? null, level: p.level ?? null, parentId });
      if (parentId) children.set(parentId, [...(children.get(parentId) ?? []), p.zone_id]);
    }
    const subtree = (id: string) => {
      const out = new Set<string>();
      const stack = [id];
      while (stack.length > 0) {
        const z = stack.pop()!;
        if (out.has(z)) continue;
        out.add(z);
        stack.push(...(children.get(z) ?? []));
      }
      return out;
    };
    return {
      byId,
      isPending: query.isPending,
      error: query.error,
      label: (id) => {
        if (id === null) return 'no zone';
        const name = byId.get(id)?.name;
        return name ? `${name} (${id})` : id;
      },
      subtree,
      groupsInScope: (scopeZoneId) => {
        const inScope = scopeZoneId ? subtree(scopeZoneId) : null;
        const byLevel = new Map<string, ZoneInfo[]>();
        for (const z of byId.values()) {
          if (inScope && !inScope.has(z.id)) continue;
          const level = z.level ?? 'other';
          byLevel.set(level, [...(byLevel.get(level) ?? []), z]);
        }
        const rank = (level: string) => {
          const i = LEVELS.findIndex(([l]) => l === level);
          return i === -1 ? LEVELS.length : i;
        };
        return [...byLevel.entries()]
          .sort((a, b) => rank(a[0]) - rank(b[0]))
          .map(([level, zones]) => ({
            level,
            label: LEVELS.find(([l]) => l === level)?.[1] ?? level,
            zones: zones.sort((a, b) => a.id.localeCompare(b.id, undefined, { numeric: true })),
          }));
      },
    };
  }, [query.data, query.isPending, query.error]);
}
