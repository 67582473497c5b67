/**
 * The shapes of GET /api/v1/topology, in a module of types only: the dashboard imports them
 * (web/src/api/types.ts) without pulling in the route or the node.
 */

/**
 * A link as its sending end sees it: 'idle' (caught up), 'up' (delivering), 'down' (failing,
 * never delivered), 'degraded' (failing after having delivered), 'not_enrolled'; the age of
 * the oldest message waiting (`lag_ms`), how many wait, when the other end was last heard from,
 * its last report, and the last error.
 */
export interface LinkHealth {
  state: 'up' | 'down' | 'degraded' | 'idle' | 'not_enrolled';
  lag_ms: number | null;
  outbox_depth: number;
  last_seen_at: string | null;
  last_report_at: string | null;
  last_error: string | null;
}

/**
 * Link health between two nodes. For this node's own links: the sender's state and outbox
 * (`degraded`: failing now after having delivered before), when the other end was last heard
 * from, its last report. For links further down (a child's children) only what the child's
 * last report says: `up` when that child heard from them in the window, else `down`.
 */
export type TopologyLink = Omit<LinkHealth, 'outbox_depth'> & { outbox_depth: number | null };

/** A child of this node (with its own children, from its last report); `link` is the one between the child and its parent. */
export interface TopologyChild {
  node_id: string;
  role: string;
  zone_id: string | null;
  zone_name: string | null;
  link: TopologyLink;
  children: TopologyChild[];
}

/**
 * What GET /api/v1/topology answers: this node; its parent (node_id '(not enrolled)' while a
 * configured parent has not enrolled it); its children, recursively; its peers (siblings whose
 * zones touch its own); and the uplink's queue — escalations and reports wait in the outbox
 * until the parent takes them, standalone or not.
 */
export interface Topology {
  node: { node_id: string; role: string; zone_id: string | null; zone_name: string | null; version: string; store: string; started_at: string; status: 'ok' };
  parent: null | { node_id: string; role: string; zone_id: string | null; zone_name: string | null; url: string | null; link: TopologyLink };
  children: TopologyChild[];
  peers: Array<{ node_id: string; role: string; zone_id: string | null; zone_name: string | null; link: TopologyLink }>;
  uplink: { outbox_pending: number; oldest_pending_at: string | null };
}

