/**
 * The `bench:brain` workload, defined once so that the city node and its peer (Node-RED, see
 * node-red-peer.ts) decide on identical input: four plugins with 22 action triggers, five
 * correlation rules, and a deterministic stream of events in Chennai.
 *
 * Every condition is written once, as a small tree (`Cond`), and rendered twice: as rule text
 * for the plugin registrations and rule YAML (the project's language, compiled by
 * src/rules/expression.ts), and as plain JavaScript for the Node-RED function nodes. The
 * expected decisions are computed a third way: conditions by the project's own compiler,
 * windows by brute force (`expectedDecisions`), so a disagreement shows up as a count mismatch.
 *
 * Time is event time. Events are stamped `startMs + i · 1000 / ratePerSec` (default 200 events/s,
 * a busy ward replayed at full speed), windows compare those stamps, and the incidents that make
 * correlations fire are placed in event time. Sites are fixed (cameras, junctions, drains, air
 * stations at real ward points), so distances are fixed too; sites within 2 % of a rule radius of
 * each other are dropped so that a metre of rounding in anyone's distance formula cannot decide.
 *
 * @example
 *   const set = generateEvents(200_000, 1);
 *   const batches = batchEvents(set, 500);        // arrival order, one plugin per batch
 *   const expected = expectedDecisions(set, batches);
 *   expected.decisions.length;                    // what both engines must decide
 */
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import YAML from 'yaml';
import { PROJECT_ROOT } from '../../src/node/paths.js';
import { parseZoneFile } from '../../src/geo/zone-file.js';
import { ZoneTree } from '../../src/geo/zones.js';
import { ZoneIndex } from '../../src/geo/zone-index.js';
import { sampleSpots, seededRandom, type Random, type Spot } from '../../src/demo/generators.js';
import { compileCondition, type CompiledCondition } from '../../src/rules/expression.js';

// ---------------------------------------------------------------------------------------------
// Conditions: one tree, two renderings (rule text and JavaScript)

type CompareOp = '=' | '!=' | '<' | '<=' | '>' | '>=';
type Val = { k: 'path'; path: string } | { k: 'num'; v: number } | { k: 'str'; v: string } | { k: 'arith'; op: '+' | '-' | '*' | '/'; l: Val; r: Val };
export type Cond =
  | { k: 'cmp'; op: CompareOp; l: Val; r: Val }
  | { k: 'in'; l: Val; values: string[]; negated: boolean }
  | { k: 'and' | 'or'; items: Cond[] }
  | { k: 'not'; c: Cond };

const SEVERITY = ['low', 'medium', 'high', 'critical'] as const;
const ORDERED: Record<string, readonly string[]> = { severity: SEVERITY };

const f = (path: string): Val => ({ k: 'path', path });
const val = (x: Val | number | string): Val => (typeof x === 'number' ? { k: 'num', v: x } : typeof x === 'string' ? { k: 'str', v: x } : x);
const cmp = (l: Val | string, op: CompareOp, r: Val | number | string): Cond => ({ k: 'cmp', op, l: typeof l === 'string' ? f(l) : l, r: val(r) });
const and = (...items: Cond[]): Cond => ({ k: 'and', items });
const or = (...items: Cond[]): Cond => ({ k: 'or', items });
const not = (c: Cond): Cond => ({ k: 'not', c });
const isIn = (path: string, values: string[], negated = false): Cond => ({ k: 'in', l: f(path), values, negated });
const ar = (l: Val | string | number, op: '+' | '-' | '*' | '/', r: Val | string | number): Val => ({
  k: 'arith',
  op,
  l: typeof l === 'string' ? f(l) : val(l),
  r: typeof r === 'string' ? f(r) : val(r),
});

/** The condition in the project's rule language, e.g. `severity >= 'high' AND confidence_score > 0.9`. */
export function conditionText(c: Cond): string {
  const v = (x: Val, nested = false): string => {
    if (x.k === 'path') return x.path;
    if (x.k === 'num') return String(x.v);
    if (x.k === 'str') return `'${x.v}'`;
    const s = `${v(x.l, true)} ${x.op} ${v(x.r, true)}`;
    return nested ? `(${s})` : s;
  };
  const t = (x: Cond, parent: 'and' | 'or' | null): string => {
    switch (x.k) {
      case 'cmp':
        return `${v(x.l)} ${x.op} ${v(x.r)}`;
      case 'in':
        return `${v(x.l)} ${x.negated ? 'NOT IN' : 'IN'} (${x.values.map((s) => `'${s}'`).join(', ')})`;
      case 'not':
        return `NOT (${t(x.c, null)})`;
      default: {
        const s = x.items.map((i) => t(i, x.k)).join(x.k === 'and' ? ' AND ' : ' OR ');
        return parent !== null && parent !== x.k ? `(${s})` : s;
      }
    }
  };
  return t(c, null);
}

const jsName = (path: string): string => path.replace(/[^A-Za-z0-9_]/g, '_');
/** `e.vehicle_data.speed_kmh`, undefined when any step is missing. */
function jsRead(path: string): string {
  const parts = path.split('.');
  let expr = `e[${JSON.stringify(parts[0])}]`;
  for (let i = 1; i < parts.length; i++) expr = `(${expr} == null ? undefined : ${expr}[${JSON.stringify(parts[i])}])`;
  return expr;
}

/**
 * JavaScript for one condition with SQL's three-valued logic, as a pair of boolean expressions
 * "is TRUE" and "is FALSE" (NOT swaps them; UNKNOWN makes both false). The rules follow
 * src/rules/expression.ts: an ordering (<, <=, >, >=) or arithmetic on anything but numbers, x / 0,
 * or a missing/null field is UNKNOWN; = and IN are UNKNOWN only for a missing/null value and
 * plainly FALSE for a value of another type. Field reads are locals prepared by `jsLocals`:
 * `v_x` the raw value, `N_x` a number or NaN, `R_x` an ordered enum's rank or NaN.
 */
function jsTruth(c: Cond, used: Set<string>): { t: string; f: string } {
  const num = (x: Val): string => {
    if (x.k === 'num') return String(x.v);
    if (x.k === 'path') {
      used.add(`N ${x.path}`);
      return `N_${jsName(x.path)}`;
    }
    if (x.k === 'str') throw new Error(`workload: string '${x.v}' in arithmetic`);
    return x.op === '/' ? `$div(${num(x.l)}, ${num(x.r)})` : `(${num(x.l)} ${x.op} ${num(x.r)})`;
  };
  // For = and IN: a field as it is, arithmetic as a number (NaN when UNKNOWN), literals as literals.
  const raw = (x: Val): string => {
    if (x.k === 'path') {
      used.add(`V ${x.path}`);
      return `v_${jsName(x.path)}`;
    }
    return x.k === 'str' ? JSON.stringify(x.v) : num(x);
  };
  const neg: Record<CompareOp, CompareOp> = { '<': '>=', '<=': '>', '>': '<=', '>=': '<', '=': '!=', '!=': '=' };
  switch (c.k) {
    case 'cmp': {
      const { l, r, op } = c;
      if (op === '=' || op === '!=') {
        const a = raw(l);
        const b = raw(r);
        const eq = `(${a} === ${b})`;
        const ne = `($known(${a}, ${b}) && ${a} !== ${b})`;
        return op === '=' ? { t: eq, f: ne } : { t: ne, f: eq };
      }
      if (r.k === 'str' || l.k === 'str') {
        const scale = l.k === 'path' ? ORDERED[l.path] : undefined;
        const lit = (r as { v: string }).v;
        if (l.k !== 'path' || !scale || !scale.includes(lit)) throw new Error('workload: ordering against text needs an ordered enum field on the left');
        used.add(`R ${l.path}`);
        const rank = String(scale.indexOf(lit));
        return { t: `(R_${jsName(l.path)} ${op} ${rank})`, f: `(R_${jsName(l.path)} ${neg[op]} ${rank})` };
      }
      // A comparison with NaN is false both ways: UNKNOWN.
      const a = num(l);
      const b = num(r);
      return { t: `(${a} ${op} ${b})`, f: `(${a} ${neg[op]} ${b})` };
    }
    case 'in': {
      const v = raw(c.l);
      const member = `(${c.values.map((x) => `${v} === ${JSON.stringify(x)}`).join(' || ')})`;
      const nonMember = `($known(${v}, 0) && ${c.values.map((x) => `${v} !== ${JSON.stringify(x)}`).join(' && ')})`;
      return c.negated ? { t: nonMember, f: member } : { t: member, f: nonMember };
    }
    case 'not': {
      const inner = jsTruth(c.c, used);
      return { t: inner.f, f: inner.t };
    }
    default: {
      const parts = c.items.map((i) => jsTruth(i, used));
      const all = (xs: string[]) => `(${xs.join(' && ')})`;
      const any = (xs: string[]) => `(${xs.join(' || ')})`;
      const ts = parts.map((p) => p.t);
      const fs = parts.map((p) => p.f);
      return c.k === 'and' ? { t: all(ts), f: any(fs) } : { t: any(ts), f: all(fs) };
    }
  }
}

/** Local variable declarations for the reads `jsTruth` recorded. */
function jsLocals(used: Set<string>): string {
  const lines: string[] = [];
  const fields = new Set<string>();
  for (const u of used) fields.add(u.slice(2));
  for (const path of fields) lines.push(`const v_${jsName(path)} = ${jsRead(path)};`);
  for (const u of used) {
    const path = u.slice(2);
    const v = `v_${jsName(path)}`;
    if (u[0] === 'N') lines.push(`const N_${jsName(path)} = typeof ${v} === 'number' ? ${v} : NaN;`);
    else if (u[0] === 'R') lines.push(`const R_${jsName(path)} = ${ORDERED[path]!.map((s, i) => `${v} === ${JSON.stringify(s)} ? ${i} : `).join('')}NaN;`);
  }
  return lines.join('\n  ');
}

export const JS_HELPERS = [
  '// SQL arithmetic: x / 0 and non-numbers are UNKNOWN (NaN here; NaN compares false both ways).',
  'function $div(a, b) { return b === 0 ? NaN : a / b; }',
  '// Both sides known: not missing, not null, not NaN.',
  'function $known(a, b) { return a != null && b != null && a === a && b === b; }',
].join('\n');

/**
 * One JavaScript function source that returns a bit mask of the conditions that are TRUE for an
 * event: bit i for conditions[i]. At most 31 conditions.
 */
export function conditionsToJs(conditions: readonly Cond[]): string {
  if (conditions.length > 31) throw new Error('workload: at most 31 conditions per function');
  const used = new Set<string>();
  const tests = conditions.map((c, i) => `if (${jsTruth(c, used).t}) m |= ${1 << i};`);
  return `function (e) {\n  ${jsLocals(used)}\n  let m = 0;\n  ${tests.join('\n  ')}\n  return m;\n}`;
}

// ---------------------------------------------------------------------------------------------
// Plugins (seed 001 §2.2): manifest, output schema and action definitions

type Action = Record<string, unknown> & { type: string };
interface DefinitionSpec {
  trigger: string;
  when: Cond;
  actions: Action[];
  escalation_rules?: Array<{ condition: string; action: string }>;
}
interface PluginSpec {
  manifest: Record<string, unknown> & { model_id: string; version: string };
  eventType: string;
  fields: Record<string, unknown>;
  definitions: DefinitionSpec[];
}

const log = (database: string): Action => ({ type: 'log_event', database });
const notify = (target: string, priority: string, requiresApproval: boolean): Action => ({ type: 'notify_authority', target, priority, requires_approval: requiresApproval });
const escalate = (reason: string): Action => ({ type: 'escalate', to: 'district', reason });
const SEVERITY_FIELD = { type: 'enum', values: [...SEVERITY], required: true };
const CONFIDENCE_FIELD = { type: 'float', range: [0, 1] };
const LOCATION_FIELD = {
  latitude: { type: 'float', required: true, range: [-90, 90] },
  longitude: { type: 'float', required: true, range: [-180, 180] },
  address: { type: 'string' },
};

const VIOLATIONS = 'traffic_violation_detection';
const TRAFFIC = 'traffic_monitoring';
const AIR = 'air_quality_monitoring';
const FLOOD = 'flood_prediction_model';

/** Plugins in a fixed order; an event's plugin is an index into this list. */
export const PLUGIN_SPECS: PluginSpec[] = [
  {
    manifest: {
      model_id: VIOLATIONS,
      model_name: 'Traffic Violation Detection (enforcement cameras)',
      vendor: 'SmartCity Solutions Inc.',
      version: '1.0.0',
      capabilities: ['speeding_detection', 'red_light_violation', 'wrong_way_detection', 'helmet_detection'],
      data_sources: ['cctv_cameras', 'speed_sensors'],
      output_types: ['violation_event'],
      latency_sla: '< 2 seconds',
      geographic_scope: 'neighborhood',
      processing_mode: 'real_time_streaming',
      requires_human_approval: true,
      approval_authority: 'traffic_officer',
    },
    eventType: 'violation_event',
    fields: {
      timestamp: { type: 'ISO8601', required: true },
      location: LOCATION_FIELD,
      camera_id: { type: 'string', required: true },
      camera_zone: { type: 'enum', values: ['school', 'residential', 'arterial', 'highway'] },
      speed_limit_kmh: { type: 'integer', range: [10, 120] },
      violation_type: { type: 'enum', values: ['speeding', 'red_light', 'wrong_way', 'no_helmet'], required: true },
      vehicle_data: {
        license_plate: { type: 'string', required: true },
        vehicle_type: { type: 'string' },
        speed_kmh: { type: 'integer', range: [0, 300] },
      },
      evidence: { image_urls: { type: 'array[string]' }, video_url: { type: 'string' } },
      severity: SEVERITY_FIELD,
      confidence_score: CONFIDENCE_FIELD,
    },
    definitions: [
      {
        trigger: 'dangerous_speeding',
        when: and(cmp('violation_type', '=', 'speeding'), cmp(ar('vehicle_data.speed_kmh', '-', 'speed_limit_kmh'), '>', 30), cmp('confidence_score', '>', 0.9)),
        actions: [notify('traffic_officer', 'high', true), log('violations_db')],
        escalation_rules: [{ condition: 'no_officer_response_within_30_minutes', action: 'auto_approve_fine' }],
      },
      {
        trigger: 'red_light_high_severity',
        when: and(cmp('violation_type', '=', 'red_light'), cmp('severity', '>=', 'high'), cmp('confidence_score', '>', 0.96)),
        actions: [notify('traffic_officer', 'medium', true), log('violations_db')],
      },
      {
        trigger: 'wrong_way_heavy_vehicle',
        when: and(cmp('violation_type', '=', 'wrong_way'), isIn('vehicle_data.vehicle_type', ['bus', 'truck'])),
        actions: [notify('traffic_officer', 'high', false), log('violations_db')],
      },
      {
        trigger: 'school_zone_speeding',
        when: and(cmp('camera_zone', '=', 'school'), cmp('vehicle_data.speed_kmh', '>', ar('speed_limit_kmh', '*', 1.75))),
        actions: [notify('traffic_officer', 'high', true), log('violations_db')],
      },
      {
        trigger: 'no_helmet_confirmed',
        when: and(cmp('violation_type', '=', 'no_helmet'), cmp('confidence_score', '>=', 0.985)),
        actions: [log('violations_db')],
      },
      {
        trigger: 'critical_needs_review',
        when: and(cmp('severity', '=', 'critical'), not(cmp('confidence_score', '>=', 0.6))),
        actions: [notify('traffic_officer', 'low', true), log('violations_review_db')],
      },
    ],
  },
  {
    manifest: {
      model_id: TRAFFIC,
      model_name: 'Arterial Road Traffic Monitoring',
      vendor: 'Chennai Traffic Police ITS Cell',
      version: '1.1.0',
      capabilities: ['congestion_detection', 'average_speed_estimation', 'vehicle_counting'],
      data_sources: ['loop_detectors', 'cctv_cameras'],
      output_types: ['traffic_status'],
      latency_sla: '< 5 seconds',
      geographic_scope: 'neighborhood',
      processing_mode: 'real_time_streaming',
      requires_human_approval: false,
      approval_authority: 'traffic_officer',
    },
    eventType: 'traffic_status',
    fields: {
      timestamp: { type: 'ISO8601', required: true },
      location: LOCATION_FIELD,
      sensor_id: { type: 'string', required: true },
      road_name: { type: 'string', required: true },
      congestion_level: { type: 'enum', values: ['free', 'moderate', 'heavy', 'gridlock'], required: true },
      average_speed_kmh: { type: 'float', range: [0, 200] },
      free_flow_speed_kmh: { type: 'float', range: [1, 200] },
      vehicle_count: { type: 'integer', range: [0, 10000] },
      occupancy_percent: { type: 'float', range: [0, 100] },
      severity: SEVERITY_FIELD,
      confidence_score: CONFIDENCE_FIELD,
    },
    definitions: [
      {
        trigger: 'gridlock_detected',
        when: and(cmp('congestion_level', '=', 'gridlock'), cmp('average_speed_kmh', '<', 5)),
        actions: [notify('traffic_officer', 'medium', false), log('traffic_incidents_db')],
      },
      {
        trigger: 'heavy_congestion_peak',
        when: and(isIn('congestion_level', ['heavy', 'gridlock']), cmp('vehicle_count', '>', 196), cmp('confidence_score', '>', 0.9)),
        actions: [log('traffic_incidents_db')],
      },
      {
        trigger: 'sensor_inconsistent',
        when: and(cmp('occupancy_percent', '>=', 96), cmp('average_speed_kmh', '>', 40)),
        actions: [notify('its_maintenance', 'low', false), log('traffic_sensors_db')],
      },
      {
        trigger: 'critical_slowdown',
        when: and(cmp('severity', '>=', 'critical'), cmp('confidence_score', '>', 0.95)),
        actions: [notify('traffic_officer', 'high', false), log('traffic_incidents_db')],
      },
      {
        trigger: 'speed_collapse',
        when: cmp(ar(ar('free_flow_speed_kmh', '-', 'average_speed_kmh'), '/', 'free_flow_speed_kmh'), '>', 0.8),
        actions: [log('traffic_incidents_db')],
      },
    ],
  },
  {
    manifest: {
      model_id: AIR,
      model_name: 'Ambient Air Quality Monitoring Stations',
      vendor: 'Coromandel Environmental Systems LLP',
      version: '1.0.0',
      capabilities: ['particulate_monitoring', 'gas_monitoring', 'aqi_computation'],
      data_sources: ['beta_attenuation_monitors', 'electrochemical_gas_sensors'],
      output_types: ['air_quality_reading'],
      latency_sla: '< 60 seconds',
      geographic_scope: 'district',
      processing_mode: 'periodic_batch',
      requires_human_approval: false,
    },
    eventType: 'air_quality_reading',
    fields: {
      timestamp: { type: 'ISO8601', required: true },
      location: LOCATION_FIELD,
      station_id: { type: 'string', required: true },
      aqi: { type: 'integer', required: true, range: [0, 500] },
      pm2_5: { type: 'float', range: [0, 1000], unit: 'µg/m³' },
      pm10: { type: 'float', range: [0, 2000], unit: 'µg/m³' },
      no2_ppb: { type: 'float', range: [0, 2000] },
      o3_ppb: { type: 'float', range: [0, 1000] },
      severity: SEVERITY_FIELD,
      confidence_score: CONFIDENCE_FIELD,
    },
    definitions: [
      {
        trigger: 'very_unhealthy_aqi',
        when: and(cmp('aqi', '>', 300), cmp('confidence_score', '>', 0.9)),
        actions: [notify('pollution_control_officer', 'high', true), log('air_quality_db')],
        escalation_rules: [{ condition: 'no_officer_response_within_60_minutes', action: 'escalate_to_city_health_department' }],
      },
      { trigger: 'pm25_spike', when: and(cmp('pm2_5', '>', 150), cmp('confidence_score', '>', 0.9)), actions: [log('air_quality_db')] },
      { trigger: 'dust_event', when: and(cmp(ar('pm10', '/', 'pm2_5'), '>', 6), cmp('pm10', '>', 250)), actions: [log('air_quality_db')] },
      {
        trigger: 'ozone_alert',
        when: and(cmp('o3_ppb', '>', 100), cmp('severity', '>=', 'medium')),
        actions: [notify('pollution_control_officer', 'medium', false), log('air_quality_db')],
      },
      {
        trigger: 'traffic_no2',
        when: or(cmp('no2_ppb', '>', 180), and(cmp('no2_ppb', '>', 140), cmp('aqi', '>', 250))),
        actions: [log('air_quality_db')],
      },
    ],
  },
  {
    manifest: {
      model_id: FLOOD,
      model_name: 'Stormwater Drain Level Network',
      vendor: 'Greater Chennai Corporation Flood Cell',
      version: '1.1.0',
      capabilities: ['water_level_measurement', 'rainfall_intensity', 'flood_risk_classification'],
      data_sources: ['drain_level_sensors', 'tipping_bucket_rain_gauges'],
      output_types: ['flood_warning'],
      latency_sla: '< 10 seconds',
      geographic_scope: 'district',
      processing_mode: 'real_time_streaming',
      requires_human_approval: false,
      approval_authority: 'zonal_disaster_officer',
    },
    eventType: 'flood_warning',
    fields: {
      timestamp: { type: 'ISO8601', required: true },
      location: LOCATION_FIELD,
      sensor_id: { type: 'string', required: true },
      drain_id: { type: 'string', required: true },
      sensor_role: { type: 'enum', values: ['primary', 'backup'], required: true },
      water_level_cm: { type: 'float', required: true, range: [0, 1000], unit: 'cm' },
      rainfall_mm_per_hour: { type: 'float', range: [0, 500], unit: 'mm/h' },
      rise_rate_cm_per_hour: { type: 'float' },
      battery_percent: { type: 'integer', range: [0, 100] },
      severity: SEVERITY_FIELD,
      confidence_score: CONFIDENCE_FIELD,
    },
    definitions: [
      {
        trigger: 'water_level_rising',
        when: and(cmp('water_level_cm', '>', 30), cmp('severity', '>=', 'high')),
        actions: [notify('zonal_disaster_officer', 'high', false), log('flood_events_db'), escalate('waterlogging above 30 cm')],
      },
      {
        trigger: 'heavy_rainfall',
        when: and(cmp('rainfall_mm_per_hour', '>=', 50), cmp('confidence_score', '>', 0.8)),
        actions: [notify('stormwater_drain_engineer', 'medium', true), log('flood_events_db')],
      },
      { trigger: 'rapid_rise', when: and(cmp('rise_rate_cm_per_hour', '>', 15), cmp('water_level_cm', '>', 20)), actions: [log('flood_events_db')] },
      { trigger: 'sensor_battery_low', when: cmp('battery_percent', '<', 5), actions: [notify('flood_sensor_maintenance', 'low', false)] },
      {
        trigger: 'drain_blockage_suspected',
        when: and(cmp('rainfall_mm_per_hour', '>', 30), cmp('rise_rate_cm_per_hour', '>', 3.5)),
        actions: [notify('stormwater_drain_engineer', 'medium', false), log('flood_events_db')],
      },
      {
        trigger: 'unconfirmed_high_reading',
        when: and(isIn('severity', ['low', 'medium'], true), cmp('confidence_score', '<', 0.75)),
        actions: [log('flood_review_db')],
      },
    ],
  },
];

export const PLUGIN_IDS: readonly string[] = PLUGIN_SPECS.map((p) => p.manifest.model_id);
const P_VIOLATIONS = 0;
const P_TRAFFIC = 1;
const P_AIR = 2;
const P_FLOOD = 3;

/** The four registration documents, `{ plugin_manifest, output_schema, action_definitions }` (seed 001 §2.2). */
export const registrations: ReadonlyArray<Record<string, any>> = PLUGIN_SPECS.map((p) => ({
  plugin_manifest: p.manifest,
  output_schema: { event_type: p.eventType, fields: p.fields },
  action_definitions: p.definitions.map((d) => ({
    trigger: d.trigger,
    condition: conditionText(d.when),
    actions: d.actions,
    ...(d.escalation_rules ? { escalation_rules: d.escalation_rules } : {}),
  })),
}));

/** Rule id of an action trigger, as the decision engine names it: `plugin:{model_id}@{version}#{index}`. */
export function triggerRuleId(plugin: number, definition: number): string {
  const m = PLUGIN_SPECS[plugin]!.manifest;
  return `plugin:${m.model_id}@${m.version}#${definition}`;
}

// ---------------------------------------------------------------------------------------------
// Correlation rules (seed 001 §3.3)

interface RoleTable {
  event_type: string;
  source: string;
  when?: Cond;
}
interface CorrelationTable {
  kind: 'correlation' | 'sequence' | 'count' | 'absence';
  name: string;
  description: string;
  /** correlation: roles[0] trigger, the rest correlate_with; sequence: the steps; count: one; absence: [A, B]. */
  roles: RoleTable[];
  windowText: string;
  windowMs: number;
  radiusText: string | null;
  radiusM: number | null;
  count?: number;
  matchOn?: string[];
  actions: Action[];
}

const FLOOD_ROLE = { event_type: 'flood_warning', source: FLOOD };
export const CORRELATION_TABLES: CorrelationTable[] = [
  {
    // The seed's own example; `traffic_reroute` (an external actuator) is swapped for an internal
    // notification so the benchmark measures the engine and its store, not a webhook.
    kind: 'correlation',
    name: 'flood_traffic_coordination',
    description: 'Seed 001 §3.3: water above 30 cm with traffic data within 500 m and 5 minutes (either order).',
    roles: [{ ...FLOOD_ROLE, when: cmp('water_level_cm', '>', 30) }, { event_type: 'traffic_status', source: TRAFFIC }],
    windowText: 'last_5_minutes',
    windowMs: 300_000,
    radiusText: '500_meters',
    radiusM: 500,
    actions: [
      { type: 'notify_authority', target: 'traffic_control_room', priority: 'high', requires_approval: false, reason: 'close_identified_flooded_roads' },
      { type: 'escalate', target: 'district_layer', reason: 'multi_road_flooding_detected' },
    ],
  },
  {
    kind: 'correlation',
    name: 'gridlock_pollution',
    description: 'A gridlocked junction with an air station within 1 km reading NO2 above 150 ppb within 10 minutes.',
    roles: [
      { event_type: 'traffic_status', source: TRAFFIC, when: and(cmp('congestion_level', '=', 'gridlock'), cmp('average_speed_kmh', '<', 5)) },
      { event_type: 'air_quality_reading', source: AIR, when: cmp('no2_ppb', '>', 150) },
    ],
    windowText: 'last_10_minutes',
    windowMs: 600_000,
    radiusText: '1_km',
    radiusM: 1000,
    actions: [notify('traffic_officer', 'high', false), log('traffic_incidents_db')],
  },
  {
    kind: 'sequence',
    name: 'red_light_then_speeding',
    description: 'The same vehicle runs a red light and then speeds (high severity) within 10 minutes and 3 km.',
    roles: [
      { event_type: 'violation_event', source: VIOLATIONS, when: cmp('violation_type', '=', 'red_light') },
      { event_type: 'violation_event', source: VIOLATIONS, when: and(cmp('violation_type', '=', 'speeding'), cmp('severity', '>=', 'high')) },
    ],
    windowText: '10_minutes',
    windowMs: 600_000,
    radiusText: '3_km',
    radiusM: 3000,
    matchOn: ['vehicle_data.license_plate'],
    actions: [notify('traffic_officer', 'high', true), log('violations_db')],
  },
  {
    kind: 'count',
    name: 'aqi_hotspot',
    description: 'Three readings above AQI 400 within 1 km and 15 minutes.',
    roles: [{ event_type: 'air_quality_reading', source: AIR, when: cmp('aqi', '>', 400) }],
    windowText: '15_minutes',
    windowMs: 900_000,
    radiusText: '1_km',
    radiusM: 1000,
    count: 3,
    actions: [notify('pollution_control_officer', 'critical', false), escalate('air quality hotspot')],
  },
  {
    kind: 'absence',
    name: 'critical_level_unconfirmed',
    description: "A primary gauge above 50 cm not confirmed by the drain's backup gauge (above 40 cm) within 2 minutes: send a field crew.",
    roles: [
      { ...FLOOD_ROLE, when: and(cmp('water_level_cm', '>', 50), cmp('sensor_role', '=', 'primary')) },
      { ...FLOOD_ROLE, when: and(cmp('sensor_role', '=', 'backup'), cmp('water_level_cm', '>', 40)) },
    ],
    windowText: '2_minutes',
    windowMs: 120_000,
    radiusText: null,
    radiusM: null,
    matchOn: ['drain_id'],
    actions: [notify('zonal_disaster_officer', 'high', false), log('flood_events_db')],
  },
];

function roleYaml(r: RoleTable): Record<string, unknown> {
  return { event_type: r.event_type, source: r.source, ...(r.when ? { condition: conditionText(r.when) } : {}) };
}

function ruleDocument(t: CorrelationTable): Record<string, unknown> {
  const where = { time_window: t.windowText, ...(t.radiusText ? { location_radius: t.radiusText } : {}) };
  const common = { name: t.name, description: t.description };
  switch (t.kind) {
    case 'correlation':
      return {
        correlation_rule: {
          ...common,
          trigger: [roleYaml(t.roles[0]!)],
          correlate_with: t.roles.slice(1).map((r) => ({ ...roleYaml(r), ...where })),
          actions: t.actions,
        },
      };
    case 'sequence':
      return { sequence_rule: { ...common, steps: t.roles.map(roleYaml), ...where, match_on: t.matchOn, actions: t.actions } };
    case 'count':
      return { count_rule: { ...common, ...roleYaml(t.roles[0]!), count: t.count, ...where, actions: t.actions } };
    case 'absence':
      return { absence_rule: { ...common, trigger: roleYaml(t.roles[0]!), expect: roleYaml(t.roles[1]!), ...where, match_on: t.matchOn, actions: t.actions } };
  }
}

/** The five rules as YAML documents in the project's rule-file format (src/rules/rule-file.ts), one per string. */
export const ruleYaml: readonly string[] = CORRELATION_TABLES.map((t) => YAML.stringify(ruleDocument(t), { lineWidth: 0 }));
export const ruleNames: readonly string[] = CORRELATION_TABLES.map((t) => t.name);

/** Writes the registrations and rules as files for `city start --plugins DIR --rules DIR`. */
export async function writeWorkloadFiles(dir: string): Promise<{ pluginsDir: string; rulesDir: string }> {
  const pluginsDir = join(dir, 'plugins');
  const rulesDir = join(dir, 'rules');
  await mkdir(pluginsDir, { recursive: true });
  await mkdir(rulesDir, { recursive: true });
  for (const r of registrations) await writeFile(join(pluginsDir, `${r.plugin_manifest.model_id}.json`), JSON.stringify(r, null, 2));
  for (let i = 0; i < ruleYaml.length; i++) await writeFile(join(rulesDir, `${ruleNames[i]}.yaml`), ruleYaml[i]!);
  return { pluginsDir, rulesDir };
}

// ---------------------------------------------------------------------------------------------
// Sites and incidents

interface Site extends Spot {
  id: string;
}
interface CameraSite extends Site {
  zone: 'school' | 'residential' | 'arterial' | 'highway';
  limit: number;
}
interface JunctionSite extends Site {
  road: string;
  freeFlow: number;
}
interface StationSite extends Site {
  base: number;
}
interface DrainSite extends Site {
  baseline: number;
  battery: number;
}
interface City {
  cameras: CameraSite[];
  junctions: JunctionSite[];
  stations: StationSite[];
  drains: DrainSite[];
}

const R_EARTH_M = 6_371_008.8;
/** Great-circle distance in metres (haversine). */
export function distanceM(lat1: number, lng1: number, lat2: number, lng2: number): number {
  const rad = Math.PI / 180;
  const dLat = (lat2 - lat1) * rad;
  const dLng = (lng2 - lng1) * rad;
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(dLng / 2) ** 2;
  return 2 * R_EARTH_M * Math.asin(Math.min(1, Math.sqrt(a)));
}

const ROADS = ['Anna Salai', 'Poonamallee High Road', 'Kamarajar Salai', 'Rajiv Gandhi Salai', 'Inner Ring Road', 'Arcot Road', 'GST Road', 'Sardar Patel Road', 'Velachery Main Road', 'Jawaharlal Nehru Salai'];
let zoneSpots: { tree: ZoneTree; index: ZoneIndex } | null = null;

/** Fixed sites at real points inside Chennai's wards; sites too close to a rule radius from a related site are dropped. */
function buildCity(seed: number): City {
  if (zoneSpots === null) {
    const tree = new ZoneTree(parseZoneFile(readFileSync(join(PROJECT_ROOT, 'examples/cities/chennai/city.geojson'), 'utf8')));
    zoneSpots = { tree, index: new ZoneIndex(tree) };
  }
  const random = seededRandom(seed * 7919 + 17);
  const spots = (n: number) => sampleSpots(zoneSpots!.tree, zoneSpots!.index, n, random);
  const cameras = spots(300).map((s, i): CameraSite => {
    const r = random();
    const zone = r < 0.1 ? 'school' : r < 0.4 ? 'residential' : r < 0.85 ? 'arterial' : 'highway';
    const limit = zone === 'school' ? (random() < 0.5 ? 30 : 40) : zone === 'residential' ? (random() < 0.5 ? 40 : 50) : zone === 'arterial' ? (random() < 0.5 ? 50 : 60) : 80;
    return { ...s, id: `cam-${String(i).padStart(3, '0')}`, zone, limit };
  });
  const stations = spots(60).map((s, i): StationSite => ({ ...s, id: `aq-${String(i).padStart(2, '0')}`, base: 60 + Math.floor(random() * 120) }));
  const drains = spots(100).map((s, i): DrainSite => ({
    ...s,
    id: `drain-${String(i).padStart(3, '0')}`,
    baseline: 2 + Math.round(random() * 180) / 10,
    // One gauge in a hundred runs on a flat battery (sensor_battery_low).
    battery: i % 100 === 7 ? Math.floor(random() * 5) : 10 + Math.floor(random() * 91),
  }));
  const ambiguous = (s: Spot, others: Spot[], radius: number) => others.some((o) => Math.abs(distanceM(s.latitude, s.longitude, o.latitude, o.longitude) - radius) < radius * 0.02);
  const junctions = spots(640)
    .filter((s) => !ambiguous(s, drains, 500) && !ambiguous(s, stations, 1000))
    .map((s, i): JunctionSite => ({ ...s, id: `jn-${String(i).padStart(3, '0')}`, road: ROADS[Math.floor(random() * ROADS.length)]!, freeFlow: 30 + 10 * Math.floor(random() * 5) }));
  return { cameras, junctions, stations, drains };
}

interface Incident {
  site: number;
  start: number;
  end: number;
}
interface FloodEpisode extends Incident {
  peak: number;
  riseMs: number;
  holdMs: number;
  fallMs: number;
  backupWorks: boolean;
}
interface PlantedViolation {
  ts: number;
  camera: number;
  plate: string;
  type: 'red_light' | 'speeding';
}

/** Incidents per million events (scaled by n): what makes correlation rules fire. */
const INCIDENTS_PER_M = { floods: 20, gridlocks: 25, hotspots: 30, repeatOffenders: 50 };

// ---------------------------------------------------------------------------------------------
// Events

export interface GenerateOptions {
  /** Event time of the first event (Unix ms); default 2025-12-03T14:00:00Z. */
  startMs?: number;
  /** Events per second of event time (not of feeding); default 200, so 200,000 events span 17 minutes of city time. */
  ratePerSec?: number;
}

export interface EventSet {
  seed: number;
  startMs: number;
  ratePerSec: number;
  /** Events as a plugin posts them (envelope + payload), in generation (event-time) order. */
  events: Record<string, unknown>[];
  /** Each event's plugin: an index into PLUGIN_IDS / registrations. */
  plugin: Uint8Array;
  ts: Float64Array;
  lat: Float64Array;
  lng: Float64Array;
  /** 1 where the event must travel in the same batch as its plugin's next event (a reading and its adjacent confirmation). */
  keepWithNext: Uint8Array;
}

/** Deterministic UUIDv7-shaped id: event time, the seed, and the event's index in the last 48 bits. */
function eventId(seed: number, index: number, ts: number): string {
  const t = ts.toString(16).padStart(12, '0');
  return `${t.slice(0, 8)}-${t.slice(8, 12)}-7${(seed & 0xfff).toString(16).padStart(3, '0')}-8000-${index.toString(16).padStart(12, '0')}`;
}
/** The index of an event in its EventSet, read back from its id. */
export function eventIndexOf(id: string): number {
  return parseInt(id.slice(24), 16);
}

const round1 = (x: number) => Math.round(x * 10) / 10;
const round3 = (x: number) => Math.round(x * 1000) / 1000;
const PLATE_STATES = ['TN01', 'TN02', 'TN05', 'TN07', 'TN09', 'TN10', 'TN11', 'TN12', 'TN14', 'TN18', 'TN22'];
const LETTERS = 'ABCDEFGHJKLMNPRSTUVWXYZ';
function plate(random: Random): string {
  const l = () => LETTERS[Math.floor(random() * LETTERS.length)]!;
  return `${PLATE_STATES[Math.floor(random() * PLATE_STATES.length)]}${l()}${l()}${1000 + Math.floor(random() * 9000)}`;
}
const pickIndex = (random: Random, n: number) => Math.floor(random() * n);
function location(s: Spot, address?: string): Record<string, unknown> {
  return address === undefined ? { latitude: s.latitude, longitude: s.longitude } : { latitude: s.latitude, longitude: s.longitude, address };
}
const levelSeverity = (level: number) => (level > 50 ? 'critical' : level > 30 ? 'high' : level > 15 ? 'medium' : 'low');
const aqiSeverity = (aqi: number) => (aqi > 300 ? 'critical' : aqi > 200 ? 'high' : aqi > 100 ? 'medium' : 'low');

/**
 * `n` events of the four plugins (violations 40 %, traffic status 35 %, air quality 21 %, flood
 * gauges 4 %) at the city's fixed sites, with incidents placed in event time: flood episodes
 * (drains rising above 30 and 50 cm, confirmed by the backup gauge or, for a third of them, not),
 * gridlocks (with NO2 rising at air stations within 900 m), AQI hotspots (bursts above 400) and
 * repeat offenders (a red light, then speeding by the same plate 30–400 s later, or too late).
 * Same n, seed and options → the same events, byte for byte.
 */
export function generateEvents(n: number, seed: number, options: GenerateOptions = {}): EventSet {
  const startMs = options.startMs ?? Date.UTC(2025, 11, 3, 14, 0, 0);
  const rate = options.ratePerSec ?? 200;
  const city = buildCity(seed);
  const random = seededRandom(seed);
  const plan = seededRandom(seed * 31 + 7);
  const spanMs = (n * 1000) / rate;
  const count = (perM: number) => Math.floor((n * perM) / 1e6 + plan());
  const at = (from: number, to: number) => startMs + spanMs * (from + (to - from) * plan());

  // Flood episodes: rise, hold at the peak, fall. Unconfirmed ones end a window before the last
  // event, so that "no confirmation" is decided inside the stream whatever the engine's clock.
  const floods: FloodEpisode[] = [];
  const drainsNearJunction: number[] = [];
  const drainsAway: number[] = [];
  city.drains.forEach((d, i) =>
    (city.junctions.some((j) => distanceM(d.latitude, d.longitude, j.latitude, j.longitude) < 500) ? drainsNearJunction : drainsAway).push(i),
  );
  for (let target = count(INCIDENTS_PER_M.floods), tries = 0; floods.length < target && tries < 1000; tries++) {
    const riseMs = 90_000 + plan() * 90_000;
    const holdMs = 60_000 + plan() * 180_000;
    const fallMs = 60_000 + plan() * 60_000;
    // Every third episode's backup gauge is out, and its peak is above 50 cm: the absence rule fires.
    const backupWorks = floods.length % 3 !== 2;
    const peak = backupWorks ? 40 + plan() * 50 : 55 + plan() * 35;
    const total = riseMs + holdMs + fallMs;
    const latest = spanMs - total - 150_000;
    const start = startMs + 0.02 * spanMs + plan() * (latest - 0.02 * spanMs);
    // Four in five at a drain with a junction within 500 m (the seed rule fires), one in five not.
    const pool = plan() < 0.8 ? drainsNearJunction : drainsAway;
    const site = pool[pickIndex(plan, pool.length)]!;
    if (latest < 0.02 * spanMs || floods.some((e) => e.site === site)) continue;
    floods.push({ site, start, end: start + total, peak, riseMs, holdMs, fallMs, backupWorks });
  }
  // Gridlocks, and the air stations within 900 m of them (NO2 up until a minute after).
  const gridlocks: Incident[] = [];
  for (let k = count(INCIDENTS_PER_M.gridlocks); k > 0; k--) {
    const start = at(0.01, 0.97);
    gridlocks.push({ site: pickIndex(plan, city.junctions.length), start, end: start + 60_000 + plan() * 120_000 });
  }
  const no2: Incident[] = [];
  for (const g of gridlocks) {
    const j = city.junctions[g.site]!;
    city.stations.forEach((s, i) => {
      if (distanceM(j.latitude, j.longitude, s.latitude, s.longitude) < 900) no2.push({ site: i, start: g.start, end: g.end + 60_000 });
    });
  }
  // AQI hotspots: 10–20 s bursts above 400 at one station, never within 2.2 km and 16 minutes of another.
  const hotspots: Incident[] = [];
  for (let k = count(INCIDENTS_PER_M.hotspots), tries = 0; k > 0 && tries < 1000; tries++) {
    const start = at(0.01, 0.99);
    const site = pickIndex(plan, city.stations.length);
    const s = city.stations[site]!;
    const clash = hotspots.some((h) => {
      const o = city.stations[h.site]!;
      return Math.abs(h.start - start) < 960_000 && distanceM(s.latitude, s.longitude, o.latitude, o.longitude) < 2200;
    });
    if (clash) continue;
    hotspots.push({ site, start, end: start + 10_000 + plan() * 10_000 });
    k--;
  }
  // Repeat offenders: a red light, then speeding by the same plate at a camera within 2.5 km.
  const planted: PlantedViolation[] = [];
  for (let k = count(INCIDENTS_PER_M.repeatOffenders); k > 0; k--) {
    const ts = at(0.01, 0.6);
    const camera = pickIndex(plan, city.cameras.length);
    const c = city.cameras[camera]!;
    const near = city.cameras.map((o, i) => [o, i] as const).filter(([o]) => distanceM(c.latitude, c.longitude, o.latitude, o.longitude) < 2500);
    const second = near[pickIndex(plan, near.length)]![1];
    const gap = plan() < 0.8 ? 30_000 + plan() * 370_000 : 650_000 + plan() * 250_000;
    const p = plate(plan);
    planted.push({ ts, camera, plate: p, type: 'red_light' }, { ts: ts + gap, camera: second, plate: p, type: 'speeding' });
  }
  planted.sort((a, b) => a.ts - b.ts);
  const bySite = (list: Incident[], sites: number) => {
    const out: Incident[][] = Array.from({ length: sites }, () => []);
    for (const x of list) out[x.site]!.push(x);
    return out;
  };
  const floodAt = bySite(floods, city.drains.length) as FloodEpisode[][];
  const gridlockAt = bySite(gridlocks, city.junctions.length);
  const hotspotAt = bySite(hotspots, city.stations.length);
  const no2At = bySite(no2, city.stations.length);
  const active = <T extends Incident>(list: T[], ts: number): T | undefined => {
    for (const x of list) if (ts >= x.start && ts < x.end) return x;
    return undefined;
  };

  const set: EventSet = {
    seed,
    startMs,
    ratePerSec: rate,
    events: new Array(n),
    plugin: new Uint8Array(n),
    ts: new Float64Array(n),
    lat: new Float64Array(n),
    lng: new Float64Array(n),
    keepWithNext: new Uint8Array(n),
  };
  let nextPlanted = 0;
  let pendingBackup: { drain: number; level: number; primary: number } | null = null;

  for (let i = 0; i < n; i++) {
    const ts = startMs + Math.floor((i * 1000) / rate);
    const id = eventId(seed, i, ts);
    const timestamp = new Date(ts).toISOString();
    const r = random();
    let p: number;
    let e: Record<string, unknown>;
    let site: Spot;
    if (r < 0.4) {
      p = P_VIOLATIONS;
      let type: string;
      let camera: number;
      let vplate: string;
      let speed: number | undefined;
      let severity: string;
      let vehicle: string;
      let confidence: number | undefined = round3(0.55 + 0.45 * random());
      const due = planted[nextPlanted];
      if (due !== undefined && due.ts <= ts) {
        nextPlanted++;
        camera = due.camera;
        const c = city.cameras[camera]!;
        type = due.type;
        vplate = due.plate;
        vehicle = 'car';
        speed = type === 'speeding' ? c.limit + 26 + Math.floor(random() * 25) : Math.floor(c.limit * 0.6);
        severity = type === 'speeding' ? (speed - c.limit > 40 ? 'critical' : 'high') : 'high';
        confidence = round3(0.8 + 0.2 * random());
      } else {
        camera = pickIndex(random, city.cameras.length);
        const c = city.cameras[camera]!;
        const t = random();
        type = t < 0.6 ? 'speeding' : t < 0.8 ? 'red_light' : t < 0.95 ? 'no_helmet' : 'wrong_way';
        vplate = plate(random);
        const v = random();
        vehicle = type === 'no_helmet' ? 'two_wheeler' : v < 0.45 ? 'car' : v < 0.75 ? 'two_wheeler' : v < 0.87 ? 'auto_rickshaw' : v < 0.94 ? 'bus' : 'truck';
        const s = random();
        if (type === 'speeding') {
          speed = c.limit + 1 + Math.floor(-9 * Math.log(1 - random()));
          const excess = speed - c.limit;
          severity = excess > 40 ? 'critical' : excess > 25 ? 'high' : excess > 12 ? 'medium' : 'low';
        } else if (type === 'red_light') {
          speed = Math.floor(c.limit * (0.3 + 0.7 * random()));
          severity = s < 0.2 ? 'low' : s < 0.7 ? 'medium' : s < 0.95 ? 'high' : 'critical';
        } else if (type === 'wrong_way') {
          speed = 10 + Math.floor(random() * 30);
          severity = s < 0.3 ? 'medium' : s < 0.8 ? 'high' : 'critical';
        } else {
          speed = random() < 0.5 ? undefined : Math.floor(c.limit * (0.4 + 0.7 * random()));
          severity = s < 0.7 ? 'low' : 'medium';
        }
        if (random() < 0.01) confidence = undefined;
      }
      const c = city.cameras[camera]!;
      site = c;
      e = {
        event_id: id,
        timestamp,
        event_type: 'violation_event',
        location: location(c, `${ROADS[camera % ROADS.length]}, camera ${c.id}`),
        camera_id: c.id,
        camera_zone: c.zone,
        speed_limit_kmh: c.limit,
        violation_type: type,
        vehicle_data: speed === undefined ? { license_plate: vplate, vehicle_type: vehicle } : { license_plate: vplate, vehicle_type: vehicle, speed_kmh: speed },
        evidence: { image_urls: [`https://evidence.example/${c.id}/${id.slice(24)}.jpg`] },
        severity,
        ...(confidence === undefined ? {} : { confidence_score: confidence }),
      };
    } else if (r < 0.75) {
      p = P_TRAFFIC;
      const j = pickIndex(random, city.junctions.length);
      const jn = city.junctions[j]!;
      site = jn;
      let level: string;
      let factor: number;
      let vehicles: number;
      let occupancy: number;
      let severity: string;
      if (active(gridlockAt[j]!, ts)) {
        level = 'gridlock';
        factor = (random() * 8) / jn.freeFlow;
        vehicles = 150 + Math.floor(random() * 70);
        occupancy = 85 + random() * 15;
        severity = 'critical';
      } else {
        const l = random();
        level = l < 0.45 ? 'free' : l < 0.8495 ? 'moderate' : l < 0.9995 ? 'heavy' : 'gridlock';
        const s = random();
        if (level === 'free') [factor, vehicles, occupancy, severity] = [0.8 + 0.3 * random(), 10 + Math.floor(random() * 70), 5 + 25 * random(), 'low'];
        else if (level === 'moderate') [factor, vehicles, occupancy, severity] = [0.5 + 0.3 * random(), 60 + Math.floor(random() * 90), 25 + 35 * random(), s < 0.3 ? 'low' : 'medium'];
        else if (level === 'heavy') [factor, vehicles, occupancy, severity] = [0.185 + 0.315 * random(), 120 + Math.floor(random() * 80), 55 + 40 * random(), s < 0.15 ? 'medium' : s < 0.97 ? 'high' : 'critical'];
        // Background gridlock is never slower than 5 km/h: only incidents are gridlock-and-stopped.
        else [factor, vehicles, occupancy, severity] = [(5.5 + 6.5 * random()) / jn.freeFlow, 150 + Math.floor(random() * 70), 85 + 15 * random(), 'critical'];
        if (random() < 0.003) occupancy = 96 + 4 * random();
      }
      e = {
        event_id: id,
        timestamp,
        event_type: 'traffic_status',
        location: location(jn, `${jn.road} junction ${jn.id}`),
        sensor_id: jn.id,
        road_name: jn.road,
        congestion_level: level,
        average_speed_kmh: round1(jn.freeFlow * factor),
        free_flow_speed_kmh: jn.freeFlow,
        vehicle_count: vehicles,
        occupancy_percent: Math.min(100, round1(occupancy)),
        severity,
        confidence_score: round3(0.7 + 0.3 * random()),
      };
    } else if (r < 0.96) {
      p = P_AIR;
      const st = pickIndex(random, city.stations.length);
      const s = city.stations[st]!;
      site = s;
      let aqi = Math.round(s.base * (0.7 + 0.6 * random()));
      const x = random();
      if (x < 0.01) aqi = 250 + Math.floor(random() * 101);
      let pm25 = round1(aqi * (0.35 + 0.2 * random()));
      let pm10 = round1(pm25 * (1.4 + 1.6 * random()));
      let no2ppb = round1(15 + 90 * random() ** 2);
      let o3 = round1(10 + 80 * random() ** 1.5);
      const y = random();
      if (y < 0.006) {
        pm25 = round1(30 + 30 * random());
        pm10 = round1(pm25 * (6 + 3 * random()));
      } else if (y < 0.014) o3 = round1(100 + 40 * random());
      else if (y < 0.016) no2ppb = round1(150 + 50 * random());
      if (active(hotspotAt[st]!, ts)) {
        aqi = 401 + Math.floor(random() * 80);
        pm25 = round1(aqi * (0.5 + 0.1 * random()));
      }
      if (active(no2At[st]!, ts)) no2ppb = round1(160 + 60 * random());
      e = {
        event_id: id,
        timestamp,
        event_type: 'air_quality_reading',
        location: location(s),
        station_id: s.id,
        aqi,
        pm2_5: pm25,
        pm10,
        no2_ppb: no2ppb,
        o3_ppb: o3,
        severity: aqiSeverity(aqi),
        confidence_score: round3(0.85 + 0.15 * random()),
      };
    } else {
      p = P_FLOOD;
      let d: number;
      let role = 'primary';
      let level: number;
      let rise = round1(-4 + 8 * random());
      let rain = random() < 0.99 ? round1(25 * random() ** 2) : round1(40 + 40 * random());
      if (pendingBackup !== null) {
        // The backup gauge answers right after the primary's critical reading.
        d = pendingBackup.drain;
        role = 'backup';
        level = round1(pendingBackup.level - 1 + 2 * random());
        set.keepWithNext[pendingBackup.primary] = 1;
        pendingBackup = null;
      } else {
        d = pickIndex(random, city.drains.length);
        const dr = city.drains[d]!;
        level = round1(dr.baseline + 3 * random());
        const ep = active(floodAt[d]!, ts);
        if (ep) {
          const t = ts - ep.start;
          const up = ep.peak - dr.baseline;
          let frac: number;
          if (t < ep.riseMs) {
            frac = t / ep.riseMs;
            rise = round1((up / ep.riseMs) * 3_600_000);
          } else if (t < ep.riseMs + ep.holdMs) {
            frac = 1;
            rise = round1(-1 + 2 * random());
          } else {
            frac = 1 - (t - ep.riseMs - ep.holdMs) / ep.fallMs;
            rise = round1((-up / ep.fallMs) * 3_600_000);
          }
          level = round1(dr.baseline + up * frac + random());
          rain = round1(40 + 50 * random());
          if (level > 50 && ep.backupWorks) pendingBackup = { drain: d, level, primary: i };
        }
      }
      const dr = city.drains[d]!;
      site = dr;
      const battery = random() < 0.1 ? undefined : dr.battery;
      e = {
        event_id: id,
        timestamp,
        event_type: 'flood_warning',
        location: location(dr),
        sensor_id: `${dr.id}-${role === 'primary' ? 'p' : 'b'}`,
        drain_id: dr.id,
        sensor_role: role,
        water_level_cm: level,
        rainfall_mm_per_hour: rain,
        rise_rate_cm_per_hour: rise,
        ...(battery === undefined ? {} : { battery_percent: battery }),
        severity: levelSeverity(level),
        confidence_score: round3(0.7 + 0.3 * random()),
      };
    }
    set.events[i] = e;
    set.plugin[i] = p;
    set.ts[i] = ts;
    set.lat[i] = site.latitude;
    set.lng[i] = site.longitude;
  }
  return set;
}

// ---------------------------------------------------------------------------------------------
// Batches: the arrival order both engines see

export interface Batch {
  /** Index into PLUGIN_IDS. */
  plugin: number;
  /** Event indices in the EventSet, in order. */
  indices: Int32Array;
}

/**
 * Groups the stream into batches of one plugin each, as each plugin's gateway would post them:
 * a batch goes when it holds `batchSize` events or when its oldest event is `maxDelayMs` of event
 * time old (default 30 s), and never between a reading and the confirmation that must travel with
 * it. The order of the returned batches is the arrival order; each plugin's events stay in order,
 * and across plugins events are reordered by at most `maxDelayMs` of event time.
 */
export function batchEvents(set: EventSet, batchSize: number, maxDelayMs = 30_000): Batch[] {
  const open: number[][] = PLUGIN_IDS.map(() => []);
  const out: Batch[] = [];
  const flush = (p: number) => {
    out.push({ plugin: p, indices: Int32Array.from(open[p]!) });
    open[p] = [];
  };
  for (let i = 0; i < set.events.length; i++) {
    const ts = set.ts[i]!;
    // Gateways whose oldest event has waited long enough send first, oldest first.
    for (;;) {
      let oldest = -1;
      for (let q = 0; q < open.length; q++) {
        const buf = open[q]!;
        if (buf.length === 0 || set.keepWithNext[buf[buf.length - 1]!] === 1 || ts - set.ts[buf[0]!]! < maxDelayMs) continue;
        if (oldest === -1 || buf[0]! < open[oldest]![0]!) oldest = q;
      }
      if (oldest === -1) break;
      flush(oldest);
    }
    const p = set.plugin[i]!;
    open[p]!.push(i);
    if (open[p]!.length >= batchSize && set.keepWithNext[i] === 0) flush(p);
  }
  const rest = open.map((buf, p) => ({ p, buf })).filter((x) => x.buf.length > 0);
  rest.sort((a, b) => a.buf[0]! - b.buf[0]!);
  for (const { p } of rest) flush(p);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Expected decisions: the project's condition compiler and brute-force windows

export type DecisionKind = 'action_trigger' | 'correlation' | 'sequence' | 'count' | 'absence';
export interface ExpectedDecision {
  rule: string;
  kind: DecisionKind;
  /** The event the decision is about (the trigger / first step / A / earliest event of a count). */
  trigger: number;
  /** The event whose arrival makes the decision (latency is measured from its acknowledgement). */
  cause: number;
}
export interface Expected {
  decisions: ExpectedDecision[];
  byRule: Map<string, number>;
  /** Action-trigger decisions (one per event and definition that holds). */
  triggerDecisions: number;
  /** Events with at least one action trigger. */
  eventsWithTrigger: number;
  correlationDecisions: number;
  /** Absence rules' A events still waiting when the stream ended (no decision either way). */
  absencePending: number;
  /** Events the expectation covers (the batches given). */
  events: number;
}

let compiledDefinitions: CompiledCondition[][] | null = null;
function definitionsCompiled(): CompiledCondition[][] {
  compiledDefinitions ??= registrations.map((r) => (r.action_definitions as Array<{ condition: string }>).map((d) => compileCondition(d.condition, { orderedEnums: ORDERED })));
  return compiledDefinitions;
}

/** Reads a dotted path the plain way (independent of the rule compiler's reader). */
function readPath(e: Record<string, unknown>, path: string): unknown {
  let o: unknown = e;
  for (const s of path.split('.')) o = typeof o === 'object' && o !== null ? (o as Record<string, unknown>)[s] : undefined;
  return o;
}

/** What a run of either engine reports (bench/brain/city-peer.ts, node-red-peer.ts). */
export interface BrainRunResult {
  events: number;
  batchSize: number;
  /** Events / (first publish → last decision received, or last PUBACK if later). */
  eventsPerSec: number;
  /** Events / (first publish → last PUBACK). */
  eventsPerSecAcked: number;
  decisions: number;
  expectedDecisions: number;
  /** Decisions expected but not received / received but not expected. */
  missing: number;
  extra: number;
  /** Decisions received and expected, by rule id (action triggers: `plugin:{model_id}@{version}#{index}`). */
  byRule: Record<string, { got: number; expected: number }>;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  notes: string[];
}

/**
 * What both engines must decide for these batches, in arrival order. Conditions are evaluated
 * by the project's rule compiler (src/rules/expression.ts) on the rule texts; windows by brute
 * force over the whole stream, not incrementally. The semantics (event time, both ends inclusive):
 *
 * - correlation: a trigger fires once if every correlate_with role has an event within its window
 *   (before or after) and radius; decided on arrival of the last of the earliest-arriving such events.
 * - sequence: each first step fires once, on arrival of the first step-2 event with the same
 *   match_on values, at or after it in event time by at most the window, within the radius.
 * - count: in arrival order, an event with at least count − 1 unused events within window and
 *   radius fires if `count` of them that are consecutive in time, include it and span at most the
 *   window (those ending with it preferred) exist; they are used up; the decision is about the
 *   earliest of them.
 * - absence: an A fires when an event of B's plugin and type arrives that takes B's event time
 *   past A + window, unless a matching B (A ≤ B ≤ A + window) arrived first; As still waiting
 *   when the stream ends are `absencePending`, not decisions.
 */
export function expectedDecisions(set: EventSet, batches: readonly Batch[]): Expected {
  const order: number[] = [];
  for (const b of batches) for (const i of b.indices) order.push(i);
  const pos = new Int32Array(set.events.length).fill(-1);
  order.forEach((i, k) => (pos[i] = k));
  const decisions: ExpectedDecision[] = [];
  const compiled = definitionsCompiled();
  let eventsWithTrigger = 0;
  for (const i of order) {
    const p = set.plugin[i]!;
    let any = false;
    compiled[p]!.forEach((c, d) => {
      if (c.test(set.events[i]!)) {
        decisions.push({ rule: triggerRuleId(p, d), kind: 'action_trigger', trigger: i, cause: i });
        any = true;
      }
    });
    if (any) eventsWithTrigger++;
  }
  const triggerDecisions = decisions.length;

  let absencePending = 0;
  for (const t of CORRELATION_TABLES) {
    // Events that fit each role, in arrival order.
    const roleConds = t.roles.map((r) => (r.when ? compileCondition(conditionText(r.when), { orderedEnums: ORDERED }) : null));
    const fits = t.roles.map((r, k) =>
      order.filter((i) => PLUGIN_IDS[set.plugin[i]!] === r.source && set.events[i]!.event_type === r.event_type && (roleConds[k] === null || roleConds[k]!.test(set.events[i]!))),
    );
    const near = (a: number, b: number) => t.radiusM === null || distanceM(set.lat[a]!, set.lng[a]!, set.lat[b]!, set.lng[b]!) <= t.radiusM;
    const key = (i: number): string | null => {
      const vals = (t.matchOn ?? []).map((m) => readPath(set.events[i]!, m));
      return vals.some((v) => v === undefined || v === null) ? null : JSON.stringify(vals);
    };
    if (t.kind === 'correlation') {
      for (const trig of fits[0]!) {
        let cause = pos[trig]!;
        let ok = true;
        for (let k = 1; k < t.roles.length && ok; k++) {
          let first = Infinity;
          for (const c of fits[k]!) {
            if (Math.abs(set.ts[c]! - set.ts[trig]!) <= t.windowMs && near(trig, c)) first = Math.min(first, pos[c]!);
          }
          if (first === Infinity) ok = false;
          else cause = Math.max(cause, first);
        }
        if (ok) decisions.push({ rule: t.name, kind: 'correlation', trigger: trig, cause: order[cause]! });
      }
    } else if (t.kind === 'sequence') {
      const seconds = new Map<string, number[]>();
      for (const b of fits[1]!) {
        const k = key(b);
        if (k !== null) (seconds.get(k) ?? seconds.set(k, []).get(k)!).push(b);
      }
      for (const a of fits[0]!) {
        const k = key(a);
        if (k === null) continue;
        const b = (seconds.get(k) ?? []).find((b) => pos[b]! > pos[a]! && set.ts[b]! >= set.ts[a]! && set.ts[b]! - set.ts[a]! <= t.windowMs && near(a, b));
        if (b !== undefined) decisions.push({ rule: t.name, kind: 'sequence', trigger: a, cause: b });
      }
    } else if (t.kind === 'count') {
      const unused: number[] = [];
      const byTime = (x: number, y: number) => set.ts[x]! - set.ts[y]! || pos[x]! - pos[y]!;
      for (const e of fits[0]!) {
        const cands = unused.filter((c) => Math.abs(set.ts[c]! - set.ts[e]!) <= t.windowMs && near(e, c));
        let group: number[] | null = null;
        if (cands.length + 1 >= t.count!) {
          cands.push(e);
          cands.sort(byTime);
          const at = cands.indexOf(e);
          for (let i = Math.max(0, at - t.count! + 1); i <= at && i + t.count! <= cands.length && group === null; i++) {
            if (set.ts[cands[i + t.count! - 1]!]! - set.ts[cands[i]!]! <= t.windowMs) group = cands.slice(i, i + t.count!);
          }
        }
        if (group === null) {
          unused.push(e);
          continue;
        }
        const used = new Set(group);
        for (let k = unused.length - 1; k >= 0; k--) if (used.has(unused[k]!)) unused.splice(k, 1);
        decisions.push({ rule: t.name, kind: 'count', trigger: group[0]!, cause: e });
      }
    } else {
      // absence: after each A, walk B's plugin-and-type stream in arrival order.
      const rb = t.roles[1]!;
      const bStream = order.filter((i) => PLUGIN_IDS[set.plugin[i]!] === rb.source && set.events[i]!.event_type === rb.event_type);
      const bFits = new Set(fits[1]!);
      let wm = -Infinity;
      const wmAt = bStream.map((i) => (wm = Math.max(wm, set.ts[i]!)));
      for (const a of fits[0]!) {
        const deadline = set.ts[a]! + t.windowMs;
        const ka = key(a);
        if (ka === null) continue;
        // The first event of B's stream that arrives after A (binary search on arrival position).
        let lo = 0;
        let hi = bStream.length;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (pos[bStream[mid]!]! > pos[a]!) hi = mid;
          else lo = mid + 1;
        }
        let decided = false;
        for (let k = lo; k < bStream.length; k++) {
          const b = bStream[k]!;
          if (bFits.has(b) && key(b) === ka && set.ts[b]! >= set.ts[a]! && set.ts[b]! <= deadline && near(a, b)) {
            decided = true;
            break;
          }
          if (wmAt[k]! > deadline) {
            decisions.push({ rule: t.name, kind: 'absence', trigger: a, cause: b });
            decided = true;
            break;
          }
        }
        if (!decided) absencePending++;
      }
    }
  }
  const byRule = new Map<string, number>();
  for (const d of decisions) byRule.set(d.rule, (byRule.get(d.rule) ?? 0) + 1);
  return {
    decisions,
    byRule,
    triggerDecisions,
    eventsWithTrigger,
    correlationDecisions: decisions.length - triggerDecisions,
    absencePending,
    events: order.length,
  };
}

/**
 * Share of events with at least one action trigger in the default workload (seed 1, 200 events/s
 * of event time): 20,254 of 1,000,000 (3,912 of 200,000 = 0.0196), as `expectedDecisions` counts
 * them; `npx tsx bench/brain/node-red-peer.ts --events N --check` prints the figure for any N.
 */
export const expectedTriggerFraction = 0.0203;
