import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { Kysely } from 'kysely';
import { assertInScope, requires } from '../auth/policy.js';
import { actorId } from '../auth/principal.js';
import { cityError } from '../errors.js';
import type { Database } from '../store/schema.js';
import { decisionInScope } from '../decisions/lookup.js';
import { explainDecision } from './explanation.js';
import { feedbackLines } from './feedback.js';
import { pendingApprovals } from './queue.js';
import type { ApprovalService } from './service.js';

export interface ApprovalRouteOptions {
  db: Kysely<Database>;
  tenantId: string;
  service: ApprovalService;
  now?: () => number;
}

const PendingQuery = Type.Object({
  all_levels: Type.Boolean({ default: false, description: 'also requests below your level (they can be answered from above)' }),
  limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
});

const ApproveBody = Type.Object(
  {
    decision_id: Type.String({ minLength: 1, maxLength: 100 }),
    action: Type.Union([Type.Literal('approve'), Type.Literal('reject'), Type.Literal('escalate')]),
    authority_id: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'your user id, when given (seed §12.2); anything else is refused' })),
    notes: Type.Optional(Type.String({ maxLength: 2000 })),
  },
  { additionalProperties: false },
);

/** Authorities and admins send a Bearer access token; a plugin reads its own feedback with its key. */
const security: Array<Record<string, string[]>> = [{ adminToken: [] }];
const feedbackSecurity: Array<Record<string, string[]>> = [{ adminToken: [] }, { pluginKey: [] }];

const DecisionParams = Type.Object({ decision_id: Type.String({ maxLength: 100 }) });

const FeedbackParams = Type.Object({ plugin_id: Type.String({ minLength: 1, maxLength: 200 }) });
const FeedbackQuery = Type.Object({
  since: Type.Optional(Type.String({ format: 'date-time', description: 'labelled at or after' })),
  until: Type.Optional(Type.String({ format: 'date-time', description: 'labelled before' })),
  label_source: Type.Optional(Type.Union([Type.Literal('human'), Type.Literal('fail_safe')])),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000_000 })),
});

/**
 * The authority dashboard's approval API (seed 001 §8.1–§8.3, §12.2), the right to explanation
 * (§13.2) and the retraining feedback export (§11.2). Each route states its permission; the
 * authorization policy (src/auth/policy.ts) checks it and sets the caller's zone scope.
 */
export async function approvalRoutes(app: FastifyInstance, opts: ApprovalRouteOptions): Promise<void> {
  const { db, tenantId, service } = opts;
  const now = opts.now ?? Date.now;

  app.get<{ Querystring: Static<typeof PendingQuery> }>(
    '/api/v1/authority/pending-approvals',
    {
      schema: {
        summary: 'Decisions waiting for your approval, most urgent first (seed §12.2)',
        description: 'Requests pending at your level in your zones, by severity, then deadline, then age.',
        tags: ['authority'],
        querystring: PendingQuery,
        security,
      },
      config: requires('approve'),
    },
    async (request) => {
      const principal = request.principal;
      const level = principal.kind === 'user' && principal.role === 'authority' ? principal.level : null;
      const approvals = await pendingApprovals(db, {
        tenantId,
        level,
        allLevels: request.query.all_levels,
        zoneIds: request.scope.zoneIds(),
        limit: request.query.limit,
        nowMs: now(),
      });
      return { approvals };
    },
  );

  app.post<{ Body: Static<typeof ApproveBody> }>(
    '/api/v1/authority/approve-decision',
    {
      schema: {
        summary: 'Approve, reject or escalate a decision waiting for approval (seed §12.2)',
        description: 'Approve runs the held actions; reject cancels them; escalate hands the request to the next level up. 409 when someone else answered first.',
        tags: ['authority'],
        body: ApproveBody,
        security,
      },
      config: requires('approve'),
    },
    async (request) => {
      const body = request.body;
      const me = actorId(request.principal);
      if (body.authority_id !== undefined && body.authority_id !== me) {
        throw cityError('AUTH_FORBIDDEN', { actor: me, permission: 'approve', reason: `authority_id ${body.authority_id} is not you`, needs: 'authority_id equal to your own user id, or left out' });
      }
      const pending = await service.requestOf(body.decision_id);
      assertInScope(request, pending.zone_id, `decision ${body.decision_id}`);
      const notes = body.notes?.trim() || null;
      const result = await service.answer(request.principal, request.ip, pending, body.action, notes);
      return {
        decision_id: result.decisionId,
        request_id: result.requestId,
        action: result.answer,
        status: result.requestStatus,
        approval_status: result.approvalStatus,
        level: result.level,
        authority_id: me,
        at: result.at.toISOString(),
        actions: { executed: result.released.completed, dispatched: result.released.dispatch, cancelled: result.released.cancelled },
      };
    },
  );

  app.get<{ Params: Static<typeof DecisionParams> }>(
    '/api/v1/decisions/:decision_id/explanation',
    {
      schema: {
        summary: 'Why this decision was made, and by whom it was approved (right to explanation, seed §13.2)',
        tags: ['decisions'],
        params: DecisionParams,
        security,
      },
      config: requires('monitor'),
    },
    async (request) => {
      return explainDecision(db, await decisionInScope(db, tenantId, request, request.params.decision_id));
    },
  );

  app.get<{ Params: Static<typeof FeedbackParams>; Querystring: Static<typeof FeedbackQuery> }>(
    '/api/v1/feedback/:plugin_id',
    {
      schema: {
        summary: "A plugin's labelled examples for retraining, as JSON lines (seed §11.2)",
        description: 'One JSON object per line, oldest first: the event features, the recommended action and the human (or fail-safe) decision.',
        tags: ['feedback'],
        params: FeedbackParams,
        querystring: FeedbackQuery,
        security: feedbackSecurity,
      },
      config: requires('feedback', { pluginOf: (r: FastifyRequest) => (r.params as { plugin_id?: string }).plugin_id ?? null }),
    },
    async (request, reply) => {
      const pluginId = request.params.plugin_id;
      const known = await db.selectFrom('plugins').select('model_id').where('tenant_id', '=', tenantId).where('model_id', '=', pluginId).executeTakeFirst();
      if (!known) throw cityError('PLUGIN_NOT_FOUND', { pluginId });
      const q = request.query;
      const lines = feedbackLines(db, {
        tenantId,
        pluginId,
        ...(q.since ? { sinceMs: Date.parse(q.since) } : {}),
        ...(q.until ? { untilMs: Date.parse(q.until) } : {}),
        ...(q.label_source ? { labelSource: q.label_source } : {}),
        ...(q.limit ? { limit: q.limit } : {}),
      });
      const stream = Readable.from(lines);
      stream.on('error', (err) => request.log.error({ err, pluginId }, 'feedback export stopped part way'));
      return reply.type('application/x-ndjson; charset=utf-8').header('content-disposition', `attachment; filename="${pluginId}-feedback.jsonl"`).send(stream);
    },
  );
}
