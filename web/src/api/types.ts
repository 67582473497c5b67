/**
 * The node's API shapes the dashboard reads. Where the server names the JSON it writes, the
 * dashboard imports that type (type-only: nothing of the server is bundled, and a change on
 * either side fails `tsc -p web`). View-specific shapes live beside their view.
 */
export type { Permission } from '../../../src/auth/policy.js';
export type { ActionStatus, ActionView, ApprovalStatus, DecisionView } from '../../../src/decisions/types.js';
export type { EventView, ResourceState } from '../../../src/brain/state-store.js';
export type { PendingApproval } from '../../../src/approvals/queue.js';
export type { Explanation } from '../../../src/approvals/explanation.js';
export type { RenderedComparison } from '../../../src/approvals/condition-text.js';
export type { SuspensionView } from '../../../src/overrides/suspensions.js';
export type { PluginSummary } from '../../../src/plugins/registry.js';
export type { Topology, TopologyChild, TopologyLink } from '../../../src/hierarchy/topology-types.js';
// The one severity scale, shared with the node (a few lines of plain code, bundled).
export { SEVERITY_LEVELS as SEVERITIES, severityRank, type SeverityLevel as Severity } from '../../../src/events/severity.js';

import type { Permission } from '../../../src/auth/policy.js';
import type { ActionView, DecisionView } from '../../../src/decisions/types.js';
import type { EventView } from '../../../src/brain/state-store.js';

/** GET /api/v1/auth/me (src/auth/auth-routes.ts). */
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

export interface LatLng {
  latitude: number;
  longitude: number;
}

/** What GET /api/v1/stream sends (src/brain/live-stream.ts). */
export type LiveMessage =
  | { kind: 'hello'; node_id: string; filters: unknown }
  | { kind: 'event'; event: EventView }
  | { kind: 'decision'; decision: DecisionView }
  | { kind: 'action'; action: ActionView; zone_id: string | null }
  | { kind: 'dropped'; count: number };
