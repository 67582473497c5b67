import { useEffect, useRef, useState } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import type { FeatureCollection } from 'geojson';
import { api } from '../../api/client';
import { useZoneCollection } from '../../api/zones';
import { useLiveMessages, useResync } from '../../api/live';
import type { DecisionView, LiveMessage, ResourceState } from '../../api/types';
import { ItemStore, toEventView, type MapItem, type StoredEvent } from './items';

/** The first page of each: the newest the API gives in one answer (its maxima). */
const EVENTS_PAGE = 1000;
const DECISIONS_PAGE = 500;
/** Resource positions are not on the live stream: polled. */
const RESOURCES_REFRESH_MS = 10_000;

export interface ResourceCounts {
  available: number;
  total: number;
  by_status: Record<string, number>;
}
export interface ResourcesAnswer {
  total: number;
  by_type: Record<string, ResourceCounts>;
  items: ResourceState[];
}

export interface MapData {
  /** Events and decisions, newest first. */
  items: MapItem[];
  /** True once the first pages of events and decisions are in `items`. */
  initialLoaded: boolean;
  zones: FeatureCollection | undefined;
  roads: FeatureCollection | undefined;
  resources: ResourcesAnswer | undefined;
  /** Failed loads, to show beside the map: [what, error]. */
  errors: Array<[string, unknown]>;
  /** The stored item, newest version, for the details panel. */
  lookup(key: string): MapItem | undefined;
}

/**
 * Everything the map view draws: zones and roads (once), the newest events and decisions (first
 * pages, then live), resources (polled). Live messages mutate one store and React sees one new
 * snapshot per animation frame, so a burst of messages costs one redraw.
 */
export function useMapData(): MapData {
  const client = useQueryClient();

  // The same query as the other views' zone names: one download per session.
  const zones = useZoneCollection();
  const roads = useQuery({
    queryKey: ['map', 'roads'],
    // Every node has a network: a loaded road file or links between neighbouring wards.
    queryFn: ({ signal }) => api<FeatureCollection>('/api/v1/roads', { signal }),
    staleTime: Infinity,
  });
  const events = useQuery({
    queryKey: ['map', 'events'],
    queryFn: ({ signal }) => api<{ events: StoredEvent[] }>('/api/v1/events', { query: { limit: EVENTS_PAGE }, signal }),
    // Read again each time the view opens: the stream only covers the time it was open.
    staleTime: 0,
  });
  const decisions = useQuery({
    queryKey: ['map', 'decisions'],
    queryFn: ({ signal }) => api<{ decisions: DecisionView[] }>('/api/v1/decisions', { query: { limit: DECISIONS_PAGE }, signal }),
    staleTime: 0,
  });
  const resources = useQuery({
    queryKey: ['map', 'resources'],
    queryFn: ({ signal }) => api<ResourcesAnswer>('/api/v1/state/resources', { signal }),
    refetchInterval: RESOURCES_REFRESH_MS,
  });

  const [store] = useState(() => new ItemStore());
  const [items, setItems] = useState<MapItem[]>([]);
  const [initialLoaded, setInitialLoaded] = useState(false);
  const pagesIn = useRef({ events: false, decisions: false });
  const frame = useRef<number | null>(null);
  const flush = () => {
    if (frame.current !== null) return;
    frame.current = requestAnimationFrame(() => {
      frame.current = null;
      setItems(store.snapshot());
      if (pagesIn.current.events && pagesIn.current.decisions) setInitialLoaded(true);
    });
  };
  useEffect(() => () => {
    if (frame.current !== null) cancelAnimationFrame(frame.current);
  }, []);

  // The API pages go in under what the stream has already brought (an upsert by id either way).
  useEffect(() => {
    if (!events.data) return;
    for (const e of events.data.events) store.upsertEvent(toEventView(e));
    pagesIn.current.events = true;
    flush();
  }, [events.data]); // eslint-disable-line react-hooks/exhaustive-deps
  useEffect(() => {
    if (!decisions.data) return;
    for (const d of decisions.data.decisions) store.upsertDecision(d);
    pagesIn.current.decisions = true;
    flush();
  }, [decisions.data]); // eslint-disable-line react-hooks/exhaustive-deps

  useLiveMessages((message: LiveMessage) => {
    if (message.kind === 'event') store.upsertEvent(message.event);
    else if (message.kind === 'decision') store.upsertDecision(message.decision);
    else if (message.kind === 'action') store.patchAction(message.action);
    else return;
    flush();
  });

  // The stream does not replay what was missed: read the pages again.
  useResync(() => {
    void client.invalidateQueries({ queryKey: ['map', 'events'] });
    void client.invalidateQueries({ queryKey: ['map', 'decisions'] });
  });

  const errors: Array<[string, unknown]> = [];
  if (zones.error) errors.push(['zones', zones.error]);
  if (roads.error) errors.push(['roads', roads.error]);
  if (events.error) errors.push(['events', events.error]);
  if (decisions.error) errors.push(['decisions', decisions.error]);
  if (resources.error) errors.push(['resources', resources.error]);

  return {
    items,
    initialLoaded,
    zones: zones.data,
    roads: roads.data,
    resources: resources.data,
    errors,
    lookup: (key) => store.get(key),
  };
}
