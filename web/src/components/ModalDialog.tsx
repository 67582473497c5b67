import { useEffect, useRef, type ReactNode } from 'react';
import './dialog.css';

interface Props {
  /** 'alertdialog' for a confirmation, 'dialog' for a panel. */
  role: 'dialog' | 'alertdialog';
  /** The id of the heading inside that names the dialog. */
  labelledBy: string;
  describedBy?: string;
  /** Escape, the Close/Cancel button, or a click on the backdrop. */
  onClose(): void;
  className?: string;
  children: ReactNode;
}

/**
 * A modal on the browser's own <dialog>: showModal() keeps Tab inside it, makes the page behind
 * inert and turns Escape into a `cancel` event, so keyboard users get the standard behaviour
 * without a focus-trap of our own. Focus goes back to what opened it when it closes.
 */
export function ModalDialog({ role, labelledBy, describedBy, onClose, className, children }: Props) {
  const ref = useRef<HTMLDialogElement>(null);
  const close = useRef(onClose);
  close.current = onClose;

  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    // React's StrictMode runs this twice in development: showModal() on an open dialog throws.
    if (!dialog.open) dialog.showModal();
    const onCancel = (e: Event) => {
      e.preventDefault(); // we close it through state, so React and the DOM agree
      close.current();
    };
    dialog.addEventListener('cancel', onCancel);
    return () => {
      dialog.removeEventListener('cancel', onCancel);
      if (dialog.open) dialog.close();
      if (opener?.isConnected) opener.focus();
    };
  }, []);

  return (
    <dialog
      ref={ref}
      role={role}
      aria-modal="true"
      aria-labelledby={labelledBy}
      aria-describedby={describedBy}
      className={`modal-dialog ${className ?? ''}`}
      // A click on the backdrop lands on the dialog element itself.
      onClick={(e) => e.target === e.currentTarget && close.current()}
    >
      {/* The body fills the dialog, so only a click outside it (the backdrop) closes. */}
      <div className="modal-dialog-body">{children}</div>
    </dialog>
  );
}
