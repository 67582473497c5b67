import type { ColumnType, Generated } from 'kysely';

/** Timestamps are written as Date or ISO text and read back as Date. */
type Timestamp = ColumnType<Date, Date | string, Date | string>;
/** A timestamp the database fills in by default (now()). */
type DefaultTimestamp = ColumnType<Date, Date | string | undefined, Date | string>;
/** jsonb columns: written as JSON text (pg and PGlite agree on that), read back parsed. */
type Json<T = unknown> = ColumnType<T, string, string>;

export interface NodeSecretsTable {
  name: string;
  value: string;
  created_at: DefaultTimestamp;
}

export interface TenantsTable {
  id: string;
  name: string;
  created_at: DefaultTimestamp;
}

export interface ZonesTable {
  tenant_id: string;
  id: string;
  name: string;
  level: string;
  parent_id: string | null;
  geometry: Json | null;
  properties: Json<Record<string, unknown>>;
}

/** A tenant's road file (migration 0004), as posted. */
export interface RoadNetworksTable {
  tenant_id: string;
  geojson: Json;
  updated_at: DefaultTimestamp;
}

export interface PluginsTable {
  tenant_id: string;
  model_id: string;
  vendor: string;
  api_key_hash: string;
  api_key_prefix: string;
  enabled: boolean;
  current_version: string;
  created_at: DefaultTimestamp;
  updated_at: DefaultTimestamp;
  /** CIDRs or addresses the key may be used from; empty = anywhere. */
  allowed_sources: ColumnType<string[], string | undefined, string>;
  key_rotated_at: Timestamp | null;
}

export interface PluginVersionsTable {
  tenant_id: string;
  model_id: string;
  version: string;
  event_type: string;
  manifest: Json<Record<string, unknown>>;
  output_schema: Json<Record<string, unknown>>;
  action_definitions: Json<unknown[]>;
  json_schema: Json<Record<string, unknown>>;
  personal_paths: Json<string[][]>;
  enabled: boolean;
  created_at: DefaultTimestamp;
}

export interface EventsTable {
  seq: Generated<string>;
  tenant_id: string;
  event_id: string;
  plugin_id: string;
  plugin_version: string;
  event_type: string;
  severity: string | null;
  confidence: number | null;
  ts: Timestamp;
  received_at: Timestamp;
  zone_id: string | null;
  lat: number | null;
  lng: number | null;
  payload: Json<Record<string, unknown>>;
}

export interface DeadLettersTable {
  id: Generated<string>;
  tenant_id: string;
  received_at: DefaultTimestamp;
  source: string;
  plugin_id: string | null;
  remote: string | null;
  content_type: string | null;
  code: string;
  reason: string;
  details: Json<Record<string, unknown>>;
  payload: Buffer | null;
  payload_size: number;
  truncated: boolean;
}

export interface RulesTable {
  tenant_id: string;
  name: string;
  kind: string;
  source_text: string;
  source_file: string | null;
  spec: Json<Record<string, unknown>>;
  enabled: ColumnType<boolean, boolean | undefined, boolean>;
  version: ColumnType<number, number | undefined, number>;
  created_at: DefaultTimestamp;
  updated_at: DefaultTimestamp;
}

export interface DecisionsTable {
  decision_id: string;
  tenant_id: string;
  dedup_key: string;
  event_id: string;
  decision_time: Timestamp;
  event_received_at: Timestamp | null;
  deciding_layer: string;
  deciding_node: string;
  rule_kind: string;
  rule_id: string;
  trigger: string | null;
  severity: string | null;
  priority: number;
  zone_id: string | null;
  lat: number | null;
  lng: number | null;
  event_ids: Json<string[]>;
  rationale: Json<Record<string, unknown>>;
  approval_status: string;
  approver_id: string | null;
  status: ColumnType<string, string | undefined, string>;
}

export interface ActionsTable {
  action_id: string;
  tenant_id: string;
  decision_id: string;
  position: number;
  type: string;
  target_system: string | null;
  parameters: Json<Record<string, unknown>>;
  status: string;
  priority: number;
  attempts: number;
  max_attempts: number;
  next_attempt_at: Timestamp | null;
  executed_at: Timestamp | null;
  completed_at: Timestamp | null;
  result: string | null;
  last_error: string | null;
  created_at: DefaultTimestamp;
  updated_at: DefaultTimestamp;
}

export interface ActionAttemptsTable {
  action_id: string;
  attempt: number;
  started_at: Timestamp;
  finished_at: Timestamp;
  ok: boolean;
  detail: string;
}

export interface ApprovalRequestsTable {
  request_id: string;
  tenant_id: string;
  decision_id: string;
  action_id: string;
  target_authority: string;
  priority: string | null;
  zone_id: string | null;
  status: ColumnType<string, string | undefined, string>;
  summary: Json<Record<string, unknown>>;
  deadline_at: Timestamp | null;
  fail_safe_action: string | null;
  created_at: DefaultTimestamp;
  resolved_at: Timestamp | null;
  resolved_by: string | null;
  resolution: string | null;
  notes: string | null;
  /** The authority level that must act now (1–5); escalation raises it. */
  level: ColumnType<number, number | undefined, number>;
  approval_type: string | null;
  escalations: ColumnType<number, number | undefined, number>;
}

export interface EventLogsTable {
  id: Generated<string>;
  tenant_id: string;
  log_name: string;
  decision_id: string;
  event_id: string;
  logged_at: DefaultTimestamp;
  entry: Json<Record<string, unknown>>;
}

export interface OutboxTable {
  id: Generated<string>;
  tenant_id: string;
  message_id: string;
  destination: string;
  kind: string;
  payload: Json<Record<string, unknown>>;
  created_at: DefaultTimestamp;
  delivered_at: Timestamp | null;
  attempts: ColumnType<number, number | undefined, number>;
  last_error: string | null;
}

/** One message a source node sent over a link, remembered when applied (migration 0005). */
export interface LinkInboxTable {
  tenant_id: string;
  source_node: string;
  message_id: string;
  kind: string;
  /** The sender's sequence number (its outbox id): informative, ids decide. bigint, read as text. */
  seq: ColumnType<string | null, number | string | null, number | string | null>;
  received_at: DefaultTimestamp;
}

/** Per source node: the highest sequence applied and counters (migration 0005). */
export interface LinkInboxSourcesTable {
  tenant_id: string;
  source_node: string;
  high_seq: ColumnType<string | null, number | string | null, number | string | null>;
  applied: ColumnType<string, number | string | undefined, number | string>;
  duplicates: ColumnType<string, number | string | undefined, number | string>;
  out_of_order: ColumnType<string, number | string | undefined, number | string>;
  first_received_at: DefaultTimestamp;
  last_received_at: DefaultTimestamp;
}

export interface TimersTable {
  timer_id: string;
  tenant_id: string;
  kind: string;
  fire_at: Timestamp;
  payload: Json<Record<string, unknown>>;
  created_at: DefaultTimestamp;
  fired_at: Timestamp | null;
  cancelled_at: Timestamp | null;
  outcome: string | null;
}

export interface AggregationReportsTable {
  report_id: string;
  tenant_id: string;
  node_id: string;
  window_start: Timestamp;
  window_end: Timestamp;
  report: Json<Record<string, unknown>>;
  created_at: DefaultTimestamp;
}

export interface ResourcesTable {
  tenant_id: string;
  resource_id: string;
  resource_type: string;
  status: string;
  zone_id: string | null;
  lat: number | null;
  lng: number | null;
  event_id: string | null;
  updated_at: Timestamp;
}

export interface ActionTargetsTable {
  tenant_id: string;
  name: string;
  kind: string;
  url: string | null;
  topic: string | null;
  headers: Json<Record<string, string>>;
  timeout_ms: number;
  max_attempts: number;
  created_at: DefaultTimestamp;
  updated_at: DefaultTimestamp;
}

export interface BrainStateTable {
  tenant_id: string;
  name: string;
  value: Json<unknown>;
  updated_at: DefaultTimestamp;
}

export type UserRole = 'super_admin' | 'tenant_admin' | 'operator' | 'authority' | 'citizen';

export interface UsersTable {
  user_id: string;
  tenant_id: string;
  username: string | null;
  phone: string | null;
  display_name: string;
  role: UserRole;
  level: number | null;
  scope_zone_id: string | null;
  password_hash: string | null;
  failed_logins: ColumnType<number, number | undefined, number>;
  locked_until: Timestamp | null;
  disabled_at: Timestamp | null;
  created_at: DefaultTimestamp;
  updated_at: DefaultTimestamp;
}

export interface RefreshTokensTable {
  token_id: string;
  family_id: string;
  tenant_id: string;
  user_id: string;
  token_hash: string;
  issued_at: DefaultTimestamp;
  expires_at: Timestamp;
  used_at: Timestamp | null;
  revoked_at: Timestamp | null;
  revoked_reason: string | null;
}

export interface OtpCodesTable {
  otp_id: string;
  tenant_id: string;
  phone: string;
  code_hash: string;
  created_at: DefaultTimestamp;
  expires_at: Timestamp;
  attempts: ColumnType<number, number | undefined, number>;
  used_at: Timestamp | null;
}

export interface NotificationsTable {
  id: Generated<string>;
  tenant_id: string;
  channel: string;
  recipient: string;
  subject: string | null;
  body: string;
  created_at: DefaultTimestamp;
  sent_at: Timestamp | null;
  provider: string | null;
  attempts: ColumnType<number, number | undefined, number>;
  last_error: string | null;
}

export interface DevicesTable {
  tenant_id: string;
  device_id: string;
  name: string;
  zone_id: string | null;
  /** The plugin whose events the device may publish (its schema); null = commands only. */
  plugin_id: string | null;
  api_key_hash: string;
  api_key_prefix: string;
  allowed_sources: ColumnType<string[], string | undefined, string>;
  created_at: DefaultTimestamp;
  rotated_at: Timestamp | null;
  revoked_at: Timestamp | null;
}

export interface AuditLogTable {
  id: Generated<string>;
  tenant_id: string;
  at: DefaultTimestamp;
  actor_kind: string;
  actor_id: string;
  action: string;
  target_kind: string | null;
  target_id: string | null;
  zone_id: string | null;
  outcome: ColumnType<string, string | undefined, string>;
  remote: string | null;
  details: Json<Record<string, unknown>>;
}

export interface SuspensionsTable {
  suspension_id: string;
  tenant_id: string;
  kind: 'rule' | 'plugin' | 'zone';
  target: string;
  reason: string;
  created_by: string;
  created_at: DefaultTimestamp;
  resumed_by: string | null;
  resumed_at: Timestamp | null;
  resume_reason: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface ApprovalHistoryTable {
  id: Generated<string>;
  tenant_id: string;
  request_id: string;
  decision_id: string;
  at: DefaultTimestamp;
  actor_id: string;
  actor_level: number | null;
  action: string;
  from_level: number | null;
  to_level: number | null;
  notes: string | null;
}

export interface FeedbackTable {
  id: Generated<string>;
  tenant_id: string;
  plugin_id: string;
  plugin_version: string | null;
  decision_id: string;
  event_id: string;
  features: Json<Record<string, unknown>>;
  recommended_action: string | null;
  human_decision: string;
  label_source: string;
  approver_id: string;
  notes: string | null;
  created_at: DefaultTimestamp;
}

/** A node this node links with: its parent, a child or a peer (migration 0006). */
export interface HierarchyNodesTable {
  tenant_id: string;
  node_id: string;
  relation: 'parent' | 'child' | 'peer';
  role: string;
  zone_id: string | null;
  url: string | null;
  /** The node's Ed25519 public key as a JWK. */
  public_key: Json<Record<string, unknown>>;
  enrolled_at: DefaultTimestamp;
  updated_at: DefaultTimestamp;
  revoked_at: Timestamp | null;
}

export interface EnrolmentTokensTable {
  token_hash: string;
  tenant_id: string;
  node_id: string;
  role: string;
  zone_id: string | null;
  created_by: string;
  created_at: DefaultTimestamp;
  expires_at: Timestamp;
  used_at: Timestamp | null;
}

export interface ChildReportsTable {
  tenant_id: string;
  source_node: string;
  report_id: string;
  window_start: Timestamp;
  window_end: Timestamp;
  revision: ColumnType<number, number | undefined, number>;
  report: Json<Record<string, unknown>>;
  received_at: DefaultTimestamp;
}

export interface LayerEscalationsTable {
  tenant_id: string;
  source_node: string;
  incident_id: string;
  message_id: string;
  severity: string | null;
  payload: Json<Record<string, unknown>>;
  received_at: DefaultTimestamp;
  decision_id: string | null;
}

export interface DirectivesTable {
  directive_id: string;
  tenant_id: string;
  origin_node: string;
  /** The parent it came from; null when issued at this node. */
  received_from: string | null;
  name: string;
  scope_zone_id: string | null;
  payload: Json<Record<string, unknown>>;
  issued_at: Timestamp;
  received_at: DefaultTimestamp;
  /** The decision that executed it here, when this node executed it. */
  decision_id: string | null;
}

export interface DirectiveStatusTable {
  tenant_id: string;
  directive_id: string;
  node_id: string;
  parent_node: string | null;
  role: string | null;
  zone_id: string | null;
  status: string;
  detail: Json<Record<string, unknown>> | null;
  updated_at: DefaultTimestamp;
}

export interface PeerMessagesTable {
  message_id: string;
  tenant_id: string;
  peer_node: string;
  direction: 'in' | 'out';
  kind: string;
  in_reply_to: string | null;
  payload: Json<Record<string, unknown>>;
  created_at: DefaultTimestamp;
}

export interface EocIncidentsTable {
  incident_id: string;
  tenant_id: string;
  kind: string;
  severity: string;
  status: 'active' | 'closed';
  activated_by: string;
  activated_at: DefaultTimestamp;
  closed_at: Timestamp | null;
  details: Json<Record<string, unknown>>;
}

/** An executor of the compute network and its key (migration 0007). */
export interface ExecutorKeysTable {
  tenant_id: string;
  executor_id: string;
  name: string;
  key_hash: string;
  key_prefix: string;
  public_key: Json<Record<string, unknown>> | null;
  created_by: string;
  created_at: DefaultTimestamp;
  revoked_at: Timestamp | null;
}

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface JobsTable {
  job_id: string;
  tenant_id: string;
  client_id: string;
  kind: string | null;
  wasm_ref: string | null;
  input_ref: string;
  needs: Json<Record<string, unknown>>;
  priority: string;
  deadline_at: Timestamp | null;
  timeout_ms: number;
  max_attempts: number;
  attempts: ColumnType<number, number | undefined, number>;
  status: JobStatus;
  executor_id: string | null;
  progress: ColumnType<number, number | undefined, number>;
  result_ref: string | null;
  result_signature: string | null;
  error: string | null;
  parent_job_id: string | null;
  part_index: number | null;
  parts: number | null;
  created_at: DefaultTimestamp;
  assigned_at: Timestamp | null;
  finished_at: Timestamp | null;
  updated_at: DefaultTimestamp;
}

/** A blob of the data store's small tier (migration 0008; src/compute/db-blob-store.ts). */
export interface SmallBlobsTable {
  ref: string;
  size: number;
  media_type: string;
  data: Buffer;
  created_at: Timestamp;
  last_used_at: Timestamp;
}

export interface Database {
  node_secrets: NodeSecretsTable;
  tenants: TenantsTable;
  zones: ZonesTable;
  road_networks: RoadNetworksTable;
  plugins: PluginsTable;
  plugin_versions: PluginVersionsTable;
  events: EventsTable;
  dead_letters: DeadLettersTable;
  rules: RulesTable;
  decisions: DecisionsTable;
  actions: ActionsTable;
  action_attempts: ActionAttemptsTable;
  approval_requests: ApprovalRequestsTable;
  event_logs: EventLogsTable;
  outbox: OutboxTable;
  link_inbox: LinkInboxTable;
  link_inbox_sources: LinkInboxSourcesTable;
  hierarchy_nodes: HierarchyNodesTable;
  enrolment_tokens: EnrolmentTokensTable;
  child_reports: ChildReportsTable;
  layer_escalations: LayerEscalationsTable;
  directives: DirectivesTable;
  directive_status: DirectiveStatusTable;
  peer_messages: PeerMessagesTable;
  eoc_incidents: EocIncidentsTable;
  executor_keys: ExecutorKeysTable;
  jobs: JobsTable;
  small_blobs: SmallBlobsTable;
  timers: TimersTable;
  aggregation_reports: AggregationReportsTable;
  resources: ResourcesTable;
  action_targets: ActionTargetsTable;
  brain_state: BrainStateTable;
  users: UsersTable;
  refresh_tokens: RefreshTokensTable;
  otp_codes: OtpCodesTable;
  notifications: NotificationsTable;
  devices: DevicesTable;
  audit_log: AuditLogTable;
  suspensions: SuspensionsTable;
  approval_history: ApprovalHistoryTable;
  feedback: FeedbackTable;
}
