import { createHash, createHmac } from 'node:crypto';

/**
 * AWS Signature Version 4 for requests signed in the Authorization header, as S3 and every
 * S3-compatible store (MinIO, Ceph RGW, Garage) accept it. Written here rather than taken from the
 * AWS SDK: the blob store needs five S3 calls, and the SDK is tens of megabytes.
 *
 * Spec: "Create a signed AWS API request" (AWS IAM user guide, Signature Version 4) and, for S3's
 * own rules, "Signature Calculations for the Authorization Header" (Amazon S3 API reference).
 */

export interface SigV4Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface SigV4Request {
  method: string;
  /** Where the request goes; its host is signed, and its path and query are canonicalised. */
  url: URL;
  /** Headers to send and sign (any case). `host` and `x-amz-date` are added by the signer. */
  headers: Readonly<Record<string, string>>;
  /** Hex SHA-256 of the body (of "" when there is none), or `UNSIGNED-PAYLOAD`. */
  payloadSha256: string;
}

export interface SigV4Scope {
  /** e.g. `us-east-1`; S3-compatible servers mostly accept any value, AWS only the bucket's. */
  region: string;
  /** `s3` for S3. */
  service: string;
}

export interface SignedRequest {
  /** The request's headers plus `x-amz-date` and `authorization`, lower-case names. */
  headers: Record<string, string>;
  /** Exposed so a signature mismatch can be debugged against the server's own canonical request. */
  canonicalRequest: string;
  stringToSign: string;
  signature: string;
}

/** SHA-256 of the empty string: the payload hash of a request without a body. */
export const EMPTY_PAYLOAD_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const ALGORITHM = 'AWS4-HMAC-SHA256';

/**
 * Signs a request at `date`; the caller sends the returned headers (the `host` header is left to
 * the HTTP client, which writes the same `url.host` that was signed).
 *
 * @example
 *   const { headers } = signV4(
 *     { method: 'GET', url: new URL('http://127.0.0.1:9000/city/blobs/sha256/ab…'),
 *       headers: { 'x-amz-content-sha256': EMPTY_PAYLOAD_SHA256 }, payloadSha256: EMPTY_PAYLOAD_SHA256 },
 *     { accessKeyId: 'city', secretAccessKey: '…' }, { region: 'us-east-1', service: 's3' }, new Date());
 *   await fetch(url, { headers });
 */
export function signV4(request: SigV4Request, credentials: SigV4Credentials, scope: SigV4Scope, date: Date): SignedRequest {
  const amzDate = formatAmzDate(date);
  const day = amzDate.slice(0, 8);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) headers[name.toLowerCase()] = value;
  headers['x-amz-date'] = amzDate;

  const signedHeaders: Record<string, string> = { ...headers, host: request.url.host };
  const names = Object.keys(signedHeaders).sort();
  const signedHeaderList = names.join(';');
  const canonicalRequest = [
    request.method.toUpperCase(),
    canonicalUri(request.url.pathname),
    canonicalQuery(request.url.searchParams),
    // Each header line ends in \n, so the block is followed by an empty line (SigV4 step 1).
    names.map((name) => `${name}:${canonicalHeaderValue(signedHeaders[name]!)}\n`).join(''),
    signedHeaderList,
    request.payloadSha256,
  ].join('\n');

  const credentialScope = `${day}/${scope.region}/${scope.service}/aws4_request`;
  const stringToSign = [ALGORITHM, amzDate, credentialScope, sha256Hex(canonicalRequest)].join('\n');
  const signature = hmac(signingKey(credentials.secretAccessKey, day, scope), stringToSign).toString('hex');

  headers['authorization'] = `${ALGORITHM} Credential=${credentials.accessKeyId}/${credentialScope}, SignedHeaders=${signedHeaderList}, Signature=${signature}`;
  return { headers, canonicalRequest, stringToSign, signature };
}

/**
 * RFC 3986 percent-encoding as SigV4 wants it: everything but unreserved characters
 * (A–Z a–z 0–9 - . _ ~) as %XX of the UTF-8 bytes, upper-case hex. encodeURIComponent leaves
 * ! ' ( ) * alone, so those are done by hand.
 */
export function encodeRfc3986(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** `YYYYMMDDTHHMMSSZ`, the one date format SigV4 accepts in `x-amz-date`. */
export function formatAmzDate(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

/**
 * The path, each segment decoded and encoded once (S3 does not double-encode, unlike the other
 * services; nor does it normalise `.` segments, which is why the store never makes any). Decoding
 * first means a path written `$` or `%24` signs the same, as the server sees the same key.
 */
function canonicalUri(pathname: string): string {
  return pathname
    .split('/')
    .map((segment) => encodeRfc3986(decodeURIComponent(segment)))
    .join('/') || '/';
}

/** Parameters encoded, then sorted by name and value (SigV4 step 1, canonical query string). */
function canonicalQuery(params: URLSearchParams): string {
  const pairs: [string, string][] = [];
  for (const [name, value] of params) pairs.push([encodeRfc3986(name), encodeRfc3986(value)]);
  pairs.sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return pairs.map(([name, value]) => `${name}=${value}`).join('&');
}

/** Trimmed, with runs of spaces made one (SigV4 step 1, canonical headers). */
function canonicalHeaderValue(value: string): string {
  return value.trim().replace(/ +/g, ' ');
}

function signingKey(secretAccessKey: string, day: string, scope: SigV4Scope): Buffer {
  const dateKey = hmac(`AWS4${secretAccessKey}`, day);
  const regionKey = hmac(dateKey, scope.region);
  const serviceKey = hmac(regionKey, scope.service);
  return hmac(serviceKey, 'aws4_request');
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}
