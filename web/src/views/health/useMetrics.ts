import { useEffect, useRef, useState } from 'react';
import { errorText } from '../../api/client';
import { derive, pluginCounts, type HealthPoint, type PluginCounts, type TimedScrape } from './derive';
import { parsePrometheus } from './prometheus';

/** Every 2 s, ~5 minutes kept: 150 points of a few numbers each. */
export const SCRAPE_INTERVAL_MS = 2000;
const HISTORY_POINTS = 150;

export interface MetricsState {
  history: readonly HealthPoint[];
  latest: TimedScrape | null;
  plugins: Map<string, PluginCounts>;
  /** The last scrape failed (the node is down or unreachable); history is kept. */
  error: string | null;
}

/**
 * Scrapes the node's own GET /metrics (public, Prometheus text) every 2 s while the view is
 * open and keeps the derived points in memory. The history is a new array each time, so React
 * and the charts see a change; at 150 short rows that copy costs nothing.
 */
export function useMetrics(): MetricsState {
  const [state, setState] = useState<MetricsState>({ history: [], latest: null, plugins: new Map(), error: null });
  const prev = useRef<TimedScrape | null>(null);

  useEffect(() => {
    let stopped = false;
    let inFlight: AbortController | null = null;
    const scrape = async () => {
      if (inFlight) return; // a slow node: skip a beat rather than pile requests up
      inFlight = new AbortController();
      try {
        const response = await fetch('/metrics', { signal: inFlight.signal, headers: { accept: 'text/plain' } });
        if (!response.ok) throw new Error(`GET /metrics answered ${response.status} ${response.statusText}`);
        const now: TimedScrape = { atMs: Date.now(), scrape: parsePrometheus(await response.text()) };
        if (stopped) return;
        const point = derive(now, prev.current);
        const plugins = pluginCounts(now, prev.current);
        prev.current = now;
        setState((s) => ({ history: [...s.history.slice(-(HISTORY_POINTS - 1)), point], latest: now, plugins, error: null }));
      } catch (err) {
        if (stopped) return;
        setState((s) => ({ ...s, error: `Cannot read the node's metrics: ${errorText(err)}. Retrying every ${SCRAPE_INTERVAL_MS / 1000} s.` }));
      } finally {
        inFlight = null;
      }
    };
    void scrape();
    const timer = setInterval(() => void scrape(), SCRAPE_INTERVAL_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
      inFlight?.abort();
    };
  }, []);

  return state;
}
