import { sql, type Kysely } from 'kysely';

/**
 * Authorities and human-in-the-loop (seed 001 §8, §11.2, §13; seed 004 §4): users with roles,
 * levels and zone scopes; refresh-token families; one-time codes and the notification outbox
 * that carries them; device keys; the append-only audit log; suspensions (manual override);
 * the approval history and labelled feedback for retraining.
 *
 * The audit log is append-only in the database itself: a trigger refuses UPDATE and DELETE, so
 * no code path (or operator with SQL access through the node's role) can rewrite history.
 */
const STATEMENTS = [
  `create table users (
    user_id text primary key,
    tenant_id text not null references tenants(id),
    username text,
    phone text,
    display_name text not null,
    role text not null check (role in ('super_admin','tenant_admin','operator','authority','citizen')),
    level integer check (level between 1 and 5),
    scope_zone_id text,
    password_hash text,
    failed_logins integer not null default 0,
    locked_until timestamptz,
    disabled_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    check ((role = 'authority') = (level is not null))
  )`,
  `create unique index users_username on users (tenant_id, lower(username)) where username is not null`,
  `create unique index users_phone on users (tenant_id, phone) where phone is not null`,
  `create table refresh_tokens (
    token_id text primary key,
    family_id text not null,
    tenant_id text not null,
    user_id text not null references users(user_id),
    token_hash text not null unique,
    issued_at timestamptz not null default now(),
    expires_at timestamptz not null,
    used_at timestamptz,
    revoked_at timestamptz,
    revoked_reason text
  )`,
  `create index refresh_tokens_family on refresh_tokens (family_id)`,
  `create index refresh_tokens_user on refresh_tokens (user_id) where revoked_at is null`,
  `create table otp_codes (
    otp_id text primary key,
    tenant_id text not null,
    phone text not null,
    code_hash text not null,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    attempts integer not null default 0,
    used_at timestamptz
  )`,
  `create index otp_codes_phone on otp_codes (tenant_id, phone, created_at)`,
  `create table notifications (
    id bigint generated always as identity primary key,
    tenant_id text not null,
    channel text not null,
    recipient text not null,
    subject text,
    body text not null,
    created_at timestamptz not null default now(),
    sent_at timestamptz,
    provider text,
    attempts integer not null default 0,
    last_error text
  )`,
  `create index notifications_pending on notifications (channel, id) where sent_at is null`,
  `create table devices (
    tenant_id text not null references tenants(id),
    device_id text not null,
    name text not null,
    zone_id text,
    plugin_id text,
    api_key_hash text not null,
    api_key_prefix text not null,
    allowed_sources jsonb not null default '[]',
    created_at timestamptz not null default now(),
    rotated_at timestamptz,
    revoked_at timestamptz,
    primary key (tenant_id, device_id)
  )`,
  `alter table plugins add column allowed_sources jsonb not null default '[]'`,
  `alter table plugins add column key_rotated_at timestamptz`,
  `create table audit_log (
    id bigint generated always as identity primary key,
    tenant_id text not null,
    at timestamptz not null default now(),
    actor_kind text not null,
    actor_id text not null,
    action text not null,
    target_kind text,
    target_id text,
    zone_id text,
    outcome text not null default 'ok',
    remote text,
    details json not null default '{}'
  )`,
  `create index audit_log_time on audit_log (tenant_id, id)`,
  `create index audit_log_target on audit_log (tenant_id, target_kind, target_id)`,
  `create function audit_log_append_only() returns trigger language plpgsql as $$
    begin
      raise exception 'audit_log is append-only';
    end
  $$`,
  `create trigger audit_log_no_rewrite before update or delete on audit_log
    for each row execute function audit_log_append_only()`,
  `create table suspensions (
    suspension_id text primary key,
    tenant_id text not null,
    kind text not null check (kind in ('rule','plugin','zone')),
    target text not null,
    reason text not null,
    created_by text not null,
    created_at timestamptz not null default now(),
    resumed_by text,
    resumed_at timestamptz
  )`,
  `create unique index suspensions_active on suspensions (tenant_id, kind, target) where resumed_at is null`,
  // Actions of a suspended rule, plugin or zone wait in SUSPENDED until it is resumed.
  `alter table actions drop constraint actions_status_check`,
  `alter table actions add constraint actions_status_check
    check (status in ('PENDING','HELD','SUSPENDED','EXECUTING','COMPLETED','FAILED','CANCELLED'))`,
  // Approvals: the level that must act now (escalation raises it) and the approval type.
  `alter table approval_requests add column level integer not null default 1`,
  `alter table approval_requests add column approval_type text`,
  `alter table approval_requests add column escalations integer not null default 0`,
  `create index approval_requests_queue on approval_requests (tenant_id, level, status) where status = 'pending'`,
  `create table approval_history (
    id bigint generated always as identity primary key,
    tenant_id text not null,
    request_id text not null,
    decision_id text not null,
    at timestamptz not null default now(),
    actor_id text not null,
    actor_level integer,
    action text not null,
    from_level integer,
    to_level integer,
    notes text
  )`,
  `create index approval_history_decision on approval_history (decision_id, id)`,
  `create table feedback (
    id bigint generated always as identity primary key,
    tenant_id text not null,
    plugin_id text not null,
    plugin_version text,
    decision_id text not null,
    event_id text not null,
    features json not null,
    recommended_action text,
    human_decision text not null,
    label_source text not null,
    approver_id text not null,
    notes text,
    created_at timestamptz not null default now()
  )`,
  `create index feedback_plugin on feedback (tenant_id, plugin_id, id)`,
  // Overrides: why a suspension was lifted; resuming finds the actions it held without
  // scanning every action ever made.
  `alter table suspensions add column resume_reason text`,
  `create index suspensions_recent on suspensions (tenant_id, created_at)`,
  `create index actions_suspended on actions (tenant_id) where status = 'SUSPENDED'`,
  // Approvals: an answer cancels its request's open fail-safe timers (without scanning every
  // timer ever set) and finds the request by its decision.
  `create index timers_open_request on timers ((payload->>'request_id')) where fired_at is null and cancelled_at is null`,
  `create index approval_requests_decision on approval_requests (decision_id)`,
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of STATEMENTS) await sql.raw(statement).execute(db);
}
