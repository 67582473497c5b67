import { useCallback } from 'react';
import { SeverityBadge } from '../../components/Severity';
import { formatTime } from '../../components/time';
import { href } from '../../app/hash-route';
import type { LiveMessage } from '../../api/types';
import type { EventRow } from '../shared-decision/types';
import type { Zones } from '../../api/zones';
import { eventMatches, hashParams, NO_FILTERS, type Filters, type LiveMatch } from './filters';
import { ListChrome } from './ListChrome';
import { useEvents, useLiveNews } from './use-history';

const idOf = (e: EventRow) => e.event_id;

/** Stored events, newest first (GET /api/v1/events), with a link to the decisions each took part in. */
export function EventsPanel({ filters, match, zones }: { filters: Filters; match: LiveMatch; zones: Zones }) {
  const list = useEvents(filters);
  const classify = useCallback(
    // Events are never updated, only added: the live message has no row to swap in.
    (m: LiveMessage) => (m.kind === 'event' ? { id: m.event.event_id, row: null, matches: eventMatches(m.event, filters, match) } : null),
    [filters, match],
  );
  const news = useLiveNews(list, idOf, classify);
  return (
    <ListChrome list={list} news={news} noun="event">
      <table className="history-table">
        <caption className="sr-only">Events, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Type</th>
            <th scope="col">Plugin</th>
            <th scope="col">Zone</th>
            <th scope="col">Severity</th>
            <th scope="col">Confidence</th>
            <th scope="col">Event</th>
          </tr>
        </thead>
        <tbody>
          {list.rows.map((e) => (
            <tr key={e.event_id}>
              <td data-label="Time">
                <time dateTime={e.timestamp}>{formatTime(e.timestamp)}</time>
              </td>
              <td data-label="Type">{e.event_type}</td>
              <td data-label="Plugin">{e.plugin_id}</td>
              <td data-label="Zone">{zones.label(e.zone_id)}</td>
              <td data-label="Severity">
                <SeverityBadge severity={e.severity} />
              </td>
              <td data-label="Confidence">{e.confidence === null ? '—' : `${Math.round(e.confidence * 100)} %`}</td>
              <td data-label="Event">
                <code className="history-id">{e.event_id}</code>{' '}
                <a href={href('history', hashParams('decisions', { ...NO_FILTERS, event: e.event_id }))} aria-label={`Decisions on event ${e.event_id}`}>
                  decisions
                </a>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </ListChrome>
  );
}
