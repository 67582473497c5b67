import { useMemo } from 'react';
import { useSession } from '../../api/session';
import { useZones } from '../../api/zones';

/**
 * The zone filter: the zones in the user's scope, by level, from the node's zone tree (a zone
 * includes every zone inside it). Without the tree (not loaded, or failed) it is a text field
 * for a zone id.
 */
export function ZoneSelect({ id, value, onChange }: { id: string; value: string; onChange(v: string): void }) {
  const { me } = useSession();
  const zones = useZones();
  const groups = useMemo(() => zones.groupsInScope(me?.scope_zone_id), [zones, me?.scope_zone_id]);

  if (zones.byId.size === 0) {
    return <input id={id} value={value} onChange={(e) => onChange(e.target.value.trim())} placeholder={me?.scope_zone_id ?? 'e.g. chennai-z09'} spellCheck={false} />;
  }
  return (
    <select id={id} value={value} onChange={(e) => onChange(e.target.value)}>
      <option value="">{me?.scope_zone_id ? 'All my zones' : 'All zones'}</option>
      {groups.map((g) => (
        <optgroup key={g.level} label={g.label}>
          {g.zones.map((z) => (
            <option key={z.id} value={z.id}>
              {z.name ? `${z.name} (${z.id})` : z.id}
            </option>
          ))}
        </optgroup>
      ))}
    </select>
  );
}
