import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { sql, type Kysely } from 'kysely';
import { cityError } from '../errors.js';
import { assertInScope, requires, scopedZone } from '../auth/policy.js';
import type { Database } from '../store/schema.js';
import type { ZoneService } from '../geo/zone-service.js';

export interface QueryRouteOptions {
  db: Kysely<Database>;
  tenantId: string;
  zones: ZoneService;
}

const EventsQuery = Type.Object({
  from: Type.Optional(Type.String({ format: 'date-time', description: 'event time ≥ from (ISO 8601)' })),
  to: Type.Optional(Type.String({ format: 'date-time', description: 'event time < to (ISO 8601)' })),
  zone: Type.Optional(Type.String({ description: 'a zone id; includes every zone inside it' })),
  plugin: Type.Optional(Type.String()),
  type: Type.Optional(Type.String({ description: 'event type, e.g. violation_event' })),
  severity: Type.Optional(Type.String({ description: 'one severity or a comma-separated list' })),
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  cursor: Type.Optional(Type.String({ pattern: '^[0-9]+$', description: 'next_cursor of the previous page' })),
});

const DeadLettersQuery = Type.Object({
  plugin: Type.Optional(Type.String()),
  code: Type.Optional(Type.String()),
  source: Type.Optional(Type.Union([Type.Literal('http'), Type.Literal('mqtt'), Type.Literal('ws')])),
  from: Type.Optional(Type.String({ format: 'date-time' })),
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  cursor: Type.Optional(Type.String({ pattern: '^[0-9]+$' })),
});

/** Reading what the node stored: events (filtered, keyset-paginated, newest first) and dead letters. */
export async function queryRoutes(app: FastifyInstance, opts: QueryRouteOptions): Promise<void> {
  const { db, tenantId } = opts;

  app.get<{ Querystring: Static<typeof EventsQuery> }>(
    '/api/v1/events',
    { schema: { summary: 'List stored events', tags: ['events'], querystring: EventsQuery, security: [{ adminToken: [] }] }, config: requires('monitor') },
    async (request) => {
      const q = request.query;
      let query = db.selectFrom('events').selectAll().select(sql<string>`seq::text`.as('seq_text')).where('tenant_id', '=', tenantId);
      if (q.from) query = query.where('ts', '>=', new Date(q.from));
      if (q.to) query = query.where('ts', '<', new Date(q.to));
      const zone = scopedZone(request, q.zone);
      if (zone) {
        if (!opts.zones.has(zone)) throw cityError('ZONE_NOT_FOUND', { zoneId: zone });
        query = query.where('zone_id', 'in', [...opts.zones.tree.subtreeIds(zone)]);
      }
      if (q.plugin) query = query.where('plugin_id', '=', q.plugin);
      if (q.type) query = query.where('event_type', '=', q.type);
      if (q.severity) query = query.where('severity', 'in', q.severity.split(',').map((s) => s.trim().toLowerCase()));
      if (q.cursor) query = query.where('seq', '<', q.cursor);
      const rows = await query.orderBy('seq', 'desc').limit(q.limit + 1).execute();
      const page = rows.slice(0, q.limit);
      return {
        events: page.map(eventView),
        next_cursor: rows.length > q.limit ? page[page.length - 1]!.seq_text : null,
      };
    },
  );

  app.get<{ Params: { event_id: string } }>(
    '/api/v1/events/:event_id',
    { schema: { summary: 'One stored event', tags: ['events'], params: Type.Object({ event_id: Type.String({ maxLength: 200 }) }), security: [{ adminToken: [] }] }, config: requires('monitor') },
    async (request) => {
      const row = await db
        .selectFrom('events')
        .selectAll()
        .select(sql<string>`seq::text`.as('seq_text'))
        .where('tenant_id', '=', tenantId)
        .where('event_id', '=', request.params.event_id)
        .orderBy('seq', 'desc')
        .executeTakeFirst();
      if (!row) throw cityError('EVENT_NOT_FOUND', { eventId: request.params.event_id });
      assertInScope(request, row.zone_id, `event ${row.event_id}`);
      return eventView(row);
    },
  );

  app.get<{ Querystring: Static<typeof DeadLettersQuery> }>(
    '/api/v1/dead-letters',
    { schema: { summary: 'List rejected inputs with their reasons', tags: ['events'], querystring: DeadLettersQuery, security: [{ adminToken: [] }] }, config: requires('configure') },
    async (request) => {
      const q = request.query;
      let query = db.selectFrom('dead_letters').selectAll().select(sql<string>`id::text`.as('id_text')).where('tenant_id', '=', tenantId);
      if (q.plugin) query = query.where('plugin_id', '=', q.plugin);
      if (q.code) query = query.where('code', '=', q.code);
      if (q.source) query = query.where('source', '=', q.source);
      if (q.from) query = query.where('received_at', '>=', new Date(q.from));
      if (q.cursor) query = query.where('id', '<', q.cursor);
      const rows = await query.orderBy('id', 'desc').limit(q.limit + 1).execute();
      const page = rows.slice(0, q.limit);
      return {
        dead_letters: page.map((r) => ({
          id: r.id_text,
          received_at: r.received_at,
          source: r.source,
          plugin_id: r.plugin_id,
          remote: r.remote,
          content_type: r.content_type,
          code: r.code,
          reason: r.reason,
          details: r.details,
          ...payloadView(r.payload),
          payload_size: r.payload_size,
          truncated: r.truncated,
        })),
        next_cursor: rows.length > q.limit ? page[page.length - 1]!.id_text : null,
      };
    },
  );
}

type EventRow = Database['events'] extends infer T ? { [K in keyof T]: any } & { seq_text: string } : never;

function eventView(r: EventRow) {
  return {
    seq: r.seq_text,
    event_id: r.event_id,
    plugin_id: r.plugin_id,
    plugin_version: r.plugin_version,
    event_type: r.event_type,
    severity: r.severity,
    confidence: r.confidence,
    timestamp: r.ts,
    received_at: r.received_at,
    zone_id: r.zone_id,
    location: r.lat === null ? null : { latitude: r.lat, longitude: r.lng },
    payload: r.payload,
  };
}

/** Rejected bytes as text when they are UTF-8, else base64, so any payload can be shown and replayed. */
function payloadView(bytes: Uint8Array | null): { payload: string | null; payload_encoding: 'utf8' | 'base64' | null } {
  if (bytes === null) return { payload: null, payload_encoding: null };
  const buf = Buffer.from(bytes);
  try {
    return { payload: new TextDecoder('utf-8', { fatal: true }).decode(buf), payload_encoding: 'utf8' };
  } catch {
    return { payload: buf.toString('base64'), payload_encoding: 'base64' };
  }
}
