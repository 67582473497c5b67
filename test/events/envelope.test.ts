import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readEnvelope, type Envelope } from '../../src/events/envelope.js';
import { uuidv7 } from '../../src/events/ids.js';
import { envelopeSpeedingEvent } from '../helpers/fixtures.js';

// The seed's speeding violation (seed 001 §2.2 output_schema).
const speeding = envelopeSpeedingEvent();

const EMPTY: Envelope = {
  eventId: null,
  eventType: null,
  severity: null,
  confidence: null,
  timeMs: null,
  lat: null,
  lng: null,
  zoneHint: null,
};

const coords = (event: Record<string, unknown>) => {
  const env = readEnvelope(event);
  return [env.lat, env.lng];
};
const timeOf = (event: Record<string, unknown>) => readEnvelope(event).timeMs;

describe('readEnvelope', () => {
  it('reads the seed shape', () => {
    assert.deepEqual(readEnvelope(speeding), {
      eventId: '3f1c2a4e-8b7d-4c6a-9e2f-1a2b3c4d5e6f',
      eventType: 'violation_event',
      severity: 'medium',
      confidence: 0.92,
      timeMs: Date.UTC(2025, 0, 15, 8, 30),
      lat: 13.0827,
      lng: 80.2707,
      zoneHint: null,
    });
  });

  it('gives nulls for an event that carries none of the fields', () => {
    assert.deepEqual(readEnvelope({}), EMPTY);
    assert.deepEqual(readEnvelope({ violation_type: 'speeding', vehicle_data: { speed_kmh: 85 } }), EMPTY);
  });

  it('reads the aliases type, confidence and an upper-case severity', () => {
    const env = readEnvelope({ type: 'air_quality', confidence: 0.5, severity: 'HIGH' });
    assert.equal(env.eventType, 'air_quality');
    assert.equal(env.confidence, 0.5);
    assert.equal(env.severity, 'high');
  });

  it('prefers the seed names over the aliases', () => {
    const env = readEnvelope({ event_type: 'seed', type: 'alias', confidence_score: 0.9, confidence: 0.1 });
    assert.equal(env.eventType, 'seed');
    assert.equal(env.confidence, 0.9);
  });

  it('ignores ids, types, severities and confidences of the wrong kind', () => {
    assert.deepEqual(readEnvelope({ event_id: 42, event_type: ['x'], severity: 3, confidence_score: '0.9' }), EMPTY);
    assert.deepEqual(readEnvelope({ event_id: '', event_type: '' }), EMPTY);
    assert.equal(readEnvelope({ confidence_score: Number.NaN }).confidence, null);
    assert.equal(readEnvelope({ confidence_score: Number.POSITIVE_INFINITY }).confidence, null);
    assert.equal(readEnvelope({ confidence_score: 0 }).confidence, 0);
  });

  describe('coordinates', () => {
    it('reads location.lat / lng and location.lat / lon', () => {
      assert.deepEqual(coords({ location: { lat: 13.08, lng: 80.27 } }), [13.08, 80.27]);
      assert.deepEqual(coords({ location: { lat: 13.08, lon: 80.27 } }), [13.08, 80.27]);
    });

    it('prefers latitude / longitude over the short aliases', () => {
      assert.deepEqual(coords({ location: { latitude: 1, lat: 2, longitude: 3, lng: 4, lon: 5 } }), [1, 3]);
      assert.deepEqual(coords({ location: { latitude: 1, longitude: 3, lon: 5 } }), [1, 3]);
    });

    it('reads top-level latitude / longitude when there is no location object', () => {
      assert.deepEqual(coords({ latitude: 13.08, longitude: 80.27 }), [13.08, 80.27]);
      assert.deepEqual(coords({ location: null, latitude: 13.08, longitude: 80.27 }), [13.08, 80.27]);
      assert.deepEqual(coords({ location: 'Anna Salai', latitude: 13.08, longitude: 80.27 }), [13.08, 80.27]);
    });

    it('keeps 0 and the exact bounds', () => {
      assert.deepEqual(coords({ location: { latitude: 0, longitude: 0 } }), [0, 0]);
      assert.deepEqual(coords({ location: { latitude: 90, longitude: 180 } }), [90, 180]);
      assert.deepEqual(coords({ location: { latitude: -90, longitude: -180 } }), [-90, -180]);
      assert.deepEqual(coords({ latitude: -0, longitude: -0 }), [-0, -0]);
    });

    for (const [name, bad] of [
      ['just out of range', 90.000001],
      ['far out of range', 1000],
      ['a numeric string', '13.08'],
      ['NaN', Number.NaN],
      ['Infinity', Number.POSITIVE_INFINITY],
      ['a boolean', true],
      ['an object', { value: 13 }],
    ] as const) {
      it(`gives null for a latitude that is ${name}`, () => {
        assert.equal(readEnvelope({ location: { latitude: bad, longitude: 80 } }).lat, null);
        assert.equal(readEnvelope({ location: { latitude: typeof bad === 'number' ? -bad : bad, longitude: 80 } }).lat, null);
        assert.equal(readEnvelope({ latitude: bad, longitude: 80 }).lat, null);
      });
    }

    for (const [name, bad] of [
      ['just out of range', 180.000001],
      ['a latitude-sized range check is not enough', 270],
      ['a numeric string', '80.27'],
      ['NaN', Number.NaN],
      ['-Infinity', Number.NEGATIVE_INFINITY],
      ['null', null],
    ] as const) {
      it(`gives null for a longitude that is ${name}`, () => {
        assert.equal(readEnvelope({ location: { latitude: 13, longitude: bad } }).lng, null);
        assert.equal(readEnvelope({ location: { latitude: 13, lng: bad } }).lng, null);
        assert.equal(readEnvelope({ location: { latitude: 13, lon: bad } }).lng, null);
        assert.equal(readEnvelope({ latitude: 13, longitude: bad }).lng, null);
      });
    }

    it('accepts a longitude beyond ±90 (only latitude stops there)', () => {
      assert.deepEqual(coords({ location: { latitude: 13, longitude: 170 } }), [13, 170]);
    });
  });

  describe('zone hint', () => {
    it('reads location.zone_id, then a top-level zone_id', () => {
      assert.equal(readEnvelope({ location: { zone_id: 'w1' } }).zoneHint, 'w1');
      assert.equal(readEnvelope({ zone_id: 'w2' }).zoneHint, 'w2');
      assert.equal(readEnvelope({ zone_id: 'w2', location: { zone_id: 'w1' } }).zoneHint, 'w1');
      assert.equal(readEnvelope({ zone_id: 'w2', location: { latitude: 1, longitude: 2 } }).zoneHint, 'w2');
    });

    it('ignores empty or non-text zone ids', () => {
      assert.equal(readEnvelope({ zone_id: '' }).zoneHint, null);
      assert.equal(readEnvelope({ zone_id: 7 }).zoneHint, null);
      assert.equal(readEnvelope({ location: { zone_id: ['w1'] } }).zoneHint, null);
    });
  });

  describe('time', () => {
    it('parses ISO timestamps, with offsets', () => {
      assert.equal(timeOf({ timestamp: '2025-01-15T08:30:00Z' }), Date.UTC(2025, 0, 15, 8, 30));
      assert.equal(timeOf({ timestamp: '2025-01-15T14:00:00.123+05:30' }), Date.UTC(2025, 0, 15, 8, 30, 0, 123));
      assert.equal(timeOf({ timestamp: '1969-12-31T23:59:59.999Z' }), -1);
    });

    it('reads timestamp_ms numbers, and a numeric timestamp as milliseconds', () => {
      assert.equal(timeOf({ timestamp_ms: 1736929800000 }), 1736929800000);
      assert.equal(timeOf({ timestamp: 1736929800000 }), 1736929800000);
      assert.equal(timeOf({ timestamp_ms: 0 }), 0);
    });

    it('prefers timestamp over timestamp_ms', () => {
      assert.equal(timeOf({ timestamp: '2025-01-15T08:30:00Z', timestamp_ms: 5 }), Date.UTC(2025, 0, 15, 8, 30));
    });

    it('accepts the ends of the Date range and no further', () => {
      assert.equal(timeOf({ timestamp_ms: 8.64e15 }), 8.64e15);
      assert.equal(timeOf({ timestamp_ms: -8.64e15 }), -8.64e15);
      assert.equal(timeOf({ timestamp_ms: 8.64e15 + 1 }), null);
      assert.equal(timeOf({ timestamp_ms: -8.64e15 - 1 }), null);
      assert.equal(timeOf({ timestamp: '+275760-09-13T00:00:00.000Z' }), 8.64e15);
      assert.equal(timeOf({ timestamp: '+275760-09-13T00:00:00.001Z' }), null);
    });

    it('every time it gives can be stored as an ISO timestamp', () => {
      for (const t of [8.64e15, -8.64e15, 0, 1.5]) {
        const ms = timeOf({ timestamp_ms: t });
        assert.ok(ms !== null);
        assert.doesNotThrow(() => new Date(ms).toISOString());
      }
    });

    for (const [name, value] of [
      ['words', 'yesterday at noon'],
      ['an empty string', ''],
      ['an impossible date', '2025-13-45T99:99:99Z'],
      ['NaN', Number.NaN],
      ['Infinity', Number.POSITIVE_INFINITY],
      ['a boolean', true],
      ['an object', { seconds: 1 }],
      ['a bigint', 1736929800000n],
    ] as const) {
      it(`gives null for a timestamp that is ${name}`, () => {
        assert.equal(timeOf({ timestamp: value }), null);
        assert.equal(timeOf({ timestamp_ms: value }), null);
      });
    }
  });
});

const UUIDV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function bytesOf(id: string): Buffer {
  return Buffer.from(id.replaceAll('-', ''), 'hex');
}

/** The 48-bit unix_ts_ms field (RFC 9562 §5.7). */
function timeField(id: string): number {
  return parseInt(id.replaceAll('-', '').slice(0, 12), 16);
}

describe('uuidv7', () => {
  it('has the 8-4-4-4-12 lower-case hex form', () => {
    for (let i = 0; i < 100; i++) assert.match(uuidv7(), UUIDV7);
  });

  it('sets version 7 and variant 0b10 (RFC 9562 §4.1, §4.2, §5.7)', () => {
    for (let i = 0; i < 2000; i++) {
      const b = bytesOf(uuidv7(1736929800000));
      assert.equal(b.length, 16);
      assert.equal(b[6]! >> 4, 0b0111, 'version nibble');
      assert.equal(b[8]! >> 6, 0b10, 'variant bits');
    }
  });

  it('carries the given milliseconds in its first 48 bits', () => {
    for (const ms of [0, 1, 255, 256, 0xffffff, 0x1000000, 2 ** 32, 1736929800000, 2 ** 48 - 1]) {
      assert.equal(timeField(uuidv7(ms)), ms, `ms ${ms}`);
    }
    assert.ok(uuidv7(0).startsWith('00000000-0000-7'));
    assert.ok(uuidv7(2 ** 48 - 1).startsWith('ffffffff-ffff-7'));
  });

  it('uses the current time by default', () => {
    const before = Date.now();
    const id = uuidv7();
    const after = Date.now();
    assert.ok(timeField(id) >= before && timeField(id) <= after);
  });

  it('sorts by time as text', () => {
    const times = [0, 1, 255, 256, 65535, 65536, 0xffffff, 0x1000000, 0xffffffff, 2 ** 32, 1736929800000, 1736929800001, 2 ** 47, 2 ** 48 - 1];
    const ids = times.map((ms) => uuidv7(ms));
    const sorted = [...ids].sort();
    assert.deepEqual(sorted, ids);
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i - 1]! < ids[i]!, `${ids[i - 1]} < ${ids[i]}`);
  });

  it('gives 10,000 distinct ids within one millisecond, across pool refills', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 10_000; i++) ids.add(uuidv7(1736929800000));
    assert.equal(ids.size, 10_000);
  });

  it('fills the random bits from all of their range', () => {
    // With 10,000 ids the variant's two free bits and each hex digit of rand_b take every value.
    const variantNibbles = new Set<string>();
    const lastDigits = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      const id = uuidv7(1);
      variantNibbles.add(id[19]!);
      lastDigits.add(id[35]!);
    }
    assert.deepEqual([...variantNibbles].sort(), ['8', '9', 'a', 'b']);
    assert.equal(lastDigits.size, 16);
  });
});
