import { useEffect, useId, useRef, useState } from 'react';
import { useSession } from '../../api/session';
import { ErrorText } from '../../components/ErrorText';
import { formatTime } from '../../components/time';
import { useZones } from '../../api/zones';
import type { Suspension } from './api';
import { OutcomeText, type useConfirmedChange } from './useConfirmedChange';

/**
 * The emergency stop: every automated action in a zone and the zones inside it waits until
 * resumed (a `zone` suspension). The zone list is the person's scope; it starts at their own
 * scope zone, and an admin with the whole tenant picks one deliberately.
 */
export function EmergencyStop({ changes, active }: { changes: ReturnType<typeof useConfirmedChange>; active: Suspension[] }) {
  const { me } = useSession();
  const zones = useZones();
  const [zoneId, setZoneId] = useState(me?.scope_zone_id ?? '');
  const [reason, setReason] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const reasonRef = useRef<HTMLTextAreaElement>(null);
  const id = useId();

  // A stop that went through is done: its reason is not the next one's.
  const outcome = changes.outcome('stop');
  useEffect(() => {
    if (outcome?.state === 'done') setReason('');
  }, [outcome]);

  const groups = zones.groupsInScope(me?.scope_zone_id);
  const zone = groups.flatMap((g) => g.zones).find((z) => z.id === zoneId);
  const zoneName = zone ? (zone.name ?? zone.id) : zoneId;
  const stopped = active.find((s) => s.kind === 'zone' && s.target === zoneId);

  const start = () => {
    if (!zone) return setProblem('Choose the zone to stop.');
    if (reason.trim() === '') {
      setProblem('Write a reason: it is kept with the stop, shown to everyone who sees it, and audited.');
      reasonRef.current?.focus();
      return;
    }
    setProblem(null);
    changes.ask(
      'stop',
      { verb: 'suspend', kind: 'zone', target: zone.id, reason: reason.trim(), what: zones.label(zone.id) },
      {
        title: `Emergency stop: ${zoneName}?`,
        message: `All automated actions in ${zoneName} and every zone inside it stop until resumed. Decisions are still made and recorded; their actions wait.`,
        reason: 'none',
        danger: true,
      },
    );
  };

  return (
    <section className="overrides-section overrides-stop card" aria-labelledby={`${id}-title`}>
      <h3 id={`${id}-title`}>Emergency stop</h3>
      <p className="muted">Stops every automated action in a zone and all zones inside it, until someone resumes it.</p>
      <ErrorText error={zones.error} />
      <div className="overrides-stop-fields">
        <label>
          Zone
          <select value={zoneId} onChange={(e) => setZoneId(e.target.value)} disabled={zones.isPending}>
            {zones.isPending ? <option value="">Loading zones…</option> : null}
            {!me?.scope_zone_id && !zones.isPending ? <option value="">Choose a zone…</option> : null}
            {groups.map((g) => (
              <optgroup key={g.level} label={g.label}>
                {g.zones.map((z) => (
                  <option key={z.id} value={z.id}>
                    {zones.label(z.id)}
                  </option>
                ))}
              </optgroup>
            ))}
          </select>
        </label>
        <label>
          Reason
          <textarea ref={reasonRef} rows={2} maxLength={1000} value={reason} onChange={(e) => setReason(e.target.value)} aria-invalid={problem ? true : undefined} />
        </label>
      </div>
      {stopped ? (
        <p className="overrides-warning" role="status">
          ⚠ {zoneName} is stopped already (since {formatTime(stopped.created_at)}); resume it under Active overrides.
        </p>
      ) : null}
      {problem ? (
        <p className="error" role="alert">
          {problem}
        </p>
      ) : null}
      <button type="button" className="danger overrides-stop-button" onClick={start} disabled={changes.busy}>
        Emergency stop
      </button>
      <OutcomeText outcome={outcome} />
    </section>
  );
}
