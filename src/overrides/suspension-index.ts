import type { Kysely, Selectable } from 'kysely';
import type { Hold, HoldCheck, HoldSubject } from '../actions/holds.js';
import type { ZoneTree } from '../geo/zones.js';
import type { Database, SuspensionsTable } from '../store/schema.js';

export type SuspensionKind = 'rule' | 'plugin' | 'zone';
export const SUSPENSION_KINDS: readonly SuspensionKind[] = ['rule', 'plugin', 'zone'];

/** An active suspension as the index keeps it. */
export interface ActiveSuspension extends Hold {
  createdBy: string;
  createdAt: Date;
}

/**
 * The active suspensions (manual override, seed 001 §8), in memory: loaded at start, changed by
 * {@link Suspensions} before each suspend or resume commits. The action dispatcher asks
 * `holdOf` before every attempt, so it is a few map lookups — rule, plugin, then the zone and
 * its ancestors (the tree caches ancestor lists) — and a single comparison while nothing is
 * suspended, which is nearly always.
 *
 * @example
 *   const index = await SuspensionIndex.load(db, 'default', () => zones.tree);
 *   index.holdOf({ ruleId: 'flood_traffic_coordination', pluginId: 'flood_prediction_model', zoneId: 'chennai-w119' });
 *   // → the suspension of zone chennai-z09 (w119's parent), or null
 */
export class SuspensionIndex implements HoldCheck {
  readonly #byKind: Record<SuspensionKind, Map<string, ActiveSuspension>> = { rule: new Map(), plugin: new Map(), zone: new Map() };
  #size = 0;

  constructor(private readonly zones: () => ZoneTree) {}

  static async load(db: Kysely<Database>, tenantId: string, zones: () => ZoneTree): Promise<SuspensionIndex> {
    const index = new SuspensionIndex(zones);
    const rows = await db.selectFrom('suspensions').selectAll().where('tenant_id', '=', tenantId).where('resumed_at', 'is', null).execute();
    for (const row of rows) index.add(fromRow(row));
    return index;
  }

  get size(): number {
    return this.#size;
  }

  holdOf(subject: HoldSubject): Hold | null {
    if (this.#size === 0) return null;
    const rule = this.#byKind.rule.get(subject.ruleId);
    if (rule) return rule;
    if (subject.pluginId !== null) {
      const plugin = this.#byKind.plugin.get(subject.pluginId);
      if (plugin) return plugin;
    }
    return this.#zoneHold(subject.zoneId);
  }

  get(kind: SuspensionKind, target: string): ActiveSuspension | null {
    return this.#byKind[kind].get(target) ?? null;
  }

  /** Active suspensions, newest first. */
  list(): ActiveSuspension[] {
    return SUSPENSION_KINDS.flatMap((k) => [...this.#byKind[k].values()]).sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
  }

  add(s: ActiveSuspension): void {
    const map = this.#byKind[s.kind];
    if (!map.has(s.target)) this.#size++;
    map.set(s.target, s);
  }

  remove(s: ActiveSuspension): void {
    const map = this.#byKind[s.kind];
    if (map.get(s.target)?.suspensionId !== s.suspensionId) return;
    map.delete(s.target);
    this.#size--;
  }

  /** An emergency stop of a zone holds its whole subtree: the zone itself or any ancestor. */
  #zoneHold(zoneId: string | null): Hold | null {
    const zones = this.#byKind.zone;
    // Unzoned decisions (outside every boundary) belong to no subtree; rule and plugin
    // suspensions still hold them.
    if (zones.size === 0 || zoneId === null) return null;
    const own = zones.get(zoneId);
    if (own) return own;
    const tree = this.zones();
    if (!tree.has(zoneId)) return null;
    for (const ancestor of tree.ancestors(zoneId)) {
      const hold = zones.get(ancestor.id);
      if (hold) return hold;
    }
    return null;
  }
}

export function fromRow(row: Selectable<SuspensionsTable>): ActiveSuspension {
  return { suspensionId: row.suspension_id, kind: row.kind, target: row.target, reason: row.reason, createdBy: row.created_by, createdAt: new Date(row.created_at) };
}
