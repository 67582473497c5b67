/**
 * The plugin manifest (seed 001 §2.2 step 1): a model's identity, capabilities and operating
 * terms. Field names stay snake_case as on the wire, because the manifest is stored and echoed
 * back as the vendor wrote it; only derived values (latencySlaMs) are camelCase.
 */
import { cityError } from '../errors.js';

/** One problem in a registration, e.g. `{ path: 'plugin_manifest.version', message: 'must look like 1.2.3' }`. */
export interface FieldError {
  path: string;
  message: string;
}

export const GEOGRAPHIC_SCOPES = ['neighborhood', 'district', 'city', 'state', 'national'] as const;
export type GeographicScope = (typeof GEOGRAPHIC_SCOPES)[number];

export interface PluginManifest {
  model_id: string;
  model_name: string;
  vendor: string;
  version: string;
  capabilities: string[];
  data_sources: string[];
  output_types: string[];
  latency_sla?: string;
  /** latency_sla in milliseconds ("< 2 seconds" → 2000). */
  latencySlaMs?: number;
  /** "neighbourhood" is accepted and normalised to the seed's spelling. */
  geographic_scope?: GeographicScope;
  processing_mode?: string;
  requires_human_approval: boolean;
  approval_authority?: string;
  /** Vendor extensions are kept as sent. */
  [extra: string]: unknown;
}

/** model_id appears in URLs and MQTT topics, so no slashes, wildcards, spaces or capitals. */
export const MODEL_ID = /^[a-z0-9][a-z0-9._-]{1,63}$/;
const VERSION = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;
const LATENCY = /^\s*(?:<=?|≤)?\s*(\d+(?:\.\d+)?)\s*(ms|milliseconds?|s|secs?|seconds?|m|mins?|minutes?)\s*$/i;
const MAX_TEXT = 200;
const MAX_LIST = 100;

/**
 * Throws CITY_ERR_PLUGIN_MANIFEST_INVALID carrying every collected problem, if there are any.
 *
 * @example
 *   throwIfErrors([{ path: 'plugin_manifest.vendor', message: 'required' }]);
 *   // CityError: plugin registration is invalid: plugin_manifest.vendor: required
 */
export function throwIfErrors(errors: FieldError[]): void {
  if (errors.length === 0) return;
  const shown = errors.slice(0, 5).map((e) => `${e.path}: ${e.message}`).join('; ');
  const more = errors.length > 5 ? `; and ${errors.length - 5} more` : '';
  throw cityError('PLUGIN_MANIFEST_INVALID', { reason: shown + more, errors });
}

/**
 * Parses "< 2 seconds", "<= 500 ms", "1.5s", "1 minute" into milliseconds; null if unreadable.
 *
 * @example
 *   parseLatencySla('< 2 seconds'); // 2000
 */
export function parseLatencySla(text: string): number | null {
  const m = LATENCY.exec(text);
  if (!m) return null;
  const unit = (m[2] ?? '').toLowerCase();
  const scale = unit.startsWith('ms') || unit.startsWith('milli') ? 1 : unit.startsWith('s') ? 1000 : 60_000;
  return Number(m[1]) * scale;
}

/**
 * Validates a plugin_manifest and returns it normalised; throws listing every problem.
 *
 * @example
 *   parseManifest({ model_id: 'x-v1', model_name: 'X', vendor: 'V', version: '1.0.0' });
 *   // { model_id: 'x-v1', …, capabilities: [], requires_human_approval: false }
 */
export function parseManifest(doc: unknown, path = 'plugin_manifest'): PluginManifest {
  const errors: FieldError[] = [];
  const manifest = checkManifest(doc, path, errors);
  throwIfErrors(errors);
  return manifest as PluginManifest;
}

/** Collecting form of parseManifest, so a registration can report all three documents at once. */
export function checkManifest(doc: unknown, path: string, errors: FieldError[]): PluginManifest | null {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    errors.push({ path, message: 'must be an object' });
    return null;
  }
  const m = doc as Record<string, unknown>;
  const before = errors.length;
  const err = (field: string, message: string): void => void errors.push({ path: `${path}.${field}`, message });
  const text = (field: string, required: boolean): string | undefined => {
    const v = m[field];
    if (v === undefined) return required ? (err(field, 'required'), undefined) : undefined;
    if (typeof v !== 'string' || v.trim() === '') return err(field, 'must be a non-empty string'), undefined;
    if (v.length > MAX_TEXT) return err(field, `must be at most ${MAX_TEXT} characters`), undefined;
    return v;
  };
  const list = (field: string): string[] => {
    const v = m[field];
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.length > MAX_LIST) return err(field, `must be a list of at most ${MAX_LIST} strings`), [];
    v.forEach((item, i) => {
      if (typeof item !== 'string' || item === '' || item.length > MAX_TEXT) err(`${field}[${i}]`, 'must be a non-empty string');
    });
    return [...(v as string[])];
  };

  const modelId = text('model_id', true);
  if (modelId !== undefined && !MODEL_ID.test(modelId)) {
    err('model_id', 'must be 2-64 characters of lowercase letters, digits, ".", "_" or "-", starting with a letter or digit (it is used in URLs and MQTT topics)');
  }
  const version = text('version', true);
  if (version !== undefined && !VERSION.test(version)) err('version', 'must look like 1.2.3 (optionally 1.2.3-beta.1)');

  const latency = text('latency_sla', false);
  const latencySlaMs = latency === undefined ? undefined : parseLatencySla(latency);
  if (latencySlaMs === null) err('latency_sla', 'must look like "< 2 seconds" or "500 ms"');

  let scope = text('geographic_scope', false);
  if (scope === 'neighbourhood') scope = 'neighborhood';
  if (scope !== undefined && !(GEOGRAPHIC_SCOPES as readonly string[]).includes(scope)) {
    err('geographic_scope', `must be one of neighborhood, neighbourhood, ${GEOGRAPHIC_SCOPES.slice(1).join(', ')}`);
  }
  const approval = m.requires_human_approval;
  if (approval !== undefined && typeof approval !== 'boolean') err('requires_human_approval', 'must be true or false');
  const authority = text('approval_authority', false);
  // Who approves is what the approvals queue routes on; without it nobody could ever act.
  if (approval === true && authority === undefined && m.approval_authority === undefined) {
    err('approval_authority', 'required when requires_human_approval is true');
  }

  const manifest: PluginManifest = {
    ...m,
    model_id: modelId ?? '',
    model_name: text('model_name', true) ?? '',
    vendor: text('vendor', true) ?? '',
    version: version ?? '',
    capabilities: list('capabilities'),
    data_sources: list('data_sources'),
    output_types: list('output_types'),
    requires_human_approval: approval === true,
  };
  const optional = { latency_sla: latency, latencySlaMs: latencySlaMs ?? undefined, geographic_scope: scope, processing_mode: text('processing_mode', false), approval_authority: authority };
  for (const [key, value] of Object.entries(optional)) {
    if (value === undefined) delete manifest[key];
    else manifest[key] = value;
  }
  return errors.length > before ? null : manifest;
}
