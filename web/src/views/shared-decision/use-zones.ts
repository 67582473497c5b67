import { useMemo } from 'react';
import { useQuery } from '@tanstack/react-query';
import { api } from '../../api/client';

export interface ZoneInfo {
  id: string;
  name: string | null;
  level: string | null;
  parentId: string | null;
}

interface ZoneCollection {
  features: Array<{ properties: { zone_id: string; name?: string | null; level?: string | null; parent_id?: string | null } }>;
}

export interface Zones {
  byId: ReadonlyMap<string, ZoneInfo>;
  /** "Ward 119 (chennai-w119)", or the id alone when the zone is unknown. */
  label(id: string | null): string;
  /** The zone and every zone inside it. */
  subtree(id: string): Set<string>;
}

/**
 * The tenant's zone tree (public geography, GET /api/v1/zones). The node has no list of zones
 * without their geometry, so the whole collection (~450 kB for Chennai) is fetched once per
 * session and kept: the views need only names and parents from it.
 */
export function useZones(): Zones {
  const query = useQuery({
    queryKey: ['zones', 'all'],
    queryFn: ({ signal }) => api<ZoneCollection>('/api/v1/zones', { signal }),
    staleTime: Infinity,
    gcTime: Infinity,
  });
  return useMemo(() => {
    const byId = new Map<string, ZoneInfo>();
    const children = new Map<string, string[]>();
    for (const f of query.data?.features ?? []) {
      const p = f.properties;
      const parentId = p.parent_id ?? null;
      byId.set(p.zone_id, { id: p.zone_id, name: p.name ?? null, level: p.level ?? null, parentId });
      if (parentId) children.set(parentId, [...(children.get(parentId) ?? []), p.zone_id]);
    }
    return {
      byId,
      label: (id) => {
        if (id === null) return 'no zone';
        const name = byId.get(id)?.name;
        return name ? `${name} (${id})` : id;
      },
      subtree: (id) => {
        const out = new Set<string>();
        const stack = [id];
        while (stack.length > 0) {
          const z = stack.pop()!;
          if (out.has(z)) continue;
          out.add(z);
          stack.push(...(children.get(z) ?? []));
        }
        return out;
      },
    };
  }, [query.data]);
}
