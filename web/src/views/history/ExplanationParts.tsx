import { useId } from 'react';
import { SeverityBadge } from '../../components/Severity';
import { formatTime } from '../../components/time';
import type { Explanation } from '../shared-decision/types';
import type { Zones } from '../../api/zones';

/** The rule that matched, its condition, and each comparison with the value read and whether it held. */
export function RuleAndConditions({ x }: { x: Explanation }) {
  const id = useId();
  return (
    <section aria-labelledby={id}>
      <h3 id={id}>Rule and condition</h3>
      <dl className="history-pairs">
        <div>
          <dt>Rule</dt>
          <dd>
            {x.rule.trigger} <span className="muted">({x.rule.kind.replaceAll('_', ' ')}, id {x.rule.id})</span>
          </dd>
        </div>
        <div>
          <dt>Condition</dt>
          <dd>
            <code>{x.rule.condition ?? 'none (every event)'}</code>
          </dd>
        </div>
      </dl>
      {x.conditions.map((c, i) => (
        <div key={i} className="history-condition">
          <p className="muted">
            {c.role} condition <code>{c.source}</code> read:
          </p>
          {c.comparisons.length > 0 ? (
            <ul className="history-comparisons">
              {c.comparisons.map((k) => (
                <li key={k.text} className={k.holds ? 'history-holds' : 'history-fails'}>
                  <span aria-hidden="true">{k.holds ? '✓ ' : '✗ '}</span>
                  <code>{k.text}</code> <span className="muted">{k.holds ? '(held)' : '(did not hold)'}</span>
                </li>
              ))}
            </ul>
          ) : (
            <ul className="history-comparisons">
              {Object.entries(c.values).map(([k, v]) => (
                <li key={k}>
                  <code>
                    {k} = {JSON.stringify(v)}
                  </code>
                </li>
              ))}
            </ul>
          )}
        </div>
      ))}
      {x.rule.source_text && (
        <details>
          <summary>Rule source</summary>
          <pre className="history-pre">{x.rule.source_text}</pre>
        </details>
      )}
    </section>
  );
}

/** The events the decision was made from, trigger first, each with its payload on demand. */
export function MatchedEvents({ x, zones }: { x: Explanation; zones: Zones }) {
  const id = useId();
  return (
    <section aria-labelledby={id}>
      <h3 id={id}>Matched events ({x.events.length})</h3>
      {x.events.length === 0 ? (
        <p className="muted">The events of this decision are no longer stored.</p>
      ) : (
        <ul className="history-events">
          {x.events.map((e, i) => (
            <li key={e.event_id}>
              <p>
                {i === 0 ? <strong>Trigger: </strong> : null}
                <code className="history-id">{e.event_id}</code> {e.event_type} from {e.plugin_id} {e.plugin_version} · {formatTime(e.time)} · {zones.label(e.zone_id)} ·{' '}
                <SeverityBadge severity={e.severity} /> · confidence {e.confidence === null ? 'not given' : `${Math.round(e.confidence * 100)} %`}
              </p>
              <details>
                <summary>Payload of {e.event_id}</summary>
                <pre className="history-pre">{JSON.stringify(e.payload, null, 2)}</pre>
              </details>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
