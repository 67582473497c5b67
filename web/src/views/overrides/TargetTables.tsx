import { useId } from 'react';
import { ErrorText } from '../../components/ErrorText';
import { usePlugins } from '../../api/plugins';
import { useRules, type Suspension, type SuspensionKind } from './api';
import { describeScope, describeTarget, type Names } from './labels';
import { OutcomeText, type useConfirmedChange } from './useConfirmedChange';

type Changes = ReturnType<typeof useConfirmedChange>;

interface Props {
  changes: Changes;
  active: Suspension[];
  names: Names;
  /** False for L1 officers: the node refuses them rules and plugins (city-wide). */
  allowed: boolean;
}

interface Row {
  kind: SuspensionKind;
  target: string;
  name: string;
  detail: string;
  /** The rule's or plugin's own switch (enabled/disabled), apart from any override. */
  configured: 'enabled' | 'disabled';
}

/** The correlation rules and the plugins' action triggers, each with Suspend or Resume. */
export function RuleTable(props: Props) {
  const rules = useRules();
  const rows: Row[] = [
    ...(rules.data?.rules ?? []).map((r): Row => ({ kind: 'rule', target: r.name, name: r.name, detail: `${r.kind} rule`, configured: r.enabled ? 'enabled' : 'disabled' })),
    ...(rules.data?.action_triggers ?? []).map((t): Row => ({ kind: 'rule', target: t.id, name: t.trigger, detail: `action trigger of ${t.plugin_id} ${t.plugin_version}`, configured: 'enabled' })),
  ];
  return <TargetSection title="Rules" rows={rows} loading={rules.isPending} error={rules.error} empty="This node runs no rules yet." {...props} />;
}

export function PluginTable(props: Props) {
  const plugins = usePlugins();
  const rows: Row[] = (plugins.data?.plugins ?? []).map((p) => ({ kind: 'plugin', target: p.model_id, name: p.model_id, detail: `${p.vendor}, version ${p.current_version}`, configured: p.enabled ? 'enabled' : 'disabled' }));
  return <TargetSection title="Plugins" rows={rows} loading={plugins.isPending} error={plugins.error} empty="No plugins are registered yet." {...props} />;
}

function TargetSection({ title, rows, loading, error, empty, changes, active, names, allowed }: Props & { title: string; rows: Row[]; loading: boolean; error: unknown; empty: string }) {
  const id = useId();
  return (
    <section className="overrides-section card" aria-labelledby={`${id}-title`}>
      <h3 id={`${id}-title`}>{title}</h3>
      {!allowed ? <p className="notice">A {title === 'Rules' ? 'rule' : 'plugin'} acts in every zone, so suspending one needs level L2 or above. To stop automation in your own zone, use the emergency stop.</p> : null}
      <ErrorText error={error} />
      {loading ? <p role="status">Loading {title.toLowerCase()}…</p> : null}
      {!loading && !error && rows.length === 0 ? <p className="muted">{empty}</p> : null}
      {rows.length > 0 ? (
        // A list rather than a table: it reflows to one column on a phone without losing meaning.
        <ul className="overrides-targets" aria-labelledby={`${id}-title`}>
          {rows.map((row) => (
            <TargetRow key={row.target} row={row} changes={changes} suspension={active.find((s) => s.kind === row.kind && s.target === row.target)} names={names} allowed={allowed} />
          ))}
        </ul>
      ) : null}
    </section>
  );
}

function TargetRow({ row, changes, suspension, names, allowed }: { row: Row; changes: Changes; suspension: Suspension | undefined; names: Names; allowed: boolean }) {
  const what = describeTarget(row.kind, row.target, names);
  const key = `${row.kind}:${row.target}`;
  const ask = () =>
    suspension
      ? changes.ask(key, { verb: 'resume', kind: row.kind, target: row.target, what }, { title: `Resume ${what}?`, message: `${describeScope(row.kind, row.target, names)} start again; the actions it held are sent now.`, reason: 'optional', danger: false })
      : changes.ask(key, { verb: 'suspend', kind: row.kind, target: row.target, what }, { title: `Suspend ${what}?`, message: `${describeScope(row.kind, row.target, names)} stop until resumed. Decisions are still made and recorded; their actions wait.`, reason: 'required', danger: true });
  return (
    <li className={`overrides-target${suspension ? ' overrides-target-suspended' : ''}`}>
      <div className="overrides-target-name">
        <strong>{row.name}</strong>
        <span className="muted">{row.detail}</span>
      </div>
      <div className="overrides-target-state">
        {row.configured !== 'enabled' ? <span className="badge">{row.configured}</span> : null}
        {suspension ? <span className="badge overrides-suspended">suspended</span> : <span className="badge overrides-running">running</span>}
        {allowed ? (
          <button type="button" aria-label={`${suspension ? 'Resume' : 'Suspend'} ${what}`} onClick={ask} disabled={changes.busy}>
            {suspension ? 'Resume' : 'Suspend'}
          </button>
        ) : null}
      </div>
      <OutcomeText outcome={changes.outcome(key)} />
    </li>
  );
}
