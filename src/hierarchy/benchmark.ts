/**
 * National benchmarking (seed 001 §6.2: "analytics for comparison and best practice sharing
 * across all connected states and cities"): each KPI's values ranked across the states or
 * cities that report it. Pure; the caller collects the metrics from its children's reports.
 */

export interface BenchmarkInput {
  id: string;
  name: string | null;
  /** KPI → value; null (or absent) when the state or city does not report it. */
  metrics: Record<string, number | null>;
}

export interface KpiSpec {
  kpi: string;
  /** Which way is better: `lower` for response times, `higher` for resolution rates. */
  better: 'lower' | 'higher';
}

export interface BenchmarkRanking {
  id: string;
  value: number;
  /** 1 is best; equal values share a rank and the next rank is skipped (1, 2, 2, 4). */
  rank: number;
  /** Share of the others, 0–1, this one is better than or equal to; 1 when it is the only one. */
  percentile: number;
}

export interface KpiBenchmark {
  kpi: string;
  better: 'lower' | 'higher';
  /** Best first; equal values by id. */
  ranking: BenchmarkRanking[];
  /** The id ranked first (of several ranked first, the smallest id); null when no one reports the KPI. */
  best: string | null;
  /** The median value (the mean of the middle two for an even count); null when no one reports it. */
  median: number | null;
  /** Ids without a value for the KPI (null, absent or not a finite number), in input order. */
  missing: string[];
}

/**
 * Ranks every input on each KPI. Competition ranking ("1224"): ties share the better rank, so a
 * rank always says how many did strictly better (rank − 1). The percentile follows from it: of
 * the n − 1 others, n − rank are no better than this one.
 *
 * @example
 *   benchmark(
 *     [{ id: 'in-tn', name: 'Tamil Nadu', metrics: { response_time_s: 410 } },
 *      { id: 'in-ka', name: 'Karnataka', metrics: { response_time_s: 380 } },
 *      { id: 'in-kl', name: 'Kerala', metrics: { response_time_s: null } }],
 *     [{ kpi: 'response_time_s', better: 'lower' }]);
 *   // → [{ kpi: 'response_time_s', better: 'lower', best: 'in-ka', median: 395, missing: ['in-kl'],
 *   //      ranking: [{ id: 'in-ka', value: 380, rank: 1, percentile: 1 }, { id: 'in-tn', value: 410, rank: 2, percentile: 0 }] }]
 * @throws RangeError for an id given twice or a `better` that is neither 'lower' nor 'higher'
 */
export function benchmark(inputs: readonly BenchmarkInput[], kpis: readonly KpiSpec[]): KpiBenchmark[] {
  const ids = new Set<string>();
  for (const input of inputs) {
    if (ids.has(input.id)) throw new RangeError(`id ${JSON.stringify(input.id)} is given twice`);
    ids.add(input.id);
  }
  return kpis.map(({ kpi, better }) => {
    if (better !== 'lower' && better !== 'higher') throw new RangeError(`KPI ${JSON.stringify(kpi)}: better must be 'lower' or 'higher', not ${JSON.stringify(better)}`);
    const values: Array<{ id: string; value: number }> = [];
    const missing: string[] = [];
    for (const input of inputs) {
      // hasOwn: a KPI named like an Object.prototype member ("constructor") is not reported by everyone.
      const value = Object.hasOwn(input.metrics, kpi) ? input.metrics[kpi] : null;
      if (typeof value === 'number' && Number.isFinite(value)) values.push({ id: input.id, value });
      else missing.push(input.id);
    }
    const sign = better === 'lower' ? 1 : -1;
    values.sort((a, b) => sign * (a.value - b.value) || compareIds(a.id, b.id));
    const n = values.length;
    const ranking: BenchmarkRanking[] = [];
    for (let i = 0; i < n; i++) {
      const { id, value } = values[i]!;
      const rank = i > 0 && values[i - 1]!.value === value ? ranking[i - 1]!.rank : i + 1;
      ranking.push({ id, value, rank, percentile: n > 1 ? (n - rank) / (n - 1) : 1 });
    }
    const ascending = values.map((v) => v.value).sort((a, b) => a - b);
    const median = n === 0 ? null : n % 2 === 1 ? ascending[(n - 1) / 2]! : (ascending[n / 2 - 1]! + ascending[n / 2]!) / 2;
    return { kpi, better, ranking, best: ranking[0]?.id ?? null, median, missing };
  });
}

/** Code-unit order: the same on every machine, unlike localeCompare. */
function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
