import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { escalateRequest, resolveRequest, type TransitionDeps, type TransitionResult } from '../approvals/transitions.js';
import { FAIL_SAFE_ACTOR, type FailSafeTimerPayload } from '../approvals/types.js';
import type { Database } from '../store/schema.js';
import type { FailSafeOutcome } from './action-triggers.js';
import type { ApprovalStatus } from './types.js';

export interface FailSafeFired {
  decisionId: string;
  requestId: string;
  outcome: FailSafeOutcome;
  approvalStatus: ApprovalStatus;
  /** HELD external actions released to the dispatcher (approve) — their ids. */
  released: string[];
  /** The whole transition: levels, internal actions executed, actions cancelled. */
  transition: TransitionResult;
}

/** The transitions' own dependencies (tenant, node, audit log, approval types: a new level's timeout and fail-safe), and: */
export interface FailSafeTimersDeps extends TransitionDeps {
  db: Kysely<Database>;
  log: Logger;
  onFired(fired: FailSafeFired): void;
  now?: () => number;
}

/** Timers further out than this are re-armed later (setTimeout's limit is ~24.8 days). */
const MAX_ARM_MS = 6 * 3_600_000;

/**
 * Durable fail-safe timers (seed 001 §2.2 step 3 escalation_rules, e.g.
 * `no_officer_response_within_30_minutes` → `auto_approve_fine`; §8.2 step 6). Each timer is a
 * row; one setTimeout is armed for the earliest, and on start the node arms it from the table,
 * so a timer that came due while the node was down fires right after the restart. When it
 * fires and the request still waits at the timer's level, the default runs through the same
 * transitions as an officer's answer (src/approvals/transitions.ts): approve (held actions
 * run), reject (held actions are cancelled) or escalate (the next level up gets the request
 * and a new timer; beyond L5, the parent node). Otherwise the timer is closed with what it found.
 */
export class FailSafeTimers {
  #timer: NodeJS.Timeout | null = null;
  #armedFor: number | null = null;
  #running: Promise<void> | null = null;
  #closed = false;
  readonly #now: () => number;

  constructor(private readonly deps: FailSafeTimersDeps) {
    this.#now = deps.now ?? Date.now;
  }

  async start(): Promise<void> {
    await this.#rearm();
  }

  /** A timer due at `fireAtMs` was stored: make sure we wake up for it. */
  poke(fireAtMs: number): void {
    if (this.#closed) return;
    if (this.#armedFor === null || fireAtMs < this.#armedFor) this.#arm(fireAtMs);
  }

  /** Fires every due timer now (also used by tests with a moved clock). */
  async fireDue(): Promise<void> {
    while (this.#running) await this.#running;
    this.#running = this.#fireDue().finally(() => (this.#running = null));
    await this.#running;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#running;
  }

  #arm(fireAtMs: number): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#armedFor = fireAtMs;
    const delay = Math.min(MAX_ARM_MS, Math.max(0, fireAtMs - this.#now()));
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#armedFor = null;
      this.fireDue()
        .catch((err) => this.deps.log.error({ err }, 'fail-safe timers could not fire; retrying in 5 s'))
        .finally(() => void this.#rearm().catch(() => this.#arm(this.#now() + 5_000)));
    }, delay);
    this.#timer.unref();
  }

  async #rearm(): Promise<void> {
    if (this.#closed) return;
    const next = await this.deps.db
      .selectFrom('timers')
      .select((eb) => eb.fn.min('fire_at').as('next'))
      .where('tenant_id', '=', this.deps.tenantId)
      .where('fired_at', 'is', null)
      .where('cancelled_at', 'is', null)
      .executeTakeFirst();
    if (next?.next) this.poke(new Date(next.next as unknown as string).getTime());
  }

  async #fireDue(): Promise<void> {
    const { db, tenantId } = this.deps;
    const now = new Date(this.#now());
    const due = await db
      .selectFrom('timers')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('fired_at', 'is', null)
      .where('cancelled_at', 'is', null)
      .where('fire_at', '<=', now)
      .orderBy('fire_at')
      .limit(500)
      .execute();
    for (const timer of due) {
      const p = timer.payload as unknown as FailSafeTimerPayload;
      const transition = await db.transaction().execute(async (tx) => {
        // Locks in the order an officer's answer takes them (the request, then its timers), so
        // a fail-safe and an answer at the same moment on PostgreSQL wait for each other rather
        // than deadlock.
        const request = await tx.selectFrom('approval_requests').selectAll().where('request_id', '=', p.request_id).forUpdate().executeTakeFirst();
        // Claimed next: a timer cancelled meanwhile (its request answered by an earlier timer in
        // this same batch) or fired by another node on the same store is left alone. Being
        // fired, it is also passed by when the transition cancels the request's other timers.
        const claimed = await tx
          .updateTable('timers')
          .set({ fired_at: now, outcome: `firing (${p.action})` })
          .where('timer_id', '=', timer.timer_id)
          .where('fired_at', 'is', null)
          .where('cancelled_at', 'is', null)
          .returning('timer_id')
          .executeTakeFirst();
        if (!claimed) return null;
        const close = (outcome: string) => tx.updateTable('timers').set({ outcome }).where('timer_id', '=', timer.timer_id).execute();
        // A timer guards one level: once the request moved up, that level's timer has nothing to do.
        if (!request || request.status !== 'pending' || (p.level !== undefined && p.level !== request.level)) {
          await close(`nothing to do: the request is ${request ? (request.status === 'pending' ? `at L${request.level}` : request.status) : 'gone'}`);
          return null;
        }
        const note = `fail-safe: ${p.condition.replaceAll('_', ' ')} → ${p.action}`;
        const result =
          p.outcome === 'escalate'
            ? await escalateRequest(tx, this.deps, request, FAIL_SAFE_ACTOR, note, now)
            : await resolveRequest(tx, this.deps, request, p.outcome, FAIL_SAFE_ACTOR, note, now);
        await close(result === null ? 'nothing to do: answered at the same moment' : `${result.requestStatus === 'pending' ? `escalated to L${result.level}` : result.requestStatus} (${p.action})`);
        return result;
      });
      if (transition) {
        this.deps.log.info({ decision: transition.decisionId, outcome: p.outcome, level: transition.level }, 'fail-safe fired');
        if (transition.timerAtMs !== null) this.poke(transition.timerAtMs);
        this.deps.onFired({
          decisionId: transition.decisionId,
          requestId: transition.requestId,
          outcome: p.outcome,
          approvalStatus: transition.approvalStatus,
          released: transition.released.dispatch,
          transition,
        });
      }
    }
  }
}
