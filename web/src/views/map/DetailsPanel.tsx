import { useEffect, useRef } from 'react';
import type { ResourceState } from '../../api/types';
import { formatTime } from '../../components/time';
import { itemTitle, type MapItem } from './items';
import { EventDetails } from './EventDetails';
import { DecisionDetails } from './DecisionDetails';
import { Facts, place } from './Facts';

/** What the panel shows: an event or decision of the list/map, or a resource. */
export type Selection = { kind: 'item'; item: MapItem } | { kind: 'resource'; resource: ResourceState };

export interface DetailsPanelProps {
  selection: Selection;
  zoneName(zoneId: string | null): string;
  /** Opens another item in the panel (an event's decision, a decision's events). */
  onOpen(item: MapItem): void;
  onClose(): void;
}

/**
 * The details of what was clicked, over the list. Focus moves to its heading when it opens and
 * goes back where it was when it closes (Close or Escape), so keyboard users keep their place.
 */
export function DetailsPanel({ selection, zoneName, onOpen, onClose }: DetailsPanelProps) {
  const heading = useRef<HTMLHeadingElement>(null);
  const opener = useRef<Element | null>(null);
  const close = useRef(onClose);
  close.current = onClose;

  useEffect(() => {
    opener.current = document.activeElement;
    return () => {
      if (opener.current instanceof HTMLElement && opener.current.isConnected) opener.current.focus();
    };
  }, []);
  const title = selection.kind === 'item' ? itemTitle(selection.item) : `${selection.resource.resource_type.replace(/_/g, ' ')} ${selection.resource.resource_id}`;
  useEffect(() => {
    heading.current?.focus();
  }, [title]);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape' && !e.defaultPrevented) close.current();
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);

  return (
    <aside className="map-details" aria-label="Details">
      <header className="map-details-head">
        <h3 ref={heading} tabIndex={-1}>
          {title}
        </h3>
        <button type="button" onClick={onClose}>
          Close
        </button>
      </header>
      <div className="map-details-body">
        {selection.kind === 'resource' ? (
          <ResourceDetails resource={selection.resource} zoneName={zoneName} />
        ) : selection.item.kind === 'event' ? (
          <EventDetails event={selection.item.event} zoneName={zoneName} onOpen={onOpen} />
        ) : (
          <DecisionDetails decision={selection.item.decision} zoneName={zoneName} onOpen={onOpen} />
        )}
      </div>
    </aside>
  );
}

function ResourceDetails({ resource: r, zoneName }: { resource: ResourceState; zoneName(zoneId: string | null): string }) {
  return (
    <Facts
      rows={[
        ['Type', r.resource_type.replace(/_/g, ' ')],
        ['Status', r.status.replace(/_/g, ' ')],
        ['Zone', zoneName(r.zone_id)],
        ['Location', place(r.location)],
        ['Incident event', r.event_id ?? 'none'],
        ['Reported', formatTime(r.updated_at_ms)],
      ]}
    />
  );
}
