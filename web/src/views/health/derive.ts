import { byLabel, histogram, histogramDelta, quantile, total, type Histogram, type Scrape } from './prometheus';

/**
 * What the health view shows, worked out from two successive scrapes of the node's /metrics
 * (names and labels from src/ops/metrics.ts). Rates are per second over the interval between
 * the scrapes; percentiles come from the histogram buckets filled in that interval, so they
 * describe the last couple of seconds, not the node's whole life. Null means "nothing to
 * measure" (no observations, or the first scrape) and draws as a gap.
 */
export interface HealthPoint {
  /** Seconds since the epoch (uPlot's time axis unit). */
  t: number;
  ingestRate: number | null;
  decisionRate: number | null;
  rejectedRate: number | null;
  /** Rejected inputs per second by error code. */
  rejectedByCode: Map<string, number>;
  ingestP50: number | null;
  ingestP95: number | null;
  ingestP99: number | null;
  decisionP50: number | null;
  decisionP95: number | null;
  decisionP99: number | null;
  pendingRows: number | null;
  mqttClients: number | null;
  streamClients: number | null;
}

/** One scrape, kept until the next one to take differences from. */
export interface TimedScrape {
  atMs: number;
  scrape: Scrape;
}

export const METRIC = {
  accepted: 'city_events_accepted_total',
  rejected: 'city_events_rejected_total',
  ingestLatency: 'city_ingest_latency_seconds',
  decisions: 'city_decisions_total',
  decisionLatency: 'city_decision_latency_seconds',
  pendingRows: 'city_ingest_pending_rows',
  mqttClients: 'city_mqtt_clients',
  streamClients: 'city_stream_clients',
  startTime: 'city_process_process_start_time_seconds',
  residentMemory: 'city_process_process_resident_memory_bytes',
  eventLoopLagP99: 'city_process_nodejs_eventloop_lag_p99_seconds',
} as const;

/** Increase of a counter between scrapes; a decrease is a restart, counted from zero. */
function increase(later: number | null, earlier: number | null): number | null {
  if (later === null) return null;
  if (earlier === null || later < earlier) return later;
  return later - earlier;
}

function percentiles(later: Histogram | null, earlier: Histogram | null): [number | null, number | null, number | null] {
  if (!later) return [null, null, null];
  const delta = histogramDelta(later, earlier);
  return [quantile(0.5, delta), quantile(0.95, delta), quantile(0.99, delta)];
}

/** The point for the interval ending at `now`; `prev` is the scrape before it (null at the first). */
export function derive(now: TimedScrape, prev: TimedScrape | null): HealthPoint {
  const s = now.scrape;
  const p = prev?.scrape ?? null;
  const seconds = prev ? (now.atMs - prev.atMs) / 1000 : 0;
  const rate = (name: string): number | null => {
    if (!p || seconds <= 0) return null;
    const inc = increase(total(s, name), total(p, name));
    // A counter the node has not written yet (nothing accepted so far) is zero, not unknown.
    return (inc ?? 0) / seconds;
  };

  const rejectedByCode = new Map<string, number>();
  if (p && seconds > 0) {
    const before = byLabel(p, METRIC.rejected, 'code');
    for (const [code, value] of byLabel(s, METRIC.rejected, 'code')) {
      const inc = increase(value, before.get(code) ?? null) ?? 0;
      rejectedByCode.set(code, inc / seconds);
    }
  }

  const [ingestP50, ingestP95, ingestP99] = percentiles(histogram(s, METRIC.ingestLatency), p && histogram(p, METRIC.ingestLatency));
  const [decisionP50, decisionP95, decisionP99] = percentiles(histogram(s, METRIC.decisionLatency), p && histogram(p, METRIC.decisionLatency));
  return {
    t: now.atMs / 1000,
    ingestRate: rate(METRIC.accepted),
    decisionRate: rate(METRIC.decisions),
    rejectedRate: rate(METRIC.rejected),
    rejectedByCode,
    ingestP50: p ? ingestP50 : null,
    ingestP95: p ? ingestP95 : null,
    ingestP99: p ? ingestP99 : null,
    decisionP50: p ? decisionP50 : null,
    decisionP95: p ? decisionP95 : null,
    decisionP99: p ? decisionP99 : null,
    pendingRows: total(s, METRIC.pendingRows),
    mqttClients: total(s, METRIC.mqttClients),
    streamClients: total(s, METRIC.streamClients),
  };
}

/** Per plugin, since the node started: events accepted and inputs rejected (by code). */
export interface PluginCounts {
  accepted: number;
  rejected: number;
  rejectedByCode: Map<string, number>;
  acceptedRate: number | null;
}

export function pluginCounts(now: TimedScrape, prev: TimedScrape | null): Map<string, PluginCounts> {
  const out = new Map<string, PluginCounts>();
  const entry = (plugin: string) => {
    let e = out.get(plugin);
    if (!e) out.set(plugin, (e = { accepted: 0, rejected: 0, rejectedByCode: new Map(), acceptedRate: null }));
    return e;
  };
  const before = prev ? byLabel(prev.scrape, METRIC.accepted, 'plugin') : null;
  const seconds = prev ? (now.atMs - prev.atMs) / 1000 : 0;
  for (const [plugin, value] of byLabel(now.scrape, METRIC.accepted, 'plugin')) {
    const e = entry(plugin);
    e.accepted = value;
    if (before && seconds > 0) e.acceptedRate = (increase(value, before.get(plugin) ?? null) ?? 0) / seconds;
  }
  for (const s of now.scrape.get(METRIC.rejected) ?? []) {
    const e = entry(s.labels.plugin ?? '(unknown)');
    e.rejected += s.value;
    const code = s.labels.code ?? '';
    e.rejectedByCode.set(code, (e.rejectedByCode.get(code) ?? 0) + s.value);
  }
  return out;
}
