import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from '../../api/client';

/**
 * The override API (src/overrides/routes.ts) and what the view lists beside it: rules
 * (src/rules/routes.ts), plugins (src/plugins/routes.ts) and zones (src/geo/routes.ts).
 */

export type SuspensionKind = 'rule' | 'plugin' | 'zone';

export interface Suspension {
  suspension_id: string;
  kind: SuspensionKind;
  target: string;
  reason: string;
  active: boolean;
  created_by: string;
  created_at: string;
  resumed_by: string | null;
  resumed_at: string | null;
  resume_reason: string | null;
}

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

export interface PluginRow {
  model_id: string;
  vendor: string;
  enabled: boolean;
  current_version: string;
}

export interface ZoneInfo {
  id: string;
  name: string;
  level: string;
  parentId: string | null;
}

interface ZoneCollection {
  features: Array<{ properties: { zone_id: string; name: string; level: string; parent_id: string | null } }>;
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

export function usePlugins() {
  return useQuery({ queryKey: ['overrides', 'plugins'], queryFn: ({ signal }) => api<{ plugins: PluginRow[] }>('/api/v1/plugins', { signal }), refetchInterval: REFRESH_MS });
}

/** Every zone without its geometry (the select and the labels need only names and parents). */
export function useZones() {
  return useQuery({
    queryKey: ['overrides', 'zones'],
    queryFn: async ({ signal }) => {
      const collection = await api<ZoneCollection>('/api/v1/zones', { signal });
      return collection.features.map((f): ZoneInfo => ({ id: f.properties.zone_id, name: f.properties.name, level: f.properties.level, parentId: f.properties.parent_id }));
    },
    staleTime: 5 * 60_000,
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
