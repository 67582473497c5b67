import { Type, type Static } from '@sinclair/typebox';
import type { Kysely } from 'kysely';
import { cityError } from '../errors.js';
import type { Database } from '../store/schema.js';

/**
 * Action targets: where the external actions of decisions go (seed 001 §3.3 `target:
 * traffic_control_system`, §10.1 Action.target_system). A target is an actuator or a
 * notification channel reached by an outbound webhook or an MQTT command topic.
 *
 * A target nobody configured still works: it resolves to the MQTT command topic
 * `city/{zone}/commands/{target}`, so a device subscribed to its command topic receives
 * commands with no setup at all.
 */

/** Defaults for a target, as one named object (house style #7). */
export const TARGET_DEFAULTS = {
  timeoutMs: 5000,
  maxAttempts: 5,
  /** The command topic of a target with no configuration, or an MQTT target without `topic`. */
  mqttTopic: 'city/{zone}/commands/{target}',
} as const;

export const TARGET_LIMITS = {
  timeoutMs: { min: 100, max: 60_000 },
  maxAttempts: { min: 1, max: 20 },
  headers: 32,
  headerValueChars: 4096,
  urlChars: 2048,
  topicChars: 256,
} as const;

/** Target names appear in topics and URLs: no `/`, `+`, `#` or spaces. */
export const TARGET_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * One target, as given in node config (`actions.targets.<name>`) and as the body of
 * `PUT /api/v1/action-targets/:name`. {@link ActionTargets.put} checks what a schema cannot
 * (URL syntax, header names, topic placeholders) and names the field at fault.
 *
 * @example
 *   { kind: 'webhook', url: 'https://tcs.example/commands', headers: { Authorization: 'Bearer …' }, timeout_ms: 3000 }
 *   { kind: 'mqtt', topic: 'city/{zone}/signals/{target}', max_attempts: 3 }
 */
export const ActionTargetConfigSchema = Type.Object(
  {
    kind: Type.Union([Type.Literal('webhook'), Type.Literal('mqtt')], { description: 'webhook: HTTP POST of the action as JSON; mqtt: publish it to a command topic' }),
    url: Type.Optional(Type.String({ maxLength: TARGET_LIMITS.urlChars, description: 'webhook: http:// or https:// URL' })),
    topic: Type.Optional(
      Type.String({ minLength: 1, maxLength: TARGET_LIMITS.topicChars, description: `mqtt: topic template; {zone} and {target} are filled in (default ${TARGET_DEFAULTS.mqttTopic})` }),
    ),
    headers: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'webhook: extra request headers (e.g. Authorization)' })),
    timeout_ms: Type.Optional(
      Type.Integer({ minimum: TARGET_LIMITS.timeoutMs.min, maximum: TARGET_LIMITS.timeoutMs.max, description: `per attempt (default ${TARGET_DEFAULTS.timeoutMs})` }),
    ),
    max_attempts: Type.Optional(
      Type.Integer({ minimum: TARGET_LIMITS.maxAttempts.min, maximum: TARGET_LIMITS.maxAttempts.max, description: `attempts before the action fails (default ${TARGET_DEFAULTS.maxAttempts})` }),
    ),
  },
  { additionalProperties: false },
);

export type ActionTargetConfig = Static<typeof ActionTargetConfigSchema>;

/** A target ready to use: configured, or the default MQTT command topic. */
export type ResolvedTarget =
  | {
      name: string;
      kind: 'webhook';
      url: string;
      headers: Readonly<Record<string, string>>;
      timeoutMs: number;
      maxAttempts: number;
      configured: true;
    }
  | {
      name: string;
      kind: 'mqtt';
      /** Template: {zone} and {target} are filled per action (see {@link fillTopic}). */
      topic: string;
      timeoutMs: number;
      maxAttempts: number;
      configured: boolean;
    };

/** A configured target in the API's snake_case; sensitive header values are masked. */
export interface ActionTargetView {
  name: string;
  kind: 'webhook' | 'mqtt';
  url: string | null;
  topic: string | null;
  headers: Record<string, string>;
  timeout_ms: number;
  max_attempts: number;
  updated_at: string;
}

/** Set by the dispatcher on every request; a target may not replace them. */
const RESERVED_HEADERS = new Set(['content-type', 'content-length', 'host', 'connection', 'transfer-encoding', 'idempotency-key', 'x-city-node', 'x-city-attempt']);
/** RFC 9110 §5.1 field-name = token. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** RFC 9110 §5.5: no CR, LF or NUL in a field value. */
const HEADER_VALUE_BAD = /[\r\n\0]/;
const SENSITIVE_HEADER = /auth|token|secret|key|cookie|signature|password/i;
const KNOWN_FIELDS = new Set(Object.keys(ActionTargetConfigSchema.properties));

interface Stored {
  target: ResolvedTarget;
  updatedAt: Date;
}

/**
 * The tenant's action targets, cached in memory over table `action_targets`. Reads are
 * synchronous (the dispatcher resolves a target per attempt); writes go to the store first
 * and then to the cache.
 *
 * @example
 *   const targets = await ActionTargets.load(db, 'default');
 *   await targets.put('traffic_control_system', { kind: 'webhook', url: 'https://tcs.example/cmd' });
 *   targets.get('traffic_control_system'); // { kind: 'webhook', url: …, maxAttempts: 5, … }
 *   targets.get('pump_7');                 // { kind: 'mqtt', topic: 'city/{zone}/commands/{target}', configured: false, … }
 */
export class ActionTargets {
  readonly #byName = new Map<string, Stored>();

  private constructor(private readonly db: Kysely<Database>, private readonly tenantId: string) {}

  static async load(db: Kysely<Database>, tenantId: string): Promise<ActionTargets> {
    const targets = new ActionTargets(db, tenantId);
    const rows = await db.selectFrom('action_targets').selectAll().where('tenant_id', '=', tenantId).execute();
    for (const r of rows) {
      const config: ActionTargetConfig = {
        kind: r.kind as ActionTargetConfig['kind'],
        ...(r.url !== null ? { url: r.url } : {}),
        ...(r.topic !== null ? { topic: r.topic } : {}),
        headers: r.headers ?? {},
        timeout_ms: r.timeout_ms,
        max_attempts: r.max_attempts,
      };
      targets.#byName.set(r.name, { target: resolve(r.name, config), updatedAt: new Date(r.updated_at) });
    }
    return targets;
  }

  /** True when `name` is configured (not merely resolvable to the default topic). */
  has(name: string): boolean {
    return this.#byName.has(name);
  }

  /** The target called `name`: its configuration, else the default MQTT command topic. */
  get(name: string): ResolvedTarget {
    const stored = this.#byName.get(name);
    if (stored) return stored.target;
    return { name, kind: 'mqtt', topic: TARGET_DEFAULTS.mqttTopic, timeoutMs: TARGET_DEFAULTS.timeoutMs, maxAttempts: TARGET_DEFAULTS.maxAttempts, configured: false };
  }

  /** A configured target for the API; throws ACTION_TARGET_NOT_FOUND. */
  view(name: string): ActionTargetView {
    const stored = this.#byName.get(name);
    if (!stored) throw cityError('ACTION_TARGET_NOT_FOUND', { target: name });
    return toView(stored);
  }

  /** Configured targets, by name. */
  list(): ActionTargetView[] {
    return [...this.#byName.keys()].sort().map((name) => toView(this.#byName.get(name)!));
  }

  /**
   * Validates and stores a target, replacing any with that name. Throws ACTION_TARGET_INVALID
   * naming the field (`url`, `timeout_ms`, `headers.X-Foo`, …).
   */
  async put(name: string, body: unknown): Promise<{ target: ActionTargetView; created: boolean }> {
    const config = validateTarget(name, body);
    const target = resolve(name, config);
    const now = new Date();
    const row = {
      tenant_id: this.tenantId,
      name,
      kind: target.kind,
      url: target.kind === 'webhook' ? target.url : null,
      topic: target.kind === 'mqtt' ? (config.topic ?? null) : null,
      headers: JSON.stringify(target.kind === 'webhook' ? target.headers : {}),
      timeout_ms: target.timeoutMs,
      max_attempts: target.maxAttempts,
      updated_at: now,
    };
    await this.db
      .insertInto('action_targets')
      .values(row)
      .onConflict((oc) =>
        oc.columns(['tenant_id', 'name']).doUpdateSet({
          kind: row.kind,
          url: row.url,
          topic: row.topic,
          headers: row.headers,
          timeout_ms: row.timeout_ms,
          max_attempts: row.max_attempts,
          updated_at: now,
        }),
      )
      .execute();
    const created = !this.#byName.has(name);
    const stored: Stored = { target, updatedAt: now };
    this.#byName.set(name, stored);
    return { target: toView(stored), created };
  }

  /** Removes a configured target; its actions then go to the default MQTT topic. */
  async delete(name: string): Promise<void> {
    const result = await this.db.deleteFrom('action_targets').where('tenant_id', '=', this.tenantId).where('name', '=', name).executeTakeFirst();
    if (Number(result.numDeletedRows) === 0 && !this.#byName.has(name)) throw cityError('ACTION_TARGET_NOT_FOUND', { target: name });
    this.#byName.delete(name);
  }

  /**
   * Upserts the targets named in node config (`actions.targets`). Config wins at every start:
   * a target changed through the API and also named in config is reset to the config's shape.
   * All are validated before any is written.
   */
  async seed(targets: Readonly<Record<string, unknown>>): Promise<void> {
    const names = Object.keys(targets);
    for (const name of names) validateTarget(name, targets[name]);
    for (const name of names) await this.put(name, targets[name]);
  }
}

/**
 * Fills a topic template: {zone} with the decision's zone (`unzoned` when it has none) and
 * {target} with the target name. Both are made safe for a topic level (no `/`, `+`, `#`).
 */
export function fillTopic(template: string, zoneId: string | null, target: string): string {
  const level = (s: string) => s.replace(/[/+#\0]/g, '_');
  return template.replaceAll('{zone}', level(zoneId ?? 'unzoned')).replaceAll('{target}', level(target));
}

/** Checks a target definition; errors name the field at fault. */
export function validateTarget(name: string, body: unknown): ActionTargetConfig {
  const invalid = (field: string, reason: string) => cityError('ACTION_TARGET_INVALID', { target: name, field, reason: `${field} ${reason}` });
  if (typeof name !== 'string' || !TARGET_NAME_PATTERN.test(name)) {
    throw invalid('name', `must be 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit (got ${JSON.stringify(name)})`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('body', 'must be an object');
  const b = body as Record<string, unknown>;
  for (const key of Object.keys(b)) {
    if (!KNOWN_FIELDS.has(key)) throw invalid(key, `is not a known field (expected one of ${[...KNOWN_FIELDS].join(', ')})`);
  }
  if (b.kind !== 'webhook' && b.kind !== 'mqtt') throw invalid('kind', `must be 'webhook' or 'mqtt' (got ${JSON.stringify(b.kind)})`);
  const config: ActionTargetConfig = { kind: b.kind };

  for (const [field, limits] of [['timeout_ms', TARGET_LIMITS.timeoutMs], ['max_attempts', TARGET_LIMITS.maxAttempts]] as const) {
    const v = b[field];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < limits.min || v > limits.max) {
      throw invalid(field, `must be an integer from ${limits.min} to ${limits.max} (got ${JSON.stringify(v)})`);
    }
    config[field] = v;
  }

  if (b.kind === 'webhook') {
    if (b.topic !== undefined) throw invalid('topic', 'applies only to mqtt targets');
    if (typeof b.url !== 'string' || b.url === '') throw invalid('url', 'is required for a webhook target');
    if (b.url.length > TARGET_LIMITS.urlChars) throw invalid('url', `is longer than ${TARGET_LIMITS.urlChars} characters`);
    let url: URL;
    try {
      url = new URL(b.url);
    } catch {
      throw invalid('url', `is not a valid URL (got ${JSON.stringify(b.url)})`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid('url', `must use http or https (got ${url.protocol.replace(/:$/, '')})`);
    // fetch refuses URLs with credentials; they belong in an Authorization header.
    if (url.username !== '' || url.password !== '') throw invalid('url', 'must not contain credentials; send them in headers (e.g. Authorization)');
    config.url = b.url;
    if (b.headers !== undefined) config.headers = validateHeaders(b.headers, invalid);
  } else {
    if (b.url !== undefined) throw invalid('url', 'applies only to webhook targets');
    if (b.headers !== undefined) throw invalid('headers', 'apply only to webhook targets');
    if (b.topic !== undefined) {
      if (typeof b.topic !== 'string' || b.topic === '') throw invalid('topic', 'must be a non-empty string');
      if (b.topic.length > TARGET_LIMITS.topicChars) throw invalid('topic', `is longer than ${TARGET_LIMITS.topicChars} characters`);
      // MQTT-4.7.1-1: wildcards are for subscriptions, never in a topic one publishes to.
      if (/[+#\0]/.test(b.topic)) throw invalid('topic', `must not contain '+', '#' or NUL (got ${JSON.stringify(b.topic)})`);
      if (b.topic.startsWith('$')) throw invalid('topic', "must not start with '$' (reserved for the broker)");
      const unknown = b.topic.match(/\{(?!zone\}|target\})[^}]*\}/);
      if (unknown) throw invalid('topic', `has an unknown placeholder ${unknown[0]}; use {zone} and {target}`);
      config.topic = b.topic;
    }
  }
  return config;
}

function validateHeaders(headers: unknown, invalid: (field: string, reason: string) => Error): Record<string, string> {
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) throw invalid('headers', 'must be an object of header names to string values');
  const entries = Object.entries(headers as Record<string, unknown>);
  if (entries.length > TARGET_LIMITS.headers) throw invalid('headers', `may hold at most ${TARGET_LIMITS.headers} headers`);
  const out: Record<string, string> = {};
  for (const [key, value] of entries) {
    const field = `headers.${key}`;
    if (!HEADER_NAME.test(key)) throw invalid(field, 'is not a valid header name (RFC 9110 token characters only)');
    if (RESERVED_HEADERS.has(key.toLowerCase())) throw invalid(field, 'is set by the node and cannot be configured');
    if (typeof value !== 'string') throw invalid(field, 'must be a string');
    if (HEADER_VALUE_BAD.test(value)) throw invalid(field, 'must not contain CR, LF or NUL');
    if (value.length > TARGET_LIMITS.headerValueChars) throw invalid(field, `is longer than ${TARGET_LIMITS.headerValueChars} characters`);
    out[key] = value;
  }
  return out;
}

function resolve(name: string, config: ActionTargetConfig): ResolvedTarget {
  const timeoutMs = config.timeout_ms ?? TARGET_DEFAULTS.timeoutMs;
  const maxAttempts = config.max_attempts ?? TARGET_DEFAULTS.maxAttempts;
  if (config.kind === 'webhook') {
    return { name, kind: 'webhook', url: config.url ?? '', headers: Object.freeze({ ...config.headers }), timeoutMs, maxAttempts, configured: true };
  }
  return { name, kind: 'mqtt', topic: config.topic ?? TARGET_DEFAULTS.mqttTopic, timeoutMs, maxAttempts, configured: true };
}

function toView(stored: Stored): ActionTargetView {
  const t = stored.target;
  const headers: Record<string, string> = {};
  if (t.kind === 'webhook') {
    // Admins read targets back through the API; credentials stay write-only.
    for (const [k, v] of Object.entries(t.headers)) headers[k] = SENSITIVE_HEADER.test(k) ? '***' : v;
  }
  return {
    name: t.name,
    kind: t.kind,
    url: t.kind === 'webhook' ? t.url : null,
    topic: t.kind === 'mqtt' ? t.topic : null,
    headers,
    timeout_ms: t.timeoutMs,
    max_attempts: t.maxAttempts,
    updated_at: stored.updatedAt.toISOString(),
  };
}
