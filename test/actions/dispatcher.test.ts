import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { closedPort } from '../helpers/recorder.js';
import { after, describe, it, type TestContext } from 'node:test';
import pino from 'pino';
import { ActionDispatcher, type ActionDispatcherOptions } from '../../src/actions/dispatcher.js';
import type { HoldCheck } from '../../src/actions/holds.js';
import type { PublishMqtt } from '../../src/actions/delivery.js';
import { ActionTargets } from '../../src/actions/targets.js';
import type { ActionStatus, ActionView } from '../../src/decisions/types.js';
import { ZoneTree } from '../../src/geo/zones.js';
import { SuspensionIndex, type ActiveSuspension } from '../../src/overrides/suspension-index.js';
import { openStore, type Store } from '../../src/store/store.js';
import { createTestDatabase } from '../helpers/store.js';

const FAST: ActionDispatcherOptions = { baseDelayMs: 10, maxDelayMs: 50 };

interface Received {
  headers: IncomingHttpHeaders;
  body: Record<string, any>;
}

type Reply = { status: number; body?: string; headers?: Record<string, string> } | 'hang';

/** A receiver on 127.0.0.1:0 answering the nth request with `script(n)` (n from 1). */
async function receiver(t: TestContext, script: (n: number) => Reply): Promise<{ url: string; requests: Received[]; server: Server }> {
  const requests: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      const reply = script(requests.length);
      if (reply === 'hang') return;
      res.writeHead(reply.status, reply.headers ?? {});
      res.end(reply.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/commands`, requests, server };
}


/** What onUpdate saw, with a way to wait for an action to finish. */
class Updates {
  readonly all: Array<{ view: ActionView; zoneId: string | null }> = [];
  readonly #waiters: Array<{ id: string; statuses: ActionStatus[]; resolve: (v: ActionView) => void }> = [];

  readonly onUpdate = (view: ActionView, zoneId: string | null): void => {
    this.all.push({ view, zoneId });
    for (let i = this.#waiters.length - 1; i >= 0; i--) {
      const w = this.#waiters[i]!;
      if (w.id === view.action_id && w.statuses.includes(view.status)) {
        this.#waiters.splice(i, 1);
        w.resolve(view);
      }
    }
  };

  statuses(actionId: string): ActionStatus[] {
    return this.all.filter((u) => u.view.action_id === actionId).map((u) => u.view.status);
  }

  /** Resolves with the view once the action reaches one of `statuses` (COMPLETED or FAILED by default). */
  until(actionId: string, statuses: ActionStatus[] = ['COMPLETED', 'FAILED']): Promise<ActionView> {
    const seen = this.all.find((u) => u.view.action_id === actionId && statuses.includes(u.view.status));
    if (seen) return Promise.resolve(seen.view);
    return new Promise((resolve) => this.#waiters.push({ id: actionId, statuses, resolve }));
  }
}

interface Harness {
  store: Store;
  decisionId: string;
  targets: ActionTargets;
  updates: Updates;
  dispatcher(options?: { publishMqtt?: PublishMqtt | null; options?: ActionDispatcherOptions; holds?: HoldCheck }): ActionDispatcher;
  insertAction(a: Partial<ActionRowInput> & { action_id: string }): Promise<void>;
  action(id: string): Promise<Record<string, any>>;
  attempts(id: string): Promise<Array<Record<string, any>>>;
}

interface ActionRowInput {
  action_id: string;
  decision_id: string;
  type: string;
  target_system: string | null;
  parameters: Record<string, unknown>;
  status: ActionStatus;
  priority: number;
  attempts: number;
  max_attempts: number;
  executed_at: Date | null;
}

/**
 * One real store for the file (opening one costs seconds); each test gets its own tenant, so
 * start() sees only that test's actions. Dispatchers close when their test ends.
 */
let shared: Promise<{ store: Store; dispose(): Promise<void> }> | undefined;
let tenants = 0;

function sharedStore(): Promise<{ store: Store; dispose(): Promise<void> }> {
  shared ??= (async () => {
    const database = await createTestDatabase();
    const store = await openStore({ databaseUrl: database.databaseUrl, dataDir: database.dataDir });
    return {
      store,
      async dispose() {
        await store.close();
        await database.dispose();
      },
    };
  })();
  return shared;
}

function suspensionOf(kind: ActiveSuspension['kind'], target: string): ActiveSuspension {
  return { suspensionId: `s-${kind}-${target}`, kind, target, reason: 'flood drill', createdBy: 'admin-token', createdAt: new Date() };
}

/** A tenant with one decision (zone w119) in the shared store. */
async function harness(t: TestContext): Promise<Harness> {
  const { store } = await sharedStore();
  const tenant = `t${++tenants}`;
  const decisionId = `dec-${tenant}`;
  const dispatchers: ActionDispatcher[] = [];
  t.after(async () => {
    for (const d of dispatchers) await d.close(100);
  });
  const { db } = store;
  await db
    .insertInto('decisions')
    .values({
      decision_id: decisionId,
      tenant_id: tenant,
      dedup_key: 'flood_traffic_coordination:ev-1',
      event_id: 'ev-1',
      decision_time: new Date(),
      event_received_at: null,
      deciding_layer: 'LOCAL',
      deciding_node: 'local-1',
      rule_kind: 'correlation',
      rule_id: 'flood_traffic_coordination',
      trigger: 'flood_warning',
      severity: 'high',
      priority: 0,
      zone_id: 'w119',
      lat: 13.046,
      lng: 80.264,
      event_ids: JSON.stringify(['ev-1', 'ev-2']),
      rationale: JSON.stringify({ explanation: 'water_level_cm > 30 held' }),
      approval_status: 'NOT_REQUIRED',
      approver_id: null,
    })
    .execute();
  const targets = await ActionTargets.load(db, tenant);
  const updates = new Updates();
  return {
    store,
    decisionId,
    targets,
    updates,
    dispatcher(o = {}) {
      const d = new ActionDispatcher({
        db,
        tenantId: tenant,
        nodeId: 'local-1',
        targets,
        publishMqtt: o.publishMqtt === undefined ? null : o.publishMqtt,
        onUpdate: updates.onUpdate,
        holds: o.holds ?? null,
        log: pino({ level: process.env.CITY_TEST_LOG ?? 'silent' }),
        options: { ...FAST, ...o.options },
      });
      dispatchers.push(d);
      return d;
    },
    async insertAction(a) {
      await db
        .insertInto('actions')
        .values({
          action_id: a.action_id,
          tenant_id: tenant,
          decision_id: a.decision_id ?? decisionId,
          position: 0,
          type: a.type ?? 'traffic_reroute',
          target_system: a.target_system === undefined ? 'traffic_control_system' : a.target_system,
          parameters: JSON.stringify(a.parameters ?? { close_roads: ['anna_salai'], suggest_alternatives: true }),
          status: a.status ?? 'PENDING',
          priority: a.priority ?? 0,
          attempts: a.attempts ?? 0,
          max_attempts: a.max_attempts ?? 5,
          next_attempt_at: new Date(),
          executed_at: a.executed_at ?? null,
          completed_at: null,
          result: null,
          last_error: null,
        })
        .execute();
    },
    async action(id) {
      return db.selectFrom('actions').selectAll().where('action_id', '=', id).executeTakeFirstOrThrow();
    },
    async attempts(id) {
      return db.selectFrom('action_attempts').selectAll().where('action_id', '=', id).orderBy('attempt').execute();
    },
  };
}

describe('ActionDispatcher', { timeout: 60_000 }, () => {
  after(async () => (await shared)?.dispose());

  it('(a) delivers to a webhook that answers 200: COMPLETED with the result, the request as specified', async (t) => {
    const h = await harness(t);
    const rx = await receiver(t, () => ({ status: 200, body: '{"accepted":true,"plan":"detour-7"}', headers: { 'content-type': 'application/json' } }));
    await h.targets.put('traffic_control_system', { kind: 'webhook', url: rx.url, headers: { Authorization: 'Bearer tcs-secret' } });
    const dispatcher = h.dispatcher();
    await dispatcher.start();

    await h.insertAction({ action_id: 'act-a' });
    await dispatcher.enqueue([{ action_id: 'act-a' }]);
    const done = await h.updates.until('act-a');

    assert.equal(done.status, 'COMPLETED');
    assert.equal(done.result, 'HTTP 200 from traffic_control_system: {"accepted":true,"plan":"detour-7"}');
    assert.equal(done.attempts, 1);
    assert.equal(typeof done.executed_at_ms, 'number');
    assert.deepEqual(h.updates.statuses('act-a'), ['EXECUTING', 'COMPLETED']);
    assert.equal(h.updates.all[0]!.zoneId, 'w119');

    assert.equal(rx.requests.length, 1);
    const { headers, body } = rx.requests[0]!;
    assert.equal(headers['content-type'], 'application/json');
    assert.equal(headers['idempotency-key'], 'act-a');
    assert.equal(headers['x-city-node'], 'local-1');
    assert.equal(headers['x-city-attempt'], '1');
    assert.equal(headers.authorization, 'Bearer tcs-secret');
    assert.deepEqual(Object.keys(body).sort(), ['action_id', 'attempt', 'decision_id', 'parameters', 'sent_at', 'target_system', 'type', 'zone_id']);
    assert.equal(body.action_id, 'act-a');
    assert.equal(body.decision_id, h.decisionId);
    assert.equal(body.type, 'traffic_reroute');
    assert.equal(body.target_system, 'traffic_control_system');
    assert.deepEqual(body.parameters, { close_roads: ['anna_salai'], suggest_alternatives: true });
    assert.equal(body.zone_id, 'w119');
    assert.equal(body.attempt, 1);
    assert.ok(!Number.isNaN(Date.parse(body.sent_at)));

    const row = await h.action('act-a');
    assert.equal(row.status, 'COMPLETED');
    assert.equal(row.result, done.result);
    assert.equal(row.last_error, null);
    assert.ok(row.executed_at instanceof Date && row.completed_at instanceof Date);
    const attempts = await h.attempts('act-a');
    assert.equal(attempts.length, 1);
    assert.equal(attempts[0]!.ok, true);
    assert.equal(attempts[0]!.detail, 'HTTP 200 OK');
    assert.deepEqual(dispatcher.stats(), { pending: 0, executing: 0, completedTotal: 1, failedTotal: 0, retriesTotal: 0 });
  });

  it('(b) retries 503 and 429 (Retry-After) and completes on the third attempt', async (t) => {
    const h = await harness(t);
    const rx = await receiver(t, (n) =>
      n === 1 ? { status: 503, body: 'busy' } : n === 2 ? { status: 429, body: 'slow down', headers: { 'retry-after': '0' } } : { status: 200 },
    );
    await h.targets.put('traffic_control_system', { kind: 'webhook', url: rx.url });
    await h.insertAction({ action_id: 'act-b', max_attempts: 5 });
    const dispatcher = h.dispatcher();
    await dispatcher.start();
    const done = await h.updates.until('act-b');

    assert.equal(done.status, 'COMPLETED');
    assert.equal(done.attempts, 3);
    assert.equal(done.result, 'HTTP 200 from traffic_control_system');
    assert.deepEqual(h.updates.statuses('act-b'), ['EXECUTING', 'PENDING', 'EXECUTING', 'PENDING', 'EXECUTING', 'COMPLETED']);
    const attempts = await h.attempts('act-b');
    assert.deepEqual(
      attempts.map((a) => [a.attempt, a.ok, a.detail]),
      [
        [1, false, 'HTTP 503 Service Unavailable: busy'],
        [2, false, 'HTTP 429 Too Many Requests: slow down'],
        [3, true, 'HTTP 200 OK'],
      ],
    );
    for (const a of attempts) assert.ok(a.finished_at >= a.started_at);
    assert.deepEqual(rx.requests.map((r) => r.headers['x-city-attempt']), ['1', '2', '3']);
    assert.deepEqual(rx.requests.map((r) => r.headers['idempotency-key']), ['act-b', 'act-b', 'act-b']);
    assert.equal((await h.action('act-b')).last_error, null);
    assert.equal(dispatcher.stats().retriesTotal, 2);
  });

  it('(c) gives up after max_attempts against a closed port: FAILED with the reason', async (t) => {
    const h = await harness(t);
    await h.targets.put('traffic_control_system', { kind: 'webhook', url: `http://127.0.0.1:${await closedPort()}/x`, max_attempts: 3 });
    await h.insertAction({ action_id: 'act-c', max_attempts: 3 });
    const dispatcher = h.dispatcher();
    await dispatcher.start();
    const done = await h.updates.until('act-c');

    assert.equal(done.status, 'FAILED');
    assert.equal(done.attempts, 3);
    assert.match(done.last_error!, /^connect ECONNREFUSED 127\.0\.0\.1:\d+$/);
    assert.equal(done.result, `failed after 3 attempts: ${done.last_error}`);
    assert.deepEqual(h.updates.statuses('act-c'), ['EXECUTING', 'PENDING', 'EXECUTING', 'PENDING', 'EXECUTING', 'FAILED']);
    const row = await h.action('act-c');
    assert.equal(row.status, 'FAILED');
    assert.equal(row.result, done.result);
    assert.equal(row.next_attempt_at, null);
    const attempts = await h.attempts('act-c');
    assert.equal(attempts.length, 3);
    assert.ok(attempts.every((a) => !a.ok && /ECONNREFUSED/.test(a.detail)));
    assert.deepEqual(dispatcher.stats(), { pending: 0, executing: 0, completedTotal: 0, failedTotal: 1, retriesTotal: 2 });
  });

  it('(c) a receiver that never answers times out, is retried, and fails saying so', async (t) => {
    const h = await harness(t);
    const rx = await receiver(t, () => 'hang');
    await h.targets.put('traffic_control_system', { kind: 'webhook', url: rx.url, timeout_ms: 100 });
    await h.insertAction({ action_id: 'act-t', max_attempts: 2 });
    await h.dispatcher().start();
    const done = await h.updates.until('act-t');
    assert.equal(done.status, 'FAILED');
    assert.equal(done.last_error, 'timeout after 100 ms');
    assert.equal(done.result, 'failed after 2 attempts: timeout after 100 ms');
    assert.equal(rx.requests.length, 2);
  });

  it('(d) a 400 fails at once, without retries', async (t) => {
    const h = await harness(t);
    const rx = await receiver(t, () => ({ status: 400, body: '{"error":"unknown road anna_salai"}' }));
    await h.targets.put('traffic_control_system', { kind: 'webhook', url: rx.url });
    await h.insertAction({ action_id: 'act-d', max_attempts: 5 });
    await h.dispatcher().start();
    const done = await h.updates.until('act-d');

    assert.equal(done.status, 'FAILED');
    assert.equal(done.attempts, 1);
    assert.equal(done.last_error, 'HTTP 400 Bad Request: {"error":"unknown road anna_salai"}');
    assert.equal(done.result, 'failed, not retryable: HTTP 400 Bad Request: {"error":"unknown road anna_salai"}');
    assert.deepEqual(h.updates.statuses('act-d'), ['EXECUTING', 'FAILED']);
    assert.equal(rx.requests.length, 1);
    assert.equal((await h.attempts('act-d')).length, 1);
  });

  it('(e) an action left EXECUTING by a stop is sent again by the next start, with the same idempotency key', async (t) => {
    const h = await harness(t);
    const rx = await receiver(t, (n) => (n === 1 ? 'hang' : { status: 200, body: 'ok' }));
    await h.targets.put('traffic_control_system', { kind: 'webhook', url: rx.url, timeout_ms: 60_000 });
    await h.insertAction({ action_id: 'act-e' });

    const first = h.dispatcher();
    await first.start();
    await h.updates.until('act-e', ['EXECUTING']);
    while (rx.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
    await first.close(50); // the receiver still has not answered
    const stuck = await h.action('act-e');
    assert.equal(stuck.status, 'EXECUTING');
    assert.equal(stuck.attempts, 1);

    const second = h.dispatcher();
    await second.start();
    const done = await h.updates.until('act-e', ['COMPLETED', 'FAILED']);
    assert.equal(done.status, 'COMPLETED');
    assert.equal(done.attempts, 2);
    assert.equal(done.result, 'HTTP 200 from traffic_control_system: ok');
    assert.deepEqual(h.updates.statuses('act-e'), ['EXECUTING', 'PENDING', 'EXECUTING', 'COMPLETED']);
    assert.deepEqual(rx.requests.map((r) => [r.headers['idempotency-key'], r.body.attempt]), [['act-e', 1], ['act-e', 2]]);
    const attempts = await h.attempts('act-e');
    assert.deepEqual(attempts.map((a) => [a.attempt, a.ok]), [[1, false], [2, true]]);
    assert.match(attempts[0]!.detail, /^interrupted/);
    assert.equal((await h.action('act-e')).executed_at.getTime(), stuck.executed_at.getTime());
  });

  it('(e) an action inserted EXECUTING (crash mid-attempt) is picked up by start()', async (t) => {
    const h = await harness(t);
    const rx = await receiver(t, () => ({ status: 204 }));
    await h.targets.put('traffic_control_system', { kind: 'webhook', url: rx.url });
    await h.insertAction({ action_id: 'act-e2', status: 'EXECUTING', attempts: 1, max_attempts: 1, executed_at: new Date(Date.now() - 1000) });
    await h.dispatcher().start();
    // An interrupted last attempt still gets one more try: its outcome was never known.
    const done = await h.updates.until('act-e2');
    assert.equal(done.status, 'COMPLETED');
    assert.equal(done.attempts, 2);
    assert.equal(rx.requests[0]!.headers['x-city-attempt'], '2');
  });

  it('(f) publishes to the MQTT command topic, filled with zone and target', async (t) => {
    const h = await harness(t);
    const published: Array<{ topic: string; payload: Buffer; qos: number }> = [];
    const publishMqtt: PublishMqtt = async (topic, payload, qos) => {
      published.push({ topic, payload, qos });
    };
    await h.targets.put('signals', { kind: 'mqtt', topic: 'city/{zone}/signals/{target}/set' });
    await h.insertAction({ action_id: 'act-f1', type: 'actuate', target_system: 'pump_7', parameters: { state: 'on' } });
    await h.insertAction({ action_id: 'act-f2', type: 'actuate', target_system: 'signals', parameters: { phase: 'all_red' } });
    await h.dispatcher({ publishMqtt }).start();

    const [d1, d2] = await Promise.all([h.updates.until('act-f1'), h.updates.until('act-f2')]);
    assert.equal(d1.status, 'COMPLETED');
    assert.equal(d1.result, 'published to city/w119/commands/pump_7'); // not configured: the default topic
    assert.equal(d2.result, 'published to city/w119/signals/signals/set');
    const byTopic = new Map(published.map((p) => [p.topic, p]));
    const p1 = byTopic.get('city/w119/commands/pump_7')!;
    assert.equal(p1.qos, 1);
    const body = JSON.parse(p1.payload.toString('utf8'));
    assert.equal(body.action_id, 'act-f1');
    assert.equal(body.type, 'actuate');
    assert.deepEqual(body.parameters, { state: 'on' });
    assert.equal(body.zone_id, 'w119');
    assert.equal(body.attempt, 1);
  });

  it('(f) with MQTT off, an MQTT action fails at once with a clear reason; a failing publish is retried', async (t) => {
    const h = await harness(t);
    await h.insertAction({ action_id: 'act-off', type: 'actuate', target_system: 'pump_7' });
    await h.dispatcher({ publishMqtt: null }).start();
    const off = await h.updates.until('act-off');
    assert.equal(off.status, 'FAILED');
    assert.equal(off.attempts, 1);
    assert.match(off.last_error!, /MQTT is turned off on this node.*city\/w119\/commands\/pump_7/);

    const h2 = await harness(t);
    await h2.insertAction({ action_id: 'act-err', type: 'actuate', target_system: 'pump_7', max_attempts: 2 });
    await h2.dispatcher({ publishMqtt: async () => Promise.reject(new Error('broker queue full')) }).start();
    const failed = await h2.updates.until('act-err');
    assert.equal(failed.result, 'failed after 2 attempts: publish to city/w119/commands/pump_7 failed: broker queue full');
  });

  it('runs due actions by priority, then age, within the concurrency limit', async (t) => {
    const h = await harness(t);
    const rx = await receiver(t, () => ({ status: 200 }));
    await h.targets.put('traffic_control_system', { kind: 'webhook', url: rx.url });
    await h.insertAction({ action_id: 'low', priority: 1 });
    await h.insertAction({ action_id: 'high', priority: 9 });
    await h.insertAction({ action_id: 'mid', priority: 5 });
    const dispatcher = h.dispatcher({ options: { concurrency: 1 } });
    await dispatcher.start();
    await Promise.all(['low', 'high', 'mid'].map((id) => h.updates.until(id)));
    assert.deepEqual(rx.requests.map((r) => r.body.action_id), ['high', 'mid', 'low']);
  });

  it('(g) an action a suspension covers is SUSPENDED when it comes due, not sent; released, it runs once', async (t) => {
    const h = await harness(t);
    const rx = await receiver(t, () => ({ status: 200 }));
    await h.targets.put('traffic_control_system', { kind: 'webhook', url: rx.url });
    const holds = new SuspensionIndex(() => new ZoneTree([]));
    const stop = suspensionOf('zone', 'w119');
    holds.add(stop);
    const dispatcher = h.dispatcher({ holds });
    await dispatcher.start();
    await h.insertAction({ action_id: 'held-at-attempt' });
    await dispatcher.enqueue(['held-at-attempt']);
    const held = await h.updates.until('held-at-attempt', ['SUSPENDED']);
    assert.equal(held.attempts, 0);
    assert.match(held.result!, /^suspended: zone w119 is suspended \(flood drill; suspension s-zone-w119\)/);
    assert.equal(rx.requests.length, 0);
    assert.equal(dispatcher.stats().pending, 0, 'it left the schedule');

    holds.remove(stop);
    const change = await h.store.db.transaction().execute((tx) => dispatcher.releaseCovered(tx, { kind: 'zone', zoneIds: ['w119'] }));
    assert.deepEqual(change.released, ['held-at-attempt']);
    dispatcher.announce(change);
    const done = await h.updates.until('held-at-attempt');
    assert.equal(done.status, 'COMPLETED');
    assert.equal(done.attempts, 1);
    assert.deepEqual(h.updates.statuses('held-at-attempt'), ['SUSPENDED', 'PENDING', 'EXECUTING', 'COMPLETED']);
    assert.equal(rx.requests.length, 1);
  });

  it('(g) a new suspension holds PENDING actions at once, in its transaction; another suspension keeps them held', async (t) => {
    const h = await harness(t);
    const rx = await receiver(t, () => ({ status: 200 }));
    await h.targets.put('traffic_control_system', { kind: 'webhook', url: rx.url });
    const holds = new SuspensionIndex(() => new ZoneTree([]));
    const dispatcher = h.dispatcher({ holds });
    await h.insertAction({ action_id: 'bulk-1' });
    await h.insertAction({ action_id: 'bulk-2', status: 'HELD' });
    const ruleStop = suspensionOf('rule', 'flood_traffic_coordination');
    const zoneStop = suspensionOf('zone', 'w119');
    holds.add(ruleStop);
    holds.add(zoneStop);
    const change = await h.store.db.transaction().execute((tx) => dispatcher.holdCovered(tx, { kind: 'rule', ruleId: 'flood_traffic_coordination' }, ruleStop));
    assert.deepEqual(change.changed.map((c) => [c.row.action_id, c.row.status, c.zoneId]), [['bulk-1', 'SUSPENDED', 'w119']], 'PENDING only: HELD waits for its approval');
    dispatcher.announce(change);
    assert.deepEqual(h.updates.statuses('bulk-1'), ['SUSPENDED']);
    assert.equal((await h.action('bulk-2')).status, 'HELD');
    await dispatcher.start();

    // Resuming the rule leaves it to the zone stop, whose suspension its result now names.
    holds.remove(ruleStop);
    const partly = await h.store.db.transaction().execute((tx) => dispatcher.releaseCovered(tx, { kind: 'rule', ruleId: 'flood_traffic_coordination' }));
    assert.deepEqual(partly.released, []);
    assert.match((await h.action('bulk-1')).result, /zone w119 is suspended/);
    holds.remove(zoneStop);
    const rest = await h.store.db.transaction().execute((tx) => dispatcher.releaseCovered(tx, { kind: 'zone', zoneIds: ['w119'] }));
    dispatcher.announce(rest);
    assert.equal((await h.updates.until('bulk-1')).status, 'COMPLETED');
    assert.deepEqual(rx.requests.map((r) => r.body.action_id), ['bulk-1']);
  });

  it('ignores actions that are not runnable and ids it already holds', async (t) => {
    const h = await harness(t);
    const rx = await receiver(t, () => ({ status: 200 }));
    await h.targets.put('traffic_control_system', { kind: 'webhook', url: rx.url });
    await h.insertAction({ action_id: 'held', status: 'HELD' });
    await h.insertAction({ action_id: 'go' });
    const dispatcher = h.dispatcher();
    await dispatcher.start();
    await dispatcher.enqueue(['held', 'go', 'go', 'missing']);
    await h.updates.until('go');
    assert.deepEqual(rx.requests.map((r) => r.body.action_id), ['go']);
    assert.equal((await h.action('held')).status, 'HELD');
  });
});
