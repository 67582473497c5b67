import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AddressInfo } from 'node:net';
import { AggregationReporter } from '../../src/brain/aggregation.js';
import { stateRoutes } from '../../src/brain/state-routes.js';
import { StateStore } from '../../src/brain/state-store.js';
import { CityError } from '../../src/errors.js';
import { createTestDatabase } from '../helpers/store.js';
import { ADMIN_TOKEN, chennaiStore, decide, match, NODE, storeDecision, summary, TENANT, testApp, W001, W119 } from './state-fixtures.js';

const T0 = Date.parse('2025-12-03T14:05:00Z');

test('the snapshot shows what the bus and ingestion report, and a zone shows only its subtree', async (t) => {
  const { db, zones, bus } = await chennaiStore(t, await createTestDatabase());
  let now = T0;
  const state = await new StateStore({ db, tenantId: TENANT, nodeId: NODE, zones, bus, now: () => now }).load();
  t.after(() => state.close());

  // Events flow while a live stream watches; the decision's trigger annotates the one that flowed.
  const flood = summary('e-flood', 'flood_warning', W119, T0 - 1000);
  const jam = summary('e-jam', 'traffic_status', W001, T0 - 900, 'low');
  bus.publish({ kind: 'event', event: flood });
  bus.publish({ kind: 'event', event: jam });
  const high = decide(match({ rule: 'flood_traffic_coordination', trigger: flood, actions: [{ type: 'traffic_reroute', target: 'traffic_control_system' }] }), T0).view;
  const low = decide(match({ rule: 'congestion_notice', trigger: summary('e-unseen', 'traffic_status', W001, T0 - 500, 'low') }), T0 + 10).view;
  bus.publish({ kind: 'decision', decision: high });
  bus.publish({ kind: 'decision', decision: low });
  bus.publish({ kind: 'action', action: { ...high.actions[0]!, status: 'COMPLETED', attempts: 1 }, zone_id: W119.zoneId });

  state.updateResource(summary('r1', 'resource_status', W119, T0), { resourceId: 'amb-1', resourceType: 'ambulance', status: 'available' });
  state.updateResource(summary('r2', 'resource_status', W119, T0), { resourceId: 'amb-2', resourceType: 'ambulance', status: 'dispatched' });
  state.updateResource(summary('r3', 'resource_status', W001, T0), { resourceId: 'fire-1', resourceType: 'fire_truck', status: 'available' });

  state.countEvents('flood_warning', W119.zoneId, 3);
  state.countEvents('traffic_status', W001.zoneId, 5);
  state.countEvents('traffic_status', null, 2);

  const all = state.snapshot();
  assert.equal(all.node_id, NODE);
  assert.equal(all.zone, null);
  assert.equal(all.active_incidents.total, 2);
  assert.deepEqual(all.active_incidents.by_severity, { high: 1, low: 1 });
  assert.deepEqual(all.active_incidents.items.map((i) => i.decision_id), [low.decision_id, high.decision_id], 'newest first');
  assert.deepEqual(all.active_incidents.items[1]!.actions.map((a) => a.status), ['COMPLETED'], 'action updates reach the incident');
  assert.deepEqual(all.resources.by_type, {
    ambulance: { available: 1, total: 2, by_status: { available: 1, dispatched: 1 } },
    fire_truck: { available: 1, total: 1, by_status: { available: 1 } },
  });
  assert.deepEqual(all.recent_events.map((e) => e.event_id), ['e-unseen', 'e-jam', 'e-flood']);
  assert.deepEqual(all.recent_events[2]!.decision_ids, [high.decision_id], 'the trigger event is marked with its decision');
  assert.equal(all.recent_events[0]!.event_type, 'traffic_status', "a trigger that never flowed is known from the decision's rationale");
  assert.equal(all.counters.events_total, 10);
  assert.deepEqual(all.counters.events_by_type, { flood_warning: 3, traffic_status: 7 });
  assert.deepEqual(all.counters.events_by_zone, { 'chennai-w119': 3, 'chennai-w001': 5, _none: 2 });
  assert.equal(all.counters.decisions_total, 2);
  assert.equal(all.counters.window_start, '2025-12-03T14:00:00.000Z');

  for (const zone of ['chennai-z09', 'chennai-w119']) {
    const z = state.snapshot(zone);
    assert.equal(z.zone?.id, zone);
    assert.equal(z.active_incidents.total, 1, zone);
    assert.equal(z.active_incidents.items[0]!.decision_id, high.decision_id);
    assert.deepEqual(Object.keys(z.resources.by_type), ['ambulance']);
    assert.deepEqual(z.recent_events.map((e) => e.event_id), ['e-flood']);
    assert.equal(z.counters.events_total, 3);
    assert.deepEqual(z.counters.events_by_type, { flood_warning: 3 });
    assert.deepEqual(z.counters.decisions_by_severity, { high: 1 });
  }
  const city = state.snapshot('chennai');
  assert.equal(city.active_incidents.total, 2);
  assert.equal(city.counters.events_total, 8, 'events without a zone are in no zone');
  assert.equal(state.snapshot('chennai-z01').resources.by_type.fire_truck?.available, 1);

  assert.throws(() => state.snapshot('atlantis'), (err: unknown) => err instanceof CityError && err.code === 'CITY_ERR_ZONE_NOT_FOUND');

  assert.equal(state.incidents({ minSeverity: 'medium', limit: 10 }).total, 1);
  assert.equal(state.resources({ type: 'ambulance', status: 'available', limit: 10 }).items[0]!.resource_id, 'amb-1');

  // An incident leaves the active set after the TTL (6 h by default).
  now = T0 + 6 * 3_600_000 + 1000;
  assert.equal(state.snapshot().active_incidents.total, 0);
});

test('recent events are bounded rings: a decision marks its trigger while held, and adds it back once overwritten', async (t) => {
  const { db, zones, bus } = await chennaiStore(t, await createTestDatabase());
  const state = await new StateStore({ db, tenantId: TENANT, nodeId: NODE, zones, bus, now: () => T0, recentEvents: 3, recentEventsPerZone: 2 }).load();
  t.after(() => state.close());
  const events = ['e1', 'e2', 'e3', 'e4'].map((id, i) => summary(id, 'flood_warning', W119, T0 - 1000 + i));
  for (const event of events) bus.publish({ kind: 'event', event });
  assert.deepEqual(state.snapshot().recent_events.map((e) => e.event_id), ['e4', 'e3', 'e2'], 'the node ring keeps the newest 3');
  assert.deepEqual(state.snapshot(W119.zoneId).recent_events.map((e) => e.event_id), ['e4', 'e3'], 'the zone ring keeps the newest 2');

  // e2 is still in the node ring but no longer in its zone's: the node ring's copy is marked, nothing is added.
  const onE2 = decide(match({ rule: 'flood_alert', trigger: events[1]! }), T0).view;
  bus.publish({ kind: 'decision', decision: onE2 });
  assert.deepEqual(state.snapshot().recent_events.map((e) => [e.event_id, e.decision_ids]), [['e4', undefined], ['e3', undefined], ['e2', [onE2.decision_id]]]);
  // e4 is in both: both copies are marked, twice over for a second decision.
  const onE4 = decide(match({ rule: 'flood_alert', trigger: events[3]! }), T0 + 1).view;
  const again = decide(match({ rule: 'flood_traffic_coordination', trigger: events[3]! }), T0 + 2).view;
  bus.publish({ kind: 'decision', decision: onE4 });
  bus.publish({ kind: 'decision', decision: again });
  assert.deepEqual(state.snapshot().recent_events[0]!.decision_ids, [onE4.decision_id, again.decision_id]);
  assert.deepEqual(state.snapshot(W119.zoneId).recent_events[0]!.decision_ids, [onE4.decision_id, again.decision_id]);
  // e1 was overwritten: its decision brings it back as the newest entry, and overwriting e2 unindexes it.
  const onE1 = decide(match({ rule: 'flood_alert', trigger: events[0]! }), T0 + 3).view;
  bus.publish({ kind: 'decision', decision: onE1 });
  assert.deepEqual(state.snapshot().recent_events.map((e) => e.event_id), ['e1', 'e4', 'e3']);
  const lateOnE2 = decide(match({ rule: 'flood_traffic_coordination', trigger: events[1]! }), T0 + 4).view;
  bus.publish({ kind: 'decision', decision: lateOnE2 });
  assert.deepEqual(state.snapshot().recent_events.map((e) => [e.event_id, e.decision_ids]), [['e2', [lateOnE2.decision_id]], ['e1', [onE1.decision_id]], ['e4', [onE4.decision_id, again.decision_id]]]);
});

test('resources are written in batches and reload; incidents reload from open decisions and close by hand', async (t) => {
  const { db, zones, bus } = await chennaiStore(t, await createTestDatabase());
  const now = () => T0;
  const first = await new StateStore({ db, tenantId: TENANT, nodeId: NODE, zones, bus, now, resourceFlushMs: 60_000 }).load();

  for (let i = 0; i < 50; i++) {
    first.updateResource(summary(`s${i}`, 'resource_status', W119, T0 + i), { resourceId: `amb-${i % 5}`, resourceType: 'ambulance', status: i >= 45 ? 'available' : 'dispatched' });
  }
  // A report older than the one held, delivered late, changes nothing.
  first.updateResource(summary('late', 'resource_status', W001, T0 - 60_000), { resourceId: 'amb-0', resourceType: 'ambulance', status: 'out_of_service' });
  assert.equal((await db.selectFrom('resources').selectAll().execute()).length, 0, 'nothing is written per event');
  await first.flush();
  const rows = await db.selectFrom('resources').selectAll().orderBy('resource_id').execute();
  assert.equal(rows.length, 5);
  assert.ok(rows.every((r) => r.status === 'available' && r.zone_id === W119.zoneId && r.resource_type === 'ambulance'));
  assert.equal(rows[0]!.event_id, 's45');

  const flood = summary('e-1', 'flood_warning', W119, T0 - 2000);
  const open = await storeDecision(db, match({ rule: 'flood_traffic_coordination', trigger: flood, actions: [{ type: 'escalate', target: 'district_layer' }] }), T0 - 1000);
  const toClose = await storeDecision(db, match({ rule: 'waste_bin_full', trigger: summary('e-2', 'waste_bin_full', W001, T0 - 2000, 'low') }), T0 - 900);
  const stale = await storeDecision(db, match({ rule: 'old_alarm', trigger: summary('e-3', 'alarm', W001, T0 - 8 * 3_600_000) }), T0 - 7 * 3_600_000);
  bus.publish({ kind: 'decision', decision: toClose });
  assert.equal(first.snapshot().active_incidents.total, 1);
  await first.close();

  const second = await new StateStore({ db, tenantId: TENANT, nodeId: NODE, zones, bus, now }).load();
  t.after(() => second.close());
  assert.deepEqual(second.resources({ limit: 10 }).by_type, { ambulance: { available: 5, total: 5, by_status: { available: 5 } } });
  const loaded = second.incidents({ limit: 10 });
  assert.deepEqual(loaded.items.map((i) => i.decision_id), [toClose.decision_id, open.decision_id], 'open decisions within the TTL, newest first');
  assert.ok(!loaded.items.some((i) => i.decision_id === stale.decision_id));
  assert.deepEqual(loaded.items[1]!.actions.map((a) => [a.type, a.status]), [['escalate', 'COMPLETED']]);
  assert.equal(loaded.items[1]!.rule.name, 'flood_traffic_coordination');
  assert.equal(loaded.items[1]!.latency_ms, 1000);

  assert.deepEqual(await second.closeIncident(toClose.decision_id), { decision_id: toClose.decision_id, status: 'closed', was_active: true });
  assert.equal((await db.selectFrom('decisions').select('status').where('decision_id', '=', toClose.decision_id).executeTakeFirstOrThrow()).status, 'closed');
  assert.deepEqual(second.incidents({ limit: 10 }).items.map((i) => i.decision_id), [open.decision_id]);
  // A late update of a closed decision does not reopen it.
  bus.publish({ kind: 'decision', decision: toClose });
  assert.equal(second.incidents({ limit: 10 }).total, 1);
  await assert.rejects(second.closeIncident('no-such-decision'), (err: unknown) => err instanceof CityError && err.code === 'CITY_ERR_DECISION_NOT_FOUND');

  const third = await new StateStore({ db, tenantId: TENANT, nodeId: NODE, zones, bus, now }).load();
  t.after(() => third.close());
  assert.deepEqual(third.incidents({ limit: 10 }).items.map((i) => i.decision_id), [open.decision_id], 'a closed incident stays closed across a restart');
});

test('live window counters are used only for windows live counting saw whole', async (t) => {
  const { db, zones, bus } = await chennaiStore(t, await createTestDatabase());
  let now = T0; // 14:05, inside the 14:00 window
  const state = new StateStore({ db, tenantId: TENANT, nodeId: NODE, zones, bus, now: () => now });
  state.countEvents('flood_warning', W119.zoneId, 4);
  assert.equal(state.windowTotals(Date.parse('2025-12-03T14:00:00Z')), null, 'started mid-window: the store has to count it');
  now = Date.parse('2025-12-03T14:16:00Z');
  state.countEvents('flood_warning', W119.zoneId, 2);
  const next = state.windowTotals(Date.parse('2025-12-03T14:15:00Z'));
  assert.equal(next?.events_total, 2);
  assert.equal(state.windowTotals(Date.parse('2025-12-03T14:30:00Z'))?.events_total, 0, 'a window nobody counted in had no events');
});

test('state routes: snapshot, incidents, resources and close over HTTP, admin only', async (t) => {
  const { db, zones, bus } = await chennaiStore(t, await createTestDatabase());
  const state = await new StateStore({ db, tenantId: TENANT, nodeId: NODE, zones, bus, now: () => T0 }).load();
  t.after(() => state.close());
  const reporter = new AggregationReporter({ db, tenantId: TENANT, nodeId: NODE, state, now: () => T0 });
  const app = await testApp(t, zones);
  await app.register(stateRoutes, { state, reporter, zones });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const get = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(base + path, { ...init, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...init.headers } });
    return { status: res.status, body: (await res.json()) as any };
  };

  const flood = summary('e-1', 'flood_warning', W119, T0 - 100);
  const decision = await storeDecision(db, match({ rule: 'flood_traffic_coordination', trigger: flood, severity: 'critical' }), T0);
  bus.publish({ kind: 'decision', decision });
  state.updateResource(summary('r1', 'resource_status', W119, T0), { resourceId: 'amb-1', resourceType: 'ambulance', status: 'available' });
  state.updateResource(summary('r2', 'resource_status', W001, T0), { resourceId: 'bus-7', resourceType: 'bus', status: 'available' });

  const snap = await get('/api/v1/state?zone=chennai-z09');
  assert.equal(snap.status, 200, JSON.stringify(snap.body));
  assert.equal(snap.body.zone.id, 'chennai-z09');
  assert.equal(snap.body.active_incidents.items[0].decision_id, decision.decision_id);
  assert.deepEqual(Object.keys(snap.body.resources.by_type), ['ambulance']);

  const missing = await get('/api/v1/state?zone=atlantis');
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error.code, 'CITY_ERR_ZONE_NOT_FOUND');
  assert.equal((await fetch(`${base}/api/v1/state`)).status, 401, 'admin token required');

  assert.equal((await get('/api/v1/state/incidents?min_severity=critical&zone=chennai')).body.total, 1);
  assert.equal((await get('/api/v1/state/incidents?min_severity=urgent')).body.error.code, 'CITY_ERR_REQUEST_INVALID');
  const buses = await get('/api/v1/state/resources?type=bus&status=available');
  assert.deepEqual(buses.body.items.map((r: any) => r.resource_id), ['bus-7']);

  const closed = await get(`/api/v1/state/incidents/${decision.decision_id}/close`, { method: 'POST' });
  assert.equal(closed.status, 200, JSON.stringify(closed.body));
  assert.equal(closed.body.was_active, true);
  assert.equal((await get('/api/v1/state')).body.active_incidents.total, 0);
  const unknown = await get('/api/v1/state/incidents/nope/close', { method: 'POST' });
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.error.code, 'CITY_ERR_DECISION_NOT_FOUND');
});
