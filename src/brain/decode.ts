import { gunzipSync, inflateSync } from 'node:zlib';
import { cityError } from '../errors.js';
import { decodeProtobufEvents } from '../events/protobuf-codec.js';
import type { DecodedItem } from './ingest.js';

export type PayloadFormat = 'json' | 'ndjson' | 'protobuf-event' | 'protobuf-batch';

/**
 * Picks the decoder from an HTTP content type (seed 001 §2.3: Protocol Buffers or JSON).
 * Protobuf bodies are one `city.v1.Event` unless the type says
 * `application/x-protobuf; messageType=city.v1.EventBatch`.
 * Returns null for a type we do not take (→ 415).
 */
export function formatFromContentType(contentType: string | undefined): PayloadFormat | null {
  if (!contentType) return 'json';
  const [mime = '', ...params] = contentType.toLowerCase().split(';').map((s) => s.trim());
  switch (mime) {
    case 'application/json':
    case 'text/json':
      return 'json';
    case 'application/x-ndjson':
    case 'application/ndjson':
    case 'application/jsonl':
    case 'application/jsonlines':
    case 'application/x-jsonlines':
      return 'ndjson';
    case 'application/x-protobuf':
    case 'application/protobuf':
    case 'application/vnd.google.protobuf': {
      const type = params.find((p) => p.startsWith('messagetype=') || p.startsWith('proto='));
      return type && /eventbatch/.test(type) ? 'protobuf-batch' : 'protobuf-event';
    }
    default:
      return null;
  }
}

/** NDJSON: a closing brace, a line break, an opening brace — with no comma between. */
const NDJSON_BOUNDARY = /\}[ \t\r]*\n\s*\{/;

/**
 * For MQTT, which carries no content type in 3.1.1: JSON when the payload starts with `{` or
 * `[` (NDJSON when several lines), otherwise protobuf — an `Event`, or an `EventBatch` on the
 * `…/batch` topic.
 */
export function sniffFormat(bytes: Uint8Array, batchTopic: boolean): PayloadFormat {
  const i = firstNonSpace(bytes);
  const first = bytes[i];
  if (first === 0x7b /* { */ || first === 0x5b /* [ */) {
    // Pretty-printed JSON never matches NDJSON_BOUNDARY: nested objects follow a colon,
    // array items a comma.
    if (first === 0x7b && bytes.indexOf(0x0a, i) !== -1 && NDJSON_BOUNDARY.test(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1'))) return 'ndjson';
    return 'json';
  }
  return batchTopic ? 'protobuf-batch' : 'protobuf-event';
}

/**
 * Decodes a body into items. A body that cannot be read at all throws
 * CITY_ERR_PAYLOAD_MALFORMED (→ 400); in NDJSON and protobuf batches a bad item is reported
 * as that item's failure and the others go on.
 */
export function decodePayload(bytes: Buffer, format: PayloadFormat, maxItems: number): { items: DecodedItem[]; batch: boolean } {
  let items: DecodedItem[];
  switch (format) {
    case 'json':
      items = decodeJson(bytes);
      break;
    case 'ndjson':
      items = decodeNdjson(bytes);
      break;
    case 'protobuf-event':
    case 'protobuf-batch':
      items = decodeProtobufEvents(bytes, format === 'protobuf-batch' ? 'batch' : 'event').map((d) =>
        d.ok ? { ok: true as const, event: d.event } : { ok: false as const, code: 'PAYLOAD_MALFORMED' as const, reason: d.reason, raw: null },
      );
      break;
  }
  if (items.length === 0) throw cityError('PAYLOAD_MALFORMED', { format, reason: 'the payload holds no events' });
  if (items.length > maxItems) {
    throw cityError('PAYLOAD_MALFORMED', { format, reason: `a batch may hold at most ${maxItems} events; this one has ${items.length}` });
  }
  // A lone JSON object or protobuf Event is answered as one event, anything else per item.
  const batch = format === 'ndjson' || format === 'protobuf-batch' || (format === 'json' && bytes[firstNonSpace(bytes)] === 0x5b);
  return { items, batch };
}

function firstNonSpace(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x0a || bytes[i] === 0x0d || bytes[i] === 0x09)) i++;
  return i;
}

function decodeJson(bytes: Buffer): DecodedItem[] {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw cityError('PAYLOAD_MALFORMED', { format: 'json', reason: (err as Error).message });
  }
  if (Array.isArray(value)) {
    const out: DecodedItem[] = new Array(value.length);
    for (let i = 0; i < value.length; i++) out[i] = asItem(value[i], null);
    return out;
  }
  if (value !== null && typeof value === 'object') return [{ ok: true, event: value as Record<string, unknown> }];
  throw cityError('PAYLOAD_MALFORMED', { format: 'json', reason: 'expected an event object or an array of events' });
}

function decodeNdjson(bytes: Buffer): DecodedItem[] {
  const text = bytes.toString('utf8');
  const out: DecodedItem[] = [];
  let start = 0;
  let lineNo = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const line = text.slice(start, end).trim();
    start = end + 1;
    lineNo++;
    if (line.length === 0) continue;
    try {
      out.push(asItem(JSON.parse(line), line));
    } catch (err) {
      out.push({ ok: false, code: 'PAYLOAD_MALFORMED', reason: `line ${lineNo}: ${(err as Error).message}`, raw: line });
    }
  }
  return out;
}

function asItem(value: unknown, raw: string | null): DecodedItem {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    return raw === null ? { ok: true, event: value as Record<string, unknown> } : { ok: true, event: value as Record<string, unknown>, raw };
  }
  return { ok: false, code: 'PAYLOAD_MALFORMED', reason: 'an event must be a JSON object', raw: JSON.stringify(value) ?? null };
}

/**
 * Undoes a `Content-Encoding` of gzip or deflate (vendors compress large batches). The limit
 * applies to the decompressed size, so a small compressed bomb is refused like a large body.
 * Throws PAYLOAD_TOO_LARGE, PAYLOAD_MALFORMED (corrupt data) or MEDIA_TYPE_UNSUPPORTED.
 */
export function decodeContentEncoding(bytes: Buffer, encoding: string | undefined, limitBytes: number): Buffer {
  const name = (encoding ?? 'identity').trim().toLowerCase();
  if (name === 'identity' || name === '') return bytes;
  if (name !== 'gzip' && name !== 'x-gzip' && name !== 'deflate') {
    throw cityError('MEDIA_TYPE_UNSUPPORTED', { contentType: `content-encoding ${name}` });
  }
  try {
    const options = { maxOutputLength: limitBytes };
    return name === 'deflate' ? inflateSync(bytes, options) : gunzipSync(bytes, options);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ERR_BUFFER_TOO_LARGE') throw cityError('PAYLOAD_TOO_LARGE', { size: `more than ${limitBytes} (decompressed)`, limit: limitBytes });
    throw cityError('PAYLOAD_MALFORMED', { format: name, reason: e.message });
  }
}
