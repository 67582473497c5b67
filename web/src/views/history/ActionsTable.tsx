import { useCallback } from 'react';
import { formatTime } from '../../components/time';
import { href } from '../../app/hash-route';
import type { ActionView, LiveMessage } from '../../api/types';
import { ActionStatusBadge } from '../shared-decision/ApprovalStatus';
import { shortId } from '../shared-decision/use-decision';
import { actionMatches, hashParams, type Filters } from './filters';
import { ListChrome } from './ListChrome';
import { useActions, useLiveNews } from './use-history';

const idOf = (a: ActionView) => a.action_id;

/** Actions, newest first (GET /api/v1/actions), updated live as they run. */
export function ActionsPanel({ filters }: { filters: Filters }) {
  const list = useActions(filters);
  const classify = useCallback((m: LiveMessage) => (m.kind === 'action' ? { id: m.action.action_id, row: m.action, matches: actionMatches(m.action, filters) } : null), [filters]);
  const news = useLiveNews(list, idOf, classify);
  return (
    <ListChrome list={list} news={news} noun="action">
      <table className="history-table">
        <caption className="sr-only">Actions, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Action</th>
            <th scope="col">Status</th>
            <th scope="col">Attempts</th>
            <th scope="col">Executed</th>
            <th scope="col">Result</th>
            <th scope="col">Decision</th>
          </tr>
        </thead>
        <tbody>
          {list.rows.map((a) => (
            <tr key={a.action_id}>
              <td data-label="Action">
                {a.type}
                {a.target_system ? ` → ${a.target_system}` : ''}
              </td>
              <td data-label="Status">
                <ActionStatusBadge status={a.status} />
              </td>
              <td data-label="Attempts">{a.attempts}</td>
              <td data-label="Executed">{formatTime(a.executed_at_ms)}</td>
              <td data-label="Result" className="history-result">
                {a.result ?? '—'}
                {a.last_error ? <span className="error"> Last error: {a.last_error}</span> : null}
              </td>
              <td data-label="Decision">
                <a href={href('history', hashParams('actions', filters, { decision: a.decision_id }))}>Explain {shortId(a.decision_id)}</a>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </ListChrome>
  );
}
