import { useId } from 'react';
import { ModalDialog } from '../shared-decision/ModalDialog';

interface Props {
  title: string;
  message: string;
  onConfirm(): void;
  onCancel(): void;
}

/**
 * "Are you sure?" before an answer that cannot be taken back (reject cancels the held actions,
 * escalate hands the request up). Cancel has the focus first, so Enter on a stray key press does
 * nothing harmful; Escape cancels.
 */
export function ConfirmDialog({ title, message, onConfirm, onCancel }: Props) {
  const id = useId();
  return (
    <ModalDialog role="alertdialog" labelledBy={`${id}-title`} describedBy={`${id}-message`} onClose={onCancel} className="approvals-confirm">
      <h2 id={`${id}-title`}>{title}</h2>
      <p id={`${id}-message`}>{message}</p>
      <div className="approvals-buttons">
        <button type="button" autoFocus onClick={onCancel}>
          Cancel
        </button>
        <button type="button" className="danger" onClick={onConfirm}>
          Confirm
        </button>
      </div>
    </ModalDialog>
  );
}
