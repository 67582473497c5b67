import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import { requires } from '../auth/policy.js';
import type { ZoneTree } from '../geo/zones.js';
import type { Database } from '../store/schema.js';

export interface TopologyRouteOptions {
  db: Kysely<Database>;
  tenantId: string;
  nodeId: string;
  role: 'local' | 'district' | 'city' | 'state' | 'national';
  /** The zone this node was placed over; null when none was configured (the tree's root then stands in). */
  zoneId: string | null;
  version: string;
  store: 'pglite' | 'postgres';
  startedAt: Date;
  /** Read per request: the zone tree can be replaced while the node runs (PUT /api/v1/zones). */
  zones: () => ZoneTree;
}

/** Link health between two nodes, as the hierarchy will report it. */
export interface TopologyLink {
  state: 'up' | 'down' | 'degraded';
  lag_ms: number | null;
  outbox_depth: number;
  last_seen_at: string | null;
  last_report_at: string | null;
}

/**
 * One node of the tree. `children` entries will be filled by the hierarchy (a later issue) as
 * `{ node_id, role, zone_id, zone_name, link: { state: 'up'|'down'|'degraded', lag_ms,
 * outbox_depth, last_seen_at, last_report_at }, children: [...] }` — the link being the one
 * between that child and its parent.
 */
export interface TopologyChild {
  node_id: string;
  role: string;
  zone_id: string | null;
  zone_name: string | null;
  link: TopologyLink;
  children: TopologyChild[];
}

/**
 * What GET /api/v1/topology answers:
 *
 *   {
 *     node:     { node_id, role, zone_id, zone_name, version, store, started_at, status: 'ok' },
 *     parent:   null,          // later: { node_id, role, zone_id, zone_name, link } of the uplink
 *     children: [],            // later: TopologyChild[] (enrolled child nodes, recursively)
 *     uplink:   { outbox_pending, oldest_pending_at }   // messages waiting for the parent
 *   }
 *
 * Today every node runs standalone: no parent, no children. The uplink still tells a truth worth
 * watching — escalations and aggregation reports pile up in the outbox until a parent takes them.
 */
export interface Topology {
  node: { node_id: string; role: string; zone_id: string | null; zone_name: string | null; version: string; store: string; started_at: string; status: 'ok' };
  parent: null | { node_id: string; role: string; zone_id: string | null; zone_name: string | null; link: TopologyLink };
  children: TopologyChild[];
  uplink: { outbox_pending: number; oldest_pending_at: string | null };
}

/**
 * The node tree as this node sees it (permission `monitor`: operators, authorities and admins
 * watch link health; the outbox's contents stay behind `configure` at GET /api/v1/outbox).
 *
 * @example
 *   await app.register(topologyRoutes, { db, tenantId, nodeId, role, zoneId: null, version, store: 'pglite', startedAt: new Date(), zones: () => zones.tree });
 *   // GET /api/v1/topology → { node: { node_id: 'local-1', zone_id: 'in', … }, parent: null, children: [], uplink: { outbox_pending: 0, oldest_pending_at: null } }
 */
export async function topologyRoutes(app: FastifyInstance, opts: TopologyRouteOptions): Promise<void> {
  app.get(
    '/api/v1/topology',
    { schema: { summary: 'The node tree: this node, its parent and children, and the health of their links', tags: ['hierarchy'], security: [{ adminToken: [] }] }, config: requires('monitor') },
    async (): Promise<Topology> => {
      const zone = nodeZone(opts.zones(), opts.zoneId);
      return {
        node: {
          node_id: opts.nodeId,
          role: opts.role,
          zone_id: zone?.id ?? opts.zoneId,
          zone_name: zone?.name ?? null,
          version: opts.version,
          store: opts.store,
          started_at: opts.startedAt.toISOString(),
          status: 'ok',
        },
        parent: null,
        children: [],
        uplink: await pendingUplink(opts.db, opts.tenantId),
      };
    },
  );
}

/** The configured zone, else the tree's root when there is exactly one (the node holds the whole tree). */
function nodeZone(tree: ZoneTree, zoneId: string | null): { id: string; name: string } | null {
  if (zoneId !== null) return tree.has(zoneId) ? tree.get(zoneId) : null;
  const roots = tree.roots();
  return roots.length === 1 ? roots[0]! : null;
}

/** Pending means not yet delivered, as GET /api/v1/outbox?pending=true lists them (the outbox_pending index covers it). */
async function pendingUplink(db: Kysely<Database>, tenantId: string): Promise<Topology['uplink']> {
  const row = await db
    .selectFrom('outbox')
    .select((eb) => [eb.fn.countAll<string>().as('pending'), eb.fn.min('created_at').as('oldest')])
    .where('tenant_id', '=', tenantId)
    .where('delivered_at', 'is', null)
    .executeTakeFirstOrThrow();
  return { outbox_pending: Number(row.pending), oldest_pending_at: row.oldest === null || row.oldest === undefined ? null : new Date(row.oldest).toISOString() };
}
