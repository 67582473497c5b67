import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { requires, scopedZone } from '../auth/policy.js';
import { actorId } from '../auth/principal.js';
import type { AuditLog } from '../auth/audit.js';
import { uuidv7 } from '../events/ids.js';
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.js';
import { ENROL_PATH } from './enrolment.js';
import type { Hierarchy } from './hierarchy.js';
import { linkRoutes } from './link-routes.js';
import { NODE_ROLES } from './roles.js';

export interface LayerRouteOptions {
  hierarchy: Hierarchy;
  db: Kysely<Database>;
  tenantId: string;
  nodeId: string;
  audit: AuditLog;
}

// Nullable fields list Null first: the app's ajv coerces types, and a string branch tried first
// turns null into '' (a zone '' that does not exist).
const NodeId = Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,63}$' });
const Role = Type.Union(NODE_ROLES.map((r) => Type.Literal(r)));
const Location = Type.Object({ latitude: Type.Number({ minimum: -90, maximum: 90 }), longitude: Type.Number({ minimum: -180, maximum: 180 }) });

const EnrolmentBody = Type.Object(
  { node_id: NodeId, role: Role, zone_id: Type.Optional(Type.Union([Type.Null(), Type.String()])), ttl_s: Type.Optional(Type.Integer({ minimum: 60 })) },
  { additionalProperties: false },
);
const EnrolBody = Type.Object(
  {
    token: Type.String({ minLength: 10, maxLength: 200 }),
    node_id: NodeId,
    role: Role,
    zone_id: Type.Union([Type.Null(), Type.String()]),
    url: Type.String({ pattern: '^https?://', maxLength: 2048 }),
    public_key: Type.Object({ kty: Type.Literal('OKP'), crv: Type.Literal('Ed25519'), x: Type.String({ minLength: 40, maxLength: 64 }) }),
  },
  { additionalProperties: false },
);
/** Seed 001 §4.3 `{ command, route_segments, actions }` and §5.3 `{ directive, actions, resources_allocated }`, unchanged, plus where they go. */
const CommandBody = Type.Object(
  {
    directive: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    command: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    scope_zone_id: Type.Optional(Type.Union([Type.Null(), Type.String()])),
    target_nodes: Type.Optional(Type.Array(NodeId, { maxItems: 10_000 })),
    actions: Type.Optional(Type.Array(Type.Union([Type.String({ minLength: 1, maxLength: 200 }), Type.Object({ type: Type.String({ minLength: 1 }) }, { additionalProperties: true })]), { maxItems: 100 })),
    priority: Type.Optional(Type.Union([Type.Null(), Type.String()])),
  },
  { additionalProperties: true },
);
const EscalateBody = Type.Object(
  {
    incident_id: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    type: Type.String({ minLength: 1, maxLength: 200 }),
    severity: Type.Optional(Type.Union([Type.Null(), Type.String()])),
    reason: Type.Optional(Type.String({ maxLength: 2000 })),
    target: Type.Optional(Type.String({ maxLength: 100 })),
    zone_id: Type.Optional(Type.Union([Type.Null(), Type.String()])),
    location: Type.Optional(Type.Union([Type.Null(), Location])),
  },
  { additionalProperties: true },
);
const ResourceRequestBody = Type.Object(
  {
    peer: Type.Optional(NodeId),
    resource_type: Type.String({ minLength: 1, maxLength: 100 }),
    quantity: Type.Integer({ minimum: 1, maximum: 10_000 }),
    reason: Type.Optional(Type.String({ maxLength: 2000 })),
    incident_id: Type.Optional(Type.String({ maxLength: 200 })),
    location: Type.Optional(Type.Union([Type.Null(), Location])),
  },
  { additionalProperties: false },
);
const HandoverBody = Type.Object(
  {
    peer: NodeId,
    incident_id: Type.String({ minLength: 1, maxLength: 200 }),
    type: Type.String({ minLength: 1, maxLength: 200 }),
    severity: Type.Optional(Type.Union([Type.Null(), Type.String()])),
    zone_id: Type.Optional(Type.Union([Type.Null(), Type.String()])),
    location: Type.Optional(Type.Union([Type.Null(), Location])),
    reason: Type.Optional(Type.String({ maxLength: 2000 })),
  },
  { additionalProperties: false },
);
const Limit = Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 1000, default: 50 }) });

/**
 * The inter-layer API (seed 001 §12.3) and the hierarchy's administration: enrolment, linked
 * nodes, `/layer/command` (directives down), `/layer/escalate` (incidents up), the messages
 * links carry, children's reports, and peer requests.
 */
export async function layerRoutes(app: FastifyInstance, opts: LayerRouteOptions): Promise<void> {
  const { hierarchy, audit } = opts;
  await app.register(linkRoutes, { receive: (from, messages) => hierarchy.receive(from, messages), policy: requires('link') });

  app.post<{ Body: Static<typeof EnrolmentBody> }>(
    '/api/v1/layer/enrolments',
    { schema: { summary: 'Issue a one-time enrolment token for a child node (shown once)', tags: ['hierarchy'], body: EnrolmentBody, security: [{ adminToken: [] }] }, config: requires('configure') },
    async (request, reply) => {
      const issued = await hierarchy.enrolments.issue(request.body, actorId(request.principal));
      audit.recordSoon({ actor: request.principal, action: 'enrolment_issued', target: { kind: 'node', id: issued.node_id }, remote: request.ip });
      return reply.code(201).send(issued);
    },
  );
  app.get(
    '/api/v1/layer/enrolments',
    { schema: { summary: 'Enrolment tokens not used yet (never the tokens)', tags: ['hierarchy'], security: [{ adminToken: [] }] }, config: requires('configure') },
    async () => ({ pending: await hierarchy.enrolments.pending() }),
  );
  app.post<{ Body: Static<typeof EnrolBody> }>(
    ENROL_PATH,
    // Public: the one-time token in the body is the credential (the child has no other yet).
    { schema: { summary: "A child presents its enrolment token and public key; the answer is the parent's", tags: ['hierarchy'], body: EnrolBody }, config: requires('public') },
    async (request) => {
      const answer = await hierarchy.enrolments.enrol(request.body);
      audit.recordSoon({ actor: request.principal, action: 'node_enrolled', target: { kind: 'node', id: request.body.node_id }, remote: request.ip });
      return answer;
    },
  );
  app.get(
    '/api/v1/layer/nodes',
    { schema: { summary: 'The nodes this node links with: parent, children, peers', tags: ['hierarchy'], security: [{ adminToken: [] }] }, config: requires('monitor') },
    async () => ({ nodes: hierarchy.links.active().map(({ public_key: _k, ...n }) => n), uplink: hierarchy.uplinkStatus() }),
  );
  app.delete<{ Params: { nodeId: string } }>(
    '/api/v1/layer/nodes/:nodeId',
    { schema: { summary: "Revoke a child's link (its credentials are refused at once)", tags: ['hierarchy'], params: Type.Object({ nodeId: NodeId }), security: [{ adminToken: [] }] }, config: requires('configure') },
    async (request, reply) => {
      await hierarchy.enrolments.revoke(request.params.nodeId);
      audit.recordSoon({ actor: request.principal, action: 'node_revoked', target: { kind: 'node', id: request.params.nodeId }, remote: request.ip });
      return reply.code(204).send();
    },
  );

  app.post<{ Body: Static<typeof CommandBody> }>(
    '/api/v1/layer/command',
    {
      schema: { summary: 'Issue a directive or command to every node in scope (seed 001 §12.3); per-node status at /api/v1/layer/directives/{id}', tags: ['hierarchy'], body: CommandBody, security: [{ adminToken: [] }] },
      config: requires('command'),
    },
    async (request, reply) => {
      // An authority directs within their own zone subtree only (seed 001 §8.3).
      const scope = scopedZone(request, request.body.scope_zone_id ?? undefined) ?? null;
      const issued = await hierarchy.directives.issue({ ...request.body, scope_zone_id: scope }, actorId(request.principal));
      hierarchy.poke();
      audit.recordSoon({ actor: request.principal, action: 'directive_issued', target: { kind: 'directive', id: issued.directive.directive_id }, remote: request.ip });
      return reply.code(202).send({ ...issued, status_url: `/api/v1/layer/directives/${issued.directive.directive_id}` });
    },
  );
  app.get<{ Querystring: Static<typeof Limit> }>(
    '/api/v1/layer/directives',
    { schema: { summary: 'Directives issued here or received from the parent, newest first', tags: ['hierarchy'], querystring: Limit, security: [{ adminToken: [] }] }, config: requires('monitor') },
    async (request) => ({ directives: await hierarchy.directives.list(request.query.limit) }),
  );
  app.get<{ Params: { directiveId: string } }>(
    '/api/v1/layer/directives/:directiveId',
    { schema: { summary: 'A directive with the status of every node it reached', tags: ['hierarchy'], params: Type.Object({ directiveId: Type.String() }), security: [{ adminToken: [] }] }, config: requires('monitor') },
    async (request) => hierarchy.directives.get(request.params.directiveId),
  );

  app.post<{ Body: Static<typeof EscalateBody> }>(
    '/api/v1/layer/escalate',
    { schema: { summary: 'Escalate an incident to the parent layer now (seed 001 §12.3); queued durably when the parent is down', tags: ['hierarchy'], body: EscalateBody, security: [{ adminToken: [] }] }, config: requires('respond') },
    async (request, reply) => {
      const body = request.body;
      const messageId = uuidv7(Date.now());
      const payload = {
        ...body,
        incident_id: body.incident_id ?? messageId,
        severity: body.severity ?? null,
        reason: body.reason ?? null,
        target: body.target ?? 'parent',
        zone_id: body.zone_id ?? null,
        location: body.location ?? null,
        source_node: opts.nodeId,
        escalated_by: actorId(request.principal),
        escalated_at: new Date().toISOString(),
      };
      await opts.db.insertInto('outbox').values({ tenant_id: opts.tenantId, message_id: messageId, destination: 'parent', kind: 'escalation', payload: JSON.stringify(payload) }).execute();
      hierarchy.poke('parent');
      audit.recordSoon({ actor: request.principal, action: 'escalated', target: { kind: 'incident', id: payload.incident_id }, remote: request.ip });
      return reply.code(202).send({ message_id: messageId, incident_id: payload.incident_id, uplink: hierarchy.uplinkStatus() });
    },
  );

  const ChildReportsQuery = Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 1000, default: 50 }), source: Type.Optional(NodeId), window_start: Type.Optional(Type.String({ format: 'date-time' })) });
  app.get<{ Querystring: Static<typeof ChildReportsQuery> }>(
    '/api/v1/layer/child-reports',
    { schema: { summary: "Children's window reports as received (each exactly once; revisions of late windows listed too)", tags: ['hierarchy'], querystring: ChildReportsQuery, security: [{ adminToken: [] }] }, config: requires('monitor') },
    async (request) => ({ reports: hierarchy.reporter ? await hierarchy.reporter.childReports({ limit: request.query.limit, source: request.query.source, windowStart: request.query.window_start }) : [] }),
  );

  app.post<{ Body: Static<typeof ResourceRequestBody> }>(
    '/api/v1/layer/resource-requests',
    { schema: { summary: 'Ask peers (one, or all) for resources; offers come back as peer messages', tags: ['hierarchy'], body: ResourceRequestBody, security: [{ adminToken: [] }] }, config: requires('command') },
    async (request, reply) => reply.code(202).send(await hierarchy.peers.requestResources(request.body, actorId(request.principal))),
  );
  app.post<{ Body: Static<typeof HandoverBody> }>(
    '/api/v1/layer/handovers',
    { schema: { summary: 'Hand an incident that crosses the boundary over to a peer', tags: ['hierarchy'], body: HandoverBody, security: [{ adminToken: [] }] }, config: requires('command') },
    async (request, reply) => reply.code(202).send(await hierarchy.peers.handOver(request.body, actorId(request.principal))),
  );
  const PeerQuery = Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 1000, default: 50 }), peer: Type.Optional(NodeId) });
  app.get<{ Querystring: Static<typeof PeerQuery> }>(
    '/api/v1/layer/peer-messages',
    { schema: { summary: 'Resource requests, offers and handovers exchanged with peers, both ways', tags: ['hierarchy'], querystring: PeerQuery, security: [{ adminToken: [] }] }, config: requires('monitor') },
    async (request) => ({ messages: await hierarchy.peers.list({ limit: request.query.limit, peer: request.query.peer }) }),
  );
}
