import { useEffect, useRef, useState } from 'react';
import { canonicalSeverity, severityColour } from '../../components/Severity';
import { relativeTime, useNow } from '../../components/time';
import { itemTitle, type MapItem } from './items';

/** How many of the newest items the list shows. */
export const LIST_LENGTH = 50;
/** New arrivals are announced at most this often, so a burst is one sentence, not a hundred. */
const ANNOUNCE_EVERY_MS = 5_000;

export interface LatestListProps {
  /** Filtered, newest first. */
  items: readonly MapItem[];
  /** How many of those have no location (in the list, not on the map). */
  unplaced: number;
  selectedKey: string | null;
  zoneName(zoneId: string | null): string;
  onOpen(item: MapItem): void;
}

/**
 * The newest events and decisions as buttons: what keyboard and screen-reader users (and the
 * browser tests) use instead of the canvas. Each opens the details and flies the map there.
 */
export function LatestList({ items, unplaced, selectedKey, zoneName, onOpen }: LatestListProps) {
  const now = useNow(15_000);
  const announcement = useArrivals(items);
  const shown = items.slice(0, LIST_LENGTH);
  return (
    <section className="map-latest" aria-label="Latest on the map">
      <h3 className="map-latest-title">Latest on the map</h3>
      <p className="muted map-latest-count">
        {items.length === 0
          ? 'Nothing yet: new events and decisions in your area appear here as they happen.'
          : `Newest ${shown.length} of ${items.length}${unplaced > 0 ? ` (${unplaced} without a location are not on the map)` : ''}.`}
      </p>
      <p className="sr-only" role="status" aria-live="polite">
        {announcement}
      </p>
      <ul className="map-latest-items">
        {shown.map((item) => (
          <li key={item.key}>
            <button type="button" className="map-latest-item" aria-current={item.key === selectedKey ? 'true' : undefined} onClick={() => onOpen(item)}>
              <span className="map-dot" aria-hidden="true" style={{ background: severityColour(canonicalSeverity(item.severity)), borderColor: item.kind === 'decision' ? '#fff' : 'transparent' }} />
              <span>
                {canonicalSeverity(item.severity)} · {itemTitle(item)} · {zoneName(item.zoneId)} · {relativeTime(item.timeMs, now)}
                {item.location === null && <span className="muted"> (no location)</span>}
              </span>
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}

/** "3 new on the map, the latest: high · violation_event", at most every ANNOUNCE_EVERY_MS. */
function useArrivals(items: readonly MapItem[]): string {
  const seen = useRef<Set<string> | null>(null);
  const pending = useRef({ count: 0, latest: '' });
  const [text, setText] = useState('');
  useEffect(() => {
    // The first items are the page as loaded, not arrivals (and a long session starts over).
    if (seen.current === null || seen.current.size > 50_000) {
      if (items.length > 0) seen.current = new Set(items.map((i) => i.key));
      return;
    }
    for (const item of items.slice(0, LIST_LENGTH)) {
      if (seen.current.has(item.key)) continue;
      seen.current.add(item.key);
      if (pending.current.count++ === 0) pending.current.latest = `${canonicalSeverity(item.severity)} · ${itemTitle(item)}`;
    }
  }, [items]);
  useEffect(() => {
    const timer = setInterval(() => {
      if (pending.current.count === 0) return;
      const { count, latest } = pending.current;
      setText(count === 1 ? `New on the map: ${latest}` : `${count} new on the map, the newest: ${latest}`);
      pending.current = { count: 0, latest: '' };
    }, ANNOUNCE_EVERY_MS);
    return () => clearInterval(timer);
  }, []);
  return text;
}
