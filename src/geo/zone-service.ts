import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.js';
import { ZoneIndex } from './zone-index.js';
import { ZoneTree, type Zone, type ZoneLevel } from './zones.js';

/**
 * A tenant's zones as the node uses them: the tree, its spatial index, and their rows in the
 * store. Replacing the zones swaps tree and index together, so ingest never sees a half-built pair.
 */
export class ZoneService {
  #tree: ZoneTree;
  #index: ZoneIndex;
  readonly #listeners: Array<() => void> = [];

  private constructor(private readonly db: Kysely<Database>, private readonly tenantId: string, zones: readonly Zone[]) {
    this.#tree = new ZoneTree(zones);
    this.#index = new ZoneIndex(this.#tree);
  }

  static async load(db: Kysely<Database>, tenantId: string): Promise<ZoneService> {
    const rows = await db.selectFrom('zones').selectAll().where('tenant_id', '=', tenantId).execute();
    const zones: Zone[] = rows.map((r) => ({
      id: r.id,
      name: r.name,
      level: r.level as ZoneLevel,
      parentId: r.parent_id,
      geometry: (r.geometry ?? null) as Zone['geometry'],
      properties: r.properties ?? {},
    }));
    return new ZoneService(db, tenantId, zones);
  }

  get tree(): ZoneTree {
    return this.#tree;
  }

  /** The deepest zone containing the point, or null (hot path: no allocation). */
  locate(lng: number, lat: number): string | null {
    return this.#index.locate(lng, lat);
  }

  /** Whether the zone's area contains the point (src/geo/zone-index.ts). */
  contains(zoneId: string, lng: number, lat: number): boolean {
    return this.#index.contains(zoneId, lng, lat);
  }

  has(zoneId: string): boolean {
    return this.#tree.has(zoneId);
  }

  /** Validates and stores a new zone tree for the tenant, replacing the old one in one transaction. */
  async replace(zones: readonly Zone[]): Promise<void> {
    const tree = new ZoneTree(zones); // throws ZONE_FILE_INVALID before anything is written
    const index = new ZoneIndex(tree);
    await this.db.transaction().execute(async (tx) => {
      await tx.deleteFrom('zones').where('tenant_id', '=', this.tenantId).execute();
      const rows = zones.map((z) => ({
        tenant_id: this.tenantId,
        id: z.id,
        name: z.name,
        level: z.level,
        parent_id: z.parentId,
        geometry: z.geometry ? JSON.stringify(z.geometry) : null,
        properties: JSON.stringify(z.properties ?? {}),
      }));
      for (let i = 0; i < rows.length; i += 500) await tx.insertInto('zones').values(rows.slice(i, i + 500)).execute();
    });
    this.#tree = tree;
    this.#index = index;
    for (const listener of this.#listeners) listener();
  }

  /** Called after the zones are replaced (ingest workers keep a replica). */
  onChange(listener: () => void): void {
    this.#listeners.push(listener);
  }
}
