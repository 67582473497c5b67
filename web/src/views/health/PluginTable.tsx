import { usePlugins } from '../../api/plugins';
import { ErrorText } from '../../components/ErrorText';
import { formatTime } from '../../components/time';
import type { PluginCounts } from './derive';
import { formatCount, formatRate, reasonName } from './format';

/**
 * Each registered plugin with its status from the registry and its counters from the metrics
 * (`city_events_accepted_total{plugin}`, `city_events_rejected_total{plugin,code}`, counted
 * since the node started). Inputs whose plugin could not be told are counted as "(unknown)".
 */
export function PluginTable({ counts, ratesKnown }: { counts: Map<string, PluginCounts>; ratesKnown: boolean }) {
  const plugins = usePlugins();
  const list = plugins.data?.plugins ?? [];
  const unknown = counts.get('(unknown)');

  return (
    <section className="health-plugins card" aria-labelledby="health-plugins-title">
      <h3 id="health-plugins-title">Plugins</h3>
      <ErrorText error={plugins.error} />
      {plugins.isPending ? <p role="status">Loading plugins…</p> : null}
      {plugins.data && list.length === 0 ? <p className="muted">No plugins are registered on this node yet.</p> : null}
      {list.length > 0 ? (
        // Scrolls sideways on a phone; focusable so the keyboard can scroll it too.
        <div className="health-table-scroll" role="region" aria-label="Plugins table" tabIndex={0}>
          <table>
            <caption className="sr-only">Plugins: status, version, key and events since the node started</caption>
            <thead>
              <tr>
                <th scope="col">Plugin</th>
                <th scope="col">Status</th>
                <th scope="col">Accepted</th>
                <th scope="col">Accepted/s</th>
                <th scope="col">Rejected</th>
                <th scope="col">Version</th>
                <th scope="col">API key</th>
              </tr>
            </thead>
            <tbody>
              {list.map((p) => {
                const c = counts.get(p.model_id);
                return (
                  <tr key={p.model_id}>
                    <th scope="row">
                      {p.model_id}
                      <div className="muted health-small">{p.vendor}</div>
                    </th>
                    <td>
                      <span className={`badge ${p.enabled ? 'health-enabled' : 'health-disabled'}`}>{p.enabled ? 'enabled' : 'disabled'}</span>
                    </td>
                    <td>{formatCount(c?.accepted ?? 0)}</td>
                    <td>{c?.acceptedRate != null ? formatRate(c.acceptedRate) : ratesKnown ? '0' : '—'}</td>
                    <td>
                      {formatCount(c?.rejected ?? 0)}
                      <Reasons counts={c} />
                    </td>
                    <td>
                      {p.current_version}
                      {p.versions.length > 1 ? <div className="muted health-small">{p.versions.length} versions</div> : null}
                    </td>
                    <td>
                      <code>{p.api_key_prefix}…</code>
                      <div className="muted health-small">{p.key_rotated_at ? `rotated ${formatTime(p.key_rotated_at)}` : 'never rotated'}</div>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      ) : null}
      {unknown && unknown.rejected > 0 ? (
        <p className="muted">
          Inputs naming no registered plugin: {formatCount(unknown.rejected)} rejected
          <Reasons counts={unknown} />
        </p>
      ) : null}
    </section>
  );
}

function Reasons({ counts }: { counts: PluginCounts | undefined }) {
  if (!counts || counts.rejectedByCode.size === 0) return null;
  const text = [...counts.rejectedByCode].map(([code, n]) => `${reasonName(code)} ${formatCount(n)}`).join(', ');
  return <div className="muted health-small">{text}</div>;
}
