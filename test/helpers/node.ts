import type { TestContext } from 'node:test';
import pino from 'pino';
import { DEFAULT_CONFIG, type Config } from '../../src/config/config.js';
import { startNode, type CityNode } from '../../src/node/node.js';
import { createTestDatabase } from './store.js';

export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

/** Anything with `after` — a test's context, or node:test's suite-level `after` wrapped as `{ after }`. */
export type Cleanup = Pick<TestContext, 'after'> | { after(fn: () => unknown): void };

export type TestNode = CityNode & { admin: Record<string, string> };

/** For tests and benchmarks that make more requests from one address than a node allows. */
export const NO_RATE_LIMITS = { http: { rateLimit: { enabled: false } } } satisfies DeepPartial<Config>;

/** A node's config on a test database: free ports, silent logs, `overrides` merged one level deep. */
function testConfig(db: { dataDir: string; databaseUrl?: string | undefined }, overrides: DeepPartial<Config>): Config {
  return {
    ...DEFAULT_CONFIG,
    dataDir: db.dataDir,
    databaseUrl: db.databaseUrl,
    logLevel: 'silent',
    ...overrides,
    http: { ...DEFAULT_CONFIG.http, port: 0, ...overrides.http, rateLimit: { ...DEFAULT_CONFIG.http.rateLimit, ...overrides.http?.rateLimit } },
    mqtt: { ...DEFAULT_CONFIG.mqtt, port: 0, ...overrides.mqtt },
    ingest: { ...DEFAULT_CONFIG.ingest, ...overrides.ingest },
    actions: { ...DEFAULT_CONFIG.actions, ...overrides.actions },
  } as Config;
}

async function start(config: Config): Promise<TestNode> {
  const node = await startNode(config, pino({ level: process.env.CITY_TEST_LOG ?? 'silent' }));
  return Object.assign(node, { admin: { authorization: `Bearer ${node.adminToken}` } });
}

/** Starts a real node on 127.0.0.1 with free ports and a fresh store; stopped after the test. */
export async function startTestNode(t: Cleanup, overrides: DeepPartial<Config> = {}): Promise<TestNode> {
  const db = await createTestDatabase();
  let node: TestNode;
  try {
    node = await start(testConfig(db, overrides));
  } catch (err) {
    await db.dispose();
    throw err;
  }
  // One hook, in order: the node lets go of the database before the database is dropped.
  t.after(async () => {
    await node.close();
    await db.dispose();
  });
  return node;
}

/**
 * For tests that stop a node and start another on the same store (durability across a
 * restart): each `start()` is a node on one fresh test database, which is dropped after the
 * test. Closing the nodes is the test's (in a `finally`), before the database goes.
 */
export async function restartableNode(t: Cleanup, overrides: DeepPartial<Config> = {}): Promise<{ config: Config; start(): Promise<TestNode> }> {
  const db = await createTestDatabase();
  t.after(() => db.dispose());
  const config = testConfig(db, overrides);
  return { config, start: () => start(config) };
}

/** JSON request helper: returns status and parsed body. */
export async function call(
  node: { url: string },
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: unknown; raw?: string | Uint8Array; contentType?: string } = {},
): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { ...options.headers };
  let body: string | Uint8Array | undefined;
  if (options.raw !== undefined) {
    body = options.raw;
    headers['content-type'] = options.contentType ?? 'application/json';
  } else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(node.url + path, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    /* leave as text */
  }
  return { status: res.status, body: parsed };
}

/**
 * Cleanups for a describe() block: its `before` starts things with `suite` as their cleanup
 * target, and the block's `after` runs them (node:test's `after` called inside `before` would
 * attach to the wrong scope).
 */
export function suiteCleanup(): { after(fn: () => unknown): void; run(): Promise<void> } {
  const fns: Array<() => unknown> = [];
  return {
    after: (fn) => void fns.push(fn),
    run: async () => {
      for (const fn of fns.reverse()) await fn();
    },
  };
}
