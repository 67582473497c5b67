import { sql, type Kysely } from 'kysely';
import type { Logger } from 'pino';
import { uuidv7 } from '../events/ids.js';
import type { Database } from '../store/schema.js';
import type { FailSafeOutcome } from './action-triggers.js';
import type { ApprovalStatus } from './types.js';

export interface FailSafeFired {
  decisionId: string;
  requestId: string;
  outcome: FailSafeOutcome;
  approvalStatus: ApprovalStatus;
  /** HELD actions released to the dispatcher (approve) — their ids. */
  released: string[];
}

export interface FailSafeTimersDeps {
  db: Kysely<Database>;
  tenantId: string;
  nodeId: string;
  log: Logger;
  onFired(fired: FailSafeFired): void;
  now?: () => number;
}

const APPROVAL_STATUS: Record<FailSafeOutcome, { request: string; decision: ApprovalStatus }> = {
  approve: { request: 'auto_approved', decision: 'AUTO_APPROVED' },
  reject: { request: 'auto_rejected', decision: 'AUTO_REJECTED' },
  escalate: { request: 'escalated', decision: 'ESCALATED' },
};

/** Timers further out than this are re-armed later (setTimeout's limit is ~24.8 days). */
const MAX_ARM_MS = 6 * 3_600_000;

/**
 * Durable fail-safe timers (seed 001 §2.2 step 3 escalation_rules, e.g.
 * `no_officer_response_within_30_minutes` → `auto_approve_fine`). Each timer is a row; one
 * setTimeout is armed for the earliest, and on start the node arms it from the table, so a
 * timer that came due while the node was down fires right after the restart. When it fires and
 * the approval request is still pending, the configured default runs in one transaction:
 * approve (held actions go to the dispatcher), reject (held actions are cancelled) or escalate
 * (an outbox message to the parent). Otherwise the timer is closed with what it found.
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
      const fired = await db.transaction().execute(async (tx) => {
        const p = timer.payload as { request_id: string; decision_id: string; condition: string; action: string; outcome: FailSafeOutcome };
        const request = await tx.selectFrom('approval_requests').select(['status']).where('request_id', '=', p.request_id).executeTakeFirst();
        if (!request || request.status !== 'pending') {
          await tx
            .updateTable('timers')
            .set({ fired_at: now, outcome: `nothing to do: the request is ${request?.status ?? 'gone'}` })
            .where('timer_id', '=', timer.timer_id)
            .execute();
          return null;
        }
        const status = APPROVAL_STATUS[p.outcome];
        const note = `fail-safe: ${p.condition.replaceAll('_', ' ')} → ${p.action}`;
        await tx
          .updateTable('approval_requests')
          .set({ status: status.request, resolved_at: now, resolved_by: 'fail-safe', resolution: p.outcome, notes: note })
          .where('request_id', '=', p.request_id)
          .execute();
        await tx.updateTable('decisions').set({ approval_status: status.decision, approver_id: 'fail-safe' }).where('decision_id', '=', p.decision_id).execute();
        let released: string[] = [];
        if (p.outcome === 'approve') {
          const rows = await tx
            .updateTable('actions')
            .set({ status: 'PENDING', next_attempt_at: now, updated_at: now })
            .where('decision_id', '=', p.decision_id)
            .where('status', '=', 'HELD')
            .returning('action_id')
            .execute();
          released = rows.map((r) => r.action_id);
        } else if (p.outcome === 'reject') {
          await tx
            .updateTable('actions')
            .set({ status: 'CANCELLED', result: `cancelled by ${note}`, completed_at: now, updated_at: now })
            .where('decision_id', '=', p.decision_id)
            .where('status', '=', 'HELD')
            .execute();
        } else {
          await tx
            .insertInto('outbox')
            .values({
              tenant_id: tenantId,
              message_id: uuidv7(now.getTime()),
              destination: 'parent',
              kind: 'approval_escalation',
              payload: JSON.stringify({ decision_id: p.decision_id, request_id: p.request_id, reason: note, source_node: this.deps.nodeId }),
            })
            .execute();
        }
        await tx.updateTable('timers').set({ fired_at: now, outcome: `${status.request} (${p.action})` }).where('timer_id', '=', timer.timer_id).execute();
        // One fail-safe per request: the others of the same request have nothing left to do.
        await tx
          .updateTable('timers')
          .set({ cancelled_at: now, outcome: 'superseded by an earlier fail-safe' })
          .where('fired_at', 'is', null)
          .where('cancelled_at', 'is', null)
          .where(sql<string>`payload->>'request_id'`, '=', p.request_id)
          .execute();
        return { decisionId: p.decision_id, requestId: p.request_id, outcome: p.outcome, approvalStatus: status.decision, released } satisfies FailSafeFired;
      });
      if (fired) {
        this.deps.log.info({ decision: fired.decisionId, outcome: fired.outcome }, 'fail-safe fired');
        this.deps.onFired(fired);
      }
    }
  }
}
