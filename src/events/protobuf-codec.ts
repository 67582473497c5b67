/**
 * Protobuf codec for the event envelope of seed 001 §10.1 (`city.v1.Event`, `city.v1.EventBatch`
 * in proto/city/v1/event.proto). It turns binary events into the same JSON object a JSON client
 * sends, so one compiled plugin schema validates both encodings (seed 001 §2.3: "Protocol
 * Buffers or JSON").
 *
 * The decoder is hand-written over @bufbuild/protobuf's BinaryReader instead of the reflective
 * `fromBinary`: it skips the intermediate message object and the bigint for `timestamp_ms`, and
 * it sees field *presence* on the wire, which proto3's implicit-presence message objects hide.
 * It is tested against the generated encoder (test/events/protobuf-codec.test.ts).
 *
 * Mapping rules (decode):
 * - model-specific data travels in `payload` as a UTF-8 JSON object; its keys are merged in at
 *   the top level first, then each envelope field that is *present* overrides its key. Present
 *   means non-empty for strings, non-zero for `timestamp_ms` and enums, on the wire for numbers.
 *   So a sender may leave an envelope field unset and carry it in the payload instead (e.g. a
 *   severity the enum cannot express), and the envelope stays authoritative when it speaks.
 * - empty strings, a zero timestamp and UNSPECIFIED enums are omitted rather than defaulted, so
 *   the plugin schema's `required` rules still catch a missing field.
 * - wire-level damage (truncation, bad varints, bad tags, invalid UTF-8 in string fields) rejects
 *   the whole request with PAYLOAD_MALFORMED; a per-event problem (payload not a JSON object,
 *   unknown enum value, non-finite number) fails only that item, with a reason.
 * - unknown fields are skipped; a known field number arriving with an unexpected wire type is
 *   skipped like an unknown field, as the C++ and Go runtimes do. None of these messages has a
 *   repeated scalar, so packed vs unpacked encoding does not arise.
 */
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { CityError, cityError } from '../errors.js';
import { EventType, Severity } from '../gen/city/v1/event_pb.js';

/** One decoded event: the JSON shape a JSON client would send, or why this one item failed. */
export type DecodedItem = { ok: true; event: Record<string, unknown> } | { ok: false; reason: string };

/** `event`: the body is one `city.v1.Event`; `batch`: the body is one `city.v1.EventBatch`. */
export type ProtobufKind = 'event' | 'batch';

const PAYLOAD_NOT_OBJECT = 'payload: must be a UTF-8 JSON object';

// Enum value → JSON name ('traffic', 'air_quality'), built from the generated enums so that a
// value added to the .proto is picked up by `npm run proto:gen` alone. Index 0 (UNSPECIFIED)
// stays undefined: it means "not set" and is omitted.
const EVENT_TYPE_NAMES = enumJsonNames(EventType);
const SEVERITY_NAMES = enumJsonNames(Severity);
const EVENT_TYPE_BY_NAME = reverse(EVENT_TYPE_NAMES);
const SEVERITY_BY_NAME = reverse(SEVERITY_NAMES);

// Field tags, (field number << 3) | wire type, so the decode loop switches on one integer.
const T_EVENT_ID = (1 << 3) | WireType.LengthDelimited;
const T_MODEL_ID = (2 << 3) | WireType.LengthDelimited;
const T_TIMESTAMP_MS = (3 << 3) | WireType.Varint;
const T_TYPE = (4 << 3) | WireType.Varint;
const T_SEVERITY = (5 << 3) | WireType.Varint;
const T_LOCATION = (6 << 3) | WireType.LengthDelimited;
const T_METADATA = (7 << 3) | WireType.LengthDelimited;
const T_PAYLOAD = (8 << 3) | WireType.LengthDelimited;
const T_CONFIDENCE = (9 << 3) | WireType.Bit32;
const T_EVENT_TYPE = (10 << 3) | WireType.LengthDelimited;
const T_BATCH_EVENTS = (1 << 3) | WireType.LengthDelimited;
const T_LAT = (1 << 3) | WireType.Bit64;
const T_LNG = (2 << 3) | WireType.Bit64;
const T_ADDRESS = (3 << 3) | WireType.LengthDelimited;
const T_ZONE_ID = (4 << 3) | WireType.LengthDelimited;
const T_MAP_KEY = (1 << 3) | WireType.LengthDelimited;
const T_MAP_VALUE = (2 << 3) | WireType.LengthDelimited;

// proto3 requires string fields to be valid UTF-8; `fatal` makes invalid bytes an error instead
// of a silent U+FFFD substitution that would change the data.
const utf8 = new TextDecoder('utf-8', { fatal: true });
const textEncoder = new TextEncoder();

// Buffer#latin1Slice is the native method behind toString('latin1') without its argument
// handling (~20 ns a call here); Node 20 has it (the tests exercise it) but @types/node does not
// declare it.
type Latin1Buffer = Buffer & { latin1Slice(start: number, end: number): string };

/**
 * Decodes a protobuf request body into one item per event, each either the event in the JSON
 * shape plugin schemas validate, or the reason that event alone is rejected.
 *
 * @throws CityError `CITY_ERR_PAYLOAD_MALFORMED` when `bytes` is not a valid encoding of the message.
 * @example
 *   const items = decodeProtobufEvents(body, 'batch');
 *   // [{ ok: true, event: { event_id: '…', timestamp: '2025-01-15T08:30:00.000Z',
 *   //    event_type: 'violation_event', severity: 'medium', location: { latitude: 13.0827, … },
 *   //    confidence_score: 0.92, violation_type: 'speeding', … } }]
 */
export function decodeProtobufEvents(bytes: Uint8Array, kind: ProtobufKind): DecodedItem[] {
  assertKind(kind);
  const reader = new EventReader(bytes);
  try {
    if (kind === 'event') return [readEvent(reader, bytes.length)];
    const items: DecodedItem[] = [];
    while (reader.pos < bytes.length) {
      const tag = reader.readTag();
      if (tag === T_BATCH_EVENTS) items.push(readEvent(reader, reader.subEnd(bytes.length)));
      else reader.skipField(tag);
    }
    return items;
  } catch (err) {
    if (err instanceof CityError) throw err;
    const reason = err instanceof Error ? err.message : String(err);
    throw cityError('PAYLOAD_MALFORMED', { format: 'protobuf', reason }, err);
  }
}

/**
 * Encodes events given in their JSON shape (the reverse of {@link decodeProtobufEvents}) for the
 * simulator, tests and benchmarks. A field goes into the envelope only when decoding gives it
 * back unchanged (e.g. `timestamp` in `toISOString()` form, a `severity` the enum knows);
 * everything else, model-specific fields included, is JSON-encoded into `payload`.
 *
 * @throws CityError `CITY_ERR_REQUEST_INVALID` when kind is 'event' and events.length is not 1.
 * @example
 *   const body = encodeProtobufEvents([{ event_type: 'traffic', severity: 'high',
 *     timestamp: new Date().toISOString(), location: { latitude: 13.08, longitude: 80.27 } }], 'batch');
 */
export function encodeProtobufEvents(events: ReadonlyArray<Record<string, unknown>>, kind: ProtobufKind): Uint8Array {
  assertKind(kind);
  const writer = new BinaryWriter();
  if (kind === 'event') {
    if (events.length !== 1) {
      throw cityError('REQUEST_INVALID', { reason: `kind 'event' encodes exactly one event, got ${events.length}` });
    }
    writeEvent(writer, events[0]!);
    return writer.finish();
  }
  for (const event of events) {
    writer.tag(1, WireType.LengthDelimited).fork();
    writeEvent(writer, event);
    writer.join();
  }
  return writer.finish();
}

/** Callers outside TypeScript (config, CLI flags) can pass anything. */
function assertKind(kind: string): void {
  if (kind !== 'event' && kind !== 'batch') {
    throw cityError('REQUEST_INVALID', { reason: `protobuf message kind must be 'event' or 'batch', got '${kind}'` });
  }
}

/** BinaryReader plus the few reads this codec needs without allocations (tags, int64 as number). */
class EventReader extends BinaryReader {
  // A Buffer over the same memory (no copy), for native latin1 slicing in text().
  private readonly latin1: Latin1Buffer;

  constructor(bytes: Uint8Array) {
    super(bytes);
    this.latin1 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) as Latin1Buffer;
  }

  /** A tag as one integer; same checks as BinaryReader#tag without allocating a tuple. */
  readTag(): number {
    const start = this.pos;
    const tag = this.uint32();
    const read = this.pos - start;
    if (read > 5 || (read === 5 && this.buf[this.pos - 1]! > 0x0f)) throw new Error('illegal tag: varint overflows uint32');
    if (tag >>> 3 === 0 || (tag & 7) > 5) throw new Error(`illegal tag: field no ${tag >>> 3} wire type ${tag & 7}`);
    return tag;
  }

  /** int64 as a JS number: exact for any millisecond timestamp (|ms| < 2^53). */
  int64Number(): number {
    const [lo, hi] = this.varint64();
    return hi * 4294967296 + (lo >>> 0);
  }

  /** Reads a length prefix and returns where that sub-message ends, checked against its parent. */
  subEnd(parentEnd: number): number {
    const len = this.uint32();
    const end = this.pos + len;
    if (end > parentEnd) throw new Error('premature EOF: length-delimited field overruns its message');
    return end;
  }

  /**
   * A string field; proto3 requires valid UTF-8. Envelope strings (ids, names, addresses,
   * metadata) are nearly always ASCII, where a latin1 slice gives the same string and skips
   * TextDecoder's per-call cost: measured 2.6 → 2.3 µs per seed speeding event on Node 20.
   */
  text(): string {
    const len = this.uint32();
    const start = this.pos;
    const end = start + len;
    if (end > this.len) throw new RangeError('premature EOF');
    this.pos = end;
    const buf = this.buf;
    for (let i = start; i < end; i++) if (buf[i]! > 0x7f) return strictUtf8(buf.subarray(start, end));
    return this.latin1.latin1Slice(start, end);
  }

  skipField(tag: number): void {
    this.skip(tag & 7, tag >>> 3);
  }

  /** After a sub-message loop: its last field must end exactly at the declared length. */
  expectEnd(end: number): void {
    if (this.pos !== end) throw new Error('premature EOF: field overruns its message');
  }
}

function readEvent(r: EventReader, end: number): DecodedItem {
  let eventId = '';
  let modelId = '';
  let timestampMs = 0;
  let type = 0;
  let severity = 0;
  let location: Record<string, unknown> | undefined;
  let metadata: Record<string, string> | undefined;
  let payload: Uint8Array | undefined;
  let confidence: number | undefined;
  let eventType = '';
  while (r.pos < end) {
    const tag = r.readTag();
    switch (tag) {
      case T_EVENT_ID: eventId = r.text(); break;
      case T_MODEL_ID: modelId = r.text(); break;
      case T_TIMESTAMP_MS: timestampMs = r.int64Number(); break;
      case T_TYPE: type = r.int32(); break;
      case T_SEVERITY: severity = r.int32(); break;
      // A message field seen twice is merged, not replaced (protobuf encoding spec).
      case T_LOCATION: location = readLocation(r, r.subEnd(end), location ?? {}); break;
      case T_METADATA: metadata = readMapEntry(r, r.subEnd(end), metadata ?? {}); break;
      case T_PAYLOAD: payload = r.bytes(); break;
      case T_CONFIDENCE: confidence = r.float(); break;
      case T_EVENT_TYPE: eventType = r.text(); break;
      default: r.skipField(tag);
    }
  }
  r.expectEnd(end);

  // Payload keys first; the envelope overrides below only where it is present.
  let event: Record<string, unknown> = {};
  if (payload !== undefined && payload.length > 0) {
    const fields = parsePayload(payload);
    if (fields === undefined) return { ok: false, reason: PAYLOAD_NOT_OBJECT };
    event = fields;
  }
  if (eventId !== '') event.event_id = eventId;
  if (modelId !== '') event.model_id = modelId;
  if (timestampMs !== 0) {
    // A Date holds ±8.64e15 ms (ECMA-262 "Time Values and Time Range"); toISOString throws beyond.
    if (Math.abs(timestampMs) > 8.64e15) return { ok: false, reason: 'timestamp_ms: out of the range of a date' };
    event.timestamp = new Date(timestampMs).toISOString();
  }
  if (eventType !== '') event.event_type = eventType;
  else if (type !== 0) {
    const name = EVENT_TYPE_NAMES[type];
    if (name === undefined) return { ok: false, reason: `type: unknown EventType value ${type}` };
    event.event_type = name;
  }
  if (severity !== 0) {
    const name = SEVERITY_NAMES[severity];
    if (name === undefined) return { ok: false, reason: `severity: unknown Severity value ${severity}` };
    event.severity = name;
  }
  if (location !== undefined) {
    if (!finiteOrAbsent(location.latitude)) return { ok: false, reason: 'location.latitude: must be a finite number' };
    if (!finiteOrAbsent(location.longitude)) return { ok: false, reason: 'location.longitude: must be a finite number' };
    event.location = location;
  }
  if (metadata !== undefined) event.metadata = metadata;
  if (confidence !== undefined) {
    if (!Number.isFinite(confidence)) return { ok: false, reason: 'confidence: must be a finite number' };
    event.confidence_score = roundConfidence(confidence);
  }
  return { ok: true, event };
}

function readLocation(r: EventReader, end: number, location: Record<string, unknown>): Record<string, unknown> {
  while (r.pos < end) {
    const tag = r.readTag();
    switch (tag) {
      // Numbers are kept when on the wire, even 0: an encoder with explicit presence (ours) can
      // send the equator; an implicit-presence one never writes 0.0, so it reads as absent.
      case T_LAT: location.latitude = r.double(); break;
      case T_LNG: location.longitude = r.double(); break;
      case T_ADDRESS: setOrDelete(location, 'address', r.text()); break;
      case T_ZONE_ID: setOrDelete(location, 'zone_id', r.text()); break;
      default: r.skipField(tag);
    }
  }
  r.expectEnd(end);
  return location;
}

function readMapEntry(r: EventReader, end: number, map: Record<string, string>): Record<string, string> {
  let key = '';
  let value = '';
  while (r.pos < end) {
    const tag = r.readTag();
    if (tag === T_MAP_KEY) key = r.text();
    else if (tag === T_MAP_VALUE) value = r.text();
    else r.skipField(tag);
  }
  r.expectEnd(end);
  // A plain assignment to '__proto__' would set the prototype instead of a key.
  if (key === '__proto__') Object.defineProperty(map, key, { value, enumerable: true, writable: true, configurable: true });
  else map[key] = value;
  return map;
}

function strictUtf8(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch (err) {
    throw new Error('a string field is not valid UTF-8', { cause: err });
  }
}

/** The payload as a JSON object, or undefined when it is not UTF-8 JSON or not an object. */
function parsePayload(bytes: Uint8Array): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(bytes));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  return value as Record<string, unknown>;
}

/**
 * float32 carries ~7 significant digits, so 0.9 arrives as 0.8999999761581421; six decimals give
 * back what the sender wrote for any confidence in [0, 1].
 */
function roundConfidence(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}

function writeEvent(w: BinaryWriter, event: Record<string, unknown>): void {
  const rest: Record<string, unknown> = { ...event };
  const take = (key: string): unknown => {
    const value = rest[key];
    delete rest[key];
    return value;
  };
  // Field order follows field numbers, as conformant encoders do.
  if (isNonEmptyString(rest.event_id)) w.tag(1, WireType.LengthDelimited).string(take('event_id') as string);
  if (isNonEmptyString(rest.model_id)) w.tag(2, WireType.LengthDelimited).string(take('model_id') as string);
  const ms = canonicalTimestampMs(rest.timestamp);
  if (ms !== undefined) {
    take('timestamp');
    w.tag(3, WireType.Varint).int64(ms);
  }
  let eventType: string | undefined;
  if (isNonEmptyString(rest.event_type)) {
    const type = EVENT_TYPE_BY_NAME.get(rest.event_type);
    eventType = take('event_type') as string;
    if (type !== undefined) {
      w.tag(4, WireType.Varint).int32(type);
      eventType = undefined;
    }
  }
  const severity = typeof rest.severity === 'string' ? SEVERITY_BY_NAME.get(rest.severity) : undefined;
  if (severity !== undefined) {
    take('severity');
    w.tag(5, WireType.Varint).int32(severity);
  }
  if (isEnvelopeLocation(rest.location)) writeLocation(w, take('location') as Record<string, unknown>);
  if (isStringMap(rest.metadata)) {
    for (const [key, value] of Object.entries(take('metadata') as Record<string, string>)) {
      w.tag(7, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).string(key);
      w.tag(2, WireType.LengthDelimited).string(value).join();
    }
  }
  // Take the confidence before serialising the rest, write it after (field 9 follows 8).
  const confidence = rest.confidence_score;
  const confidenceFits = typeof confidence === 'number' && roundConfidence(Math.fround(confidence)) === confidence;
  if (confidenceFits) take('confidence_score');
  if (Object.keys(rest).length > 0) {
    w.tag(8, WireType.LengthDelimited).bytes(textEncoder.encode(JSON.stringify(rest)));
  }
  if (confidenceFits) w.tag(9, WireType.Bit32).float(confidence);
  if (eventType !== undefined) w.tag(10, WireType.LengthDelimited).string(eventType);
}

function writeLocation(w: BinaryWriter, location: Record<string, unknown>): void {
  w.tag(6, WireType.LengthDelimited).fork();
  // Written even when 0 so the decoder sees them as present (see readLocation).
  if (typeof location.latitude === 'number') w.tag(1, WireType.Bit64).double(location.latitude);
  if (typeof location.longitude === 'number') w.tag(2, WireType.Bit64).double(location.longitude);
  if (typeof location.address === 'string') w.tag(3, WireType.LengthDelimited).string(location.address);
  if (typeof location.zone_id === 'string') w.tag(4, WireType.LengthDelimited).string(location.zone_id);
  w.join();
}

/** The epoch ms of an ISO timestamp that decodes back to the same string, else undefined. */
function canonicalTimestampMs(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const ms = Date.parse(value);
  if (!Number.isFinite(ms) || ms === 0 || new Date(ms).toISOString() !== value) return undefined;
  return ms;
}

/** A location the envelope can carry exactly; anything else stays in the payload untouched. */
function isEnvelopeLocation(value: unknown): boolean {
  if (!isPlainObject(value)) return false;
  for (const [key, field] of Object.entries(value)) {
    if (key === 'latitude' || key === 'longitude') {
      if (typeof field !== 'number' || !Number.isFinite(field)) return false;
    } else if (key === 'address' || key === 'zone_id') {
      if (!isNonEmptyString(field)) return false;
    } else return false;
  }
  return Object.keys(value).length > 0;
}

function isStringMap(value: unknown): boolean {
  if (!isPlainObject(value)) return false;
  const values = Object.values(value);
  return values.length > 0 && values.every((v) => typeof v === 'string');
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value !== '';
}

function finiteOrAbsent(value: unknown): boolean {
  return value === undefined || Number.isFinite(value);
}

function setOrDelete(target: Record<string, unknown>, key: string, value: string): void {
  if (value === '') delete target[key];
  else target[key] = value;
}

function enumJsonNames(values: Record<string, string | number>): Array<string | undefined> {
  const names: Array<string | undefined> = [];
  for (const [name, number] of Object.entries(values)) {
    if (typeof number === 'number' && number !== 0) names[number] = name.toLowerCase();
  }
  return names;
}

function reverse(names: ReadonlyArray<string | undefined>): Map<string, number> {
  const map = new Map<string, number>();
  names.forEach((name, number) => {
    if (name !== undefined) map.set(name, number);
  });
  return map;
}
