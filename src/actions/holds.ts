import { sql, type ExpressionBuilder, type Kysely } from 'kysely';
import type { Database } from '../store/schema.js';
import { VIEW_COLUMNS, type ActionRow } from './action-rows.js';

/**
 * Manual override (src/overrides) as the action dispatcher sees it: which suspension, if any,
 * holds an action, and the store changes that hold and release the actions a suspension covers.
 * A suspension matches an action through its decision — the rule, the plugin of the trigger
 * event, the zone — so the checks here and the SQL below must agree.
 */

/** What a suspension is checked against: the decision an action belongs to. */
export interface HoldSubject {
  /** The decision's rule id: a correlation rule's name, or `plugin:{model_id}@{version}#{index}` for an action trigger. */
  ruleId: string;
  /** The plugin of the decision's trigger event. */
  pluginId: string | null;
  zoneId: string | null;
}

/** An active suspension that holds an action. */
export interface Hold {
  suspensionId: string;
  kind: 'rule' | 'plugin' | 'zone';
  target: string;
  reason: string;
}

/** Answers, per action, whether an active suspension holds it (src/overrides/suspension-index.ts). */
export interface HoldCheck {
  holdOf(subject: HoldSubject): Hold | null;
}

/** The actions a suspension covers, in store terms: by the decision's rule, trigger plugin or zone. */
export type HoldScope = { kind: 'rule'; ruleId: string } | { kind: 'plugin'; pluginId: string } | { kind: 'zone'; zoneIds: readonly string[] };

/** Actions a suspend or resume changed in its transaction; hand it to `announce` once committed. */
export interface HoldChange {
  changed: Array<{ row: ActionRow; zoneId: string | null }>;
  /** Ids made PENDING again (to schedule). */
  released: string[];
}

/** Queries over an action (`a`) joined to its decision (`d`). */
type ActionAndDecision = ExpressionBuilder<Database & { a: Database['actions']; d: Database['decisions'] }, 'a' | 'd'>;

/** Rows changed per UPDATE, so a parameter list stays well under PostgreSQL's limit. */
const CHUNK = 500;

/**
 * Moves the PENDING actions of this tenant that `scope` covers to SUSPENDED, naming `hold`,
 * inside `tx` (the new suspension's transaction).
 */
export async function holdCovered(tx: Kysely<Database>, tenantId: string, scope: HoldScope, hold: Hold): Promise<HoldChange> {
  const rows = await tx
    .updateTable('actions as a')
    .from('decisions as d')
    .set({ status: 'SUSPENDED', result: holdResult(hold), updated_at: new Date() })
    .whereRef('d.decision_id', '=', 'a.decision_id')
    .where('a.tenant_id', '=', tenantId)
    .where('a.status', '=', 'PENDING')
    .where((eb) => covers(eb, scope))
    .returning([...VIEW_COLUMNS.map((c) => `a.${c}` as const), 'd.zone_id'])
    .execute();
  return { changed: rows.map((row) => ({ row, zoneId: row.zone_id })), released: [] };
}

/**
 * Moves the SUSPENDED actions of this tenant that `scope` covers back to PENDING, due now,
 * inside `tx` (the resume's transaction) — except those `holds` says another suspension still
 * holds, whose result then names that one.
 */
export async function releaseCovered(tx: Kysely<Database>, tenantId: string, scope: HoldScope, holds: HoldCheck | null): Promise<HoldChange> {
  const candidates = await tx
    .selectFrom('actions as a')
    .innerJoin('decisions as d', 'd.decision_id', 'a.decision_id')
    .select(['a.action_id', 'd.zone_id', 'd.rule_id'])
    .select(triggerPluginColumn)
    .where('a.tenant_id', '=', tenantId)
    .where('a.status', '=', 'SUSPENDED')
    .where((eb) => covers(eb, scope))
    .execute();
  const release: string[] = [];
  const stillHeld = new Map<string, { hold: Hold; ids: string[] }>();
  for (const c of candidates) {
    const hold = holds?.holdOf({ ruleId: c.rule_id, pluginId: triggerPluginOf(c.rule_id, c.trigger_plugin_id), zoneId: c.zone_id }) ?? null;
    if (hold === null) release.push(c.action_id);
    else {
      const group = stillHeld.get(hold.suspensionId) ?? { hold, ids: [] };
      group.ids.push(c.action_id);
      stillHeld.set(hold.suspensionId, group);
    }
  }
  const zoneOf = new Map(candidates.map((c) => [c.action_id, c.zone_id]));
  const changed: HoldChange['changed'] = [];
  const now = new Date();
  for (let i = 0; i < release.length; i += CHUNK) {
    const rows = await tx
      .updateTable('actions')
      .set({ status: 'PENDING', result: null, next_attempt_at: now, updated_at: now })
      .where('action_id', 'in', release.slice(i, i + CHUNK))
      .where('status', '=', 'SUSPENDED')
      .returning(VIEW_COLUMNS)
      .execute();
    for (const row of rows) changed.push({ row, zoneId: zoneOf.get(row.action_id) ?? null });
  }
  for (const { hold, ids } of stillHeld.values()) {
    for (let i = 0; i < ids.length; i += CHUNK) {
      const rows = await tx
        .updateTable('actions')
        .set({ result: holdResult(hold), updated_at: now })
        .where('action_id', 'in', ids.slice(i, i + CHUNK))
        .where('status', '=', 'SUSPENDED')
        .returning(VIEW_COLUMNS)
        .execute();
      for (const row of rows) changed.push({ row, zoneId: zoneOf.get(row.action_id) ?? null });
    }
  }
  return { changed, released: changed.filter((c) => c.row.status === 'PENDING').map((c) => c.row.action_id) };
}

/** The result a held action shows: which suspension holds it, and why. */
export function holdResult(hold: Hold): string {
  return `suspended: ${hold.kind} ${hold.target} is suspended (${hold.reason}; suspension ${hold.suspensionId}); the action waits until it is resumed`;
}

/** The plugin of a decision's trigger event, as a selected column (null when the event is not stored here). */
export function triggerPluginColumn(eb: ActionAndDecision) {
  return eb
    .selectFrom('events as e')
    .select('e.plugin_id')
    .whereRef('e.event_id', '=', 'd.event_id')
    .whereRef('e.tenant_id', '=', 'd.tenant_id')
    .limit(1)
    .as('trigger_plugin_id');
}

/** An action trigger's rule id names its plugin (`plugin:{model_id}@{version}#{index}`, src/decisions/brain.ts). */
const ACTION_TRIGGER_ID = /^plugin:([^@]+)@/;

/** The trigger event's plugin, else the plugin an action trigger's rule id names. */
export function triggerPluginOf(ruleId: string, eventPluginId: string | null): string | null {
  return eventPluginId ?? ACTION_TRIGGER_ID.exec(ruleId)?.[1] ?? null;
}

/** The decisions (alias `d`) a suspension covers. */
function covers(eb: ActionAndDecision, scope: HoldScope) {
  switch (scope.kind) {
    case 'rule':
      return eb('d.rule_id', '=', scope.ruleId);
    case 'plugin': {
      const prefix = `plugin:${scope.pluginId}@`;
      return eb.or([
        eb.exists(eb.selectFrom('events as e').select('e.seq').whereRef('e.event_id', '=', 'd.event_id').whereRef('e.tenant_id', '=', 'd.tenant_id').where('e.plugin_id', '=', scope.pluginId)),
        eb(sql<string>`left(d.rule_id, ${prefix.length})`, '=', prefix),
      ]);
    }
    case 'zone':
      return scope.zoneIds.length === 0 ? eb.val(false) : eb('d.zone_id', 'in', scope.zoneIds);
  }
}
