import { HealthCharts } from './HealthCharts';
import { NodeFacts } from './NodeFacts';
import { PluginTable } from './PluginTable';
import { SCRAPE_INTERVAL_MS, useMetrics } from './useMetrics';
import './health.css';

/**
 * System health (issue 6 item 5): the node's own Prometheus metrics, scraped every 2 s while
 * this view is open, as live charts with their values in words; the plugins' status and
 * counters; the node's identity and readiness.
 */
export default function HealthView() {
  const metrics = useMetrics();
  const last = metrics.history[metrics.history.length - 1];

  return (
    <div className="health">
      <header className="health-header">
        <h2>System health</h2>
        <p className="muted">
          From this node&apos;s own <code>/metrics</code>, read every {SCRAPE_INTERVAL_MS / 1000} s; the charts keep the last 5 minutes while this page is open.
        </p>
        {metrics.error ? (
          <p className="error" role="alert">
            {metrics.error}
          </p>
        ) : null}
      </header>
      <NodeFacts latest={metrics.latest} point={last} />
      {metrics.history.length === 0 && !metrics.error ? <p role="status">Reading the node&apos;s metrics…</p> : null}
      <HealthCharts history={metrics.history} />
      <PluginTable counts={metrics.plugins} ratesKnown={metrics.history.length > 1} />
    </div>
  );
}
