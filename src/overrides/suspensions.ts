import type { Kysely, Selectable } from 'kysely';
import type { ActionDispatcher } from '../actions/dispatcher.js';
import type { HoldChange, HoldScope } from '../actions/holds.js';
import type { AuditLog } from '../auth/audit.js';
import { actorId, type Principal } from '../auth/principal.js';
import { CityError, cityError } from '../errors.js';
import { uuidv7 } from '../events/ids.js';
import type { ZoneTree } from '../geo/zones.js';
import type { Database, SuspensionsTable } from '../store/schema.js';
import type { ActiveSuspension, SuspensionIndex, SuspensionKind } from './suspension-index.js';

/** A suspension as the API shows it. */
export interface SuspensionView {
  suspension_id: string;
  kind: SuspensionKind;
  target: string;
  reason: string;
  active: boolean;
  created_by: string;
  created_at: string;
  resumed_by: string | null;
  resumed_at: string | null;
  resume_reason: string | null;
}

export interface SuspensionsDeps {
  db: Kysely<Database>;
  tenantId: string;
  index: SuspensionIndex;
  /** Holds and releases the actions a suspension covers (in the suspension's transaction). */
  dispatcher: Pick<ActionDispatcher, 'holdCovered' | 'releaseCovered' | 'announce'>;
  audit: AuditLog;
  zones: () => ZoneTree;
}

/** Who suspends or resumes, for the row and its audit entry. */
export interface OverrideActor {
  actor: Principal;
  remote: string | null;
}

/**
 * Manual override (seed 001 §8 "authorities can suspend"; DESIGN.md): suspending a rule, a
 * plugin or a zone subtree (the emergency stop) makes the external actions of its decisions
 * wait in SUSPENDED — decisions are still made and recorded, so nothing is lost and the record
 * shows what would have happened — and resuming sends them. Each change commits with its audit
 * row (`override.suspend` / `override.resume`, with the number of actions held or released).
 *
 * The in-memory index changes before the transaction commits, so an action that comes due
 * meanwhile is already held (suspend) or already free (resume); a failed transaction puts it back.
 *
 * @example
 *   await suspensions.suspend({ kind: 'zone', target: 'chennai-z09', reason: 'flood drill' }, { actor, remote });
 *   await suspensions.resume({ kind: 'zone', target: 'chennai-z09' }, { actor, remote });
 */
export class Suspensions {
  constructor(private readonly deps: SuspensionsDeps) {}

  /** Active suspensions, newest first. */
  active(): SuspensionView[] {
    return this.deps.index.list().map(activeView);
  }

  /** The latest suspensions, active or resumed, newest first. */
  async recent(limit: number): Promise<SuspensionView[]> {
    const rows = await this.deps.db
      .selectFrom('suspensions')
      .selectAll()
      .where('tenant_id', '=', this.deps.tenantId)
      .orderBy('created_at', 'desc')
      .orderBy('suspension_id', 'desc')
      .limit(limit)
      .execute();
    return rows.map(rowView);
  }

  /** @throws CITY_ERR_SUSPENSION_EXISTS when that rule, plugin or zone is suspended already. */
  async suspend(what: { kind: SuspensionKind; target: string; reason: string }, by: OverrideActor): Promise<{ suspension: SuspensionView; actions_held: number }> {
    const { index } = this.deps;
    const existing = index.get(what.kind, what.target);
    if (existing) throw exists(existing);
    const suspension: ActiveSuspension = { suspensionId: uuidv7(), kind: what.kind, target: what.target, reason: what.reason, createdBy: actorId(by.actor), createdAt: new Date() };
    index.add(suspension);
    let change: HoldChange;
    try {
      change = await this.deps.db.transaction().execute(async (tx) => {
        const inserted = await tx
          .insertInto('suspensions')
          .values({
            suspension_id: suspension.suspensionId,
            tenant_id: this.deps.tenantId,
            kind: suspension.kind,
            target: suspension.target,
            reason: suspension.reason,
            created_by: suspension.createdBy,
            created_at: suspension.createdAt,
          })
          // suspensions_active: one active suspension per target, even with two nodes on one store.
          .onConflict((oc) => oc.columns(['tenant_id', 'kind', 'target']).where('resumed_at', 'is', null).doNothing())
          .returning('suspension_id')
          .executeTakeFirst();
        if (!inserted) throw exists(suspension);
        const held = await this.deps.dispatcher.holdCovered(tx, this.#scope(suspension), suspension);
        await this.deps.audit.recordIn(tx, {
          actor: by.actor,
          remote: by.remote,
          action: 'override.suspend',
          target: { kind: suspension.kind, id: suspension.target },
          zoneId: suspension.kind === 'zone' ? suspension.target : null,
          details: { suspension_id: suspension.suspensionId, reason: suspension.reason, actions_held: held.changed.length },
        });
        return held;
      });
    } catch (err) {
      index.remove(suspension);
      throw err;
    }
    this.deps.dispatcher.announce(change);
    return { suspension: activeView(suspension), actions_held: change.changed.length };
  }

  /** @throws CITY_ERR_SUSPENSION_NOT_FOUND when that rule, plugin or zone is not suspended. */
  async resume(what: { kind: SuspensionKind; target: string; reason?: string | undefined }, by: OverrideActor): Promise<{ suspension: SuspensionView; actions_released: number; actions_still_held: number }> {
    const { index } = this.deps;
    const suspension = index.get(what.kind, what.target);
    if (!suspension) throw cityError('SUSPENSION_NOT_FOUND', { kind: what.kind, target: what.target });
    index.remove(suspension);
    let outcome: { row: Selectable<SuspensionsTable>; change: HoldChange; stillHeld: number };
    try {
      outcome = await this.deps.db.transaction().execute(async (tx) => {
        const row = await tx
          .updateTable('suspensions')
          .set({ resumed_at: new Date(), resumed_by: actorId(by.actor), resume_reason: what.reason ?? null })
          .where('suspension_id', '=', suspension.suspensionId)
          .where('resumed_at', 'is', null)
          .returningAll()
          .executeTakeFirst();
        if (!row) throw cityError('SUSPENSION_NOT_FOUND', { kind: what.kind, target: what.target });
        const change = await this.deps.dispatcher.releaseCovered(tx, this.#scope(suspension));
        const stillHeld = change.changed.length - change.released.length;
        await this.deps.audit.recordIn(tx, {
          actor: by.actor,
          remote: by.remote,
          action: 'override.resume',
          target: { kind: suspension.kind, id: suspension.target },
          zoneId: suspension.kind === 'zone' ? suspension.target : null,
          details: { suspension_id: suspension.suspensionId, reason: what.reason ?? null, actions_released: change.released.length, actions_still_held: stillHeld },
        });
        return { row, change, stillHeld };
      });
    } catch (err) {
      // Still suspended unless someone else resumed it meanwhile.
      if (!(err instanceof CityError && err.code === 'CITY_ERR_SUSPENSION_NOT_FOUND')) index.add(suspension);
      throw err;
    }
    this.deps.dispatcher.announce(outcome.change);
    return { suspension: rowView(outcome.row), actions_released: outcome.change.released.length, actions_still_held: outcome.stillHeld };
  }

  #scope(s: ActiveSuspension): HoldScope {
    switch (s.kind) {
      case 'rule':
        return { kind: 'rule', ruleId: s.target };
      case 'plugin':
        return { kind: 'plugin', pluginId: s.target };
      case 'zone': {
        const tree = this.deps.zones();
        return { kind: 'zone', zoneIds: tree.has(s.target) ? [...tree.subtreeIds(s.target)] : [s.target] };
      }
    }
  }
}

function exists(s: ActiveSuspension) {
  return cityError('SUSPENSION_EXISTS', { kind: s.kind, target: s.target, by: s.createdBy, at: s.createdAt.toISOString(), suspensionId: s.suspensionId });
}

function activeView(s: ActiveSuspension): SuspensionView {
  return {
    suspension_id: s.suspensionId,
    kind: s.kind,
    target: s.target,
    reason: s.reason,
    active: true,
    created_by: s.createdBy,
    created_at: s.createdAt.toISOString(),
    resumed_by: null,
    resumed_at: null,
    resume_reason: null,
  };
}

function rowView(r: Selectable<SuspensionsTable>): SuspensionView {
  return {
    suspension_id: r.suspension_id,
    kind: r.kind,
    target: r.target,
    reason: r.reason,
    active: r.resumed_at === null,
    created_by: r.created_by,
    created_at: new Date(r.created_at).toISOString(),
    resumed_by: r.resumed_by,
    resumed_at: r.resumed_at === null ? null : new Date(r.resumed_at).toISOString(),
    resume_reason: r.resume_reason,
  };
}
