import type { ReactNode } from 'react';
import { formatTime, relativeTime } from '../../components/time';
import type { LinkState, TopologyLink } from './types';

const STATE_WORDS: Record<LinkState, string> = { up: 'link up', degraded: 'link degraded', down: 'link down' };
/** Line patterns: solid, dashed, dotted — so the state reads without colour too. */
const STATE_DASH: Record<LinkState, string | undefined> = { up: undefined, degraded: '6 4', down: '2 4' };

/** One node as a box: what it is, where it stands, whether it is well. */
export function NodeBox({ title, role, zoneName, zoneId, status, tag, self = false, children }: { title: string; role: string; zoneName: string | null; zoneId: string | null; status: string; tag?: string; self?: boolean; children?: ReactNode }) {
  return (
    <div className={`topology-node${self ? ' topology-node-self' : ''}`}>
      <div className="topology-node-head">
        <strong className="topology-node-id">{title}</strong>
        {tag ? <span className="badge topology-tag">{tag}</span> : null}
      </div>
      <dl className="topology-facts">
        <div>
          <dt>Role</dt>
          <dd>{role}</dd>
        </div>
        <div>
          <dt>Zone</dt>
          <dd>{zoneName ? `${zoneName}${zoneId ? ` (${zoneId})` : ''}` : (zoneId ?? 'none')}</dd>
        </div>
        <div>
          <dt>Status</dt>
          <dd className={status === 'ok' ? 'topology-ok' : 'topology-bad'}>{status === 'ok' ? '✓ ok' : `✗ ${status}`}</dd>
        </div>
      </dl>
      {children}
    </div>
  );
}

/** The connector between a node and its parent: its colour and pattern show the state, its text says it. */
export function LinkConnector({ link }: { link: TopologyLink }) {
  return (
    <div className={`topology-link topology-link-${link.state}`}>
      <svg className="topology-link-line" width="6" height="44" aria-hidden="true" focusable="false">
        <line x1="3" y1="0" x2="3" y2="44" stroke="currentColor" strokeWidth="3" strokeDasharray={STATE_DASH[link.state]} />
      </svg>
      <p className="topology-link-text">
        <strong>{STATE_WORDS[link.state]}</strong>
        {' · '}lag {link.lag_ms === null ? '—' : `${link.lag_ms} ms`}
        {' · '}outbox {link.outbox_depth}
        {' · '}last report {link.last_report_at ? <time dateTime={link.last_report_at} title={formatTime(link.last_report_at)}>{relativeTime(Date.parse(link.last_report_at))}</time> : 'never'}
        {link.last_seen_at ? (
          <>
            {' · '}seen <time dateTime={link.last_seen_at} title={formatTime(link.last_seen_at)}>{relativeTime(Date.parse(link.last_seen_at))}</time>
          </>
        ) : null}
      </p>
    </div>
  );
}
