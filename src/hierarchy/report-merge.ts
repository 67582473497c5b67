import type { AggregationReport, EscalatedIncident } from '../brain/aggregation.js';
import { severityRank } from '../events/severity.js';

/**
 * Merging children's reports at the higher layers (issue 5 §2; seed 001 §3.4, §4–§7). A district
 * (L2), city (L3), state (L4) or national (L5) node runs the same program: every window it merges
 * its children's reports into one report of its own and sends that up. Pure: no I/O, no clock —
 * the caller stores the reports, picks the window's ones and passes its own earlier merged reports
 * as the pattern baseline. The same inputs give the same output, whatever the children's order.
 *
 * One merge path: a child's report, a local `AggregationReport` or a `LayerReport`, is first
 * normalised into a `LayerReport`'s parts (summary, coverage, child lines), then every child is
 * summed the same way. What each layer adds on top is the seed's own wording:
 *   - district: pattern detection from aggregated local data (§4.1, §4.2 "trend analysis, anomaly detection");
 *   - city: a strategic summary and KPIs (§5.1 "performance monitoring", §7.1 "Strategic Summaries + KPIs");
 *   - state: city-level metrics (§7.1 "L3 → L4");
 *   - national: state-level metrics and benchmarking (§6.2 "National Benchmarking", §7.1 "L4 → L5").
 */

export type LayerRole = 'district' | 'city' | 'state' | 'national';
export type ChildRole = 'local' | LayerRole;

/** L1 … L5: a child must sit below the layer that merges it. */
const ROLE_LEVEL: Record<ChildRole, number> = { local: 1, district: 2, city: 3, state: 4, national: 5 };

/** How the strategic summary names a layer's children. */
const ROLE_PLURAL: Record<ChildRole, string> = { local: 'neighbourhoods', district: 'districts', city: 'cities', state: 'states', national: 'nations' };

export const MERGE_DEFAULTS = {
  /**
   * Escalated incidents listed in a merged report, most severe first; `escalated_incidents_total`
   * keeps the full count. Below a local's 500: each layer up carries fewer details (seed §7.1).
   */
  maxEscalatedListed: 200,
  /** History windows a district's pattern baseline is taken from, newest first: 8 × 15 min, the last 2 hours. */
  patternBaselineWindows: 8,
  /**
   * Fewer baseline windows than this: no surge and no drop. A mean and deviation over two or three
   * windows swing with any single busy quarter hour, so a z-score on them flags noise.
   */
  patternMinBaselineWindows: 4,
  /** Standard deviations from the baseline mean that make a surge (or, below it, a drop). */
  patternZScore: 3,
  /** Events of a type a pattern needs (and a drop's baseline mean): fewer is chance, not a pattern. */
  patternMinCount: 5,
  /** Seed 001 §14.1: Processing Latency (L1) target "< 100ms (P95)". */
  latencySlaP95Ms: 100,
  /** Seed 001 §14.1: Processing Latency (L1) critical threshold "< 500ms". */
  latencyCriticalP95Ms: 500,
  /** A resource type with a smaller share available is a shortfall in the strategic summary. */
  resourceShortfallRatio: 0.25,
  /** Event types and child zones the strategic summary names. */
  summaryTopN: 3,
} as const;

export type MergeLimits = { -readonly [K in keyof typeof MERGE_DEFAULTS]: number };

/** [least, greatest, whole numbers only] per limit; anything else is refused at the call. */
const LIMIT_RANGES: Record<keyof MergeLimits, readonly [number, number, boolean]> = {
  maxEscalatedListed: [0, 100_000, true],
  patternBaselineWindows: [2, 10_000, true],
  // A standard deviation needs two values.
  patternMinBaselineWindows: [2, 10_000, true],
  patternZScore: [Number.MIN_VALUE, 1_000, false],
  patternMinCount: [1, Number.MAX_SAFE_INTEGER, false],
  latencySlaP95Ms: [Number.MIN_VALUE, Number.MAX_SAFE_INTEGER, false],
  latencyCriticalP95Ms: [Number.MIN_VALUE, Number.MAX_SAFE_INTEGER, false],
  resourceShortfallRatio: [0, 1, false],
  summaryTopN: [1, 100, true],
};

/** One child's report for the window, as received (null: the child sent none for this window). */
export interface ChildReportInput {
  node_id: string;
  role: ChildRole;
  zone_id: string | null;
  zone_name: string | null;
  report: AggregationReport | LayerReport | null;
}

export type MergedIncident = EscalatedIncident & {
  /** The node that escalated it: a local node, also after merges further up. */
  source_node: string;
};

export interface LayerSummary {
  total_events: number;
  event_breakdown: Record<string, number>;
  /** Per child zone (the child's zone id, else its node id): the child's total_events. Children that sent no report are left out. */
  zone_breakdown: Record<string, number>;
  /**
   * District only: per child zone, its event_breakdown — the baseline the district's per-zone
   * patterns compare with in the next windows. Left out higher up (seed §7.1 data minimisation).
   */
  zone_event_breakdown?: Record<string, Record<string, number>>;
  escalated_incidents: MergedIncident[];
  escalated_incidents_total: number;
  resource_status: Record<string, number>;
  resource_totals: Record<string, number>;
  performance_metrics: {
    avg_processing_latency_ms: number | null;
    p95_processing_latency_ms: number | null;
    event_accuracy: number | null;
    decisions_measured: number;
    approvals_resolved: number;
  };
  rejected_events: number;
  decisions_total: number;
}

export interface LayerCoverage {
  children: number;
  reporting: number;
  /** Node ids of the children whose report is not in this one (none came, or it was rejected), sorted. */
  missing: string[];
  /** Children whose report came but could not be merged, and why (they are in `missing` too). */
  rejected: Array<{ node_id: string; reason: string }>;
  /**
   * The share of the whole subtree that reported, down to L1: each child weighs the same, a
   * local counts 1 when it reported, a layer child its own tree_ratio, a missing child 0. A
   * district missing half its locals makes its city's ratio fall too, which reporting/children
   * would not show. null without children.
   */
  tree_ratio: number | null;
}

/** One child, compactly: what the dashboard's topology and the next layer read. */
export interface ChildLine {
  node_id: string;
  role: ChildRole;
  zone_id: string | null;
  zone_name: string | null;
  total_events: number;
  escalated: number;
  resources_available: number;
  avg_latency_ms: number | null;
  p95_latency_ms: number | null;
  reported: boolean;
}

export interface Pattern {
  kind: 'surge' | 'drop' | 'new_type' | 'spread';
  /** 'district': the district's total of the type; 'zone': one child zone's count. */
  scope: 'district' | 'zone';
  event_type: string;
  /** Child zones it concerns: the zone itself, or the zones where the type occurred (most first). */
  zones: string[];
  count: number;
  baseline_mean: number;
  baseline_sd: number;
  baseline_windows: number;
  /** null for new_type: a type never seen has no spread to measure against. */
  z_score: number | null;
  detail: string;
}

export interface ResourceAvailability {
  available: number;
  total: number;
  /** available / total; null when the total is 0. */
  ratio: number | null;
}

/** KPIs of a merged report (the city's own; per city at the state, per state at the nation). */
export interface CityKpis {
  /** reporting / children; null without children. */
  reporting_coverage: number | null;
  /** coverage.tree_ratio: the share of the subtree down to L1 that reported. */
  tree_coverage: number | null;
  /** total_events per child that reported (per district at a city). */
  events_per_reporting_child: number | null;
  /** escalated_incidents_total / total_events. */
  escalation_rate: number | null;
  decisions_per_1000_events: number | null;
  avg_latency_ms: number | null;
  p95_latency_ms: number | null;
  event_accuracy: number | null;
  resource_availability: { overall: ResourceAvailability; by_type: Record<string, ResourceAvailability> };
  /** Seed 001 §14.1, checked per child zone (a child's p95 is the largest of its locals', so a breach names where one is). */
  latency_sla: { target_p95_ms: number; critical_p95_ms: number; breaching_zones: string[]; critical_zones: string[] };
}

/** One child of a state (a city) or of the nation (a state), with the KPIs of its own merged report. */
export interface MemberMetrics {
  node_id: string;
  role: ChildRole;
  zone_id: string | null;
  zone_name: string | null;
  reported: boolean;
  total_events: number;
  local_reports: number;
  /** null when the child sent no report. */
  kpis: CityKpis | null;
}

export type BenchmarkKpi = 'avg_latency_ms' | 'p95_latency_ms' | 'event_accuracy' | 'escalation_rate' | 'resource_availability' | 'coverage';

export interface BenchmarkEntry {
  node_id: string;
  zone_id: string | null;
  zone_name: string | null;
  value: number;
  /** 1 is best; equal values share a rank (1, 2, 2, 4). */
  rank: number;
  /** Share of the other ranked states this one beats, 0–100 (the best alone: 100). */
  percentile: number;
}

export interface Benchmark {
  better: 'lower' | 'higher';
  ranked: number;
  best: BenchmarkEntry | null;
  median: number | null;
  /** Best first. */
  entries: BenchmarkEntry[];
  /** States without a value: no report, or nothing measured (no events, no resources …). */
  unranked: string[];
}

export interface LayerReport {
  layer_report: {
    layer: LayerRole;
    source_node: string;
    zone_id: string | null;
    report_id: string;
    /** "2025-12-03T14:00:00Z to 2025-12-03T14:15:00Z", as the local report writes it. */
    time_window: string;
    window_start: string;
    window_end: string;
    generated_at: string;
    /** Which children reported; missing ones are named, never silently dropped. */
    coverage: LayerCoverage;
    /** Seed 001 §7.1 data minimisation: what this report stands for. */
    reduction: {
      /** Reports merged into this one directly. */
      child_reports: number;
      /** Raw events at L1 behind this report (the sum of total_events). */
      underlying_events: number;
      /** L1 reports behind this one, summed through the layers. */
      local_reports: number;
      /** Raw events : this one report. */
      events_per_report: number;
    };
    summary: LayerSummary;
    /** Per child, sorted by node id; children without a report too (reported: false). */
    children: ChildLine[];
    patterns?: Pattern[];
    kpis?: CityKpis;
    strategic_summary?: string[];
    city_metrics?: MemberMetrics[];
    state_metrics?: MemberMetrics[];
    benchmarking?: Record<BenchmarkKpi, Benchmark>;
  };
}

export interface MergeOptions {
  layer: LayerRole;
  nodeId: string;
  zoneId: string | null;
  /** This node's zone name, for the strategic summary (the zone id, else the node id, stands in). */
  zoneName?: string | null;
  reportId: string;
  windowStartMs: number;
  windowEndMs: number;
  nowMs: number;
  /** This node's own previous merged reports, newest first (the district's pattern baseline). */
  history?: readonly LayerReport[];
}

/** A child, normalised: its report as a LayerReport's parts (null when it sent none). */
interface Part {
  input: ChildReportInput;
  zoneKey: string;
  merged: { summary: LayerSummary; coverage: LayerCoverage; members: readonly ChildLine[]; localReports: number } | null;
  /** Why a report that came was not merged; null when it was, or when none came. */
  rejected: string | null;
}

/**
 * Merges the children's reports of one window into this node's report.
 *
 * @throws RangeError when an option is out of range or a node id repeats (the caller's mistakes;
 *   a child's unusable report is not thrown: it is listed in `coverage.rejected`)
 *
 * @example
 *   const district = mergeReports(
 *     [{ node_id: 'ward-119-node', role: 'local', zone_id: 'chennai-w119', zone_name: 'Ward 119', report: localReport },
 *      { node_id: 'ward-120-node', role: 'local', zone_id: 'chennai-w120', zone_name: 'Ward 120', report: null }],
 *     { layer: 'district', nodeId: 'teynampet-node', zoneId: 'chennai-z09', reportId: uuidv7(),
 *       windowStartMs: Date.parse('2025-12-03T14:00:00Z'), windowEndMs: Date.parse('2025-12-03T14:15:00Z'),
 *       nowMs: Date.now(), history: previousDistrictReports },
 *   );
 *   district.layer_report.coverage; // → { children: 2, reporting: 1, missing: ['ward-120-node'], rejected: [], tree_ratio: 0.5 }
 */
export function mergeReports(children: readonly ChildReportInput[], options: MergeOptions & Partial<MergeLimits>): LayerReport {
  const limits = resolveLimits(options);
  checkWindow(options);
  const seen = new Set<string>();
  const parts: Part[] = [];
  for (const child of children) {
    if (seen.has(child.node_id)) throw new RangeError(`mergeReports: child ${child.node_id} appears twice; pass one report per child and window`);
    seen.add(child.node_id);
    parts.push(normalise(child, options));
  }
  // Sorted once, so sums of floating-point values and every list come out the same whatever the input order.
  parts.sort((a, b) => cmp(a.input.node_id, b.input.node_id));

  const summary = sumParts(parts, options.layer, limits);
  const children_ = parts.map(lineOf);
  const reporting = parts.filter((p) => p.merged !== null);
  const coverage: LayerCoverage = {
    children: parts.length,
    reporting: reporting.length,
    missing: parts.filter((p) => p.merged === null).map((p) => p.input.node_id),
    rejected: parts.flatMap((p) => (p.rejected === null ? [] : [{ node_id: p.input.node_id, reason: p.rejected }])),
    tree_ratio: parts.length === 0 ? null : round(sum(reporting, (p) => p.merged!.coverage.tree_ratio ?? 1) / parts.length, 4),
  };
  const localReports = sum(reporting, (p) => p.merged!.localReports);

  const report: LayerReport['layer_report'] = {
    layer: options.layer,
    source_node: options.nodeId,
    zone_id: options.zoneId,
    report_id: options.reportId,
    time_window: `${iso(options.windowStartMs)} to ${iso(options.windowEndMs)}`,
    window_start: iso(options.windowStartMs),
    window_end: iso(options.windowEndMs),
    generated_at: new Date(options.nowMs).toISOString(),
    coverage,
    reduction: {
      child_reports: reporting.length,
      underlying_events: summary.total_events,
      local_reports: localReports,
      events_per_report: summary.total_events,
    },
    summary,
    children: children_,
  };

  switch (options.layer) {
    case 'district':
      report.patterns = detectPatterns(summary, coverage, options, parts, limits);
      break;
    case 'city':
      report.kpis = kpisOf(summary, coverage, children_, limits);
      report.strategic_summary = strategicSummary(report, report.kpis, options, limits);
      break;
    case 'state':
      report.city_metrics = parts.map((p) => memberMetrics(p, limits));
      break;
    case 'national':
      report.state_metrics = parts.map((p) => memberMetrics(p, limits));
      report.benchmarking = benchmark(report.state_metrics);
      break;
  }
  return { layer_report: report };
}

// ---- normalising ---------------------------------------------------------------------------

function resolveLimits(options: Partial<MergeLimits>): MergeLimits {
  const limits: MergeLimits = { ...MERGE_DEFAULTS };
  for (const key of Object.keys(MERGE_DEFAULTS) as (keyof MergeLimits)[]) {
    const value = options[key];
    if (value === undefined) continue;
    const [least, greatest, whole] = LIMIT_RANGES[key];
    if (typeof value !== 'number' || !(value >= least && value <= greatest) || (whole && !Number.isInteger(value))) {
      throw new RangeError(`mergeReports: ${key} must be ${whole ? 'a whole number' : 'a number'} from ${least} to ${greatest}, not ${String(value)}`);
    }
    limits[key] = value;
  }
  if (limits.patternMinBaselineWindows > limits.patternBaselineWindows) {
    throw new RangeError(`mergeReports: patternMinBaselineWindows (${limits.patternMinBaselineWindows}) is more than patternBaselineWindows (${limits.patternBaselineWindows}): no baseline could ever be enough`);
  }
  if (limits.latencyCriticalP95Ms < limits.latencySlaP95Ms) {
    throw new RangeError(`mergeReports: latencyCriticalP95Ms (${limits.latencyCriticalP95Ms}) is below latencySlaP95Ms (${limits.latencySlaP95Ms})`);
  }
  return limits;
}

function checkWindow(o: MergeOptions): void {
  if (!(o.layer in ROLE_LEVEL) || o.layer === ('local' as string)) throw new RangeError(`mergeReports: layer must be district, city, state or national, not ${String(o.layer)}`);
  if (!Number.isFinite(o.windowStartMs) || !Number.isFinite(o.windowEndMs) || o.windowEndMs <= o.windowStartMs) {
    throw new RangeError(`mergeReports: the window ${o.windowStartMs}–${o.windowEndMs} must have finite bounds, the end after the start`);
  }
}

/**
 * A child's report as a LayerReport's parts. A report this merge cannot use — of another window
 * (a child with another window length), from a role not below this layer, or not a report at
 * all — makes the child missing, with the reason in `coverage.rejected`: one misconfigured child
 * must not silence its whole district, and it must not vanish either.
 */
function normalise(child: ChildReportInput, o: MergeOptions): Part {
  const zoneKey = child.zone_id ?? child.node_id;
  const rejected = (reason: string): Part => ({ input: child, zoneKey, merged: null, rejected: reason });
  if (!(child.role in ROLE_LEVEL) || ROLE_LEVEL[child.role] >= ROLE_LEVEL[o.layer]) return rejected(`its role ${String(child.role)} is not below the ${o.layer} layer`);
  const r = child.report as Partial<AggregationReport & LayerReport> | null;
  if (r === null) return { input: child, zoneKey, merged: null, rejected: null };
  if (typeof r !== 'object') return rejected('its report is not an object');
  if (r.aggregation_report !== undefined) {
    const a = r.aggregation_report;
    if (child.role !== 'local') return rejected(`it is a ${child.role} but sent a local aggregation_report`);
    if (typeof a?.summary?.total_events !== 'number') return rejected('its aggregation_report has no summary.total_events');
    const other = otherWindow(a.window_start, a.window_end, o);
    if (other) return rejected(other);
    const summary = fromLocal(child.node_id, { aggregation_report: a });
    const line = lineOf({ input: child, zoneKey, merged: { summary, coverage: SELF_COVERAGE, members: [], localReports: 1 }, rejected: null });
    return { input: child, zoneKey, merged: { summary, coverage: SELF_COVERAGE, members: [line], localReports: 1 }, rejected: null };
  }
  if (r.layer_report !== undefined) {
    const l = r.layer_report;
    if (l?.layer !== child.role) return rejected(`it is a ${child.role} but sent a ${String(l?.layer)} layer_report`);
    if (typeof l.summary?.total_events !== 'number' || !l.coverage || !l.reduction || !Array.isArray(l.children)) return rejected('its layer_report lacks a summary, coverage, reduction or children');
    const other = otherWindow(l.window_start, l.window_end, o);
    if (other) return rejected(other);
    return { input: child, zoneKey, merged: { summary: l.summary, coverage: l.coverage, members: l.children, localReports: l.reduction.local_reports }, rejected: null };
  }
  return rejected('its report is neither an aggregation_report nor a layer_report');
}

/** A local node stands for itself alone. */
const SELF_COVERAGE: LayerCoverage = Object.freeze({ children: 1, reporting: 1, missing: [], rejected: [], tree_ratio: 1 }) as LayerCoverage;

function otherWindow(start: string, end: string, o: MergeOptions): string | null {
  if (Date.parse(start) === o.windowStartMs && Date.parse(end) === o.windowEndMs) return null;
  return `its report covers ${String(start)} to ${String(end)}, not ${iso(o.windowStartMs)} to ${iso(o.windowEndMs)}`;
}

/**
 * A local report as a layer summary. The additions after the seed's own fields (§3.4) are read
 * with defaults: a report in the seed's bare format, from another implementation, still merges,
 * its latency then carrying no weight (no decisions_measured).
 */
function fromLocal(nodeId: string, r: AggregationReport): LayerSummary {
  const s = r.aggregation_report.summary;
  const pm = s.performance_metrics;
  const escalated = s.escalated_incidents ?? [];
  return {
    total_events: s.total_events ?? 0,
    event_breakdown: s.event_breakdown ?? {},
    zone_breakdown: s.zone_breakdown ?? {},
    escalated_incidents: escalated.map((e) => ({ ...e, source_node: nodeId })),
    escalated_incidents_total: s.escalated_incidents_total ?? escalated.length,
    resource_status: s.resource_status ?? {},
    resource_totals: s.resource_totals ?? {},
    performance_metrics: {
      avg_processing_latency_ms: pm?.avg_processing_latency_ms ?? null,
      p95_processing_latency_ms: pm?.p95_processing_latency_ms ?? null,
      event_accuracy: pm?.event_accuracy ?? null,
      decisions_measured: pm?.decisions_measured ?? 0,
      approvals_resolved: pm?.approvals_resolved ?? 0,
    },
    rejected_events: s.rejected_events ?? 0,
    decisions_total: s.decisions_total ?? 0,
  };
}

function lineOf(p: Part): ChildLine {
  const s = p.merged?.summary;
  return {
    node_id: p.input.node_id,
    role: p.input.role,
    zone_id: p.input.zone_id,
    zone_name: p.input.zone_name,
    total_events: s?.total_events ?? 0,
    escalated: s?.escalated_incidents_total ?? 0,
    resources_available: s ? sum(Object.values(s.resource_status), (v) => v) : 0,
    avg_latency_ms: s?.performance_metrics.avg_processing_latency_ms ?? null,
    p95_latency_ms: s?.performance_metrics.p95_processing_latency_ms ?? null,
    reported: s !== undefined,
  };
}

// ---- summing -------------------------------------------------------------------------------

function sumParts(parts: readonly Part[], layer: LayerRole, limits: MergeLimits): LayerSummary {
  const eventBreakdown: Record<string, number> = {};
  const zoneBreakdown: Record<string, number> = {};
  const zoneEvents: Record<string, Record<string, number>> = {};
  const resourceStatus: Record<string, number> = {};
  const resourceTotals: Record<string, number> = {};
  const escalated: MergedIncident[] = [];
  let total = 0;
  let escalatedTotal = 0;
  let rejected = 0;
  let decisions = 0;
  let measured = 0;
  let latencyWeighted = 0;
  let latencyWeight = 0;
  let p95: number | null = null;
  let resolved = 0;
  let accuracyWeighted = 0;
  let accuracyWeight = 0;

  for (const p of parts) {
    if (p.merged === null) continue;
    const s = p.merged.summary;
    const pm = s.performance_metrics;
    total += s.total_events;
    addInto(eventBreakdown, s.event_breakdown);
    zoneBreakdown[p.zoneKey] = (zoneBreakdown[p.zoneKey] ?? 0) + s.total_events;
    if (layer === 'district') addInto((zoneEvents[p.zoneKey] ??= {}), s.event_breakdown);
    addInto(resourceStatus, s.resource_status);
    addInto(resourceTotals, s.resource_totals);
    for (const e of s.escalated_incidents) escalated.push(e);
    escalatedTotal += s.escalated_incidents_total;
    rejected += s.rejected_events;
    decisions += s.decisions_total;
    measured += pm.decisions_measured;
    resolved += pm.approvals_resolved;
    // Averages weigh each child by what it measured, so a node that timed 3 decisions does not
    // count as much as one that timed 3,000.
    if (pm.avg_processing_latency_ms !== null && pm.decisions_measured > 0) {
      latencyWeighted += pm.avg_processing_latency_ms * pm.decisions_measured;
      latencyWeight += pm.decisions_measured;
    }
    if (pm.event_accuracy !== null && pm.approvals_resolved > 0) {
      accuracyWeighted += pm.event_accuracy * pm.approvals_resolved;
      accuracyWeight += pm.approvals_resolved;
    }
    // The children's samples are gone, so the exact p95 of their union cannot be had. The largest
    // child p95 is an upper bound of it: at most 5 % of each child's decisions lie above its own
    // p95, so at most 5 % of all of them lie above the largest. For the SLA (seed §14.1) it is
    // also the right figure: over the target here means over it in at least one local node.
    if (pm.p95_processing_latency_ms !== null) p95 = Math.max(p95 ?? -Infinity, pm.p95_processing_latency_ms);
  }

  escalated.sort(byUrgency);
  const summary: LayerSummary = {
    total_events: total,
    event_breakdown: sortedRecord(eventBreakdown),
    zone_breakdown: sortedRecord(zoneBreakdown),
    escalated_incidents: escalated.slice(0, limits.maxEscalatedListed),
    escalated_incidents_total: escalatedTotal,
    resource_status: sortedRecord(resourceStatus),
    resource_totals: sortedRecord(resourceTotals),
    performance_metrics: {
      // Not rounded: the next layer weighs these again, and rounding at every layer drifts
      // (52.2 × 450 + 58.3 × 300 gives 54.6 ms where 54.7 is right). KPIs are rounded.
      avg_processing_latency_ms: latencyWeight === 0 ? null : latencyWeighted / latencyWeight,
      p95_processing_latency_ms: p95,
      event_accuracy: accuracyWeight === 0 ? null : accuracyWeighted / accuracyWeight,
      decisions_measured: measured,
      approvals_resolved: resolved,
    },
    rejected_events: rejected,
    decisions_total: decisions,
  };
  if (layer === 'district') {
    const sorted: Record<string, Record<string, number>> = {};
    for (const key of Object.keys(zoneEvents).sort(cmp)) sorted[key] = sortedRecord(zoneEvents[key]!);
    summary.zone_event_breakdown = sorted;
  }
  return summary;
}

/** Most severe first; equally severe, the longest waiting first; then by source and id, for a stable order. */
function byUrgency(a: MergedIncident, b: MergedIncident): number {
  // decided_at is toISOString() everywhere it is written, so strings compare as times.
  return severityRank(b.severity) - severityRank(a.severity) || cmp(a.decided_at, b.decided_at) || cmp(a.source_node, b.source_node) || cmp(a.incident_id, b.incident_id);
}

// ---- district patterns ---------------------------------------------------------------------

interface Baseline {
  mean: number;
  sd: number;
  windows: number;
}

/**
 * Seed 001 §4.1 "pattern detection from aggregated local data", §4.2 "trend analysis, anomaly
 * detection". Each event type's count in this window is compared with its counts in the last
 * `patternBaselineWindows` of the district's own reports — district-wide and per child zone:
 *
 *   surge    z ≥ patternZScore and count ≥ patternMinCount
 *   drop     baseline mean ≥ patternMinCount and z ≤ −patternZScore
 *   new_type district-wide: a type in none of the baseline windows, count ≥ patternMinCount
 *   spread   one type surging in two or more child zones at once (a cross-neighbourhood pattern)
 *
 * z = (count − mean) / max(sd, √mean, 1). Event counts are at least as noisy as a Poisson count
 * (variance ≈ mean), so the deviation is floored at √mean: six identical calm windows (sd 0)
 * must not make one extra event a surge. Time of day is not modelled: a 2-hour baseline follows
 * the daily rhythm, but the morning rush can still read as a surge against a quiet night.
 */
function detectPatterns(now: LayerSummary, coverage: LayerCoverage, o: MergeOptions, parts: readonly Part[], limits: MergeLimits): Pattern[] {
  const windows = baselineWindows(o.history ?? [], o.windowStartMs, limits.patternBaselineWindows);
  const labels = new Map(parts.map((p) => [p.zoneKey, p.input.zone_name ?? p.zoneKey]));
  const label = (zone: string): string => labels.get(zone) ?? zone;
  const zoneEvents = now.zone_event_breakdown ?? {};
  const patterns: Pattern[] = [];
  const enough = windows.length >= limits.patternMinBaselineWindows;

  // District-wide.
  const types = new Set(Object.keys(now.event_breakdown));
  for (const w of windows) for (const t of Object.keys(w.event_breakdown)) types.add(t);
  for (const type of [...types].sort(cmp)) {
    const count = now.event_breakdown[type] ?? 0;
    const series = windows.map((w) => w.event_breakdown[type] ?? 0);
    const where = Object.keys(zoneEvents)
      .filter((z) => (zoneEvents[z]![type] ?? 0) > 0)
      .sort((a, b) => zoneEvents[b]![type]! - zoneEvents[a]![type]! || cmp(a, b));
    const whereText = where.map((z) => `${label(z)} (${zoneEvents[z]![type]})`).join(', ');
    // One window of history is enough to call a type new; with none, every type would be.
    if (windows.length > 0 && series.every((c) => c === 0)) {
      if (count >= limits.patternMinCount) {
        patterns.push({
          kind: 'new_type', scope: 'district', event_type: type, zones: where, count, baseline_mean: 0, baseline_sd: 0, baseline_windows: windows.length, z_score: null,
          detail: `${type} appeared with ${count} events, unseen in the previous ${windows.length} windows: ${whereText}.`,
        });
      }
      continue;
    }
    if (!enough) continue;
    const b = baseline(series);
    const z = zScore(count, b);
    if (z >= limits.patternZScore && count >= limits.patternMinCount) {
      patterns.push({ ...numbers('surge', 'district', type, where, count, b, z), detail: `${type} surged to ${count} events in the district (${baselineText(b, z)}), in ${whereText}.` });
    } else if (z <= -limits.patternZScore && b.mean >= limits.patternMinCount && coverage.missing.length === 0) {
      // Not with a child missing: a report that did not arrive is a gap in data, not fewer events
      // (coverage names it). A zone's own drop below still counts: that zone did report.
      patterns.push({
        ...numbers('drop', 'district', type, where, count, b, z),
        detail: `${type} dropped to ${count} events in the district (${baselineText(b, z)}); check its sources before reading this as calm.`,
      });
    }
  }
  if (!enough) return sortPatterns(patterns);

  // Per child zone, against the windows in which that zone reported: a window it missed is unknown, not zero.
  const surges = new Map<string, Array<{ zone: string; count: number; b: Baseline; z: number }>>();
  for (const zone of Object.keys(zoneEvents).sort(cmp)) {
    const zoneWindows = windows.filter((w) => w.zone_event_breakdown?.[zone] !== undefined).map((w) => w.zone_event_breakdown![zone]!);
    if (zoneWindows.length < limits.patternMinBaselineWindows) continue;
    const current = zoneEvents[zone]!;
    const zoneTypes = new Set(Object.keys(current));
    for (const w of zoneWindows) for (const t of Object.keys(w)) zoneTypes.add(t);
    for (const type of [...zoneTypes].sort(cmp)) {
      const count = current[type] ?? 0;
      const b = baseline(zoneWindows.map((w) => w[type] ?? 0));
      const z = zScore(count, b);
      if (z >= limits.patternZScore && count >= limits.patternMinCount) {
        patterns.push({ ...numbers('surge', 'zone', type, [zone], count, b, z), detail: `${type} surged to ${count} events in ${label(zone)} (${baselineText(b, z)}).` });
        let list = surges.get(type);
        if (!list) surges.set(type, (list = []));
        list.push({ zone, count, b, z });
      } else if (z <= -limits.patternZScore && b.mean >= limits.patternMinCount) {
        patterns.push({ ...numbers('drop', 'zone', type, [zone], count, b, z), detail: `${type} dropped to ${count} events in ${label(zone)} (${baselineText(b, z)}).` });
      }
    }
  }

  for (const [type, list] of surges) {
    if (list.length < 2) continue;
    list.sort((a, b) => b.count - a.count || cmp(a.zone, b.zone));
    // Counts and means add up; the zones' deviations add as independent variances. The z-score
    // is the smallest of the zones': every one of them surged at least that much.
    const combined: Baseline = { mean: sum(list, (s) => s.b.mean), sd: Math.sqrt(sum(list, (s) => s.b.sd * s.b.sd)), windows: Math.min(...list.map((s) => s.b.windows)) };
    const z = Math.min(...list.map((s) => s.z));
    patterns.push({
      ...numbers('spread', 'district', type, list.map((s) => s.zone), sum(list, (s) => s.count), combined, z),
      detail: `${type} surged in ${list.length} neighbourhoods at once: ${list.map((s) => `${label(s.zone)} ${s.count} (z = ${round(s.z, 1)})`).join(', ')} — a cross-neighbourhood pattern.`,
    });
  }
  return sortPatterns(patterns);
}

/** The district's own reports before this window, newest first, one per window, at most `n`. */
function baselineWindows(history: readonly LayerReport[], windowStartMs: number, n: number): LayerSummary[] {
  const byStart = new Map<number, LayerSummary>();
  for (const h of history) {
    const start = Date.parse(h.layer_report.window_start);
    if (Date.parse(h.layer_report.window_end) > windowStartMs || byStart.has(start)) continue;
    byStart.set(start, h.layer_report.summary);
  }
  return [...byStart.entries()].sort((a, b) => b[0] - a[0]).slice(0, n).map(([, s]) => s);
}

function baseline(series: readonly number[]): Baseline {
  const n = series.length;
  const mean = sum(series, (c) => c) / n;
  const variance = n < 2 ? 0 : sum(series, (c) => (c - mean) * (c - mean)) / (n - 1);
  return { mean, sd: Math.sqrt(variance), windows: n };
}

function zScore(count: number, b: Baseline): number {
  return (count - b.mean) / Math.max(b.sd, Math.sqrt(b.mean), 1);
}

function numbers(kind: Pattern['kind'], scope: Pattern['scope'], type: string, zones: string[], count: number, b: Baseline, z: number): Omit<Pattern, 'detail'> {
  return { kind, scope, event_type: type, zones, count, baseline_mean: round(b.mean, 2), baseline_sd: round(b.sd, 2), baseline_windows: b.windows, z_score: round(z, 2) };
}

function baselineText(b: Baseline, z: number): string {
  return `baseline ${round(b.mean, 1)} ± ${round(b.sd, 1)} over ${b.windows} windows, z = ${round(z, 1)}`;
}

const KIND_ORDER: Record<Pattern['kind'], number> = { spread: 0, surge: 1, new_type: 2, drop: 3 };

function sortPatterns(patterns: Pattern[]): Pattern[] {
  return patterns.sort(
    (a, b) =>
      KIND_ORDER[a.kind] - KIND_ORDER[b.kind] ||
      (a.scope === b.scope ? 0 : a.scope === 'district' ? -1 : 1) ||
      Math.abs(b.z_score ?? b.count) - Math.abs(a.z_score ?? a.count) ||
      cmp(a.event_type, b.event_type) ||
      cmp(a.zones.join(','), b.zones.join(',')),
  );
}

// ---- KPIs, city summary, state and national metrics ------------------------------------------

/** Seed 001 §5.1 "performance monitoring of the entire system", §7.1 "Strategic Summaries + KPIs". */
function kpisOf(s: LayerSummary, coverage: LayerCoverage, members: readonly ChildLine[], limits: MergeLimits): CityKpis {
  const pm = s.performance_metrics;
  const byType: Record<string, ResourceAvailability> = {};
  let available = 0;
  let total = 0;
  for (const key of Object.keys(s.resource_totals).sort(cmp)) {
    if (!key.endsWith('_total')) continue;
    const type = key.slice(0, -'_total'.length);
    const t = s.resource_totals[key]!;
    const a = s.resource_status[`${type}_available`] ?? 0;
    byType[type] = availability(a, t);
    available += a;
    total += t;
  }
  const zoneOf = (m: ChildLine): string => m.zone_id ?? m.node_id;
  // §14.1 states the target as "< 100ms (P95)": a p95 of exactly 100 ms misses it.
  const over = (threshold: number): string[] =>
    members.filter((m) => m.p95_latency_ms !== null && m.p95_latency_ms >= threshold).map(zoneOf).sort(cmp);
  return {
    reporting_coverage: coverage.children === 0 ? null : round(coverage.reporting / coverage.children, 4),
    tree_coverage: coverage.tree_ratio,
    events_per_reporting_child: coverage.reporting === 0 ? null : round(s.total_events / coverage.reporting, 1),
    escalation_rate: s.total_events === 0 ? null : round(s.escalated_incidents_total / s.total_events, 4),
    decisions_per_1000_events: s.total_events === 0 ? null : round((s.decisions_total / s.total_events) * 1000, 1),
    avg_latency_ms: roundOrNull(pm.avg_processing_latency_ms, 3),
    p95_latency_ms: pm.p95_processing_latency_ms,
    event_accuracy: roundOrNull(pm.event_accuracy, 4),
    resource_availability: { overall: availability(available, total), by_type: byType },
    latency_sla: {
      target_p95_ms: limits.latencySlaP95Ms,
      critical_p95_ms: limits.latencyCriticalP95Ms,
      breaching_zones: over(limits.latencySlaP95Ms),
      critical_zones: over(limits.latencyCriticalP95Ms),
    },
  };
}

function availability(available: number, total: number): ResourceAvailability {
  return { available, total, ratio: total === 0 ? null : round(available / total, 4) };
}

/**
 * Three to six sentences a commissioner reads first (seed §5: strategic summary): volume and
 * coverage, top event types, busiest districts, escalations, latency against the SLA, resources.
 */
function strategicSummary(r: LayerReport['layer_report'], k: CityKpis, o: MergeOptions, limits: MergeLimits): string[] {
  const s = r.summary;
  const name = o.zoneName ?? o.zoneId ?? o.nodeId;
  const roles = new Set(r.children.map((c) => c.role));
  const childWord = roles.size === 1 ? ROLE_PLURAL[[...roles][0]!] : 'children';
  const lines = new Map(r.children.map((c) => [c.zone_id ?? c.node_id, c]));
  const label = (zone: string): string => lines.get(zone)?.zone_name ?? zone;
  const out: string[] = [];

  const missing = r.coverage.missing.length === 0 ? '' : `; no report from ${r.coverage.missing.join(', ')}`;
  out.push(`${name}: ${fmt(s.total_events)} events in ${r.time_window} from ${r.coverage.reporting} of ${r.coverage.children} ${childWord}${missing}.`);

  if (s.total_events > 0) {
    const top = topOf(s.event_breakdown, limits.summaryTopN);
    out.push(`Top event types: ${top.map(([t, n]) => `${t} ${fmt(n)} (${pct(n / s.total_events)})`).join(', ')}.`);
    const busiest = topOf(s.zone_breakdown, limits.summaryTopN).filter(([, n]) => n > 0);
    out.push(`Busiest ${childWord}: ${busiest.map(([z, n]) => `${label(z)} ${fmt(n)} (${pct(n / s.total_events)})`).join(', ')}.`);
  }

  if (s.escalated_incidents_total === 0) {
    out.push('No incidents were escalated.');
  } else {
    const listed = s.escalated_incidents;
    const critical = listed.filter((e) => severityRank(e.severity) === 4).length;
    const high = listed.filter((e) => severityRank(e.severity) === 3).length;
    const of = listed.length < s.escalated_incidents_total ? ` of the ${listed.length} listed,` : '';
    const rate = k.escalation_rate === null ? '' : ` (${pct(k.escalation_rate)} of events)`;
    out.push(`${fmt(s.escalated_incidents_total)} incidents were escalated${rate};${of} ${critical} critical and ${high} high.`);
  }

  const accuracy = k.event_accuracy === null ? '' : `, accuracy ${pct(k.event_accuracy)}`;
  const sla = k.latency_sla;
  if (k.p95_latency_ms === null) {
    out.push('No decisions were timed, so latency is unknown.');
  } else if (sla.breaching_zones.length > 0) {
    const where = sla.breaching_zones.map((z) => `${label(z)} (p95 ${ms(lines.get(z)?.p95_latency_ms ?? null)})`).join(', ');
    out.push(`Latency SLA (P95 < ${sla.target_p95_ms} ms at L1) missed in ${where}; average ${ms(k.avg_latency_ms)}${accuracy}.`);
  } else {
    out.push(`All ${childWord} met the latency SLA (P95 < ${sla.target_p95_ms} ms at L1): p95 at most ${ms(k.p95_latency_ms)}, average ${ms(k.avg_latency_ms)}${accuracy}.`);
  }

  const ra = k.resource_availability;
  if (ra.overall.ratio !== null) {
    const short = Object.entries(ra.by_type)
      .filter(([, a]) => a.ratio !== null && a.ratio < limits.resourceShortfallRatio)
      .sort((a, b) => a[1].ratio! - b[1].ratio! || cmp(a[0], b[0]))
      .slice(0, limits.summaryTopN);
    out.push(
      short.length > 0
        ? `Resource shortfall: ${short.map(([t, a]) => `${t.replaceAll('_', ' ')} ${a.available} of ${a.total} available (${pct(a.ratio!)})`).join(', ')}.`
        : `Resources: ${pct(ra.overall.ratio)} available overall (${fmt(ra.overall.available)} of ${fmt(ra.overall.total)}).`,
    );
  }
  return out;
}

function memberMetrics(p: Part, limits: MergeLimits): MemberMetrics {
  const m = p.merged;
  return {
    node_id: p.input.node_id,
    role: p.input.role,
    zone_id: p.input.zone_id,
    zone_name: p.input.zone_name,
    reported: m !== null,
    total_events: m?.summary.total_events ?? 0,
    local_reports: m?.localReports ?? 0,
    kpis: m === null ? null : kpisOf(m.summary, m.coverage, m.members, limits),
  };
}

/** Seed 001 §6.2 "National Benchmarking": which KPI, which direction is better. */
const BENCHMARKS: ReadonlyArray<readonly [BenchmarkKpi, 'lower' | 'higher', (k: CityKpis) => number | null]> = [
  ['avg_latency_ms', 'lower', (k) => k.avg_latency_ms],
  ['p95_latency_ms', 'lower', (k) => k.p95_latency_ms],
  ['event_accuracy', 'higher', (k) => k.event_accuracy],
  ['escalation_rate', 'lower', (k) => k.escalation_rate],
  ['resource_availability', 'higher', (k) => k.resource_availability.overall.ratio],
  // The whole subtree's share, not only states reporting: a state whose cities all report but
  // whose districts mostly do not is not well covered.
  ['coverage', 'higher', (k) => k.tree_coverage],
];

function benchmark(members: readonly MemberMetrics[]): Record<BenchmarkKpi, Benchmark> {
  const out = {} as Record<BenchmarkKpi, Benchmark>;
  for (const [kpi, better, valueOf] of BENCHMARKS) {
    const valued = members.flatMap((m) => {
      const value = m.kpis === null ? null : valueOf(m.kpis);
      return value === null ? [] : [{ m, value }];
    });
    const sign = better === 'lower' ? 1 : -1;
    valued.sort((a, b) => sign * (a.value - b.value) || cmp(a.m.node_id, b.m.node_id));
    const n = valued.length;
    const entries: BenchmarkEntry[] = valued.map(({ m, value }) => {
      const rank = 1 + valued.filter((o) => sign * (o.value - value) < 0).length;
      const worse = valued.filter((o) => sign * (o.value - value) > 0).length;
      return { node_id: m.node_id, zone_id: m.zone_id, zone_name: m.zone_name, value, rank, percentile: n === 1 ? 100 : round((100 * worse) / (n - 1), 1) };
    });
    const sorted = valued.map((v) => v.value).sort((a, b) => a - b);
    const median = n === 0 ? null : n % 2 === 1 ? sorted[(n - 1) / 2]! : round((sorted[n / 2 - 1]! + sorted[n / 2]!) / 2, 4);
    const ranked = new Set(entries.map((e) => e.node_id));
    out[kpi] = {
      better,
      ranked: n,
      best: entries[0] ?? null,
      median,
      entries,
      unranked: members.filter((m) => !ranked.has(m.node_id)).map((m) => m.node_id),
    };
  }
  return out;
}

// ---- small helpers ---------------------------------------------------------------------------

function addInto(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, v] of Object.entries(from)) if (typeof v === 'number') into[k] = (into[k] ?? 0) + v;
}

function sum<T>(items: readonly T[], f: (item: T) => number): number {
  let total = 0;
  for (let i = 0; i < items.length; i++) total += f(items[i]!);
  return total;
}

/** Keys in code-point order (not the locale's), so equal reports serialise byte for byte alike. */
function sortedRecord(r: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of Object.keys(r).sort(cmp)) out[k] = r[k]!;
  return out;
}

function topOf(r: Record<string, number>, n: number): Array<[string, number]> {
  return Object.entries(r)
    .sort((a, b) => b[1] - a[1] || cmp(a[0], b[0]))
    .slice(0, n);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function roundOrNull(x: number | null, digits: number): number | null {
  return x === null ? null : round(x, digits);
}

/** 1234567 → "1,234,567", the same on every machine (toLocaleString depends on the locale). */
function fmt(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** 0.1234 → "12%"; under 10 %, one decimal ("1.6%"), so small rates do not all read 0 % or 1 %. */
function pct(ratio: number): string {
  const p = ratio * 100;
  return `${p < 10 ? round(p, 1) : Math.round(p)}%`;
}

function ms(x: number | null): string {
  return x === null ? 'unknown' : `${round(x, 1)} ms`;
}

/** `2025-12-03T14:00:00Z`, as the local report writes times (no milliseconds when there are none). */
function iso(ms: number): string {
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}
