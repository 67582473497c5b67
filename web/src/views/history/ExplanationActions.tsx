import { useId } from 'react';
import { formatTime } from '../../components/time';
import { ActionStatusBadge } from '../shared-decision/ApprovalStatus';
import type { Explanation } from '../shared-decision/types';

/** What the decision's actions did: status, attempts, result and the last error, each attempt on demand. */
export function ExplanationActions({ x }: { x: Explanation }) {
  const id = useId();
  return (
    <section aria-labelledby={id}>
      <h3 id={id}>Actions ({x.actions.length})</h3>
      {x.actions.length === 0 ? (
        <p className="muted">This decision has no actions.</p>
      ) : (
        <table className="history-table">
          <caption className="sr-only">The decision's actions in order</caption>
          <thead>
            <tr>
              <th scope="col">Action</th>
              <th scope="col">Status</th>
              <th scope="col">Attempts</th>
              <th scope="col">Result</th>
            </tr>
          </thead>
          <tbody>
            {x.actions.map((a) => (
              <tr key={a.action_id}>
                <td data-label="Action">
                  {a.position + 1}. {a.type}
                  {a.target ? ` → ${a.target}` : ''}
                </td>
                <td data-label="Status">
                  <ActionStatusBadge status={a.status} />
                  {a.executed_at ? <span className="muted"> {formatTime(a.executed_at)}</span> : null}
                </td>
                <td data-label="Attempts">{a.attempts}</td>
                <td data-label="Result" className="history-result">
                  {a.result ?? '—'}
                  {a.last_error ? <span className="error"> Last error: {a.last_error}</span> : null}
                  {a.attempts_log.length > 0 && (
                    <details>
                      <summary>Attempts ({a.attempts_log.length})</summary>
                      <ol>
                        {a.attempts_log.map((t) => (
                          <li key={t.attempt}>
                            {formatTime(t.finished_at)}: {t.ok ? 'succeeded' : 'failed'} — {t.detail}
                          </li>
                        ))}
                      </ol>
                    </details>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
