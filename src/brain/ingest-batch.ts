import { cityError, type CityError } from '../errors.js';
import { readEnvelope } from '../events/envelope.js';
import { uuidv7 } from '../events/ids.js';
import { copyField, copyJson } from '../store/copy-text.js';
import type { EventSummary, RoleHit, ScreenedEvent, TriggerHit } from '../decisions/types.js';
import type { DeadLetter } from './dead-letters.js';

/** What ingestion needs to know of a registered, enabled plugin (compiled at registration). */
export interface IngestPlugin {
  readonly modelId: string;
  readonly version: string;
  readonly eventType: string;
  /** Compiled schema check; on false, `explain()` describes the first problems. */
  validate(event: unknown): boolean;
  explain(): { reason: string; errors: Array<{ path: string; message: string }> };
  /** Replaces personal fields in place with keyed hashes (seed 001 §13.2 tokenization). */
  tokenize(event: Record<string, unknown>): void;
  /** The plugin's action definitions whose trigger and condition hold for the event, or null. */
  screenTriggers?(event: Record<string, unknown>): TriggerHit[] | null;
}

/**
 * What the brain wants to hear of each accepted event, decided per event while it is still an
 * object (DESIGN.md "Hot paths": rule predicates run where the event is decoded, and only the
 * events some rule cares about travel on as summaries).
 */
export interface EventScreen {
  /** Correlation rule roles the event fits (src/rules/role-screen.ts); empty for most events. */
  roles(eventType: string, pluginId: string, event: Record<string, unknown>): readonly RoleHit[];
  /** A summary of every accepted event is wanted (someone watches the live event stream). */
  readonly summaries: boolean;
}

export const NO_SCREEN: EventScreen = { roles: () => [], summaries: false };

/** Events of this type update the state store's resource picture (ambulances, fire trucks). */
export const RESOURCE_STATUS_EVENT = 'resource_status';

export interface ZoneLocator {
  locate(lng: number, lat: number): string | null;
  has(zoneId: string): boolean;
}

/** One item of an incoming request or message after decoding. */
export type DecodedItem =
  | { ok: true; event: Record<string, unknown>; raw?: string | Buffer }
  | { ok: false; code: 'PAYLOAD_MALFORMED'; reason: string; raw: string | Buffer | null };

export type ItemResult =
  | { index: number; status: 'accepted'; event_id: string; zone_id: string | null }
  | { index: number; status: 'rejected'; error: { code: string; message: string; details: Record<string, unknown> } };

/** What one batch turns into before anything is written: answers, COPY rows, dead letters. */
export interface PreparedBatch {
  results: ItemResult[];
  /** Accepted events as COPY text lines (EVENT_COLUMNS order). */
  text: string;
  accepted: number;
  letters: DeadLetter[];
  /** Accepted events a rule cares about (or all of them, when summaries are wanted), in order. */
  screened: ScreenedEvent[];
  /** Accepted events counted by event type and zone: [eventType, zoneId, count]. */
  counts: Array<[string, string | null, number]>;
}

/** A JSON escape of NUL or of a lone surrogate (an odd run of backslashes before `u`). */
const UNSTORABLE_JSON = /(?:^|[^\\])(?:\\\\)*\\u(?:0000|d[89a-f][0-9a-f]{2})/i;
/** Identifiers go into text columns and URLs: no control characters, no surrogates, bounded. */
const IDENTIFIER = /^[^\u0000-\u001f\ud800-\udfff]{1,200}$/;

function unstorableField(eventId: string | null, eventType: string | null): string | null {
  if (eventId !== null && !IDENTIFIER.test(eventId)) return 'event_id: must be 1 to 200 characters without control characters';
  if (eventType !== null && !IDENTIFIER.test(eventType)) return 'event_type: must be 1 to 200 characters without control characters';
  return null;
}

function safeJson(value: unknown): string | null {
  try {
    return JSON.stringify(value);
  } catch {
    return null;
  }
}

/** Columns of the events table written by group commit, in COPY order. */
export const EVENT_COLUMNS = [
  'tenant_id', 'event_id', 'plugin_id', 'plugin_version', 'event_type', 'severity', 'confidence',
  'ts', 'received_at', 'zone_id', 'lat', 'lng', 'payload',
] as const;

/**
 * The CPU half of the first Local Brain stages (seed 001 §3.3 step 1): validate → enrich (id,
 * received time, zone, personal fields tokenized) → COPY text. Pure computation in one plain
 * loop, so it runs the same on the main thread or in an ingest worker; per event it costs a
 * compiled validation, a few property reads, a zone lookup, an HMAC and one JSON.stringify.
 */
export function prepareBatch(
  tenantId: string,
  plugin: IngestPlugin,
  items: readonly DecodedItem[],
  zones: ZoneLocator,
  receivedAtMs: number,
  zoneHint: string | null | undefined,
  screen: EventScreen = NO_SCREEN,
): PreparedBatch {
  const results: ItemResult[] = new Array(items.length);
  const letters: DeadLetter[] = [];
  const receivedIso = new Date(receivedAtMs).toISOString();
  const hint = zoneHint && zones.has(zoneHint) ? zoneHint : null;
  const prefix = copyField(tenantId) + '\t';
  const pluginCols = '\t' + copyField(plugin.modelId) + '\t' + copyField(plugin.version) + '\t';
  let text = '';
  let accepted = 0;
  const screened: ScreenedEvent[] = [];
  const counts = new Map<string, [string, string | null, number]>();

  // A refused item: its answer, and its dead letter (kept before anyone hears the answer).
  const refuse = (i: number, err: CityError, payload: string | Buffer | null, details: Record<string, unknown> = {}): void => {
    results[i] = { index: i, status: 'rejected', error: err.toJSON() };
    letters.push({ pluginId: plugin.modelId, code: err.code, reason: err.message, details: { index: i, ...details }, payload });
  };

  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    if (!item.ok) {
      refuse(i, cityError('PAYLOAD_MALFORMED', { format: 'json', reason: item.reason, index: i }), item.raw);
      continue;
    }
    const event = item.event;
    if (!plugin.validate(event)) {
      const { reason, errors } = plugin.explain();
      refuse(i, cityError('EVENT_INVALID', { pluginId: plugin.modelId, reason, errors, index: i }), item.raw ?? safeJson(event), { errors });
      continue;
    }
    const env = readEnvelope(event);
    const unstorable = unstorableField(env.eventId, env.eventType);
    if (unstorable !== null) {
      refuse(i, cityError('EVENT_INVALID', { pluginId: plugin.modelId, reason: unstorable, index: i }), item.raw ?? safeJson(event));
      continue;
    }
    const eventId = env.eventId ?? uuidv7(receivedAtMs);
    let zoneId: string | null = null;
    if (env.lat !== null && env.lng !== null) zoneId = zones.locate(env.lng, env.lat);
    if (zoneId === null) zoneId = env.zoneHint !== null && zones.has(env.zoneHint) ? env.zoneHint : hint;
    plugin.tokenize(event);
    event.event_id = eventId;
    const json = JSON.stringify(event);
    // PostgreSQL text and jsonb cannot hold NUL or unpaired surrogates; one such value would
    // fail the whole group commit, so it is refused here, per item.
    if (json.includes('\\u') && UNSTORABLE_JSON.test(json)) {
      const reason = 'a text value holds a NUL character or an unpaired UTF-16 surrogate, which cannot be stored';
      refuse(i, cityError('EVENT_INVALID', { pluginId: plugin.modelId, reason, index: i }), item.raw ?? json);
      continue;
    }
    const eventType = env.eventType ?? plugin.eventType;
    const tsMs = env.timeMs ?? receivedAtMs;
    text +=
      prefix + copyField(eventId) + pluginCols +
      copyField(eventType) + '\t' +
      copyField(env.severity) + '\t' +
      copyField(env.confidence) + '\t' +
      (env.timeMs === null ? receivedIso : new Date(tsMs).toISOString()) + '\t' +
      receivedIso + '\t' +
      copyField(zoneId) + '\t' +
      copyField(env.lat) + '\t' +
      copyField(env.lng) + '\t' +
      copyJson(json) + '\n';
    results[i] = { index: i, status: 'accepted', event_id: eventId, zone_id: zoneId };
    accepted++;

    const countKey = zoneId === null ? eventType : eventType + '\u0000' + zoneId;
    const count = counts.get(countKey);
    if (count === undefined) counts.set(countKey, [eventType, zoneId, 1]);
    else count[2]++;

    const triggers = plugin.screenTriggers?.(event) ?? null;
    const roles = screen.roles(eventType, plugin.modelId, event);
    const resource = eventType === RESOURCE_STATUS_EVENT ? readResource(event) : undefined;
    if (triggers !== null || roles.length > 0 || resource !== undefined || screen.summaries) {
      const summary: ScreenedEvent = {
        eventId, pluginId: plugin.modelId, pluginVersion: plugin.version, eventType,
        severity: env.severity, confidence: env.confidence, tsMs, receivedAtMs,
        zoneId, lat: env.lat, lng: env.lng,
        // A screen returns a fresh array when the event fits a role (and a shared empty one otherwise).
        triggers: triggers ?? [], roles: roles.length > 0 ? (roles as RoleHit[]) : [],
      };
      if (resource !== undefined) summary.resource = resource;
      screened.push(summary);
    }
  }

  return { results, text, accepted, letters, screened, counts: [...counts.values()] };
}

/** A `resource_status` event's resource: { resource_id, resource_type, status } (all strings). */
export function readResource(event: Record<string, unknown>): ScreenedEvent['resource'] {
  const { resource_id: id, resource_type: type, status } = event;
  if (typeof id !== 'string' || typeof type !== 'string' || typeof status !== 'string') return undefined;
  return { resourceId: id, resourceType: type, status };
}

/** The envelope part of a screened event (what the live stream and the state store show). */
export function summaryOf(e: ScreenedEvent): EventSummary {
  return {
    eventId: e.eventId, pluginId: e.pluginId, pluginVersion: e.pluginVersion, eventType: e.eventType,
    severity: e.severity, confidence: e.confidence, tsMs: e.tsMs, receivedAtMs: e.receivedAtMs,
    zoneId: e.zoneId, lat: e.lat, lng: e.lng,
  };
}
