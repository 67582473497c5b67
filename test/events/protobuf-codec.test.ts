import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create, fromBinary, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { CityError } from '../../src/errors.js';
import { decodeProtobufEvents, encodeProtobufEvents, type DecodedItem } from '../../src/events/protobuf-codec.js';
import {
  EventBatchSchema,
  EventSchema,
  EventType,
  LocationSchema,
  Severity,
} from '../../src/gen/city/v1/event_pb.js';
import { envelopeSpeedingEvent } from '../helpers/fixtures.js';

// The seed's speeding violation (seed 001 §2.2 output_schema, §12.2 "85 km/h in 60 zone") in the
// JSON shape a JSON client posts.
const speeding = envelopeSpeedingEvent();

const json = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));
const bin = (init: MessageInitShape<typeof EventSchema>): Uint8Array => toBinary(EventSchema, create(EventSchema, init));

function okEvent(item: DecodedItem | undefined): Record<string, unknown> {
  assert.ok(item, 'expected an item');
  assert.equal(item.ok, true, item.ok ? '' : item.reason);
  return (item as { ok: true; event: Record<string, unknown> }).event;
}

function decodeOne(bytes: Uint8Array): Record<string, unknown> {
  const items = decodeProtobufEvents(bytes, 'event');
  assert.equal(items.length, 1);
  return okEvent(items[0]);
}

function assertMalformed(bytes: Uint8Array, kind: 'event' | 'batch', reason: RegExp): void {
  assert.throws(
    () => decodeProtobufEvents(bytes, kind),
    (err: unknown) => {
      assert.ok(err instanceof CityError);
      assert.equal(err.code, 'CITY_ERR_PAYLOAD_MALFORMED');
      assert.equal(err.details.format, 'protobuf');
      assert.match(err.message, /^payload could not be decoded as protobuf: \S/);
      assert.match(String(err.details.reason), reason);
      return true;
    },
  );
}

describe('protobuf codec: round trip', () => {
  it('gives back the seed speeding event unchanged, as event and as batch', () => {
    assert.deepEqual(decodeOne(encodeProtobufEvents([speeding], 'event')), speeding);
    const items = decodeProtobufEvents(encodeProtobufEvents([speeding, speeding], 'batch'), 'batch');
    assert.deepEqual(items, [{ ok: true, event: speeding }, { ok: true, event: speeding }]);
  });

  it('puts envelope fields in the seed message fields, readable by the generated decoder', () => {
    const msg = fromBinary(EventSchema, encodeProtobufEvents([speeding], 'event'));
    assert.equal(msg.eventId, speeding.event_id);
    assert.equal(msg.modelId, 'traffic-violation-detector-v2');
    assert.equal(msg.timestampMs, BigInt(Date.parse(speeding.timestamp)));
    assert.equal(msg.type, EventType.UNSPECIFIED);
    assert.equal(msg.eventType, 'violation_event');
    assert.equal(msg.severity, Severity.MEDIUM);
    assert.equal(msg.location?.latitude, 13.0827);
    assert.equal(msg.location?.longitude, 80.2707);
    assert.equal(msg.location?.address, 'Anna Salai, Chennai');
    assert.deepEqual(msg.metadata, { camera_id: 'cam-17', speed_limit_kmh: '60' });
    assert.equal(msg.confidence, Math.fround(0.92));
    // Only the model-specific fields are left for the payload.
    assert.deepEqual(JSON.parse(new TextDecoder().decode(msg.payload)), {
      violation_type: 'speeding',
      vehicle_data: speeding.vehicle_data,
      evidence: speeding.evidence,
    });
  });

  it('decodes what the generated encoder writes', () => {
    const bytes = bin({
      eventId: 'e-1',
      modelId: 'flood-sensor',
      timestampMs: 1736929800000n,
      type: EventType.FLOOD,
      severity: Severity.CRITICAL,
      location: { latitude: 13.05, longitude: 80.28, zoneId: 'ward-120' },
      metadata: { depth_unit: 'cm' },
      payload: json({ water_depth_cm: 42 }),
      confidence: 0.5,
    });
    assert.deepEqual(decodeOne(bytes), {
      water_depth_cm: 42,
      event_id: 'e-1',
      model_id: 'flood-sensor',
      timestamp: '2025-01-15T08:30:00.000Z',
      event_type: 'flood',
      severity: 'critical',
      location: { latitude: 13.05, longitude: 80.28, zone_id: 'ward-120' },
      metadata: { depth_unit: 'cm' },
      confidence_score: 0.5,
    });
  });

  it('decodes non-ASCII strings and payloads (Tamil address, emoji)', () => {
    const event = {
      event_id: 'é-1',
      location: { latitude: 13.0604, longitude: 80.2496, address: 'அண்ணா சாலை, சென்னை' },
      metadata: { 'குறிப்பு': 'வெள்ளம் 🌊' },
      note: 'மழை',
    };
    assert.deepEqual(decodeOne(encodeProtobufEvents([event], 'event')), event);
    assert.equal(fromBinary(EventSchema, encodeProtobufEvents([event], 'event')).location?.address, event.location.address);
  });

  it('keeps values the envelope cannot carry exactly in the payload, unchanged', () => {
    const odd = {
      timestamp: '2025-01-15T14:00:00+05:30', // not toISOString() form
      severity: 'severe', // not in the Severity enum
      location: { latitude: '13.08', longitude: 80.27 }, // a string the schema must reject
      metadata: { count: 3 }, // not map<string, string>
      confidence_score: 0.1234567, // more digits than float32 + 6 decimals keep
      event_id: '',
    };
    const bytes = encodeProtobufEvents([odd], 'event');
    assert.deepEqual(decodeOne(bytes), odd);
    assert.equal(fromBinary(EventSchema, bytes).timestampMs, 0n);
    const extraKey = { location: { latitude: 13.08, longitude: 80.27, accuracy_m: 5 } }; // Location has no accuracy
    assert.deepEqual(decodeOne(encodeProtobufEvents([extraKey], 'event')), extraKey);
  });

  it('encodes exactly one event for kind event', () => {
    assert.throws(() => encodeProtobufEvents([speeding, speeding], 'event'), { code: 'CITY_ERR_REQUEST_INVALID' });
    assert.throws(() => encodeProtobufEvents([], 'event'), { code: 'CITY_ERR_REQUEST_INVALID' });
  });

  it('refuses a message kind other than event or batch', () => {
    const kind = 'Event' as 'event';
    assert.throws(() => encodeProtobufEvents([speeding], kind), { code: 'CITY_ERR_REQUEST_INVALID' });
    assert.throws(() => decodeProtobufEvents(new Uint8Array(0), kind), { code: 'CITY_ERR_REQUEST_INVALID' });
  });
});

describe('protobuf codec: per-item failures', () => {
  it('fails only the event whose payload is not a JSON object', () => {
    const batch = toBinary(
      EventBatchSchema,
      create(EventBatchSchema, {
        events: [
          { eventId: 'a', payload: json({ n: 1 }) },
          { eventId: 'b', payload: json([1, 2]) },
          { eventId: 'c', payload: json({ n: 3 }) },
        ],
      }),
    );
    const items = decodeProtobufEvents(batch, 'batch');
    assert.deepEqual(items, [
      { ok: true, event: { n: 1, event_id: 'a' } },
      { ok: false, reason: 'payload: must be a UTF-8 JSON object' },
      { ok: true, event: { n: 3, event_id: 'c' } },
    ]);
  });

  it('rejects payloads that are not JSON, not UTF-8 or not an object', () => {
    for (const payload of [
      new TextEncoder().encode('{"a":'),
      new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]), // {"\xff":1}
      json(null),
      json('text'),
      json(7),
    ]) {
      assert.deepEqual(decodeProtobufEvents(bin({ payload }), 'event'), [
        { ok: false, reason: 'payload: must be a UTF-8 JSON object' },
      ]);
    }
  });

  it('names an enum value it does not know', () => {
    assert.deepEqual(decodeProtobufEvents(bin({ type: 42 as EventType }), 'event'), [
      { ok: false, reason: 'type: unknown EventType value 42' },
    ]);
    assert.deepEqual(decodeProtobufEvents(bin({ severity: -1 as Severity }), 'event'), [
      { ok: false, reason: 'severity: unknown Severity value -1' },
    ]);
    // event_type overrides type, so an unknown type does not matter when it is set.
    assert.equal(decodeOne(bin({ type: 42 as EventType, eventType: 'violation_event' })).event_type, 'violation_event');
  });

  it('rejects non-finite numbers', () => {
    assert.deepEqual(decodeProtobufEvents(bin({ confidence: Number.NaN }), 'event'), [
      { ok: false, reason: 'confidence: must be a finite number' },
    ]);
    assert.deepEqual(decodeProtobufEvents(bin({ location: { latitude: Infinity, longitude: 1 } }), 'event'), [
      { ok: false, reason: 'location.latitude: must be a finite number' },
    ]);
  });

  it('decodes timestamps before 1970', () => {
    assert.equal(decodeOne(bin({ timestampMs: -1000n })).timestamp, '1969-12-31T23:59:59.000Z');
  });

  it('rejects a timestamp outside the range of a date', () => {
    assert.deepEqual(decodeProtobufEvents(bin({ timestampMs: 8_640_000_000_000_001n }), 'event'), [
      { ok: false, reason: 'timestamp_ms: out of the range of a date' },
    ]);
  });
});

describe('protobuf codec: malformed buffers', () => {
  it('throws PAYLOAD_MALFORMED for bytes that are not protobuf', () => {
    // 'n' = 0x6e: field 13 with wire type 6, which does not exist
    assertMalformed(Buffer.from('not protobuf at all'), 'event', /^illegal tag: field no 13 wire type 6$/);
    assertMalformed(Buffer.from('not protobuf at all'), 'batch', /^illegal tag/);
    assertMalformed(new Uint8Array([0x00]), 'event', /^illegal tag: field no 0/);
    // a 5-byte tag whose last byte carries bits beyond uint32
    assertMalformed(new Uint8Array([0x88, 0x80, 0x80, 0x80, 0x10, 0x00]), 'event', /varint overflows uint32/);
  });

  it('throws PAYLOAD_MALFORMED for truncated buffers', () => {
    const one = encodeProtobufEvents([speeding], 'event');
    assertMalformed(one.subarray(0, one.length - 5), 'event', /premature EOF/);
    assertMalformed(one.subarray(0, 3), 'event', /premature EOF/); // inside the event_id string
    const batch = encodeProtobufEvents([speeding, speeding], 'batch');
    assertMalformed(batch.subarray(0, batch.length - 1), 'batch', /premature EOF/);
  });

  it('throws when a field overruns its sub-message', () => {
    // Location claims 3 bytes, but its double needs 8 more after the tag.
    const bytes = new Uint8Array([0x32, 0x03, 0x09, 0, 0, 0, 0, 0, 0, 0, 0]);
    assertMalformed(bytes, 'event', /overruns its message/);
    // In a batch, event 1's Location claims more bytes than event 1 has (they belong to event 2).
    const event2 = bin({ eventId: 'second' });
    const event1 = new Uint8Array([0x32, 0x0a, 0x09]);
    const batch = new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(event1).tag(1, WireType.LengthDelimited).bytes(event2).finish();
    assert.throws(() => decodeProtobufEvents(batch, 'batch'), /length-delimited field overruns its message/);
  });

  it('throws for invalid UTF-8 in a string field, as proto3 requires', () => {
    const bytes = new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(new Uint8Array([0xc3, 0x28])).finish();
    assertMalformed(bytes, 'event', /^a string field is not valid UTF-8$/);
  });

  it('decodes an empty batch to no items', () => {
    assert.deepEqual(decodeProtobufEvents(new Uint8Array(0), 'batch'), []);
  });
});

describe('protobuf codec: field mapping', () => {
  it('rounds the float32 confidence to 6 decimals', () => {
    assert.notEqual(Math.fround(0.9), 0.9); // what float32 really carries
    assert.equal(decodeOne(bin({ confidence: 0.9 })).confidence_score, 0.9);
    assert.equal(decodeOne(bin({ confidence: 0.85 })).confidence_score, 0.85);
    assert.equal(decodeOne(bin({ confidence: 1 })).confidence_score, 1);
    assert.equal(decodeOne(bin({ confidence: 0.1234567 })).confidence_score, 0.123457);
  });

  it('maps every EventType to its lowercase name without prefix', () => {
    const expected: Array<[EventType, string]> = [
      [EventType.TRAFFIC, 'traffic'],
      [EventType.FLOOD, 'flood'],
      [EventType.FIRE, 'fire'],
      [EventType.AIR_QUALITY, 'air_quality'],
      [EventType.CRIME, 'crime'],
      [EventType.HEALTH, 'health'],
      [EventType.INFRASTRUCTURE, 'infrastructure'],
      [EventType.WEATHER, 'weather'],
      [EventType.NOISE, 'noise'],
      [EventType.WASTE, 'waste'],
      [EventType.OTHER, 'other'],
    ];
    for (const [type, name] of expected) {
      assert.equal(decodeOne(bin({ type })).event_type, name);
      // and back: a known name travels as the enum, not as the event_type string
      const msg = fromBinary(EventSchema, encodeProtobufEvents([{ event_type: name }], 'event'));
      assert.equal(msg.type, type);
      assert.equal(msg.eventType, '');
    }
    assert.deepEqual(
      [Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL].map((severity) => decodeOne(bin({ severity })).severity),
      ['low', 'medium', 'high', 'critical'],
    );
  });

  it('omits empty strings, a zero timestamp and UNSPECIFIED enums', () => {
    assert.deepEqual(decodeOne(bin({ payload: json({ speed_kmh: 85 }) })), { speed_kmh: 85 });
    assert.deepEqual(decodeOne(new Uint8Array(0)), {});
    // explicitly written defaults are still omitted
    const explicit = new BinaryWriter()
      .tag(1, WireType.LengthDelimited).string('')
      .tag(3, WireType.Varint).int64(0)
      .tag(4, WireType.Varint).int32(0)
      .tag(5, WireType.Varint).int32(0)
      .tag(6, WireType.LengthDelimited).fork().tag(3, WireType.LengthDelimited).string('').join()
      .finish();
    assert.deepEqual(decodeOne(explicit), { location: {} });
  });

  it('keeps a coordinate of 0 when it is on the wire', () => {
    const event = { location: { latitude: 0, longitude: 80.27 } };
    assert.deepEqual(decodeOne(encodeProtobufEvents([event], 'event')), event);
  });

  it('lets present envelope fields override payload keys, and only those', () => {
    const bytes = bin({
      eventId: 'from-envelope',
      payload: json({ event_id: 'from-payload', severity: 'severe', timestamp: '2025-01-15T14:00:00+05:30' }),
    });
    assert.deepEqual(decodeOne(bytes), {
      event_id: 'from-envelope',
      severity: 'severe',
      timestamp: '2025-01-15T14:00:00+05:30',
    });
  });

  it('ignores unknown fields of every wire type, at every level', () => {
    const base = bin({
      eventId: 'e-1',
      location: { latitude: 1, longitude: 2 },
      metadata: { k: 'v' },
      payload: json({ a: 1 }),
    });
    const unknowns = (w: BinaryWriter): BinaryWriter =>
      w
        .tag(99, WireType.Varint).uint64(2n ** 63n)
        .tag(100, WireType.Bit64).fixed64(7)
        .tag(101, WireType.LengthDelimited).string('extra')
        .tag(102, WireType.Bit32).fixed32(7)
        .tag(103, WireType.StartGroup).tag(1, WireType.Varint).int32(5).tag(103, WireType.EndGroup);
    const withUnknowns = unknowns(new BinaryWriter().raw(base))
      .tag(6, WireType.LengthDelimited).fork() // a second Location is merged into the first
      .tag(3, WireType.LengthDelimited).string('Mount Road')
      .tag(50, WireType.LengthDelimited).string('?')
      .join()
      .tag(7, WireType.LengthDelimited).fork() // a map entry with an unknown field
      .tag(1, WireType.LengthDelimited).string('k2')
      .tag(9, WireType.Varint).int32(1)
      .tag(2, WireType.LengthDelimited).string('v2')
      .join()
      .finish();
    const batch = unknowns(new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(withUnknowns)).finish();
    const expected = {
      a: 1,
      event_id: 'e-1',
      location: { latitude: 1, longitude: 2, address: 'Mount Road' },
      metadata: { k: 'v', k2: 'v2' },
    };
    assert.deepEqual(decodeOne(withUnknowns), expected);
    assert.deepEqual(decodeProtobufEvents(batch, 'batch'), [{ ok: true, event: expected }]);
  });

  it('skips a known field number sent with the wrong wire type, like an unknown field', () => {
    const bytes = new BinaryWriter()
      .tag(1, WireType.Varint).int32(7) // event_id as a varint
      .tag(2, WireType.LengthDelimited).string('m')
      .finish();
    assert.deepEqual(decodeOne(bytes), { model_id: 'm' });
  });

  it('decodes map entries with a missing value, repeated keys and a __proto__ key', () => {
    const entry = (w: BinaryWriter, key: string, value?: string): BinaryWriter => {
      w.tag(7, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).string(key);
      if (value !== undefined) w.tag(2, WireType.LengthDelimited).string(value);
      return w.join();
    };
    const w = new BinaryWriter();
    entry(w, 'empty');
    entry(w, 'k', 'first');
    entry(w, 'k', 'last');
    entry(w, '__proto__', 'x');
    const metadata = decodeOne(w.finish()).metadata as Record<string, string>;
    assert.equal(Object.getPrototypeOf(metadata), Object.prototype);
    assert.deepEqual(Object.entries(metadata), [['empty', ''], ['k', 'last'], ['__proto__', 'x']]);
  });

  it('agrees with the generated decoder on a batch of mixed events', () => {
    const events: Array<MessageInitShape<typeof EventSchema>> = [
      { eventId: 'x', type: EventType.NOISE, location: create(LocationSchema, { latitude: -33.9, longitude: 151.2 }) },
      { modelId: 'aq', type: EventType.AIR_QUALITY, severity: Severity.HIGH, confidence: 0.75, eventType: 'pm25_spike' },
    ];
    const bytes = toBinary(EventBatchSchema, create(EventBatchSchema, { events }));
    const generated = fromBinary(EventBatchSchema, bytes).events;
    const decoded = decodeProtobufEvents(bytes, 'batch').map(okEvent);
    assert.equal(decoded.length, generated.length);
    assert.deepEqual(decoded[0], { event_id: generated[0]!.eventId, event_type: 'noise', location: { latitude: -33.9, longitude: 151.2 } });
    assert.deepEqual(decoded[1], { model_id: generated[1]!.modelId, event_type: 'pm25_spike', severity: 'high', confidence_score: 0.75 });
  });
});
