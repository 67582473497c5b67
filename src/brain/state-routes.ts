import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { cityError } from '../errors.js';
import { assertInScope, requires, scopedZone } from '../auth/policy.js';
import type { ZoneService } from '../geo/zone-service.js';
import type { AggregationReporter } from './aggregation.js';
import { SEVERITY_LEVELS } from '../events/severity.js';
import type { StateStore } from './state-store.js';

export interface StateRouteOptions {
  state: StateStore;
  /** The node's window reports: a Local Brain's, or a higher layer's merged ones (src/hierarchy/layer-reporter.ts). */
  reporter: Pick<AggregationReporter, 'list' | 'latest'>;
  zones: ZoneService;
}

const Zone = Type.String({ maxLength: 64, description: 'a zone id; includes every zone inside it' });
const Severity = Type.Union(SEVERITY_LEVELS.map((s) => Type.Literal(s)));

const StateQuery = Type.Object({ zone: Type.Optional(Zone) });
const IncidentsQuery = Type.Object({
  zone: Type.Optional(Zone),
  min_severity: Type.Optional(Severity),
  limit: Type.Integer({ minimum: 1, maximum: 10_000, default: 100 }),
});
const ResourcesQuery = Type.Object({
  zone: Type.Optional(Zone),
  type: Type.Optional(Type.String({ maxLength: 100, description: 'resource type, e.g. ambulance' })),
  status: Type.Optional(Type.String({ maxLength: 100, description: 'e.g. available, dispatched, out_of_service' })),
  limit: Type.Integer({ minimum: 1, maximum: 10_000, default: 1000 }),
});
const ReportsQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 500, default: 20 }),
  before: Type.Optional(Type.String({ format: 'date-time', description: 'window start < before: next_before of the previous page' })),
});
const CloseParams = Type.Object({ decisionId: Type.String({ minLength: 1, maxLength: 200 }) });

/**
 * The Local State Store over HTTP (seed 001 §3.2) and the aggregation reports for the parent
 * (§3.4). Everything here is read from memory except the reports and the close.
 */
export async function stateRoutes(app: FastifyInstance, opts: StateRouteOptions): Promise<void> {
  const { state, reporter } = opts;
  const security = [{ adminToken: [] }];
  const zoneIds = (zone: string | undefined) => {
    if (zone !== undefined && !opts.zones.has(zone)) throw cityError('ZONE_NOT_FOUND', { zoneId: zone });
    return state.zoneFilter(zone);
  };

  app.get<{ Querystring: Static<typeof StateQuery> }>(
    '/api/v1/state',
    {
      schema: {
        summary: 'The current state: active incidents, resources, recent events and window counters (of a zone and everything inside it)',
        tags: ['state'],
        querystring: StateQuery,
        security,
      },
      config: requires('monitor'),
    },
    async (request) => {
      const zone = scopedZone(request, request.query.zone);
      zoneIds(zone);
      return state.snapshot(zone);
    },
  );

  app.get<{ Querystring: Static<typeof IncidentsQuery> }>(
    '/api/v1/state/incidents',
    { schema: { summary: 'Active incidents (open decisions), newest first', tags: ['state'], querystring: IncidentsQuery, security }, config: requires('monitor') },
    async (request) => {
      const q = request.query;
      return state.incidents({ zoneIds: zoneIds(scopedZone(request, q.zone)), minSeverity: q.min_severity, limit: q.limit });
    },
  );

  app.post<{ Params: Static<typeof CloseParams> }>(
    '/api/v1/state/incidents/:decisionId/close',
    { schema: { summary: "Close an incident: its decision's status becomes closed", tags: ['state'], params: CloseParams, security }, config: requires('respond') },
    async (request) => state.closeIncident(request.params.decisionId, (zoneId) => assertInScope(request, zoneId, `incident ${request.params.decisionId}`)),
  );

  app.get<{ Querystring: Static<typeof ResourcesQuery> }>(
    '/api/v1/state/resources',
    { schema: { summary: 'Response resources (ambulances, fire trucks, …) and their status', tags: ['state'], querystring: ResourcesQuery, security }, config: requires('monitor') },
    async (request) => {
      const q = request.query;
      return state.resources({ zoneIds: zoneIds(scopedZone(request, q.zone)), type: q.type, status: q.status, limit: q.limit });
    },
  );

  app.get<{ Querystring: Static<typeof ReportsQuery> }>(
    '/api/v1/reports',
    { schema: { summary: 'Aggregation reports for the parent layer (seed 001 §3.4), newest first', tags: ['state'], querystring: ReportsQuery, security }, config: requires('monitor') },
    async (request) => reporter.list({ limit: request.query.limit, before: request.query.before }),
  );

  app.get(
    '/api/v1/reports/latest',
    { schema: { summary: 'The newest aggregation report ({ report: null } before the first window has ended)', tags: ['state'], security }, config: requires('monitor') },
    async () => ({ report: await reporter.latest() }),
  );
}
