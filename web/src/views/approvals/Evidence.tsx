import type { PendingApproval } from '../shared-decision/types';
import { formatTime } from '../../components/time';

/** Fields of the trigger event shown per item at most (a payload can be large). */
const MAX_FIELDS = 16;

/**
 * The payload's plain values as "path: value" pairs (`vehicle_data.speed_kmh: 85`), for an
 * officer to read what the plugin reported. URLs are left out: they are listed as evidence.
 */
export function payloadFields(payload: unknown, prefix = '', out: Array<[string, string]> = []): Array<[string, string]> {
  if (out.length >= MAX_FIELDS || payload === null || payload === undefined) return out;
  if (typeof payload !== 'object') {
    const text = String(payload);
    if (!/^https?:\/\//i.test(text)) out.push([prefix || 'value', text]);
    return out;
  }
  if (Array.isArray(payload)) {
    if (payload.every((v) => typeof v !== 'object')) {
      const text = payload.filter((v) => !/^https?:\/\//i.test(String(v))).join(', ');
      if (text) out.push([prefix, text]);
      return out;
    }
    payload.forEach((v, i) => payloadFields(v, `${prefix}[${i}]`, out));
    return out;
  }
  for (const [k, v] of Object.entries(payload as Record<string, unknown>)) payloadFields(v, prefix ? `${prefix}.${k}` : k, out);
  return out;
}

function percent(confidence: number | null | undefined): string {
  return confidence === null || confidence === undefined ? 'not given' : `${Math.round(confidence * 100)} %`;
}

/**
 * What the officer decides on (seed 001 §8.2 step 4): the evidence links, the plugin's
 * confidence, the condition values the rule read, the trigger event's fields and the other
 * events the rule matched, all carried by the queue item.
 */
export function Evidence({ item }: { item: PendingApproval }) {
  const trigger = item.trigger_event;
  const conditions = item.conditions;
  const matched = item.matched_events;
  const fields = trigger ? payloadFields(trigger.payload) : [];

  return (
    <section className="approvals-evidence" aria-label="Evidence">
      <p className="approvals-summary">{item.event_summary}</p>
      {item.evidence_urls.length > 0 && (
        <ul className="approvals-links" aria-label="Evidence links">
          {item.evidence_urls.map((url) => (
            <li key={url}>
              <a href={url} target="_blank" rel="noreferrer noopener">
                {url.replace(/^https?:\/\//, '')}
              </a>
            </li>
          ))}
        </ul>
      )}
      {trigger && (
        <p>
          Plugin confidence: <strong>{percent(trigger.confidence)}</strong> <span className="muted">({trigger.plugin_id})</span>
        </p>
      )}
      {conditions.map((c, i) => (
        <div key={i} className="approvals-condition">
          <span className="muted">Condition{c.role && c.role !== 'trigger' ? ` (${c.role})` : ''}:</span> <code>{c.source}</code>
          <ul className="approvals-values" aria-label="Values the rule read">
            {Object.entries(c.values ?? {}).map(([k, v]) => (
              <li key={k}>
                {k} = <strong>{typeof v === 'object' ? JSON.stringify(v) : String(v)}</strong>
              </li>
            ))}
          </ul>
        </div>
      ))}
      {fields.length > 0 && (
        <details>
          <summary>Trigger event fields ({fields.length})</summary>
          <dl className="approvals-fields">
            {fields.map(([k, v]) => (
              <div key={k}>
                <dt>{k}</dt>
                <dd>{v}</dd>
              </div>
            ))}
          </dl>
        </details>
      )}
      {matched.length > 0 && (
        <details>
          <summary>Matched events ({matched.length})</summary>
          <ul className="approvals-matched">
            {matched.map((m) => (
              <li key={m.event_id}>
                <code>{m.event_id}</code> {m.event_type ?? 'event'} from {m.plugin_id ?? 'unknown plugin'}, {formatTime(m.timestamp)}, confidence {percent(m.confidence)}
                {m.role ? <span className="muted"> ({m.role})</span> : null}
              </li>
            ))}
          </ul>
        </details>
      )}
    </section>
  );
}
