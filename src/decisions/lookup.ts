import type { FastifyRequest } from 'fastify';
import type { Kysely, Selectable } from 'kysely';
import { assertInScope } from '../auth/policy.js';
import { cityError } from '../errors.js';
import type { Database, DecisionsTable } from '../store/schema.js';

/**
 * One decision for a request: DECISION_NOT_FOUND when there is none, AUTH_OUT_OF_SCOPE when
 * it is in a zone outside the caller's scope (the routes that show or explain one decision).
 */
export async function decisionInScope(db: Kysely<Database>, tenantId: string, request: FastifyRequest, decisionId: string): Promise<Selectable<DecisionsTable>> {
  const row = await db.selectFrom('decisions').selectAll().where('tenant_id', '=', tenantId).where('decision_id', '=', decisionId).executeTakeFirst();
  if (!row) throw cityError('DECISION_NOT_FOUND', { decisionId });
  assertInScope(request, row.zone_id, `decision ${decisionId}`);
  return row;
}
