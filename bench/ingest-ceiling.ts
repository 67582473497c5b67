/**
 * The store's own ceiling for bench:ingest: how many event rows per second the database takes
 * with nothing else in the way — no node, no HTTP, no parsing, validation, tokenizing or
 * decisions — as COPY of ready-made rows of the real `events` table (its indexes included),
 * 1,000 rows per COPY, each COPY its own committed transaction as the node's group commits are.
 * A node storing one row per event can never acknowledge more events per second than this.
 */
import { createTestDatabase } from '../test/helpers/store.js';
import { copyLines } from '../src/store/copy-text.js';
import { openStore } from '../src/store/store.js';
import { LatencyRecorder } from './report.js';

const COLUMNS = ['tenant_id', 'event_id', 'plugin_id', 'plugin_version', 'event_type', 'severity', 'confidence', 'ts', 'received_at', 'zone_id', 'lat', 'lng', 'payload'] as const;
export const ROWS_PER_COPY = 1_000;

/**
 * COPYs `payloads` (JSON texts of real events) as rows for `seconds`, `inFlight` COPYs at a
 * time (PGlite runs one at a time whatever is asked: it has one connection).
 *
 * @example
 *   const { rowsPerS } = await storeCeiling(undefined, 5, 1, payloads); // PGlite in a temp folder
 */
export async function storeCeiling(databaseUrl: string | undefined, seconds: number, inFlight: number, payloads: string[]): Promise<{ rowsPerS: number; rec: LatencyRecorder }> {
  const where = await createTestDatabase(databaseUrl);
  const store = await openStore({ dataDir: where.dataDir, databaseUrl: where.databaseUrl });
  try {
    let serial = 0;
    const now = new Date().toISOString();
    // Ready before the clock starts: 32 distinct batches, reused, with ids that never repeat in a batch.
    const texts = Array.from({ length: 32 }, () =>
      copyLines(
        Array.from({ length: ROWS_PER_COPY }, (_, i) => ({
          tenant_id: 'default',
          event_id: `ceiling-${(serial++).toString(36)}`,
          plugin_id: 'traffic-violation-detector-v2',
          plugin_version: '2.0.0',
          event_type: 'speeding_detected',
          severity: 'high',
          confidence: 0.9,
          ts: now,
          received_at: now,
          zone_id: `chennai-w${String(1 + (i % 200)).padStart(3, '0')}`,
          lat: 13.05,
          lng: 80.25,
          payload: payloads[i % payloads.length],
        })),
        COLUMNS,
      ),
    );
    const rec = new LatencyRecorder();
    const deadline = performance.now() + seconds * 1000;
    const started = performance.now();
    let copied = 0;
    let n = 0;
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (performance.now() < deadline) {
          const t0 = performance.now();
          await store.copyRows('events', COLUMNS, texts[n++ % texts.length]!);
          rec.add(performance.now() - t0);
          copied += ROWS_PER_COPY;
        }
      }),
    );
    return { rowsPerS: copied / ((performance.now() - started) / 1000), rec };
  } finally {
    await store.close();
    await where.dispose();
  }
}
