import type { Kysely } from 'kysely';
import { installTestPolicy } from '../helpers/policy.js';
import pino from 'pino';
import type { TestContext } from 'node:test';
import { BrainBus } from '../../src/decisions/bus.js';
import { planDecision } from '../../src/decisions/plan.js';
import type { ActionSpec, DecisionView, EventSummary, RuleMatch } from '../../src/decisions/types.js';
import { loadZoneFile } from '../../src/geo/zone-file.js';
import { ZoneService } from '../../src/geo/zone-service.js';
import { createHttpApp, type CityApp } from '../../src/http/app.js';
import type { Database } from '../../src/store/schema.js';
import { openStore, type Store } from '../../src/store/store.js';
import { CHENNAI_ZONES } from '../helpers/fixtures.js';
import type { createTestDatabase } from '../helpers/store.js';
import { DEFAULT_CONFIG } from '../../src/config/config.js';

/** Shared by the state store, aggregation and live stream tests. */
export const TENANT = 'default';
export const NODE = 'local-test';
export const ADMIN_TOKEN = 'adm_state-store-test-token-0123456789';

/** Points inside Chennai wards: 119 (zone 9, Teynampet) and 1 (zone 1). */
export const W119 = { zoneId: 'chennai-w119', lat: 13.046, lng: 80.264 };
export const W001 = { zoneId: 'chennai-w001', lat: 13.16, lng: 80.3 };

/**
 * A real store on a fresh test database (test/helpers/store.ts: PGlite, or PostgreSQL in the
 * second pass of `npm test`), with the Chennai demo city as its zones. One cleanup closes the
 * store, then drops the database (node:test runs `after` hooks in the order they were added).
 */
export async function chennaiStore(
  t: Pick<TestContext, 'after'> | { after(fn: () => unknown): void },
  where: Awaited<ReturnType<typeof createTestDatabase>>,
): Promise<{ store: Store; db: Kysely<Database>; zones: ZoneService; bus: BrainBus }> {
  const store = await openStore({ dataDir: where.dataDir, databaseUrl: where.databaseUrl }).catch(async (err) => {
    await where.dispose();
    throw err;
  });
  t.after(async () => {
    await store.close();
    await where.dispose();
  });
  const zones = await ZoneService.load(store.db, TENANT);
  await zones.replace(await loadZoneFile(CHENNAI_ZONES));
  return { store, db: store.db, zones, bus: new BrainBus((err) => { throw err; }) };
}

/**
 * A fastify app as the node builds it — with the node's authorization policy, where
 * ADMIN_TOKEN is the admin token — on 127.0.0.1 port 0, closed after the test.
 */
export async function testApp(t: Pick<TestContext, 'after'> | { after(fn: () => unknown): void }, zones: ZoneService): Promise<CityApp> {
  const app = await createHttpApp({ logger: pino({ level: 'silent' }), jsonBodyLimitBytes: 1024 * 1024, version: 'test' });
  installTestPolicy(app, ADMIN_TOKEN, () => zones.tree);
  t.after(() => app.close());
  return app;
}

export function summary(id: string, type: string, at: { zoneId: string | null; lat: number | null; lng: number | null }, tsMs: number, severity: string | null = 'high'): EventSummary {
  return {
    eventId: id,
    pluginId: 'test-plugin',
    pluginVersion: '1.0.0',
    eventType: type,
    severity,
    confidence: 0.9,
    tsMs,
    receivedAtMs: tsMs,
    zoneId: at.zoneId,
    lat: at.lat,
    lng: at.lng,
  };
}

/** A rule match as the rule engine hands it to the decision engine. */
export function match(o: { rule: string; trigger: EventSummary; severity?: string | null; actions?: ActionSpec[] }): RuleMatch {
  const e = o.trigger;
  return {
    kind: 'correlation',
    ruleId: o.rule,
    ruleName: o.rule,
    rulePriority: 0,
    dedupKey: `${o.rule}:${e.eventId}`,
    triggerEventId: e.eventId,
    events: [{ ...e, role: 'trigger' }],
    conditions: [],
    severity: o.severity === undefined ? e.severity : o.severity,
    zoneId: e.zoneId,
    lat: e.lat,
    lng: e.lng,
    actions: o.actions ?? [{ type: 'log_event', database: 'incidents' }],
    escalationRules: [],
    explanation: `${o.rule} held`,
    matchedAtMs: e.receivedAtMs,
  };
}

/** The decision the engine would make for `m` at `nowMs` (src/decisions/plan.ts), not stored. */
export function decide(m: RuleMatch, nowMs: number): ReturnType<typeof planDecision> {
  return planDecision(m, { tenantId: TENANT, nodeId: NODE, layer: 'local', nowMs, maxAttempts: () => 3, approvals: DEFAULT_CONFIG.approvals });
}

/** Stores the decision as the decision writer does (one transaction) and returns its view. */
export async function storeDecision(db: Kysely<Database>, m: RuleMatch, nowMs: number): Promise<DecisionView> {
  const plan = decide(m, nowMs);
  await db.transaction().execute(async (tx) => {
    await tx.insertInto('decisions').values(plan.decision).execute();
    if (plan.actions.length) await tx.insertInto('actions').values(plan.actions).execute();
    if (plan.approvals.length) await tx.insertInto('approval_requests').values(plan.approvals).execute();
    if (plan.logs.length) await tx.insertInto('event_logs').values(plan.logs).execute();
    if (plan.outbox.length) await tx.insertInto('outbox').values(plan.outbox).execute();
    if (plan.timers.length) await tx.insertInto('timers').values(plan.timers).execute();
  });
  return plan.view;
}
