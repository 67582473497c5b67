/**
 * API shapes the approvals and history views read, as the node writes them (snake_case).
 * The server's own definitions: src/approvals/queue.ts (PendingApproval),
 * src/decisions/routes.ts (GET /api/v1/decisions/:id), src/approvals/explanation.ts (Explanation),
 * src/brain/query-routes.ts (GET /api/v1/events rows).
 */
import type { DecisionView, ActionView } from '../../api/types';

/** One item of GET /api/v1/authority/pending-approvals, in the node's priority order. */
export interface PendingApproval {
  decision_id: string;
  request_id: string;
  event_id: string;
  event_summary: string;
  evidence_urls: string[];
  recommended_action: string | null;
  severity: string | null;
  priority: string | null;
  zone_id: string | null;
  level: number;
  approval_type: string;
  created_at: string;
  deadline_at: string | null;
  /** Seconds left when the node answered (0 once due); counted down from the fetch time. */
  seconds_to_deadline: number | null;
  fail_safe_action: string | null;
}

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

export interface Comparison {
  text: string;
  holds: boolean;
}

/** GET /api/v1/decisions/:id/explanation (seed 001 §13.2). */
export interface Explanation {
  decision: { decision_id: string; decision_time: string; deciding_layer: string; deciding_node: string; severity: string | null; zone_id: string | null; status: string; approval_status: string };
  events: Array<{ event_id: string; plugin_id: string; plugin_version: string; event_type: string; time: string; zone_id: string | null; severity: string | null; confidence: number | null; payload: unknown }>;
  rule: { kind: string; id: string; trigger: string; condition: string | null; source_text: string | null };
  conditions: Array<{ role: string; source: string; values: Record<string, unknown>; text: string[]; comparisons: Comparison[] }>;
  actions: Array<{
    action_id: string;
    position: number;
    type: string;
    target: string | null;
    status: string;
    attempts: number;
    result: string | null;
    last_error: string | null;
    executed_at: string | null;
    attempts_log: Array<{ attempt: number; finished_at: string; ok: boolean; detail: string }>;
  }>;
  approval: {
    request_id: string;
    status: string;
    level: number;
    approval_type: string;
    requested_at: string;
    deadline: string | null;
    fail_safe_action: string | null;
    history: Array<{ at: string; actor_id: string; actor_level: number | null; action: string; from_level: number | null; to_level: number | null; notes: string | null }>;
    approved_by: string | null;
    approved_at: string | null;
    rejected_by: string | null;
    rejected_at: string | null;
    notes: string | null;
  } | null;
  narrative: string;
}
