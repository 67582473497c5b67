import { Worker } from 'node:worker_threads';
import {
  CompiledQuery,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  type QueryResult,
} from 'kysely';

type Reply =
  | { id: number; ok: true; rows: unknown[]; affected: number; ready?: boolean }
  | { id: number; ok: false; error: { message: string; code?: string; detail?: string; position?: string } };

/** A PostgreSQL error carried back from the worker, with the server's SQLSTATE code. */
export class PgliteQueryError extends Error {
  readonly code: string | undefined;
  readonly detail: string | undefined;
  constructor(e: { message: string; code?: string; detail?: string }, sql: string) {
    super(`${e.message}${e.detail ? ` (${e.detail})` : ''} in: ${sql.slice(0, 200)}`);
    this.name = 'PgliteQueryError';
    this.code = e.code;
    this.detail = e.detail;
  }
}

/**
 * Owns the PGlite worker thread and speaks its small message protocol.
 * One request at a time is enough: PGlite has one backend, and the driver's mutex below
 * keeps transactions from interleaving.
 */
export class PgliteWorkerClient {
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve: (r: Reply) => void; sql: string }>();
  #nextId = 1;
  readonly ready: Promise<void>;
  #closed = false;
  #closing = false;
  /** Why the worker can no longer answer, once it cannot. */
  #broken: string | null = null;

  constructor(dataDir: string | null) {
    this.#worker = new Worker(new URL('./pglite-worker.js', import.meta.url), { workerData: { dataDir } });
    this.ready = new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.#worker.once('error', onError);
      this.#worker.once('message', (msg: Reply) => {
        this.#worker.off('error', onError);
        if (msg.ok && msg.ready) resolve();
        else reject(new Error('PGlite worker failed to start'));
        this.#worker.on('message', (m: Reply) => this.#settle(m));
      });
    });
    this.#worker.on('error', (err) => this.#fail(`the PGlite worker failed: ${err.message}`));
    // A worker that exits on its own (out of memory, a WASM abort) must not leave callers
    // waiting forever: every pending and later request fails, and /readyz reports it.
    this.#worker.on('exit', (code) => {
      if (!this.#closing) this.#fail(`the PGlite worker exited with code ${code}; restart the node`);
    });
  }

  #fail(message: string): void {
    this.#broken = message;
    for (const p of this.#pending.values()) p.resolve({ id: 0, ok: false, error: { message } });
    this.#pending.clear();
  }

  #settle(msg: Reply): void {
    const p = this.#pending.get(msg.id);
    if (!p) return;
    this.#pending.delete(msg.id);
    p.resolve(msg);
  }

  async #request(msg: Record<string, unknown>, sql: string): Promise<{ rows: unknown[]; affected: number }> {
    if (this.#closed) throw new Error('the PGlite store is closed');
    if (this.#broken !== null) throw new Error(this.#broken);
    const id = this.#nextId++;
    const reply = await new Promise<Reply>((resolve) => {
      this.#pending.set(id, { resolve, sql });
      this.#worker.postMessage({ ...msg, id });
    });
    if (!reply.ok) throw new PgliteQueryError(reply.error, sql);
    return { rows: reply.rows, affected: reply.affected };
  }

  query(sql: string, params: readonly unknown[]): Promise<{ rows: unknown[]; affected: number }> {
    return this.#request({ op: 'query', sql, params }, sql);
  }

  copy(sql: string, data: string): Promise<{ rows: unknown[]; affected: number }> {
    return this.#request({ op: 'copy', sql, data }, sql);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closing = true;
    if (this.#broken === null) await this.#request({ op: 'close' }, 'close');
    this.#closed = true;
    await this.#worker.terminate();
  }

  /** Ends the worker at once without closing the database, as a crash would (recovery tests). */
  async kill(): Promise<void> {
    await this.#worker.terminate();
  }
}

/** A FIFO mutex: PGlite is one backend, so kysely sees a pool of exactly one connection. */
export class Mutex {
  #tail: Promise<void> = Promise.resolve();
  lock(): Promise<() => void> {
    let release!: () => void;
    const next = new Promise<void>((r) => (release = r));
    const acquired = this.#tail.then(() => release);
    this.#tail = this.#tail.then(() => next);
    return acquired;
  }
}

class PgliteConnection implements DatabaseConnection {
  constructor(private readonly client: PgliteWorkerClient) {}

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const { rows, affected } = await this.client.query(compiled.sql, compiled.parameters);
    const isWrite = /^\s*(insert|update|delete|merge)/i.test(compiled.sql);
    return isWrite ? { rows: rows as R[], numAffectedRows: BigInt(affected) } : { rows: rows as R[] };
  }

  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming queries are not supported on PGlite; page with LIMIT/keyset instead');
  }
}

class PgliteDriver implements Driver {
  readonly #mutex: Mutex;
  readonly #connection: PgliteConnection;
  readonly #releases = new WeakMap<PgliteConnection, () => void>();

  constructor(private readonly client: PgliteWorkerClient, mutex: Mutex) {
    this.#mutex = mutex;
    this.#connection = new PgliteConnection(client);
  }

  async init(): Promise<void> {
    await this.client.ready;
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const release = await this.#mutex.lock();
    this.#releases.set(this.#connection, release);
    return this.#connection;
  }

  async beginTransaction(conn: DatabaseConnection): Promise<void> {
    await conn.executeQuery(CompiledQuery.raw('begin'));
  }
  async commitTransaction(conn: DatabaseConnection): Promise<void> {
    await conn.executeQuery(CompiledQuery.raw('commit'));
  }
  async rollbackTransaction(conn: DatabaseConnection): Promise<void> {
    await conn.executeQuery(CompiledQuery.raw('rollback'));
  }
  async releaseConnection(conn: DatabaseConnection): Promise<void> {
    this.#releases.get(conn as PgliteConnection)?.();
  }
  async destroy(): Promise<void> {
    await this.client.close();
  }
}

/** Kysely dialect for PGlite running in a worker thread; the same PostgreSQL SQL as `pg`. */
export class PgliteWorkerDialect implements Dialect {
  constructor(private readonly client: PgliteWorkerClient, private readonly mutex: Mutex) {}
  createAdapter() {
    return new PostgresAdapter();
  }
  createDriver(): Driver {
    return new PgliteDriver(this.client, this.mutex);
  }
  createQueryCompiler() {
    return new PostgresQueryCompiler();
  }
  createIntrospector(db: Kysely<any>) {
    return new PostgresIntrospector(db);
  }
}
