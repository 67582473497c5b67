import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { AggregationReport, EscalatedIncident } from '../../src/brain/aggregation.js';
import { loadZoneFile } from '../../src/geo/zone-file.js';
import { ZoneTree, type Zone } from '../../src/geo/zones.js';
import { mergeReports, type ChildReportInput, type LayerReport, type MergeOptions, type Pattern } from '../../src/hierarchy/report-merge.js';
import { CHENNAI_ZONES } from '../helpers/fixtures.js';

/**
 * Merging children's reports at the higher layers (issue 5 §2, seed 001 §3.4, §4–§7) on the
 * real Chennai tree: wards of Teynampet (chennai-z09) and Adyar (chennai-z13) as Local Brains,
 * merged into districts, the districts into the city, cities into states and states into the
 * nation — every layer fed by the one below, as in production. Expected numbers are worked out
 * by hand in the comments.
 */

const WINDOW_MS = 15 * 60_000;
const T0 = Date.parse('2025-12-03T14:00:00Z');

let tree: ZoneTree;
let teynampetWards: readonly Zone[];
let adyarWards: readonly Zone[];

before(async () => {
  tree = new ZoneTree(await loadZoneFile(CHENNAI_ZONES));
  teynampetWards = [...tree.children('chennai-z09')].sort((a, b) => (a.id < b.id ? -1 : 1));
  adyarWards = [...tree.children('chennai-z13')].sort((a, b) => (a.id < b.id ? -1 : 1));
});

interface LocalSpec {
  events?: Record<string, number>;
  escalated?: Array<Pick<EscalatedIncident, 'incident_id' | 'severity' | 'decided_at'> & { type?: string }>;
  /** The local's full count, when it listed fewer (its own cap). */
  escalatedTotal?: number;
  avg?: number | null;
  p95?: number | null;
  measured?: number;
  accuracy?: number | null;
  resolved?: number;
  ambulances?: [available: number, total: number];
  fireTrucks?: [available: number, total: number];
  decisions?: number;
  rejected?: number;
}

/** A local Brain's report as src/brain/aggregation.ts builds it, for one ward and window. */
function localReport(nodeId: string, wardId: string, startMs: number, spec: LocalSpec): AggregationReport {
  const events = spec.events ?? {};
  const total = Object.values(events).reduce((a, b) => a + b, 0);
  const escalated = (spec.escalated ?? []).map((e) => ({
    incident_id: e.incident_id,
    type: e.type ?? 'major_flooding',
    severity: e.severity,
    requires_district_coordination: true,
    zone_id: wardId,
    decided_at: e.decided_at,
    target: 'district_layer',
    reason: null,
  }));
  const [amb, ambTotal] = spec.ambulances ?? [0, 0];
  const [fire, fireTotal] = spec.fireTrucks ?? [0, 0];
  return {
    aggregation_report: {
      source_layer: nodeId,
      time_window: `${iso(startMs)} to ${iso(startMs + WINDOW_MS)}`,
      summary: {
        total_events: total,
        event_breakdown: events,
        escalated_incidents: escalated,
        resource_status: { ambulances_available: amb, fire_trucks_available: fire },
        performance_metrics: {
          avg_processing_latency_ms: spec.avg ?? null,
          event_accuracy: spec.accuracy ?? null,
          p95_processing_latency_ms: spec.p95 ?? null,
          decisions_measured: spec.measured ?? 0,
          approvals_resolved: spec.resolved ?? 0,
        },
        zone_breakdown: total === 0 ? {} : { [wardId]: total },
        rejected_events: spec.rejected ?? 0,
        decisions_total: spec.decisions ?? 0,
        escalated_incidents_total: spec.escalatedTotal ?? escalated.length,
        resource_totals: { ambulances_total: ambTotal, fire_trucks_total: fireTotal },
      },
      report_id: `${nodeId}-${startMs}`,
      window_start: iso(startMs),
      window_end: iso(startMs + WINDOW_MS),
      generated_at: new Date(startMs + WINDOW_MS + 5_000).toISOString(),
      event_counts_from: 'live',
    },
  };
}

function assertClose(actual: number | null, expected: number): void {
  assert.ok(actual !== null && Math.abs(actual - expected) < 1e-9, `${actual} is not ${expected}`);
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}

function local(zone: Zone, report: AggregationReport | null): ChildReportInput {
  return { node_id: `${zone.id}-node`, role: 'local', zone_id: zone.id, zone_name: zone.name, report };
}

function layerChild(role: ChildReportInput['role'], zoneId: string, zoneName: string, report: LayerReport | null): ChildReportInput {
  return { node_id: `${zoneId}-node`, role, zone_id: zoneId, zone_name: zoneName, report };
}

function options(layer: MergeOptions['layer'], zoneId: string, startMs = T0, extra: Partial<MergeOptions> = {}): MergeOptions {
  return { layer, nodeId: `${zoneId}-node`, zoneId, reportId: `${zoneId}-${startMs}`, windowStartMs: startMs, windowEndMs: startMs + WINDOW_MS, nowMs: startMs + WINDOW_MS + 5_000, ...extra };
}

/** Teynampet's window: four wards with 250/300/180/0 events and a fifth that sent nothing. */
function teynampetLocals(startMs = T0): ChildReportInput[] {
  const [w109, w110, w111, w112, w113] = teynampetWards as [Zone, Zone, Zone, Zone, Zone];
  return [
    local(w109, localReport('w109', w109.id, startMs, {
      events: { traffic_violation: 150, waste_bin_full: 60, air_quality_alert: 40 },
      escalated: [
        { incident_id: 'inc-109-a', severity: 'high', decided_at: '2025-12-03T14:04:00.000Z' },
        { incident_id: 'inc-109-b', severity: 'medium', decided_at: '2025-12-03T14:01:00.000Z' },
      ],
      avg: 40, p95: 80, measured: 100, accuracy: 0.9, resolved: 20, ambulances: [2, 4], fireTrucks: [1, 2], decisions: 120, rejected: 3,
    })),
    local(w110, localReport('w110', w110.id, startMs, {
      events: { traffic_violation: 200, waste_bin_full: 70, air_quality_alert: 30 },
      escalated: [{ incident_id: 'inc-110-a', severity: 'critical', decided_at: '2025-12-03T14:10:00.000Z' }],
      avg: 60, p95: 95, measured: 300, accuracy: 0.95, resolved: 40, ambulances: [1, 3], fireTrucks: [0, 1], decisions: 310, rejected: 1,
    })),
    local(w111, localReport('w111', w111.id, startMs, {
      events: { traffic_violation: 100, waste_bin_full: 80 },
      avg: 30, p95: 60, measured: 50, accuracy: null, resolved: 0, ambulances: [3, 3], fireTrucks: [1, 1], decisions: 55,
    })),
    local(w112, localReport('w112', w112.id, startMs, { events: {}, ambulances: [0, 2] })),
    local(w113, null),
  ];
}

/** Adyar's window: two wards, 400 and 120 events; Ward 170's p95 (140 ms) misses the L1 SLA. */
function adyarLocals(startMs = T0): ChildReportInput[] {
  const [w170, w171] = adyarWards as [Zone, Zone];
  return [
    local(w170, localReport('w170', w170.id, startMs, {
      events: { traffic_violation: 300, flooding: 100 },
      // Listed 3 of 5: the local capped its own list.
      escalated: [
        { incident_id: 'inc-170-a', severity: 'low', decided_at: '2025-12-03T14:00:30.000Z' },
        { incident_id: 'inc-170-b', severity: 'critical', decided_at: '2025-12-03T14:02:00.000Z' },
        { incident_id: 'inc-170-c', severity: 'high', decided_at: '2025-12-03T14:03:00.000Z' },
      ],
      escalatedTotal: 5,
      avg: 70, p95: 140, measured: 200, accuracy: 0.8, resolved: 10, ambulances: [1, 5], fireTrucks: [2, 2], decisions: 250,
    })),
    local(w171, localReport('w171', w171.id, startMs, {
      events: { traffic_violation: 80, waste_bin_full: 40 },
      avg: 35, p95: 70, measured: 100, accuracy: 1, resolved: 5, ambulances: [2, 2], fireTrucks: [1, 1], decisions: 90,
    })),
  ];
}

describe('mergeReports: one district from its Local Brains', () => {
  test('sums, weighted averages, the missing ward named, reduction', () => {
    const r = mergeReports(teynampetLocals(), options('district', 'chennai-z09')).layer_report;
    assert.equal(r.layer, 'district');
    assert.equal(r.source_node, 'chennai-z09-node');
    assert.equal(r.time_window, '2025-12-03T14:00:00Z to 2025-12-03T14:15:00Z');
    assert.equal(r.window_start, '2025-12-03T14:00:00Z');
    assert.equal(r.generated_at, '2025-12-03T14:15:05.000Z');

    assert.deepEqual(r.coverage, { children: 5, reporting: 4, missing: ['chennai-w113-node'], rejected: [], tree_ratio: 0.8 });
    const s = r.summary;
    assert.equal(s.total_events, 730);
    assert.deepEqual(s.event_breakdown, { air_quality_alert: 70, traffic_violation: 450, waste_bin_full: 210 });
    // Per child zone, the ward with no events at 0; the ward that sent nothing left out.
    assert.deepEqual(s.zone_breakdown, { 'chennai-w109': 250, 'chennai-w110': 300, 'chennai-w111': 180, 'chennai-w112': 0 });
    assert.deepEqual(s.resource_status, { ambulances_available: 6, fire_trucks_available: 2 });
    assert.deepEqual(s.resource_totals, { ambulances_total: 12, fire_trucks_total: 4 });
    // (40 × 100 + 60 × 300 + 30 × 50) / 450 = 52.222; the ward with nothing measured weighs 0.
    assertClose(s.performance_metrics.avg_processing_latency_ms, 23_500 / 450);
    assert.equal(s.performance_metrics.p95_processing_latency_ms, 95);
    // (0.9 × 20 + 0.95 × 40) / 60 = 0.9333
    assertClose(s.performance_metrics.event_accuracy, 56 / 60);
    assert.equal(s.performance_metrics.decisions_measured, 450);
    assert.equal(s.performance_metrics.approvals_resolved, 60);
    assert.equal(s.decisions_total, 485);
    assert.equal(s.rejected_events, 4);
    assert.equal(s.escalated_incidents_total, 3);
    assert.deepEqual(r.reduction, { child_reports: 4, underlying_events: 730, local_reports: 4, events_per_report: 730 });

    assert.deepEqual(r.children.map((c) => [c.node_id, c.zone_name, c.total_events, c.escalated, c.resources_available, c.avg_latency_ms, c.reported]), [
      ['chennai-w109-node', 'Ward 109', 250, 2, 3, 40, true],
      ['chennai-w110-node', 'Ward 110', 300, 1, 1, 60, true],
      ['chennai-w111-node', 'Ward 111', 180, 0, 4, 30, true],
      ['chennai-w112-node', 'Ward 112', 0, 0, 0, null, true],
      ['chennai-w113-node', 'Ward 113', 0, 0, 0, null, false],
    ]);
    // Layer-specific parts: a district has patterns (none without history), nothing of the others.
    assert.deepEqual(r.patterns, []);
    assert.equal(r.kpis, undefined);
    assert.equal(r.benchmarking, undefined);
  });

  test('the same reports in another order give the same report, byte for byte', () => {
    const a = mergeReports(teynampetLocals(), options('district', 'chennai-z09'));
    const b = mergeReports(teynampetLocals().reverse(), options('district', 'chennai-z09'));
    assert.equal(JSON.stringify(b), JSON.stringify(a));
  });

  test('escalations: most severe first, earliest first among equals, capped, the total kept', () => {
    const r = mergeReports(teynampetLocals(), { ...options('district', 'chennai-z09'), maxEscalatedListed: 2 }).layer_report;
    assert.deepEqual(r.summary.escalated_incidents.map((e) => [e.incident_id, e.severity, e.source_node]), [
      ['inc-110-a', 'critical', 'chennai-w110-node'],
      ['inc-109-a', 'high', 'chennai-w109-node'],
    ]);
    assert.equal(r.summary.escalated_incidents_total, 3);

    const adyar = mergeReports(adyarLocals(), options('district', 'chennai-z13')).layer_report;
    assert.deepEqual(adyar.summary.escalated_incidents.map((e) => e.incident_id), ['inc-170-b', 'inc-170-c', 'inc-170-a']);
    // The local listed 3 of its 5: the district counts all 5.
    assert.equal(adyar.summary.escalated_incidents_total, 5);
  });

  test("a child's unusable report is named, not merged and not thrown; the caller's mistakes throw", () => {
    const children = teynampetLocals();
    // A report of the previous window among this window's (a child with another window length).
    const w114 = teynampetWards[5]!;
    const stale = local(w114, localReport('w114', w114.id, T0 - WINDOW_MS, { events: { traffic_violation: 3 } }));
    // A local node that sends a district's report.
    const district = mergeReports(children, options('district', 'chennai-z09'));
    const w115 = teynampetWards[6]!;
    const confused: ChildReportInput = { ...local(w115, null), report: district };
    const r = mergeReports([...children, stale, confused], options('district', 'chennai-z09')).layer_report;
    assert.equal(r.summary.total_events, 730, 'only the four usable reports are summed');
    assert.deepEqual(r.coverage.missing, ['chennai-w113-node', 'chennai-w114-node', 'chennai-w115-node']);
    assert.deepEqual(r.coverage.rejected, [
      { node_id: 'chennai-w114-node', reason: 'its report covers 2025-12-03T13:45:00Z to 2025-12-03T14:00:00Z, not 2025-12-03T14:00:00Z to 2025-12-03T14:15:00Z' },
      { node_id: 'chennai-w115-node', reason: 'it is a local but sent a district layer_report' },
    ]);
    assert.equal(r.children.find((c) => c.node_id === 'chennai-w114-node')?.reported, false);
    // A district under a district is not below it.
    const peer = mergeReports([layerChild('district', 'chennai-z09', 'Teynampet', district)], options('district', 'chennai-z13')).layer_report;
    assert.deepEqual(peer.coverage.rejected, [{ node_id: 'chennai-z09-node', reason: 'its role district is not below the district layer' }]);

    assert.throws(() => mergeReports([...children, children[0]!], options('district', 'chennai-z09')), /appears twice/);
    assert.throws(() => mergeReports(children, { ...options('district', 'chennai-z09'), patternZScore: -1 }), /patternZScore must be a number/);
    assert.throws(() => mergeReports(children, { ...options('district', 'chennai-z09'), patternMinBaselineWindows: 10 }), /more than patternBaselineWindows/);
    assert.throws(() => mergeReports(children, { ...options('district', 'chennai-z09'), windowEndMs: T0 }), /end after the start/);
  });
});

describe('mergeReports: district patterns', () => {
  // Calm quarter hours in three Teynampet wards (traffic_violation per window):
  //   Ward 109: 10 12 9 11 10 12   mean 10.667   Ward 110: 8 9 10 8 9 10   Ward 111: 5 6 5 6 5 6
  // Newest first in `history`, as the caller passes them.
  const CALM: ReadonlyArray<readonly [number, number, number]> = [
    [10, 8, 5], [12, 9, 6], [9, 10, 5], [11, 8, 6], [10, 9, 5], [12, 10, 6],
  ];
  const WASTE = [10, 11, 9, 10, 10, 11];

  function window(startMs: number, traffic: readonly [number, number, number], waste: number, extra: Record<string, number> = {}, missing111 = false): ChildReportInput[] {
    const [w109, w110, w111] = teynampetWards as [Zone, Zone, Zone];
    return [
      local(w109, localReport('w109', w109.id, startMs, { events: { traffic_violation: traffic[0], waste_bin_full: waste, ...extra }, avg: 40, p95: 80, measured: 50 })),
      local(w110, localReport('w110', w110.id, startMs, { events: { traffic_violation: traffic[1] } })),
      local(w111, missing111 ? null : localReport('w111', w111.id, startMs, { events: { traffic_violation: traffic[2] } })),
    ];
  }

  /** The district's own reports of the `n` windows before T0, merged from its locals, newest first. */
  function history(n: number): LayerReport[] {
    const out: LayerReport[] = [];
    for (let i = 0; i < n; i++) {
      const start = T0 - (i + 1) * WINDOW_MS;
      out.push(mergeReports(window(start, CALM[i]!, WASTE[i]!), options('district', 'chennai-z09', start)));
    }
    return out;
  }

  const find = (patterns: Pattern[] | undefined, kind: Pattern['kind'], scope: Pattern['scope'], zone?: string) =>
    (patterns ?? []).find((p) => p.kind === kind && p.scope === scope && (zone === undefined || p.zones.includes(zone)));

  test('a surge in one ward after 6 calm windows; not with only 2', () => {
    const children = window(T0, [40, 9, 5], 10);
    const r = mergeReports(children, options('district', 'chennai-z09', T0, { history: history(6) })).layer_report;
    const ward = find(r.patterns, 'surge', 'zone', 'chennai-w109');
    assert.ok(ward, JSON.stringify(r.patterns));
    // mean 10.667, sample sd 1.211, floored at √10.667 = 3.266: z = (40 − 10.667) / 3.266 = 8.98
    assert.deepEqual(
      { type: ward.event_type, zones: ward.zones, count: ward.count, mean: ward.baseline_mean, sd: ward.baseline_sd, windows: ward.baseline_windows, z: ward.z_score },
      { type: 'traffic_violation', zones: ['chennai-w109'], count: 40, mean: 10.67, sd: 1.21, windows: 6, z: 8.98 },
    );
    assert.match(ward.detail, /traffic_violation surged to 40 events in Ward 109 \(baseline 10\.7 ± 1\.2 over 6 windows, z = 9\)/);
    // District-wide: 54 against 23 27 24 25 24 28 (mean 25.167, floored sd √25.167 = 5.017): z = 5.75.
    const district = find(r.patterns, 'surge', 'district');
    assert.equal(district?.count, 54);
    assert.equal(district?.z_score, 5.75);
    assert.deepEqual(district?.zones, ['chennai-w109', 'chennai-w110', 'chennai-w111']);
    // The other wards and types stayed calm, and one ward is not a spread.
    assert.equal(r.patterns!.length, 2, JSON.stringify(r.patterns));

    const short = mergeReports(children, options('district', 'chennai-z09', T0, { history: history(2) })).layer_report;
    assert.deepEqual(short.patterns, [], 'two windows are too few for a baseline');
  });

  test('the same surge in two wards at once is a spread', () => {
    const r = mergeReports(window(T0, [40, 35, 5], 10), options('district', 'chennai-z09', T0, { history: history(6) })).layer_report;
    const spread = find(r.patterns, 'spread', 'district');
    assert.ok(spread, JSON.stringify(r.patterns));
    assert.equal(spread.event_type, 'traffic_violation');
    assert.deepEqual(spread.zones, ['chennai-w109', 'chennai-w110']);
    assert.equal(spread.count, 75);
    // Ward 110: mean 9, floored sd 3, z = (35 − 9) / 3 = 8.67 — the smaller of the two.
    assert.equal(spread.z_score, 8.67);
    assert.match(spread.detail, /surged in 2 neighbourhoods at once: Ward 109 40 \(z = 9\), Ward 110 35 \(z = 8\.7\)/);
    assert.equal(r.patterns![0]!.kind, 'spread', 'a spread is listed first');
  });

  test('a type never seen before; a drop in one ward; no district drop when a ward is missing', () => {
    // flood_alert is new; Ward 109's waste reports fall from ~10 to 0: (0 − 10.167) / √10.167 = −3.19.
    const r = mergeReports(window(T0, CALM[0]!, 0, { flood_alert: 7 }), options('district', 'chennai-z09', T0, { history: history(6) })).layer_report;
    const fresh = find(r.patterns, 'new_type', 'district');
    assert.equal(fresh?.event_type, 'flood_alert');
    assert.equal(fresh?.count, 7);
    assert.equal(fresh?.z_score, null);
    assert.match(fresh!.detail, /flood_alert appeared with 7 events, unseen in the previous 6 windows: Ward 109 \(7\)/);
    const drop = find(r.patterns, 'drop', 'zone', 'chennai-w109');
    assert.equal(drop?.event_type, 'waste_bin_full');
    assert.equal(drop?.z_score, -3.19);
    // Waste is only reported in Ward 109, so the district total drops alike.
    assert.equal(find(r.patterns, 'drop', 'district')?.event_type, 'waste_bin_full');

    // Ward 111 missing: the district's traffic total falls, but that is a gap in data, not calm.
    const big: Array<readonly [number, number, number]> = CALM.map(([a, b]) => [a, b, 30] as const);
    const hist = big.map((t, i) => mergeReports(window(T0 - (i + 1) * WINDOW_MS, t, 10), options('district', 'chennai-z09', T0 - (i + 1) * WINDOW_MS)));
    const gap = mergeReports(window(T0, [10, 9, 0], 10, {}, true), options('district', 'chennai-z09', T0, { history: hist })).layer_report;
    assert.deepEqual(gap.coverage.missing, ['chennai-w111-node']);
    assert.equal(find(gap.patterns, 'drop', 'district'), undefined, JSON.stringify(gap.patterns));
    // The same fall with every ward reporting is a drop: 19 + 0 against a mean of ~49.8.
    const fell = mergeReports(window(T0, [10, 9, 0], 10), options('district', 'chennai-z09', T0, { history: hist })).layer_report;
    assert.equal(find(fell.patterns, 'drop', 'district')?.event_type, 'traffic_violation');
  });
});

describe('mergeReports: up the chain', () => {
  /** Locals → Teynampet and Adyar districts → Chennai, Kodambakkam's district report missing. */
  function city(startMs = T0): LayerReport {
    const teynampet = mergeReports(teynampetLocals(startMs), options('district', 'chennai-z09', startMs));
    const adyar = mergeReports(adyarLocals(startMs), options('district', 'chennai-z13', startMs));
    return mergeReports(
      [
        layerChild('district', 'chennai-z09', tree.get('chennai-z09').name, teynampet),
        layerChild('district', 'chennai-z13', tree.get('chennai-z13').name, adyar),
        layerChild('district', 'chennai-z10', tree.get('chennai-z10').name, null),
      ],
      options('city', 'chennai', startMs, { zoneName: tree.get('chennai').name }),
    );
  }

  test('city KPIs and strategic summary from two district reports', () => {
    const r = city().layer_report;
    assert.equal(r.summary.total_events, 1250);
    assert.deepEqual(r.summary.zone_breakdown, { 'chennai-z09': 730, 'chennai-z13': 520 });
    assert.equal(r.summary.zone_event_breakdown, undefined, 'per-zone type counts stay at the district');
    assert.deepEqual(r.coverage, { children: 3, reporting: 2, missing: ['chennai-z10-node'], rejected: [], tree_ratio: 0.6 });
    // 6 local reports behind 2 district reports behind this one.
    assert.deepEqual(r.reduction, { child_reports: 2, underlying_events: 1250, local_reports: 6, events_per_report: 1250 });
    // Locals' weights carried through the districts: (40·100 + 60·300 + 30·50 + 70·200 + 35·100) / 750 = 54.667
    // — exactly, not 54.6 as rounding at each district would give.
    assertClose(r.summary.performance_metrics.avg_processing_latency_ms, 41_000 / 750);
    assert.equal(r.summary.performance_metrics.p95_processing_latency_ms, 140);
    // (0.9·20 + 0.95·40 + 0.8·10 + 1·5) / 75 = 0.92
    assertClose(r.summary.performance_metrics.event_accuracy, 0.92);
    assert.equal(r.summary.escalated_incidents_total, 8);
    assert.deepEqual(r.summary.escalated_incidents.map((e) => e.incident_id), ['inc-170-b', 'inc-110-a', 'inc-170-c', 'inc-109-a', 'inc-109-b', 'inc-170-a']);

    const k = r.kpis!;
    assert.equal(k.avg_latency_ms, 54.667);
    assert.equal(k.event_accuracy, 0.92);
    assert.equal(k.reporting_coverage, 0.6667);
    assert.equal(k.tree_coverage, 0.6);
    assert.equal(k.events_per_reporting_child, 625);
    assert.equal(k.escalation_rate, 0.0064); // 8 / 1250
    assert.equal(k.decisions_per_1000_events, 660); // 825 / 1250 × 1000
    assert.deepEqual(k.resource_availability, {
      overall: { available: 14, total: 26, ratio: 0.5385 },
      by_type: { ambulances: { available: 9, total: 19, ratio: 0.4737 }, fire_trucks: { available: 5, total: 7, ratio: 0.7143 } },
    });
    assert.deepEqual(k.latency_sla, { target_p95_ms: 100, critical_p95_ms: 500, breaching_zones: ['chennai-z13'], critical_zones: [] });

    assert.deepEqual(r.strategic_summary, [
      'Chennai Metropolitan Area: 1,250 events in 2025-12-03T14:00:00Z to 2025-12-03T14:15:00Z from 2 of 3 districts; no report from chennai-z10-node.',
      'Top event types: traffic_violation 830 (66%), waste_bin_full 250 (20%), flooding 100 (8%).',
      'Busiest districts: Teynampet 730 (58%), Adyar 520 (42%).',
      '8 incidents were escalated (0.6% of events); of the 6 listed, 2 critical and 2 high.',
      'Latency SLA (P95 < 100 ms at L1) missed in Adyar (p95 140 ms); average 54.7 ms, accuracy 92%.',
      'Resources: 54% available overall (14 of 26).',
    ]);
  });

  /**
   * One state: a city over one district over its locals, each local with the given numbers, or
   * null for a state whose report did not arrive.
   */
  function state(zoneId: string, locals: LocalSpec[] | null): ChildReportInput {
    if (locals === null) return layerChild('state', zoneId, zoneId, null);
    const wards = adyarWards.slice(0, locals.length);
    const localInputs = locals.map((spec, i) => local(wards[i]!, Object.keys(spec).length === 0 ? null : localReport(`l${i}`, wards[i]!.id, T0, spec)));
    const district = mergeReports(localInputs, options('district', `${zoneId}-d1`));
    const cityReport = mergeReports([layerChild('district', `${zoneId}-d1`, 'District 1', district)], options('city', `${zoneId}-c1`));
    const stateReport = mergeReports([layerChild('city', `${zoneId}-c1`, 'City 1', cityReport)], options('state', zoneId));
    return layerChild('state', zoneId, zoneId, stateReport);
  }

  test('state city metrics and national benchmarking ranks', () => {
    const states = [
      // Tamil Nadu: fast, accurate, few escalations, resources to spare, everything reporting.
      state('in-tn', [{ events: { traffic_violation: 500 }, avg: 40, p95: 90, measured: 400, accuracy: 0.95, resolved: 20, escalatedTotal: 2, ambulances: [8, 10], decisions: 400 }]),
      // Karnataka: as fast on average (a tie), no approvals resolved (accuracy unknown).
      state('in-ka', [{ events: { traffic_violation: 400 }, avg: 40, p95: 110, measured: 300, escalatedTotal: 4, ambulances: [5, 10], decisions: 300 }]),
      // Maharashtra: slow, many escalations, one of its two locals silent.
      state('in-mh', [{ events: { traffic_violation: 500 }, avg: 60, p95: 150, measured: 400, accuracy: 0.85, resolved: 20, escalatedTotal: 10, ambulances: [3, 10], decisions: 450 }, {}]),
      // Kerala sent nothing this window.
      state('in-kl', null),
    ];
    const nation = mergeReports(states, options('national', 'in')).layer_report;
    assert.equal(nation.summary.total_events, 1400);
    assert.deepEqual(nation.coverage.missing, ['in-kl-node']);

    // Per state, the KPIs of its own merged report.
    const mh = nation.state_metrics!.find((m) => m.zone_id === 'in-mh')!;
    assert.equal(mh.kpis?.tree_coverage, 0.5);
    assert.equal(mh.kpis?.escalation_rate, 0.02);
    assert.deepEqual(mh.kpis?.latency_sla.breaching_zones, ['in-mh-c1']);
    assert.equal(nation.state_metrics!.find((m) => m.zone_id === 'in-kl')!.kpis, null);

    const b = nation.benchmarking!;
    const ranks = (kpi: keyof typeof b) => b[kpi].entries.map((e) => [e.zone_id, e.value, e.rank, e.percentile]);
    // Lower latency better; equal averages share rank 1, and each beats one of the two others.
    assert.deepEqual(ranks('avg_latency_ms'), [['in-ka', 40, 1, 50], ['in-tn', 40, 1, 50], ['in-mh', 60, 3, 0]]);
    assert.deepEqual(b.avg_latency_ms.median, 40);
    assert.deepEqual(ranks('p95_latency_ms'), [['in-tn', 90, 1, 100], ['in-ka', 110, 2, 50], ['in-mh', 150, 3, 0]]);
    assert.equal(b.p95_latency_ms.best?.zone_id, 'in-tn');
    assert.equal(b.p95_latency_ms.median, 110);
    // Higher accuracy better; Karnataka has none to rank, Kerala no report.
    assert.deepEqual(ranks('event_accuracy'), [['in-tn', 0.95, 1, 100], ['in-mh', 0.85, 2, 0]]);
    assert.deepEqual(b.event_accuracy.unranked, ['in-ka-node', 'in-kl-node']);
    assert.equal(b.event_accuracy.median, 0.9);
    // Escalation rate lower better: 2/500, 4/400, 10/500.
    assert.deepEqual(ranks('escalation_rate'), [['in-tn', 0.004, 1, 100], ['in-ka', 0.01, 2, 50], ['in-mh', 0.02, 3, 0]]);
    assert.deepEqual(ranks('resource_availability'), [['in-tn', 0.8, 1, 100], ['in-ka', 0.5, 2, 50], ['in-mh', 0.3, 3, 0]]);
    assert.deepEqual(ranks('coverage'), [['in-ka', 1, 1, 50], ['in-tn', 1, 1, 50], ['in-mh', 0.5, 3, 0]]);
    assert.equal(b.coverage.better, 'higher');

    // A state's own report carries one metrics entry per city.
    const tn = states[0]!.report as LayerReport;
    assert.deepEqual(tn.layer_report.city_metrics!.map((m) => [m.zone_id, m.total_events, m.local_reports, m.kpis?.p95_latency_ms]), [['in-tn-c1', 500, 1, 90]]);
    // Maharashtra's silent local adds no report: 1 + 1 + 1.
    assert.equal(nation.reduction.local_reports, 3);
  });
});
