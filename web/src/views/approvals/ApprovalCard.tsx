import { useId, type Ref } from 'react';
import { SeverityBadge } from '../../components/Severity';
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
 * answer, all from the queue item (src/approvals/queue.ts carries the rule, the escalations and
 * the evidence, so a queue of a hundred costs one request).
 */
export function ApprovalCard({ item, deadlineMs, zoneLabel, focused, onAnswered, onConflict, ref }: Props) {
  const id = useId();
  const rule = item.rule_name;
  const title = `${rule} in ${zoneLabel}`;

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
          <Evidence item={item} />
        </div>
        <div className="approvals-side">
          <RequestFacts item={item} />
          <AnswerForm item={item} rule={rule} onAnswered={(r) => onAnswered(item, title, r)} onConflict={(m) => onConflict(item, m)} />
        </div>
      </div>
    </article>
  );
}
