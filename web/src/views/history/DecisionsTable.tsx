import { useCallback } from 'react';
import { SeverityBadge } from '../../components/Severity';
import { formatTime } from '../../components/time';
import { href } from '../../app/hash-route';
import type { DecisionView, LiveMessage } from '../../api/types';
import { ApprovalStatusBadge } from '../shared-decision/ApprovalStatus';
import { shortId } from '../shared-decision/use-decision';
import type { Zones } from '../../api/zones';
import { decisionMatches, hashParams, type Filters, type LiveMatch } from './filters';
import { ListChrome } from './ListChrome';
import { useDecisions, useLiveNews } from './use-history';

const idOf = (d: DecisionView) => d.decision_id;

/** "3: 1 completed, 2 held" */
export function actionSummary(actions: DecisionView['actions']): string {
  if (actions.length === 0) return 'none';
  const counts = new Map<string, number>();
  for (const a of actions) counts.set(a.status, (counts.get(a.status) ?? 0) + 1);
  return `${actions.length}: ${[...counts].map(([s, n]) => `${n} ${s.toLowerCase()}`).join(', ')}`;
}

/** Decisions, newest first (GET /api/v1/decisions); each opens its explanation. */
export function DecisionsPanel({ filters, match, zones }: { filters: Filters; match: LiveMatch; zones: Zones }) {
  const list = useDecisions(filters);
  const classify = useCallback(
    (m: LiveMessage) => (m.kind === 'decision' ? { id: m.decision.decision_id, row: m.decision, matches: decisionMatches(m.decision, filters, match) } : null),
    [filters, match],
  );
  const news = useLiveNews(list, idOf, classify);
  return (
    <ListChrome list={list} news={news} noun="decision">
      <table className="history-table">
        <caption className="sr-only">Decisions, newest first; open one for its explanation</caption>
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Rule</th>
            <th scope="col">Zone</th>
            <th scope="col">Severity</th>
            <th scope="col">Approval</th>
            <th scope="col">Actions</th>
            <th scope="col">Decision</th>
          </tr>
        </thead>
        <tbody>
          {list.rows.map((d) => (
            <tr key={d.decision_id}>
              <td data-label="Time">
                <time dateTime={new Date(d.decision_time_ms).toISOString()}>{formatTime(d.decision_time_ms)}</time>
              </td>
              <td data-label="Rule">
                {d.rule.name} <span className="muted">({d.rule.kind.replaceAll('_', ' ')})</span>
              </td>
              <td data-label="Zone">{zones.label(d.zone_id)}</td>
              <td data-label="Severity">
                <SeverityBadge severity={d.severity} />
              </td>
              <td data-label="Approval">
                <ApprovalStatusBadge status={d.approval_status} />
              </td>
              <td data-label="Actions">{actionSummary(d.actions)}</td>
              <td data-label="Decision">
                <a href={href('history', hashParams('decisions', filters, { decision: d.decision_id }))}>Explain {shortId(d.decision_id)}</a>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </ListChrome>
  );
}
