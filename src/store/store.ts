import { mkdir } from 'node:fs/promises';
import { Kysely, Migrator, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import type { Database } from './schema.js';
import { migrationProvider } from './migrations/index.js';
import { Mutex, PgliteWorkerClient, PgliteWorkerDialect } from './pglite-driver.js';

export type StoreKind = 'pglite' | 'postgres';

/**
 * The one storage edge (house style #2): kysely for queries, and a bulk path for group commits.
 * Both backends speak the same PostgreSQL SQL and run the same migrations.
 */
export interface Store {
  readonly kind: StoreKind;
  readonly db: Kysely<Database>;
  /**
   * Appends rows given in COPY text format (one string, or chunks of whole lines); resolves once
   * they are committed.
   */
  copyRows(table: string, columns: readonly string[], text: string | readonly string[]): Promise<void>;
  /**
   * Runs `fn` in one transaction in which both queries (`tx`) and COPYs (`copy`) take part:
   * committed together or not at all. For writes of many rows into several tables at once
   * (a group of decisions), where COPY costs about half of multi-row INSERTs on PGlite.
   */
  copyTransaction<T>(fn: (tx: Kysely<Database>, copy: CopyInto) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** COPY `text` (COPY text format, see copy-text.ts) into `table` (`columns` in order). */
export type CopyInto = (table: string, columns: readonly string[], text: string) => Promise<void>;

export interface StoreOptions {
  /** `postgres://…` selects PostgreSQL; otherwise PGlite in `dataDir` (null: in memory). */
  databaseUrl?: string | undefined;
  dataDir: string | null;
  /** Pool size for PostgreSQL. */
  poolSize?: number;
}

/** Opens the store and applies pending migrations. */
export async function openStore(options: StoreOptions): Promise<Store> {
  const store = options.databaseUrl ? openPostgres(options.databaseUrl, options.poolSize ?? 10) : await openPglite(options.dataDir);
  try {
    await migrate(store.db);
  } catch (err) {
    await store.close().catch(() => {});
    throw err;
  }
  return store;
}

async function migrate(db: Kysely<Database>): Promise<void> {
  const migrator = new Migrator({ db, provider: migrationProvider });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error) {
    throw new Error(`database migration ${failed?.migrationName ?? ''} failed: ${(error as Error).message ?? error}`, {
      cause: error,
    });
  }
}

async function openPglite(dataDir: string | null): Promise<Store> {
  if (dataDir) await mkdir(dataDir, { recursive: true });
  const client = new PgliteWorkerClient(dataDir);
  await client.ready;
  const mutex = new Mutex();
  const db = new Kysely<Database>({ dialect: new PgliteWorkerDialect(client, mutex) });
  return {
    kind: 'pglite',
    db,
    async copyRows(table, columns, text) {
      const release = await mutex.lock();
      try {
        await client.copy(`copy ${table} (${columns.join(', ')}) from '/dev/blob'`, typeof text === 'string' ? text : text.join(''));
      } finally {
        release();
      }
    },
    // The kysely transaction holds the mutex (one connection), so COPYs sent straight to the
    // client inside it run in that same transaction.
    copyTransaction: (fn) =>
      db.transaction().execute((tx) => fn(tx, async (table, columns, text) => void (await client.copy(`copy ${table} (${columns.join(', ')}) from '/dev/blob'`, text)))),
    close: () => db.destroy(),
  };
}

function openPostgres(url: string, poolSize: number): Store {
  const pool = new pg.Pool({ connectionString: url, max: poolSize });
  // An idle client's error (server restart, admin kill) must not crash the node: the pool drops
  // that client and the next query opens a new connection; /readyz reports the outage meanwhile.
  pool.on('error', (err) => process.emitWarning(`PostgreSQL connection lost: ${err.message}`, 'CityStoreWarning'));
  // Leave jsonb/timestamps as pg parses them; bigint (int8) stays a string to keep precision.
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return {
    kind: 'postgres',
    db,
    async copyRows(table, columns, text) {
      const client = await pool.connect();
      try {
        await new Promise<void>((resolve, reject) => {
          const stream = client.query(copyStreams.from(`copy ${table} (${columns.join(', ')}) from stdin`));
          stream.on('error', reject);
          stream.on('finish', resolve);
          // Chunks are written as they are: joining megabytes first would only copy them once more.
          if (typeof text === 'string') stream.end(text);
          else {
            for (const chunk of text) stream.write(chunk);
            stream.end();
          }
        });
      } finally {
        client.release();
      }
    },
    async copyTransaction(fn) {
      const client = await pool.connect();
      // kysely on this one client, so its queries and the COPY streams share the transaction;
      // `release` is a no-op here because the client goes back to the pool below.
      const single = { connect: async () => ({ query: client.query.bind(client), release: () => {} }), end: async () => {} };
      const tx = new Kysely<Database>({ dialect: new PostgresDialect({ pool: single as unknown as pg.Pool }) });
      const copy: CopyInto = (table, columns, text) =>
        new Promise<void>((resolve, reject) => {
          const stream = client.query(copyStreams.from(`copy ${table} (${columns.join(', ')}) from stdin`));
          stream.on('error', reject);
          stream.on('finish', resolve);
          stream.end(text);
        });
      try {
        await client.query('begin');
        const result = await fn(tx, copy);
        await client.query('commit');
        return result;
      } catch (err) {
        await client.query('rollback').catch(() => {});
        throw err;
      } finally {
        client.release();
      }
    },
    close: () => db.destroy(),
  };
}

/** Cheap liveness probe for /readyz. */
export async function pingStore(store: Store): Promise<void> {
  await sql`select 1`.execute(store.db);
}
