import type { PoolUpdate } from '../compute/broker.js';

/**
 * The shapes that flow from ingestion to decisions (DESIGN.md "Data flow of a Local Brain"):
 *
 *   prepareBatch screens each accepted event against the loaded rules (in the ingest worker or
 *   inline) → ScreenedEvent, only for events some rule cares about
 *   → action triggers (stateless) and the CEP engine (windows, on the main thread) → RuleMatch
 *   → DecisionEngine prioritises matches and stores a Decision with its Actions
 *   → actions run; every change is published on the BrainBus (live stream, state store).
 *
 * Everything here is plain data: it crosses the worker boundary and goes into JSON columns.
 */

/** An accepted event as the brain sees it: the envelope, not the payload. */
export interface EventSummary {
  eventId: string;
  pluginId: string;
  pluginVersion: string;
  eventType: string;
  severity: string | null;
  confidence: number | null;
  /** Event time (the plugin's timestamp, else received time), Unix ms. */
  tsMs: number;
  receivedAtMs: number;
  zoneId: string | null;
  lat: number | null;
  lng: number | null;
}

/** One of the plugin version's action_definitions (seed 001 §2.2 step 3) whose condition held. */
export interface TriggerHit {
  /** Index into the plugin version's action_definitions. */
  definition: number;
  /** Values of the fields the condition read, for the rationale. */
  values: Record<string, unknown>;
}

/** The event fits role `role` of correlation rule `rule` (its type, source and condition held). */
export interface RoleHit {
  rule: string;
  role: number;
  /** Values of the fields the role's condition read and of the rule's match_on keys. */
  values: Record<string, unknown>;
}

/** An event with the rules it is relevant to. */
export interface ScreenedEvent extends EventSummary {
  triggers: TriggerHit[];
  roles: RoleHit[];
  /** Set for `resource_status` events: the resource picture of the state store. */
  resource?: ResourceUpdate;
}

export interface ResourceUpdate {
  resourceId: string;
  resourceType: string;
  status: string;
}

/** `escalation` and `directive`: decisions a layer makes on what its children escalate and its parent directs (src/hierarchy). */
export type RuleKind = 'action_trigger' | 'correlation' | 'sequence' | 'count' | 'absence' | 'escalation' | 'directive';

/** One local action as written in a rule or action definition, e.g. { type: 'log_event', database: 'violations_db' }. */
export interface ActionSpec {
  type: string;
  [key: string]: unknown;
}

/** What a rule asks for when it holds: the input to the decision engine. */
export interface RuleMatch {
  kind: RuleKind;
  /** Stable rule id: `plugin:{model_id}@{version}#{index}` for action triggers, the rule name for correlation rules. */
  ruleId: string;
  /** Human label: the trigger name (`speeding_detected`) or the rule name. */
  ruleName: string;
  /** Higher runs first among simultaneous matches. */
  rulePriority: number;
  /** Unique per decision to be made: replays after a restart make no second decision. */
  dedupKey: string;
  /** The event the decision refers to (seed §10.1 Decision.event_id): the trigger event. */
  triggerEventId: string;
  /** Every event that took part, trigger first, with the role each played. */
  events: Array<EventSummary & { role: string }>;
  /** Condition text(s) and the values they read. */
  conditions: Array<{ role: string; source: string; values: Record<string, unknown> }>;
  severity: string | null;
  zoneId: string | null;
  lat: number | null;
  lng: number | null;
  actions: ActionSpec[];
  /** Action-trigger escalation rules (seed §2.2 step 3), e.g. { condition: 'no_officer_response_within_30_minutes', action: 'auto_approve_fine' }. */
  escalationRules: Array<{ condition: string; action: string }>;
  /** Why, in one sentence, for people: "speeding_detected: severity >= 'medium' AND confidence_score > 0.85 held (severity=high, confidence_score=0.9)". */
  explanation: string;
  /** When the match was found (Unix ms). */
  matchedAtMs: number;
}

export type ActionStatus = 'PENDING' | 'HELD' | 'SUSPENDED' | 'EXECUTING' | 'COMPLETED' | 'FAILED' | 'CANCELLED';
export type ApprovalStatus = 'NOT_REQUIRED' | 'PENDING' | 'APPROVED' | 'REJECTED' | 'AUTO_APPROVED' | 'AUTO_REJECTED' | 'ESCALATED';

/** Seed 001 §10.1 Action, in the API's snake_case. */
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

/** Seed 001 §10.1 Decision, in the API's snake_case, with what the engine adds. */
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
  rule: { kind: RuleKind; id: string; name: string; priority: number };
  severity: string | null;
  zone_id: string | null;
  location: { latitude: number; longitude: number } | null;
  event_ids: string[];
  /** Milliseconds from the trigger event's receipt to this decision. */
  latency_ms: number | null;
}

/** What the brain publishes as it works (to the live stream and the state store). */
export type BrainUpdate =
  | { kind: 'event'; event: EventSummary }
  | { kind: 'decision'; decision: DecisionView }
  | { kind: 'action'; action: ActionView; zone_id: string | null }
  /** The compute network: executors joining and leaving, jobs changing (src/compute/broker.ts). */
  | { kind: 'pool'; update: PoolUpdate };
