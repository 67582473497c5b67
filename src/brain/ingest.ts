import type { CityError } from '../errors.js';
import type { GroupCommitter } from '../store/group-commit.js';
import type { NodeMetrics } from '../ops/metrics.js';
import type { DeadLetterStore, InputSource } from './dead-letters.js';
import type { PayloadFormat } from './decode.js';
import type { IngestPlugin, ItemResult, PreparedBatch } from './ingest-batch.js';
import type { ScreenedEvent } from '../decisions/types.js';

export { EVENT_COLUMNS, type DecodedItem, type IngestPlugin, type ItemResult, type ZoneLocator } from './ingest-batch.js';

/** Where committed events go next: the decision side of the brain (src/decisions/brain.ts). */
export interface BrainSink {
  /** Whether summaries of every event are wanted (the live event stream has watchers). */
  wantsSummaries(): boolean;
  /** Called once the batch is committed, before the sender hears back. Must not throw or block. */
  committed(screened: ScreenedEvent[], counts: Array<[string, string | null, number]>): void;
}

export interface IngestContext {
  source: InputSource;
  /** Zone named by the transport (MQTT topic `city/{zone}/events/{plugin}`), used when the event has no location. */
  zoneHint?: string | null;
  receivedAtMs: number;
}

/** A body to decode and prepare: where that work runs is the preparer's business. */
export interface PrepareRequest {
  plugin: IngestPlugin;
  bytes: Buffer;
  format: PayloadFormat;
  maxItems: number;
  receivedAtMs: number;
  zoneHint: string | null;
  /** Return a summary of every accepted event, not only of those a rule cares about. */
  summaries: boolean;
}

/**
 * Decodes a body and prepares its batch (ingest-batch.ts) — on the main thread, or in ingest
 * worker threads so that the main thread only moves bytes (DESIGN.md "Hot paths").
 * Throws CityError for a body that cannot be read at all.
 */
export interface BatchPreparer {
  prepare(request: PrepareRequest): Promise<PreparedBatch & { batch: boolean }>;
  close(): Promise<void>;
}

/**
 * The first Local Brain stages (seed 001 §3.3 step 1, DESIGN.md data flow): decode → validate →
 * enrich (by the preparer) → persist (group commit) → answer. A request's accepted events are
 * committed and its refused ones are in the dead-letter table before it hears back.
 */
export class IngestPipeline {
  constructor(
    private readonly preparer: BatchPreparer,
    private readonly committer: GroupCommitter,
    private readonly deadLetters: DeadLetterStore,
    private readonly metrics: NodeMetrics,
    private readonly sink: BrainSink | null = null,
  ) {}

  /**
   * Ingests one body for `plugin`; resolves with a result per item (and whether the body was a
   * batch) once accepted items are committed and refused ones are kept.
   */
  async ingest(
    plugin: IngestPlugin,
    bytes: Buffer,
    format: PayloadFormat,
    maxItems: number,
    ctx: IngestContext,
  ): Promise<{ results: ItemResult[]; batch: boolean }> {
    const summaries = this.sink?.wantsSummaries() ?? false;
    const prepared = await this.preparer.prepare({ plugin, bytes, format, maxItems, receivedAtMs: ctx.receivedAtMs, zoneHint: ctx.zoneHint ?? null, summaries });
    const writes: Promise<void>[] = [];
    if (prepared.accepted > 0) writes.push(this.committer.append(prepared.text, prepared.accepted));
    if (prepared.letters.length > 0) writes.push(this.deadLetters.record(ctx.source, prepared.letters));
    await Promise.all(writes);
    if (prepared.accepted > 0 && this.sink) this.sink.committed(prepared.screened, prepared.counts);

    if (prepared.accepted > 0) this.metrics.eventsAccepted.inc({ plugin: plugin.modelId }, prepared.accepted);
    for (const l of prepared.letters) this.metrics.eventsRejected.inc({ plugin: plugin.modelId, code: l.code });
    return { results: prepared.results, batch: prepared.batch };
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
