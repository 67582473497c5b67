import { useMemo } from 'react';
import { useSession } from '../../api/session';
import { useZones } from '../../api/zones';
import { useOverrides, useRules } from './api';
import { ActiveOverrides } from './ActiveOverrides';
import { EmergencyStop } from './EmergencyStop';
import { mayOverrideCityWide, type Names } from './labels';
import { PluginTable, RuleTable } from './TargetTables';
import { useConfirmedChange } from './useConfirmedChange';
import './overrides.css';

/**
 * Manual override (issue 6 item 6; seed 001 §8): the emergency stop for a zone subtree,
 * suspending and resuming rules and plugins, and the overrides in force. Every change asks for
 * confirmation first; the node decides who may do what (scope, level) and its refusals are
 * shown beside the control that asked.
 */
export default function OverridesView() {
  const { me } = useSession();
  const overrides = useOverrides();
  const zones = useZones();
  const rules = useRules();
  const changes = useConfirmedChange();
  const active = overrides.data?.active ?? [];

  const names = useMemo<Names>(
    () => ({ zones: zones.byId, triggers: new Map((rules.data?.action_triggers ?? []).map((t) => [t.id, t])) }),
    [zones.byId, rules.data],
  );
  const allowed = me ? mayOverrideCityWide(me) : false;

  return (
    <div className="overrides">
      <header>
        <h2>Manual override</h2>
        <p className="muted">
          Suspending stops automated actions, not decisions: the node keeps deciding and recording, and the actions wait until resumed. Your scope: {me?.scope ?? '—'}.
        </p>
      </header>
      <div className="overrides-grid">
        <div className="overrides-column">
          <EmergencyStop changes={changes} active={active} />
          <ActiveOverrides changes={changes} active={active} names={names} loading={overrides.isPending} error={overrides.error} cityWideAllowed={allowed} />
        </div>
        <div className="overrides-column">
          <RuleTable changes={changes} active={active} names={names} allowed={allowed} />
          <PluginTable changes={changes} active={active} names={names} allowed={allowed} />
        </div>
      </div>
      {changes.dialog}
    </div>
  );
}
