import { createHash } from 'node:crypto';
import { BLOB_STORE_DEFAULTS, BlobCorruptError, checkMediaType, KeyedQueue, parseRef, readWhole, type BlobInfo, type BlobStore } from './blob-store.js';
import { EMPTY_PAYLOAD_SHA256, encodeRfc3986, signV4, type SigV4Credentials, type SigV4Scope } from './s3-sigv4.js';

export const S3_BLOB_STORE_DEFAULTS = {
  region: 'us-east-1',
  prefix: 'blobs/',
  /**
   * S3 cannot touch an object in place, so a use renews its LastModified by copying it onto itself:
   * at most this often per object and process, so that reads stay one request.
   */
  refreshIntervalMs: 3_600_000,
  /** ListObjectsV2's page size; 1000 is the most S3 returns. */
  listPageKeys: 1000,
} as const;

export interface S3BlobStoreOptions {
  /** The service's base URL, e.g. `http://127.0.0.1:9000` (MinIO) or `https://s3.eu-west-1.amazonaws.com`. */
  endpoint: string;
  /** Signed into every request; AWS wants the bucket's region, most other servers take any. */
  region?: string;
  bucket: string;
  /** Where in the bucket blobs go: `''` or segments ending in `/`. Default `blobs/`. */
  prefix?: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Largest blob accepted, in bytes. A put holds the whole blob in memory (see `put`). */
  maxBlobBytes: number;
  /**
   * The clock for created_at, refresh throttling and the sweep's cutoff (tests move it). The cutoff
   * is compared with the server's LastModified, so outside tests this is real time; requests are
   * always signed with the real clock, as servers refuse one more than 15 minutes off.
   */
  now?: () => number;
  /** The HTTP client (tests wrap it to see the requests). */
  fetch?: typeof fetch;
  /** Keys per ListObjectsV2 page, 1–1000 (tests make pages small). */
  listPageKeys?: number;
}

/** The service answered with an error, or did not answer. Not a BlobStoreError: it is I/O. */
export class S3RequestError extends Error {
  override name = 'S3RequestError';
  /**
   * @param operation the S3 API call, e.g. `GetObject`
   * @param target what it was for: `<bucket>/<key> at <endpoint>`
   * @param status the HTTP status, 0 when no response came
   * @param code the S3 error code (`NoSuchBucket`, `SignatureDoesNotMatch`…) when the service gave one
   */
  constructor(
    readonly operation: string,
    readonly target: string,
    readonly status: number,
    readonly code: string | undefined,
    readonly s3Message: string | undefined,
    options?: ErrorOptions,
  ) {
    super(`S3 ${operation} of ${target} failed: ${describeFailure(status, code, s3Message)}`, options);
  }
}

function describeFailure(status: number, code: string | undefined, message: string | undefined): string {
  if (status === 0) return 'no response';
  if (code === undefined && message === undefined) return `${status} (no S3 error in the response)`;
  return `${status}${code ? ` ${code}` : ''}${message ? `: ${message}` : ''}`;
}

/** What a HEAD or GET says about a stored object. */
interface ObjectMeta {
  size: number;
  media_type: string;
  created_at: string;
  /** The ETag without quotes: the MD5 of the bytes for a single-part upload without KMS. */
  etag: string;
  lastModifiedMs: number;
}

interface S3Call {
  /** The S3 API name, for errors. */
  operation: string;
  method: 'GET' | 'HEAD' | 'PUT' | 'DELETE';
  /** The object; absent for bucket calls (listing). */
  key?: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: Uint8Array;
  /** The body's hex SHA-256 when the caller has it already (a blob's is its ref). */
  bodySha256?: string;
  /** Statuses the caller handles; any other is thrown as an S3RequestError. */
  expect: readonly number[];
}

/** Past this many remembered refreshes, ones older than the interval are dropped (they save nothing). */
const REFRESH_MEMORY_ENTRIES = 10_000;
const HEX_PATTERN = /^[0-9a-f]{64}$/;
/** S3's bucket naming rules (path-style, so no dots-versus-TLS concerns). */
const BUCKET_PATTERN = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * A BlobStore in a bucket of any S3-compatible service (AWS S3, MinIO, Ceph RGW, Garage),
 * addressed path-style (`<endpoint>/<bucket>/<key>`), which all of them accept:
 *
 *   <prefix>sha256/<hex>   the bytes of sha256:<hex>; content-type is the media type, and
 *                          x-amz-meta-created-at the first put
 *
 * Last use is the object's LastModified: a put of stored content and a get renew it with a
 * CopyObject onto itself (metadata kept), at most once per `refreshIntervalMs` per object and
 * process. LastModified can so lag the last use by up to that interval, and `sweep` widens its
 * cutoff by it: it never removes a blob used within `olderThanMs`, from any process, and may keep
 * one up to an interval longer.
 *
 * Puts, deletes, refreshes and sweep deletions of one ref in one store object are serialised. Two
 * processes on one bucket are safe for put and get (content is immutable); a sweep in one may race
 * a put in the other between its check and its delete, as S3 has no conditional delete everywhere.
 *
 * @example
 *   const store = new S3BlobStore({ endpoint: 'http://127.0.0.1:9000', bucket: 'city', accessKeyId: 'city',
 *     secretAccessKey: process.env.CITY_S3_SECRET!, maxBlobBytes: 64 * 1024 * 1024 });
 *   const { ref } = await store.put(new TextEncoder().encode('{"ward":"chennai-w042"}'), { media_type: 'application/json' });
 *   await store.get(ref); // → the same bytes, checked
 */
export class S3BlobStore implements BlobStore {
  readonly #base: string;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #credentials: SigV4Credentials;
  readonly #scope: SigV4Scope;
  readonly #maxBlobBytes: number;
  readonly #listPageKeys: number;
  readonly #now: () => number;
  readonly #fetch: typeof fetch;
  /** When this object last renewed each ref's LastModified (by upload or copy), on the `now` clock. */
  readonly #refreshedAtMs = new Map<string, number>();
  /** Each ref's queue of put/refresh/delete/sweep steps. */
  readonly #locks = new KeyedQueue();

  /** @throws RangeError for a bad endpoint, bucket, prefix, limit or missing credentials */
  constructor(options: S3BlobStoreOptions) {
    this.#base = checkEndpoint(options.endpoint);
    if (!BUCKET_PATTERN.test(options.bucket)) throw new RangeError(`bucket ${JSON.stringify(options.bucket)} is not a valid S3 bucket name (3–63 of a-z 0-9 . -)`);
    this.#bucket = options.bucket;
    this.#prefix = checkPrefix(options.prefix ?? S3_BLOB_STORE_DEFAULTS.prefix);
    if (!options.accessKeyId || !options.secretAccessKey) throw new RangeError('accessKeyId and secretAccessKey are both needed to sign S3 requests');
    this.#credentials = { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey };
    this.#scope = { region: options.region ?? S3_BLOB_STORE_DEFAULTS.region, service: 's3' };
    if (!Number.isSafeInteger(options.maxBlobBytes) || options.maxBlobBytes < 1) {
      throw new RangeError(`maxBlobBytes must be a whole number of bytes ≥ 1, not ${options.maxBlobBytes}`);
    }
    this.#maxBlobBytes = options.maxBlobBytes;
    const pageKeys = options.listPageKeys ?? S3_BLOB_STORE_DEFAULTS.listPageKeys;
    if (!Number.isSafeInteger(pageKeys) || pageKeys < 1 || pageKeys > 1000) throw new RangeError(`listPageKeys must be 1–1000, not ${pageKeys}`);
    this.#listPageKeys = pageKeys;
    this.#now = options.now ?? Date.now;
    this.#fetch = options.fetch ?? fetch;
  }

  /**
   * Uploads the bytes under their hash. The blob is held in memory whole (up to `maxBlobBytes`):
   * a single PutObject needs its length and SHA-256 before the first byte is sent, and multipart
   * uploads are not worth it at the sizes jobs exchange.
   *
   * Content already stored is not uploaded again, only renewed, and keeps its media type and
   * created_at; unless the stored copy's size or ETag (its MD5) differ from these bytes, when it
   * is rewritten: a put of the original content repairs a corrupt blob, as in FolderBlobStore.
   * (Where ETags are not MD5s, as with SSE-KMS, that means an upload on every put: correct, dearer.)
   *
   * @throws BlobTooLargeError over `maxBlobBytes` (nothing is sent)
   * @throws RangeError for a media type that is not `type/subtype`
   * @throws TypeError when a stream yields something other than bytes
   * @throws S3RequestError when the service refuses or does not answer
   */
  async put(data: Uint8Array | AsyncIterable<Uint8Array>, meta: { media_type?: string } = {}): Promise<BlobInfo> {
    const mediaType = checkMediaType(meta.media_type ?? BLOB_STORE_DEFAULTS.mediaType);
    const bytes = await readWhole(data, this.#maxBlobBytes);
    const hex = createHash('sha256').update(bytes).digest('hex');
    const md5 = createHash('md5').update(bytes).digest('hex');
    const ref = `sha256:${hex}`;
    return this.#serial(hex, async () => {
      const key = this.#key(hex);
      const nowMs = this.#now();
      const stored = await this.#head(key);
      if (stored && stored.size === bytes.byteLength && stored.etag === md5 && (await this.#refresh(hex, key, stored))) {
        return { ref, size: stored.size, media_type: stored.media_type, created_at: stored.created_at };
      }
      // New, gone since the HEAD, or not these bytes: (re)write it, keeping what the first put said.
      const kept = stored ? { media_type: stored.media_type, created_at: stored.created_at } : { media_type: mediaType, created_at: new Date(nowMs).toISOString() };
      await this.#call({
        operation: 'PutObject',
        method: 'PUT',
        key,
        headers: { 'content-type': kept.media_type, 'x-amz-meta-created-at': kept.created_at },
        body: bytes,
        bodySha256: hex,
        expect: [200],
      }).then(discard);
      this.#refreshedAtMs.set(hex, nowMs);
      return { ref, size: bytes.byteLength, ...kept };
    });
  }

  /**
   * The bytes, checked against the ref; a read renews the blob's last use (see the class).
   *
   * @throws BlobRefError for a bad ref (no request is made)
   * @throws BlobCorruptError when the bytes do not hash to the ref
   * @throws S3RequestError when the service refuses or does not answer
   */
  async get(ref: string): Promise<Uint8Array | null> {
    const { hex } = parseRef(ref);
    const key = this.#key(hex);
    const res = await this.#call({ operation: 'GetObject', method: 'GET', key, expect: [200, 404] });
    if (res.status === 404) {
      await this.#throwUnlessNoSuchKey('GetObject', key, res);
      return null;
    }
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await res.arrayBuffer());
    } catch (err) {
      throw new S3RequestError('GetObject', this.#describe(key), 0, undefined, undefined, { cause: err });
    }
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== hex) throw new BlobCorruptError(ref, actual, `${this.#bucket}/${key}`);
    // Gone meanwhile is fine: we have the bytes (refresh answers false).
    await this.#serial(hex, () => this.#refresh(hex, key, metaOf(res.headers, bytes.byteLength)));
    return bytes;
  }

  /**
   * Does not count as a use. A HEAD answer has no body, so a missing bucket looks like a missing
   * blob here (null); put and get tell the two apart.
   *
   * @throws BlobRefError for a bad ref; S3RequestError from the service
   */
  async stat(ref: string): Promise<BlobInfo | null> {
    const { hex } = parseRef(ref);
    const stored = await this.#head(this.#key(hex));
    return stored && { ref, size: stored.size, media_type: stored.media_type, created_at: stored.created_at };
  }

  /** @throws BlobRefError for a bad ref; S3RequestError from the service */
  async delete(ref: string): Promise<boolean> {
    const { hex } = parseRef(ref);
    return this.#serial(hex, async () => {
      const key = this.#key(hex);
      // DeleteObject answers 204 whether or not there was an object: ask first.
      if (!(await this.#head(key))) return false;
      await this.#deleteObject(hex, key);
      return true;
    });
  }

  /**
   * Removes every blob under the prefix not used for `olderThanMs` (LastModified before now −
   * olderThanMs − refreshIntervalMs, see the class) and not in `pinned`. Each candidate from the
   * listing is checked again with a HEAD under its ref's lock before it is deleted, so a blob put or
   * read since the listing stays. Objects under the prefix that are not blobs are left alone.
   *
   * @throws RangeError when `olderThanMs` is not a number ≥ 0
   * @throws S3RequestError from the service (blobs removed before it stay removed)
   */
  async sweep(olderThanMs: number, pinned: ReadonlySet<string>): Promise<{ removed: number; bytes: number }> {
    if (!(olderThanMs >= 0)) throw new RangeError(`olderThanMs must be a number of milliseconds ≥ 0, not ${olderThanMs}`);
    const cutoffMs = this.#now() - olderThanMs - S3_BLOB_STORE_DEFAULTS.refreshIntervalMs;
    const listPrefix = `${this.#prefix}sha256/`;
    let removed = 0;
    let bytes = 0;
    let token: string | undefined;
    do {
      const page = await this.#listPage(listPrefix, token);
      for (const entry of page.entries) {
        const hex = entry.key.slice(listPrefix.length);
        if (!HEX_PATTERN.test(hex) || pinned.has(`sha256:${hex}`) || !(entry.lastModifiedMs < cutoffMs)) continue;
        const size = await this.#serial(hex, async () => {
          const stored = await this.#head(entry.key);
          if (!stored || stored.lastModifiedMs >= cutoffMs) return -1;
          await this.#deleteObject(hex, entry.key);
          return stored.size;
        });
        if (size >= 0) {
          removed++;
          bytes += size;
        }
      }
      token = page.nextToken;
    } while (token !== undefined);
    this.#forgetOldRefreshes();
    return { removed, bytes };
  }

  #key(hex: string): string {
    return `${this.#prefix}sha256/${hex}`;
  }

  /** How errors name an object: bucket/key at the endpoint. */
  #describe(key: string): string {
    return `${this.#bucket}/${key} at ${this.#base}`;
  }

  /** HeadObject: null when there is no such object. */
  async #head(key: string): Promise<ObjectMeta | null> {
    const res = await this.#call({ operation: 'HeadObject', method: 'HEAD', key, expect: [200, 404] });
    await discard(res);
    return res.status === 404 ? null : metaOf(res.headers);
  }

  /**
   * Renews LastModified by copying the object onto itself with its metadata, unless this object
   * did so within the refresh interval. False when the object is gone (the caller decides).
   */
  async #refresh(hex: string, key: string, stored: Pick<ObjectMeta, 'media_type' | 'created_at'>): Promise<boolean> {
    const nowMs = this.#now();
    const last = this.#refreshedAtMs.get(hex);
    if (last !== undefined && nowMs - last < S3_BLOB_STORE_DEFAULTS.refreshIntervalMs) return true;
    const res = await this.#call({
      operation: 'CopyObject',
      method: 'PUT',
      key,
      headers: {
        'x-amz-copy-source': `/${this.#bucket}/${encodeKey(key)}`,
        // REPLACE is what makes a copy onto itself legal; the same metadata goes back on.
        'x-amz-metadata-directive': 'REPLACE',
        'content-type': stored.media_type,
        'x-amz-meta-created-at': stored.created_at,
      },
      expect: [200, 404],
    });
    const body = await res.text();
    if (res.status === 404) return false;
    // CopyObject may fail after answering 200: the error is then in the body (S3 API reference, CopyObject).
    if (body.includes('<Error>')) throw new S3RequestError('CopyObject', this.#describe(key), res.status, xmlText(body, 'Code'), xmlText(body, 'Message'));
    this.#refreshedAtMs.set(hex, nowMs);
    if (this.#refreshedAtMs.size > REFRESH_MEMORY_ENTRIES) this.#forgetOldRefreshes();
    return true;
  }

  async #deleteObject(hex: string, key: string): Promise<void> {
    await this.#call({ operation: 'DeleteObject', method: 'DELETE', key, expect: [200, 204] }).then(discard);
    this.#refreshedAtMs.delete(hex);
  }

  /** One ListObjectsV2 page of keys under `prefix`. */
  async #listPage(prefix: string, token: string | undefined): Promise<{ entries: { key: string; lastModifiedMs: number }[]; nextToken?: string }> {
    const query: Record<string, string> = { 'list-type': '2', prefix, 'max-keys': String(this.#listPageKeys) };
    if (token !== undefined) query['continuation-token'] = token;
    const res = await this.#call({ operation: 'ListObjectsV2', method: 'GET', key: undefined, query, expect: [200] });
    const xml = await res.text();
    const entries = xmlElements(xml, 'Contents').map((contents) => ({
      key: xmlText(contents, 'Key') ?? '',
      lastModifiedMs: Date.parse(xmlText(contents, 'LastModified') ?? ''),
    }));
    if (xmlText(xml, 'IsTruncated') !== 'true') return { entries };
    const nextToken = xmlText(xml, 'NextContinuationToken');
    // Without a token the next page cannot be asked for; stopping here would sweep silently less.
    if (!nextToken) throw new S3RequestError('ListObjectsV2', this.#describe(prefix), res.status, undefined, 'a truncated listing without NextContinuationToken');
    return { entries, nextToken };
  }

  /** A 404 from GET is "no such blob" only when it says NoSuchKey; a missing bucket is an error. */
  async #throwUnlessNoSuchKey(operation: string, key: string, res: Response): Promise<void> {
    const body = await res.text();
    const code = xmlText(body, 'Code');
    if (code !== undefined && code !== 'NoSuchKey') throw new S3RequestError(operation, this.#describe(key), res.status, code, xmlText(body, 'Message'));
  }

  /** Signs and sends one request; statuses outside `expect` and network failures throw S3RequestError. */
  async #call(call: S3Call): Promise<Response> {
    const path = call.key === undefined ? `/${this.#bucket}` : `/${this.#bucket}/${encodeKey(call.key)}`;
    const url = new URL(this.#base + path + queryString(call.query ?? {}));
    const payloadSha256 = call.bodySha256 ?? (call.body ? createHash('sha256').update(call.body).digest('hex') : EMPTY_PAYLOAD_SHA256);
    // The real clock: servers refuse a request dated more than 15 minutes off theirs.
    const signed = signV4({ method: call.method, url, headers: { ...call.headers, 'x-amz-content-sha256': payloadSha256 }, payloadSha256 }, this.#credentials, this.#scope, new Date());
    const what = this.#describe(call.key ?? call.query?.['prefix'] ?? '');
    let res: Response;
    try {
      res = await this.#fetch(url, { method: call.method, headers: signed.headers, ...(call.body ? { body: call.body } : {}) });
    } catch (err) {
      throw new S3RequestError(call.operation, what, 0, undefined, undefined, { cause: err });
    }
    if (call.expect.includes(res.status)) return res;
    const body = await res.text().catch(() => '');
    // HEAD answers carry no body; some servers (MinIO) name the error in headers instead.
    const code = xmlText(body, 'Code') ?? res.headers.get('x-amz-error-code') ?? res.headers.get('x-minio-error-code') ?? undefined;
    const message = xmlText(body, 'Message') ?? res.headers.get('x-amz-error-message') ?? res.headers.get('x-minio-error-desc') ?? undefined;
    throw new S3RequestError(call.operation, what, res.status, code, message);
  }

  /** The refresh times only save requests; ones past the interval are worth nothing. */
  #forgetOldRefreshes(): void {
    const horizonMs = this.#now() - S3_BLOB_STORE_DEFAULTS.refreshIntervalMs;
    for (const [hex, atMs] of this.#refreshedAtMs) if (atMs < horizonMs) this.#refreshedAtMs.delete(hex);
  }

  /** Runs `fn` after every earlier step for the same ref in this store object. */
  #serial<T>(hex: string, fn: () => Promise<T>): Promise<T> {
    return this.#locks.run(hex, fn);
  }
}

function metaOf(headers: Headers, size?: number): ObjectMeta {
  const lastModifiedMs = Date.parse(headers.get('last-modified') ?? '');
  const createdAt = headers.get('x-amz-meta-created-at');
  return {
    size: size ?? Number(headers.get('content-length') ?? 0),
    media_type: headers.get('content-type') ?? BLOB_STORE_DEFAULTS.mediaType,
    // An object written by something else has no created-at: its LastModified is the best guess.
    created_at: createdAt && !Number.isNaN(Date.parse(createdAt)) ? createdAt : new Date(Number.isNaN(lastModifiedMs) ? 0 : lastModifiedMs).toISOString(),
    etag: (headers.get('etag') ?? '').replace(/"/g, ''),
    lastModifiedMs,
  };
}

/** Lets the connection go back to the pool; an unread body would hold it. */
async function discard(res: Response): Promise<void> {
  await res.body?.cancel();
}

function encodeKey(key: string): string {
  return key.split('/').map(encodeRfc3986).join('/');
}

function queryString(query: Record<string, string>): string {
  const pairs = Object.entries(query).map(([name, value]) => `${encodeRfc3986(name)}=${encodeRfc3986(value)}`);
  return pairs.length ? `?${pairs.join('&')}` : '';
}

function checkEndpoint(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new RangeError(`endpoint ${JSON.stringify(endpoint)} is not a URL; write e.g. http://127.0.0.1:9000`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.search || url.hash || url.username) {
    throw new RangeError(`endpoint ${JSON.stringify(endpoint)} must be an http(s) URL without query, fragment or credentials`);
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/**
 * `''` or non-empty segments each ending in `/`. No `.` or `..` segments: URL parsing would
 * normalise them away, and the key signed would no longer be the key sent.
 */
function checkPrefix(prefix: string): string {
  const segments = typeof prefix === 'string' ? prefix.split('/') : [];
  const last = segments.pop();
  if (last !== '' || (prefix !== '' && segments.some((s) => s === '' || s === '.' || s === '..'))) {
    throw new RangeError(`prefix ${JSON.stringify(prefix)} is not valid: write '' or folder names each followed by '/', e.g. 'blobs/'`);
  }
  return prefix;
}

/*
 * Just enough XML for S3's answers (ListBucketResult, Error, CopyObjectResult): elements found by
 * name, text unescaped. No attributes, namespaces or CDATA are needed there, so none are parsed.
 */

/** The inner text of each `<tag>…</tag>` in `xml`, in order (same-name elements do not nest in S3's answers). */
function xmlElements(xml: string, tag: string): string[] {
  const found: string[] = [];
  const close = `</${tag}>`;
  let at = 0;
  for (;;) {
    const open = xml.indexOf(`<${tag}`, at);
    if (open === -1) return found;
    const end = xml.indexOf('>', open);
    if (end === -1) return found;
    const after = xml[open + tag.length + 1];
    if (after !== '>' && after !== ' ' && after !== '/') {
      at = open + 1; // a longer name that starts the same, e.g. <KeyCount> for <Key>
      continue;
    }
    if (xml[end - 1] === '/') {
      found.push('');
      at = end + 1;
      continue;
    }
    const stop = xml.indexOf(close, end + 1);
    if (stop === -1) return found;
    found.push(xml.slice(end + 1, stop));
    at = stop + close.length;
  }
}

/** The unescaped text of the first `<tag>`, or undefined when there is none. */
function xmlText(xml: string, tag: string): string | undefined {
  const first = xmlElements(xml, tag)[0];
  return first === undefined ? undefined : unescapeXml(first);
}

const XML_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function unescapeXml(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (whole, name: string) => {
    if (name.startsWith('#x')) return String.fromCodePoint(parseInt(name.slice(2), 16));
    if (name.startsWith('#')) return String.fromCodePoint(parseInt(name.slice(1), 10));
    return XML_ENTITIES[name] ?? whole;
  });
}
