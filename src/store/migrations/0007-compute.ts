import { sql, type Kysely } from 'kysely';

/**
 * The compute network (issue 7; seeds 000 and 003): executors' keys, and the broker's job table.
 *
 * - `executor_keys`: one per executor (a laptop, desktop or server that offers its spare
 *   capacity); only the key's hash is kept. `public_key` is the executor's Ed25519 key, learned
 *   at its first registration: every result it returns is signed with it.
 * - `jobs`: every job a client submitted, its needs, priority, deadline and attempts, where it
 *   runs, and its outcome — so a broker restart loses none (running ones are queued again).
 *   Inputs, WebAssembly modules and results live in the content-addressed data store; the job
 *   holds their refs. A fan-out job's parts point at it through `parent_job_id`.
 */
const STATEMENTS = [
  `create table executor_keys (
    tenant_id text not null,
    executor_id text not null,
    name text not null,
    key_hash text not null unique,
    key_prefix text not null,
    public_key json,
    created_by text not null,
    created_at timestamptz not null default now(),
    revoked_at timestamptz,
    primary key (tenant_id, executor_id)
  )`,
  `create table jobs (
    job_id text primary key,
    tenant_id text not null,
    client_id text not null,
    kind text,
    wasm_ref text,
    input_ref text not null,
    needs json not null,
    priority text not null,
    deadline_at timestamptz,
    timeout_ms integer not null,
    max_attempts integer not null,
    attempts integer not null default 0,
    status text not null,
    executor_id text,
    progress real not null default 0,
    result_ref text,
    result_signature text,
    error text,
    parent_job_id text,
    part_index integer,
    parts integer,
    created_at timestamptz not null default now(),
    assigned_at timestamptz,
    finished_at timestamptz,
    updated_at timestamptz not null default now()
  )`,
  `create index jobs_open on jobs (tenant_id, status) where status in ('queued', 'running')`,
  `create index jobs_client on jobs (tenant_id, client_id, created_at)`,
  `create index jobs_parent on jobs (parent_job_id) where parent_job_id is not null`,
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of STATEMENTS) await sql.raw(statement).execute(db);
}
