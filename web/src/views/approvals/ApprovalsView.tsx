import { useEffect, useRef, useState } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { useSession } from '../../api/session';
import { ErrorText } from '../../components/ErrorText';
import { useHashRoute } from '../../app/hash-route';
import { useZones } from '../../api/zones';
import type { PendingApproval } from '../shared-decision/types';
import { ApprovalCard } from './ApprovalCard';
import { FocusedDecision } from './FocusedDecision';
import { ANSWER_WORD, PENDING_KEY, usePendingApprovals, type AnswerResult, type PendingResponse } from './use-approvals';
import './approvals.css';

/**
 * Pending approvals (#/approvals, ?decision=<id> focuses one): the user's queue in the node's
 * priority order, each request with its evidence, a countdown to its fail-safe and
 * approve / reject / escalate with notes.
 */
export default function ApprovalsView() {
  const { me } = useSession();
  const route = useHashRoute();
  const queryClient = useQueryClient();
  const zones = useZones();
  const [allLevels, setAllLevels] = useState(false);
  const queue = usePendingApprovals(allLevels);
  const [message, setMessage] = useState('');
  const [refocus, setRefocus] = useState<number | null>(null);
  const focusedRef = useRef<HTMLElement>(null);
  const listRef = useRef<HTMLOListElement>(null);
  const headingRef = useRef<HTMLHeadingElement>(null);

  const items = queue.data?.approvals ?? [];
  const focusId = route.params.get('decision');
  const inQueue = focusId !== null && items.some((a) => a.decision_id === focusId);

  // A link to one request: bring it into view once, when it first shows up.
  useEffect(() => {
    if (!inQueue) return;
    focusedRef.current?.scrollIntoView({ block: 'start' });
    focusedRef.current?.focus({ preventScroll: true });
  }, [inQueue, focusId]);

  // The answered item has left the list (and the focus with it): continue at the next one.
  useEffect(() => {
    if (refocus === null) return;
    const cards = listRef.current?.querySelectorAll<HTMLElement>(':scope > li > article') ?? [];
    (cards[Math.min(refocus, cards.length - 1)] ?? headingRef.current)?.focus();
    setRefocus(null);
  }, [refocus, items]);

  const drop = (decisionId: string) => {
    queryClient.setQueriesData<PendingResponse>({ queryKey: PENDING_KEY }, (old) => old && { approvals: old.approvals.filter((a) => a.decision_id !== decisionId) });
    void queryClient.invalidateQueries({ queryKey: PENDING_KEY });
    // The decision changed: its detail, explanation and the history lists show it again.
    void queryClient.invalidateQueries({ queryKey: ['decision', decisionId] });
    void queryClient.invalidateQueries({ queryKey: ['explanation', decisionId] });
    void queryClient.invalidateQueries({ queryKey: ['history'] });
  };

  const onAnswered = (item: PendingApproval, title: string, r: AnswerResult) => {
    const where = r.action !== 'escalate' ? '' : r.status === 'pending' ? ` to L${r.level}` : ' to the parent node';
    setMessage(`${ANSWER_WORD[r.action]}: ${title}${where}. Status ${r.approval_status}`);
    setRefocus(items.indexOf(item));
    drop(item.decision_id);
  };
  const onConflict = (item: PendingApproval, text: string) => {
    setMessage(`Someone else answered first: ${text}. The queue has been refreshed.`);
    setRefocus(items.indexOf(item));
    drop(item.decision_id);
  };

  const who = me?.level_title ? `${me.level_title} (L${me.level})` : (me?.role.replace('_', ' ') ?? '');
  const deadlineOf = (a: PendingApproval) => (a.seconds_to_deadline === null ? null : queue.dataUpdatedAt + a.seconds_to_deadline * 1000);

  return (
    <section className="approvals" aria-labelledby="approvals-title">
      <div className="approvals-top">
        <h2 id="approvals-title" ref={headingRef} tabIndex={-1}>
          Pending approvals {queue.isSuccess && <span className="badge">{items.length}</span>}
        </h2>
        <p className="muted approvals-who">
          {who} · {me?.scope} · most urgent first (severity, then deadline, then age)
        </p>
        {me?.role === 'authority' && (me.level ?? 1) > 1 && (
          <label className="approvals-check">
            <input type="checkbox" checked={allLevels} onChange={(e) => setAllLevels(e.target.checked)} />
            Include requests waiting below my level
          </label>
        )}
        <button type="button" onClick={() => void queue.refetch()} disabled={queue.isFetching}>
          Refresh
        </button>
      </div>
      <p role="status" aria-live="polite" className="approvals-status">
        {message}
      </p>
      {focusId && !inQueue && queue.isSuccess && <FocusedDecision decisionId={focusId} />}
      {queue.error ? (
        <div>
          <ErrorText error={queue.error} />
          <p className="muted">The queue could not be loaded; it is tried again every 30 seconds, or press Refresh.</p>
        </div>
      ) : null}
      {queue.isPending && <p role="status">Loading your queue…</p>}
      {queue.isSuccess && items.length === 0 && (
        <div className="notice approvals-empty">
          <h3>Nothing waiting for you</h3>
          <p>
            No decision needs an answer from {who} in {me?.scope}. New requests appear here as they arrive.
          </p>
        </div>
      )}
      {items.length > 0 && (
      <ol className="approvals-list" ref={listRef} aria-label="Requests waiting for approval">
        {items.map((a) => (
          <li key={a.request_id}>
            <ApprovalCard
              ref={a.decision_id === focusId ? focusedRef : undefined}
              item={a}
              deadlineMs={deadlineOf(a)}
              zoneLabel={zones.label(a.zone_id)}
              focused={a.decision_id === focusId}
              onAnswered={onAnswered}
              onConflict={onConflict}
            />
          </li>
        ))}
      </ol>
      )}
    </section>
  );
}
