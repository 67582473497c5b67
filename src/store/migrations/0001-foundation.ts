import { sql, type Kysely } from 'kysely';

/**
 * The Local Brain foundation: secrets, tenants, zones, plugins, events, dead letters.
 * Events carry a bigint `seq` (insert order, keyset pagination) as primary key; `event_id` is
 * the vendor's id or a UUIDv7 we mint, indexed separately. A random-UUID primary key cut PGlite
 * COPY throughput by ~3× in measurement; time-ordered keys keep index inserts at the right edge.
 * The event payload is `json` (checked, stored as text), not `jsonb`: COPY into PostgreSQL ran
 * at 96k rows/s with json against 50–63k with jsonb (bench notes); the same -> / ->> operators
 * read it, and a jsonb expression index can be added for a field that needs one.
 */
const STATEMENTS = [
  `create table node_secrets (
    name text primary key,
    value text not null,
    created_at timestamptz not null default now()
  )`,
  `create table tenants (
    id text primary key,
    name text not null,
    created_at timestamptz not null default now()
  )`,
  `insert into tenants (id, name) values ('default', 'Default municipality')`,
  `create table zones (
    tenant_id text not null references tenants(id),
    id text not null,
    name text not null,
    level text not null check (level in ('neighbourhood','district','city','state','nation')),
    parent_id text,
    geometry jsonb,
    properties jsonb not null default '{}',
    primary key (tenant_id, id)
  )`,
  `create table plugins (
    tenant_id text not null references tenants(id),
    model_id text not null,
    vendor text not null,
    api_key_hash text not null,
    api_key_prefix text not null,
    enabled boolean not null default true,
    current_version text not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (tenant_id, model_id)
  )`,
  `create table plugin_versions (
    tenant_id text not null,
    model_id text not null,
    version text not null,
    event_type text not null,
    manifest jsonb not null,
    output_schema jsonb not null,
    action_definitions jsonb not null,
    json_schema jsonb not null,
    personal_paths jsonb not null,
    enabled boolean not null default true,
    created_at timestamptz not null default now(),
    primary key (tenant_id, model_id, version),
    foreign key (tenant_id, model_id) references plugins(tenant_id, model_id)
  )`,
  `create table events (
    seq bigint generated always as identity primary key,
    tenant_id text not null,
    event_id text not null,
    plugin_id text not null,
    plugin_version text not null,
    event_type text not null,
    severity text,
    confidence real,
    ts timestamptz not null,
    received_at timestamptz not null,
    zone_id text,
    lat double precision,
    lng double precision,
    payload json not null
  )`,
  `create index events_event_id on events (event_id)`,
  `create index events_zone on events (zone_id, seq)`,
  `create index events_plugin on events (plugin_id, seq)`,
  `create index events_ts on events using brin (ts)`,
  `create table dead_letters (
    id bigint generated always as identity primary key,
    tenant_id text not null,
    received_at timestamptz not null default now(),
    source text not null,
    plugin_id text,
    remote text,
    content_type text,
    code text not null,
    reason text not null,
    details jsonb not null default '{}',
    payload bytea,
    payload_size integer not null,
    truncated boolean not null default false
  )`,
  `create index dead_letters_plugin on dead_letters (plugin_id, id)`,
];

export async function up(db: Kysely<any>): Promise<void> {
  // One statement per query: PGlite's extended protocol takes a single statement at a time.
  for (const statement of STATEMENTS) await sql.raw(statement).execute(db);
}
