/**
 * A decision's approval status as a badge: the word is always shown (colour is never the only
 * cue), with a colour family per outcome.
 */
const TONE: Record<string, string> = {
  PENDING: 'pending',
  APPROVED: 'approved',
  AUTO_APPROVED: 'approved',
  REJECTED: 'rejected',
  AUTO_REJECTED: 'rejected',
  ESCALATED: 'escalated',
  NOT_REQUIRED: 'none',
};

export function ApprovalStatusBadge({ status }: { status: string }) {
  return <span className={`badge decision-status decision-status-${TONE[status] ?? 'none'}`}>{status.replaceAll('_', ' ')}</span>;
}

/** Action statuses (PENDING … FAILED), the same way. */
const ACTION_TONE: Record<string, string> = {
  COMPLETED: 'approved',
  FAILED: 'rejected',
  CANCELLED: 'none',
  HELD: 'pending',
  SUSPENDED: 'escalated',
  PENDING: 'pending',
  EXECUTING: 'escalated',
};

export function ActionStatusBadge({ status }: { status: string }) {
  return <span className={`badge decision-status decision-status-${ACTION_TONE[status.toUpperCase()] ?? 'none'}`}>{status}</span>;
}
