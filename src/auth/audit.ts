import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../store/schema.js';
import { actorId, type Principal } from './principal.js';

/** What an audit row records (seed 001 §13.1 L5, seed 004 §4): who did what to what, where. */
export interface AuditEntry {
  actor: Principal | { kind: 'system'; id: string };
  /** Dotted verb, e.g. `auth.login`, `approval.approve`, `override.suspend`, `rule.update`. */
  action: string;
  target?: { kind: string; id: string } | null;
  zoneId?: string | null;
  outcome?: 'ok' | 'denied' | 'failed';
  remote?: string | null;
  details?: Record<string, unknown>;
}

/**
 * The append-only audit log (migration 0003 refuses UPDATE and DELETE on the table). Writes go
 * through `record` (its own statement) or `recordIn` (inside the caller's transaction, so the
 * audit row commits with the change it describes, or not at all).
 */
export class AuditLog {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly tenantId: string,
    private readonly log: Logger,
  ) {}

  async record(entry: AuditEntry): Promise<void> {
    await this.recordIn(this.db, entry);
  }

  /** Best effort for entries that must not fail the request they describe (a refused login). */
  recordSoon(entry: AuditEntry): void {
    this.record(entry).catch((err) => this.log.error({ err, action: entry.action }, 'an audit entry could not be written'));
  }

  async recordIn(db: Kysely<Database>, entry: AuditEntry): Promise<void> {
    const actor = entry.actor;
    await db
      .insertInto('audit_log')
      .values({
        tenant_id: this.tenantId,
        actor_kind: actor.kind,
        actor_id: actor.kind === 'system' ? actor.id : actorId(actor),
        action: entry.action,
        target_kind: entry.target?.kind ?? null,
        target_id: entry.target?.id ?? null,
        zone_id: entry.zoneId ?? null,
        outcome: entry.outcome ?? 'ok',
        remote: entry.remote ?? null,
        details: JSON.stringify(entry.details ?? {}),
      })
      .execute();
  }
}
