import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import { requires } from '../auth/policy.js';
import type { ZoneTree } from '../geo/zones.js';
import type { Database } from '../store/schema.js';
import type { Hierarchy } from './hierarchy.js';
import type { Topology, TopologyChild } from './topology-types.js';
import type { StoredChildReport } from './layer-reporter.js';

export type { LinkHealth, Topology, TopologyChild, TopologyLink } from './topology-types.js';

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
  /** The node's links; absent: the node stands alone (tests of the route itself). */
  hierarchy?: Hierarchy;
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
        ...(await linkedNodes(opts)),
        uplink: await pendingUplink(opts.db, opts.tenantId),
      };
    },
  );
}

async function linkedNodes(opts: TopologyRouteOptions): Promise<Pick<Topology, 'parent' | 'children' | 'peers'>> {
  const h = opts.hierarchy;
  if (!h) return { parent: null, children: [], peers: [] };
  const tree = opts.zones();
  const zoneName = (id: string | null): string | null => (id !== null && tree.has(id) ? tree.get(id).name : null);
  const [health, latest] = await Promise.all([h.linkHealths(), h.reporter ? h.reporter.latestChildReports() : Promise.resolve(new Map<string, StoredChildReport>())]);
  const parentNode = h.links.parent();
  const parent: Topology['parent'] = parentNode
    ? { node_id: parentNode.node_id, role: parentNode.role, zone_id: parentNode.zone_id, zone_name: zoneName(parentNode.zone_id), url: parentNode.url, link: health('parent', parentNode.node_id) }
    : h.uplinkStatus().state === 'not_enrolled'
      ? { node_id: '(not enrolled)', role: 'unknown', zone_id: null, zone_name: null, url: null, link: health('parent', null) }
      : null;
  const children: TopologyChild[] = h.links.active('child').map((c) => ({
    node_id: c.node_id,
    role: c.role,
    zone_id: c.zone_id,
    zone_name: zoneName(c.zone_id),
    link: health(c.node_id, c.node_id),
    children: grandchildren(latest.get(c.node_id), zoneName),
  }));
  const peers: Topology['peers'] = h.links.active('peer').map((p) => ({ node_id: p.node_id, role: p.role, zone_id: p.zone_id, zone_name: zoneName(p.zone_id), link: health(p.node_id, p.node_id) }));
  return { parent, children, peers };
}

/** A child's own children, as its latest report lists them (recursively through the reports' child lines). */
function grandchildren(latest: StoredChildReport | undefined, zoneName: (id: string | null) => string | null): TopologyChild[] {
  const body = latest && 'layer_report' in latest.report ? latest.report.layer_report : null;
  if (!body) return [];
  return body.children.map((line) => ({
    node_id: line.node_id,
    role: line.role,
    zone_id: line.zone_id,
    zone_name: line.zone_name ?? zoneName(line.zone_id),
    link: { state: line.reported ? 'up' : 'down', lag_ms: null, outbox_depth: null, last_seen_at: null, last_report_at: line.reported ? body.window_end : null, last_error: null },
    children: [],
  }));
}

/** The configured zone, else the tree's root when there is exactly one (the node holds the whole tree). */
function nodeZone(tree: ZoneTree, zoneId: string | null): { id: string; name: string } | null {
  if (zoneId !== null) return tree.has(zoneId) ? tree.get(zoneId) : null;
  const roots = tree.roots();
  return roots.length === 1 ? roots[0]! : null;
}

/** What waits for the parent (children's and peers' queues are on their links). Pending means not yet delivered (the outbox_pending index covers it). */
async function pendingUplink(db: Kysely<Database>, tenantId: string): Promise<Topology['uplink']> {
  const row = await db
    .selectFrom('outbox')
    .select((eb) => [eb.fn.countAll<string>().as('pending'), eb.fn.min('created_at').as('oldest')])
    .where('tenant_id', '=', tenantId)
    .where('destination', '=', 'parent')
    .where('delivered_at', 'is', null)
    .executeTakeFirstOrThrow();
  return { outbox_pending: Number(row.pending), oldest_pending_at: row.oldest === null || row.oldest === undefined ? null : new Date(row.oldest).toISOString() };
}
