import { useEffect, useId, useRef, useState, type FormEvent } from 'react';

export interface ConfirmRequest {
  title: string;
  /** What happens, in one or two sentences the person reads before confirming. */
  message: string;
  /** 'required': a Reason field that must be filled; 'optional': one that may stay empty; 'none': no field. */
  reason: 'required' | 'optional' | 'none';
  /** Danger styling for the Confirm button (stopping automation). */
  danger: boolean;
}

/**
 * A confirmation as a modal `<dialog role="alertdialog">`: showModal() keeps focus inside and
 * makes the page behind inert; Escape (the dialog's cancel event) and "Cancel" both cancel;
 * focus returns to the control that opened it when it closes.
 */
export function ConfirmDialog({ request, onConfirm, onCancel }: { request: ConfirmRequest; onConfirm: (reason: string) => void; onCancel: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const [reason, setReason] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const id = useId();

  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    dialog.showModal();
    return () => dialog.close();
  }, []);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const text = reason.trim();
    if (request.reason === 'required' && text === '') {
      setProblem('Write a reason: it is kept with the override and in the audit log.');
      return;
    }
    onConfirm(text);
  };

  return (
    <dialog
      ref={ref}
      className="overrides-dialog"
      role="alertdialog"
      aria-modal="true"
      aria-labelledby={`${id}-title`}
      aria-describedby={`${id}-message`}
      onCancel={(e) => {
        // Escape: we close it ourselves, through the parent's state.
        e.preventDefault();
        onCancel();
      }}
    >
      <form onSubmit={submit}>
        <h3 id={`${id}-title`}>{request.title}</h3>
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
        <div className="overrides-dialog-buttons">
          <button type="button" onClick={onCancel} autoFocus={request.reason === 'none'}>
            Cancel
          </button>
          <button type="submit" className={request.danger ? 'danger' : 'primary'}>
            Confirm
          </button>
        </div>
      </form>
    </dialog>
  );
}
