import { useQuery } from '@tanstack/react-query';
import { api } from '../../api/client';
import type { DecisionDetail, Explanation } from './types';

/**
 * The last 8 characters of a decision id, to tell decisions apart on screen ("Decision 7cd463ee").
 * Not the first: decision ids are UUIDv7, whose first 8 hex digits are the same for every
 * decision made within about a minute.
 */
export function shortId(id: string): string {
  return id.slice(-8);
}

/**
 * One decision with its approval requests and events (GET /api/v1/decisions/:id). `version` is
 * anything that changes when the decision does (the level it waits at, its approval status), so
 * a changed decision is fetched again while an unchanged one comes from the cache.
 */
export function useDecision(id: string | null, version: string | number = 0) {
  return useQuery({
    queryKey: ['decision', id, version],
    queryFn: ({ signal }) => api<DecisionDetail>(`/api/v1/decisions/${encodeURIComponent(id!)}`, { signal }),
    enabled: id !== null,
    staleTime: 60_000,
  });
}

export function useExplanation(id: string | null, version: string | number = 0) {
  return useQuery({
    queryKey: ['explanation', id, version],
    queryFn: ({ signal }) => api<Explanation>(`/api/v1/decisions/${encodeURIComponent(id!)}/explanation`, { signal }),
    enabled: id !== null,
    staleTime: 60_000,
  });
}
