import { decodePayload } from './decode.js';
import type { BatchPreparer, PrepareRequest } from './ingest.js';
import { prepareBatch, type PreparedBatch, type ZoneLocator } from './ingest-batch.js';

/** Decodes and prepares on the calling thread: for one-core machines and tests. */
export class InlinePreparer implements BatchPreparer {
  constructor(
    private readonly tenantId: string,
    private readonly zones: ZoneLocator,
  ) {}

  async prepare(r: PrepareRequest): Promise<PreparedBatch & { batch: boolean }> {
    const { items, batch } = decodePayload(r.bytes, r.format, r.maxItems);
    return { ...prepareBatch(this.tenantId, r.plugin, items, this.zones, r.receivedAtMs, r.zoneHint), batch };
  }

  async close(): Promise<void> {}
}
