import { useQuery } from '@tanstack/react-query';
import type { CSSProperties } from 'react';
import { api } from '../../api/client';
import type { Topology, TopologyChild } from '../../api/types';
import { ErrorText } from '../../components/ErrorText';
import { formatTime, relativeTime } from '../../components/time';
import { LINK_STATES, LinkConnector, linkedStatus, NodeBox, type LinkState } from './TreeParts';
import './topology.css';

const REFRESH_MS = 5000;

/**
 * Topology (issue 6 item 7, issue 5 §7): the node tree from GET /api/v1/topology — the parent
 * above this node, its peers beside it, its children (and theirs) below, each link's health on
 * its connector — refreshed every 5 s. A one-line summary above the tree counts the links by
 * state, so an operator sees at a glance whether anything needs a look. A node with no parent,
 * child or peer runs standalone, and the view says so; the uplink's outbox still shows what
 * waits for a parent.
 */
export default function TopologyView() {
  const topology = useQuery({ queryKey: ['topology'], queryFn: ({ signal }) => api<Topology>('/api/v1/topology', { signal }), refetchInterval: REFRESH_MS });
  const t = topology.data;

  return (
    <div className="topology">
      <header>
        <h2>Topology</h2>
        <p className="muted">
          The node tree as this node sees it, refreshed every {REFRESH_MS / 1000} s
          {topology.dataUpdatedAt ? `; last read ${formatTime(topology.dataUpdatedAt)}` : ''}.
        </p>
      </header>
      {topology.error ? <ErrorText error={topology.error} /> : null}
      {topology.isPending ? <p role="status">Reading the node tree…</p> : null}
      {t ? (
        <figure className="topology-tree card">
          <figcaption className="topology-caption" role="status">
            {t.parent === null && t.children.length === 0 && t.peers.length === 0 ? 'This node runs standalone: no parent, child or peer nodes are enrolled.' : summary(t)}
          </figcaption>
          <ul className="topology-level" aria-label="Node tree">
            {t.parent ? (
              <li>
                <NodeBox title={t.parent.node_id} role={t.parent.role} zoneName={t.parent.zone_name} zoneId={t.parent.zone_id} status={linkedStatus(t.parent.link.state)} tag="parent">
                  {t.parent.url ? <p className="topology-meta topology-url">{t.parent.url}</p> : null}
                </NodeBox>
                <LinkConnector link={t.parent.link} />
                <ul className="topology-level">
                  <Self t={t} />
                </ul>
              </li>
            ) : (
              <Self t={t} />
            )}
          </ul>
        </figure>
      ) : null}
    </div>
  );
}

/**
 * "4 children: 3 up, 1 down · 2 peers: 2 up · uplink to city-1: up". Only direct children are
 * counted: a grandchild's link is as old as its parent's last report, so it is shown, not summed.
 */
function summary(t: Topology): string {
  const children = t.children.length === 0 ? 'No child nodes' : `${count(t.children.length, 'child', 'children')}: ${byState(t.children)}`;
  const peers = t.peers.length === 0 ? 'no peers' : `${count(t.peers.length, 'peer', 'peers')}: ${byState(t.peers)}`;
  const uplink = t.parent === null ? 'uplink: none (no parent configured)' : t.parent.link.state === 'not_enrolled' ? 'uplink: not enrolled' : `uplink to ${t.parent.node_id}: ${words(t.parent.link.state)}`;
  return `${children} · ${peers} · ${uplink}`;
}

function byState(nodes: ReadonlyArray<{ link: { state: LinkState } }>): string {
  const counts = new Map<LinkState, number>();
  for (const n of nodes) counts.set(n.link.state, (counts.get(n.link.state) ?? 0) + 1);
  return LINK_STATES.filter((s) => counts.has(s))
    .map((s) => `${counts.get(s)} ${words(s)}`)
    .join(', ');
}

const words = (state: LinkState): string => state.replace('_', ' ');
const count = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;

/** This node with its uplink queue, its peers beside it, and its children below it. */
function Self({ t }: { t: Topology }) {
  const { outbox_pending: pending, oldest_pending_at: oldest } = t.uplink;
  // A parent configured but not enrolled takes nothing either: the outbox waits as for no parent.
  const enrolled = t.parent !== null && t.parent.link.state !== 'not_enrolled';
  return (
    <li>
      {/* --peer-rows: how many rows the peers take beside this node on a wide screen (two to a row). */}
      <div className={`topology-self-row${t.peers.length > 0 ? ' topology-with-peers' : ''}`} style={{ '--peer-rows': Math.max(1, Math.ceil(t.peers.length / 2)) } as CSSProperties}>
        <NodeBox title={t.node.node_id} role={t.node.role} zoneName={t.node.zone_name} zoneId={t.node.zone_id} status={t.node.status} tag="this node" self>
          <p className="topology-meta">
            Version {t.node.version} · store {t.node.store} · started <time dateTime={t.node.started_at}>{formatTime(t.node.started_at)}</time>
          </p>
          <p className={`topology-uplink${pending > 0 && !enrolled ? ' topology-uplink-waiting' : ''}`}>
            {enrolled ? 'Uplink: ' : 'No parent enrolled: '}
            {pending === 0 ? 'nothing waits in the outbox.' : `${pending} message${pending === 1 ? '' : 's'} wait${pending === 1 ? 's' : ''} in the outbox`}
            {pending > 0 && oldest ? (
              <>
                {' '}(oldest <time dateTime={oldest} title={formatTime(oldest)}>{relativeTime(Date.parse(oldest))}</time>).
              </>
            ) : null}
          </p>
        </NodeBox>
        {t.peers.length > 0 ? <Peers peers={t.peers} /> : null}
      </div>
      {t.children.length > 0 ? <Children nodes={t.children} /> : null}
    </li>
  );
}

/**
 * Siblings whose zones touch this node's zone (seed 001 §7.3), linked sideways: on a wide screen
 * they flank this node, right and left in turn, so it stays centred under its parent; on a
 * narrow one they gather under it in a labelled group, apart from the children.
 */
function Peers({ peers }: { peers: Topology['peers'] }) {
  return (
    <div className="topology-peers" role="group" aria-labelledby="topology-peers-label">
      <p className="topology-peers-label" id="topology-peers-label">
        Peers: neighbouring zones
      </p>
      <ul className="topology-peers-list">
        {peers.map((peer) => (
          <li key={peer.node_id} className="topology-peer">
            <LinkConnector link={peer.link} across />
            <NodeBox title={peer.node_id} role={peer.role} zoneName={peer.zone_name} zoneId={peer.zone_id} status={linkedStatus(peer.link.state)} tag="peer" />
          </li>
        ))}
      </ul>
    </div>
  );
}

function Children({ nodes }: { nodes: TopologyChild[] }) {
  return (
    <ul className="topology-level topology-children">
      {nodes.map((child) => (
        <li key={child.node_id}>
          <LinkConnector link={child.link} />
          <NodeBox title={child.node_id} role={child.role} zoneName={child.zone_name} zoneId={child.zone_id} status={linkedStatus(child.link.state)} />
          {child.children.length > 0 ? <Children nodes={child.children} /> : null}
        </li>
      ))}
    </ul>
  );
}
