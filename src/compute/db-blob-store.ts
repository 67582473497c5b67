import { createHash } from 'node:crypto';
import { CompiledQuery, type Kysely } from 'kysely';
import { CoalescingWriter } from '../store/coalescing-writer.js';
import type { Database } from '../store/schema.js';
import { BLOB_STORE_DEFAULTS, BlobCorruptError, checkMediaType, parseRef, readWhole, type BlobInfo, type BlobStore, type StagedBlob } from './blob-store.js';

export const DB_BLOB_STORE_DEFAULTS = {
  /** Reads are uses (they keep a blob from the sweep); their times are written this often, together. */
  touchFlushMs: 1_000,
  /** Refs per DELETE or UPDATE … IN (…). */
  refsPerStatement: 1_000,
} as const;

/**
 * A BlobStore in the node's database (table `small_blobs`, migration 0008): the data store's
 * tier for small blobs (see TieredBlobStore). Puts are group-committed — every put asked for in
 * one turn of the event loop, or while a commit runs, is one multi-row upsert — so a job's
 * input or result costs a share of a commit rather than a file, an fsync and a rename.
 *
 * Same contract as FolderBlobStore: refs are SHA-256 of the bytes, a get checks the bytes
 * against the ref, putting content again repairs it, a put or a get is a use, and the sweep
 * removes blobs unused for longer than asked and not pinned.
 *
 * @example
 *   const small = new DbBlobStore(store.db, { maxBlobBytes: 256 * 1024 });
 *   const { ref } = await small.put(Buffer.from('{"ward":"chennai-w042"}'), { media_type: 'application/json' });
 */
export class DbBlobStore implements BlobStore {
  readonly #db: Kysely<Database>;
  readonly #maxBlobBytes: number;
  readonly #now: () => number;
  readonly #puts: CoalescingWriter<StagedBlob, BlobInfo>;
  /** Refs read since the last touch commit, with when. */
  #touched = new Map<string, number>();
  #touchTimer: NodeJS.Timeout | null = null;

  /** @throws RangeError when `maxBlobBytes` is not a whole number ≥ 1 */
  constructor(db: Kysely<Database>, options: { maxBlobBytes: number; now?: () => number }) {
    if (!Number.isSafeInteger(options.maxBlobBytes) || options.maxBlobBytes < 1) {
      throw new RangeError(`maxBlobBytes must be a whole number of bytes ≥ 1, not ${options.maxBlobBytes}`);
    }
    this.#db = db;
    this.#maxBlobBytes = options.maxBlobBytes;
    this.#now = options.now ?? Date.now;
    this.#puts = new CoalescingWriter((puts) => this.#upsert(puts));
  }

  /** @throws BlobTooLargeError over `maxBlobBytes`; RangeError for a media type that is not `type/subtype` */
  async put(data: Uint8Array | AsyncIterable<Uint8Array>, meta: { media_type?: string } = {}): Promise<BlobInfo> {
    const mediaType = checkMediaType(meta.media_type ?? BLOB_STORE_DEFAULTS.mediaType);
    const row = this.#row(await readWhole(data, this.#maxBlobBytes), mediaType);
    return this.#puts.write(row.ref, row);
  }

  /** Null for bytes over `maxBlobBytes` (put() refuses them with the reason) or for another database than this store's. */
  stage(data: Uint8Array, meta: { media_type?: string }, db: object): StagedBlob | null {
    if (db !== this.#db || data.byteLength > this.#maxBlobBytes) return null;
    return this.#row(data, checkMediaType(meta.media_type ?? BLOB_STORE_DEFAULTS.mediaType));
  }

  #row(bytes: Uint8Array, mediaType: string): StagedBlob {
    const ref = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const data = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return { ref, data, media_type: mediaType, atMs: this.#now() };
  }

  /** @throws BlobRefError for a bad ref; BlobCorruptError when the bytes do not hash to it */
  async get(ref: string): Promise<Uint8Array | null> {
    const { hex } = parseRef(ref);
    const row = await this.#db.selectFrom('small_blobs').select('data').where('ref', '=', ref).executeTakeFirst();
    if (!row) return null;
    const actual = createHash('sha256').update(row.data).digest('hex');
    if (actual !== hex) throw new BlobCorruptError(ref, actual, 'small_blobs row');
    this.#touch(ref);
    return new Uint8Array(row.data.buffer, row.data.byteOffset, row.data.byteLength);
  }

  /** Does not count as a use. @throws BlobRefError for a bad ref */
  async stat(ref: string): Promise<BlobInfo | null> {
    parseRef(ref);
    const row = await this.#db.selectFrom('small_blobs').select(['ref', 'size', 'media_type', 'created_at']).where('ref', '=', ref).executeTakeFirst();
    return row ? info(row) : null;
  }

  /** @throws BlobRefError for a bad ref */
  async delete(ref: string): Promise<boolean> {
    parseRef(ref);
    await this.#puts.drain(); // a put of it asked for before the delete lands first
    this.#touched.delete(ref);
    const gone = await this.#db.deleteFrom('small_blobs').where('ref', '=', ref).returning('ref').execute();
    return gone.length > 0;
  }

  /** @throws RangeError when `olderThanMs` is not a number ≥ 0 */
  async sweep(olderThanMs: number, pinned: ReadonlySet<string>): Promise<{ removed: number; bytes: number }> {
    if (!(olderThanMs >= 0)) throw new RangeError(`olderThanMs must be a number of milliseconds ≥ 0, not ${olderThanMs}`);
    await this.#puts.drain();
    await this.#flushTouches();
    const cutoff = new Date(this.#now() - olderThanMs);
    const old = await this.#db.selectFrom('small_blobs').select(['ref', 'size']).where('last_used_at', '<', cutoff).execute();
    const doomed = old.filter((b) => !pinned.has(b.ref));
    let removed = 0;
    let bytes = 0;
    for (let i = 0; i < doomed.length; i += DB_BLOB_STORE_DEFAULTS.refsPerStatement) {
      const refs = doomed.slice(i, i + DB_BLOB_STORE_DEFAULTS.refsPerStatement).map((b) => b.ref);
      // Still old at delete time: a put or read since the select made it a use again.
      const gone = await this.#db.deleteFrom('small_blobs').where('ref', 'in', refs).where('last_used_at', '<', cutoff).returning('size').execute();
      removed += gone.length;
      bytes += gone.reduce((s, b) => s + b.size, 0);
    }
    return { removed, bytes };
  }

  /** Writes what is pending (puts and read times); for shutdown and tests. */
  async flush(): Promise<void> {
    await this.#puts.drain();
    await this.#flushTouches();
  }

  async #upsert(puts: StagedBlob[]): Promise<BlobInfo[]> {
    // One statement text per row count (smallBlobsUpsert), its parameters straight from the puts:
    // no query builder, whose build and compile cost a busy broker's thread more than the
    // commit's own work does.
    const byRef = new Map<string, BlobInfo>();
    for (let i = 0; i < puts.length; i += DB_BLOB_STORE_DEFAULTS.refsPerStatement) {
      const chunk = puts.slice(i, i + DB_BLOB_STORE_DEFAULTS.refsPerStatement);
      const params: unknown[] = [];
      for (const p of chunk) pushSmallBlobParams(params, p);
      const stored = await this.#db.executeQuery<{ ref: string; size: number; media_type: string; created_at: Date | string }>(CompiledQuery.raw(upsertText(chunk.length), params));
      for (const r of stored.rows) byRef.set(r.ref, info(r));
    }
    return puts.map((p) => byRef.get(p.ref)!);
  }

  #touch(ref: string): void {
    this.#touched.set(ref, this.#now());
    if (this.#touchTimer) return;
    this.#touchTimer = setTimeout(() => void this.#flushTouches().catch(() => {}), DB_BLOB_STORE_DEFAULTS.touchFlushMs); // a failure keeps the refs for the next try
    this.#touchTimer.unref();
  }

  async #flushTouches(): Promise<void> {
    if (this.#touchTimer) clearTimeout(this.#touchTimer);
    this.#touchTimer = null;
    if (this.#touched.size === 0) return;
    const touched = this.#touched;
    this.#touched = new Map();
    // One time for the group (the latest read): a few seconds' difference does not matter to a retention of days.
    const at = new Date(Math.max(...touched.values()));
    const refs = [...touched.keys()];
    try {
      for (let i = 0; i < refs.length; i += DB_BLOB_STORE_DEFAULTS.refsPerStatement) {
        await this.#db.updateTable('small_blobs').set({ last_used_at: at }).where('ref', 'in', refs.slice(i, i + DB_BLOB_STORE_DEFAULTS.refsPerStatement)).execute();
      }
    } catch (err) {
      // Kept for the next flush (the next read, or the sweep, which waits for it).
      for (const [ref, atMs] of touched) if (!this.#touched.has(ref)) this.#touched.set(ref, atMs);
      throw err;
    }
  }
}

function info(r: { ref: string; size: number; media_type: string; created_at: Date | string }): BlobInfo {
  return { ref: r.ref, size: r.size, media_type: r.media_type, created_at: new Date(r.created_at).toISOString() };
}

const UPSERT_COLUMNS = ['ref', 'size', 'media_type', 'data', 'created_at', 'last_used_at'] as const;
/** Parameters a small blob's row takes (pushSmallBlobParams). */
export const SMALL_BLOB_PARAMS = UPSERT_COLUMNS.length;
const CACHED_TEXTS_UP_TO_ROWS = 64;
const upsertTexts = new Map<number, string>();

/** The row's parameters, in the order smallBlobsUpsert numbers them. */
export function pushSmallBlobParams(params: unknown[], b: StagedBlob): void {
  const at = new Date(b.atMs).toISOString();
  params.push(b.ref, b.data.byteLength, b.media_type, b.data, at, at);
}

/**
 * `insert into small_blobs … on conflict (ref) do update …` for `rows` rows whose parameters
 * start at `$first`: also the first half of JobWriter's statement that commits staged blobs with
 * their jobs. Content already there keeps its created_at and media type; its bytes are rewritten,
 * which repairs a copy that rotted, and it counts as used now.
 */
export function smallBlobsUpsert(rows: number, first: number): string {
  const values: string[] = [];
  for (let r = 0; r < rows; r++) values.push(`(${UPSERT_COLUMNS.map((_, c) => `$${first + r * UPSERT_COLUMNS.length + c}`).join(', ')})`);
  return `insert into small_blobs (${UPSERT_COLUMNS.join(', ')}) values ${values.join(', ')} on conflict (ref) do update set data = excluded.data, size = excluded.size, last_used_at = excluded.last_used_at`;
}

/** This store's own upsert, made once per row count. */
function upsertText(rows: number): string {
  let text = upsertTexts.get(rows);
  if (text !== undefined) return text;
  text = `${smallBlobsUpsert(rows, 1)} returning ref, size, media_type, created_at`;
  if (rows <= CACHED_TEXTS_UP_TO_ROWS) upsertTexts.set(rows, text);
  return text;
}
