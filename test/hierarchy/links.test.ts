import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it, type TestContext } from 'node:test';
import pino from 'pino';
import { requires } from '../../src/auth/policy.js';
import { CityError } from '../../src/errors.js';
import { LinkInbox, type ApplyLinkMessage, type LinkResult } from '../../src/hierarchy/inbox.js';
import { linkRoutes } from '../../src/hierarchy/link-routes.js';
import { backoffMs, LinkSender, type LinkSenderOptions } from '../../src/hierarchy/link-sender.js';
import { createHttpApp, type CityApp } from '../../src/http/app.js';
import type { Store } from '../../src/store/store.js';
import { installTestPolicy } from '../helpers/policy.js';
import { suiteCleanup } from '../helpers/node.js';
import { openTestStore } from '../helpers/store.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The hierarchy's link layer (issue 5 §5): a child's durable outbox drained by a LinkSender over
 * real HTTP into a parent's idempotent inbox, on two real stores. The parent's `apply` writes
 * each message into its own `event_logs` inside the inbox transaction, so "applied exactly once"
 * is counted in the parent's database, not in test memory. The two stores are opened once for
 * the file; each test is its own child node (source) with its own outbox destination.
 */

const ADMIN_TOKEN = 'adm_links-test-0123456789abcdef';
const TENANT = 'default';

const fileCleanup = suiteCleanup();
after(() => fileCleanup.run());
let shared: Promise<{ child: Store; parent: Store }> | undefined;
/** The child's and the parent's store (PGlite, or PostgreSQL when DATABASE_URL is set), opened once for the file. */
function stores(): Promise<{ child: Store; parent: Store }> {
  shared ??= Promise.all([openTestStore(fileCleanup), openTestStore(fileCleanup)]).then(([child, parent]) => ({ child, parent }));
  return shared;
}
let nodes = 0;

/** A test's cleanups, run newest first: a sender stops before its receiver. */
function cleanups(t: TestContext): (fn: () => unknown) => void {
  const suite = suiteCleanup();
  t.after(() => suite.run());
  return suite.after;
}

const apply: ApplyLinkMessage = async (trx, message, source) => {
  await trx
    .insertInto('event_logs')
    .values({ tenant_id: TENANT, log_name: `link:${source}`, decision_id: message.message_id, event_id: String(message.seq), entry: JSON.stringify(message.payload ?? null) })
    .execute();
};

/** What the parent applied from `node`, in the order it applied it. */
async function appliedIds(parent: Store, node: string): Promise<string[]> {
  const rows = await parent.db.selectFrom('event_logs').select('decision_id').where('log_name', '=', `link:${node}`).orderBy('id').execute();
  return rows.map((r) => r.decision_id);
}

/** Queues `n` messages for the link's destination; message ids are `<node>/<prefix>-000`… */
async function queue(l: Pick<Link, 'child' | 'node' | 'destination'>, prefix: string, n: number, kind = 'report'): Promise<string[]> {
  const ids = Array.from({ length: n }, (_, i) => `${l.node}/${prefix}-${String(i).padStart(3, '0')}`);
  // One row at a time: the identity column then follows the order of `ids` on every backend.
  for (const [i, id] of ids.entries()) {
    await l.child.db.insertInto('outbox').values({ tenant_id: TENANT, message_id: id, destination: l.destination, kind, payload: JSON.stringify({ i, prefix }) }).execute();
  }
  return ids;
}

async function outboxRows(l: Pick<Link, 'child' | 'destination'>) {
  return l.child.db.selectFrom('outbox').select(['message_id', 'delivered_at', 'attempts', 'last_error']).where('destination', '=', l.destination).orderBy('id').execute();
}

/** A parent's HTTP side: the real app shape (error catalogue, policy) with only the link route. */
async function startReceiver(inbox: LinkInbox): Promise<{ app: CityApp; url: string }> {
  const app = await createHttpApp({ logger: pino({ level: 'silent' }), jsonBodyLimitBytes: 1 << 20, version: 'test' });
  installTestPolicy(app, ADMIN_TOKEN);
  await app.register(linkRoutes, { receive: (from, messages) => inbox.receive(from, messages, apply), policy: requires('configure') });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` };
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

interface Link {
  /** This test's child node: the inbox's source, the sender's from_node. */
  node: string;
  destination: string;
  child: Store;
  parent: Store;
  inbox: LinkInbox;
  sender: LinkSender;
  /** Where the sender sends next (url() reads it every attempt). */
  target: { url: string | null };
  defer: (fn: () => unknown) => void;
}

async function link(t: TestContext, options: Partial<LinkSenderOptions> = {}, withReceiver = true): Promise<Link> {
  const defer = cleanups(t);
  const { child, parent } = await stores();
  const node = `local-${++nodes}`;
  const destination = `parent-of-${node}`;
  const inbox = new LinkInbox({ db: parent.db, tenantId: TENANT });
  const target: { url: string | null } = { url: null };
  if (withReceiver) {
    const receiver = await startReceiver(inbox);
    defer(() => receiver.app.close());
    target.url = receiver.url;
  }
  const l: Omit<Link, 'sender'> = { node, destination, child, parent, inbox, target, defer };
  const sender = new LinkSender({ ...senderOptions(l), requestTimeoutMs: 5_000, ...options });
  defer(() => sender.close());
  return { ...l, sender };
}

async function sourceOf(l: Link) {
  return (await l.inbox.sources()).find((s) => s.source_node === l.node);
}

async function allDelivered(l: Link, expected: string[]): Promise<void> {
  await waitFor(`${expected.length} messages applied`, async () => (await appliedIds(l.parent, l.node)).length >= expected.length && (await l.sender.state()).pending === 0, 20_000);
  assert.deepEqual(await appliedIds(l.parent, l.node), expected, 'applied in queue order, each once');
  for (const row of await outboxRows(l)) assert.ok(row.delivered_at !== null, `${row.message_id} marked delivered`);
}

describe('links: durable outbox → idempotent inbox over HTTP', { timeout: 120_000 }, () => {
  it('delivers 50 queued messages in order, each applied exactly once, and marks them delivered', async (t) => {
    const states: string[] = [];
    const l = await link(t, { batchSize: 20, onState: (s) => states.push(s.state) });
    const sender = l.sender;
    const ids = await queue(l, 'a', 50);
    sender.start();
    await allDelivered(l, ids);

    const state = await sender.state();
    assert.equal(state.state, 'idle');
    assert.equal(state.delivered, 50);
    assert.equal(state.consecutive_failures, 0);
    assert.equal(state.oldest_pending_at, null);
    assert.ok(state.last_delivered_at !== null);
    assert.ok(states.includes('up') && states.at(-1) === 'idle', states.join(' → '));
    const source = await sourceOf(l);
    assert.equal(source?.applied, 50);
    assert.equal(source?.duplicates, 0);
    assert.equal(source?.out_of_order, 0);
    // seq is the child's outbox id: the parent saw them rising.
    const seqs = await l.parent.db.selectFrom('event_logs').select('event_id').where('log_name', '=', `link:${l.node}`).orderBy('id').execute();
    const numbers = seqs.map((r) => Number(r.event_id));
    assert.deepEqual(numbers, [...numbers].sort((a, b) => a - b));
    assert.equal(source?.high_seq, numbers.at(-1));

    // A poke wakes an idle sender at once (the idle poll is 5 s by default).
    const more = await queue(l, 'b', 3);
    sender.poke();
    const started = Date.now();
    await allDelivered(l, [...ids, ...more]);
    assert.ok(Date.now() - started < 2_000, `poked delivery took ${Date.now() - started} ms`);
    await sender.close();
  });

  it('keeps queuing while the receiver is down, says so, and delivers everything in order once it is back on a new port', async (t) => {
    const l = await link(t, {}, false);
    let receiver = await startReceiver(l.inbox);
    l.target.url = receiver.url;
    l.sender.start();
    const first = await queue(l, 'a', 5);
    l.sender.poke();
    await allDelivered(l, first);

    await receiver.app.close();
    const during = await queue(l, 'b', 20);
    l.sender.poke();
    const down = await waitFor('the sender to report the link down', async () => {
      const s = await l.sender.state();
      // next_attempt_at is null while a retry is in flight: catch the sender between two tries.
      return s.state === 'down' && s.consecutive_failures >= 2 && s.next_attempt_at !== null ? s : undefined;
    });
    assert.equal(down.pending, 20);
    assert.ok(down.oldest_pending_at !== null);
    assert.match(down.last_error ?? '', /^delivery to parent-of-local-\d+ at http:\/\/127\.0\.0\.1:\d+\/api\/v1\/layer\/messages failed: .*ECONNREFUSED/);
    assert.ok(down.next_attempt_at !== null, 'a retry is scheduled');
    const head = (await outboxRows(l)).find((r) => r.message_id === `${l.node}/b-000`)!;
    assert.ok(head.attempts >= 1, 'the failed attempts are counted on the first pending row');
    assert.match(head.last_error ?? '', /ECONNREFUSED/);
    assert.equal((await outboxRows(l)).find((r) => r.message_id === `${l.node}/b-001`)!.attempts, 0, 'later rows were not attempted');

    receiver = await startReceiver(l.inbox);
    l.defer(() => receiver.app.close());
    l.target.url = receiver.url;
    await allDelivered(l, [...first, ...during]);
    const up = await l.sender.state();
    assert.equal(up.consecutive_failures, 0);
    assert.equal(up.last_error, null);
    assert.equal((await sourceOf(l))?.duplicates, 0);
  });

  it('resends a batch whose acknowledgement was lost; the inbox answers duplicate and applies nothing twice', async (t) => {
    const l = await link(t, { batchSize: 10 });
    const receiverUrl = l.target.url!;
    // A proxy that forwards each request to the receiver and, the first time, drops the
    // connection instead of passing the (already committed) answer back.
    const answers: { status: number; results: LinkResult[] }[] = [];
    let dropped = 0;
    const proxy = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const upstream = await fetch(receiverUrl + req.url, { method: req.method, headers: { 'content-type': 'application/json', authorization: String(req.headers.authorization) }, body: Buffer.concat(chunks) });
      const text = await upstream.text();
      answers.push({ status: upstream.status, results: (JSON.parse(text) as { results: LinkResult[] }).results });
      if (dropped++ === 0) return void req.socket.destroy();
      res.writeHead(upstream.status, { 'content-type': 'application/json' }).end(text);
    });
    const proxyUrl = await listen(proxy);
    l.defer(() => closeServer(proxy));
    l.target.url = proxyUrl;

    const ids = await queue(l, 'a', 10);
    l.sender.start();
    await allDelivered(l, ids);

    assert.ok(answers.length >= 2, `the batch was sent again (${answers.length} requests)`);
    assert.deepEqual(answers[0]!.results.map((r) => r.status), Array(10).fill('applied'));
    assert.deepEqual(answers[1]!.results, ids.map((message_id) => ({ message_id, status: 'duplicate' })));
    assert.equal((await appliedIds(l.parent, l.node)).length, 10, 'applied once');
    const rows = await outboxRows(l);
    assert.equal(rows[0]!.attempts, 1, 'the lost acknowledgement counted as one failed attempt');
    assert.match(rows[0]!.last_error ?? '', /fetch failed|socket|terminated/i);
    const source = await sourceOf(l);
    assert.equal(source?.applied, 10);
    assert.equal(source?.duplicates, 10);
  });

  it('retries a refused batch with backoff, naming the status and the node’s error, and applies none of it until it is fixed', async (t) => {
    const l = await link(t, { batchSize: 10 });
    const ids = [...(await queue(l, 'a', 2)), ...(await queue(l, 'bad', 1, '')), ...(await queue(l, 'c', 1))];
    l.sender.start();
    const refused = await waitFor('two refusals', async () => {
      const s = await l.sender.state();
      return s.consecutive_failures >= 2 ? s : undefined;
    });
    assert.equal(refused.state, 'down');
    assert.match(refused.last_error ?? '', /failed: HTTP 400: CITY_ERR_REQUEST_INVALID: request is invalid: body\.messages\.2\.kind: must NOT have fewer than 1 characters/);
    assert.deepEqual(await appliedIds(l.parent, l.node), [], 'nothing of the refused batch was applied');
    assert.equal((await l.sender.state()).pending, 4);

    await l.child.db.updateTable('outbox').set({ kind: 'report' }).where('message_id', '=', `${l.node}/bad-000`).execute();
    await allDelivered(l, ids);
    assert.ok((await outboxRows(l))[0]!.attempts >= 2);
  });

  it('close() returns promptly during a backoff wait and during a request in flight', async (t) => {
    const l = await link(t, { backoff: { baseMs: 10_000, maxMs: 10_000, jitter: false } }, false);
    // A port nothing listens on: connections are refused at once.
    const gone = createServer();
    l.target.url = await listen(gone);
    await closeServer(gone);
    await queue(l, 'a', 1);
    l.sender.start();
    const down = await waitFor('the first failure', async () => ((await l.sender.state()).state === 'down' ? l.sender.snapshot() : undefined));
    assert.ok(Date.parse(down.next_attempt_at!) - Date.now() > 5_000, 'waiting the full base delay without jitter');
    let started = Date.now();
    await l.sender.close();
    assert.ok(Date.now() - started < 500, `close during backoff took ${Date.now() - started} ms`);

    // A receiver that accepts the request and never answers.
    const silent = createServer(() => {});
    const silentUrl = await listen(silent);
    l.defer(() => closeServer(silent));
    let requests = 0;
    silent.on('request', () => requests++);
    const hanging = new LinkSender({ ...senderOptions(l), url: () => silentUrl, requestTimeoutMs: 60_000 });
    l.defer(() => hanging.close());
    hanging.start();
    await waitFor('the request to arrive', async () => requests > 0);
    started = Date.now();
    await hanging.close();
    assert.ok(Date.now() - started < 500, `close during a request took ${Date.now() - started} ms`);
    assert.equal((await outboxRows(l))[0]!.delivered_at, null, 'an aborted request delivers nothing');
  });

  it('times out a silent receiver and retries', async (t) => {
    const l = await link(t, { requestTimeoutMs: 100 }, false);
    const silent = createServer(() => {});
    l.target.url = await listen(silent);
    l.defer(() => closeServer(silent));
    await queue(l, 'a', 1);
    l.sender.start();
    const s = await waitFor('a timeout', async () => ((await l.sender.state()).consecutive_failures >= 2 ? l.sender.snapshot() : undefined));
    assert.match(s.last_error ?? '', /no answer within 100 ms/);
  });

  it('reports a missing address as down without counting an attempt on the row', async (t) => {
    const l = await link(t, {}, false);
    await queue(l, 'a', 1);
    l.sender.start();
    const s = await waitFor('down', async () => ((await l.sender.state()).state === 'down' ? l.sender.snapshot() : undefined));
    assert.match(s.last_error ?? '', /no address is known for it yet/);
    assert.equal((await outboxRows(l))[0]!.attempts, 0);
  });
});

describe('LinkInbox', { timeout: 60_000 }, () => {
  it('applies new ids once, answers duplicates, counts a new id below the high-water mark, and refuses bad batches whole', async () => {
    const { parent } = await stores();
    const warnings: string[] = [];
    const inbox = new LinkInbox({ db: parent.db, tenantId: TENANT, log: { warn: (_obj: unknown, msg?: string) => void warnings.push(msg ?? '') } as never });
    const m = (id: string, seq: number | null) => ({ message_id: id, kind: 'report', seq, payload: { id } });

    assert.deepEqual(
      (await inbox.receive('inbox-1', [m('x1', 1), m('x2', 2), m('x2', 2)], apply)).map((r) => r.status),
      ['applied', 'applied', 'duplicate'],
      'an id repeated inside a batch is applied at its first occurrence',
    );
    assert.deepEqual((await inbox.receive('inbox-1', [m('x2', 2), m('x3', 3)], apply)).map((r) => r.status), ['duplicate', 'applied']);
    // Ids decide: a new id with an old sequence number is applied, and counted.
    assert.deepEqual((await inbox.receive('inbox-1', [m('x0', 0)], apply)).map((r) => r.status), ['applied']);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /1 new message\(s\) from inbox-1 arrived below its highest sequence number/);
    // Another source's ids are its own.
    assert.deepEqual((await inbox.receive('inbox-2', [m('x1', 1)], apply)).map((r) => r.status), ['applied']);
    assert.deepEqual(await appliedIds(parent, 'inbox-1'), ['x1', 'x2', 'x3', 'x0']);
    const sources = (await inbox.sources()).filter((s) => s.source_node.startsWith('inbox-'));
    assert.deepEqual(
      sources.map((s) => [s.source_node, s.high_seq, s.applied, s.duplicates, s.out_of_order]),
      [
        ['inbox-1', 3, 4, 2, 1],
        ['inbox-2', 1, 1, 0, 0],
      ],
    );

    // One bad message refuses the batch before anything is written, naming its index.
    for (const [bad, reason] of [
      [{ kind: 'report' }, /link message 1 from inbox-1 is invalid: message_id is missing; nothing of this batch was applied/],
      [{ message_id: 'y2', kind: '' }, /message 1 .* kind is missing/],
      [{ message_id: 'y2', kind: 'r', seq: -1 }, /message 1 .* seq must be a whole number/],
      [null, /message 1 .* not an object/],
    ] as const) {
      await assert.rejects(inbox.receive('inbox-1', [m('y1', 10), bad as never], apply), (err: unknown) => {
        assert.ok(err instanceof CityError);
        assert.equal(err.code, 'CITY_ERR_LINK_MESSAGE_INVALID');
        assert.equal(err.status, 422);
        assert.equal(err.details.index, 1);
        assert.match(err.message, reason);
        return true;
      });
    }
    assert.deepEqual(await appliedIds(parent, 'inbox-1'), ['x1', 'x2', 'x3', 'x0']);

    // An apply that throws rolls the message's id back with it: the resend is applied, not a duplicate.
    let fail = true;
    const flaky: ApplyLinkMessage = async (trx, message, source) => {
      await apply(trx, message, source);
      if (fail && message.message_id === 'z2') throw new Error('apply failed');
    };
    await assert.rejects(inbox.receive('inbox-1', [m('z1', 11), m('z2', 12)], flaky), /apply failed/);
    assert.deepEqual(await appliedIds(parent, 'inbox-1'), ['x1', 'x2', 'x3', 'x0']);
    fail = false;
    assert.deepEqual((await inbox.receive('inbox-1', [m('z1', 11), m('z2', 12)], flaky)).map((r) => r.status), ['applied', 'applied']);
    assert.deepEqual(await appliedIds(parent, 'inbox-1'), ['x1', 'x2', 'x3', 'x0', 'z1', 'z2']);
  });

  it('serves POST /api/v1/layer/messages only through the route policy it is given', async (t) => {
    const defer = cleanups(t);
    const { parent } = await stores();
    const inbox = new LinkInbox({ db: parent.db, tenantId: TENANT });
    const { app } = await startReceiver(inbox);
    defer(() => app.close());
    const body = { from_node: 'route-1', messages: [{ message_id: 'p1', kind: 'report', seq: 1, payload: {} }] };
    const anonymous = await app.inject({ method: 'POST', url: '/api/v1/layer/messages', payload: body });
    assert.equal(anonymous.statusCode, 401);
    const ok = await app.inject({ method: 'POST', url: '/api/v1/layer/messages', headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, payload: body });
    assert.equal(ok.statusCode, 200);
    assert.deepEqual(ok.json(), { results: [{ message_id: 'p1', status: 'applied' }] });
    const big = await app.inject({ method: 'POST', url: '/api/v1/layer/messages', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, payload: JSON.stringify({ ...body, pad: 'x'.repeat(5 << 20) }) });
    assert.equal(big.statusCode, 413);
  });
});

describe('backoffMs', () => {
  it('doubles from the base, caps at the maximum, and spreads with full jitter', () => {
    const b = { baseMs: 100, maxMs: 1_000, jitter: false };
    assert.deepEqual([1, 2, 3, 4, 5, 50].map((n) => backoffMs(b, n)), [100, 200, 400, 800, 1_000, 1_000]);
    assert.equal(backoffMs({ ...b, jitter: true }, 3, () => 0.5), 200);
    assert.equal(backoffMs({ ...b, jitter: true }, 3, () => 0), 1);
  });
});

function senderOptions(l: Omit<Link, 'sender'>): LinkSenderOptions {
  return {
    db: l.child.db,
    tenantId: TENANT,
    nodeId: l.node,
    destination: l.destination,
    url: () => l.target.url,
    headers: () => ({ authorization: `Bearer ${ADMIN_TOKEN}` }),
    backoff: { baseMs: 20, maxMs: 200, jitter: true },
  };
}
