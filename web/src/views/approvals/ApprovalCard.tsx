import { useId, type Ref } from 'react';
import { ErrorText } from '../../components/ErrorText';
import { SeverityBadge } from '../../components/Severity';
import { shortId, useDecision } from '../shared-decision/use-decision';
import type { PendingApproval } from '../shared-decision/types';
import { AnswerForm } from './AnswerForm';
import { Countdown } from './Countdown';
import { Evidence } from './Evidence';
import { RequestFacts } from './RequestFacts';
import type { AnswerResult } from './use-approvals';

interface Props {
  item: PendingApproval;
  /** On this browser's clock; null when the request has no fail-safe. */
  deadlineMs: number | null;
  zoneLabel: string;
  /** Opened through #/approvals?decision=<id>: highlighted. */
  focused: boolean;
  onAnswered(item: PendingApproval, title: string, result: AnswerResult): void;
  onConflict(item: PendingApproval, message: string): void;
  ref?: Ref<HTMLElement>;
}

/**
 * One waiting request: what happened, the evidence, the countdown to the fail-safe, and the
 * answer. The queue item carries the summary; the rule, events and escalations come from the
 * decision (fetched again when the request moves to another level).
 */
export function ApprovalCard({ item, deadlineMs, zoneLabel, focused, onAnswered, onConflict, ref }: Props) {
  const id = useId();
  const detail = useDecision(item.decision_id, item.level);
  const rule = detail.data?.rule.name ?? `Decision ${shortId(item.decision_id)}`;
  const title = `${rule} in ${zoneLabel}`;
  const escalations = detail.data?.approval_requests.find((r) => r.request_id === item.request_id)?.escalations;

  return (
    <article
      ref={ref}
      id={`approval-${item.decision_id}`}
      tabIndex={-1}
      aria-labelledby={`${id}-title`}
      aria-current={focused ? 'true' : undefined}
      className={`card approvals-card${focused ? ' approvals-card-focused' : ''}`}
    >
      <header className="approvals-card-head">
        <h3 id={`${id}-title`}>{title}</h3>
        <SeverityBadge severity={item.severity} />
        <Countdown deadlineMs={deadlineMs} />
      </header>
      <div className="approvals-card-body">
        <div>
          <Evidence item={item} detail={detail.data} />
          {detail.error ? <ErrorText error={detail.error} /> : null}
        </div>
        <div className="approvals-side">
          <RequestFacts item={item} escalations={escalations} />
          <AnswerForm item={item} rule={rule} onAnswered={(r) => onAnswered(item, title, r)} onConflict={(m) => onConflict(item, m)} />
        </div>
      </div>
    </article>
  );
}
