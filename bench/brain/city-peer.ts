/**
 * The city node's side of `npm run bench:brain`: a real `city start` process with the workload's
 * plugins (≥ 20 action triggers) and correlation rules loaded, on PGlite or PostgreSQL, fed the
 * workload's batches over MQTT QoS 1 (JSON arrays on `city/{zone}/events/{plugin}`, one MQTT
 * connection per plugin, authenticated by its key) exactly as Node-RED is fed in
 * node-red-peer.ts. Decisions are read from the node's live stream (WebSocket
 * `/api/v1/stream?kinds=decision`); latency is from the PUBACK of the message whose event made
 * the decision possible (the expected decision's `cause`) to the decision's arrival.
 *
 * The feeder is closed-loop like the Node-RED peer's: at most `inFlight` unacknowledged messages,
 * and at most `maxLagBatches` messages that should produce decisions ahead of the decisions
 * received, so the latency is the engine's, not a queue's the feeder built. Every decision is
 * stored before it is published (the decision writer commits first), so persistence is on.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import WebSocket from 'ws';
import { PROJECT_ROOT } from '../../src/node/paths.js';
import { spawnCity, type NodeProcess } from '../../test/helpers/process.js';
import { cpuSeconds, LatencyRecorder, progress } from '../report.js';
import { PLUGIN_IDS, batchEvents, expectedDecisions, generateEvents, writeWorkloadFiles, type Batch, type BrainRunResult, type EventSet } from './workload.js';

export interface CityPeerOptions {
  events: EventSet;
  /** PostgreSQL URL of a fresh database, or undefined for PGlite in a temporary folder. */
  databaseUrl?: string;
  dataDir: string;
  batchSize?: number;
  inFlight?: number;
  maxLagBatches?: number;
  warmupEvents?: number;
  /** Write CPU profiles of the node's threads into this folder. */
  profileDir?: string;
}

export interface CityPeerResult extends BrainRunResult {
  /** CPU seconds of the node process (all its threads) during the measured run, and the wall time. */
  cpu: { nodeSec: number; wallSec: number };
}

interface Received {
  rule: string;
  eventIds: string[];
  atMs: number;
}

export async function runCityPeer(opts: CityPeerOptions): Promise<CityPeerResult> {
  const set = opts.events;
  const batchSize = opts.batchSize ?? 500;
  const inFlight = opts.inFlight ?? 16;
  const maxLag = opts.maxLagBatches ?? 8;
  const notes: string[] = [];
  const batches = batchEvents(set, batchSize);
  const expected = expectedDecisions(set, batches);
  const workDir = await mkdtemp(join(os.tmpdir(), 'city-brain-bench-'));
  const { pluginsDir, rulesDir } = await writeWorkloadFiles(workDir);
  const nodeArgs = opts.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.profileDir}`] : [];
  let node: NodeProcess | null = null;
  const clients: MqttClient[] = [];
  let ws: WebSocket | null = null;
  try {
    node = await spawnCity(
      ['--data', opts.dataDir, '--port', '0', '--mqtt-port', '0', '--zones', join(PROJECT_ROOT, 'examples/cities/chennai/city.geojson'), '--plugins', pluginsDir, '--rules', rulesDir],
      { DATABASE_URL: opts.databaseUrl, CITY_LOG_LEVEL: 'error' },
      120_000,
      nodeArgs,
    );
    const mqttUrl = /MQTT\s+(mqtt:\/\/\S+)/.exec(node.output())?.[1];
    if (!mqttUrl) throw new Error('the node printed no MQTT address');
    for (const id of PLUGIN_IDS) {
      const key = node.pluginKeys[id];
      if (!key) throw new Error(`the node printed no key for plugin ${id}`);
      clients.push(await mqtt.connectAsync(mqttUrl, { username: id, password: key, clientId: `bench-${id}`, reconnectPeriod: 0 }));
    }

    // The live stream: every decision, as soon as it is stored.
    const received: Received[] = [];
    let onDecision: () => void = () => {};
    ws = new WebSocket(`${node.url.replace('http', 'ws')}/api/v1/stream?kinds=decision&token=${node.adminToken}`);
    await new Promise<void>((resolve, reject) => {
      ws!.once('error', reject);
      ws!.on('message', (data) => {
        const m = JSON.parse(String(data)) as { kind: string; decision?: { rule: { id: string }; event_ids: string[] } };
        if (m.kind === 'hello') resolve();
        else if (m.kind === 'dropped') notes.push(`the live stream dropped ${JSON.stringify(m)}`);
        else if (m.kind === 'decision' && m.decision) {
          received.push({ rule: m.decision.rule.id, eventIds: m.decision.event_ids, atMs: performance.now() });
          onDecision();
        }
      });
    });

    // Warm-up on another seed's events (the JIT, the windows' first allocations), then forget them.
    const warmN = opts.warmupEvents ?? Math.min(50_000, Math.floor(set.events.length / 4));
    if (warmN > 0) {
      const warm = generateEvents(warmN, set.seed + 1000, { startMs: set.startMs - 86_400_000, ratePerSec: set.ratePerSec });
      progress(`city · warming up with ${warmN.toLocaleString('en')} events`);
      await feed(clients, warm, batchEvents(warm, batchSize), new Float64Array(0), { inFlight, gate: async () => {} });
      const quietSince = performance.now();
      let last = received.length;
      while (performance.now() - quietSince < 60_000) {
        await sleep(500);
        if (received.length === last) break;
        last = received.length;
      }
      received.length = 0;
    }

    // Closed loop: count, per message, the decisions it should cause; a message is "decided" once all arrived.
    const batchOf = new Int32Array(set.events.length).fill(-1);
    batches.forEach((b, k) => b.indices.forEach((i) => (batchOf[i] = k)));
    const remaining = new Int32Array(batches.length);
    for (const d of expected.decisions) remaining[batchOf[d.cause]!]!++;
    const byKey = new Map<string, number[]>();
    expected.decisions.forEach((d, i) => {
      const key = `${d.rule}|${set.events[d.trigger]!.event_id as string}`;
      const list = byKey.get(key);
      if (list) list.push(i);
      else byKey.set(key, [i]);
    });
    const matched = new Uint8Array(expected.decisions.length);
    let decidedBatches = 0;
    let extra = 0;
    let consumed = 0;
    const ackAt = new Float64Array(batches.length);
    const rec = new LatencyRecorder();
    /** Decisions later than a second, by rule: where a tail comes from. */
    const slow = new Map<string, number>();
    let beforeAck = 0;
    const settle = (): void => {
      for (; consumed < received.length; consumed++) {
        const r = received[consumed]!;
        let hit = -1;
        for (const id of r.eventIds) {
          const list = byKey.get(`${r.rule}|${id}`);
          const i = list?.find((x) => matched[x] === 0);
          if (i !== undefined) {
            hit = i;
            break;
          }
        }
        if (hit < 0) {
          extra++;
          continue;
        }
        matched[hit] = 1;
        const d = expected.decisions[hit]!;
        const b = batchOf[d.cause]!;
        if (d.kind !== 'absence') {
          // The node publishes a decision as it answers the message, so the decision can beat
          // the PUBACK to the feeder: that counts as 0 ms.
          if (ackAt[b] === 0) beforeAck++;
          const ms = ackAt[b] === 0 ? 0 : Math.max(0, r.atMs - ackAt[b]!);
          rec.add(ms);
          if (ms > 1000) slow.set(d.rule, (slow.get(d.rule) ?? 0) + 1);
        }
        if (--remaining[b]! === 0) decidedBatches++;
      }
    };
    const withDecisions = new Int32Array(batches.length + 1);
    for (let b = 0; b < batches.length; b++) withDecisions[b + 1] = withDecisions[b]! + (remaining[b]! > 0 ? 1 : 0);
    let wake: (() => void) | null = null;
    onDecision = () => {
      wake?.();
    };
    const gate = async (b: number): Promise<void> => {
      settle();
      while (withDecisions[b]! - decidedBatches > maxLag) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 50);
        });
        wake = null;
        settle();
      }
    };

    const cpu0 = cpuSeconds(node.child.pid);
    progress(`city · sending ${set.events.length.toLocaleString('en')} events in ${batches.length.toLocaleString('en')} messages of ≤ ${batchSize}`);
    const fed = await feed(clients, set, batches, ackAt, { inFlight, gate });
    const want = expected.decisions.length;
    let lastCount = -1;
    let lastChange = performance.now();
    while (true) {
      settle();
      const got = received.length - extra;
      if (got >= want) break;
      if (received.length !== lastCount) {
        lastCount = received.length;
        lastChange = performance.now();
      }
      if (performance.now() - lastChange > 10_000) break;
      await sleep(50);
    }
    settle();
    const endMs = Math.max(fed.lastAckMs, received.length > 0 ? received[received.length - 1]!.atMs : 0);
    const wallSec = (endMs - fed.firstMs) / 1000;
    const nodeSec = cpuSeconds(node.child.pid) - cpu0;

    const byRule: Record<string, { got: number; expected: number }> = {};
    expected.decisions.forEach((d, i) => {
      const r = (byRule[d.rule] ??= { got: 0, expected: 0 });
      r.expected++;
      if (matched[i]) r.got++;
    });
    const missing = matched.reduce((n, m) => n + (m ? 0 : 1), 0);
    const errors = node.output().split('\n').filter((l) => /"level":(50|60)/.test(l));
    if (errors.length > 0) notes.push(`the node logged ${errors.length} errors; first: ${errors[0]!.slice(0, 300)}`);
    notes.push(`the node used ${nodeSec.toFixed(1)} CPU s over ${wallSec.toFixed(1)} s (${(nodeSec / wallSec).toFixed(2)} cores; database server processes not counted)`);
    if (beforeAck > 0) notes.push(`${beforeAck} decisions arrived before their message's PUBACK (counted as 0 ms)`);
    if (slow.size > 0) notes.push(`decisions later than 1 s, by rule: ${[...slow].map(([r, n]) => `${r} ${n}`).join(', ')}`);
    if (expected.absencePending > 0) notes.push(`${expected.absencePending} absence triggers still waiting at the end (no decision expected)`);
    return {
      events: set.events.length,
      batchSize,
      eventsPerSec: set.events.length / wallSec,
      eventsPerSecAcked: set.events.length / ((fed.lastAckMs - fed.firstMs) / 1000),
      decisions: received.length,
      expectedDecisions: want,
      missing,
      extra,
      byRule,
      p50Ms: rec.percentile(50),
      p95Ms: rec.percentile(95),
      p99Ms: rec.percentile(99),
      cpu: { nodeSec, wallSec },
      notes,
    };
  } finally {
    ws?.close();
    for (const c of clients) await c.endAsync(true).catch(() => {});
    if (node) {
      node.child.kill('SIGTERM');
      const code = await Promise.race([node.exited, sleep(30_000).then(() => 'timeout')]);
      if (code === 'timeout') node.child.kill('SIGKILL');
    }
    await rm(workDir, { recursive: true, force: true });
  }
}

/** Publishes the batches in order, at most `inFlight` unacknowledged, recording each PUBACK time. */
async function feed(
  clients: MqttClient[],
  set: EventSet,
  batches: readonly Batch[],
  ackAt: Float64Array,
  o: { inFlight: number; gate: (b: number) => Promise<void> },
): Promise<{ firstMs: number; lastAckMs: number }> {
  let open = 0;
  let lastAckMs = 0;
  let failure: Error | null = null;
  let release: (() => void) | null = null;
  const firstMs = performance.now();
  for (let b = 0; b < batches.length; b++) {
    await o.gate(b);
    while (open >= o.inFlight) await new Promise<void>((resolve) => (release = resolve));
    if (failure) throw failure;
    const batch = batches[b]!;
    const body = Buffer.from(JSON.stringify(Array.from(batch.indices, (i) => set.events[i])));
    const plugin = PLUGIN_IDS[batch.plugin]!;
    open++;
    clients[batch.plugin]!.publishAsync(`city/chennai/events/${plugin}`, body, { qos: 1 }).then(
      () => {
        const now = performance.now();
        if (b < ackAt.length) ackAt[b] = now;
        lastAckMs = now;
        open--;
        release?.();
      },
      (err: Error) => {
        failure = err;
        open--;
        release?.();
      },
    );
  }
  while (open > 0) await new Promise<void>((resolve) => (release = resolve));
  if (failure) throw failure;
  return { firstMs, lastAckMs };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

