/** GET /api/v1/topology, as src/hierarchy/topology.ts writes it. */

export type LinkState = 'up' | 'down' | 'degraded';

export interface TopologyLink {
  state: LinkState;
  lag_ms: number | null;
  outbox_depth: number;
  last_seen_at: string | null;
  last_report_at: string | null;
}

/** A node other than this one: a parent above, or a child (with its own children) below. */
export interface LinkedNode {
  node_id: string;
  role: string;
  zone_id: string | null;
  zone_name: string | null;
  link: TopologyLink;
  children?: LinkedNode[];
}

export interface Topology {
  node: { node_id: string; role: string; zone_id: string | null; zone_name: string | null; version: string; store: string; started_at: string; status: string };
  parent: LinkedNode | null;
  children: LinkedNode[];
  uplink: { outbox_pending: number; oldest_pending_at: string | null };
}
