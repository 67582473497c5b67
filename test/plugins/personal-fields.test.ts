import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CityError } from '../../src/errors.js';
import { translateOutputSchema } from '../../src/plugins/output-schema.js';
import { BUILTIN_PERSONAL_FIELD_NAMES, makeTokenizer, tokenizePaths } from '../../src/plugins/personal-fields.js';

const seedDoc = (): Record<string, any> =>
  JSON.parse(readFileSync(new URL('../../examples/plugins/traffic-violation-detector-v2.json', import.meta.url), 'utf8')).output_schema;
const KEY_A = Buffer.alloc(32, 1);
const KEY_B = Buffer.alloc(32, 2);

test('the built-in list makes vehicle_data.license_plate personal in the seed schema', () => {
  assert.ok(BUILTIN_PERSONAL_FIELD_NAMES.has('license_plate'));
  assert.equal(BUILTIN_PERSONAL_FIELD_NAMES.size, 18);
  assert.deepEqual(translateOutputSchema(seedDoc(), 'output_schema').personalPaths, [['vehicle_data', 'license_plate']]);
});

test('personal: false opts a built-in name out; personal: true opts any field in', () => {
  const doc = seedDoc();
  doc.fields.vehicle_data.license_plate.personal = false;
  doc.fields.location.address.personal = true;
  doc.fields.evidence.image_urls.personal = true;
  assert.deepEqual(translateOutputSchema(doc, 'output_schema').personalPaths, [['location', 'address'], ['evidence', 'image_urls']]);
});

test('built-in names on fields that cannot hold an identifier are not personal', () => {
  const { personalPaths } = translateOutputSchema(
    { event_type: 'e', fields: { email: { type: 'boolean' }, phone: { type: 'string' }, imei: { type: 'integer' } } },
    'output_schema',
  );
  assert.deepEqual(personalPaths, [['phone'], ['imei']]);
});

test('JSON Schema: x-personal, built-in names, arrays of objects and $defs', () => {
  const { personalPaths } = translateOutputSchema({
    event_type: 'complaint',
    json_schema: {
      type: 'object',
      $defs: { contact: { type: 'string' } },
      properties: {
        reporter: { type: 'object', properties: { full_name: { type: 'string' }, email: { type: 'string', 'x-personal': false } } },
        witnesses: { type: 'array', items: { type: 'object', properties: { mobile: { $ref: '#/$defs/contact' } } } },
        badge: { type: 'string', 'x-personal': true },
        pan: { type: 'object', properties: {} },
      },
    },
  }, 'output_schema');
  assert.deepEqual(personalPaths, [['reporter', 'full_name'], ['witnesses', '[]', 'mobile'], ['badge']]);
});

test('x-personal: true on an object is rejected with its path', () => {
  assert.throws(
    () => translateOutputSchema({ event_type: 'e', json_schema: { type: 'object', properties: { who: { type: 'object', 'x-personal': true } } } }, 'output_schema'),
    (err: unknown) => err instanceof CityError
      && JSON.stringify(err.details.errors) === JSON.stringify([{ path: 'output_schema.json_schema.properties.who.x-personal', message: 'only string or number fields (or arrays of them) can be personal' }]),
  );
});

test('the tokenizer is deterministic, prefixed, and differs per key', () => {
  const a = makeTokenizer(KEY_A);
  const token = a('TN01AB1234');
  assert.match(token, /^tok_[A-Za-z0-9_-]{22}$/, '22 base64url characters (132 bits of the HMAC)');
  assert.equal(a('TN01AB1234'), token);
  assert.equal(makeTokenizer(Buffer.from(KEY_A))('TN01AB1234'), token, 'same key bytes, same token');
  assert.notEqual(a('TN01AB1235'), token);
  assert.notEqual(makeTokenizer(KEY_B)('TN01AB1234'), token);
  assert.ok(!token.includes('TN01'));
});

test('a short key is refused', () => {
  assert.throws(() => makeTokenizer(Buffer.alloc(8)), (err: unknown) => err instanceof CityError && err.code === 'CITY_ERR_CONFIG_INVALID');
});

test('tokenizePaths replaces strings, numbers and arrays in place and ignores missing paths', () => {
  const tokenize = makeTokenizer(KEY_A);
  const event: Record<string, any> = {
    vehicle_data: { license_plate: 'TN01AB1234', speed_kmh: 78 },
    phone: 9876543210,
    aliases: ['TN01AB1234', 'TN-01-AB-1234', null],
    witnesses: [{ mobile: '+919800000001' }, { mobile: '+919800000002' }, 'junk'],
    flag: true,
  };
  tokenizePaths(event, [['vehicle_data', 'license_plate'], ['phone'], ['aliases'], ['witnesses', '[]', 'mobile'], ['flag'], ['missing', 'deep'], ['vehicle_data', 'nope']], tokenize);
  assert.equal(event.vehicle_data.license_plate, tokenize('TN01AB1234'));
  assert.equal(event.vehicle_data.speed_kmh, 78);
  assert.equal(event.phone, tokenize('9876543210'), 'numbers hash as their decimal text');
  assert.deepEqual(event.aliases, [tokenize('TN01AB1234'), tokenize('TN-01-AB-1234'), null]);
  assert.deepEqual(event.witnesses, [{ mobile: tokenize('+919800000001') }, { mobile: tokenize('+919800000002') }, 'junk']);
  assert.equal(event.flag, true, 'booleans are left alone');
  assert.equal('missing' in event, false, 'missing paths are not created');
});

test('tokenizePaths never follows inherited properties', () => {
  const tokenize = makeTokenizer(KEY_A);
  const event = JSON.parse('{"a": {}}');
  tokenizePaths(event, [['a', 'constructor', 'name'], ['__proto__', 'x']], tokenize);
  assert.equal(({} as any).x, undefined);
  assert.equal(Object.name, 'Object');
});

test('a $ref graph that expands exponentially is refused, not walked', () => {
  const $defs: Record<string, unknown> = { l0: { type: 'string' } };
  for (let i = 1; i <= 8; i++) {
    $defs[`l${i}`] = { type: 'object', properties: Object.fromEntries(Array.from({ length: 10 }, (_, j) => [`p${j}`, { $ref: `#/$defs/l${i - 1}` }])) };
  }
  const started = Date.now();
  assert.throws(
    () => translateOutputSchema({ event_type: 'e', json_schema: { type: 'object', $defs, properties: { root: { $ref: '#/$defs/l8' } } } }, 'output_schema'),
    (err: unknown) => err instanceof CityError && /\$ref expansion visits more than 10000 schemas/.test(err.message),
  );
  assert.ok(Date.now() - started < 2000, 'the walk stops at its budget');
});
