import { formatTime, relativeTime } from '../../components/time';
import { href } from '../../app/hash-route';
import { shortId } from '../shared-decision/use-decision';
import type { PendingApproval } from '../shared-decision/types';
import { failSafeText } from './use-approvals';

/** Where the request stands: the level it waits at, escalations, what the fail-safe will do. */
export function RequestFacts({ item }: { item: PendingApproval }) {
  return (
    <dl className="approvals-facts">
      <div>
        <dt>Waits at</dt>
        <dd>
          L{item.level} · {item.approval_type}
        </dd>
      </div>
      <div>
        <dt>Escalations so far</dt>
        <dd>{item.escalations}</dd>
      </div>
      <div>
        <dt>Recommended</dt>
        <dd>{item.recommended_action ?? 'nothing stated'}</dd>
      </div>
      <div>
        <dt>At the fail-safe</dt>
        <dd>{failSafeText(item.fail_safe_action, item.level)}</dd>
      </div>
      <div>
        <dt>Requested</dt>
        <dd>
          <time dateTime={item.created_at} title={formatTime(item.created_at)}>
            {relativeTime(Date.parse(item.created_at))}
          </time>
          {item.priority ? ` · priority ${item.priority}` : ''}
        </dd>
      </div>
      <div>
        <dt>Decision</dt>
        <dd>
          <a href={href('history', { tab: 'decisions', decision: item.decision_id })}>{shortId(item.decision_id)} — explanation</a>
        </dd>
      </div>
    </dl>
  );
}
