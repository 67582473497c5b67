import { sql, type Kysely } from 'kysely';

/**
 * Road networks: the road file a tenant loaded (PUT /api/v1/roads, `--roads`), one row per
 * tenant, kept as posted so the network can be rebuilt at start and whenever the zones change
 * (its edges are tagged with zones). No row: the node derives links between neighbouring wards.
 * `json`, not `jsonb`: the document is only ever read whole, and a city's roads run to tens of
 * megabytes that jsonb would take apart for nothing.
 */
const STATEMENTS = [
  `create table road_networks (
    tenant_id text primary key references tenants(id),
    geojson json not null,
    updated_at timestamptz not null default now()
  )`,
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of STATEMENTS) await sql.raw(statement).execute(db);
}
