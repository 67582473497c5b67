import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { benchmark, type BenchmarkInput } from '../../src/hierarchy/benchmark.js';

describe('benchmark', () => {
  const states: BenchmarkInput[] = [
    { id: 'in-tn', name: 'Tamil Nadu', metrics: { response_time_s: 410, resolution_rate: 0.91 } },
    { id: 'in-ka', name: 'Karnataka', metrics: { response_time_s: 380, resolution_rate: 0.88 } },
    { id: 'in-kl', name: 'Kerala', metrics: { response_time_s: 410, resolution_rate: null } },
    { id: 'in-mh', name: 'Maharashtra', metrics: { response_time_s: 520, resolution_rate: 0.91 } },
    { id: 'in-ap', name: null, metrics: { response_time_s: Number.NaN } },
  ];

  it('ranks lower-is-better with shared ranks for ties (1, 2, 2, 4) and percentiles from them', () => {
    const [response] = benchmark(states, [{ kpi: 'response_time_s', better: 'lower' }]);
    assert.deepEqual(response, {
      kpi: 'response_time_s',
      better: 'lower',
      ranking: [
        { id: 'in-ka', value: 380, rank: 1, percentile: 1 },
        // Tied: each is better than or equal to 2 of the 3 others (each other, and Maharashtra).
        { id: 'in-kl', value: 410, rank: 2, percentile: 2 / 3 },
        { id: 'in-tn', value: 410, rank: 2, percentile: 2 / 3 },
        { id: 'in-mh', value: 520, rank: 4, percentile: 0 },
      ],
      best: 'in-ka',
      median: 410,
      missing: ['in-ap'],
    });
  });

  it('ranks higher-is-better, takes the median of an even count, and lists absent and null values as missing', () => {
    const [rate] = benchmark(states, [{ kpi: 'resolution_rate', better: 'higher' }]);
    assert.deepEqual(rate!.ranking.map((r) => [r.id, r.rank, r.percentile]), [['in-mh', 1, 1], ['in-tn', 1, 1], ['in-ka', 3, 0]]);
    assert.equal(rate!.best, 'in-mh', 'of two ranked first, the smaller id');
    assert.equal(rate!.median, 0.91);
    assert.deepEqual(rate!.missing, ['in-kl', 'in-ap']);
    const [even] = benchmark(states.slice(0, 2), [{ kpi: 'response_time_s', better: 'lower' }]);
    assert.equal(even!.median, 395);
  });

  it('answers every KPI asked, in order, even one nobody reports', () => {
    const out = benchmark(states, [{ kpi: 'constructor', better: 'higher' }, { kpi: 'response_time_s', better: 'higher' }]);
    assert.deepEqual(out[0], { kpi: 'constructor', better: 'higher', ranking: [], best: null, median: null, missing: ['in-tn', 'in-ka', 'in-kl', 'in-mh', 'in-ap'] });
    assert.equal(out[1]!.best, 'in-mh', 'the same values the other way round');
    const [alone] = benchmark([states[0]!], [{ kpi: 'response_time_s', better: 'lower' }]);
    assert.deepEqual(alone!.ranking, [{ id: 'in-tn', value: 410, rank: 1, percentile: 1 }]);
  });

  it('refuses an id given twice or an unknown direction', () => {
    assert.throws(() => benchmark([states[0]!, states[0]!], []), /"in-tn" is given twice/);
    assert.throws(() => benchmark(states, [{ kpi: 'x', better: 'more' as 'higher' }]), RangeError);
  });
});
