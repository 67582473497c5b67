import { useSession } from '../../api/session';
import { ErrorText } from '../../components/ErrorText';
import { formatTime } from '../../components/time';
import { href } from '../../app/hash-route';
import { ApprovalStatusBadge } from '../shared-decision/ApprovalStatus';
import { shortId, useDecision } from '../shared-decision/use-decision';

/**
 * A link to #/approvals?decision=<id> for a decision that is not in this user's queue: it was
 * answered already, waits at another level, or needed no approval. Says which, from the
 * decision itself.
 */
export function FocusedDecision({ decisionId }: { decisionId: string }) {
  const { me } = useSession();
  const decision = useDecision(decisionId);
  const d = decision.data;
  if (decision.isPending) return <p role="status">Looking up decision {shortId(decisionId)}…</p>;
  if (decision.error || !d) {
    return (
      <div className="notice approvals-focused">
        <p>Decision {shortId(decisionId)} is not in your queue, and it cannot be shown:</p>
        <ErrorText error={decision.error} />
      </div>
    );
  }
  // The newest request is the one that counts (an escalation keeps its request; a re-request adds one).
  const request = [...d.approval_requests].sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at))[0];
  const by = d.approver_id === null ? null : d.approver_id === me?.user_id ? 'you' : d.approver_id;
  return (
    <div className="notice approvals-focused" role="region" aria-label={`Decision ${shortId(decisionId)}`}>
      <p>
        Decision {shortId(decisionId)} ({d.rule.name} in {d.zone_id ?? 'no zone'}) is not in your queue. This decision is <ApprovalStatusBadge status={d.approval_status} />
        {by ? ` by ${by}` : ''}
        {request?.resolved_at ? ` at ${formatTime(request.resolved_at)}` : ''}
        {d.approval_status === 'PENDING' && request ? `, waiting at level L${request.level}` : ''}.
        {request?.notes ? ` Notes: "${request.notes}".` : ''}
      </p>
      <p>
        <a href={href('history', { tab: 'decisions', decision: decisionId })}>See its explanation in History</a>
      </p>
    </div>
  );
}
