import { useMemo } from 'react';
import { useSession } from '../../api/session';
import { useZones } from '../shared-decision/use-zones';

const LEVEL_ORDER = ['nation', 'state', 'city', 'district', 'neighbourhood'];
const LEVEL_LABEL: Record<string, string> = { nation: 'Nation', state: 'State', city: 'City', district: 'Districts', neighbourhood: 'Neighbourhoods (wards)' };

/**
 * The zone filter: the zones in the user's scope, by level, from the node's zone tree (a zone
 * includes every zone inside it). Without the tree (not loaded, or failed) it is a text field
 * for a zone id.
 */
export function ZoneSelect({ id, value, onChange }: { id: string; value: string; onChange(v: string): void }) {
  const { me } = useSession();
  const zones = useZones();
  const groups = useMemo(() => {
    const inScope = me?.scope_zone_id ? zones.subtree(me.scope_zone_id) : null;
    const byLevel = new Map<string, Array<{ id: string; name: string | null }>>();
    for (const z of zones.byId.values()) {
      if (inScope && !inScope.has(z.id)) continue;
      const level = z.level ?? 'other';
      byLevel.set(level, [...(byLevel.get(level) ?? []), { id: z.id, name: z.name }]);
    }
    const rank = (l: string) => (LEVEL_ORDER.indexOf(l) + LEVEL_ORDER.length + 1) % (LEVEL_ORDER.length + 1);
    return [...byLevel.entries()]
      .sort((a, b) => rank(a[0]) - rank(b[0]))
      .map(([level, list]) => ({ level, list: list.sort((a, b) => a.id.localeCompare(b.id, undefined, { numeric: true })) }));
  }, [zones, me?.scope_zone_id]);

  if (zones.byId.size === 0) {
    return <input id={id} value={value} onChange={(e) => onChange(e.target.value.trim())} placeholder={me?.scope_zone_id ?? 'e.g. chennai-z09'} spellCheck={false} />;
  }
  return (
    <select id={id} value={value} onChange={(e) => onChange(e.target.value)}>
      <option value="">{me?.scope_zone_id ? 'All my zones' : 'All zones'}</option>
      {groups.map((g) => (
        <optgroup key={g.level} label={LEVEL_LABEL[g.level] ?? g.level}>
          {g.list.map((z) => (
            <option key={z.id} value={z.id}>
              {z.name ? `${z.name} (${z.id})` : z.id}
            </option>
          ))}
        </optgroup>
      ))}
    </select>
  );
}
