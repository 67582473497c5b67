import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { Kysely, Selectable } from 'kysely';
import { cityError } from '../errors.js';
import { requires, scopedZone } from '../auth/policy.js';
import type { ZoneService } from '../geo/zone-service.js';
import type { ActionsTable, Database } from '../store/schema.js';
import { actionView, decisionView } from './views.js';
import { decisionInScope } from './lookup.js';

export interface DecisionRouteOptions {
  db: Kysely<Database>;
  tenantId: string;
  zones: ZoneService;
}

const DecisionsQuery = Type.Object({
  from: Type.Optional(Type.String({ format: 'date-time', description: 'decision time ≥ from' })),
  to: Type.Optional(Type.String({ format: 'date-time', description: 'decision time < to' })),
  zone: Type.Optional(Type.String({ description: 'a zone id; includes every zone inside it' })),
  rule: Type.Optional(Type.String({ description: 'rule id or name (the trigger name for action triggers)' })),
  kind: Type.Optional(Type.String({ description: 'action_trigger, correlation, sequence, count or absence' })),
  severity: Type.Optional(Type.String({ description: 'one severity or a comma-separated list' })),
  approval_status: Type.Optional(Type.String({ description: 'NOT_REQUIRED, PENDING, APPROVED, REJECTED, AUTO_APPROVED, AUTO_REJECTED, ESCALATED' })),
  event_id: Type.Optional(Type.String({ description: 'decisions this event took part in' })),
  limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
  cursor: Type.Optional(Type.String({ description: 'next_cursor of the previous page' })),
});

const ActionsQuery = Type.Object({
  status: Type.Optional(Type.String({ description: 'PENDING, HELD, SUSPENDED, EXECUTING, COMPLETED, FAILED or CANCELLED (comma-separated list allowed)' })),
  type: Type.Optional(Type.String()),
  target: Type.Optional(Type.String()),
  limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
});

const ApprovalsQuery = Type.Object({
  status: Type.Optional(Type.String({ description: 'pending, notice, auto_approved, auto_rejected, escalated, …' })),
  limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
});

const LogQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  cursor: Type.Optional(Type.String({ pattern: '^[0-9]+$' })),
});

/**
 * Reading decisions (seed 001 §10.1, §13.2 "right to explanation"): every decision with its
 * actions and rationale, filtered and paged newest first; one decision with its actions'
 * attempts, approval requests and the events it was made from; actions by status; the named
 * logs written by `log_event`; the outbox waiting for the parent node.
 */
export async function decisionRoutes(app: FastifyInstance, opts: DecisionRouteOptions): Promise<void> {
  const { db, tenantId } = opts;
  const security = [{ adminToken: [] }];

  app.get<{ Querystring: Static<typeof DecisionsQuery> }>(
    '/api/v1/decisions',
    { schema: { summary: 'List decisions, newest first', tags: ['decisions'], querystring: DecisionsQuery, security }, config: requires('monitor') },
    async (request) => {
      const q = request.query;
      let query = db.selectFrom('decisions').selectAll().where('tenant_id', '=', tenantId);
      if (q.from) query = query.where('decision_time', '>=', new Date(q.from));
      if (q.to) query = query.where('decision_time', '<', new Date(q.to));
      const zone = scopedZone(request, q.zone);
      if (zone) {
        if (!opts.zones.has(zone)) throw cityError('ZONE_NOT_FOUND', { zoneId: zone });
        query = query.where('zone_id', 'in', [...opts.zones.tree.subtreeIds(zone)]);
      }
      if (q.rule) query = query.where((eb) => eb.or([eb('rule_id', '=', q.rule!), eb('trigger', '=', q.rule!)]));
      if (q.kind) query = query.where('rule_kind', '=', q.kind);
      if (q.severity) query = query.where('severity', 'in', list(q.severity, (s) => s.toLowerCase()));
      if (q.approval_status) query = query.where('approval_status', 'in', list(q.approval_status, (s) => s.toUpperCase()));
      if (q.event_id) query = query.where((eb) => eb.or([eb('event_id', '=', q.event_id!), eb('event_ids', '@>', JSON.stringify([q.event_id]) as never)]));
      if (q.cursor) {
        const [time, id] = decodeCursor(q.cursor);
        query = query.where((eb) => eb.or([eb('decision_time', '<', time), eb.and([eb('decision_time', '=', time), eb('decision_id', '<', id)])]));
      }
      const rows = await query.orderBy('decision_time', 'desc').orderBy('decision_id', 'desc').limit(q.limit + 1).execute();
      const page = rows.slice(0, q.limit);
      const actions = await actionsOf(db, page.map((r) => r.decision_id));
      const last = page[page.length - 1];
      return {
        decisions: page.map((r) => decisionView(r, actions.get(r.decision_id) ?? [])),
        next_cursor: rows.length > q.limit && last ? encodeCursor(new Date(last.decision_time), last.decision_id) : null,
      };
    },
  );

  app.get<{ Params: { decision_id: string } }>(
    '/api/v1/decisions/:decision_id',
    {
      schema: { summary: 'One decision: actions with their attempts, approval requests, and the events it was made from', tags: ['decisions'], params: Type.Object({ decision_id: Type.String({ maxLength: 100 }) }), security },
      config: requires('monitor'),
    },
    async (request) => {
      const id = request.params.decision_id;
      const row = await decisionInScope(db, tenantId, request, id);
      const actions = (await actionsOf(db, [id])).get(id) ?? [];
      const attempts = await db.selectFrom('action_attempts').selectAll().where('action_id', 'in', actions.length > 0 ? actions.map((a) => a.action_id) : ['']).orderBy('attempt').execute();
      const approvals = await db.selectFrom('approval_requests').selectAll().where('decision_id', '=', id).execute();
      const eventIds = row.event_ids as unknown as string[];
      const events = await db
        .selectFrom('events')
        .select(['event_id', 'plugin_id', 'event_type', 'severity', 'confidence', 'ts', 'zone_id', 'lat', 'lng', 'payload'])
        .where('tenant_id', '=', tenantId)
        .where('event_id', 'in', eventIds.length > 0 ? eventIds : [''])
        .execute();
      const view = decisionView(row, actions);
      return {
        ...view,
        actions: view.actions.map((a) => ({
          ...a,
          attempts_log: attempts.filter((t) => t.action_id === a.action_id).map((t) => ({ attempt: t.attempt, started_at: t.started_at, finished_at: t.finished_at, ok: t.ok, detail: t.detail })),
        })),
        approval_requests: approvals.map((r) => ({
          request_id: r.request_id,
          target_authority: r.target_authority,
          approval_type: r.approval_type,
          level: r.level,
          escalations: r.escalations,
          priority: r.priority,
          status: r.status,
          deadline_at: r.deadline_at,
          fail_safe_action: r.fail_safe_action,
          created_at: r.created_at,
          resolved_at: r.resolved_at,
          resolved_by: r.resolved_by,
          resolution: r.resolution,
          notes: r.notes,
          summary: r.summary,
        })),
        events: events.map((e) => ({
          event_id: e.event_id,
          plugin_id: e.plugin_id,
          event_type: e.event_type,
          severity: e.severity,
          confidence: e.confidence,
          timestamp: e.ts,
          zone_id: e.zone_id,
          location: e.lat === null ? null : { latitude: e.lat, longitude: e.lng },
          payload: e.payload,
        })),
      };
    },
  );

  app.get<{ Querystring: Static<typeof ActionsQuery> }>(
    '/api/v1/actions',
    { schema: { summary: 'List actions, newest first (e.g. ?status=FAILED)', tags: ['decisions'], querystring: ActionsQuery, security }, config: requires('monitor') },
    async (request) => {
      const q = request.query;
      let query = db.selectFrom('actions').selectAll().where('tenant_id', '=', tenantId);
      const scope = request.scope.zoneIds();
      if (scope) query = query.where('decision_id', 'in', db.selectFrom('decisions').select('decision_id').where('tenant_id', '=', tenantId).where('zone_id', 'in', orNone(scope)));
      if (q.status) query = query.where('status', 'in', list(q.status, (s) => s.toUpperCase()));
      if (q.type) query = query.where('type', '=', q.type);
      if (q.target) query = query.where('target_system', '=', q.target);
      const rows = await query.orderBy('created_at', 'desc').orderBy('action_id', 'desc').limit(q.limit).execute();
      return { actions: rows.map(actionView) };
    },
  );

  app.get<{ Querystring: Static<typeof ApprovalsQuery> }>(
    '/api/v1/approval-requests',
    { schema: { summary: 'Approval requests created by notify_authority actions (the authority workflow acts on them)', tags: ['decisions'], querystring: ApprovalsQuery, security }, config: requires('monitor') },
    async (request) => {
      const q = request.query;
      let query = db.selectFrom('approval_requests').selectAll().where('tenant_id', '=', tenantId);
      const scope = request.scope.zoneIds();
      if (scope) query = query.where('zone_id', 'in', orNone(scope));
      if (q.status) query = query.where('status', 'in', list(q.status, (s) => s.toLowerCase()));
      const rows = await query.orderBy('created_at', 'desc').limit(q.limit).execute();
      return { approval_requests: rows };
    },
  );

  app.get<{ Params: { name: string }; Querystring: Static<typeof LogQuery> }>(
    '/api/v1/logs/:name',
    { schema: { summary: 'A named log written by log_event actions (e.g. violations_db), newest first', tags: ['decisions'], params: Type.Object({ name: Type.String({ maxLength: 200 }) }), querystring: LogQuery, security }, config: requires('monitor') },
    async (request) => {
      const q = request.query;
      let query = db.selectFrom('event_logs').selectAll().where('tenant_id', '=', tenantId).where('log_name', '=', request.params.name);
      const scope = request.scope.zoneIds();
      if (scope) query = query.where('decision_id', 'in', db.selectFrom('decisions').select('decision_id').where('tenant_id', '=', tenantId).where('zone_id', 'in', orNone(scope)));
      if (q.cursor) query = query.where('id', '<', q.cursor);
      const rows = await query.orderBy('id', 'desc').limit(q.limit + 1).execute();
      const page = rows.slice(0, q.limit);
      return {
        log: request.params.name,
        entries: page.map((r) => ({ id: String(r.id), decision_id: r.decision_id, event_id: r.event_id, logged_at: r.logged_at, entry: r.entry })),
        next_cursor: rows.length > q.limit ? String(page[page.length - 1]!.id) : null,
      };
    },
  );

  app.get<{ Querystring: { pending?: boolean; limit: number } }>(
    '/api/v1/outbox',
    {
      schema: {
        summary: 'Messages queued for the parent node (escalations, aggregation reports)',
        tags: ['decisions'],
        querystring: Type.Object({ pending: Type.Optional(Type.Boolean()), limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }) }),
        security,
      },
      // Node-to-node plumbing, not zone data: for the people who run the node.
      config: requires('configure'),
    },
    async (request) => {
      let query = db.selectFrom('outbox').selectAll().where('tenant_id', '=', tenantId);
      if (request.query.pending) query = query.where('delivered_at', 'is', null);
      const rows = await query.orderBy('id', 'desc').limit(request.query.limit).execute();
      return { messages: rows.map((r) => ({ ...r, id: String(r.id) })) };
    },
  );
}

/** `in ()` is not SQL: an empty scope matches nothing. */
function orNone(ids: string[]): string[] {
  return ids.length > 0 ? ids : [''];
}

async function actionsOf(db: Kysely<Database>, decisionIds: string[]): Promise<Map<string, Selectable<ActionsTable>[]>> {
  const out = new Map<string, Selectable<ActionsTable>[]>();
  if (decisionIds.length === 0) return out;
  const rows = await db.selectFrom('actions').selectAll().where('decision_id', 'in', decisionIds).orderBy('position').execute();
  for (const r of rows) {
    const list = out.get(r.decision_id);
    if (list) list.push(r);
    else out.set(r.decision_id, [r]);
  }
  return out;
}

function list(text: string, norm: (s: string) => string): string[] {
  return text.split(',').map((s) => norm(s.trim())).filter((s) => s.length > 0);
}

function encodeCursor(time: Date, id: string): string {
  return Buffer.from(`${time.toISOString()}|${id}`).toString('base64url');
}

function decodeCursor(cursor: string): [Date, string] {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const cut = text.indexOf('|');
  const time = new Date(text.slice(0, cut));
  if (cut < 0 || Number.isNaN(time.getTime())) throw cityError('REQUEST_INVALID', { reason: 'cursor is not one this API gave out' });
  return [time, text.slice(cut + 1)];
}
