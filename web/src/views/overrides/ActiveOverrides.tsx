import { useId } from 'react';
import { useSession } from '../../api/session';
import { ErrorText } from '../../components/ErrorText';
import { formatTime, relativeTime } from '../../components/time';
import type { Suspension } from './api';
import { describeActor, describeScope, describeTarget, type Names } from './labels';
import { OutcomeText, type useConfirmedChange } from './useConfirmedChange';

/**
 * The suspensions in force (GET /api/v1/overrides `active`; zone stops only where they touch
 * the person's scope), newest first, each with who, since when, why, and a Resume button.
 */
export function ActiveOverrides({ changes, active, names, loading, error, cityWideAllowed }: { changes: ReturnType<typeof useConfirmedChange>; active: Suspension[]; names: Names; loading: boolean; error: unknown; cityWideAllowed: boolean }) {
  const { me } = useSession();
  const id = useId();
  return (
    <section className="overrides-section overrides-active card" aria-labelledby={`${id}-title`}>
      <h3 id={`${id}-title`}>
        Active overrides <span className="badge">{active.length}</span>
      </h3>
      <ErrorText error={error} />
      {changes.latest && changes.latest.key.startsWith('active:') && !active.some((s) => `active:${s.suspension_id}` === changes.latest!.key) ? <OutcomeText outcome={changes.latest.outcome} /> : null}
      {loading ? <p role="status">Loading overrides…</p> : null}
      {!loading && !error && active.length === 0 ? <p className="muted">Nothing is suspended: automation runs everywhere in your scope.</p> : null}
      <ul className="overrides-active-list">
        {active.map((s) => {
          const what = describeTarget(s.kind, s.target, names);
          const key = `active:${s.suspension_id}`;
          return (
            <li key={s.suspension_id} className="overrides-active-item">
              <div className="overrides-active-what">
                <span className="badge overrides-suspended">{s.kind === 'zone' ? 'emergency stop' : `${s.kind} suspended`}</span> <strong>{what}</strong>
                {names.triggers.has(s.target) ? <span className="muted"> ({s.target})</span> : null}
              </div>
              <dl className="overrides-active-facts">
                <div>
                  <dt>Scope</dt>
                  <dd>{describeScope(s.kind, s.target, names)}</dd>
                </div>
                <div>
                  <dt>By</dt>
                  <dd>{me ? describeActor(s.created_by, me) : s.created_by}</dd>
                </div>
                <div>
                  <dt>Since</dt>
                  <dd>
                    <time dateTime={s.created_at}>{formatTime(s.created_at)}</time> ({ago(s.created_at)})
                  </dd>
                </div>
                <div>
                  <dt>Reason</dt>
                  <dd>{s.reason}</dd>
                </div>
              </dl>
              {s.kind !== 'zone' && !cityWideAllowed ? (
                <p className="muted">Resuming a {s.kind} needs level L2 or above.</p>
              ) : (
                <button
                  type="button"
                  aria-label={`Resume ${what}`}
                  disabled={changes.busy}
                  onClick={() =>
                    changes.ask(
                      key,
                      { verb: 'resume', kind: s.kind, target: s.target, what },
                      { title: `Resume ${what}?`, message: `${describeScope(s.kind, s.target, names)} start again; the actions held meanwhile are sent now.`, reason: 'optional', danger: false },
                    )
                  }
                >
                  Resume
                </button>
              )}
              <OutcomeText outcome={changes.outcome(key)} />
            </li>
          );
        })}
      </ul>
    </section>
  );
}

function ago(iso: string): string {
  return relativeTime(Date.parse(iso));
}
