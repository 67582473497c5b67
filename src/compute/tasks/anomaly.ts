import { arrayAt, chunkBounds, integerAt, numberAt, objectAt, stringAt, TaskInputError, type TaskKind } from './task.js';

/**
 * anomaly_scoring: which sensor readings are out of line with the sensor's own recent past.
 *
 * Each point gets a robust z-score against a trailing window of the points before it (not
 * including itself, so a spike cannot dampen its own score): z = (x − median) / (1.4826 × MAD),
 * where MAD is the median absolute deviation and 1.4826 makes it estimate the standard
 * deviation for normal noise. Median and MAD ignore up to half the window being outliers, so a
 * burst of bad readings does not hide the next one — the reason to prefer them to mean and
 * standard deviation. |z| ≥ 3.5 is Iglewicz and Hoaglin's recommended cut-off.
 *
 * When more than half the window is one value (a sensor that reports a step-wise quantity),
 * MAD is 0; then 1.2533 × the mean absolute deviation stands in (the same normal-noise
 * scaling). A window with no spread at all gives any different value z = ±Infinity: it is an
 * anomaly, and JSON will carry that z as null (the value and index still say what happened).
 */
export const ANOMALY_DEFAULTS = {
  /** Points in the trailing window: an hour of minute readings. */
  window: 60,
  threshold: 3.5,
  /** Scoring starts when the window holds at least this share of its points (and at least 3). */
  minHistoryShare: 0.5,
  /** Points over all series: the input itself must fit an executor's memory several times. */
  maxPoints: 20_000_000,
} as const;

const MAD_TO_SD = 1.4826;
const MEAN_AD_TO_SD = 1.2533;

export interface AnomalyInput {
  series: Array<{ sensor_id: string; values: number[] }>;
  window?: number;
  threshold?: number;
}

export interface SensorAnomalies {
  sensor_id: string;
  anomalies: Array<{ index: number; value: number; z: number }>;
  /** Points that had enough history to be scored (the first ones of a series do not). */
  scored: number;
}

export interface AnomalyOutput {
  sensors: SensorAnomalies[];
  total_anomalies: number;
}

/**
 * Robust z-scores of one series against its trailing window; points with |z| ≥ threshold.
 * O(points × window) with two typed arrays: a ring of the window in arrival order, and the
 * same values kept sorted (one shift per point) so the median is an index away.
 *
 * @example
 *   scoreSeries([10, 11, 10, 9, 10, 50], 5, 3.5).anomalies; // → [{ index: 5, value: 50, z: … }]
 */
export function scoreSeries(values: readonly number[], window: number, threshold: number): Omit<SensorAnomalies, 'sensor_id'> {
  const minHistory = Math.min(window, Math.max(3, Math.ceil(window * ANOMALY_DEFAULTS.minHistoryShare)));
  const ring = new Float64Array(window);
  const sorted = new Float64Array(window);
  let head = 0;
  let count = 0;
  let scored = 0;
  const anomalies: SensorAnomalies['anomalies'] = [];

  for (let i = 0; i < values.length; i++) {
    const x = values[i]!;
    if (count >= minHistory) {
      const median = count % 2 === 1 ? sorted[count >> 1]! : (sorted[(count >> 1) - 1]! + sorted[count >> 1]!) / 2;
      let scale = MAD_TO_SD * madOfSorted(sorted, count, median);
      if (scale === 0) {
        let sum = 0;
        for (let k = 0; k < count; k++) sum += Math.abs(sorted[k]! - median);
        scale = (MEAN_AD_TO_SD * sum) / count;
      }
      const dev = x - median;
      const z = scale > 0 ? dev / scale : dev === 0 ? 0 : dev > 0 ? Infinity : -Infinity;
      scored++;
      if (Math.abs(z) >= threshold) anomalies.push({ index: i, value: x, z });
    }
    if (count === window) {
      // Drop the oldest value from the sorted copy: find it, close the gap.
      const at = lowerBound(sorted, count, ring[head]!);
      sorted.copyWithin(at, at + 1, count);
      count--;
    }
    const at = lowerBound(sorted, count, x);
    sorted.copyWithin(at + 1, at, count);
    sorted[at] = x;
    count++;
    ring[head] = x;
    head = (head + 1) % window;
  }
  return { anomalies, scored };
}

/** First index in sorted[0, count) whose value is ≥ x. */
function lowerBound(sorted: Float64Array, count: number, x: number): number {
  let lo = 0;
  let hi = count;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Median of |v − median| over a sorted window, without sorting the deviations: they grow
 * outwards from the median on both sides, so merging the two sides in order reaches the
 * middle one after count / 2 steps.
 */
function madOfSorted(sorted: Float64Array, count: number, median: number): number {
  let right = lowerBound(sorted, count, median);
  let left = right - 1;
  const hiRank = count >> 1;
  const loRank = (count - 1) >> 1;
  let lo = 0;
  for (let rank = 0; rank <= hiRank; rank++) {
    const dl = left >= 0 ? median - sorted[left]! : Infinity;
    const dr = right < count ? sorted[right]! - median : Infinity;
    const d = dl <= dr ? dl : dr;
    if (dl <= dr) left--;
    else right++;
    if (rank === loRank) lo = d;
    if (rank === hiRank) return (lo + d) / 2;
  }
  return 0; // not reached: hiRank < count
}

function validate(raw: unknown): AnomalyInput {
  const input = objectAt(raw, '');
  const out: AnomalyInput = { series: [] };
  if (input.window !== undefined) out.window = integerAt(input.window, 'window', 3, 100_000);
  if (input.threshold !== undefined) out.threshold = numberAt(input.threshold, 'threshold', 0, 1e6);
  if (out.threshold === 0) throw new TaskInputError('threshold', 'must be more than 0');
  let points = 0;
  arrayAt(input.series, 'series').forEach((raw, k) => {
    const s = objectAt(raw, `series[${k}]`);
    const values = arrayAt(s.values, `series[${k}].values`);
    for (let i = 0; i < values.length; i++) numberAt(values[i], `series[${k}].values[${i}]`);
    points += values.length;
    if (points > ANOMALY_DEFAULTS.maxPoints) throw new TaskInputError('series', `has more than ${ANOMALY_DEFAULTS.maxPoints} points; split the job`);
    out.series.push({ sensor_id: stringAt(s.sensor_id, `series[${k}].sensor_id`), values: values as number[] });
  });
  return out;
}

/**
 * @example
 *   anomalyScoring.run({ series: [{ sensor_id: 'aq-1', values }] }, () => {}).total_anomalies;
 */
export const anomalyScoring: TaskKind<AnomalyInput, AnomalyOutput> = {
  name: 'anomaly_scoring',
  description: 'Robust z-scores (trailing median and MAD) per sensor reading and the readings beyond a threshold; fans out by sensors.',
  validate,
  run(input, progress) {
    const window = input.window ?? ANOMALY_DEFAULTS.window;
    const threshold = input.threshold ?? ANOMALY_DEFAULTS.threshold;
    const out: AnomalyOutput = { sensors: [], total_anomalies: 0 };
    input.series.forEach((s, k) => {
      const scored = scoreSeries(s.values, window, threshold);
      out.sensors.push({ sensor_id: s.sensor_id, ...scored });
      out.total_anomalies += scored.anomalies.length;
      progress((k + 1) / input.series.length);
    });
    return out;
  },
  split(input, n) {
    return chunkBounds(input.series.length, n).map(([a, b]) => ({ ...input, series: input.series.slice(a, b) }));
  },
  merge(outputs) {
    const merged: AnomalyOutput = { sensors: [], total_anomalies: 0 };
    for (const o of outputs) {
      merged.sensors.push(...o.sensors);
      merged.total_anomalies += o.total_anomalies;
    }
    return merged;
  },
};
