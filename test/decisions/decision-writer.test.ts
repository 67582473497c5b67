import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { DecisionWriter } from '../../src/decisions/decision-writer.js';
import type { DecisionView, RuleMatch } from '../../src/decisions/types.js';
import { openStore } from '../../src/store/store.js';
import { createTestDatabase } from '../helpers/store.js';
import { DEFAULT_CONFIG } from '../../src/config/config.js';

function match(eventId: string, receivedAtMs: number): RuleMatch {
  const event = { eventId, pluginId: 'p', pluginVersion: '1', eventType: 'violation_event', severity: 'high', confidence: 0.9, tsMs: receivedAtMs, receivedAtMs, zoneId: 'z', lat: 13, lng: 80, role: 'trigger' };
  return {
    kind: 'action_trigger', ruleId: 'plugin:p@1#0', ruleName: 'speeding_detected', rulePriority: 0, dedupKey: `plugin:p@1#0:${eventId}`, triggerEventId: eventId,
    events: [event], conditions: [], severity: 'high', zoneId: 'z', lat: 13, lng: 80,
    actions: [{ type: 'log_event', database: 'violations_db' }], escalationRules: [], explanation: 'x', matchedAtMs: receivedAtMs,
  };
}

test('a replayed match is not decided twice; a write that fails is counted and remembered for the next replay', async (t) => {
  const db = await createTestDatabase();
  t.after(() => db.dispose());
  const store = await openStore({ dataDir: db.dataDir, databaseUrl: db.databaseUrl });
  const decided: DecisionView[] = [];
  const writer = new DecisionWriter({
    store,
    context: { tenantId: 'default', nodeId: 'n', layer: 'LOCAL', maxAttempts: () => 5, approvals: DEFAULT_CONFIG.approvals },
    onDecided: (view) => decided.push(view),
    log: pino({ level: 'silent' }),
  });

  writer.submit([match('e1', 1_000), match('e1', 1_000)]);
  await writer.idle();
  writer.submit([match('e1', 1_000)]);
  await writer.idle();
  assert.equal(decided.length, 1);
  assert.deepEqual({ ...writer.stats(), busy: undefined }, { written: 1, duplicates: 2, failed: 0, queued: 0, busy: undefined, oldestLostMs: null });
  const rows = await store.db.selectFrom('event_logs').select('event_id').execute();
  assert.deepEqual(rows, [{ event_id: 'e1' }]);

  await store.close();
  writer.submit([match('e2', 5_000), match('e3', 4_000)]);
  await writer.idle();
  assert.equal(writer.stats().failed, 2);
  assert.equal(writer.stats().oldestLostMs, 4_000, 'the brain holds its checkpoint before the oldest lost event');
  assert.equal(decided.length, 1);
});
