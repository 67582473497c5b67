import { useMemo } from 'react';
import type { AlignedData } from 'uplot';
import { Chart, type ChartSeries } from './Chart';
import type { HealthPoint } from './derive';
import { DASHES, PALETTE, formatRate, formatSeconds, reasonName } from './format';
import { SCRAPE_INTERVAL_MS } from './useMetrics';

const INTERVAL = `${SCRAPE_INTERVAL_MS / 1000} s`;

type Pick = (p: HealthPoint) => number | null;

function columns(history: readonly HealthPoint[], picks: Pick[]): AlignedData {
  return [history.map((p) => p.t), ...picks.map((pick) => history.map(pick))];
}

const PERCENTILES: ChartSeries[] = [
  { label: 'p50', colour: 'var(--accent)' },
  { label: 'p95', colour: 'var(--warn)', dash: [8, 4] },
  { label: 'p99', colour: 'var(--danger)', dash: [2, 3] },
];

/** The four live charts: throughput, ingest latency, decision latency, rejected inputs by reason. */
export function HealthCharts({ history }: { history: readonly HealthPoint[] }) {
  const last = history[history.length - 1];

  const rates = useMemo(() => columns(history, [(p) => p.ingestRate, (p) => p.decisionRate]), [history]);
  const ingest = useMemo(() => columns(history, [(p) => p.ingestP50, (p) => p.ingestP95, (p) => p.ingestP99]), [history]);
  const decision = useMemo(() => columns(history, [(p) => p.decisionP50, (p) => p.decisionP95, (p) => p.decisionP99]), [history]);

  // One series per reason seen in the kept history; before any reject, one "all reasons" line at 0.
  const codes = useMemo(() => {
    const seen = new Set<string>();
    for (const p of history) for (const code of p.rejectedByCode.keys()) seen.add(code);
    return [...seen].sort();
  }, [history]);
  const rejectSeries: ChartSeries[] = codes.length > 0 ? codes.map((code, i) => ({ label: reasonName(code), colour: PALETTE[i % PALETTE.length]!, dash: DASHES[i % DASHES.length] })) : [{ label: 'all reasons', colour: 'var(--danger)' }];
  const rejects = useMemo(
    () => columns(history, codes.length > 0 ? codes.map((code) => (p: HealthPoint) => (p.rejectedRate === null ? null : (p.rejectedByCode.get(code) ?? 0))) : [(p) => p.rejectedRate]),
    [history, codes],
  );

  const latencyWords = (p50: number | null | undefined, p95: number | null | undefined, p99: number | null | undefined, what: string) =>
    p50 == null || p95 == null || p99 == null ? `No ${what} in the last ${INTERVAL}.` : `p50 ${formatSeconds(p50)}, p95 ${formatSeconds(p95)}, p99 ${formatSeconds(p99)} (last ${INTERVAL}).`;
  const rate = (v: number | null | undefined) => (v == null ? '—' : formatRate(v));

  return (
    <div className="health-charts">
      <Chart
        title="Ingest and decisions per second"
        series={[
          { label: 'events accepted/s', colour: 'var(--accent)' },
          { label: 'decisions/s', colour: 'var(--warn)', dash: [8, 4] },
        ]}
        data={rates}
        format={formatRate}
        summary={`Ingest: ${rate(last?.ingestRate)} events/s · Decisions: ${rate(last?.decisionRate)}/s.`}
      />
      <Chart title="Ingest latency (receipt to acknowledgement)" series={PERCENTILES} data={ingest} format={formatSeconds} summary={`Ingest latency: ${latencyWords(last?.ingestP50, last?.ingestP95, last?.ingestP99, 'events acknowledged')}`} />
      <Chart title="Decision latency (receipt to stored decision)" series={PERCENTILES} data={decision} format={formatSeconds} summary={`Decision latency: ${latencyWords(last?.decisionP50, last?.decisionP95, last?.decisionP99, 'decisions made')}`} />
      <Chart title="Rejected inputs per second, by reason" series={rejectSeries} data={rejects} format={formatRate} summary={rejectWords(last)} />
    </div>
  );
}

function rejectWords(last: HealthPoint | undefined): string {
  if (!last || last.rejectedRate === null) return 'Rejected: — (waiting for a second scrape).';
  const reasons = [...last.rejectedByCode].filter(([, v]) => v > 0).map(([code, v]) => `${reasonName(code)} ${formatRate(v)}/s`);
  return `Rejected: ${formatRate(last.rejectedRate)} inputs/s${reasons.length > 0 ? ` (${reasons.join(', ')})` : ''}.`;
}
