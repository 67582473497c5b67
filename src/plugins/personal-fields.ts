/**
 * Personal fields: which parts of a plugin event are replaced by a keyed hash (a token) before
 * the event is stored. Raw identifiers never leave the Local Brain (seed 001 §1.2, data
 * sovereignty); the token is deterministic per node key, so the same plate still links events
 * together without anyone above L1 learning the plate.
 */
import { createHmac } from 'node:crypto';
import { cityError } from '../errors.js';
import { isObject } from './json-schema-guard.js';
import type { FieldError } from './manifest.js';

/**
 * Field names that are personal whatever the vendor declares, because a vendor forgetting to
 * flag them would leak identities. A schema can still opt a field out with `personal: false`
 * (seed shape) or `x-personal: false` (JSON Schema), e.g. a fleet vehicle's public number.
 *
 * @example
 *   BUILTIN_PERSONAL_FIELD_NAMES.has('license_plate'); // true
 */
export const BUILTIN_PERSONAL_FIELD_NAMES: ReadonlySet<string> = new Set([
  'license_plate',
  'plate_number',
  'vehicle_number',
  'registration_number',
  'phone',
  'phone_number',
  'mobile',
  'email',
  'aadhaar',
  'aadhaar_number',
  'pan',
  'passport_number',
  'national_id',
  'full_name',
  'face_id',
  'device_mac',
  'mac_address',
  'imei',
]);

/**
 * Decides whether one field is personal: an explicit flag wins, otherwise the built-in list.
 *
 * @example
 *   isPersonalField('license_plate', undefined); // true
 *   isPersonalField('license_plate', false);     // false (explicit opt-out)
 *   isPersonalField('driver_ref', true);         // true
 */
export function isPersonalField(name: string, flag: boolean | undefined): boolean {
  return flag ?? BUILTIN_PERSONAL_FIELD_NAMES.has(name);
}

/** Tokens shorter than this many key bytes would be guessable by brute force over plates. */
const MIN_KEY_BYTES = 16;

/**
 * Returns a function that turns a personal value into `tok_` + the first 22 base64url characters
 * (132 bits) of HMAC-SHA256(key, value). Same key + same value → same token, so events link; a different
 * node key gives unrelated tokens, so tokens from two cities cannot be joined.
 *
 * @example
 *   const tokenize = makeTokenizer(Buffer.from('0123456789abcdef0123456789abcdef', 'hex'));
 *   tokenize('TN01AB1234'); // 'tok_…' (22 base64url characters after the prefix)
 */
export function makeTokenizer(key: Buffer): (value: string) => string {
  if (!Buffer.isBuffer(key) || key.length < MIN_KEY_BYTES) {
    throw cityError('CONFIG_INVALID', {
      setting: 'personal data key',
      reason: `must be at least ${MIN_KEY_BYTES} bytes`,
    });
  }
  // Copy so a caller reusing its buffer cannot change the key under us.
  const secret = Buffer.from(key);
  return (value: string) =>
    // digest('base64url') and a slice: measured ~1 µs cheaper per value than digest() →
    // subarray → toString, and this runs for every personal field of every event.
    'tok_' + createHmac('sha256', secret).update(value, 'utf8').digest('base64url').slice(0, 22);
}

/**
 * Replaces, in place, the values at each path with their tokens. Strings and numbers are
 * tokenized (numbers as their decimal text, so 9876543210 and "9876543210" link); arrays of
 * them element by element. A path segment `[]` walks every element of an array of objects.
 * Missing paths, nulls and other value kinds are left alone: an absent field is not an error
 * here, the schema validator already decided whether it was required.
 *
 * @example
 *   const event = { vehicle_data: { license_plate: 'TN01AB1234' } };
 *   tokenizePaths(event, [['vehicle_data', 'license_plate']], tokenize);
 *   // event.vehicle_data.license_plate === 'tok_…'
 */
export function tokenizePaths(obj: unknown, paths: readonly (readonly string[])[], tokenize: (value: string) => string): void {
  for (const path of paths) tokenizeAt(obj, path, 0, tokenize);
}

function tokenizeAt(node: unknown, path: readonly string[], at: number, tokenize: (value: string) => string): void {
  if (node === null || typeof node !== 'object') return;
  const segment = path[at];
  if (segment === undefined) return;
  if (segment === '[]') {
    if (Array.isArray(node)) for (const item of node) tokenizeAt(item, path, at + 1, tokenize);
    return;
  }
  // Own properties only: a path must never reach into Object.prototype.
  if (Array.isArray(node) || !Object.prototype.hasOwnProperty.call(node, segment)) return;
  const record = node as Record<string, unknown>;
  if (at < path.length - 1) {
    tokenizeAt(record[segment], path, at + 1, tokenize);
    return;
  }
  const value = record[segment];
  if (typeof value === 'string' || typeof value === 'number') {
    record[segment] = tokenize(String(value));
  } else if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (typeof item === 'string' || typeof item === 'number') value[i] = tokenize(String(item));
    }
  }
}

type Schema = Record<string, unknown>;
const MAX_VISITS = 10_000;

/**
 * Personal paths of a (guarded) JSON Schema: properties flagged `x-personal: true`, or named on
 * the built-in list without `x-personal: false`, whose values can be hashed. Follows local
 * `#/$defs/…` references and oneOf/anyOf/allOf branches; array items add a `[]` segment.
 * Pushes an error for `x-personal: true` on something that cannot be hashed (an object, a
 * boolean), because silently storing it raw would be the worse outcome.
 *
 * @example
 *   personalPathsOfJsonSchema({ type: 'object', properties: { phone: { type: 'string' } } }, 'output_schema', []);
 *   // [['phone']]
 */
export function personalPathsOfJsonSchema(root: Schema, path: string, errors: FieldError[]): string[][] {
  const found = new Map<string, string[]>();
  const defs = (isObject(root.$defs) ? root.$defs : {}) as Record<string, unknown>;
  // A property may be `{ $ref: '#/$defs/plate' }`; judge it by what it refers to.
  const deref = (schema: Schema): Schema => {
    let out = schema;
    for (let hops = 0; typeof out.$ref === 'string' && hops < 16; hops++) {
      const { $ref, ...rest } = out;
      const target = defs[($ref as string).slice('#/$defs/'.length)];
      out = { ...(isObject(target) ? target : {}), ...rest };
    }
    return out;
  };
  // $refs turn the tree into a graph that can expand exponentially (A → 10×B → 10×C …), so
  // the walk has a budget; a schema over it is refused rather than left half-inspected.
  let budget = MAX_VISITS;
  const walk = (schema: unknown, at: string[], where: string, depth: number): void => {
    if (!isObject(schema) || depth > 16) return; // the guard bounds depth; this also stops $ref cycles
    if (--budget === 0) errors.push({ path, message: `$ref expansion visits more than ${MAX_VISITS} schemas; simplify the references` });
    if (budget <= 0) return;
    if (typeof schema.$ref === 'string') walk(defs[schema.$ref.slice('#/$defs/'.length)], at, where, depth + 1);
    for (const [name, child] of Object.entries(isObject(schema.properties) ? schema.properties : {})) {
      if (!isObject(child)) continue;
      const leaf = deref(child);
      const flag = leaf['x-personal'] as boolean | undefined;
      const childWhere = `${where}.properties.${name}`;
      if (flag === true && !isTokenizable(leaf)) {
        errors.push({ path: `${childWhere}.x-personal`, message: 'only string or number fields (or arrays of them) can be personal' });
      } else if (isTokenizable(leaf) && isPersonalField(name, flag)) {
        found.set([...at, name].join('\u0000'), [...at, name]);
      }
      walk(child, [...at, name], childWhere, depth + 1);
    }
    if (isObject(schema.items)) walk(schema.items, [...at, '[]'], `${where}.items`, depth + 1);
    for (const key of ['oneOf', 'anyOf', 'allOf']) {
      const list = schema[key];
      if (Array.isArray(list)) list.forEach((branch, i) => walk(branch, at, `${where}.${key}[${i}]`, depth + 1));
    }
  };
  walk(root, [], path, 0);
  return [...found.values()];
}

/**
 * True when a value of this schema can be a string or number (something a token can replace),
 * or an array of such. An untyped schema counts, unless it declares properties.
 *
 * @example
 *   isTokenizable({ type: 'array', items: { type: 'string' } }); // true
 *   isTokenizable({ type: 'boolean' });                          // false
 */
export function isTokenizable(schema: Schema): boolean {
  if (Array.isArray(schema.enum)) return true;
  const types = schema.type === undefined ? [] : ([] as unknown[]).concat(schema.type);
  if (types.length === 0) return !isObject(schema.properties);
  if (types.some((t) => t === 'string' || t === 'number' || t === 'integer')) return true;
  return types.includes('array') && isObject(schema.items) && isTokenizable(schema.items);
}
