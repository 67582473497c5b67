/**
 * A small reader for the Prometheus text exposition format (version 0.0.4), enough for the
 * node's own GET /metrics: samples with labels, escaped label values, +Inf/-Inf/NaN, and
 * histograms from their `_bucket` / `_sum` / `_count` series. Comments (HELP, TYPE) are skipped:
 * the dashboard knows which metric is which from src/ops/metrics.ts.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Samples grouped by metric name, in the order the node wrote them. */
export type Scrape = Map<string, Sample[]>;

/**
 * @example
 *   parsePrometheus('city_events_accepted_total{plugin="cam"} 3\n').get('city_events_accepted_total');
 *   // → [{ name: 'city_events_accepted_total', labels: { plugin: 'cam' }, value: 3 }]
 */
export function parsePrometheus(text: string): Scrape {
  const out: Scrape = new Map();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const sample = parseLine(line);
    if (!sample) continue;
    const list = out.get(sample.name);
    if (list) list.push(sample);
    else out.set(sample.name, [sample]);
  }
  return out;
}

function parseLine(line: string): Sample | null {
  let i = 0;
  while (i < line.length && line[i] !== '{' && line[i] !== ' ' && line[i] !== '\t') i++;
  const name = line.slice(0, i);
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    while (i < line.length && line[i] !== '}') {
      const eq = line.indexOf('=', i);
      if (eq < 0) return null;
      const key = line.slice(i, eq).trim().replace(/^,/, '').trim();
      if (line[eq + 1] !== '"') return null;
      // Label values escape backslash, double quote and line feed (exposition format spec).
      let value = '';
      let j = eq + 2;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\' && j + 1 < line.length) {
          const next = line[++j];
          value += next === 'n' ? '\n' : next;
        } else value += line[j];
      }
      labels[key] = value;
      i = j + 1;
      while (line[i] === ',' || line[i] === ' ') i++;
    }
    i++;
  }
  // Value, then an optional timestamp we do not need.
  const value = parseValue(line.slice(i).trim().split(/\s+/)[0] ?? '');
  return name && value !== null ? { name, labels, value } : null;
}

function parseValue(text: string): number | null {
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  const n = Number(text);
  return text === '' || Number.isNaN(n) ? null : n;
}

/** True when every label in `match` has that value in `labels`. */
function matches(labels: Record<string, string>, match: Record<string, string>): boolean {
  for (const key in match) if (labels[key] !== match[key]) return false;
  return true;
}

/** The sum of a metric's samples (over all label sets, or those matching `match`); null when absent. */
export function total(scrape: Scrape, name: string, match: Record<string, string> = {}): number | null {
  const samples = scrape.get(name);
  if (!samples) return null;
  let sum = 0;
  for (const s of samples) if (matches(s.labels, match)) sum += s.value;
  return sum;
}

/** A metric's samples summed by one label: `byLabel(s, 'city_events_rejected_total', 'code')` → { CITY_ERR_…: 3 }. */
export function byLabel(scrape: Scrape, name: string, label: string, match: Record<string, string> = {}): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of scrape.get(name) ?? []) {
    if (!matches(s.labels, match)) continue;
    const key = s.labels[label] ?? '';
    out.set(key, (out.get(key) ?? 0) + s.value);
  }
  return out;
}

/** Cumulative bucket counts by upper bound, ascending, the last one +Inf. */
export interface Histogram {
  buckets: Array<{ le: number; count: number }>;
  sum: number;
  count: number;
}

/** A histogram summed over its other labels (e.g. every transport); null when the node has none. */
export function histogram(scrape: Scrape, name: string): Histogram | null {
  const bucketSamples = scrape.get(`${name}_bucket`);
  if (!bucketSamples) return null;
  const byLe = new Map<number, number>();
  for (const s of bucketSamples) {
    const le = parseValue(s.labels.le ?? '');
    if (le === null) continue;
    byLe.set(le, (byLe.get(le) ?? 0) + s.value);
  }
  const buckets = [...byLe].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
  return { buckets, sum: total(scrape, `${name}_sum`) ?? 0, count: total(scrape, `${name}_count`) ?? 0 };
}

/**
 * What was observed between two scrapes: bucket by bucket `later − earlier`. A counter that
 * went down means the node restarted; its whole later value is then the increase (as
 * Prometheus' rate() treats resets).
 */
export function histogramDelta(later: Histogram, earlier: Histogram | null): Histogram {
  if (!earlier || later.count < earlier.count) return later;
  const before = new Map(earlier.buckets.map((b) => [b.le, b.count]));
  return {
    buckets: later.buckets.map((b) => ({ le: b.le, count: Math.max(0, b.count - (before.get(b.le) ?? 0)) })),
    sum: later.sum - earlier.sum,
    count: later.count - earlier.count,
  };
}

/**
 * The q-quantile of a histogram, as Prometheus' histogram_quantile() computes it: find the
 * bucket holding the rank q·count and interpolate linearly inside it (from the previous bound,
 * or 0 for the first bucket). A rank in the +Inf bucket answers the highest finite bound.
 * Null when nothing was observed.
 *
 * @example
 *   quantile(0.5, { buckets: [{ le: 0.01, count: 0 }, { le: 0.1, count: 10 }, { le: Infinity, count: 10 }], sum: 0.5, count: 10 });
 *   // → 0.055 (halfway through the 10–100 ms bucket)
 */
export function quantile(q: number, h: Histogram): number | null {
  const buckets = h.buckets;
  const last = buckets[buckets.length - 1];
  if (!last || last.count <= 0) return null;
  const rank = q * last.count;
  let prevLe = 0;
  let prevCount = 0;
  for (let i = 0; i < buckets.length; i++) {
    const b = buckets[i]!;
    if (b.count >= rank) {
      if (b.le === Infinity) return prevLe;
      if (b.count === prevCount) return b.le;
      const from = i === 0 && b.le <= 0 ? b.le : prevLe;
      return from + (b.le - from) * ((rank - prevCount) / (b.count - prevCount));
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}
