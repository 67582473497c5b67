import { sql, type Kysely } from 'kysely';

/**
 * Local Brain decisions (seed 001 §3, §10.1): correlation rules, decisions and their actions,
 * approval requests, named logs, the outbox to the parent node, durable timers, aggregation
 * reports, resource status, action targets (actuators and channels), and brain checkpoints.
 *
 * Columns written once per decision and read whole (rationale, parameters, log entries, outbox
 * payloads) are `json`, not `jsonb`: stored as checked text, they cost less to write on the hot
 * path (as for events, see 0001), and `->`/`->>` read them the same.
 *
 * A decision's `dedup_key` is unique per tenant: replaying events after a restart (to rebuild
 * correlation windows and to catch up on events committed just before a crash) can never make
 * the same decision twice.
 */
const STATEMENTS = [
  // A restart replays the events received since the brain's last checkpoint (src/decisions/brain.ts).
  `create index events_received on events using brin (received_at)`,
  `create table rules (
    tenant_id text not null,
    name text not null,
    kind text not null,
    source_text text not null,
    source_file text,
    spec jsonb not null,
    enabled boolean not null default true,
    version integer not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (tenant_id, name)
  )`,
  `create table decisions (
    decision_id text primary key,
    tenant_id text not null,
    dedup_key text not null,
    event_id text not null,
    decision_time timestamptz not null,
    event_received_at timestamptz,
    deciding_layer text not null,
    deciding_node text not null,
    rule_kind text not null,
    rule_id text not null,
    trigger text,
    severity text,
    priority integer not null default 0,
    zone_id text,
    lat double precision,
    lng double precision,
    event_ids jsonb not null,
    rationale json not null,
    approval_status text not null,
    approver_id text,
    status text not null default 'open',
    unique (tenant_id, dedup_key)
  )`,
  `create index decisions_time on decisions (tenant_id, decision_time)`,
  `create index decisions_zone on decisions (tenant_id, zone_id, decision_time)`,
  `create table actions (
    action_id text primary key,
    tenant_id text not null,
    decision_id text not null references decisions(decision_id),
    position integer not null,
    type text not null,
    target_system text,
    parameters json not null default '{}',
    status text not null check (status in ('PENDING','HELD','EXECUTING','COMPLETED','FAILED','CANCELLED')),
    priority integer not null default 0,
    attempts integer not null default 0,
    max_attempts integer not null default 1,
    next_attempt_at timestamptz,
    executed_at timestamptz,
    completed_at timestamptz,
    result text,
    last_error text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
  )`,
  `create index actions_decision on actions (decision_id, position)`,
  `create index actions_due on actions (status, next_attempt_at) where status in ('PENDING','EXECUTING')`,
  `create table action_attempts (
    action_id text not null references actions(action_id),
    attempt integer not null,
    started_at timestamptz not null,
    finished_at timestamptz not null,
    ok boolean not null,
    detail text not null,
    primary key (action_id, attempt)
  )`,
  `create table approval_requests (
    request_id text primary key,
    tenant_id text not null,
    decision_id text not null references decisions(decision_id),
    action_id text not null references actions(action_id),
    target_authority text not null,
    priority text,
    zone_id text,
    status text not null default 'pending',
    summary json not null default '{}',
    deadline_at timestamptz,
    fail_safe_action text,
    created_at timestamptz not null default now(),
    resolved_at timestamptz,
    resolved_by text,
    resolution text,
    notes text
  )`,
  `create index approval_requests_open on approval_requests (tenant_id, status, created_at)`,
  `create table event_logs (
    id bigint generated always as identity primary key,
    tenant_id text not null,
    log_name text not null,
    decision_id text not null,
    event_id text not null,
    logged_at timestamptz not null default now(),
    entry json not null
  )`,
  `create index event_logs_name on event_logs (tenant_id, log_name, id)`,
  `create table outbox (
    id bigint generated always as identity primary key,
    tenant_id text not null,
    message_id text not null unique,
    destination text not null,
    kind text not null,
    payload json not null,
    created_at timestamptz not null default now(),
    delivered_at timestamptz,
    attempts integer not null default 0,
    last_error text
  )`,
  `create index outbox_pending on outbox (destination, id) where delivered_at is null`,
  `create table timers (
    timer_id text primary key,
    tenant_id text not null,
    kind text not null,
    fire_at timestamptz not null,
    payload jsonb not null,
    created_at timestamptz not null default now(),
    fired_at timestamptz,
    cancelled_at timestamptz,
    outcome text
  )`,
  `create index timers_due on timers (fire_at) where fired_at is null and cancelled_at is null`,
  `create table aggregation_reports (
    report_id text primary key,
    tenant_id text not null,
    node_id text not null,
    window_start timestamptz not null,
    window_end timestamptz not null,
    report jsonb not null,
    created_at timestamptz not null default now(),
    unique (tenant_id, node_id, window_start)
  )`,
  `create table resources (
    tenant_id text not null,
    resource_id text not null,
    resource_type text not null,
    status text not null,
    zone_id text,
    lat double precision,
    lng double precision,
    event_id text,
    updated_at timestamptz not null,
    primary key (tenant_id, resource_id)
  )`,
  `create table action_targets (
    tenant_id text not null,
    name text not null,
    kind text not null check (kind in ('webhook','mqtt')),
    url text,
    topic text,
    headers jsonb not null default '{}',
    timeout_ms integer not null default 5000,
    max_attempts integer not null default 5,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (tenant_id, name)
  )`,
  `create table brain_state (
    tenant_id text not null,
    name text not null,
    value jsonb not null,
    updated_at timestamptz not null default now(),
    primary key (tenant_id, name)
  )`,
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of STATEMENTS) await sql.raw(statement).execute(db);
}
