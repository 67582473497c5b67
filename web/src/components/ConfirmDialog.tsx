import { useId, useState, type FormEvent } from 'react';
import { ModalDialog } from './ModalDialog';

export interface ConfirmRequest {
  title: string;
  /** What happens, in one or two sentences the person reads before confirming. */
  message: string;
  /** 'required': a Reason field that must be filled; 'optional': one that may stay empty; 'none': no field. */
  reason: 'required' | 'optional' | 'none';
  /** Danger styling for the Confirm button (stopping automation, rejecting). */
  danger: boolean;
}

/**
 * "Are you sure?" before a change that cannot simply be taken back (an emergency stop, a
 * rejection, an escalation): an alert dialog with Cancel and Confirm. Without a reason field
 * Cancel has the focus first, so a stray Enter does nothing harmful; Escape cancels.
 */
export function ConfirmDialog({ request, onConfirm, onCancel }: { request: ConfirmRequest; onConfirm: (reason: string) => void; onCancel: () => void }) {
  const [reason, setReason] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const id = useId();

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const text = reason.trim();
    if (request.reason === 'required' && text === '') {
      setProblem('Write a reason: it is kept with the change and in the audit log.');
      return;
    }
    onConfirm(text);
  };

  return (
    <ModalDialog role="alertdialog" labelledBy={`${id}-title`} describedBy={`${id}-message`} onClose={onCancel} className="confirm">
      <form onSubmit={submit}>
        <h2 id={`${id}-title`}>{request.title}</h2>
        <p id={`${id}-message`}>{request.message}</p>
        {request.reason !== 'none' ? (
          <label>
            {request.reason === 'required' ? 'Reason' : 'Reason (optional)'}
            <textarea
              value={reason}
              rows={3}
              maxLength={1000}
              autoFocus
              aria-invalid={problem ? true : undefined}
              aria-describedby={problem ? `${id}-problem` : undefined}
              onChange={(e) => setReason(e.target.value)}
            />
          </label>
        ) : null}
        {problem ? (
          <p id={`${id}-problem`} className="error" role="alert">
            {problem}
          </p>
        ) : null}
        <div className="confirm-buttons">
          <button type="button" onClick={onCancel} autoFocus={request.reason === 'none'}>
            Cancel
          </button>
          <button type="submit" className={request.danger ? 'danger' : 'primary'}>
            Confirm
          </button>
        </div>
      </form>
    </ModalDialog>
  );
}
