import { useQuery } from '@tanstack/react-query';
import { api } from './client';
import type { PluginSummary } from './types';

/** The registered plugins (GET /api/v1/plugins), one query for every view that lists them. */
export function usePlugins() {
  return useQuery({ queryKey: ['plugins'], queryFn: ({ signal }) => api<{ plugins: PluginSummary[] }>('/api/v1/plugins', { signal }), refetchInterval: 10_000 });
}
