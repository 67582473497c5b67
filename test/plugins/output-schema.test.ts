import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CityError } from '../../src/errors.js';
import { compileEventValidator, describeAjvError, translateOutputSchema } from '../../src/plugins/output-schema.js';
import { isDateTime } from '../../src/plugins/json-schema-guard.js';
import type { FieldError } from '../../src/plugins/manifest.js';

const seedDoc = (): Record<string, any> =>
  JSON.parse(readFileSync(new URL('../../examples/plugins/traffic-violation-detector-v2.json', import.meta.url), 'utf8')).output_schema;

const speeding = (): Record<string, any> => ({
  timestamp: '2024-01-15T10:30:00Z',
  location: { latitude: 13.0418, longitude: 80.2341, address: 'Anna Salai, Teynampet' },
  violation_type: 'speeding',
  vehicle_data: { license_plate: 'TN01AB1234', vehicle_type: 'car', speed_kmh: 78 },
  evidence: { image_urls: ['https://evidence.local/1.jpg'], video_url: 'https://evidence.local/1.mp4' },
  severity: 'medium',
  confidence_score: 0.93,
});

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CityError);
    assert.equal(err.code, 'CITY_ERR_PLUGIN_MANIFEST_INVALID');
    return (err.details.errors as FieldError[]).map((e) => `${e.path}: ${e.message}`);
  }
  assert.fail('expected the schema to be rejected');
}

/** Validates `event` against the seed schema and returns the described errors. */
function check(event: unknown): string[] {
  const validate = compileEventValidator(translateOutputSchema(seedDoc(), 'output_schema').jsonSchema);
  return validate(event) ? [] : (validate.errors ?? []).map(describeAjvError);
}

test('the seed output_schema becomes the expected JSON Schema', () => {
  const { jsonSchema } = translateOutputSchema(seedDoc(), 'output_schema');
  const p = jsonSchema.properties as Record<string, any>;
  assert.equal(jsonSchema.type, 'object');
  assert.deepEqual(jsonSchema.required, ['timestamp', 'location', 'vehicle_data']);
  assert.equal(jsonSchema.additionalProperties, undefined, 'vendors may add top-level fields');
  assert.deepEqual(p.timestamp, { type: 'string', format: 'date-time' });
  assert.deepEqual(p.location.required, ['latitude', 'longitude']);
  assert.deepEqual(p.location.properties.latitude, { type: 'number' });
  assert.deepEqual(p.violation_type, { enum: ['speeding', 'red_light', 'wrong_way', 'no_helmet'] });
  assert.deepEqual(p.vehicle_data.properties.speed_kmh, { type: 'integer' });
  assert.deepEqual(p.evidence, {
    type: 'object',
    properties: { image_urls: { type: 'array', items: { type: 'string' } }, video_url: { type: 'string' } },
  });
  assert.deepEqual(p.confidence_score, { type: 'number', minimum: 0, maximum: 1 });
});

test('a valid seed speeding event passes, also with vendor extra fields', () => {
  assert.deepEqual(check(speeding()), []);
  assert.deepEqual(check({ ...speeding(), camera_id: 'CAM-0042' }), []);
});

test('each kind of violation names the field and the rule', () => {
  const cases: [string, (e: Record<string, any>) => void, string][] = [
    ['range', (e) => { e.confidence_score = 1.2; }, 'confidence_score: must be <= 1 (range [0, 1])'],
    ['range low', (e) => { e.confidence_score = -0.1; }, 'confidence_score: must be >= 0 (range [0, 1])'],
    ['enum', (e) => { e.violation_type = 'parking'; }, 'violation_type: must be one of speeding, red_light, wrong_way, no_helmet'],
    ['nested required', (e) => { delete e.location.latitude; }, 'location.latitude: required'],
    ['top-level required', (e) => { delete e.timestamp; }, 'timestamp: required'],
    ['integer', (e) => { e.vehicle_data.speed_kmh = 78.5; }, 'vehicle_data.speed_kmh: must be an integer'],
    ['number', (e) => { e.location.longitude = '80.2'; }, 'location.longitude: must be a number'],
    ['array item', (e) => { e.evidence.image_urls = ['ok', 7]; }, 'evidence.image_urls[1]: must be a string'],
    ['date-time', (e) => { e.timestamp = '15/01/2024 10:30'; }, 'timestamp: must be an ISO 8601 date-time with a timezone, e.g. 2024-01-15T10:30:00Z'],
    ['group type', (e) => { e.vehicle_data = 'TN01AB1234'; }, 'vehicle_data: must be an object'],
  ];
  for (const [name, mutate, expected] of cases) {
    const event = speeding();
    mutate(event);
    assert.deepEqual(check(event), [expected], name);
  }
  assert.deepEqual(check([]), ['(event): must be an object']);
});

test('all violations are reported at once', () => {
  const event = speeding();
  event.confidence_score = 2;
  event.severity = 'extreme';
  delete event.location.longitude;
  assert.deepEqual(check(event).sort(), [
    'confidence_score: must be <= 1 (range [0, 1])',
    'location.longitude: required',
    'severity: must be one of low, medium, high, critical',
  ]);
});

test('seed-shape schema errors name the field', () => {
  const got = problems(() => translateOutputSchema({
    event_type: 'x_event',
    fields: {
      a: { type: 'decimal' },
      b: { type: 'enum' },
      c: { type: 'string', range: [0, 1] },
      d: { type: 'float', range: [1, 0] },
      e: { type: 'string', requried: true },
      f: 'string',
      g: { type: 'boolean', personal: true },
    },
  }, 'output_schema'));
  assert.equal(got.length, 7, got.join('\n'));
  assert.match(got[0]!, /^output_schema\.fields\.a\.type: unknown type "decimal"; known types: ISO8601, string, .*enum, array\[<type>\]$/);
  assert.equal(got[1], 'output_schema.fields.b.values: an enum needs a non-empty list of values');
  assert.match(got[2]!, /^output_schema\.fields\.c\.range: range only applies to number types/);
  assert.match(got[3]!, /^output_schema\.fields\.d\.range: must be \[min, max\] with min <= max/);
  assert.match(got[4]!, /^output_schema\.fields\.e\.requried: unknown field spec key/);
  assert.match(got[5]!, /^output_schema\.fields\.f: must be a field spec/);
  assert.match(got[6]!, /^output_schema\.fields\.g\.personal: only string or number fields/);
});

test('types: geo_point, array[float] ranges, aliases, a group holding a field named "type"', () => {
  const { jsonSchema } = translateOutputSchema({
    event_type: 'x',
    fields: {
      at: { type: 'geo_point', required: true },
      readings: { type: 'array[float]', range: [0, 10] },
      count: { type: 'int' },
      meta: { type: { type: 'string' }, when: { type: 'ISO8601' } },
    },
  }, 'output_schema');
  const p = jsonSchema.properties as Record<string, any>;
  assert.deepEqual(p.at.required, ['latitude', 'longitude']);
  assert.deepEqual(p.readings, { type: 'array', items: { type: 'number', minimum: 0, maximum: 10 } });
  assert.deepEqual(p.count, { type: 'integer' });
  assert.deepEqual(p.meta.properties.type, { type: 'string' });
  const validate = compileEventValidator(jsonSchema);
  assert.equal(validate({ at: { latitude: 13.08, longitude: 80.27 }, readings: [1, 2] }), true);
  assert.equal(validate({ at: { latitude: 95, longitude: 80.27 } }), false);
  assert.equal(validate({ at: { latitude: 13, longitude: 80 }, readings: [11] }), false);
});

test('additional_properties: false closes the top level', () => {
  const doc = { ...seedDoc(), additional_properties: false };
  const validate = compileEventValidator(translateOutputSchema(doc, 'output_schema').jsonSchema);
  assert.equal(validate({ ...speeding(), camera_id: 'CAM-1' }), false);
  assert.deepEqual(validate.errors!.map(describeAjvError), ['camera_id: is not an allowed field']);
});

const plainSchema = {
  type: 'object',
  required: ['timestamp', 'station_id'],
  properties: {
    timestamp: { type: 'string', format: 'date-time' },
    station_id: { type: 'string', pattern: '^[A-Z]{3}-\\d{3}$' },
    pm2_5: { type: 'number', minimum: 0, maximum: 1000 },
    severity: { enum: ['low', 'high'] },
    tags: { type: 'array', items: { $ref: '#/$defs/tag' }, maxItems: 3 },
  },
  $defs: { tag: { type: 'string', maxLength: 16 } },
};

test('plain JSON Schema is accepted, wrapped or bare', () => {
  const wrapped = translateOutputSchema({ event_type: 'aq_reading', json_schema: plainSchema }, 'output_schema');
  const bare = translateOutputSchema({ ...plainSchema, 'x-event-type': 'aq_reading', $schema: 'https://json-schema.org/draft/2020-12/schema' }, 'output_schema');
  assert.equal(wrapped.eventType, 'aq_reading');
  assert.equal(bare.eventType, 'aq_reading');
  assert.equal(bare.jsonSchema.$schema, undefined, '$schema is dropped before ajv sees it');
  assert.deepEqual(wrapped.severityValues, ['low', 'high']);
  for (const { jsonSchema } of [wrapped, bare]) {
    const validate = compileEventValidator(jsonSchema);
    assert.equal(validate({ timestamp: '2024-06-01T08:00:00+05:30', station_id: 'CHN-001', pm2_5: 41, tags: ['coastal'] }), true);
    assert.equal(validate({ timestamp: '2024-06-01T08:00:00+05:30', station_id: 'chennai', tags: ['a'.repeat(17)] }), false);
    assert.deepEqual(validate.errors!.map(describeAjvError), [
      'station_id: must match the pattern ^[A-Z]{3}-\\d{3}$',
      'tags[0]: must be at most 16 characters long',
    ]);
  }
});

test('the restricted meta-schema rejects remote $ref, unknown keywords and deep nesting', () => {
  const wrap = (json_schema: unknown) => () => translateOutputSchema({ event_type: 'e', json_schema }, 'output_schema');
  assert.deepEqual(problems(wrap({ type: 'object', properties: { a: { $ref: 'http://evil.example/s.json' } } })), [
    'output_schema.json_schema.properties.a.$ref: only local references like "#/$defs/name" are allowed',
  ]);
  assert.deepEqual(problems(wrap({ type: 'object', properties: { a: { $ref: '#/$defs/missing' } } })), [
    'output_schema.json_schema.properties.a.$ref: refers to "missing", which is not defined under $defs',
  ]);
  const unknown = problems(wrap({ type: 'object', properties: { a: { type: 'string', if: { const: 'x' } } } }));
  assert.equal(unknown.length, 1);
  assert.match(unknown[0]!, /^output_schema\.json_schema\.properties\.a\.if: unknown or disallowed keyword; allowed: type, properties/);
  let deep: Record<string, unknown> = { type: 'string' };
  for (let i = 0; i < 20; i++) deep = { type: 'object', properties: { n: deep } };
  const tooDeep = problems(wrap(deep));
  assert.equal(tooDeep.length, 1);
  assert.match(tooDeep[0]!, /^output_schema\.json_schema(\.properties\.n){16}: schemas may nest at most 16 levels deep$/);
  let ok: Record<string, unknown> = { type: 'string' };
  for (let i = 0; i < 15; i++) ok = { type: 'object', properties: { n: ok } };
  assert.doesNotThrow(wrap(ok), '16 levels are allowed');
});

test('the restricted meta-schema bounds size, patterns, formats and branches', () => {
  const wrap = (json_schema: unknown) => () => translateOutputSchema({ event_type: 'e', json_schema }, 'output_schema');
  const many = Object.fromEntries(Array.from({ length: 501 }, (_, i) => [`f${i}`, { type: 'number' }]));
  assert.deepEqual(problems(wrap({ type: 'object', properties: many })), [
    'output_schema.json_schema.properties.f500: a schema may declare at most 500 properties in total',
  ]);
  const got = problems(wrap({
    type: 'object',
    properties: {
      a: { type: 'string', pattern: 'a'.repeat(257) },
      b: { type: 'string', pattern: '(' },
      c: { type: 'string', format: 'regex' },
      d: { anyOf: Array.from({ length: 17 }, () => ({ type: 'string' })) },
      e: { type: 'text' },
      f: { type: 'array', items: [{ type: 'string' }] },
    },
  }));
  assert.deepEqual(got.map((l) => l.slice(0, l.indexOf(':'))), ['a.pattern', 'b.pattern', 'c.format', 'd.anyOf', 'e.type', 'f.items'].map((s) => `output_schema.json_schema.properties.${s}`));
  assert.match(problems(wrap({ type: 'array' }))[0]!, /json_schema\.type: an event schema must have type "object"/);
});

test('an output_schema needs a usable event_type', () => {
  assert.deepEqual(problems(() => translateOutputSchema({ fields: { a: { type: 'string' } } }, 'output_schema')), [
    'output_schema.event_type: required: lowercase letters, digits, ".", "_" or "-", at most 64 characters (e.g. violation_event)',
  ]);
  assert.match(problems(() => translateOutputSchema({ type: 'object', properties: {} }, 'output_schema'))[0]!, /^output_schema\.x-event-type: required/);
  assert.match(problems(() => translateOutputSchema({ event_type: 'e' }, 'output_schema'))[0]!, /^output_schema: must have fields/);
});

test('isDateTime accepts RFC 3339 and rejects impossible dates', () => {
  for (const ok of ['2024-01-15T10:30:00Z', '2024-02-29T23:59:59.123+05:30', '2024-01-15t10:30:00z', '2016-12-31T23:59:60Z']) {
    assert.equal(isDateTime(ok), true, ok);
  }
  for (const bad of ['2024-01-15T10:30:00', '2023-02-29T10:00:00Z', '2024-13-01T00:00:00Z', '2024-04-31T00:00:00Z', '2024-01-15T24:00:00Z', '2024-01-15T10:30:60Z', '2024-01-15']) {
    assert.equal(isDateTime(bad), false, bad);
  }
});
