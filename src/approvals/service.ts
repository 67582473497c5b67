import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { actorId, isSuperAdmin, type Principal } from '../auth/principal.js';
import { cityError } from '../errors.js';
import type { Database } from '../store/schema.js';
import { escalateRequest, resolveRequest, type Answer, type RequestRow, type TransitionDeps, type TransitionResult } from './transitions.js';
import type { Actor } from './types.js';

/** The transitions' own dependencies (tenant, node, audit log, approval types), and: */
export interface ApprovalServiceDeps extends TransitionDeps {
  db: Kysely<Database>;
  log: Logger;
  /**
   * After the commit: publish the decision again, hand `released.dispatch` to the dispatcher,
   * wake the fail-safe timers for `timerAtMs`. Called for the officers' answers only (the
   * timers report their own through FailSafeTimers' onFired).
   */
  onChanged(result: TransitionResult): void;
  now?: () => number;
}

/**
 * An authority's answer to an approval request (seed 001 §8.2 step 5, §12.2
 * POST /authority/approve-decision). The routes check the permission and the zone scope; this
 * checks the level and runs the transition. Exactly one of two simultaneous answers wins (the
 * conditional UPDATE in src/approvals/transitions.ts); the other gets APPROVAL_CONFLICT naming
 * what happened, who did it and when.
 */
export class ApprovalService {
  readonly #now: () => number;

  constructor(private readonly deps: ApprovalServiceDeps) {
    this.#now = deps.now ?? Date.now;
  }

  /** The decision's approval request (not its notices); APPROVAL_NOT_FOUND when it has none. */
  async requestOf(decisionId: string): Promise<RequestRow> {
    const row = await this.deps.db
      .selectFrom('approval_requests')
      .selectAll()
      .where('tenant_id', '=', this.deps.tenantId)
      .where('decision_id', '=', decisionId)
      .where('status', '!=', 'notice')
      .orderBy('created_at', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (!row) throw cityError('APPROVAL_NOT_FOUND', { decisionId });
    return row;
  }

  /**
   * Answers `request` (read with {@link requestOf}, its zone checked against the caller's scope).
   * Throws APPROVAL_WRONG_LEVEL when the request waits for a higher level than the caller's,
   * APPROVAL_CONFLICT when it is no longer waiting at the level read.
   */
  async answer(principal: Principal, remote: string | null, request: RequestRow, answer: Answer, notes: string | null): Promise<TransitionResult> {
    const actor = actorOf(principal, remote);
    if (request.status !== 'pending') throw await this.#conflict(request.decision_id, request.request_id);
    // seed 001 §8.3: a higher level may act on a lower level's request, never the reverse.
    if (actor.level !== null && actor.level < request.level) {
      throw cityError('APPROVAL_WRONG_LEVEL', { decisionId: request.decision_id, level: request.level, yourLevel: actor.level });
    }
    const now = new Date(this.#now());
    const result = await this.deps.db.transaction().execute((tx) =>
      answer === 'escalate'
        ? escalateRequest(tx, this.deps, request, actor, notes, now)
        : resolveRequest(tx, this.deps, request, answer, actor, notes, now),
    );
    if (result === null) throw await this.#conflict(request.decision_id, request.request_id);
    this.deps.onChanged(result);
    return result;
  }

  /** What happened to the request instead: its resolution, or the escalation that moved it. */
  async #conflict(decisionId: string, requestId: string): Promise<Error> {
    const { db } = this.deps;
    const now = await db.selectFrom('approval_requests').selectAll().where('request_id', '=', requestId).executeTakeFirstOrThrow();
    if (now.status !== 'pending') {
      return cityError('APPROVAL_CONFLICT', {
        decisionId,
        status: now.status,
        by: now.resolved_by ?? 'unknown',
        at: now.resolved_at ? new Date(now.resolved_at).toISOString() : 'unknown',
        requestId,
      });
    }
    const last = await db.selectFrom('approval_history').selectAll().where('decision_id', '=', decisionId).where('request_id', '=', requestId).orderBy('id', 'desc').limit(1).executeTakeFirst();
    return cityError('APPROVAL_CONFLICT', {
      decisionId,
      status: `escalated to L${now.level}`,
      by: last?.actor_id ?? 'unknown',
      at: last ? new Date(last.at).toISOString() : 'unknown',
      requestId,
      level: now.level,
    });
  }
}

/** An authority acts at its level; the node admin token (break-glass) at any level, recorded as such. */
function actorOf(principal: Principal, remote: string | null): Actor {
  const level = principal.kind === 'user' && principal.role === 'authority' ? principal.level : null;
  if (level === null && !isSuperAdmin(principal)) {
    // The policy lets only authorities and the super admin reach here; this guards a misroute.
    throw cityError('AUTH_FORBIDDEN', { actor: actorId(principal), permission: 'approve', reason: 'only authorities answer approval requests', needs: 'an authority' });
  }
  return { id: actorId(principal), level, kind: 'human', audit: principal, remote };
}
