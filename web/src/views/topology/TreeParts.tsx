import type { ReactNode } from 'react';
import type { TopologyLink } from '../../api/types';
import { formatTime, relativeTime } from '../../components/time';

export type LinkState = TopologyLink['state'];

/** The order states are counted and listed in: the healthy first, then what needs a look. */
export const LINK_STATES: readonly LinkState[] = ['up', 'idle', 'degraded', 'down', 'not_enrolled'];

const STATE_WORDS: Record<LinkState, string> = { up: 'link up', idle: 'link idle', degraded: 'link degraded', down: 'link down', not_enrolled: 'not enrolled' };

/**
 * How each state is drawn, so it reads without colour too: up solid; idle solid but thinner
 * (caught up, nothing to send — the colour is the muted one); degraded dashed; down dash-dot
 * (a broken line, and distinct from the dots); not enrolled round dots (no link exists yet).
 */
const STATE_LINE: Record<LinkState, { dash?: string; width: number; cap?: 'round' }> = {
  up: { width: 3 },
  idle: { width: 2 },
  degraded: { dash: '6 4', width: 3 },
  down: { dash: '9 4 2 4', width: 3 },
  not_enrolled: { dash: '0 6', width: 3.5, cap: 'round' },
};

/** What a node's box says of a node known only through its link. */
export function linkedStatus(state: LinkState): string {
  if (state === 'down') return 'unreachable';
  if (state === 'degraded') return 'degraded';
  if (state === 'not_enrolled') return 'not enrolled';
  return 'ok';
}

/** One node as a box: what it is, where it stands, whether it is well. */
export function NodeBox({ title, role, zoneName, zoneId, status, tag, self = false, children }: { title: string; role: string; zoneName: string | null; zoneId: string | null; status: string; tag?: string; self?: boolean; children?: ReactNode }) {
  // Unreachable is an outage; degraded or not enrolled want a look but the node may still work.
  const statusClass = status === 'ok' ? 'topology-ok' : status === 'unreachable' ? 'topology-bad' : 'topology-warn';
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
          <dd className={statusClass}>{status === 'ok' ? '✓ ok' : `✗ ${status}`}</dd>
        </div>
      </dl>
      {children}
    </div>
  );
}

/**
 * The connector between two nodes: its colour and pattern show the state, its text says it, and
 * the sender's last error says why a link is not up. `across` draws it sideways, for peers.
 */
export function LinkConnector({ link, across = false }: { link: TopologyLink; across?: boolean }) {
  const line = STATE_LINE[link.state];
  const length = across ? 48 : 44;
  return (
    <div className={`topology-link topology-link-${link.state.replace('_', '-')}${across ? ' topology-link-across' : ''}`}>
      <svg className="topology-link-line" width={across ? length : 6} height={across ? 6 : length} aria-hidden="true" focusable="false">
        <line x1={across ? 0 : 3} y1={across ? 3 : 0} x2={across ? length : 3} y2={across ? 3 : length} stroke="currentColor" strokeWidth={line.width} strokeDasharray={line.dash} strokeLinecap={line.cap} />
      </svg>
      <p className="topology-link-text">
        <strong>{STATE_WORDS[link.state]}</strong>
        {' · '}lag {link.lag_ms === null ? '—' : duration(link.lag_ms)}
        {' · '}outbox {link.outbox_depth === null ? '—' : link.outbox_depth}
        {' · '}last report {link.last_report_at ? <Ago at={link.last_report_at} /> : 'never'}
        {link.last_seen_at ? (
          <>
            {' · '}seen <Ago at={link.last_seen_at} />
          </>
        ) : null}
      </p>
      {link.last_error ? <p className="topology-link-error">{link.last_error}</p> : null}
    </div>
  );
}

function Ago({ at }: { at: string }) {
  return (
    <time dateTime={at} title={formatTime(at)}>
      {relativeTime(Date.parse(at))}
    </time>
  );
}

/** 900 ms, 12 s, 15 min, 3 h: a lag read at a glance. */
function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 90_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 5_400_000) return `${Math.round(ms / 60_000)} min`;
  return `${Math.round(ms / 3_600_000)} h`;
}
