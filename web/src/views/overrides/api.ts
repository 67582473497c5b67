import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from '../../api/client';
import type { SuspensionView } from '../../api/types';

/**
 * The override API (src/overrides/routes.ts) and what the view lists beside it: rules
 * (src/rules/routes.ts), plugins (src/plugins/routes.ts) and zones (src/geo/routes.ts).
 */

/** Suspensions are the server's own view (src/overrides/suspensions.ts). */
export type Suspension = SuspensionView;
export type SuspensionKind = SuspensionView['kind'];

export interface CorrelationRule {
  name: string;
  kind: string;
  description?: string | null;
  enabled: boolean;
}

/** A plugin's action definition; its id (`plugin:{model}@{version}#{i}`) is what a rule suspension names. */
export interface ActionTrigger {
  id: string;
  plugin_id: string;
  plugin_version: string;
  trigger: string;
  condition: string | null;
}

const REFRESH_MS = 10_000;
const OVERRIDES_KEY = ['overrides', 'list'];

export function useOverrides() {
  return useQuery({ queryKey: OVERRIDES_KEY, queryFn: ({ signal }) => api<{ active: Suspension[]; recent: Suspension[] }>('/api/v1/overrides', { signal }), refetchInterval: REFRESH_MS });
}

export function useRules() {
  return useQuery({
    queryKey: ['overrides', 'rules'],
    queryFn: ({ signal }) => api<{ rules: CorrelationRule[]; action_triggers: ActionTrigger[] }>('/api/v1/rules', { signal }),
    refetchInterval: REFRESH_MS,
  });
}

export interface OverrideRequest {
  verb: 'suspend' | 'resume';
  kind: SuspensionKind;
  target: string;
  reason?: string;
  /** How the view names the target ("zone Teynampet"), for the outcome message; not sent. */
  what: string;
}

export interface OverrideResult {
  suspension: Suspension;
  actions_held?: number;
  actions_released?: number;
  actions_still_held?: number;
}

/** POST /api/v1/overrides/suspend or /resume; the list is read again after each change. */
export function useOverrideChange() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ verb, kind, target, reason }: OverrideRequest) =>
      api<OverrideResult>(`/api/v1/overrides/${verb}`, { method: 'POST', body: { kind, target, ...(reason ? { reason } : {}) } }),
    onSettled: () => client.invalidateQueries({ queryKey: OVERRIDES_KEY }),
  });
}
