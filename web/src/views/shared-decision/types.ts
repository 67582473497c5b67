/**
 * API shapes the approvals and history views read. The queue item and the explanation are the
 * server's own types (re-exported); the routes below build their answers inline, with dates that
 * become ISO text in JSON, so their shapes are written here: src/decisions/routes.ts
 * (GET /api/v1/decisions/:id), src/brain/query-routes.ts (GET /api/v1/events rows).
 */
import type { DecisionView, ActionView } from '../../api/types';
export type { PendingApproval, Explanation } from '../../api/types';

export interface ApprovalRequestRow {
  request_id: string;
  target_authority: string;
  approval_type: string | null;
  level: number;
  escalations: number;
  priority: string | null;
  status: string;
  deadline_at: string | null;
  fail_safe_action: string | null;
  created_at: string;
  resolved_at: string | null;
  resolved_by: string | null;
  resolution: string | null;
  notes: string | null;
}

export interface StoredEvent {
  event_id: string;
  plugin_id: string;
  event_type: string;
  severity: string | null;
  confidence: number | null;
  timestamp: string;
  zone_id: string | null;
  location: { latitude: number; longitude: number } | null;
  payload: Record<string, unknown>;
}

/** GET /api/v1/decisions/:id — the decision with its approval requests and events. */
export interface DecisionDetail extends DecisionView {
  actions: Array<ActionView & { attempts_log: Array<{ attempt: number; finished_at: string; ok: boolean; detail: string }> }>;
  approval_requests: ApprovalRequestRow[];
  events: StoredEvent[];
}

/** A row of GET /api/v1/events (the stored event; the live stream's EventView is smaller). */
export interface EventRow extends StoredEvent {
  seq: string;
  plugin_version: string;
  received_at: string | null;
}

