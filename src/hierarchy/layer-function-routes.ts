import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { requires } from '../auth/policy.js';
import { actorId } from '../auth/principal.js';
import type { AuditLog } from '../auth/audit.js';
import { cityError } from '../errors.js';
import { uuidv7 } from '../events/ids.js';
import type { RoadNetwork } from '../geo/roads.js';
import type { ZoneService } from '../geo/zone-service.js';
import { centroidOf } from '../geo/geodesy.js';
import type { MultiPolygon, Polygon } from '../geo/geojson.js';
import type { RuleMatch } from '../decisions/types.js';
import type { Database } from '../store/schema.js';
import type { AggregationReport } from '../brain/aggregation.js';
import { benchmark } from './benchmark.js';
import { EMERGENCY_ROUTE_DEFAULTS, nearestAvailable, planEmergencyRoute, type ResourceCandidate } from './emergency-route.js';
import { affectedAreas, allocate } from './flood.js';
import type { Hierarchy } from './hierarchy.js';
import type { LinkedNode } from './link-auth.js';
import type { LayerReport } from './report-merge.js';
import { planTransfers, POOL_PRIORITIES, STATE_POOL, type PoolHolding } from './resource-pool.js';
import type { NodeRole } from './roles.js';

export interface LayerFunctionOptions {
  hierarchy: Hierarchy;
  db: Kysely<Database>;
  tenantId: string;
  nodeId: string;
  role: NodeRole;
  zoneId: string | null;
  zones: ZoneService;
  roads: () => RoadNetwork;
  audit: AuditLog;
  log: Logger;
}

/** Seed 001 §5.3, as written there. */
const FLOOD_ACTIONS = ['evacuate_low_lying_areas', 'close_flood_prone_roads'];
const FLOOD_AGENCIES = [
  { agency: 'state_disaster_management', action: 'request_additional_resources' },
  { agency: 'power_utility', action: 'preemptive_shutdown_at_risk_areas' },
];
/** A city keeps this share of each resource type when the state pools them (seed 001 §6.1). */
const CITY_RESERVE_SHARE = 0.2;

const Point = Type.Object({ latitude: Type.Number({ minimum: -90, maximum: 90 }), longitude: Type.Number({ minimum: -180, maximum: 180 }) }, { additionalProperties: false });
const EmergencyBody = Type.Object(
  {
    incident_id: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    /** Where the patient is (the ambulance goes there first when `resource_type` asks for one). */
    location: Point,
    /** The hospital (seed §4.3 `emergency_event.destination`). */
    destination: Point,
    destination_name: Type.Optional(Type.String({ maxLength: 200 })),
    severity: Type.Optional(Type.String({ maxLength: 50 })),
    patient_condition: Type.Optional(Type.String({ maxLength: 200 })),
    /** Dispatch the nearest available unit of this type from the children's resource status. */
    resource_type: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    /** The action target notified with the ETA (seed §4.3 `hospital_system.notify`). */
    notify_target: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' })),
    speed_factor: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 5 })),
  },
  { additionalProperties: false },
);
const GeometryBody = Type.Object({ type: Type.Union([Type.Literal('Polygon'), Type.Literal('MultiPolygon')]), coordinates: Type.Array(Type.Any()) });
const IncidentBody = Type.Object(
  {
    incident_type: Type.String({ minLength: 1, maxLength: 100 }),
    severity: Type.String({ minLength: 1, maxLength: 50 }),
    /** The flood prediction's area (GeoJSON Polygon or MultiPolygon). */
    area: GeometryBody,
    /** What the city allocates across the affected districts, e.g. { rescue_boats: 12, medical_teams: 8 }. */
    resources: Type.Optional(Type.Record(Type.String({ pattern: '^[a-z0-9_]{1,64}$' }), Type.Integer({ minimum: 0, maximum: 1_000_000 }))),
    directive: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    actions: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { maxItems: 50 })),
    agencies: Type.Optional(Type.Array(Type.Object({ agency: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' }), action: Type.String({ minLength: 1, maxLength: 200 }) }), { maxItems: 20 })),
  },
  { additionalProperties: false },
);
const TransferBody = Type.Object(
  {
    requests: Type.Array(
      Type.Object({
        request_id: Type.Optional(Type.String({ maxLength: 200 })),
        city: Type.String({ minLength: 1 }),
        resource_type: Type.String({ minLength: 1, maxLength: 100 }),
        quantity: Type.Integer({ minimum: 1 }),
        priority: Type.Union(POOL_PRIORITIES.map((p) => Type.Literal(p))),
      }),
      { minItems: 1, maxItems: 1000 },
    ),
    state_pool: Type.Optional(Type.Record(Type.String(), Type.Integer({ minimum: 0 }))),
  },
  { additionalProperties: false },
);

/**
 * The layer functions of issue 5 §6 (seed 001 §4.3, §5.3, §6): every layer runs the same program,
 * so each route works on any node with children; the names say which layer the seed gives them to.
 *
 * - POST /api/v1/layer/emergency-routes — district: the ambulance route across neighbourhoods,
 *   `clear_route_for_emergency` to the locals on it only, the ETA to the hospital system, and the
 *   nearest available unit dispatched from the locals' resource status.
 * - POST /api/v1/layer/incidents — city: EOC activation, affected districts from the prediction's
 *   area, `flood_emergency_protocol` with resources allocated by overlap, external agencies notified.
 * - POST /api/v1/layer/transfers — state: the inter-city resource pool.
 * - GET /api/v1/layer/benchmark — national: states (or any children) ranked on their KPIs.
 */
export async function layerFunctionRoutes(app: FastifyInstance, opts: LayerFunctionOptions): Promise<void> {
  const { hierarchy } = opts;
  const submit = (match: RuleMatch): void => hierarchy.submitDecision(match);

  app.post<{ Body: Static<typeof EmergencyBody> }>(
    '/api/v1/layer/emergency-routes',
    { schema: { summary: 'Route an emergency vehicle across neighbourhoods and clear it with the locals on the route (seed 001 §4.3)', tags: ['hierarchy'], body: EmergencyBody, security: [{ adminToken: [] }] }, config: requires('command') },
    async (request, reply) => {
      const body = request.body;
      const network = opts.roads();
      const children = hierarchy.links.active('child');
      const serving = servingNodeOf(children, opts);
      const speedFactor = body.speed_factor ?? EMERGENCY_ROUTE_DEFAULTS.speedFactor;
      const incidentId = body.incident_id ?? uuidv7(Date.now());
      // The nearest available unit first: the route then runs from it to the patient and on to the hospital.
      let dispatched: { resource: ResourceCandidate; eta_s: number; length_m: number; considered: number } | null = null;
      if (body.resource_type) {
        const candidates = await resourceCandidates(hierarchy, children);
        dispatched = nearestAvailable(network, candidates, body.resource_type, { lat: body.location.latitude, lng: body.location.longitude }, { speedFactor });
        if (!dispatched) throw cityError('HIERARCHY_INVALID', { reason: `no available ${body.resource_type} with a known position in the children's latest reports (${candidates.length} resources known)` });
      }
      const plan = planEmergencyRoute(network, serving, { lat: body.location.latitude, lng: body.location.longitude }, { lat: body.destination.latitude, lng: body.destination.longitude }, { speedFactor });
      if (!plan) throw cityError('HIERARCHY_INVALID', { reason: 'no road connects the location and the destination' });
      const etaMinutes = Math.round(((dispatched?.eta_s ?? 0) + plan.route.eta_s) / 6) / 10;
      const directive = plan.commands.length === 0
        ? null
        : await hierarchy.directives.issue(
            {
              command: 'clear_route_for_emergency',
              target_nodes: plan.commands.map((c) => c.node_id),
              actions: [...EMERGENCY_ROUTE_DEFAULTS.actions],
              priority: body.severity ?? 'critical',
              incident_id: incidentId,
              eta_minutes: etaMinutes,
              per_node: Object.fromEntries(plan.commands.map((c) => [c.node_id, { route_segments: c.route_segments, zone_ids: c.zone_ids, enters_after_s: Math.round(c.enters_after_s) }])),
            },
            actorId(request.principal),
          );
      const dispatch = dispatched
        ? await hierarchy.directives.issue(
            {
              command: 'dispatch_resource',
              target_nodes: [dispatched.resource.node_id],
              actions: ['dispatch_resource'],
              priority: body.severity ?? 'critical',
              incident_id: incidentId,
              resource_id: dispatched.resource.resource_id,
              resource_type: dispatched.resource.resource_type,
              location: body.location,
              destination: body.destination,
              eta_to_incident_minutes: Math.round(dispatched.eta_s / 6) / 10,
            },
            actorId(request.principal),
          )
        : null;
      // seed §4.3 step 3: "Notify hospital and monitor execution" — a decision here whose action goes to the hospital's system with retries.
      const notifyTarget = body.notify_target ?? 'hospital_system';
      submit(coordinationMatch(`emergency_route:${incidentId}`, 'emergency_route', body.severity ?? 'critical', opts.zoneId, body.location, [
        { type: 'notify_hospital', target: notifyTarget, incident_id: incidentId, destination: body.destination, destination_name: body.destination_name ?? null, patient_condition: body.patient_condition ?? body.severity ?? 'critical', eta_minutes: etaMinutes },
      ], `emergency route ${incidentId}: ${Math.round(plan.route.length_m)} m, ETA ${etaMinutes} min; ${plan.commands.length} neighbourhood nodes commanded${dispatched ? `; ${dispatched.resource.resource_id} dispatched` : ''}`));
      hierarchy.poke();
      opts.audit.recordSoon({ actor: request.principal, action: 'emergency_route', target: { kind: 'incident', id: incidentId }, remote: request.ip });
      return reply.code(202).send({
        incident_id: incidentId,
        eta_minutes: etaMinutes,
        route: { length_m: Math.round(plan.route.length_m), eta_s: Math.round(plan.route.eta_s), coordinates: plan.route.coordinates },
        commands: plan.commands.map((c) => ({ node_id: c.node_id, zone_ids: c.zone_ids, segments: c.route_segments.length, length_m: Math.round(c.route_segments.reduce((n, s) => n + s.length_m, 0)), enters_after_s: Math.round(c.enters_after_s) })),
        uncovered: plan.uncovered,
        directive_id: directive?.directive.directive_id ?? null,
        resource: dispatched ? { ...dispatched.resource, eta_s: Math.round(dispatched.eta_s), length_m: Math.round(dispatched.length_m), considered: dispatched.considered, directive_id: dispatch!.directive.directive_id } : null,
        hospital_notified_via: notifyTarget,
      });
    },
  );

  app.post<{ Body: Static<typeof IncidentBody> }>(
    '/api/v1/layer/incidents',
    { schema: { summary: 'Activate the EOC for a major incident and direct the affected districts (seed 001 §5.3)', tags: ['hierarchy'], body: IncidentBody, security: [{ adminToken: [] }] }, config: requires('command') },
    async (request, reply) => {
      const body = request.body;
      const tree = opts.zones.tree;
      const children = hierarchy.links.active('child').filter((c) => c.zone_id !== null && tree.has(c.zone_id) && tree.get(c.zone_id).geometry !== null);
      let affected;
      try {
        affected = affectedAreas(body.area as Polygon | MultiPolygon, children.map((c) => ({ id: c.node_id, geometry: tree.get(c.zone_id!).geometry as Polygon | MultiPolygon })));
      } catch (err) {
        throw cityError('HIERARCHY_INVALID', { reason: `area: ${(err as Error).message}` });
      }
      const allocations = allocate(body.resources ?? {}, affected.map((a) => ({ id: a.id, weight: a.overlap_km2 })));
      const incidentId = uuidv7(Date.now());
      const actor = actorId(request.principal);
      const name = body.directive ?? (body.incident_type === 'flood' ? 'flood_emergency_protocol' : `${body.incident_type}_emergency_protocol`);
      const details = { incident_type: body.incident_type, severity: body.severity, area: body.area, affected, allocations, directive: name };
      // seed §5.3 step 1: "Activate Emergency Operations Center".
      await opts.db.insertInto('eoc_incidents').values({ incident_id: incidentId, tenant_id: opts.tenantId, kind: body.incident_type, severity: body.severity, status: 'active', activated_by: actor, details: JSON.stringify(details) }).execute();
      const directive =
        affected.length === 0
          ? null
          : await hierarchy.directives.issue(
              {
                directive: name,
                target_nodes: affected.map((a) => a.id),
                actions: body.actions ?? FLOOD_ACTIONS,
                priority: body.severity,
                incident_id: incidentId,
                per_node: Object.fromEntries(affected.map((a) => [a.id, { resources_allocated: allocations[a.id] ?? {}, overlap_km2: a.overlap_km2, overlap_fraction: a.overlap_fraction }])),
              },
              actor,
            );
      // seed §5.3 step 3: external agencies, each through its configured action target (webhook), with retries.
      const agencies = body.agencies ?? FLOOD_AGENCIES;
      submit(coordinationMatch(`eoc:${incidentId}`, `${body.incident_type}_eoc_activation`, body.severity, opts.zoneId, null, agencies.map((a) => ({ type: 'notify_agency', target: a.agency, action: a.action, incident_id: incidentId, affected_zones: affected.map((x) => nodeZone(children, x.id)) })), `EOC activated for ${body.incident_type} (${body.severity}): ${affected.length} districts affected; ${agencies.map((a) => a.agency).join(', ')} notified`));
      hierarchy.poke();
      opts.audit.recordSoon({ actor: request.principal, action: 'eoc_activated', target: { kind: 'incident', id: incidentId }, remote: request.ip });
      return reply.code(202).send({
        incident_id: incidentId,
        eoc: 'active',
        affected_districts: affected.map((a) => ({ node_id: a.id, zone_id: nodeZone(children, a.id), overlap_km2: a.overlap_km2, overlap_fraction: a.overlap_fraction, resources_allocated: allocations[a.id] ?? {} })),
        directive_id: directive?.directive.directive_id ?? null,
        agencies_notified: agencies.map((a) => a.agency),
      });
    },
  );
  app.get(
    '/api/v1/layer/incidents',
    { schema: { summary: 'Emergency Operations Center incidents, newest first', tags: ['hierarchy'], security: [{ adminToken: [] }] }, config: requires('monitor') },
    async () => {
      const rows = await opts.db.selectFrom('eoc_incidents').selectAll().where('tenant_id', '=', opts.tenantId).orderBy('activated_at', 'desc').limit(100).execute();
      return { incidents: rows.map((r) => ({ ...r, details: typeof r.details === 'string' ? JSON.parse(r.details) : r.details, activated_at: new Date(r.activated_at).toISOString(), closed_at: r.closed_at ? new Date(r.closed_at).toISOString() : null })) };
    },
  );
  app.post<{ Params: { incidentId: string } }>(
    '/api/v1/layer/incidents/:incidentId/close',
    { schema: { summary: 'Stand the EOC down for an incident', tags: ['hierarchy'], params: Type.Object({ incidentId: Type.String() }), security: [{ adminToken: [] }] }, config: requires('command') },
    async (request) => {
      const row = await opts.db.updateTable('eoc_incidents').set({ status: 'closed', closed_at: new Date() }).where('tenant_id', '=', opts.tenantId).where('incident_id', '=', request.params.incidentId).where('status', '=', 'active').returning('incident_id').executeTakeFirst();
      if (!row) throw cityError('HIERARCHY_INVALID', { reason: `no active EOC incident ${request.params.incidentId}` });
      return { incident_id: row.incident_id, status: 'closed' };
    },
  );

  app.post<{ Body: Static<typeof TransferBody> }>(
    '/api/v1/layer/transfers',
    { schema: { summary: 'Plan and direct resource transfers between child cities from the state pool and their surplus (seed 001 §6.1)', tags: ['hierarchy'], body: TransferBody, security: [{ adminToken: [] }] }, config: requires('command') },
    async (request, reply) => {
      const children = hierarchy.links.active('child');
      const known = new Set(children.map((c) => c.node_id));
      const strangers = request.body.requests.filter((r) => !known.has(r.city)).map((r) => r.city);
      if (strangers.length > 0) throw cityError('HIERARCHY_INVALID', { reason: `requests name ${[...new Set(strangers)].join(', ')}, not children of ${opts.nodeId}` });
      const holdings = await childHoldings(hierarchy, children, opts.zones);
      const requests = request.body.requests.map((r, i) => ({ ...r, request_id: r.request_id ?? `req-${i + 1}` }));
      const plan = planTransfers(requests, holdings, request.body.state_pool ?? {});
      const actor = actorId(request.principal);
      const directives: string[] = [];
      // One directive per transfer to the giving city (release) and one to the receiving city (expect), so each side executes and acknowledges its part.
      for (const t of plan.transfers) {
        if (t.from !== STATE_POOL) directives.push((await hierarchy.directives.issue({ directive: 'release_resources', target_nodes: [t.from], actions: ['release_resources'], priority: 'high', transfer: t }, actor)).directive.directive_id);
        directives.push((await hierarchy.directives.issue({ directive: 'receive_resources', target_nodes: [t.to], actions: ['receive_resources'], priority: 'high', transfer: t }, actor)).directive.directive_id);
      }
      hierarchy.poke();
      return reply.code(202).send({ ...plan, holdings, directives });
    },
  );

  app.get(
    '/api/v1/layer/benchmark',
    { schema: { summary: "Children ranked on each KPI from their latest reports (seed 001 §6.2 national benchmarking)", tags: ['hierarchy'], security: [{ adminToken: [] }] }, config: requires('monitor') },
    async () => {
      const inputs = [];
      const latest = await latestChildReports(hierarchy);
      for (const c of hierarchy.links.active('child')) {
        inputs.push({ id: c.node_id, name: c.zone_id !== null && opts.zones.tree.has(c.zone_id) ? opts.zones.tree.get(c.zone_id).name : null, metrics: metricsOf(latest.get(c.node_id) ?? null) });
      }
      return {
        members: inputs,
        kpis: benchmark(inputs, [
          { kpi: 'avg_latency_ms', better: 'lower' },
          { kpi: 'p95_latency_ms', better: 'lower' },
          { kpi: 'event_accuracy', better: 'higher' },
          { kpi: 'escalation_rate', better: 'lower' },
          { kpi: 'resource_availability', better: 'higher' },
          { kpi: 'coverage', better: 'higher' },
        ]),
      };
    },
  );
}

/** The child node serving a zone: the child whose zone is it or one of its ancestors. */
function servingNodeOf(children: LinkedNode[], opts: LayerFunctionOptions): (zoneId: string) => string | null {
  const byZone = new Map(children.filter((c) => c.zone_id !== null).map((c) => [c.zone_id!, c.node_id]));
  return (zoneId) => {
    if (byZone.has(zoneId)) return byZone.get(zoneId)!;
    if (!opts.zones.tree.has(zoneId)) return null;
    for (const a of opts.zones.tree.ancestors(zoneId)) if (byZone.has(a.id)) return byZone.get(a.id)!;
    return null;
  };
}

function nodeZone(children: LinkedNode[], nodeId: string): string | null {
  return children.find((c) => c.node_id === nodeId)?.zone_id ?? null;
}

/** Each child's newest report, by child (one read). */
async function latestChildReports(hierarchy: Hierarchy): Promise<Map<string, AggregationReport | LayerReport>> {
  if (!hierarchy.reporter) return new Map();
  return new Map([...(await hierarchy.reporter.latestChildReports())].map(([id, r]) => [id, r.report]));
}

/** Every resource with a position the children's latest reports list (locals list theirs; layers pass their children's on). */
async function resourceCandidates(hierarchy: Hierarchy, children: LinkedNode[]): Promise<ResourceCandidate[]> {
  const out: ResourceCandidate[] = [];
  const latest = await latestChildReports(hierarchy);
  for (const c of children) {
    const report = latest.get(c.node_id);
    if (!report || !('aggregation_report' in report)) continue;
    for (const r of report.aggregation_report.resources ?? []) out.push({ ...r, node_id: c.node_id });
  }
  return out;
}

/** Each child city's available resources (from its latest report) as the state pool sees them. */
async function childHoldings(hierarchy: Hierarchy, children: LinkedNode[], zones: ZoneService): Promise<PoolHolding[]> {
  const out: PoolHolding[] = [];
  const latest = await latestChildReports(hierarchy);
  for (const c of children) {
    const report = latest.get(c.node_id);
    const summary = report ? ('aggregation_report' in report ? report.aggregation_report.summary : report.layer_report.summary) : null;
    if (!summary) continue;
    const zone = c.zone_id !== null && zones.tree.has(c.zone_id) ? zones.tree.get(c.zone_id) : null;
    const point = zone?.geometry ? centroidOf(zone.geometry) : null;
    const centre = point ? { lng: point[0]!, lat: point[1]! } : null;
    for (const [key, available] of Object.entries(summary.resource_status)) {
      const type = key.replace(/_available$/, '');
      const total = summary.resource_totals[`${type}_total`] ?? available;
      out.push({ city: c.node_id, resource_type: type, available, reserve: Math.ceil(total * CITY_RESERVE_SHARE), ...(centre ? { location: centre } : {}) });
    }
  }
  return out;
}

/** The KPIs benchmarking compares, from a child's report (a layer report's own KPIs when it has them). */
function metricsOf(report: AggregationReport | LayerReport | null): Record<string, number | null> {
  if (!report) return {};
  const s = 'aggregation_report' in report ? report.aggregation_report.summary : report.layer_report.summary;
  const available = Object.values(s.resource_status).reduce((n, v) => n + v, 0);
  const total = Object.values(s.resource_totals).reduce((n, v) => n + v, 0);
  const coverage = 'layer_report' in report ? report.layer_report.coverage : null;
  return {
    avg_latency_ms: s.performance_metrics.avg_processing_latency_ms,
    p95_latency_ms: s.performance_metrics.p95_processing_latency_ms,
    event_accuracy: s.performance_metrics.event_accuracy,
    escalation_rate: s.total_events > 0 ? s.escalated_incidents_total / s.total_events : null,
    resource_availability: total > 0 ? available / total : null,
    coverage: coverage ? (coverage.children > 0 ? coverage.reporting / coverage.children : null) : 1,
  };
}

/** A decision this node makes for a coordination it led (its actions reach outside systems through action targets). */
function coordinationMatch(dedupKey: string, name: string, severity: string | null, zoneId: string | null, location: { latitude: number; longitude: number } | null, actions: Array<{ type: string; [k: string]: unknown }>, explanation: string): RuleMatch {
  const now = Date.now();
  const id = dedupKey.split(':').slice(1).join(':');
  return {
    kind: 'directive',
    ruleId: `coordination:${name}`,
    ruleName: name,
    rulePriority: 0,
    dedupKey,
    triggerEventId: id,
    events: [],
    conditions: [{ role: 'coordination', source: name, values: { incident_id: id } }],
    severity,
    zoneId,
    lat: location?.latitude ?? null,
    lng: location?.longitude ?? null,
    actions,
    escalationRules: [],
    explanation,
    matchedAtMs: now,
  };
}
