import { useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from '../../api/client';
import { useLiveMessages } from '../../api/live';
import type { DecisionView, EventView } from '../../api/types';
import { ErrorText } from '../../components/ErrorText';
import { SeverityBadge } from '../../components/Severity';
import { formatTime } from '../../components/time';
import { decisionItem, type MapItem, type StoredEvent } from './items';
import { Facts, place } from './Facts';
import { KeyValues } from './KeyValues';

interface Props {
  event: EventView;
  zoneName(zoneId: string | null): string;
  onOpen(item: MapItem): void;
}

/**
 * An event: its envelope, the decisions made on it (asked of the node, and asked again when a
 * decision on it arrives live) and what the plugin reported, the evidence, from the stored event.
 */
export function EventDetails({ event, zoneName, onOpen }: Props) {
  const id = event.event_id;
  const client = useQueryClient();
  const stored = useQuery({
    queryKey: ['map', 'event', id],
    queryFn: ({ signal }) => api<StoredEvent>(`/api/v1/events/${encodeURIComponent(id)}`, { signal }),
  });
  const decisions = useQuery({
    queryKey: ['map', 'event-decisions', id],
    queryFn: ({ signal }) => api<{ decisions: DecisionView[] }>('/api/v1/decisions', { query: { event_id: id, limit: 50 }, signal }),
  });
  useLiveMessages((m) => {
    if (m.kind === 'decision' && m.decision.event_ids.includes(id)) void client.invalidateQueries({ queryKey: ['map', 'event-decisions', id] });
  });

  return (
    <>
      <Facts
        rows={[
          ['Type', event.event_type ?? 'not given'],
          ['Plugin', event.plugin_id ?? 'not given'],
          ['Severity', <SeverityBadge severity={event.severity} />],
          ['Confidence', event.confidence === null ? 'not given' : `${Math.round(event.confidence * 100)}%`],
          ['Time', formatTime(event.ts_ms)],
          ['Zone', zoneName(event.zone_id)],
          ['Location', place(event.location)],
          ['Event id', <code>{id}</code>],
        ]}
      />
      <h4>Decisions</h4>
      {decisions.isPending ? (
        <p role="status">Loading the decisions on this event…</p>
      ) : decisions.error ? (
        <ErrorText error={decisions.error} />
      ) : decisions.data.decisions.length === 0 ? (
        <p className="muted">No rule made a decision on this event.</p>
      ) : (
        <ul className="map-related">
          {decisions.data.decisions.map((d) => (
            <li key={d.decision_id}>
              <button type="button" className="link" onClick={() => onOpen(decisionItem(d))}>
                Decision: {d.rule.name} · {d.severity ?? 'no severity'} · approval {d.approval_status.replace(/_/g, ' ').toLowerCase()}
              </button>
            </li>
          ))}
        </ul>
      )}
      <h4>Reported data (evidence)</h4>
      {stored.isPending ? (
        <p role="status">Loading what the plugin reported…</p>
      ) : stored.error ? (
        <ErrorText error={stored.error} />
      ) : (
        <KeyValues value={stored.data.payload} />
      )}
    </>
  );
}
