import assert from 'node:assert/strict';
import { after, before, test, type TestContext } from 'node:test';
import type { AddressInfo } from 'node:net';
import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { LiveStreamHub, liveStreamRoutes, type LiveStreamHubOptions } from '../../src/brain/live-stream.js';
import { BrainBus } from '../../src/decisions/bus.js';
import type { DecisionView } from '../../src/decisions/types.js';
import type { ZoneService } from '../../src/geo/zone-service.js';
import { createTestDatabase } from '../helpers/store.js';
import { ADMIN_TOKEN, chennaiStore, decide, match, NODE, summary, testApp, W001, W119 } from './state-fixtures.js';

const T0 = Date.parse('2025-12-03T14:05:00Z');
const AUTH = { authorization: `Bearer ${ADMIN_TOKEN}` };

// One store with the Chennai zones for the whole file (loading them takes seconds); a bus, hub
// and app per test.
const cleanups: Array<() => unknown> = [];
let zones: ZoneService;
before(async () => {
  const suite = { after: (fn: () => unknown) => void cleanups.push(fn) };
  zones = (await chennaiStore(suite, await createTestDatabase())).zones;
});
after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

async function setup(t: TestContext, options: Partial<LiveStreamHubOptions> = {}) {
  const bus = new BrainBus((err) => {
    throw err;
  });
  const hub = new LiveStreamHub({ bus, zones, nodeId: NODE, ...options });
  const app = await testApp(t, zones);
  await app.register(liveStreamRoutes, { hub });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/api/v1/stream`;
  return { hub, bus, app, url };
}

interface TestClient {
  ws: WebSocket;
  messages: any[];
  closed: Promise<{ code: number; reason: string }>;
  /** Resolves with the first message (from the start) that passes `test`. */
  waitFor(test: (m: any) => boolean, timeoutMs?: number): Promise<any>;
}

/** Opens a socket; resolves once open, or rejects with the HTTP status the upgrade was refused with. */
function connect(url: string, headers: Record<string, string> = AUTH): Promise<TestClient> {
  const ws = new WebSocket(url, { headers });
  const messages: any[] = [];
  ws.on('message', (data) => messages.push(JSON.parse(String(data))));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
  const client: TestClient = {
    ws,
    messages,
    closed,
    async waitFor(test, timeoutMs = 5000) {
      for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(5)) {
        const found = messages.find(test);
        if (found) return found;
      }
      throw new Error(`no such message within ${timeoutMs} ms; got ${JSON.stringify(messages.map((m) => m.kind))}`);
    },
  };
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(client));
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })));
    ws.once('error', reject);
  });
}

function decision(rule: string, eventType: string, at: typeof W119, severity: string, ms: number): DecisionView {
  return decide(match({ rule, trigger: summary(`e-${rule}-${ms}`, eventType, at, ms - 20, severity) }), ms).view;
}

test('a client gets hello, then only the kinds it asked for; events are made only while someone wants them', async (t) => {
  const { hub, bus, url } = await setup(t);
  const decisions = await connect(`${url}?kinds=decision,action`);
  t.after(() => decisions.ws.terminate());
  assert.deepEqual(await decisions.waitFor((m) => m.kind === 'hello'), {
    kind: 'hello',
    node_id: NODE,
    filters: { kinds: ['decision', 'action'], zone: null, event_type: null, min_severity: null },
    max_buffered_bytes: 4 * 1024 * 1024,
  });
  assert.equal(hub.wantsEvents(), false);

  // A browser cannot set headers on a WebSocket: the token goes in the query.
  const events = await connect(`${url}?kinds=event&token=${ADMIN_TOKEN}`, {});
  await events.waitFor((m) => m.kind === 'hello');
  assert.equal(hub.wantsEvents(), true);

  bus.publish({ kind: 'event', event: summary('e-1', 'flood_warning', W119, T0) });
  const d = decision('flood_traffic_coordination', 'flood_warning', W119, 'high', T0);
  bus.publish({ kind: 'decision', decision: d });
  const gotEvent = await events.waitFor((m) => m.kind === 'event');
  assert.equal(gotEvent.event.event_id, 'e-1');
  assert.equal(gotEvent.event.zone_id, W119.zoneId, 'events are sent in the API’s snake_case');
  assert.equal((await decisions.waitFor((m) => m.kind === 'decision')).decision.decision_id, d.decision_id);
  assert.ok(!decisions.messages.some((m) => m.kind === 'event'));

  events.ws.close();
  await events.closed;
  for (let i = 0; i < 100 && hub.wantsEvents(); i++) await sleep(5);
  assert.equal(hub.wantsEvents(), false, 'no summaries once the last event watcher has gone');
  assert.equal(hub.clientCount, 1);
});

test('filters: a zone means its subtree; min_severity and event_type apply to decisions and their actions', async (t) => {
  const { bus, url } = await setup(t);
  const open = async (query: string) => {
    const c = await connect(`${url}?${query}`);
    t.after(() => c.ws.terminate());
    await c.waitFor((m) => m.kind === 'hello');
    return c;
  };
  const inZone = await open('zone=chennai-z09');
  const severe = await open('min_severity=high&kinds=decision,action');
  const floods = await open('event_type=flood_warning');

  const low = decision('congestion_notice', 'traffic_status', W001, 'low', T0);
  const critical = decision('flood_traffic_coordination', 'flood_warning', W119, 'critical', T0 + 1);
  bus.publish({ kind: 'event', event: summary('jam', 'traffic_status', W001, T0, 'low') });
  bus.publish({ kind: 'event', event: summary('flood', 'flood_warning', W119, T0, 'high') });
  bus.publish({ kind: 'decision', decision: low });
  bus.publish({ kind: 'decision', decision: critical });
  bus.publish({ kind: 'action', action: { ...low.actions[0]!, status: 'COMPLETED' }, zone_id: W001.zoneId });
  bus.publish({ kind: 'action', action: { ...critical.actions[0]!, status: 'COMPLETED' }, zone_id: W119.zoneId });

  const seen = async (c: Awaited<ReturnType<typeof open>>) => {
    await c.waitFor((m) => m.kind === 'action' && m.action.decision_id === critical.decision_id);
    return c.messages.slice(1).map((m) => `${m.kind}:${m.event?.event_id ?? m.decision?.decision_id ?? m.action?.decision_id}`);
  };
  const criticalOnes = [`decision:${critical.decision_id}`, `action:${critical.decision_id}`];
  assert.deepEqual(await seen(inZone), ['event:flood', ...criticalOnes]);
  assert.deepEqual(await seen(severe), criticalOnes);
  assert.deepEqual(await seen(floods), ['event:flood', ...criticalOnes], "a decision matches on its events' types");
});

test('an unknown zone is refused with an error message and close code 4404', async (t) => {
  const { url } = await setup(t);
  const c = await connect(`${url}?zone=atlantis`);
  const { code } = await c.closed;
  assert.equal(code, 4404);
  assert.equal(c.messages[0].kind, 'error');
  assert.equal(c.messages[0].error.code, 'CITY_ERR_ZONE_NOT_FOUND');
});

test('without the admin token the upgrade is refused with 401; a bad filter with 400', async (t) => {
  const { url, hub } = await setup(t);
  await assert.rejects(connect(url, {}), { status: 401 });
  await assert.rejects(connect(`${url}?token=adm_wrong`, {}), { status: 401 });
  await assert.rejects(connect(url, { authorization: 'Bearer adm_wrong' }), { status: 401 });
  await assert.rejects(connect(`${url}?kinds=everything`), { status: 400 });
  await assert.rejects(connect(`${url}?min_severity=urgent`), { status: 400 });
  assert.equal(hub.clientCount, 0);
});

test('a slow consumer has messages dropped, not buffered without bound, and hears how many once drained', async (t) => {
  const limit = 64 * 1024;
  const { hub, bus, url } = await setup(t, { maxBufferedBytes: limit, drainCheckMs: 10 });
  const slow = await connect(`${url}?kinds=decision`);
  t.after(() => slow.ws.terminate());
  await slow.waitFor((m) => m.kind === 'hello');
  slow.ws.pause(); // stops reading: the kernel buffers fill, then the server's

  const big = decision('flood_traffic_coordination', 'flood_warning', W119, 'high', T0);
  big.rationale = { ...big.rationale, padding: 'x'.repeat(16 * 1024) };
  const messageBytes = JSON.stringify({ kind: 'decision', decision: big }).length;
  const serverBuffered = () => hub.stats().max_buffered_bytes;
  let published = 0;
  for (let round = 0; round < 60 && hub.stats().dropping === 0; round++) {
    for (let i = 0; i < 200; i++, published++) bus.publish({ kind: 'decision', decision: big });
    await tick(); // let the socket write what the kernel takes
  }
  assert.equal(hub.stats().dropping, 1, `still not dropping after ${published} messages`);
  for (let i = 0; i < 500; i++) bus.publish({ kind: 'decision', decision: big });
  assert.ok(serverBuffered() <= limit + messageBytes, `server buffers ${serverBuffered()} bytes for the socket; the limit is ${limit}`);

  slow.ws.resume();
  const notice = await slow.waitFor((m) => m.kind === 'dropped', 20_000);
  assert.ok(notice.count >= 500, `dropped ${notice.count}`);
  const after = decision('after_the_drop', 'flood_warning', W119, 'high', T0 + 1);
  bus.publish({ kind: 'decision', decision: after });
  await slow.waitFor((m) => m.kind === 'decision' && m.decision.decision_id === after.decision_id, 20_000);
  const kinds = slow.messages.map((m) => m.kind);
  assert.ok(kinds.indexOf('dropped') < kinds.lastIndexOf('decision'), 'the notice comes before what follows it');
  assert.equal(hub.stats().dropping, 0);
});

test('closing the app closes the streams', async (t) => {
  const { app, url, hub } = await setup(t);
  const c = await connect(url);
  await c.waitFor((m) => m.kind === 'hello');
  await app.close();
  // 1001 (going away) from the hub; 1005 when @fastify/websocket's own preClose ran first.
  const { code } = await c.closed;
  assert.ok([1001, 1005].includes(code), `closed with ${code}`);
  for (let i = 0; i < 100 && hub.clientCount > 0; i++) await sleep(5);
  assert.equal(hub.clientCount, 0);
});
