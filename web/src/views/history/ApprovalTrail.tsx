import { useId } from 'react';
import { useSession } from '../../api/session';
import { formatTime } from '../../components/time';
import type { Explanation } from '../shared-decision/types';

const ANSWERED: Record<string, string> = { approve: 'approved', reject: 'rejected', escalate: 'escalated' };

/**
 * Who answered the approval request, when, at which level and with what notes (the approval
 * history), the escalations so far and the fail-safe that was or is waiting.
 */
export function ApprovalTrail({ x }: { x: Explanation }) {
  const id = useId();
  const { me } = useSession();
  const a = x.approval;
  const who = (actor: string) => (actor === me?.user_id ? `you (${actor})` : actor === 'fail-safe' ? 'the fail-safe' : actor);
  return (
    <section aria-labelledby={id}>
      <h3 id={id}>Approval trail</h3>
      {!a ? (
        <p className="muted">This decision needed no approval.</p>
      ) : (
        <>
          <dl className="history-pairs">
            <div>
              <dt>Request</dt>
              <dd>
                {a.status} · {a.approval_type} · level L{a.level}
              </dd>
            </div>
            <div>
              <dt>Requested</dt>
              <dd>{formatTime(a.requested_at)}</dd>
            </div>
            <div>
              <dt>Fail-safe</dt>
              <dd>{a.fail_safe_action ? `${a.fail_safe_action}${a.deadline ? ` at ${formatTime(a.deadline)}` : ''}` : 'none'}</dd>
            </div>
            <div>
              <dt>Escalations</dt>
              <dd>{a.escalations}</dd>
            </div>
            {a.approved_by && (
              <div>
                <dt>Approved by</dt>
                <dd>
                  {who(a.approved_by)} at {formatTime(a.approved_at)}
                </dd>
              </div>
            )}
            {a.rejected_by && (
              <div>
                <dt>Rejected by</dt>
                <dd>
                  {who(a.rejected_by)} at {formatTime(a.rejected_at)}
                </dd>
              </div>
            )}
          </dl>
          {a.history.length === 0 ? (
            <p className="muted">Nobody has answered yet.</p>
          ) : (
            <table className="history-table history-trail">
              <caption className="sr-only">Answers to the approval request, oldest first</caption>
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">Who</th>
                  <th scope="col">Answer</th>
                  <th scope="col">Notes</th>
                </tr>
              </thead>
              <tbody>
                {a.history.map((h, i) => (
                  <tr key={i}>
                    <td data-label="When">{formatTime(h.at)}</td>
                    <td data-label="Who">
                      {who(h.actor_id)}
                      {h.actor_level ? ` (L${h.actor_level})` : ''}
                    </td>
                    <td data-label="Answer">
                      {ANSWERED[h.action] ?? h.action}
                      {h.action === 'escalate' ? (h.to_level ? ` L${h.from_level ?? '?'} → L${h.to_level}` : ' to the parent node') : h.from_level ? ` at L${h.from_level}` : ''}
                    </td>
                    <td data-label="Notes">{h.notes ?? '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </section>
  );
}
