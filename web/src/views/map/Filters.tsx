import type { ChangeEvent } from 'react';
import { SEVERITIES } from '../../api/types';
import type { MapFilters } from './geojson';

/** Minimum severity and which kinds to show; one form above the map, applied to map and list. */
export function Filters({ value, onChange }: { value: MapFilters; onChange(next: MapFilters): void }) {
  const toggle = (kind: 'events' | 'decisions' | 'resources') => (e: ChangeEvent<HTMLInputElement>) => onChange({ ...value, [kind]: e.target.checked });
  return (
    <form className="map-filters" aria-label="Map filters" onSubmit={(e) => e.preventDefault()}>
      <label className="map-filter-severity">
        Minimum severity
        <select value={value.minRank} onChange={(e) => onChange({ ...value, minRank: Number(e.target.value) })}>
          <option value={0}>any</option>
          {SEVERITIES.map((s, i) => (
            <option key={s} value={i + 1}>
              {s}
            </option>
          ))}
        </select>
      </label>
      <fieldset className="map-filter-kinds">
        <legend>Show</legend>
        <label>
          <input type="checkbox" checked={value.events} onChange={toggle('events')} /> Events
        </label>
        <label>
          <input type="checkbox" checked={value.decisions} onChange={toggle('decisions')} /> Decisions
        </label>
        <label>
          <input type="checkbox" checked={value.resources} onChange={toggle('resources')} /> Resources
        </label>
      </fieldset>
    </form>
  );
}
