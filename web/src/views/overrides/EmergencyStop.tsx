import { useEffect, useId, useRef, useState } from 'react';
import { useSession } from '../../api/session';
import { ErrorText } from '../../components/ErrorText';
import { formatTime } from '../../components/time';
import { useZones, type Suspension, type ZoneInfo } from './api';
import { zonesInScope } from './labels';
import { OutcomeText, type useConfirmedChange } from './useConfirmedChange';

const LEVEL_GROUPS: Record<string, string> = { nation: 'Nation', state: 'State', city: 'City', district: 'Districts', neighbourhood: 'Neighbourhoods' };

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

  const choices = zonesInScope(zones.data ?? [], me?.scope_zone_id);
  const zone = choices.find((z) => z.id === zoneId);
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
      { verb: 'suspend', kind: 'zone', target: zone.id, reason: reason.trim(), what: `zone ${zone.name} (${zone.id})` },
      {
        title: `Emergency stop: ${zone.name}?`,
        message: `All automated actions in ${zone.name} and every zone inside it stop until resumed. Decisions are still made and recorded; their actions wait.`,
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
            {groups(choices).map(([level, list]) => (
              <optgroup key={level} label={LEVEL_GROUPS[level] ?? level}>
                {list.map((z) => (
                  <option key={z.id} value={z.id}>
                    {z.name} ({z.id})
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
          ⚠ {zone?.name ?? zoneId} is stopped already (since {formatTime(stopped.created_at)}); resume it under Active overrides.
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

/** Zones grouped by level, highest level first, each group in tree order. */
function groups(zones: ZoneInfo[]): Array<[string, ZoneInfo[]]> {
  const order = ['nation', 'state', 'city', 'district', 'neighbourhood'];
  const by = new Map<string, ZoneInfo[]>();
  for (const z of zones) {
    const list = by.get(z.level);
    if (list) list.push(z);
    else by.set(z.level, [z]);
  }
  return [...by].sort((a, b) => order.indexOf(a[0]) - order.indexOf(b[0]));
}
