import { createHash, randomUUID } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Content-addressed storage for job inputs and results (seed 000 "data store": it provides input
 * datasets and stores result data; issue 7 §3). A blob's name is the SHA-256 of its bytes, so a
 * ref names exactly one content: executors can cache by ref, the broker can dedupe, and a read
 * can prove it got what was written.
 *
 * The interface is small enough for an S3-compatible store to implement as well (put = upload
 * under the hash key, sweep = list and delete by last-modified).
 */
export const BLOB_STORE_DEFAULTS = {
  /** What a blob put without a media type is. */
  mediaType: 'application/octet-stream',
  /**
   * Longest media type accepted: RFC 6838 §4.2 caps type and subtype at 127 characters each, and
   * the sidecar should not become a place to store data.
   */
  maxMediaTypeChars: 255,
} as const;

/** What is known about a stored blob. */
export interface BlobInfo {
  /** `sha256:<64 lower-case hex>`. */
  ref: string;
  /** Bytes. */
  size: number;
  media_type: string;
  /** When the content was first stored (ISO 8601). */
  created_at: string;
}

export interface BlobStore {
  /**
   * Stores the bytes (streamed, hashed while written) and returns their ref. Storing content that
   * is already there returns the same ref and changes nothing but its last use.
   */
  put(data: Uint8Array | AsyncIterable<Uint8Array>, meta?: { media_type?: string }): Promise<BlobInfo>;
  /** The bytes, checked against the ref; null when there is no such blob. */
  get(ref: string): Promise<Uint8Array | null>;
  stat(ref: string): Promise<BlobInfo | null>;
  /** true when there was a blob to delete. */
  delete(ref: string): Promise<boolean>;
  /** Removes blobs not read or written for `olderThanMs` and not pinned; returns what was removed. */
  sweep(olderThanMs: number, pinned: ReadonlySet<string>): Promise<{ removed: number; bytes: number }>;
  /**
   * For a store that keeps these bytes as a row in the database `db` (the small tier): the row,
   * hashed and ready, for the caller to commit in its own statement there — one commit for its
   * row and the blob, both or neither (the broker's job table: JobWriter). Null when this store
   * would not keep them in `db` (too big for the small tier, another database, not a database
   * store): put() them then. @throws RangeError for a media type that is not `type/subtype`
   */
  stage?(data: Uint8Array, meta: { media_type?: string }, db: object): StagedBlob | null;
}

/** A small blob's row, to be committed by another writer of the same database (BlobStore.stage). */
export interface StagedBlob {
  ref: string;
  data: Buffer;
  media_type: string;
  /** Its put time: created_at for new content, last_used_at either way. */
  atMs: number;
}

/** The base of the store's own errors, so a caller can tell them from I/O errors. */
export class BlobStoreError extends Error {
  override name = 'BlobStoreError';
}

/** A ref that is not `sha256:` and 64 lower-case hex digits (never turned into a path). */
export class BlobRefError extends BlobStoreError {
  override name = 'BlobRefError';
  constructor(readonly ref: unknown) {
    super(`blob ref ${JSON.stringify(typeof ref === 'string' ? ref.slice(0, 100) : String(ref))} is not valid: a ref is "sha256:" and 64 lower-case hex digits`);
  }
}

/** A blob over the store's `maxBlobBytes`; nothing of it was kept. */
export class BlobTooLargeError extends BlobStoreError {
  override name = 'BlobTooLargeError';
  /**
   * @param size bytes received when it was refused: the whole size for a Uint8Array, the bytes
   *   read so far for a stream (which is not read further)
   */
  constructor(readonly size: number, readonly limit: number, readonly streamed: boolean) {
    super(`blob of ${streamed ? 'more than ' + limit : size} bytes is over the limit of ${limit} bytes${streamed ? ` (refused after ${size} bytes of the stream)` : ''}; nothing was stored`);
  }
}

/** The stored bytes no longer hash to their ref: disk or tampering. Putting the content again repairs it. */
export class BlobCorruptError extends BlobStoreError {
  override name = 'BlobCorruptError';
  constructor(readonly ref: string, readonly actual: string, readonly path: string) {
    super(`blob ${ref} is corrupt: the ${path} bytes hash to sha256:${actual}; put the original content again to repair it`);
  }
}

const REF_PATTERN = /^sha256:([0-9a-f]{64})$/;

/**
 * Splits a ref into its algorithm and digest, refusing anything else, so no caller-supplied text
 * ever reaches a file path (`sha256:../../etc/passwd` is not a ref).
 *
 * @example
 *   parseRef('sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
 *   // → { algorithm: 'sha256', hex: 'e3b0c442…b855' }
 * @throws BlobRefError for anything but `sha256:` and 64 lower-case hex digits
 */
export function parseRef(ref: string): { algorithm: 'sha256'; hex: string } {
  const m = typeof ref === 'string' ? REF_PATTERN.exec(ref) : null;
  if (!m) throw new BlobRefError(ref);
  return { algorithm: 'sha256', hex: m[1]! };
}

export interface FolderBlobStoreOptions {
  /** Largest blob accepted, in bytes. Also bounds the memory `get` takes, as it returns one array. */
  maxBlobBytes: number;
  /** The clock for created_at and last use (tests move it). */
  now?: () => number;
}

interface Sidecar {
  media_type: string;
  created_at: string;
}

/**
 * A BlobStore in a folder on the local disk:
 *
 *   <dir>/sha256/ab/cdef…        the bytes of sha256:abcdef… (two levels: 256 folders, so none
 *                                 holds more than a 256th of the blobs)
 *   <dir>/sha256/ab/cdef….json   media type and created_at
 *   <dir>/tmp/                   puts in progress
 *
 * A put writes to a temp file while hashing, fsyncs it, then renames it into place, so a blob is
 * either all there or not there after a crash. A blob's modification time is its last use (put
 * and get set it), which is what `sweep` reads; atime is not used, as most mounts do not keep it.
 *
 * Puts, deletes and sweeps of one ref in one store object are serialised, so a sweep cannot delete
 * a blob a concurrent put just returned. Two processes on one folder are safe for put and get
 * (rename is atomic, content is immutable) but a sweep in one may race a put in the other.
 *
 * @example
 *   const store = new FolderBlobStore('/var/lib/city/blobs', { maxBlobBytes: 512 * 1024 * 1024 });
 *   const { ref } = await store.put(new TextEncoder().encode('{"ward":"chennai-w042"}'), { media_type: 'application/json' });
 *   await store.get(ref); // → the same bytes, checked
 */
export class FolderBlobStore implements BlobStore {
  readonly #dir: string;
  readonly #maxBlobBytes: number;
  readonly #now: () => number;
  #ready: Promise<void> | null = null;
  /** Each ref's queue of put-finish/delete/sweep steps. */
  readonly #locks = new KeyedQueue();

  /** @throws RangeError when `maxBlobBytes` is not a whole number ≥ 1 */
  constructor(dir: string, options: FolderBlobStoreOptions) {
    if (!Number.isSafeInteger(options.maxBlobBytes) || options.maxBlobBytes < 1) {
      throw new RangeError(`maxBlobBytes must be a whole number of bytes ≥ 1, not ${options.maxBlobBytes}`);
    }
    this.#dir = dir;
    this.#maxBlobBytes = options.maxBlobBytes;
    this.#now = options.now ?? Date.now;
  }

  /**
   * @throws BlobTooLargeError over `maxBlobBytes` (no file is left behind)
   * @throws RangeError for a media type that is not `type/subtype`
   * @throws TypeError when a stream yields something other than bytes
   */
  async put(data: Uint8Array | AsyncIterable<Uint8Array>, meta: { media_type?: string } = {}): Promise<BlobInfo> {
    const mediaType = checkMediaType(meta.media_type ?? BLOB_STORE_DEFAULTS.mediaType);
    const streamed = !(data instanceof Uint8Array);
    // A whole array over the limit is refused before a file is made.
    if (!streamed && data.byteLength > this.#maxBlobBytes) throw new BlobTooLargeError(data.byteLength, this.#maxBlobBytes, false);
    await this.#ensureDirs();

    const tmp = join(this.#dir, 'tmp', `put-${process.pid}-${randomUUID()}`);
    const hash = createHash('sha256');
    let size = 0;
    const file = await open(tmp, 'wx', 0o644);
    try {
      try {
        if (!streamed) {
          hash.update(data);
          size = data.byteLength;
          await writeAll(file, data);
        } else {
          for await (const chunk of data) {
            if (!(chunk instanceof Uint8Array)) throw new TypeError(`a blob stream must yield Uint8Array chunks, not ${typeof chunk}`);
            size += chunk.byteLength;
            // Leaving the loop early returns the iterator, so the producer stops too.
            if (size > this.#maxBlobBytes) throw new BlobTooLargeError(size, this.#maxBlobBytes, true);
            hash.update(chunk);
            await writeAll(file, chunk);
          }
        }
        await file.sync();
      } finally {
        await file.close();
      }
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }

    const hex = hash.digest('hex');
    const ref = `sha256:${hex}`;
    return this.#serial(hex, async () => {
      const path = this.#blobPath(hex);
      const fanDir = join(this.#dir, 'sha256', hex.slice(0, 2));
      try {
        await mkdir(fanDir, { recursive: true });
        // Renamed even when the blob exists: same bytes, so a no-op for readers (an open reader
        // keeps the old file), and it repairs a stored copy that rotted since.
        await rename(tmp, path);
      } catch (err) {
        await rm(tmp, { force: true });
        throw err;
      }
      await syncDir(fanDir);
      const nowMs = this.#now();
      await touch(path, nowMs);
      let sidecar = await this.#readSidecar(hex);
      if (!sidecar) {
        sidecar = { media_type: mediaType, created_at: new Date(nowMs).toISOString() };
        await this.#writeSidecar(hex, sidecar);
      }
      return { ref, size, media_type: sidecar.media_type, created_at: sidecar.created_at };
    });
  }

  /** @throws BlobRefError for a bad ref; BlobCorruptError when the bytes do not hash to it */
  async get(ref: string): Promise<Uint8Array | null> {
    const { hex } = parseRef(ref);
    const path = this.#blobPath(hex);
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== hex) throw new BlobCorruptError(ref, actual, path);
    // A read is a use: it keeps the blob from the next sweep. Gone meanwhile is fine: we have the bytes.
    await touch(path, this.#now()).catch((err: unknown) => {
      if (!isMissing(err)) throw err;
    });
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Does not count as a use. @throws BlobRefError for a bad ref */
  async stat(ref: string): Promise<BlobInfo | null> {
    const { hex } = parseRef(ref);
    let st;
    try {
      st = await stat(this.#blobPath(hex));
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
    // A crash between the rename and the sidecar leaves a blob without one: its bytes are good.
    const sidecar = await this.#readSidecar(hex);
    return {
      ref,
      size: st.size,
      media_type: sidecar?.media_type ?? BLOB_STORE_DEFAULTS.mediaType,
      created_at: sidecar?.created_at ?? st.mtime.toISOString(),
    };
  }

  /** @throws BlobRefError for a bad ref */
  async delete(ref: string): Promise<boolean> {
    const { hex } = parseRef(ref);
    return this.#serial(hex, () => this.#remove(hex));
  }

  /**
   * Removes every blob whose last put or get is more than `olderThanMs` ago and whose ref is not in
   * `pinned` (the refs queued and running jobs still need). Sidecars without a blob and temp files
   * of puts that died are removed too, but not counted.
   *
   * @throws RangeError when `olderThanMs` is not a number ≥ 0
   */
  async sweep(olderThanMs: number, pinned: ReadonlySet<string>): Promise<{ removed: number; bytes: number }> {
    if (!(olderThanMs >= 0)) throw new RangeError(`olderThanMs must be a number of milliseconds ≥ 0, not ${olderThanMs}`);
    const cutoffMs = this.#now() - olderThanMs;
    let removed = 0;
    let bytes = 0;
    const root = join(this.#dir, 'sha256');
    for (const fan of await listDir(root)) {
      if (!/^[0-9a-f]{2}$/.test(fan)) continue;
      for (const name of await listDir(join(root, fan))) {
        const sidecarOf = /^([0-9a-f]{62})\.json$/.exec(name);
        if (sidecarOf) {
          await this.#serial(fan + sidecarOf[1], async () => {
            if (!(await exists(join(root, fan, sidecarOf[1]!)))) await rm(join(root, fan, name), { force: true });
          });
          continue;
        }
        if (!/^[0-9a-f]{62}$/.test(name)) continue;
        const hex = fan + name;
        if (pinned.has(`sha256:${hex}`)) continue;
        // Checked again under the ref's lock: a put of the same content may have just renewed it.
        const size = await this.#serial(hex, async () => {
          const st = await stat(this.#blobPath(hex)).catch((err: unknown) => (isMissing(err) ? null : Promise.reject(err)));
          if (!st || st.mtimeMs >= cutoffMs) return -1;
          return (await this.#remove(hex)) ? st.size : -1;
        });
        if (size >= 0) {
          removed++;
          bytes += size;
        }
      }
    }
    // Temp files are written to as a put streams, so one untouched for olderThanMs belongs to a put
    // that died. Their times come from the file system's clock, not the injected one.
    const tmpDir = join(this.#dir, 'tmp');
    const tmpCutoffMs = Date.now() - olderThanMs;
    for (const name of await listDir(tmpDir)) {
      const st = await stat(join(tmpDir, name)).catch(() => null);
      if (st && st.mtimeMs < tmpCutoffMs) await rm(join(tmpDir, name), { force: true });
    }
    return { removed, bytes };
  }

  #blobPath(hex: string): string {
    return join(this.#dir, 'sha256', hex.slice(0, 2), hex.slice(2));
  }

  #sidecarPath(hex: string): string {
    return `${this.#blobPath(hex)}.json`;
  }

  async #remove(hex: string): Promise<boolean> {
    let existed = true;
    try {
      await unlink(this.#blobPath(hex));
    } catch (err) {
      if (!isMissing(err)) throw err;
      existed = false;
    }
    await rm(this.#sidecarPath(hex), { force: true });
    return existed;
  }

  async #readSidecar(hex: string): Promise<Sidecar | null> {
    try {
      const parsed: unknown = JSON.parse(await readFile(this.#sidecarPath(hex), 'utf8'));
      const s = parsed as Partial<Sidecar> | null;
      if (s && typeof s.media_type === 'string' && typeof s.created_at === 'string') return { media_type: s.media_type, created_at: s.created_at };
      return null;
    } catch (err) {
      // Missing or half-written (a crash mid-write of a previous version): rewritten by the caller.
      if (isMissing(err) || err instanceof SyntaxError) return null;
      throw err;
    }
  }

  /** Temp file and rename, like the blob, so a reader never sees half a sidecar. */
  async #writeSidecar(hex: string, sidecar: Sidecar): Promise<void> {
    const tmp = join(this.#dir, 'tmp', `meta-${process.pid}-${randomUUID()}`);
    try {
      await writeFile(tmp, JSON.stringify(sidecar), { flag: 'wx', flush: true });
      await rename(tmp, this.#sidecarPath(hex));
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  #ensureDirs(): Promise<void> {
    this.#ready ??= (async () => {
      await mkdir(join(this.#dir, 'sha256'), { recursive: true });
      await mkdir(join(this.#dir, 'tmp'), { recursive: true });
    })().catch((err: unknown) => {
      this.#ready = null; // let the next put try again (the disk may come back)
      throw err;
    });
    return this.#ready;
  }

  /** Runs `fn` after every earlier step for the same ref in this store object. */
  #serial<T>(hex: string, fn: () => Promise<T>): Promise<T> {
    return this.#locks.run(hex, fn);
  }
}

async function writeAll(file: Awaited<ReturnType<typeof open>>, chunk: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < chunk.byteLength) {
    const { bytesWritten } = await file.write(chunk, offset, chunk.byteLength - offset);
    offset += bytesWritten;
  }
}

async function touch(path: string, nowMs: number): Promise<void> {
  const t = new Date(nowMs);
  await utimes(path, t, t);
}

/** fsync of the folder makes the rename itself durable (POSIX); Windows cannot open folders, and does not need it. */
async function syncDir(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // best effort: see above
  } finally {
    await handle?.close();
  }
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (isMissing(err)) return [];
    throw err;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if (isMissing(err)) return false;
    throw err;
  }
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}

/** `type/subtype` with optional parameters (RFC 6838 §4.2 restricted names). */
const MEDIA_TYPE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*(\s*;\s*[^\s;=]+=[^;]*)*$/;

export function checkMediaType(mediaType: string): string {
  if (typeof mediaType !== 'string' || mediaType.length > BLOB_STORE_DEFAULTS.maxMediaTypeChars || !MEDIA_TYPE_PATTERN.test(mediaType)) {
    throw new RangeError(`media type ${JSON.stringify(String(mediaType).slice(0, 100))} is not valid: write type/subtype, e.g. application/json`);
  }
  return mediaType;
}

/**
 * Runs steps one after another per key (a blob's ref), and steps of different keys freely: the
 * stores' lock, so a sweep cannot delete a blob a concurrent put of the same content just returned.
 *
 * @example
 *   const locks = new KeyedQueue();
 *   await locks.run(hex, () => removeIfOld(hex)); // waits for earlier steps on hex only
 */
export class KeyedQueue {
  /** The tail of each key's queue (entries go when their queue empties). */
  readonly #tails = new Map<string, Promise<unknown>>();

  /** Runs `fn` after every earlier step for `key`, whether they succeeded or not. */
  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const tail = run.catch(() => {});
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return run;
  }
}

/**
 * A blob's bytes in one buffer (for stores that send or write a blob whole), refusing more than
 * `limit` without reading a stream further; nothing is stored before this returns.
 *
 * @throws BlobTooLargeError over `limit`; TypeError when a stream yields something other than bytes
 */
export async function readWhole(data: Uint8Array | AsyncIterable<Uint8Array>, limit: number): Promise<Uint8Array> {
  if (data instanceof Uint8Array) {
    if (data.byteLength > limit) throw new BlobTooLargeError(data.byteLength, limit, false);
    return data;
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of data) {
    if (!(chunk instanceof Uint8Array)) throw new TypeError(`a blob stream must yield Uint8Array chunks, not ${typeof chunk}`);
    size += chunk.byteLength;
    // Leaving the loop early returns the iterator, so the producer stops too.
    if (size > limit) throw new BlobTooLargeError(size, limit, true);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}
