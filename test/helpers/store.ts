import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import pg from 'pg';
import { openStore, type Store } from '../../src/store/store.js';

/**
 * Where a test's data lives. On PGlite (the default) a fresh temporary folder; when
 * DATABASE_URL is set (the PostgreSQL pass of `npm test`) also a fresh database on that
 * server, dropped afterwards, so tests never see each other's rows (house style #10).
 */
export interface TestDatabase {
  dataDir: string;
  databaseUrl: string | undefined;
  backend: 'pglite' | 'postgres';
}

export async function testDatabase(t: Pick<TestContext, 'after'> | { after(fn: () => unknown): void }): Promise<TestDatabase> {
  const db = await createTestDatabase();
  t.after(() => db.dispose());
  return db;
}

/**
 * The same, with the cleanup handed back: for callers that must close what uses the database
 * first (node:test runs `after` hooks in the order they were added, not in reverse). The
 * benchmark passes its own server's URL as `adminUrl`.
 */
export async function createTestDatabase(adminUrl = process.env.DATABASE_URL): Promise<TestDatabase & { dispose(): Promise<void> }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'city-test-'));
  const removeDir = () => rm(dataDir, { recursive: true, force: true });
  if (!adminUrl) return { dataDir, databaseUrl: undefined, backend: 'pglite', dispose: removeDir };
  const name = `city_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    dataDir,
    databaseUrl: url.toString(),
    backend: 'postgres',
    async dispose() {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
      await removeDir();
    },
  };
}

/** A real store (PGlite, or PostgreSQL when DATABASE_URL is set) on a fresh test database, closed, then dropped, after the test. */
export async function openTestStore(t: Pick<TestContext, 'after'> | { after(fn: () => unknown): void }): Promise<Store & { dataDir: string }> {
  const db = await createTestDatabase();
  const store = await openStore({ databaseUrl: db.databaseUrl, dataDir: db.dataDir });
  t.after(async () => {
    await store.close();
    await db.dispose();
  });
  return Object.assign(store, { dataDir: db.dataDir });
}
