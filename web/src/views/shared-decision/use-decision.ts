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
 * One decision with its approval requests and events (GET /api/v1/decisions/:id). Views that
 * show it invalidate `['decision', id]` when the live stream says it changed.
 */
export function useDecision(id: string | null) {
  return useQuery({
    queryKey: ['decision', id],
    queryFn: ({ signal }) => api<DecisionDetail>(`/api/v1/decisions/${encodeURIComponent(id!)}`, { signal }),
    enabled: id !== null,
    staleTime: 60_000,
  });
}

export function useExplanation(id: string | null) {
  return useQuery({
    queryKey: ['explanation', id],
    queryFn: ({ signal }) => api<Explanation>(`/api/v1/decisions/${encodeURIComponent(id!)}/explanation`, { signal }),
    enabled: id !== null,
    staleTime: 60_000,
  });
}
