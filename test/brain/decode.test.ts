import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { decodePayload, formatFromContentType, sniffFormat, type PayloadFormat } from '../../src/brain/decode.js';
import type { DecodedItem } from '../../src/brain/ingest.js';
import { CityError } from '../../src/errors.js';
import { encodeProtobufEvents } from '../../src/events/protobuf-codec.js';
import { envelopeSpeedingEvent } from '../helpers/fixtures.js';

// The seed's speeding violation (seed 001 §2.2) in the JSON shape a client posts; it survives a
// protobuf round trip unchanged (canonical timestamp, known severity, float-exact confidence).
const speeding = envelopeSpeedingEvent();

const buf = (text: string): Buffer => Buffer.from(text, 'utf8');

function okEvent(item: DecodedItem | undefined): Record<string, unknown> {
  assert.ok(item, 'expected an item');
  assert.equal(item.ok, true, item.ok ? '' : item.reason);
  return (item as { ok: true; event: Record<string, unknown> }).event;
}

function failed(item: DecodedItem | undefined): { reason: string; raw: string | Buffer | null } {
  assert.ok(item, 'expected an item');
  assert.equal(item.ok, false, 'expected a failed item');
  const f = item as Extract<DecodedItem, { ok: false }>;
  assert.equal(f.code, 'PAYLOAD_MALFORMED');
  return f;
}

function malformed(bytes: Buffer, format: PayloadFormat, maxItems: number, reason: RegExp): CityError {
  let caught: unknown;
  try {
    decodePayload(bytes, format, maxItems);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof CityError, `expected a CityError, got ${String(caught)}`);
  assert.equal(caught.code, 'CITY_ERR_PAYLOAD_MALFORMED');
  assert.equal(caught.status, 400);
  assert.match(String(caught.details.reason), reason);
  return caught;
}

describe('formatFromContentType', () => {
  const cases: Array<[string | undefined, PayloadFormat | null]> = [
    [undefined, 'json'],
    ['', 'json'],
    ['application/json', 'json'],
    ['text/json', 'json'],
    ['application/json; charset=utf-8', 'json'],
    ['Application/JSON; charset=utf-8', 'json'],
    ['APPLICATION/JSON;CHARSET=UTF-8', 'json'],
    ['  application/json  ', 'json'],
    ['application/x-ndjson', 'ndjson'],
    ['application/ndjson', 'ndjson'],
    ['application/jsonl', 'ndjson'],
    ['application/jsonlines', 'ndjson'],
    ['application/x-jsonlines', 'ndjson'],
    ['Application/X-NDJSON; charset=utf-8', 'ndjson'],
    ['application/x-protobuf', 'protobuf-event'],
    ['application/protobuf', 'protobuf-event'],
    ['application/vnd.google.protobuf', 'protobuf-event'],
    ['application/x-protobuf; messageType=city.v1.Event', 'protobuf-event'],
    ['application/x-protobuf; messageType=city.v1.EventBatch', 'protobuf-batch'],
    ['application/x-protobuf;messageType=city.v1.EventBatch', 'protobuf-batch'],
    ['Application/X-Protobuf; MessageType="city.v1.EventBatch"', 'protobuf-batch'],
    ['application/protobuf; proto=city.v1.EventBatch', 'protobuf-batch'],
    ['application/vnd.google.protobuf; charset=binary; messageType=city.v1.EventBatch', 'protobuf-batch'],
    ['application/x-protobuf; note=eventbatch', 'protobuf-event'],
    ['text/plain', null],
    ['application/xml', null],
    ['multipart/form-data; boundary=x', null],
    ['application/octet-stream', null],
    ['application/jsonx', null],
    ['json', null],
  ];
  for (const [contentType, expected] of cases) {
    it(`${JSON.stringify(contentType)} → ${String(expected)}`, () => {
      assert.equal(formatFromContentType(contentType), expected);
    });
  }
});

describe('sniffFormat', () => {
  it('reads a JSON object or array as json', () => {
    assert.equal(sniffFormat(buf('{"a":1}'), false), 'json');
    assert.equal(sniffFormat(buf('[{"a":1},{"a":2}]'), false), 'json');
    assert.equal(sniffFormat(buf(' \r\n\t{"a":1}'), false), 'json');
    assert.equal(sniffFormat(buf('{"a":1}'), true), 'json', 'JSON wins over the batch topic');
  });

  it('reads one JSON object with trailing newlines as json', () => {
    assert.equal(sniffFormat(buf('{"a":1}\n'), false), 'json');
    assert.equal(sniffFormat(buf('{"a":1}\n\n'), false), 'json');
  });

  it('reads an array spread over lines as json', () => {
    assert.equal(sniffFormat(buf('[\n{"a":1},\n{"a":2}\n]'), false), 'json');
  });

  it('reads several object lines as ndjson', () => {
    assert.equal(sniffFormat(buf('{"a":1}\n{"a":2}'), false), 'ndjson');
    assert.equal(sniffFormat(buf('{"a":1}\r\n{"a":2}\r\n'), false), 'ndjson');
    assert.equal(sniffFormat(buf('{"a":1}\n\n  {"a":2}\n'), false), 'ndjson');
  });

  it('takes anything else as protobuf, a batch on the batch topic', () => {
    const event = encodeProtobufEvents([speeding], 'event');
    assert.equal(sniffFormat(event, false), 'protobuf-event');
    assert.equal(sniffFormat(encodeProtobufEvents([speeding], 'batch'), true), 'protobuf-batch');
    assert.equal(sniffFormat(new Uint8Array(0), false), 'protobuf-event');
    assert.equal(sniffFormat(new Uint8Array(0), true), 'protobuf-batch');
  });

  // Regression: src/brain/decode.ts, sniffFormat (line 47): any `{` after the first newline makes a
  // payload NDJSON, so a pretty-printed single event with a nested object
  // (`{\n  "location": {...}\n}`) is sniffed as 'ndjson' and every line then fails to parse.
  it('reads a pretty-printed JSON object with nested objects as json', () => {
    const pretty = buf(JSON.stringify(speeding, null, 2));
    assert.equal(sniffFormat(pretty, false), 'json');
    assert.doesNotThrow(() => decodePayload(pretty, sniffFormat(pretty, false), 10));
  });
});

describe('decodePayload json', () => {
  it('a lone object is one event, not a batch', () => {
    const { items, batch } = decodePayload(buf(JSON.stringify(speeding)), 'json', 10);
    assert.equal(batch, false);
    assert.equal(items.length, 1);
    assert.deepEqual(okEvent(items[0]), speeding);
  });

  it('an array is a batch, even of one, and with leading whitespace', () => {
    const one = decodePayload(buf('[{"a":1}]'), 'json', 10);
    assert.equal(one.batch, true);
    assert.deepEqual(okEvent(one.items[0]), { a: 1 });
    assert.equal(decodePayload(buf('\n  [{"a":1}]'), 'json', 10).batch, true);
  });

  it('non-object array items fail alone; the objects go on', () => {
    const { items, batch } = decodePayload(buf('[{"a":1}, 42, "text", null, [1], true, {"b":2}]'), 'json', 10);
    assert.equal(batch, true);
    assert.equal(items.length, 7);
    assert.deepEqual(okEvent(items[0]), { a: 1 });
    assert.deepEqual(okEvent(items[6]), { b: 2 });
    const raws = [1, 2, 3, 4, 5].map((i) => {
      const f = failed(items[i]);
      assert.match(f.reason, /must be a JSON object/);
      return f.raw;
    });
    assert.deepEqual(raws, ['42', '"text"', 'null', '[1]', 'true']);
  });

  it('a scalar body is malformed', () => {
    for (const body of ['42', '"text"', 'null', 'true']) malformed(buf(body), 'json', 10, /expected an event object or an array/);
  });

  it('text that is not JSON is malformed, with the parser reason', () => {
    const err = malformed(buf('{"a":'), 'json', 10, /JSON/);
    assert.match(err.message, /^payload could not be decoded as JSON: /i);
  });

  it('an empty body is malformed', () => {
    malformed(Buffer.alloc(0), 'json', 10, /./);
    malformed(buf('   \n'), 'json', 10, /./);
  });

  it('an empty array is malformed: it holds no events', () => {
    malformed(buf('[]'), 'json', 10, /holds no events/);
    malformed(buf(' [ ] '), 'json', 10, /holds no events/);
  });

  it('takes exactly maxItems, refuses more and names the limit', () => {
    const three = buf(JSON.stringify([{ i: 1 }, { i: 2 }, { i: 3 }]));
    assert.equal(decodePayload(three, 'json', 3).items.length, 3);
    const err = malformed(three, 'json', 2, /at most 2 events; this one has 3/);
    assert.match(err.message, /at most 2 events/);
  });
});

describe('decodePayload ndjson', () => {
  it('one event per line, blank lines and CRLF skipped, always a batch', () => {
    const body = buf('{"i":1}\n\n{"i":2}\r\n   \n\t{"i":3}  \n');
    const { items, batch } = decodePayload(body, 'ndjson', 10);
    assert.equal(batch, true);
    assert.deepEqual(items.map(okEvent), [{ i: 1 }, { i: 2 }, { i: 3 }]);
  });

  it('keeps each line as raw text for the dead-letter table', () => {
    const { items } = decodePayload(buf('{"i":1}\n{"i":2}'), 'ndjson', 10);
    assert.deepEqual(items, [
      { ok: true, event: { i: 1 }, raw: '{"i":1}' },
      { ok: true, event: { i: 2 }, raw: '{"i":2}' },
    ]);
  });

  it('a single line without a newline is a batch of one', () => {
    const { items, batch } = decodePayload(buf('{"i":1}'), 'ndjson', 10);
    assert.equal(batch, true);
    assert.equal(items.length, 1);
  });

  it('a broken line fails alone, with its raw text; the others go on', () => {
    const { items } = decodePayload(buf('{"i":1}\n{broken\n[1,2]\n{"i":4}\n'), 'ndjson', 10);
    assert.equal(items.length, 4);
    assert.deepEqual(okEvent(items[0]), { i: 1 });
    const broken = failed(items[1]);
    assert.equal(broken.raw, '{broken');
    assert.match(broken.reason, /^line 2: /);
    const array = failed(items[2]);
    assert.match(array.reason, /must be a JSON object/);
    assert.equal(array.raw, '[1,2]');
    assert.deepEqual(okEvent(items[3]), { i: 4 });
  });

  // Regression: src/brain/decode.ts, decodeNdjson (line 118): the line number is `out.length + 1`, the
  // count of items so far, so blank lines before a broken line make it name the wrong line:
  // '{"i":1}\n\n{broken' reports "line 2" for the broken text on line 3.
  it('a broken line is named by its line number in the body, counting blank lines', () => {
    const { items } = decodePayload(buf('{"i":1}\n\n{broken\n'), 'ndjson', 10);
    assert.match(failed(items[1]).reason, /^line 3: /);
  });

  it('an empty or blank body is malformed', () => {
    malformed(Buffer.alloc(0), 'ndjson', 10, /holds no events/);
    malformed(buf('\n\n  \r\n'), 'ndjson', 10, /holds no events/);
  });

  it('more lines than maxItems are refused, naming the limit', () => {
    const body = buf(Array.from({ length: 6 }, (_, i) => JSON.stringify({ i })).join('\n'));
    assert.equal(decodePayload(body, 'ndjson', 6).items.length, 6);
    malformed(body, 'ndjson', 5, /at most 5 events; this one has 6/);
  });
});

describe('decodePayload protobuf', () => {
  it('one city.v1.Event is one event, not a batch', () => {
    const body = Buffer.from(encodeProtobufEvents([speeding], 'event'));
    const { items, batch } = decodePayload(body, 'protobuf-event', 10);
    assert.equal(batch, false);
    assert.equal(items.length, 1);
    assert.deepEqual(okEvent(items[0]), speeding);
  });

  it('a city.v1.EventBatch is a batch', () => {
    const events = [speeding, { ...speeding, event_id: 'second', severity: 'high' }, { event_type: 'air_quality', pm25: 41 }];
    const body = Buffer.from(encodeProtobufEvents(events, 'batch'));
    const { items, batch } = decodePayload(body, 'protobuf-batch', 10);
    assert.equal(batch, true);
    assert.deepEqual(items.map(okEvent), events);
  });

  it('a bad event in a batch fails alone, as PAYLOAD_MALFORMED without raw text', () => {
    const w = new BinaryWriter();
    w.tag(1, WireType.LengthDelimited).bytes(encodeProtobufEvents([speeding], 'event'));
    // An Event whose payload (field 8) is a JSON array, not an object.
    w.tag(1, WireType.LengthDelimited).fork().tag(8, WireType.LengthDelimited).bytes(new TextEncoder().encode('[1]')).join();
    const { items } = decodePayload(Buffer.from(w.finish()), 'protobuf-batch', 10);
    assert.equal(items.length, 2);
    assert.deepEqual(okEvent(items[0]), speeding);
    const bad = failed(items[1]);
    assert.match(bad.reason, /payload/);
    assert.equal(bad.raw, null);
  });

  it('bytes that are not protobuf are malformed', () => {
    const truncated = Buffer.from(encodeProtobufEvents([speeding], 'batch')).subarray(0, 20);
    malformed(truncated, 'protobuf-batch', 10, /./);
    malformed(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), 'protobuf-event', 10, /./);
  });

  it('an empty batch is malformed', () => {
    malformed(Buffer.alloc(0), 'protobuf-batch', 10, /holds no events/);
  });

  it('more events than maxItems are refused, naming the limit', () => {
    const body = Buffer.from(encodeProtobufEvents([speeding, speeding, speeding], 'batch'));
    assert.equal(decodePayload(body, 'protobuf-batch', 3).items.length, 3);
    const err = malformed(body, 'protobuf-batch', 2, /at most 2 events; this one has 3/);
    assert.equal(err.details.format, 'protobuf-batch');
  });
});
