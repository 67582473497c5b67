import { sql, type Kysely } from 'kysely';

/**
 * The hierarchy (issue 5; seed 001 §1, §4–§7, §12.3): the nodes a node links with, the one-time
 * tokens that enrol a child, what children send up (reports, escalations), directives sent down
 * with each node's status, messages between peers, and the city's emergency operations.
 *
 * - `hierarchy_nodes`: one row per linked node — its parent, its children, its peers (siblings
 *   under the same parent, introduced by that parent). `public_key` is the node's Ed25519 key
 *   (JWK) that every link request it makes is signed with; `revoked_at` ends a link without
 *   forgetting the node's history.
 * - `enrolment_tokens`: only the SHA-256 of a token is kept; `used_at` makes it one-time.
 * - `child_reports`: each child's window report, written in the inbox transaction that applies
 *   it (so exactly once). A layer merges them per window into its own report
 *   (aggregation_reports, like a Local Brain's).
 * - `layer_escalations`: escalations received from children; `decision_id` once decided here.
 * - `directives` / `directive_status`: a directive this node issued or received, and per target
 *   node its status (sent → acknowledged → completed | failed), reported back up the tree.
 * - `peer_messages`: resource requests, offers and incident handovers between peers, both ways.
 * - `eoc_incidents`: the city's Emergency Operations Center activations (seed 001 §5.3).
 */
const STATEMENTS = [
  `create table hierarchy_nodes (
    tenant_id text not null,
    node_id text not null,
    relation text not null,
    role text not null,
    zone_id text,
    url text,
    public_key json not null,
    enrolled_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    revoked_at timestamptz,
    primary key (tenant_id, node_id)
  )`,
  `create table enrolment_tokens (
    token_hash text primary key,
    tenant_id text not null,
    node_id text not null,
    role text not null,
    zone_id text,
    created_by text not null,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    used_at timestamptz
  )`,
  `create table child_reports (
    tenant_id text not null,
    source_node text not null,
    report_id text not null,
    window_start timestamptz not null,
    window_end timestamptz not null,
    revision integer not null default 1,
    report json not null,
    received_at timestamptz not null default now(),
    primary key (tenant_id, source_node, report_id)
  )`,
  `create index child_reports_window on child_reports (tenant_id, window_start)`,
  `create table layer_escalations (
    tenant_id text not null,
    source_node text not null,
    incident_id text not null,
    message_id text not null,
    severity text,
    payload json not null,
    received_at timestamptz not null default now(),
    decision_id text,
    primary key (tenant_id, source_node, incident_id)
  )`,
  `create index layer_escalations_undecided on layer_escalations (tenant_id, received_at) where decision_id is null`,
  `create table directives (
    directive_id text primary key,
    tenant_id text not null,
    origin_node text not null,
    received_from text,
    name text not null,
    scope_zone_id text,
    payload json not null,
    issued_at timestamptz not null,
    received_at timestamptz not null default now(),
    decision_id text
  )`,
  `create index directives_issued on directives (tenant_id, issued_at)`,
  `create table directive_status (
    tenant_id text not null,
    directive_id text not null,
    node_id text not null,
    parent_node text,
    role text,
    zone_id text,
    status text not null,
    detail json,
    updated_at timestamptz not null default now(),
    primary key (directive_id, node_id)
  )`,
  `create table peer_messages (
    message_id text primary key,
    tenant_id text not null,
    peer_node text not null,
    direction text not null,
    kind text not null,
    in_reply_to text,
    payload json not null,
    created_at timestamptz not null default now()
  )`,
  `create index peer_messages_peer on peer_messages (tenant_id, peer_node, created_at)`,
  `create table eoc_incidents (
    incident_id text primary key,
    tenant_id text not null,
    kind text not null,
    severity text not null,
    status text not null,
    activated_by text not null,
    activated_at timestamptz not null default now(),
    closed_at timestamptz,
    details json not null
  )`,
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of STATEMENTS) await sql.raw(statement).execute(db);
}
