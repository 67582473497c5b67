import { sql, type Kysely } from 'kysely';

/**
 * The data store's small tier (issue 7 §2): blobs up to a few hundred KiB — most job inputs and
 * results — are rows here instead of files, so storing one shares the database's group commit
 * instead of costing a file, an fsync and a rename each. Content-addressed like the files
 * (`ref` is `sha256:<hex>` of `data`); `last_used_at` is what the retention sweep reads.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create table small_blobs (
    ref text primary key,
    size integer not null,
    media_type text not null,
    data bytea not null,
    created_at timestamptz not null,
    last_used_at timestamptz not null
  )`.execute(db);
  // Stored out of line but not compressed: pglz costs more CPU than the space it saves is worth
  // for data kept days (measured on PGlite: 300 job inputs of 91 KB written in 0.8 s uncompressed
  // against 1.8–2.3 s compressed, for 43% more space).
  await sql`alter table small_blobs alter column data set storage external`.execute(db);
  await sql`create index small_blobs_last_used on small_blobs (last_used_at)`.execute(db);
}
