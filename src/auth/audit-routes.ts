import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.js';
import { requires } from './policy.js';

export interface AuditRouteOptions {
  db: Kysely<Database>;
  tenantId: string;
}

const AuditQuery = Type.Object({
  actor: Type.Optional(Type.String({ maxLength: 200, description: 'actor id: a user id, plugin:<id>, device:<id>, admin-token, fail-safe' })),
  action: Type.Optional(Type.String({ maxLength: 100, description: 'an action (auth.login) or a prefix ending in a dot (approval.)' })),
  target_kind: Type.Optional(Type.String({ maxLength: 100 })),
  target_id: Type.Optional(Type.String({ maxLength: 200 })),
  outcome: Type.Optional(Type.Union([Type.Literal('ok'), Type.Literal('denied'), Type.Literal('failed')])),
  from: Type.Optional(Type.String({ format: 'date-time' })),
  to: Type.Optional(Type.String({ format: 'date-time' })),
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  cursor: Type.Optional(Type.String({ pattern: '^[0-9]+$', description: 'next_cursor of the previous page' })),
});

/**
 * `GET /api/v1/audit` (seed 001 §13.1 L5): the append-only audit log, newest first, keyset
 * pages. Scoped like everything else: an authority sees the entries about zones in their
 * subtree; entries about no zone (sign-ins, configuration) are for tenant-wide scope only.
 */
export async function auditRoutes(app: FastifyInstance, opts: AuditRouteOptions): Promise<void> {
  const { db, tenantId } = opts;
  app.get<{ Querystring: Static<typeof AuditQuery> }>(
    '/api/v1/audit',
    { schema: { summary: 'The audit log: sign-ins, key changes, decisions, approvals, overrides, configuration changes', tags: ['audit'], querystring: AuditQuery }, config: requires('audit') },
    async (request) => {
      const q = request.query;
      let query = db.selectFrom('audit_log').selectAll().where('tenant_id', '=', tenantId);
      const scope = request.scope.zoneIds();
      if (scope) query = query.where('zone_id', 'in', scope.length > 0 ? scope : ['']);
      if (q.actor) query = query.where('actor_id', '=', q.actor);
      if (q.action) query = q.action.endsWith('.') ? query.where('action', 'like', `${q.action.replace(/[%_\\]/g, '\\$&')}%`) : query.where('action', '=', q.action);
      if (q.target_kind) query = query.where('target_kind', '=', q.target_kind);
      if (q.target_id) query = query.where('target_id', '=', q.target_id);
      if (q.outcome) query = query.where('outcome', '=', q.outcome);
      if (q.from) query = query.where('at', '>=', new Date(q.from));
      if (q.to) query = query.where('at', '<', new Date(q.to));
      if (q.cursor) query = query.where('id', '<', q.cursor);
      const rows = await query.orderBy('id', 'desc').limit(q.limit + 1).execute();
      const page = rows.slice(0, q.limit);
      return {
        entries: page.map((r) => ({ ...r, id: String(r.id) })),
        next_cursor: rows.length > q.limit ? String(page[page.length - 1]!.id) : null,
      };
    },
  );
}
