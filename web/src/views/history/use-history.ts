import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { useInfiniteQuery, useQuery, useQueryClient, type InfiniteData, type QueryKey } from '@tanstack/react-query';
import { api } from '../../api/client';
import { useLiveMessages, useResync } from '../../api/live';
import type { ActionView, DecisionView, LiveMessage } from '../../api/types';
import type { EventRow } from '../shared-decision/types';
import { apiQuery, type Filters, type Tab } from './filters';

const PAGE = 50;
/** GET /api/v1/actions has no cursor: "Load more" asks for a longer list, up to the route's maximum. */
const ACTIONS_STEP = 100;
const ACTIONS_MAX = 500;

interface Page<Row> {
  rows: Row[];
  next_cursor: string | null;
}

export interface List<Row> {
  key: QueryKey;
  rows: Row[];
  isPending: boolean;
  error: unknown;
  hasMore: boolean;
  loadingMore: boolean;
  loadMore(): void;
}

/** A keyset-paged list (events, decisions): next_cursor of one page asks for the next. */
function usePaged<Row>(tab: Tab, path: string, rowsOf: (body: any) => Row[], filters: Filters): List<Row> {
  const query = apiQuery(tab, filters);
  const key = ['history', tab, query];
  const q = useInfiniteQuery({
    queryKey: key,
    queryFn: async ({ pageParam, signal }): Promise<Page<Row>> => {
      const body = await api<{ next_cursor: string | null }>(path, { signal, query: { ...query, limit: PAGE, cursor: pageParam } });
      return { rows: rowsOf(body), next_cursor: body.next_cursor };
    },
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
  const rows = useMemo(() => q.data?.pages.flatMap((p) => p.rows) ?? [], [q.data]);
  return { key, rows, isPending: q.isPending, error: q.error, hasMore: q.hasNextPage, loadingMore: q.isFetchingNextPage, loadMore: () => void q.fetchNextPage() };
}

export function useEvents(filters: Filters): List<EventRow> {
  return usePaged('events', '/api/v1/events', (b: { events: EventRow[] }) => b.events, filters);
}

export function useDecisions(filters: Filters): List<DecisionView> {
  return usePaged('decisions', '/api/v1/decisions', (b: { decisions: DecisionView[] }) => b.decisions, filters);
}

export function useActions(filters: Filters): List<ActionView> {
  const [limit, setLimit] = useState(ACTIONS_STEP);
  const query = apiQuery('actions', filters);
  const key = ['history', 'actions', query, limit];
  const q = useQuery({
    queryKey: key,
    queryFn: ({ signal }) => api<{ actions: ActionView[] }>('/api/v1/actions', { signal, query: { ...query, limit } }),
    placeholderData: (previous) => previous,
  });
  const rows = q.data?.actions ?? [];
  return {
    key,
    rows,
    isPending: q.isPending,
    error: q.error,
    hasMore: rows.length >= limit && limit < ACTIONS_MAX,
    loadingMore: q.isFetching && q.isPlaceholderData,
    loadMore: () => setLimit((n) => Math.min(ACTIONS_MAX, n + ACTIONS_STEP)),
  };
}

/** Replaces a row in a cached list (paged or not) by id: a decision answered, an action finished. */
function replaceRow<Row>(data: unknown, idOf: (r: Row) => string, row: Row, id: string): unknown {
  const swap = (rows: Row[]) => rows.map((r) => (idOf(r) === id ? row : r));
  const paged = data as InfiniteData<Page<Row>> | undefined;
  if (paged?.pages) return { ...paged, pages: paged.pages.map((p) => ({ ...p, rows: swap(p.rows) })) };
  const plain = data as { actions?: Row[] } | undefined;
  return plain?.actions ? { ...plain, actions: swap(plain.actions) } : data;
}

export interface LiveNews {
  /** Live items matching the filters that the list does not show yet. */
  count: number;
  /** Shows them: the list is fetched again from its first page. */
  show(): void;
}

/**
 * Keeps a list live without moving rows under the reader: rows it shows are updated in place
 * (a decision approved, an action completed); new matching items are counted for an
 * "N new — show" button. `classify` says, for a live message, which row id it concerns and
 * whether it matches the filters (null when it is not for this list).
 */
export function useLiveNews<Row>(list: List<Row>, idOf: (r: Row) => string, classify: (m: LiveMessage) => { id: string; row: Row | null; matches: boolean } | null): LiveNews {
  const queryClient = useQueryClient();
  const fresh = useRef(new Set<string>());
  const [count, setCount] = useState(0);
  const flush = useRef<ReturnType<typeof setTimeout> | null>(null);
  const listKey = JSON.stringify(list.key);

  // New filters, new list: what was new for the old one is not.
  useEffect(() => {
    fresh.current.clear();
    setCount(0);
  }, [listKey]);
  useEffect(() => () => void (flush.current && clearTimeout(flush.current)), []);

  // Updates lost (a reconnect, or a slow connection the node dropped messages for) cannot be
  // counted: the list is fetched again instead.
  useResync(() => void queryClient.invalidateQueries({ queryKey: JSON.parse(listKey) as QueryKey }));

  const shown = useMemo(() => new Set(list.rows.map(idOf)), [list.rows, idOf]);
  useLiveMessages((m) => {
    const c = classify(m);
    if (!c) return;
    if (shown.has(c.id)) {
      if (c.row) queryClient.setQueryData(list.key, (data: unknown) => replaceRow(data, idOf, c.row!, c.id));
      return;
    }
    if (!c.matches || fresh.current.has(c.id)) return;
    fresh.current.add(c.id);
    // Busy streams send many events a second: the count is drawn a few times a second at most.
    flush.current ??= setTimeout(() => {
      flush.current = null;
      setCount(fresh.current.size);
    }, 300);
  });

  const show = useCallback(() => {
    fresh.current.clear();
    setCount(0);
    void queryClient.resetQueries({ queryKey: JSON.parse(listKey) as QueryKey });
  }, [queryClient, listKey]);
  return { count, show };
}
