import type { ReactNode } from 'react';

/** A definition list of [label, value] rows. */
export function Facts({ rows }: { rows: Array<[string, ReactNode]> }) {
  return (
    <dl className="map-facts">
      {rows.map(([label, value]) => (
        <div key={label} className="map-facts-row">
          <dt>{label}</dt>
          <dd>{value}</dd>
        </div>
      ))}
    </dl>
  );
}

export function place(location: { latitude: number; longitude: number } | null | undefined): string {
  return location ? `${location.latitude.toFixed(5)}, ${location.longitude.toFixed(5)}` : 'not given';
}
