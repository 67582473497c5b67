/** Nesting shown before the rest is summarised, so one deep payload cannot flood the panel. */
const MAX_DEPTH = 3;
const MAX_KEYS = 40;

/**
 * Any JSON value (an event's payload, a condition's values) as readable key/value pairs:
 * `vehicle_data: license_plate TN09AB1234, speed_kmh 85` rather than raw JSON. Links stay links
 * (evidence is usually a URL), opened in a new tab without telling the other site where from.
 */
export function KeyValues({ value, depth = 0 }: { value: unknown; depth?: number }) {
  if (value === null || value === undefined) return <span className="muted">—</span>;
  if (typeof value !== 'object') return <Scalar value={value} />;
  if (Array.isArray(value)) {
    if (value.length === 0) return <span className="muted">none</span>;
    if (value.every((v) => v === null || typeof v !== 'object')) {
      return (
        <span>
          {value.map((v, i) => (
            <span key={i}>
              {i > 0 && ', '}
              <Scalar value={v} />
            </span>
          ))}
        </span>
      );
    }
  }
  if (depth >= MAX_DEPTH) return <code>{JSON.stringify(value)}</code>;
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return <span className="muted">none</span>;
  return (
    <dl className="map-kv">
      {entries.slice(0, MAX_KEYS).map(([k, v]) => (
        <div key={k} className="map-kv-row">
          <dt>{Array.isArray(value) ? `#${Number(k) + 1}` : k.replace(/_/g, ' ')}</dt>
          <dd>
            <KeyValues value={v} depth={depth + 1} />
          </dd>
        </div>
      ))}
      {entries.length > MAX_KEYS && <p className="muted">and {entries.length - MAX_KEYS} more</p>}
    </dl>
  );
}

function Scalar({ value }: { value: unknown }) {
  if (value === null || value === undefined) return <span className="muted">—</span>;
  const text = String(value);
  if (typeof value === 'string' && /^https?:\/\//.test(value)) {
    return (
      <a href={value} target="_blank" rel="noreferrer noopener">
        {text}
      </a>
    );
  }
  return <span>{text}</span>;
}
