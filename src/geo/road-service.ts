import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../store/schema.js';
import { parseRoadFile, type RoadLine } from './road-file.js';
import { RoadNetwork } from './roads.js';
import type { ZoneService } from './zone-service.js';

/**
 * A tenant's road network as the node uses it: built from the road file stored for the tenant,
 * or derived from the ward boundaries when there is none, and rebuilt when the zones change
 * (edges carry the zones they lie in, and derived links are the wards themselves).
 *
 * @example
 *   const roads = await RoadService.load(db, 'default', zones, log);
 *   roads.network.source; // → 'ward_adjacency' until a road file is loaded
 *   await roads.replace(JSON.parse(await readFile('chennai-roads.geojson', 'utf8')));
 */
export class RoadService {
  #network: RoadNetwork;
  /** The stored road file's lines, or null when the network is derived from the wards. */
  #lines: RoadLine[] | null;

  private constructor(
    private readonly db: Kysely<Database>,
    private readonly tenantId: string,
    private readonly zones: ZoneService,
    private readonly log: Logger,
    lines: RoadLine[] | null,
  ) {
    this.#lines = lines;
    this.#network = this.#build(lines);
    zones.onChange(() => {
      // A listener must not fail the zone replacement that has already been committed.
      try {
        this.#network = this.#build(this.#lines);
      } catch (err) {
        log.error({ err }, 'the road network could not be rebuilt for the new zones; the old one stays');
      }
    });
  }

  /**
   * The stored road file, or `file` (the `--roads` flag) when given: that one is stored too, but
   * only written when it differs from the stored one, and either way the network is built once.
   */
  static async load(db: Kysely<Database>, tenantId: string, zones: ZoneService, log: Logger, file?: { doc: unknown; source: string }): Promise<RoadService> {
    const row = await db.selectFrom('road_networks').select('geojson').where('tenant_id', '=', tenantId).executeTakeFirst();
    let lines: RoadLine[] | null = null;
    if (file) {
      lines = parseRoadFile(file.doc, file.source);
      const geojson = JSON.stringify(file.doc);
      // json comes back parsed: compared in the same serialisation it was stored in.
      if (JSON.stringify(row?.geojson) !== geojson) await store(db, tenantId, geojson);
    } else if (row) {
      try {
        lines = parseRoadFile(row.geojson, 'stored road file');
      } catch (err) {
        // Only possible if a later version checks more strictly than the one that stored it.
        log.error({ err }, 'the stored road file is no longer valid: using links between neighbouring wards until a new one is loaded');
      }
    }
    return new RoadService(db, tenantId, zones, log, lines);
  }

  get network(): RoadNetwork {
    return this.#network;
  }

  /**
   * Checks a road file (GeoJSON FeatureCollection of LineStrings), stores it for the tenant and
   * routes on it from now on, also after a restart.
   *
   * @throws CITY_ERR_ROADS_INVALID before anything is stored
   */
  async replace(doc: unknown, source?: string): Promise<RoadNetwork> {
    const lines = parseRoadFile(doc, source);
    const tree = this.zones.tree;
    let network = this.#build(lines);
    await store(this.db, this.tenantId, JSON.stringify(doc));
    this.#lines = lines;
    // The zones changed while the file was being stored: their listener rebuilt the old lines.
    if (this.zones.tree !== tree) network = this.#build(lines);
    this.#network = network;
    return network;
  }

  #build(lines: RoadLine[] | null): RoadNetwork {
    const started = performance.now();
    const network = lines ? RoadNetwork.fromLines(lines, this.zones) : RoadNetwork.fromWardAdjacency(this.zones);
    this.log.info(
      { source: network.source, nodes: network.nodeCount, edges: network.edges.length, ms: Math.round(performance.now() - started) },
      lines ? 'road network built from the road file' : 'road network derived from neighbouring wards (load a road file with PUT /api/v1/roads or --roads)',
    );
    return network;
  }
}

async function store(db: Kysely<Database>, tenantId: string, geojson: string): Promise<void> {
  await db
    .insertInto('road_networks')
    .values({ tenant_id: tenantId, geojson })
    .onConflict((oc) => oc.column('tenant_id').doUpdateSet({ geojson, updated_at: new Date() }))
    .execute();
}
