/**
 * The restricted meta-schema for vendor JSON Schemas. Vendors are semi-trusted: their schema is
 * compiled into code that runs on every event, so before ajv sees it we allow only keywords whose
 * cost is bounded and whose meaning we can explain in an error. No remote `$ref` (no network at
 * compile time, no fetching attacker-chosen documents), bounded depth, breadth and pattern size.
 *
 * Written as a table-driven walk rather than a JSON meta-schema because three of the rules
 * (depth, total property count, `$ref` targets that must exist) are not expressible in one, and
 * the walk names the exact offending path. The allowed formats live here too, with the fast
 * date-time check the shared ajv instance uses for them.
 */
import type { FieldError } from './manifest.js';

export type JsonSchema = Record<string, unknown>;

export const MAX_SCHEMA_DEPTH = 16;
export const MAX_SCHEMA_PROPERTIES = 500;
export const MAX_PATTERN_LENGTH = 256;
export const MAX_BRANCHES = 16;
const MAX_ENUM_VALUES = 1000;

const TYPE_NAMES = new Set(['string', 'number', 'integer', 'boolean', 'object', 'array', 'null']);

/** Formats with a fixed, linear-time check in ajv-formats; `regex` is left out (it compiles event data). */
export const KNOWN_FORMATS: ReadonlySet<string> = new Set([
  'date-time', 'date', 'time', 'duration', 'uri', 'uri-reference', 'url', 'email', 'hostname',
  'ipv4', 'ipv6', 'uuid', 'byte', 'int32', 'int64', 'float', 'double',
]);

/** RFC 3339 date-time; ajv-formats' own check splits and re-parses the string (measured 2x slower per event). */
const DATE_TIME = /^(\d{4})-(\d\d)-(\d\d)[Tt ]([01]\d|2[0-3]):([0-5]\d):([0-5]\d|60)(?:\.\d+)?(?:[Zz]|[+-](?:[01]\d|2[0-3]):?[0-5]\d)$/;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * True for an RFC 3339 timestamp with a timezone (ISO 8601 without one is ambiguous across nodes).
 *
 * @example
 *   isDateTime('2024-01-15T10:30:00Z');  // true
 *   isDateTime('2023-02-29T10:30:00Z');  // false (not a leap year)
 */
export function isDateTime(value: string): boolean {
  const m = DATE_TIME.exec(value);
  if (!m) return false;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12 || day < 1 || (m[6] === '60' && m[5] !== '59')) return false;
  const leap = month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return day <= (DAYS_IN_MONTH[month - 1] ?? 0) + (leap ? 1 : 0);
}

type Check = (value: unknown, path: string, ctx: Ctx, depth: number) => unknown;
interface Ctx { errors: FieldError[]; defs: Set<string>; properties: number }

const fail = (ctx: Ctx, path: string, message: string): undefined => {
  ctx.errors.push({ path, message });
  return undefined;
};
const passIf = (test: (v: unknown) => boolean, message: string): Check =>
  (v, path, ctx) => (test(v) ? v : fail(ctx, path, message));
const isNumber = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v);
const isCount = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 0;
const isString = (v: unknown): boolean => typeof v === 'string';
const anything: Check = (v) => v;

const branches: Check = (v, path, ctx, depth) => {
  if (!Array.isArray(v) || v.length === 0 || v.length > MAX_BRANCHES) {
    return fail(ctx, path, `must be a list of 1 to ${MAX_BRANCHES} schemas`);
  }
  return v.map((s, i) => guard(s, `${path}[${i}]`, ctx, depth + 1));
};

/** The allowed keywords. Anything not in this table is rejected by name. */
const KEYWORDS: Record<string, Check> = {
  type: passIf((v) => (Array.isArray(v) ? v.length > 0 && v.every((t) => TYPE_NAMES.has(t)) : TYPE_NAMES.has(v as string)),
    `must be one of ${[...TYPE_NAMES].join(', ')} (or a list of them)`),
  properties: (v, path, ctx, depth) => {
    if (!isObject(v)) return fail(ctx, path, 'must be an object of named schemas');
    const out: JsonSchema = {};
    for (const [name, schema] of Object.entries(v)) {
      // JSON.parse makes "__proto__" an own key; assigning it would swap our copy's prototype.
      if (name === '__proto__') return fail(ctx, `${path}.${name}`, 'is not an allowed property name');
      if (++ctx.properties > MAX_SCHEMA_PROPERTIES) return fail(ctx, `${path}.${name}`, `a schema may declare at most ${MAX_SCHEMA_PROPERTIES} properties in total`);
      out[name] = guard(schema, `${path}.${name}`, ctx, depth + 1);
    }
    return out;
  },
  required: passIf((v) => Array.isArray(v) && v.every(isString), 'must be a list of property names'),
  items: (v, path, ctx, depth) => (typeof v === 'boolean' || isObject(v)
    ? guard(v, path, ctx, depth + 1)
    : fail(ctx, path, 'must be one schema (tuple forms are not supported)')),
  additionalProperties: (v, path, ctx, depth) => (typeof v === 'boolean' || isObject(v)
    ? guard(v, path, ctx, depth + 1)
    : fail(ctx, path, 'must be true, false or a schema')),
  enum: passIf((v) => Array.isArray(v) && v.length > 0 && v.length <= MAX_ENUM_VALUES, `must be a list of 1 to ${MAX_ENUM_VALUES} values`),
  const: anything,
  minimum: passIf(isNumber, 'must be a number'),
  maximum: passIf(isNumber, 'must be a number'),
  exclusiveMinimum: passIf(isNumber, 'must be a number'),
  exclusiveMaximum: passIf(isNumber, 'must be a number'),
  minLength: passIf(isCount, 'must be a whole number >= 0'),
  maxLength: passIf(isCount, 'must be a whole number >= 0'),
  minItems: passIf(isCount, 'must be a whole number >= 0'),
  maxItems: passIf(isCount, 'must be a whole number >= 0'),
  pattern: (v, path, ctx) => {
    if (typeof v !== 'string' || v.length > MAX_PATTERN_LENGTH) return fail(ctx, path, `must be a regular expression of at most ${MAX_PATTERN_LENGTH} characters`);
    try {
      new RegExp(v, 'u'); // ajv compiles patterns with the unicode flag; fail here with a path instead
      return v;
    } catch (err) {
      return fail(ctx, path, `is not a valid regular expression: ${(err as Error).message}`);
    }
  },
  format: passIf((v) => KNOWN_FORMATS.has(v as string), `must be one of the known formats: ${[...KNOWN_FORMATS].join(', ')}`),
  description: passIf(isString, 'must be a string'),
  title: passIf(isString, 'must be a string'),
  default: anything,
  examples: passIf(Array.isArray, 'must be a list'),
  'x-personal': passIf((v) => typeof v === 'boolean', 'must be true or false'),
  'x-unit': passIf(isString, 'must be a string'),
  oneOf: branches,
  anyOf: branches,
  allOf: branches,
  $ref: (v, path, ctx) => {
    const name = typeof v === 'string' ? /^#\/\$defs\/([^/~]+)$/.exec(v)?.[1] : undefined;
    if (name === undefined) return fail(ctx, path, 'only local references like "#/$defs/name" are allowed');
    return ctx.defs.has(name) ? v : fail(ctx, path, `refers to "${name}", which is not defined under $defs`);
  },
};
const ALLOWED = Object.keys(KEYWORDS).join(', ');

/** Keywords only meaningful on the root; `$schema` is dropped (ajv would try to resolve it). */
const ROOT_ONLY = new Set(['$schema', '$defs', 'x-event-type']);

/**
 * Checks a vendor JSON Schema against the restricted rules and returns a clean copy (only
 * allowed keywords, no `$schema`), or null after pushing every problem onto `errors`.
 *
 * @example
 *   const errors: FieldError[] = [];
 *   guardJsonSchema({ type: 'object', properties: { a: { $ref: 'http://x/y' } } }, 'output_schema', errors);
 *   // errors[0] = { path: 'output_schema.properties.a.$ref', message: 'only local references like "#/$defs/name" are allowed' }
 */
export function guardJsonSchema(schema: unknown, path: string, errors: FieldError[]): JsonSchema | null {
  if (!isObject(schema)) {
    errors.push({ path, message: 'must be a JSON Schema object' });
    return null;
  }
  const ctx: Ctx = { errors, defs: new Set(), properties: 0 };
  const before = errors.length;
  const defs = schema.$defs;
  const out: JsonSchema = {};
  if (defs !== undefined) {
    if (!isObject(defs)) {
      fail(ctx, `${path}.$defs`, 'must be an object of named schemas');
    } else {
      if (Object.hasOwn(defs, '__proto__')) fail(ctx, `${path}.$defs.__proto__`, 'is not an allowed name');
      for (const name of Object.keys(defs)) if (name !== '__proto__') ctx.defs.add(name);
      const guarded: JsonSchema = {};
      for (const [name, def] of Object.entries(defs)) if (name !== '__proto__') guarded[name] = guard(def, `${path}.$defs.${name}`, ctx, 2);
      out.$defs = guarded;
    }
  }
  if (schema.$schema !== undefined && typeof schema.$schema !== 'string') fail(ctx, `${path}.$schema`, 'must be a string');
  if (schema['x-event-type'] !== undefined) out['x-event-type'] = schema['x-event-type'];
  Object.assign(out, guard(schema, path, ctx, 1, true));
  return errors.length > before ? null : out;
}

function guard(schema: unknown, path: string, ctx: Ctx, depth: number, root = false): unknown {
  if (typeof schema === 'boolean') return schema;
  if (!isObject(schema)) return fail(ctx, path, 'must be a schema (an object)');
  if (depth > MAX_SCHEMA_DEPTH) return fail(ctx, path, `schemas may nest at most ${MAX_SCHEMA_DEPTH} levels deep`);
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (root && ROOT_ONLY.has(key)) continue;
    const check = KEYWORDS[key];
    if (!check) {
      const hint = ROOT_ONLY.has(key) ? `${key} is only allowed at the top of the schema` : `unknown or disallowed keyword; allowed: ${ALLOWED}`;
      fail(ctx, `${path}.${key}`, hint);
      continue;
    }
    const checked = check(value, `${path}.${key}`, ctx, depth);
    if (checked !== undefined) out[key] = checked;
  }
  return out;
}

/** A plain JSON object (not null, not an array). */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
