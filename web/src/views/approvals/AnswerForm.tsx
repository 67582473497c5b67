import { useId, useState } from 'react';
import { ApiError } from '../../api/client';
import { ErrorText } from '../../components/ErrorText';
import type { PendingApproval } from '../shared-decision/types';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { useAnswer, type Answer, type AnswerResult } from './use-approvals';

interface Props {
  item: PendingApproval;
  /** The rule's name, for the confirmation's title. */
  rule: string;
  onAnswered(result: AnswerResult): void;
  /** 409: another authority (or the fail-safe) answered first. */
  onConflict(message: string): void;
}

const CONFIRM: Record<'reject' | 'escalate', (level: number) => string> = {
  reject: () => 'Rejecting cancels the held actions of this decision. This cannot be undone.',
  escalate: (level) => (level >= 5 ? 'Escalating sends this request to the parent node; it leaves this queue.' : `Escalating hands this request to level L${level + 1}; it leaves your queue.`),
};

/**
 * Notes and the three answers (POST /api/v1/authority/approve-decision). Approve runs at once;
 * reject and escalate are confirmed first. A failure other than "someone answered first" is
 * shown here, beside the buttons.
 */
export function AnswerForm({ item, rule, onAnswered, onConflict }: Props) {
  const id = useId();
  const answer = useAnswer(item.decision_id);
  const [notes, setNotes] = useState('');
  const [confirming, setConfirming] = useState<'reject' | 'escalate' | null>(null);

  const send = (action: Answer) => {
    setConfirming(null);
    answer.mutate(
      { action, notes },
      {
        onSuccess: onAnswered,
        onError: (err) => {
          if (err instanceof ApiError && err.status === 409) onConflict(err.message);
        },
      },
    );
  };
  const conflict = answer.error instanceof ApiError && answer.error.status === 409;
  const busy = answer.isPending;

  return (
    <form className="approvals-answer" onSubmit={(e) => e.preventDefault()}>
      <label htmlFor={`${id}-notes`}>Notes</label>
      <textarea id={`${id}-notes`} aria-describedby={`${id}-hint`} rows={2} maxLength={2000} value={notes} onChange={(e) => setNotes(e.target.value)} disabled={busy} />
      <span id={`${id}-hint`} className="muted approvals-hint">
        Optional; kept in the approval trail with your answer.
      </span>
      <div className="approvals-buttons">
        <button type="button" className="primary" disabled={busy} onClick={() => send('approve')}>
          Approve
        </button>
        <button type="button" className="danger" disabled={busy} onClick={() => setConfirming('reject')}>
          Reject
        </button>
        <button type="button" disabled={busy} onClick={() => setConfirming('escalate')}>
          Escalate
        </button>
        {busy && (
          <span role="status" className="muted">
            Sending…
          </span>
        )}
      </div>
      {answer.error && !conflict ? (
        <div className="approvals-error">
          <ErrorText error={answer.error} />
          <p className="muted">Nothing was changed. Try again; if it keeps failing, reload the page or ask the node's operator.</p>
        </div>
      ) : null}
      {confirming && (
        <ConfirmDialog
          request={{
            title: `${confirming === 'reject' ? 'Reject' : 'Escalate'} ${rule}?`,
            // The notes are written beside the buttons; the dialog repeats them rather than asking again.
            message: `${CONFIRM[confirming](item.level)}${notes.trim() ? ` Your notes: "${notes.trim()}"` : ' No notes given.'}`,
            reason: 'none',
            danger: confirming === 'reject',
          }}
          onConfirm={() => send(confirming)}
          onCancel={() => setConfirming(null)}
        />
      )}
    </form>
  );
}
