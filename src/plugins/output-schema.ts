/**
 * A plugin's output_schema → one JSON Schema that ajv compiles once at registration. Two source
 * forms: the seed's compact field list (seed 001 §2.2 step 2) and plain JSON Schema. Vendor
 * JSON Schema is semi-trusted, so it passes the restricted guard in json-schema-guard first.
 * Events are then checked by one shared ajv instance (compiled code, hot path).
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { cityError } from '../errors.js';
import { guardJsonSchema, isDateTime, isObject, type JsonSchema } from './json-schema-guard.js';
import { isPersonalField, isTokenizable, personalPathsOfJsonSchema } from './personal-fields.js';
import { throwIfErrors, type FieldError } from './manifest.js';

export type { JsonSchema } from './json-schema-guard.js';

/** What registration keeps of an output schema: enough to compile, tokenize and rank severity. */
export interface CompiledOutputSchemaSource {
  eventType: string;
  jsonSchema: JsonSchema;
  /** Paths of personal fields, e.g. [['vehicle_data', 'license_plate']]; `[]` = each array element. */
  personalPaths: string[][];
  /** The top-level `severity` enum in declared order (low → critical), or null when there is none. */
  severityValues: string[] | null;
}

/** Event types become part of MQTT topics and URLs, so they follow the model_id alphabet. */
const EVENT_TYPE = /^[a-z0-9][a-z0-9._-]{0,63}$/;

const NUMBER = { type: 'number' };
const INTEGER = { type: 'integer' };
/** Seed type names → JSON Schema; cloned on use because ranges are written into the copy. */
const SCALAR_TYPES: Record<string, JsonSchema> = {
  ISO8601: { type: 'string', format: 'date-time' }, string: { type: 'string' }, boolean: { type: 'boolean' },
  float: NUMBER, number: NUMBER, double: NUMBER, integer: INTEGER, int: INTEGER, object: { type: 'object' },
  // Same shape as the seed's `location` group, so rules read both the same way.
  geo_point: {
    type: 'object', required: ['latitude', 'longitude'],
    properties: { latitude: { type: 'number', minimum: -90, maximum: 90 }, longitude: { type: 'number', minimum: -180, maximum: 180 } },
  },
};
const KNOWN_TYPES = [...Object.keys(SCALAR_TYPES), 'enum', 'array[<type>]'].join(', ');
/** Keys a seed field spec may carry, with the JSON type each must have. */
const SPEC_KEYS: Record<string, string> = { type: 'string', required: 'boolean', values: 'object', range: 'object', personal: 'boolean', description: 'string', unit: 'string' };

/**
 * Translates an output_schema document (either form) into a JSON Schema, the personal-field
 * paths and the severity scale. Throws CITY_ERR_PLUGIN_MANIFEST_INVALID listing every problem.
 *
 * @example
 *   const out = translateOutputSchema(
 *     { event_type: 'violation_event', fields: { timestamp: { type: 'ISO8601', required: true } } },
 *     'output_schema',
 *   );
 *   out.jsonSchema; // { type: 'object', properties: { timestamp: { type: 'string', format: 'date-time' } }, required: ['timestamp'] }
 */
export function translateOutputSchema(doc: unknown, path: string): CompiledOutputSchemaSource {
  const errors: FieldError[] = [];
  const result = translate(doc, path, errors);
  throwIfErrors(errors);
  if (!result) throw cityError('PLUGIN_MANIFEST_INVALID', { reason: `${path} is invalid`, errors });
  return result;
}

function translate(doc: unknown, path: string, errors: FieldError[]): CompiledOutputSchemaSource | null {
  if (!isObject(doc)) {
    errors.push({ path, message: 'must be an object with event_type and fields (or a JSON Schema)' });
    return null;
  }
  let eventType: unknown;
  let jsonSchema: JsonSchema | null;
  let personalPaths: string[][] = [];
  if ('fields' in doc || 'json_schema' in doc) {
    eventType = doc.event_type;
    const allowed = 'fields' in doc ? ['event_type', 'fields', 'description', 'additional_properties'] : ['event_type', 'json_schema', 'description'];
    for (const key of Object.keys(doc)) {
      if (!allowed.includes(key)) errors.push({ path: `${path}.${key}`, message: `unknown key; expected ${allowed.join(', ')}` });
    }
    if ('fields' in doc && 'json_schema' in doc) errors.push({ path, message: 'give either fields or json_schema, not both' });
    if ('fields' in doc) {
      jsonSchema = translateFields(doc.fields, `${path}.fields`, [], personalPaths, errors)?.schema ?? null;
      const extra = doc.additional_properties;
      if (extra === false && jsonSchema) jsonSchema.additionalProperties = false;
      else if (extra !== undefined && extra !== true) errors.push({ path: `${path}.additional_properties`, message: 'must be a boolean' });
    } else {
      ({ jsonSchema, personalPaths } = fromJsonSchema(doc.json_schema, `${path}.json_schema`, errors));
    }
  } else if (doc.type === 'object') {
    eventType = doc['x-event-type'];
    ({ jsonSchema, personalPaths } = fromJsonSchema(doc, path, errors));
  } else {
    errors.push({ path, message: 'must have fields (the seed shape) or json_schema, or be a JSON Schema with type "object"' });
    return null;
  }
  if (typeof eventType !== 'string' || !EVENT_TYPE.test(eventType)) {
    const where = 'fields' in doc || 'json_schema' in doc ? `${path}.event_type` : `${path}.x-event-type`;
    errors.push({ path: where, message: 'required: lowercase letters, digits, ".", "_" or "-", at most 64 characters (e.g. violation_event)' });
  }
  if (!jsonSchema || typeof eventType !== 'string') return null;
  return { eventType, jsonSchema, personalPaths, severityValues: severityOf(jsonSchema) };
}

function fromJsonSchema(schema: unknown, path: string, errors: FieldError[]): { jsonSchema: JsonSchema | null; personalPaths: string[][] } {
  const guarded = guardJsonSchema(schema, path, errors);
  if (guarded && guarded.type !== 'object') errors.push({ path: `${path}.type`, message: 'an event schema must have type "object"' });
  return { jsonSchema: guarded, personalPaths: guarded ? personalPathsOfJsonSchema(guarded, path, errors) : [] };
}

/** A group of seed field specs → an object schema; `required` tells the parent whether to require the group. */
function translateFields(
  fields: unknown, path: string, at: string[], personal: string[][], errors: FieldError[],
): { schema: JsonSchema; required: boolean } | null {
  if (!isObject(fields) || Object.keys(fields).length === 0) {
    errors.push({ path, message: 'must be an object of named field specs, e.g. {"timestamp": {"type": "ISO8601"}}' });
    return null;
  }
  const properties: Record<string, JsonSchema> = {};
  const required: string[] = [];
  for (const [name, spec] of Object.entries(fields)) {
    const fieldPath = `${path}.${name}`;
    // JSON.parse makes "__proto__" an own key; assigning it below would swap the prototype.
    if (name === '__proto__') {
      errors.push({ path: fieldPath, message: 'is not an allowed field name' });
      continue;
    }
    // A spec has a string `type`; anything else is a group (which may itself hold a field named "type").
    const field = isObject(spec) && typeof spec.type === 'string'
      ? translateField(name, spec, fieldPath, [...at, name], personal, errors)
      : isObject(spec) ? translateFields(spec, fieldPath, [...at, name], personal, errors)
        : (errors.push({ path: fieldPath, message: 'must be a field spec like {"type": "string"} or a group of fields' }), null);
    if (!field) continue;
    properties[name] = field.schema;
    if (field.required) required.push(name);
  }
  const schema: JsonSchema = { type: 'object', properties };
  if (required.length > 0) schema.required = required;
  return { schema, required: required.length > 0 };
}

function translateField(
  name: string, spec: Record<string, unknown>, path: string, at: string[], personal: string[][], errors: FieldError[],
): { schema: JsonSchema; required: boolean } | null {
  const type = spec.type as string;
  const before = errors.length;
  for (const [key, value] of Object.entries(spec)) {
    const expected = SPEC_KEYS[key];
    if (!expected) errors.push({ path: `${path}.${key}`, message: `unknown field spec key; known keys: ${Object.keys(SPEC_KEYS).join(', ')}` });
    else if (expected !== 'object' && typeof value !== expected) errors.push({ path: `${path}.${key}`, message: `must be a ${expected}` });
  }
  const schema = schemaForType(type, spec, path, errors);
  if (!schema || errors.length > before) return null;
  if (typeof spec.description === 'string') schema.description = spec.description;
  if (typeof spec.unit === 'string') schema['x-unit'] = spec.unit; // for dashboards; ajv ignores it
  const tokenizable = isTokenizable(schema);
  if (spec.personal === true && !tokenizable) {
    errors.push({ path: `${path}.personal`, message: 'only string or number fields (or arrays of them) can be personal' });
  } else if (tokenizable && isPersonalField(name, spec.personal as boolean | undefined)) {
    personal.push(at);
  }
  return { schema, required: spec.required === true };
}

function schemaForType(type: string, spec: Record<string, unknown>, path: string, errors: FieldError[]): JsonSchema | null {
  const arrayOf = /^array\[(.+)\]$/.exec(type)?.[1];
  let schema: JsonSchema;
  if (type === 'enum') {
    const values = spec.values;
    if (!Array.isArray(values) || values.length === 0 || !values.every((v) => typeof v === 'string' || typeof v === 'number')) {
      errors.push({ path: `${path}.values`, message: 'an enum needs a non-empty list of values' });
      return null;
    }
    schema = { enum: [...values] };
  } else if (arrayOf !== undefined && arrayOf !== 'enum') {
    const items = schemaForType(arrayOf, {}, path, errors);
    if (!items) return null;
    schema = { type: 'array', items };
  } else if (SCALAR_TYPES[type]) {
    schema = structuredClone(SCALAR_TYPES[type]);
  } else {
    errors.push({ path: `${path}.type`, message: `unknown type "${type}"; known types: ${KNOWN_TYPES}` });
    return null;
  }
  if (spec.values !== undefined && type !== 'enum') errors.push({ path: `${path}.values`, message: 'values only apply to type "enum"' });
  if (spec.range !== undefined) applyRange(spec.range, schema, `${path}.range`, errors);
  return schema;
}

/** `range: [min, max]` bounds a number, or each number of a numeric array. */
function applyRange(range: unknown, schema: JsonSchema, path: string, errors: FieldError[]): void {
  const target = schema.type === 'array' ? (schema.items as JsonSchema) : schema;
  if (target.type !== 'number' && target.type !== 'integer') {
    errors.push({ path, message: 'range only applies to number types (float, integer, array[float], …)' });
  } else if (!Array.isArray(range) || range.length !== 2 || !range.every((n) => typeof n === 'number' && Number.isFinite(n)) || range[0] > range[1]) {
    errors.push({ path, message: 'must be [min, max] with min <= max, e.g. [0, 1]' });
  } else {
    target.minimum = range[0];
    target.maximum = range[1];
  }
}

function severityOf(schema: JsonSchema): string[] | null {
  const properties = schema.properties;
  const severity = isObject(properties) ? properties.severity : undefined;
  const values = isObject(severity) ? severity.enum : undefined;
  return Array.isArray(values) && values.every((v) => typeof v === 'string') ? [...values] : null;
}

// One instance for every plugin: formats and keyword code are shared. `verbose` only adds the
// schema to error objects (so messages can quote a range); valid events do not pay for it.
const ajv = new Ajv({ allErrors: true, strict: false, coerceTypes: false, verbose: true });
addFormats.default(ajv);
ajv.addFormat('date-time', { type: 'string', validate: isDateTime });

/**
 * Compiles a translated event schema once (at registration). The returned function is the hot
 * path: call it per event, then read `validate.errors` and pass each to describeAjvError.
 *
 * @example
 *   const validate = compileEventValidator(translateOutputSchema(doc, 'output_schema').jsonSchema);
 *   if (!validate(event)) console.log(validate.errors!.map(describeAjvError));
 */
export function compileEventValidator(jsonSchema: object): ValidateFunction {
  try {
    return ajv.compile(jsonSchema);
  } catch (err) {
    throw cityError('PLUGIN_MANIFEST_INVALID', { reason: `output_schema does not compile: ${(err as Error).message}`, errors: [] }, err);
  }
}

/**
 * Drops a compiled schema from the shared ajv cache (ajv keeps every compiled schema until
 * told otherwise), for when a plugin version is replaced or removed.
 *
 * @example
 *   forgetEventValidator(registration.outputSchema.jsonSchema);
 */
export function forgetEventValidator(jsonSchema: object): void {
  ajv.removeSchema(jsonSchema);
}

/**
 * One ajv error → one sentence naming the field (dotted path) and the rule it broke.
 *
 * @example
 *   describeAjvError(err); // 'confidence_score: must be <= 1 (range [0, 1])'
 *   describeAjvError(err); // 'location.latitude: required'
 */
export function describeAjvError(err: ErrorObject): string {
  const base = pointerToPath(err.instancePath);
  const params = err.params as Record<string, unknown>;
  const child = (name: unknown): string => (base ? `${base}.${String(name)}` : String(name));
  if (err.keyword === 'required') return `${child(params.missingProperty)}: required`;
  if (err.keyword === 'additionalProperties') return `${child(params.additionalProperty)}: is not an allowed field`;
  return `${base || '(event)'}: ${ruleMessage(err, params)}`;
}

function ruleMessage(err: ErrorObject, params: Record<string, unknown>): string {
  switch (err.keyword) {
    case 'type':
      return `must be ${String(params.type).split(',').map((t) => TYPE_WORDS[t] ?? t).join(' or ')}`;
    case 'enum':
      return `must be one of ${(params.allowedValues as unknown[]).join(', ')}`;
    case 'const':
      return `must be ${JSON.stringify(params.allowedValue)}`;
    case 'minimum': case 'maximum': case 'exclusiveMinimum': case 'exclusiveMaximum': {
      const parent = err.parentSchema as JsonSchema | undefined;
      const range = typeof parent?.minimum === 'number' && typeof parent.maximum === 'number' ? ` (range [${parent.minimum}, ${parent.maximum}])` : '';
      return `must be ${String(params.comparison)} ${String(params.limit)}${range}`;
    }
    case 'minLength': return `must be at least ${String(params.limit)} characters long`;
    case 'maxLength': return `must be at most ${String(params.limit)} characters long`;
    case 'minItems': return `must have at least ${String(params.limit)} items`;
    case 'maxItems': return `must have at most ${String(params.limit)} items`;
    case 'pattern': return `must match the pattern ${String(params.pattern)}`;
    case 'format':
      return params.format === 'date-time' ? 'must be an ISO 8601 date-time with a timezone, e.g. 2024-01-15T10:30:00Z' : `must be a valid ${String(params.format)}`;
    case 'oneOf': return 'must match exactly one of the allowed shapes';
    case 'anyOf': return 'must match at least one of the allowed shapes';
    default: return err.message ?? `fails the ${err.keyword} rule`;
  }
}

const TYPE_WORDS: Record<string, string> = {
  string: 'a string', number: 'a number', integer: 'an integer', boolean: 'true or false',
  object: 'an object', array: 'a list', null: 'null',
};

/** `/vehicle_data/speed_kmh` → `vehicle_data.speed_kmh`; `/evidence/image_urls/0` → `evidence.image_urls[0]`. */
function pointerToPath(pointer: string): string {
  if (pointer === '') return '';
  return pointer.slice(1).split('/').reduce((out, raw) => {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    return /^\d+$/.test(seg) ? `${out}[${seg}]` : out ? `${out}.${seg}` : seg;
  }, '');
}
