import { sql, type Kysely } from 'kysely';

/**
 * The receiving end of node-to-node links (issue 5 §5: "an idempotent inbox on the receiver
 * (message ids) … never applied twice"). `link_inbox` remembers every message id a source node
 * sent, written in the same transaction that applies the message, so a resent message (a lost
 * acknowledgement, a retry after a timeout, a crash between commit and answer) is recognised and
 * skipped. `link_inbox_sources` keeps one row per source: the highest sequence number applied
 * and counters, so reordering can be spotted without scanning the inbox, and so the topology can
 * say when a child was last heard from. (Pruning old inbox rows belongs with the link's
 * retention settings, a later task.)
 */
const STATEMENTS = [
  `create table link_inbox (
    tenant_id text not null,
    source_node text not null,
    message_id text not null,
    kind text not null,
    seq bigint,
    received_at timestamptz not null default now(),
    primary key (tenant_id, source_node, message_id)
  )`,
  `create table link_inbox_sources (
    tenant_id text not null,
    source_node text not null,
    high_seq bigint,
    applied bigint not null default 0,
    duplicates bigint not null default 0,
    out_of_order bigint not null default 0,
    first_received_at timestamptz not null default now(),
    last_received_at timestamptz not null default now(),
    primary key (tenant_id, source_node)
  )`,
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of STATEMENTS) await sql.raw(statement).execute(db);
}
