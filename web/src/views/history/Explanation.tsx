import { useId } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { useLiveMessages } from '../../api/live';
import { ErrorText } from '../../components/ErrorText';
import { SeverityBadge } from '../../components/Severity';
import { formatTime } from '../../components/time';
import { ApprovalStatusBadge } from '../shared-decision/ApprovalStatus';
import { ModalDialog } from '../../components/ModalDialog';
import { shortId, useExplanation } from '../shared-decision/use-decision';
import type { Zones } from '../../api/zones';
import { ApprovalTrail } from './ApprovalTrail';
import { ExplanationActions } from './ExplanationActions';
import { MatchedEvents, RuleAndConditions } from './ExplanationParts';

/**
 * Why a decision was made and what became of it (seed 001 §13.2, GET
 * /api/v1/decisions/:id/explanation):
 * the narrative, the rule and the values that matched, the events, the approval trail and the
 * actions. Opened by #/history?decision=<id>; refreshed live while it is open.
 */
export function Explanation({ decisionId, zones, onClose }: { decisionId: string; zones: Zones; onClose(): void }) {
  const id = useId();
  const queryClient = useQueryClient();
  const explanation = useExplanation(decisionId);

  useLiveMessages((m) => {
    const about = m.kind === 'decision' ? m.decision.decision_id : m.kind === 'action' ? m.action.decision_id : null;
    if (about !== decisionId) return;
    void queryClient.invalidateQueries({ queryKey: ['explanation', decisionId] });
  });

  const x = explanation.data;
  return (
    <ModalDialog role="dialog" labelledBy={`${id}-title`} onClose={onClose} className="history-explanation">
      <div className="history-explanation-head">
        <h2 id={`${id}-title`}>Decision {shortId(decisionId)}</h2>
        <button type="button" onClick={onClose}>
          Close
        </button>
      </div>
      {explanation.isPending && <p role="status">Loading the explanation…</p>}
      {explanation.error ? (
        <div>
          <ErrorText error={explanation.error} />
          <p className="muted">Close this panel and pick another decision, or check the link you followed.</p>
        </div>
      ) : null}
      {x && (
        <div className="history-explanation-body">
          <p className="history-explanation-meta">
            <ApprovalStatusBadge status={x.decision.approval_status} /> <SeverityBadge severity={x.decision.severity} /> <span>{formatTime(x.decision.decision_time)}</span> ·{' '}
            <span>{zones.label(x.decision.zone_id)}</span> ·{' '}
            <span>
              {x.decision.deciding_layer.toLowerCase()} node {x.decision.deciding_node}
            </span>{' '}
            · <span>status {x.decision.status}</span>
          </p>
          <p className="muted history-explanation-fullid">
            Decision id <code>{x.decision.decision_id}</code>
          </p>
          <section aria-labelledby={`${id}-why`}>
            <h3 id={`${id}-why`}>In short</h3>
            <p className="history-narrative">{x.narrative}</p>
          </section>
          <RuleAndConditions x={x} />
          <MatchedEvents x={x} zones={zones} />
          <ApprovalTrail x={x} />
          <ExplanationActions x={x} />
        </div>
      )}
    </ModalDialog>
  );
}
