import { SEVERITIES } from '../../api/types';
import { SEVERITY_COLOURS } from '../../components/Severity';
import { RESOURCE_LOOK } from './map-style';
import type { ResourcesAnswer } from './use-map-data';

/**
 * What the shapes and colours mean, and the resources by type ("ambulance 3/5 available"). The
 * symbols are decoration: every entry says its meaning in words.
 */
export function Legend({ resources }: { resources: ResourcesAnswer | undefined }) {
  const types = Object.entries(resources?.by_type ?? {}).sort(([a], [b]) => a.localeCompare(b));
  return (
    <section className="map-legend" aria-label="Legend">
      <ul className="map-legend-keys">
        {SEVERITIES.map((s) => (
          <li key={s}>
            <Swatch shape="circle" colour={SEVERITY_COLOURS[s]!} /> {s}
          </li>
        ))}
        <li>
          <Swatch shape="ring" colour={SEVERITY_COLOURS.none!} /> decision
        </li>
        <li>
          <Swatch shape="square" colour={RESOURCE_LOOK.available.colour} /> available
        </li>
        <li>
          <Swatch shape="diamond" colour={RESOURCE_LOOK.busy.colour} /> busy
        </li>
        <li>
          <Swatch shape="cross" colour={RESOURCE_LOOK.out.colour} /> out of service
        </li>
      </ul>
      <h3 className="map-legend-title">Resources</h3>
      {types.length === 0 ? (
        <p className="muted">{resources ? 'No resources reported in your area.' : 'Loading resources…'}</p>
      ) : (
        <ul className="map-legend-resources">
          {types.map(([type, counts]) => (
            <li key={type}>
              {type.replace(/_/g, ' ')} {counts.available}/{counts.total} available
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function Swatch({ shape, colour }: { shape: 'circle' | 'ring' | 'square' | 'diamond' | 'cross'; colour: string }) {
  return (
    <svg className="map-swatch" width="14" height="14" viewBox="0 0 14 14" aria-hidden="true">
      {shape === 'circle' && <circle cx="7" cy="7" r="5" fill={colour} />}
      {shape === 'ring' && <circle cx="7" cy="7" r="5" fill={colour} stroke="#fff" strokeWidth="2" />}
      {(shape === 'square' || shape === 'cross') && <rect x="2" y="2" width="10" height="10" fill={colour} stroke="#0b1620" />}
      {shape === 'cross' && <path d="M4 4l6 6M10 4l-6 6" stroke="#0b1620" strokeWidth="1.5" />}
      {shape === 'diamond' && <path d="M7 1l6 6-6 6-6-6z" fill={colour} stroke="#0b1620" />}
    </svg>
  );
}
