import { useEffect, useRef } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from '../../api/client';
import { useLiveMessages, useResync } from '../../api/live';
import type { PendingApproval } from '../shared-decision/types';

export const PENDING_KEY = ['approvals', 'pending'] as const;
/** The queue is also polled: fail-safes fire on the node's clock, not on a live message we might miss. */
const POLL_MS = 30_000;
/** Live decisions arrive in bursts; one refetch per burst is enough. */
const LIVE_THROTTLE_MS = 1_000;

export interface PendingResponse {
  approvals: PendingApproval[];
}

/**
 * The Pending Approvals queue (GET /api/v1/authority/pending-approvals) in the node's priority
 * order (severity, then deadline, then age). Refetched when a live decision could change it (a
 * new PENDING one, or one of ours answered elsewhere), when the stream reconnects, and every 30 s.
 */
export function usePendingApprovals(allLevels: boolean) {
  const queryClient = useQueryClient();
  const query = useQuery({
    queryKey: [...PENDING_KEY, allLevels],
    queryFn: ({ signal }) => api<PendingResponse>('/api/v1/authority/pending-approvals', { signal, query: { all_levels: allLevels || undefined } }),
    refetchInterval: POLL_MS,
  });

  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(() => () => void (timer.current && clearTimeout(timer.current)), []);
  const shown = query.data?.approvals;
  useLiveMessages((m) => {
    if (m.kind !== 'decision') return;
    const ours = shown?.some((a) => a.decision_id === m.decision.decision_id) ?? false;
    if (m.decision.approval_status !== 'PENDING' && !ours) return;
    timer.current ??= setTimeout(() => {
      timer.current = null;
      void queryClient.invalidateQueries({ queryKey: PENDING_KEY });
    }, LIVE_THROTTLE_MS);
  });

  // Whatever happened while updates were missed is in the queue, not in messages we will get.
  useResync(() => void queryClient.invalidateQueries({ queryKey: PENDING_KEY }));

  return query;
}

export type Answer = 'approve' | 'reject' | 'escalate';

/** What POST /api/v1/authority/approve-decision answers (src/approvals/routes.ts). */
export interface AnswerResult {
  decision_id: string;
  action: Answer;
  /** The request's status: approved, rejected, pending (escalated a level up) or escalated (to the parent node). */
  status: string;
  approval_status: string;
  level: number;
  at: string;
}

export function useAnswer(decisionId: string) {
  return useMutation({
    mutationFn: ({ action, notes }: { action: Answer; notes: string }) =>
      api<AnswerResult>('/api/v1/authority/approve-decision', {
        method: 'POST',
        body: { decision_id: decisionId, action, ...(notes.trim() ? { notes: notes.trim() } : {}) },
      }),
  });
}

/**
 * What the fail-safe will do, in words (the action names follow src/decisions/action-triggers.ts
 * failSafeOutcome: auto_approve…, auto_reject…, escalate…).
 */
export function failSafeText(action: string | null, level: number): string {
  if (!action) return 'no fail-safe: it waits until someone answers';
  if (/^auto_approve(_|$)/.test(action)) return `${action}: approved automatically and its held actions run`;
  if (/^auto_reject(_|$)/.test(action)) return `${action}: rejected automatically and its held actions are cancelled`;
  if (/^escalate(_|$)/.test(action)) return level >= 5 ? `${action}: sent to the parent node` : `${action}: handed up to L${level + 1}`;
  return `${action} runs`;
}

/** "Approved", "Rejected", "Escalated" for the status message. */
export const ANSWER_WORD: Record<Answer, string> = { approve: 'Approved', reject: 'Rejected', escalate: 'Escalated' };
