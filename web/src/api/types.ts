/**
 * The node's API shapes the dashboard reads, as the server writes them (snake_case). The
 * server's own definitions: src/decisions/types.ts (DecisionView, ActionView),
 * src/brain/state-store.ts (EventView, ResourceState), src/auth/auth-routes.ts (/me).
 * View-specific shapes live beside their view.
 */

/** src/auth/policy.ts PERMISSIONS, as /api/v1/auth/me lists them. */
export type Permission =
  | 'public'
  | 'signed_in'
  | 'monitor'
  | 'respond'
  | 'approve'
  | 'override'
  | 'configure'
  | 'configure_rules'
  | 'audit'
  | 'manage_users'
  | 'manage_tenants';

export interface Me {
  kind: 'user' | 'admin_token';
  user_id?: string;
  username?: string;
  display_name: string | null;
  role: 'super_admin' | 'tenant_admin' | 'operator' | 'authority' | 'citizen';
  level?: number | null;
  level_title?: string | null;
  scope_zone_id?: string | null;
  scope_zone?: { id: string; name: string | null; level: string | null } | null;
  /** "the whole tenant" or "zone X and below". */
  scope: string;
  permissions: Permission[];
}

export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

export interface LatLng {
  latitude: number;
  longitude: number;
}

export interface EventView {
  event_id: string;
  event_type: string | null;
  plugin_id: string | null;
  severity: string | null;
  confidence: number | null;
  ts_ms: number;
  received_at_ms: number | null;
  zone_id: string | null;
  location: LatLng | null;
  decision_ids?: string[];
}

export type ActionStatus = 'PENDING' | 'HELD' | 'SUSPENDED' | 'EXECUTING' | 'COMPLETED' | 'FAILED' | 'CANCELLED';
export type ApprovalStatus = 'NOT_REQUIRED' | 'PENDING' | 'APPROVED' | 'REJECTED' | 'AUTO_APPROVED' | 'AUTO_REJECTED' | 'ESCALATED';

export interface ActionView {
  action_id: string;
  decision_id: string;
  position: number;
  type: string;
  target_system: string | null;
  parameters: Record<string, unknown>;
  status: ActionStatus;
  attempts: number;
  executed_at_ms: number | null;
  result: string | null;
  last_error: string | null;
}

export interface DecisionView {
  decision_id: string;
  event_id: string;
  decision_time_ms: number;
  deciding_layer: string;
  deciding_brain_id: string;
  actions: ActionView[];
  rationale: Record<string, unknown>;
  approval_status: ApprovalStatus;
  approver_id: string | null;
  rule: { kind: string; id: string; name: string; priority: number };
  severity: string | null;
  zone_id: string | null;
  location: LatLng | null;
  event_ids: string[];
  latency_ms: number | null;
}

export interface ResourceState {
  resource_id: string;
  resource_type: string;
  status: string;
  zone_id: string | null;
  location: LatLng | null;
  event_id: string | null;
  updated_at_ms: number;
}

/** What GET /api/v1/stream sends (src/brain/live-stream.ts). */
export type LiveMessage =
  | { kind: 'hello'; node_id: string; filters: unknown }
  | { kind: 'event'; event: EventView }
  | { kind: 'decision'; decision: DecisionView }
  | { kind: 'action'; action: ActionView; zone_id: string | null }
  | { kind: 'dropped'; count: number };
