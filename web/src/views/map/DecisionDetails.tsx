import { useQueryClient } from '@tanstack/react-query';
import { useDecision } from '../shared-decision/use-decision';
import { useLiveMessages } from '../../api/live';
import { useSession } from '../../api/session';
import type { ApprovalStatus, DecisionView } from '../../api/types';
import { href } from '../../app/hash-route';
import { ErrorText } from '../../components/ErrorText';
import { SeverityBadge } from '../../components/Severity';
import { formatTime } from '../../components/time';
import { eventItem, toEventView, type MapItem, type StoredEvent } from './items';
import { Facts, place } from './Facts';
import { KeyValues } from './KeyValues';

/** Approval states in words (the panel never shows a status by colour alone). */
const APPROVAL_WORDS: Record<ApprovalStatus, string> = {
  NOT_REQUIRED: 'no approval needed',
  PENDING: 'waiting for an authority',
  APPROVED: 'approved by an authority',
  REJECTED: 'rejected by an authority',
  AUTO_APPROVED: 'approved by the fail-safe: no answer in time',
  AUTO_REJECTED: 'rejected by the fail-safe: no answer in time',
  ESCALATED: 'sent to a higher level',
};

/** GET /api/v1/decisions/:id adds these to a DecisionView (src/decisions/routes.ts). */
interface FullDecision extends DecisionView {
  approval_requests?: Array<{ request_id: string; status: string; level: number; deadline_at: string | null; fail_safe_action: string | null; target_authority: string | null }>;
}

interface Rationale {
  summary?: unknown;
  conditions?: Array<{ role?: string; source?: string; values?: unknown }>;
  matched_events?: StoredEvent[];
}

/**
 * A decision: rule, severity, approval, actions with their status, and its evidence (the events
 * it matched, the conditions with the values they read). The node's record is asked for when the
 * panel opens and again whenever the stream says the decision or one of its actions changed.
 */
export function DecisionDetails({ decision, zoneName, onOpen }: { decision: DecisionView; zoneName(zoneId: string | null): string; onOpen(item: MapItem): void }) {
  const id = decision.decision_id;
  const session = useSession();
  const client = useQueryClient();
  // The same query (and cache) as the approvals and history views.
  const full = useDecision(id);
  useLiveMessages((m) => {
    const mine = (m.kind === 'decision' && m.decision.decision_id === id) || (m.kind === 'action' && m.action.decision_id === id);
    if (mine) void client.invalidateQueries({ queryKey: ['decision', id] });
  });
  const d: FullDecision = full.data ?? decision;
  const rationale = d.rationale as Rationale;
  const pending = d.approval_requests?.find((r) => r.status === 'pending');

  return (
    <>
      <Facts
        rows={[
          ['Rule', `${d.rule.name} (${d.rule.kind.replace(/_/g, ' ')})`],
          ['Severity', <SeverityBadge severity={d.severity} />],
          // The status as the API and the other views name it, then in words.
          ['Approval', `${d.approval_status} (${APPROVAL_WORDS[d.approval_status] ?? 'unknown status'})`],
          ...(pending?.deadline_at ? ([['Fail-safe', `${pending.fail_safe_action ?? 'acts'} at ${formatTime(pending.deadline_at)}`]] as Array<[string, string]>) : []),
          ['Time', formatTime(d.decision_time_ms)],
          ['Zone', zoneName(d.zone_id)],
          ['Location', place(d.location)],
          ['Decided by', `${d.deciding_layer} node ${d.deciding_brain_id}`],
        ]}
      />
      <p className="map-details-links">
        <a href={href('history', { decision: id })}>Open in history</a>
        {d.approval_status === 'PENDING' && session.can('approve') && <a href={href('approvals', { decision: id })}>Review approval</a>}
      </p>
      {full.error && <ErrorText error={full.error} />}
      {typeof rationale.summary === 'string' && <p>{rationale.summary}</p>}
      <h4>Actions</h4>
      {d.actions.length === 0 ? (
        <p className="muted">No actions.</p>
      ) : (
        <ul className="map-actions">
          {d.actions.map((a) => (
            <li key={a.action_id}>
              {a.type.replace(/_/g, ' ')}
              {a.target_system ? ` → ${a.target_system}` : ''}: <strong>{a.status.toLowerCase()}</strong>
              {a.attempts > 0 ? ` (${a.attempts} ${a.attempts === 1 ? 'attempt' : 'attempts'})` : ''}
              {a.last_error && <span className="error"> — {a.last_error}</span>}
            </li>
          ))}
        </ul>
      )}
      <h4>Evidence: matched events</h4>
      {(rationale.matched_events ?? []).length === 0 ? (
        <p className="muted">The rationale names no events.</p>
      ) : (
        <ul className="map-related">
          {rationale.matched_events!.map((e, i) => (
            <li key={`${e.event_id}-${i}`}>
              <button type="button" className="link" onClick={() => onOpen(eventItem(toEventView(e)))}>
                {(e as { role?: string }).role ?? 'event'}: {e.event_type ?? 'event'} · {e.severity ?? 'no severity'} · {zoneName(e.zone_id)} · {formatTime(e.timestamp)}
              </button>
            </li>
          ))}
        </ul>
      )}
      <h4>Evidence: conditions</h4>
      {(rationale.conditions ?? []).length === 0 ? (
        <p className="muted">No condition was recorded.</p>
      ) : (
        <ul className="map-conditions">
          {rationale.conditions!.map((c, i) => (
            <li key={i}>
              <span className="muted">{c.role ?? 'condition'}:</span> <code>{c.source ?? '(always)'}</code>
              <KeyValues value={c.values} />
            </li>
          ))}
        </ul>
      )}
    </>
  );
}
