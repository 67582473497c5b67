import { cityError, CityError } from '../errors.js';
import { readEnvelope } from '../events/envelope.js';
import { uuidv7 } from '../events/ids.js';
import { copyField, copyJson } from '../store/copy-text.js';
import type { GroupCommitter } from '../store/group-commit.js';
import type { NodeMetrics } from '../ops/metrics.js';
import type { DeadLetter, DeadLetterStore, InputSource } from './dead-letters.js';

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
}

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

export interface IngestContext {
  source: InputSource;
  /** Zone named by the transport (MQTT topic `city/{zone}/events/{plugin}`), used when the event has no location. */
  zoneHint?: string | null;
  receivedAtMs: number;
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
 * The first Local Brain stages (seed 001 §3.3 steps 1, DESIGN.md data flow):
 * validate → enrich (id, received time, zone, personal fields tokenized) → persist (group commit).
 * A batch is handled in one plain loop producing one COPY chunk, so the per-event cost is a
 * compiled validation, a few property reads, a zone lookup, an HMAC and one JSON.stringify.
 */
export class IngestPipeline {
  constructor(
    private readonly tenantId: string,
    private readonly zones: ZoneLocator,
    private readonly committer: GroupCommitter,
    private readonly deadLetters: DeadLetterStore,
    private readonly metrics: NodeMetrics,
  ) {}

  /**
   * Validates, enriches and durably stores `items` for `plugin`; resolves with a result per
   * item once accepted items are committed and rejected ones are in the dead-letter table.
   */
  async ingest(plugin: IngestPlugin, items: readonly DecodedItem[], ctx: IngestContext): Promise<ItemResult[]> {
    const results: ItemResult[] = new Array(items.length);
    const letters: DeadLetter[] = [];
    const receivedIso = new Date(ctx.receivedAtMs).toISOString();
    const hint = ctx.zoneHint && this.zones.has(ctx.zoneHint) ? ctx.zoneHint : null;
    const prefix = copyField(this.tenantId) + '\t';
    const pluginCols = '\t' + copyField(plugin.modelId) + '\t' + copyField(plugin.version) + '\t';
    let text = '';
    let accepted = 0;

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
      const eventId = env.eventId ?? uuidv7(ctx.receivedAtMs);
      let zoneId: string | null = null;
      if (env.lat !== null && env.lng !== null) zoneId = this.zones.locate(env.lng, env.lat);
      if (zoneId === null) zoneId = env.zoneHint !== null && this.zones.has(env.zoneHint) ? env.zoneHint : hint;
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
      text +=
        prefix + copyField(eventId) + pluginCols +
        copyField(env.eventType ?? plugin.eventType) + '\t' +
        copyField(env.severity) + '\t' +
        copyField(env.confidence) + '\t' +
        (env.timeMs === null ? receivedIso : new Date(env.timeMs).toISOString()) + '\t' +
        receivedIso + '\t' +
        copyField(zoneId) + '\t' +
        copyField(env.lat) + '\t' +
        copyField(env.lng) + '\t' +
        copyJson(json) + '\n';
      results[i] = { index: i, status: 'accepted', event_id: eventId, zone_id: zoneId };
      accepted++;
    }

    const writes: Promise<void>[] = [];
    if (accepted > 0) writes.push(this.committer.append(text, accepted));
    if (letters.length > 0) writes.push(this.deadLetters.record(ctx.source, letters));
    await Promise.all(writes);

    if (accepted > 0) this.metrics.eventsAccepted.inc({ plugin: plugin.modelId }, accepted);
    for (const l of letters) this.metrics.eventsRejected.inc({ plugin: plugin.modelId, code: l.code });
    return results;
  }

  /**
   * Keeps a whole request that was refused before its items could be read (bad key, unknown
   * plugin, malformed body, too large) and counts it.
   */
  async reject(source: InputSource, pluginId: string | null, err: CityError, payload: Buffer | string | null, sentBytes?: number): Promise<void> {
    await this.deadLetters.record(source, [{ pluginId, code: err.code, reason: err.message, details: err.details, payload, sentBytes }]);
    this.metrics.eventsRejected.inc({ plugin: pluginId ?? '(unknown)', code: err.code });
  }
}
