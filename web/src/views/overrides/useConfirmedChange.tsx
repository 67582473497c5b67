import { useState, type ReactNode } from 'react';
import { ApiError, errorText } from '../../api/client';
import { useOverrideChange, type OverrideRequest, type OverrideResult } from './api';
import { ConfirmDialog, type ConfirmRequest } from '../../components/ConfirmDialog';

/** How the last change started from one control ended, shown beside that control. */
export type Outcome = { state: 'busy' } | { state: 'done'; text: string } | { state: 'failed'; text: string };

interface Asking {
  key: string;
  change: OverrideRequest;
  confirm: ConfirmRequest;
}

/**
 * Every suspend and resume goes through one confirmation, then one request; its outcome is kept
 * under the key of the control that asked, so success or the node's refusal appears next to it.
 *
 * @example
 *   const changes = useConfirmedChange();
 *   changes.ask('plugin:cam', { verb: 'suspend', kind: 'plugin', target: 'cam', what: 'plugin cam' }, { title: 'Suspend plugin cam?', … });
 *   return <>{changes.dialog}<OutcomeText outcome={changes.outcome('plugin:cam')} /></>;
 */
export function useConfirmedChange() {
  const mutation = useOverrideChange();
  const [asking, setAsking] = useState<Asking | null>(null);
  const [outcomes, setOutcomes] = useState<Record<string, Outcome>>({});
  const [latest, setLatest] = useState<{ key: string; outcome: Outcome } | null>(null);
  const set = (key: string, outcome: Outcome) => {
    setOutcomes((o) => ({ ...o, [key]: outcome }));
    setLatest({ key, outcome });
  };

  const confirmed = (a: Asking, reason: string) => {
    setAsking(null);
    // One change at a time: earlier outcomes describe a page that has moved on.
    setOutcomes({});
    set(a.key, { state: 'busy' });
    mutation.mutate(
      { ...a.change, reason: reason || a.change.reason },
      {
        onSuccess: (result) => set(a.key, { state: 'done', text: resultText(a.change, result) }),
        onError: (err) => set(a.key, { state: 'failed', text: failureText(err) }),
      },
    );
  };

  const dialog: ReactNode = asking ? <ConfirmDialog key={asking.key} request={asking.confirm} onCancel={() => setAsking(null)} onConfirm={(reason) => confirmed(asking, reason)} /> : null;
  return {
    ask: (key: string, change: OverrideRequest, confirm: ConfirmRequest) => setAsking({ key, change, confirm }),
    dialog,
    outcome: (key: string): Outcome | undefined => outcomes[key],
    /** The most recent outcome, for a control that is gone once it succeeds (a resumed override). */
    latest,
    busy: mutation.isPending,
  };
}

function resultText(change: OverrideRequest, r: OverrideResult): string {
  if (change.verb === 'suspend') return `Suspended ${change.what}: ${actions(r.actions_held ?? 0)} waiting now held.`;
  const still = r.actions_still_held ?? 0;
  return `Resumed ${change.what}: ${actions(r.actions_released ?? 0)} sent${still > 0 ? `; ${actions(still)} still held by another override` : ''}.`;
}

function actions(n: number): string {
  return n === 1 ? '1 action' : `${n} actions`;
}

/** The node's own message, and what to do next where the cause is known. */
function failureText(err: unknown): string {
  const text = errorText(err).replace(/\.$/, '');
  if (err instanceof ApiError && err.status === 403) return `${text}. Ask an authority whose scope covers it, or a tenant admin.`;
  if (err instanceof ApiError && err.status === 404) return `${text}. Someone may have changed it meanwhile; the list has been read again.`;
  if (err instanceof ApiError && err.status === 409) return `${text}. The list below shows the override already in force.`;
  return `${text}. Try again, or reload the page if the node was restarted.`;
}

/** The outcome beside its control: a status while it runs and after success, an alert when refused. */
export function OutcomeText({ outcome }: { outcome: Outcome | undefined }) {
  if (!outcome) return null;
  if (outcome.state === 'failed')
    return (
      <p className="error overrides-outcome" role="alert">
        {outcome.text}
      </p>
    );
  return (
    <p className="overrides-outcome overrides-done" role="status">
      {outcome.state === 'busy' ? 'Sending…' : outcome.text}
    </p>
  );
}
