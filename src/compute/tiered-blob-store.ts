import type { BlobInfo, BlobStore, StagedBlob } from './blob-store.js';

/**
 * The data store as the node uses it: small blobs (most job inputs and results) in the
 * database's tier, larger ones in the bulk store (the folder, or an S3-compatible bucket). Refs
 * are the same SHA-256 either way, so callers never know which tier holds a blob; a read looks
 * in the small tier first (one indexed row lookup), then in the bulk store.
 *
 * A stream is read up to `smallMaxBytes`: if it ends by then it goes to the small tier, otherwise
 * what was read and the rest stream on to the bulk store.
 *
 * @example
 *   const blobs = new TieredBlobStore(new DbBlobStore(db, { maxBlobBytes: 256 * 1024 }), new FolderBlobStore(dir, { maxBlobBytes }), 256 * 1024);
 */
export class TieredBlobStore implements BlobStore {
  constructor(
    readonly small: BlobStore,
    readonly bulk: BlobStore,
    /** The largest blob the small tier takes. */
    readonly smallMaxBytes: number,
  ) {
    if (!Number.isSafeInteger(smallMaxBytes) || smallMaxBytes < 0) throw new RangeError(`smallMaxBytes must be a whole number ≥ 0, not ${smallMaxBytes}`);
  }

  async put(data: Uint8Array | AsyncIterable<Uint8Array>, meta?: { media_type?: string }): Promise<BlobInfo> {
    if (data instanceof Uint8Array) return data.byteLength <= this.smallMaxBytes ? this.small.put(data, meta) : this.bulk.put(data, meta);
    const iterator = data[Symbol.asyncIterator]();
    const head: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return this.small.put(Buffer.concat(head, size), meta);
      if (!(next.value instanceof Uint8Array)) throw new TypeError(`a blob stream must yield Uint8Array chunks, not ${typeof next.value}`);
      head.push(next.value);
      size += next.value.byteLength;
      if (size > this.smallMaxBytes) return this.bulk.put(replay(head, iterator), meta);
    }
  }

  stage(data: Uint8Array, meta: { media_type?: string }, db: object): StagedBlob | null {
    return data.byteLength <= this.smallMaxBytes ? (this.small.stage?.(data, meta, db) ?? null) : null;
  }

  async get(ref: string): Promise<Uint8Array | null> {
    return (await this.small.get(ref)) ?? this.bulk.get(ref);
  }

  async stat(ref: string): Promise<BlobInfo | null> {
    return (await this.small.stat(ref)) ?? this.bulk.stat(ref);
  }

  async delete(ref: string): Promise<boolean> {
    const [a, b] = await Promise.all([this.small.delete(ref), this.bulk.delete(ref)]);
    return a || b;
  }

  async sweep(olderThanMs: number, pinned: ReadonlySet<string>): Promise<{ removed: number; bytes: number }> {
    const [a, b] = await Promise.all([this.small.sweep(olderThanMs, pinned), this.bulk.sweep(olderThanMs, pinned)]);
    return { removed: a.removed + b.removed, bytes: a.bytes + b.bytes };
  }
}

/** The chunks already read, then the rest of the stream (returned early if the consumer stops). */
async function* replay(head: Uint8Array[], rest: AsyncIterator<Uint8Array>): AsyncGenerator<Uint8Array> {
  let finished = false;
  try {
    yield* head;
    for (;;) {
      const next = await rest.next();
      if (next.done) {
        finished = true;
        return;
      }
      yield next.value;
    }
  } finally {
    if (!finished) await rest.return?.();
  }
}
