import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.js';

/** Where a rejected input came from. */
export interface InputSource {
  transport: 'http' | 'mqtt' | 'ws';
  remote: string | null;
  contentType: string | null;
}

export interface DeadLetter {
  pluginId: string | null;
  code: string;
  reason: string;
  details?: Record<string, unknown>;
  /** The rejected bytes (a whole request, or one item of a batch). */
  payload: Buffer | string | null;
  /** Bytes the sender sent, when more than `payload` holds (a body cut off at the size limit). */
  sentBytes?: number;
}

/**
 * The dead-letter table: every rejected input is kept with its reason and source, so nothing
 * sent to the node is lost even when it is wrong (DESIGN.md non-negotiables). Writes are awaited
 * before the sender hears the rejection.
 */
export class DeadLetterStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly tenantId: string,
    private readonly maxPayloadBytes: number,
  ) {}

  async record(source: InputSource, letters: readonly DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    const rows = letters.map((l) => {
      const bytes = l.payload === null ? null : typeof l.payload === 'string' ? Buffer.from(l.payload) : l.payload;
      const kept = bytes?.length ?? 0;
      const size = Math.max(kept, l.sentBytes ?? 0);
      const truncated = size > Math.min(kept, this.maxPayloadBytes);
      return {
        tenant_id: this.tenantId,
        source: source.transport,
        plugin_id: l.pluginId,
        remote: source.remote,
        content_type: source.contentType,
        code: l.code,
        reason: l.reason,
        details: JSON.stringify(l.details ?? {}),
        payload: bytes && truncated ? bytes.subarray(0, this.maxPayloadBytes) : bytes,
        payload_size: size,
        truncated,
      };
    });
    // Bounded statement size: PostgreSQL allows 65535 parameters per statement.
    for (let i = 0; i < rows.length; i += 1000) {
      await this.db.insertInto('dead_letters').values(rows.slice(i, i + 1000)).execute();
    }
  }
}
