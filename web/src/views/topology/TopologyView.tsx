import { useQuery } from '@tanstack/react-query';
import { api } from '../../api/client';
import { ErrorText } from '../../components/ErrorText';
import { formatTime, relativeTime } from '../../components/time';
import { LinkConnector, NodeBox } from './TreeParts';
import type { LinkedNode, Topology } from './types';
import './topology.css';

const REFRESH_MS = 5000;

/**
 * Topology (issue 6 item 7): the node tree from GET /api/v1/topology — the parent above this
 * node, its children below, each link's health on the connector — refreshed every 5 s. Until
 * the hierarchy exists every node is standalone, and the view says so; the uplink's outbox
 * still shows what waits for a parent.
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
            {t.parent === null && t.children.length === 0
              ? 'This node runs standalone: no parent or child nodes are enrolled.'
              : `This node${t.parent ? `, its parent ${t.parent.node_id}` : ''} and ${t.children.length} child node${t.children.length === 1 ? '' : 's'}.`}
          </figcaption>
          <ul className="topology-level" aria-label="Node tree">
            {t.parent ? (
              <li>
                <NodeBox title={t.parent.node_id} role={t.parent.role} zoneName={t.parent.zone_name} zoneId={t.parent.zone_id} status={t.parent.link.state === 'down' ? 'unreachable' : 'ok'} tag="parent" />
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

/** This node, its uplink queue, and its children below it. */
function Self({ t }: { t: Topology }) {
  const { outbox_pending: pending, oldest_pending_at: oldest } = t.uplink;
  return (
    <li>
      <NodeBox title={t.node.node_id} role={t.node.role} zoneName={t.node.zone_name} zoneId={t.node.zone_id} status={t.node.status} tag="this node" self>
        <p className="topology-meta">
          Version {t.node.version} · store {t.node.store} · started <time dateTime={t.node.started_at}>{formatTime(t.node.started_at)}</time>
        </p>
        <p className={`topology-uplink${pending > 0 && t.parent === null ? ' topology-uplink-waiting' : ''}`}>
          {t.parent === null ? 'No parent enrolled: ' : 'Uplink: '}
          {pending === 0 ? 'nothing waits in the outbox.' : `${pending} message${pending === 1 ? '' : 's'} wait${pending === 1 ? 's' : ''} in the outbox`}
          {pending > 0 && oldest ? (
            <>
              {' '}(oldest <time dateTime={oldest} title={formatTime(oldest)}>{relativeTime(Date.parse(oldest))}</time>).
            </>
          ) : null}
        </p>
      </NodeBox>
      {t.children.length > 0 ? <Children nodes={t.children} /> : null}
    </li>
  );
}

function Children({ nodes }: { nodes: LinkedNode[] }) {
  return (
    <ul className="topology-level topology-children">
      {nodes.map((child) => (
        <li key={child.node_id}>
          <LinkConnector link={child.link} />
          <NodeBox title={child.node_id} role={child.role} zoneName={child.zone_name} zoneId={child.zone_id} status={child.link.state === 'down' ? 'unreachable' : 'ok'} />
          {child.children && child.children.length > 0 ? <Children nodes={child.children} /> : null}
        </li>
      ))}
    </ul>
  );
}
