import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AddressInfo } from 'node:net';
import type { Kysely } from 'kysely';
import { AggregationReporter, pluralise } from '../../src/brain/aggregation.js';
import { stateRoutes } from '../../src/brain/state-routes.js';
import { StateStore } from '../../src/brain/state-store.js';
import { CityError } from '../../src/errors.js';
import type { Database } from '../../src/store/schema.js';
import { createTestDatabase } from '../helpers/store.js';
import { ADMIN_TOKEN, chennaiStore, match, NODE, storeDecision, summary, TENANT, testApp, W001, W119 } from './state-fixtures.js';

const at = (hhmmss: string) => Date.parse(`2025-12-03T${hhmmss}Z`);
const W = at('14:00:00');

test('pluralise makes the seed resource_status keys', () => {
  assert.deepEqual(['ambulance', 'fire_truck', 'bus', 'ferry', 'police_car'].map(pluralise), ['ambulances', 'fire_trucks', 'buses', 'ferries', 'police_cars']);
});

test("a window's report has the seed's shape, real numbers, and is stored with its outbox message", async (t) => {
  const { db, zones, bus } = await chennaiStore(t, await createTestDatabase());
  let now = at('13:59:00'); // live counting starts before the window: it sees all of it
  const state = await new StateStore({ db, tenantId: TENANT, nodeId: NODE, zones, bus, now: () => now }).load();
  t.after(() => state.close());
  const reporter = new AggregationReporter({ db, tenantId: TENANT, nodeId: NODE, state, windowMs: 15 * 60_000, now: () => now });
  assert.throws(
    () => new AggregationReporter({ db, tenantId: TENANT, nodeId: NODE, state, windowMs: 60_000 }),
    (err: unknown) => err instanceof CityError && err.code === 'CITY_ERR_CONFIG_INVALID',
    'the reporter and the state store count the same windows',
  );

  now = at('14:05:00');
  state.countEvents('traffic_violations', W119.zoneId, 15);
  state.countEvents('air_quality_alerts', W001.zoneId, 3);
  state.countEvents('waste_bin_full', null, 8);

  // Two decisions in the window, 40 and 50 ms after their events arrived; one escalates.
  const flood = summary('e-flood', 'flood_warning', W119, now - 40);
  const escalated = await storeDecision(
    db,
    match({ rule: 'major_flooding', trigger: flood, actions: [{ type: 'escalate', target: 'district_layer', reason: 'multi_road_flooding_detected' }] }),
    now,
  );
  const speeding = summary('e-speed', 'traffic_violations', W001, now - 50 + 1000, 'medium');
  await storeDecision(db, match({ rule: 'speeding_detected', trigger: speeding, actions: [{ type: 'notify_authority', target: 'traffic_police', requires_approval: true }] }), now + 1000);
  // Approval verdicts in the window: two approved, one rejected.
  for (const [i, status] of ['approved', 'approved', 'rejected'].entries()) {
    const d = await storeDecision(db, match({ rule: 'speeding_detected', trigger: summary(`e-a${i}`, 'traffic_violations', W001, at('13:40:00')), actions: [{ type: 'notify_authority', requires_approval: true }] }), at('13:40:00'));
    await db.updateTable('approval_requests').set({ status, resolved_at: new Date(at('14:10:00')), resolved_by: 'officer-1' }).where('decision_id', '=', d.decision_id).execute();
  }
  // A decision outside the window does not count.
  await storeDecision(db, match({ rule: 'major_flooding', trigger: summary('e-late', 'flood_warning', W119, at('14:15:00')), actions: [{ type: 'escalate' }] }), at('14:15:01'));
  await insertDeadLetters(db, [at('14:01:00'), at('14:14:59'), at('14:15:00')]);

  const resource = (id: string, type: string, status: string) => state.updateResource(summary(`r-${id}`, 'resource_status', W119, now), { resourceId: id, resourceType: type, status });
  resource('amb-1', 'ambulance', 'available');
  resource('amb-2', 'ambulance', 'available');
  resource('amb-3', 'ambulance', 'dispatched');
  resource('fire-1', 'fire_truck', 'available');
  resource('fire-2', 'fire_truck', 'out_of_service');

  assert.throws(() => reporter.buildNow(W), (err: unknown) => err instanceof CityError && /has not ended/.test(err.message));
  assert.throws(() => reporter.buildNow(W + 1), (err: unknown) => err instanceof CityError && err.code === 'CITY_ERR_REQUEST_INVALID');

  now = at('14:15:06');
  const stored = await reporter.buildNow(W);
  const r = stored.report.aggregation_report;
  // Seed 001 §3.4, field for field.
  assert.equal(r.source_layer, NODE);
  assert.equal(r.time_window, '2025-12-03T14:00:00Z to 2025-12-03T14:15:00Z');
  assert.equal(r.summary.total_events, 26);
  assert.deepEqual(r.summary.event_breakdown, { traffic_violations: 15, air_quality_alerts: 3, waste_bin_full: 8 });
  assert.deepEqual(r.summary.escalated_incidents, [
    {
      incident_id: escalated.decision_id,
      type: 'major_flooding',
      severity: 'high',
      requires_district_coordination: true,
      zone_id: W119.zoneId,
      decided_at: '2025-12-03T14:05:00.000Z',
      target: 'district_layer',
      reason: 'multi_road_flooding_detected',
    },
  ]);
  assert.deepEqual(r.summary.resource_status, { ambulances_available: 2, fire_trucks_available: 1 });
  assert.equal(r.summary.performance_metrics.avg_processing_latency_ms, 45);
  assert.equal(r.summary.performance_metrics.p95_processing_latency_ms, 49.5);
  assert.equal(r.summary.performance_metrics.event_accuracy, 0.667);
  // Additions.
  assert.deepEqual(r.summary.zone_breakdown, { 'chennai-w119': 15, 'chennai-w001': 3, _none: 8 });
  assert.equal(r.summary.rejected_events, 2);
  assert.equal(r.summary.decisions_total, 2);
  assert.deepEqual(r.summary.resource_totals, { ambulances_total: 3, fire_trucks_total: 2 });
  assert.equal(r.event_counts_from, 'live');
  assert.equal(r.report_id, stored.report_id);

  const rows = await db.selectFrom('aggregation_reports').selectAll().execute();
  assert.equal(rows.length, 1);
  assert.equal(rows[0]!.node_id, NODE);
  assert.equal(new Date(rows[0]!.window_start).getTime(), W);
  const outbox = await db.selectFrom('outbox').selectAll().where('kind', '=', 'aggregation_report').execute();
  assert.equal(outbox.length, 1);
  assert.equal(outbox[0]!.message_id, stored.report_id);
  assert.equal(outbox[0]!.destination, 'parent');
  assert.deepEqual(outbox[0]!.payload, stored.report);
  assert.deepEqual(rows[0]!.report, stored.report);

  // Reports are final: asking again returns the stored one and queues nothing more.
  state.countEvents('traffic_violations', W119.zoneId, 100);
  assert.equal((await reporter.buildNow(W)).report_id, stored.report_id);
  assert.equal((await db.selectFrom('outbox').select('id').where('kind', '=', 'aggregation_report').execute()).length, 1);

  // The next window: the 100 events counted meanwhile, the 14:15:01 escalation, and no verdicts
  // (accuracy null: there is nothing to measure it by).
  now = at('14:30:06');
  const quiet = (await reporter.buildNow(at('14:15:00'))).report.aggregation_report;
  assert.equal(quiet.summary.total_events, 100);
  assert.equal(quiet.summary.escalated_incidents.length, 1);
  assert.equal(quiet.summary.performance_metrics.event_accuracy, null);
  assert.equal((await reporter.latest())?.report_id, (await reporter.list({ limit: 1 })).reports[0]!.report_id);

  // Over HTTP.
  const app = await testApp(t, zones);
  await app.register(stateRoutes, { state, reporter, zones });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const get = async (path: string) => (await fetch(base + path, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json() as Promise<any>;
  const page = await get('/api/v1/reports?limit=1');
  assert.equal(page.reports[0].window_start, '2025-12-03T14:15:00Z');
  assert.equal(page.next_before, '2025-12-03T14:15:00Z');
  const older = await get(`/api/v1/reports?limit=1&before=${page.next_before}`);
  assert.equal(older.reports[0].report_id, stored.report_id);
  assert.equal(older.reports[0].report.aggregation_report.summary.total_events, 26);
  assert.equal(older.next_before, null);
  assert.equal((await get('/api/v1/reports/latest')).report.window_start, '2025-12-03T14:15:00Z');
});

test('windows that ended while the node was down are rebuilt from the store at start', async (t) => {
  const { db, zones, bus } = await chennaiStore(t, await createTestDatabase());

  // First life: starts 13:50, reports nothing (it stops within the window).
  let now = at('13:50:00');
  const state1 = new StateStore({ db, tenantId: TENANT, nodeId: NODE, zones, bus, now: () => now });
  const reporter1 = new AggregationReporter({ db, tenantId: TENANT, nodeId: NODE, state: state1, now: () => now });
  await reporter1.start();
  await reporter1.close();
  await state1.close();

  // What it (and its successor, before its reporter started) stored.
  await insertEvents(db, [
    ['13:52:00', 'flood_warning', W119.zoneId],
    ['14:03:00', 'flood_warning', W119.zoneId],
    ['14:07:00', 'traffic_status', W001.zoneId],
    ['14:20:00', 'traffic_status', null],
    ['14:31:00', 'flood_warning', W119.zoneId],
  ]);
  await storeDecision(db, match({ rule: 'major_flooding', trigger: summary('e-x', 'flood_warning', W119, at('14:02:59')), actions: [{ type: 'escalate' }] }), at('14:03:00'));

  // Second life: starts 14:32. 13:45, 14:00 and 14:15 ended without a report.
  now = at('14:32:00');
  const state2 = await new StateStore({ db, tenantId: TENANT, nodeId: NODE, zones, bus, now: () => now }).load();
  t.after(() => state2.close());
  const reporter2 = new AggregationReporter({ db, tenantId: TENANT, nodeId: NODE, state: state2, now: () => now });
  await reporter2.start();
  t.after(() => reporter2.close());

  const { reports } = await reporter2.list({ limit: 10 });
  assert.deepEqual(reports.map((r) => r.window_start), ['2025-12-03T14:15:00Z', '2025-12-03T14:00:00Z', '2025-12-03T13:45:00Z']);
  const [w1415, w1400, w1345] = reports.map((r) => r.report.aggregation_report);
  assert.equal(w1345!.summary.total_events, 1);
  assert.deepEqual(w1400!.summary.event_breakdown, { flood_warning: 1, traffic_status: 1 });
  assert.deepEqual(w1400!.summary.zone_breakdown, { 'chennai-w119': 1, 'chennai-w001': 1 });
  assert.equal(w1400!.summary.escalated_incidents.length, 1);
  assert.deepEqual(w1415!.summary.zone_breakdown, { _none: 1 });
  assert.ok(reports.every((r) => r.report.aggregation_report.event_counts_from === 'store'));
  assert.equal((await db.selectFrom('outbox').select('id').where('kind', '=', 'aggregation_report').execute()).length, 3);

  // The window it started in: live counters missed its first two minutes, so the store counts it.
  state2.countEvents('flood_warning', W119.zoneId, 1_000);
  now = at('14:45:06');
  const w1430 = (await reporter2.buildNow(at('14:30:00'))).report.aggregation_report;
  assert.equal(w1430.event_counts_from, 'store');
  assert.equal(w1430.summary.total_events, 1);

  // A third start has nothing to catch up.
  const reporter3 = new AggregationReporter({ db, tenantId: TENANT, nodeId: NODE, state: state2, now: () => now });
  await reporter3.start();
  await reporter3.close();
  assert.equal((await reporter3.list({ limit: 10 })).reports.length, 4);
});

test('reports are built on schedule as each window ends', async (t) => {
  const { db, zones, bus } = await chennaiStore(t, await createTestDatabase());
  const state = await new StateStore({ db, tenantId: TENANT, nodeId: NODE, zones, bus, windowMs: 1000 }).load();
  const reporter = new AggregationReporter({ db, tenantId: TENANT, nodeId: NODE, state, settleMs: 50 });
  await reporter.start();
  t.after(async () => {
    await reporter.close();
    await state.close();
  });
  // The first whole window after the start: counted live.
  const whole = Math.floor(Date.now() / 1000) * 1000 + 1000;
  await sleep(whole - Date.now() + 20);
  state.countEvents('flood_warning', W119.zoneId, 7);
  const windowStart = new Date(whole).toISOString().replace('.000Z', 'Z');
  let found;
  for (const deadline = Date.now() + 10_000; !found && Date.now() < deadline; await sleep(50)) {
    found = (await reporter.list({ limit: 10 })).reports.find((r) => r.window_start === windowStart);
  }
  assert.ok(found, 'no report for the window within 10 s');
  assert.equal(found.report.aggregation_report.summary.total_events, 7);
  assert.equal(found.report.aggregation_report.event_counts_from, 'live');
  const started = (await reporter.list({ limit: 10 })).reports.find((r) => Date.parse(r.window_start) === whole - 1000);
  assert.equal(started?.report.aggregation_report.event_counts_from, 'store', 'the window the node started in is counted from the store');
});

async function insertDeadLetters(db: Kysely<Database>, times: number[]): Promise<void> {
  await db
    .insertInto('dead_letters')
    .values(times.map((ms) => ({ tenant_id: TENANT, received_at: new Date(ms), source: 'http', plugin_id: 'x', remote: null, content_type: 'application/json', code: 'CITY_ERR_EVENT_INVALID', reason: 'test', details: '{}', payload: null, payload_size: 0, truncated: false })))
    .execute();
}

async function insertEvents(db: Kysely<Database>, events: Array<[string, string, string | null]>): Promise<void> {
  await db
    .insertInto('events')
    .values(
      events.map(([time, type, zone], i) => ({
        tenant_id: TENANT,
        event_id: `stored-${i}`,
        plugin_id: 'test-plugin',
        plugin_version: '1.0.0',
        event_type: type,
        severity: 'high',
        confidence: 0.9,
        ts: new Date(at(time)),
        received_at: new Date(at(time)),
        zone_id: zone,
        lat: null,
        lng: null,
        payload: '{}',
      })),
    )
    .execute();
}
