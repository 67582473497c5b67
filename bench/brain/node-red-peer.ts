/**
 * The `bench:brain` peer: Node-RED (npm `node-red`, pinned below) running the workload's 22 action
 * triggers and 5 correlation rules as a flow, fed the same events over MQTT (Mosquitto), with
 * every decision appended to a file before it is published ("persistence on").
 *
 *   mosquitto ◄── QoS 1 JSON arrays ── this process ──► latency = decision received − PUBACK
 *       │                                   ▲          of the message that carried the event
 *       ▼                                   │          that completed the decision
 *   Node-RED: mqtt in → action triggers → correlations → file (append) → mqtt out
 *
 * Node-RED is installed on demand into bench/.peers/node-red (git-ignored), not as a project
 * dependency. Mosquitto acknowledges a publish as soon as it has it, whatever Node-RED does with
 * it, so there are two ways to feed:
 *
 * - `open`: as fast as the broker acknowledges (at most `inFlight` unacknowledged publishes);
 *   whatever Node-RED cannot keep up with queues in the broker and in Node-RED, and the latency
 *   shows that queue.
 * - `closed`: the same, but never more than `maxLagBatches` batches (that should decide something)
 *   ahead of the last batch Node-RED has decided on, so latency is what Node-RED needs at the
 *   rate it sustains.
 * - `paced` (open loop with `feedRatePerSec`): batches leave at a steady rate, e.g. the 100,000
 *   events/s target; latency stays flat if the engine keeps up and grows if it does not.
 *
 *   npx tsx bench/brain/node-red-peer.ts --events 200000            closed, open and paced runs, markdown table
 *   npx tsx bench/brain/node-red-peer.ts --events 1000000 --mode closed,paced --feed-rate 80000 --batch 500
 *   npx tsx bench/brain/node-red-peer.ts --events 200000 --check    the flow's code in-process only
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import mqtt, { type MqttClient } from 'mqtt';
import { PROJECT_ROOT } from '../../src/node/paths.js';
import { compileCondition } from '../../src/rules/expression.js';
import { cpuSeconds, ensurePeerPackages, freePort, LatencyRecorder, machine, markdownTable, progress } from '../report.js';
import {
  PLUGIN_IDS,
  batchEvents,
  eventIndexOf,
  expectedDecisions,
  generateEvents,
  registrations,
  type Batch,
  type BrainRunResult,
  type EventSet,
  type Expected,
} from './workload.js';
import { nodeRedCode, nodeRedFlow } from './node-red-flow.js';

export const NODE_RED_VERSION = '4.1.15';
const PEER_DIR = join(PROJECT_ROOT, 'bench/.peers/node-red');
const MOSQUITTO = '/usr/sbin/mosquitto';
const EVENTS_TOPIC = 'bench/events';
const DECISIONS_TOPIC = 'bench/decisions';
const TARGET_EPS = 100_000;

export interface NodeRedPeerOptions {
  /** The workload's events (the same set the city node is fed). */
  events: EventSet;
  /** Events per MQTT message; default 500. */
  batchSize?: number;
  /** Send only the batches holding the first `count` events (default: all). */
  count?: number;
  /** Stop sending after this many seconds (default: no limit). */
  seconds?: number;
  /** `closed` (default) or `open`; see the file's comment. */
  mode?: 'closed' | 'open';
  /** Open loop only: publish at this many events/s (a fleet of plugins pushing at a steady rate) instead of as fast as acknowledged. */
  feedRatePerSec?: number;
  /** Unacknowledged publishes at most; default 16. */
  inFlight?: number;
  /** Closed loop: batches (that should decide something) sent ahead of the last one decided; default 8. */
  maxLagBatches?: number;
  /** Events of another seed sent first and then forgotten (engine reset), to warm up the JIT; default min(50,000, n / 4). */
  warmupEvents?: number;
  /** Keep the temporary folder (settings, flow, decision log). */
  keep?: boolean;
  /** Write a CPU profile of Node-RED into this folder (node --cpu-prof). */
  profileDir?: string;
  /** `expectedDecisions(events, batchEvents(events, batchSize))`, if already computed (not with `count`). */
  expected?: Expected;
}

export interface NodeRedPeerResult extends BrainRunResult {
  mode: 'closed' | 'open';
  feedRatePerSec: number | null;
  /** Decisions found in Node-RED's decision log for the measured run. */
  fileDecisions: number;
  /** Latency by second of the measured run (from the first publish): decisions received in that second and their p95. */
  timeline: Array<{ second: number; decisions: number; p95Ms: number }>;
  /** CPU seconds during the measured run, and the wall time it took. */
  cpu: { nodeRedSec: number; mosquittoSec: number; feederSec: number; wallSec: number };
}

// ---------------------------------------------------------------------------------------------
// Processes

/** Installs the pinned node-red into bench/.peers/node-red unless it is there; returns red.js. */
export function ensureNodeRed(): string {
  ensurePeerPackages(PEER_DIR, { 'node-red': NODE_RED_VERSION });
  return join(PEER_DIR, 'node_modules/node-red/red.js');
}


interface Proc {
  name: string;
  child: ChildProcess;
  exited: Promise<void>;
  output(): string;
}

const running = new Set<Proc>();
/** Temporary folders to remove if the process exits before a run's own cleanup. */
const scratchDirs = new Set<string>();
function start(name: string, cmd: string, args: string[], cwd: string): Proc {
  guardChildren();
  const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (b: Buffer) => {
    out += b.toString();
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const proc: Proc = { name, child, exited, output: () => out };
  running.add(proc);
  void exited.then(() => running.delete(proc));
  return proc;
}

async function stop(proc: Proc): Promise<void> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), 5000);
  await proc.exited;
  clearTimeout(timer);
}

// Whatever happens, the broker and Node-RED go when this process goes. On Ctrl-C the children are
// killed and, unless the importing harness handles the signal itself, this process exits.
let guarded = false;
function guardChildren(): void {
  if (guarded) return;
  guarded = true;
  process.once('exit', () => {
    for (const p of running) p.child.kill('SIGKILL');
    for (const d of scratchDirs) rmSync(d, { recursive: true, force: true });
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      for (const p of running) p.child.kill('SIGKILL');
      if (process.listenerCount(signal) === 0) process.exit(130);
    });
  }
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, proc?: Proc): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (proc && proc.child.exitCode !== null) throw new Error(`${proc.name} exited (${proc.child.exitCode}) while waiting for ${what}:\n${proc.output().slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${proc ? `:\n${proc.output().slice(-3000)}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function startMosquitto(dir: string): Promise<{ proc: Proc; port: number }> {
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  await writeFile(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      // Nothing is dropped for a slow subscriber: the backlog is part of what is measured.
      'max_queued_messages 0',
      'set_tcp_nodelay true',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      '',
    ].join('\n'),
  );
  const proc = start('mosquitto', MOSQUITTO, ['-c', conf], dir);
  await waitFor(
    'mosquitto to listen',
    () =>
      new Promise<boolean>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      }),
    10_000,
    proc,
  );
  return { proc, port };
}

async function startNodeRed(redJs: string, dir: string, brokerPort: number, decisionsFile: string, nodeArgs: string[]): Promise<Proc> {
  const port = await freePort();
  await writeFile(join(dir, 'flows.json'), JSON.stringify(nodeRedFlow({ brokerPort, eventsTopic: EVENTS_TOPIC, decisionsTopic: DECISIONS_TOPIC, decisionsFile, qos: 1 })));
  await writeFile(
    join(dir, 'settings.js'),
    `module.exports = ${JSON.stringify(
      {
        uiPort: port,
        uiHost: '127.0.0.1',
        flowFile: 'flows.json',
        credentialSecret: 'bench-only-no-credentials-stored',
        // Headless: no editor, no admin API, no HTTP nodes.
        httpAdminRoot: false,
        httpNodeRoot: false,
        disableEditor: true,
        logging: { console: { level: 'info', metrics: false, audit: false } },
        contextStorage: { default: { module: 'memory' } },
        functionExternalModules: false,
        functionTimeout: 0,
        externalModules: { autoInstall: false, palette: { allowInstall: false }, modules: { allowInstall: false } },
        telemetry: { enabled: false },
        diagnostics: { enabled: false, ui: false },
        runtimeState: { enabled: false, ui: false },
        editorTheme: { projects: { enabled: false } },
      },
      null,
      2,
    )};\n`,
  );
  const proc = start('node-red', process.execPath, [...nodeArgs, redJs, '--userDir', dir, '--settings', join(dir, 'settings.js'), '--port', String(port), '--no-telemetry'], dir);
  await waitFor('Node-RED to start its flows and connect to the broker', () => /Started flows/.test(proc.output()) && /Connected to broker/.test(proc.output()), 60_000, proc);
  return proc;
}

// ---------------------------------------------------------------------------------------------
// Feeding and collecting

interface Decision {
  r?: string;
  k?: string;
  e?: string;
  c?: string;
  t?: number;
  pong?: unknown;
}

class Collector {
  /** Measured-run decisions by `rule|trigger id|cause id`. */
  readonly got = new Map<string, number>();
  readonly byRule = new Map<string, number>();
  /** (receive time, latency) of every measured decision, for the timeline. */
  readonly seen: number[] = [];
  count = 0;
  warmup = 0;
  lastAtMs = 0;
  measuring = false;
  /** Highest batch index (measured run) a decision was caused by. */
  progress = -1;
  onProgress: () => void = () => {};
  readonly pongs = new Map<string, () => void>();
  constructor(
    readonly rec: LatencyRecorder,
    public ackAt: Float64Array,
    public batchOf: Int32Array,
    readonly stats: { beforeAck: number },
  ) {}

  message(payload: Buffer): void {
    const now = performance.now();
    const list = JSON.parse(payload.toString()) as Decision[];
    let advanced = false;
    for (const d of list) {
      if (d.pong !== undefined) {
        const done = this.pongs.get(String(d.pong));
        if (done) done();
        continue;
      }
      if (!this.measuring) {
        this.warmup++;
        continue;
      }
      this.count++;
      this.lastAtMs = now;
      const key = `${d.r}|${d.e}|${d.c}`;
      this.got.set(key, (this.got.get(key) ?? 0) + 1);
      this.byRule.set(d.r!, (this.byRule.get(d.r!) ?? 0) + 1);
      const b = this.batchOf[eventIndexOf(d.c!)]!;
      const ack = this.ackAt[b]!;
      const latency = ack === 0 ? 0 : now - ack;
      // Node-RED can decide before the broker's PUBACK reaches us: zero wait after acknowledgement.
      if (ack === 0) this.stats.beforeAck++;
      this.rec.add(latency);
      this.seen.push(now, latency);
      if (b > this.progress) {
        this.progress = b;
        advanced = true;
      }
    }
    if (advanced) this.onProgress();
  }
}

async function ping(pub: MqttClient, collector: Collector, id: string, payload: Record<string, unknown>): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer from Node-RED to ${JSON.stringify(payload)} within 120 s`)), 120_000);
    collector.pongs.set(id, () => {
      clearTimeout(timer);
      collector.pongs.delete(id);
      resolve();
    });
    pub.publish(`${EVENTS_TOPIC}/_control`, JSON.stringify({ ...payload, ping: id }), { qos: 1 });
  });
}

function payloads(set: EventSet, batches: readonly Batch[]): Buffer[] {
  return batches.map((b) => Buffer.from(JSON.stringify(Array.from(b.indices, (i) => set.events[i]))));
}

interface FeedResult {
  sent: number;
  firstMs: number;
  lastAckMs: number;
}

/**
 * Publishes the batches QoS 1, at most `inFlight` unacknowledged, recording each PUBACK time; in
 * closed mode also at most `maxLag` batches (that should decide something) past `collector.progress`.
 */
function feed(
  pub: MqttClient,
  bodies: Buffer[],
  topics: string[],
  ackAt: Float64Array,
  opts: { inFlight: number; maxLag: number; closed: boolean; seconds: number | null; withDecisions: Int32Array; rate?: number; eventsBefore?: Float64Array },
  collector: Collector,
): Promise<FeedResult> {
  return new Promise((resolve, reject) => {
    let next = 0;
    let inflight = 0;
    let stopAt = bodies.length;
    const firstMs = performance.now();
    let lastAckMs = firstMs;
    let done = false;
    let timer: NodeJS.Timeout | null = null;
    const pump = (): void => {
      if (done) return;
      const now = performance.now();
      if (opts.seconds !== null && stopAt === bodies.length && now - firstMs > opts.seconds * 1000) stopAt = next;
      while (next < stopAt && inflight < opts.inFlight) {
        if (opts.rate !== undefined) {
          // Paced: batch b leaves when the events before it are due at `rate`.
          const due = firstMs + (opts.eventsBefore![next]! / opts.rate) * 1000;
          if (due > performance.now()) {
            if (timer === null) timer = setTimeout(() => ((timer = null), pump()), Math.max(0, due - performance.now()));
            break;
          }
        }
        if (opts.closed) {
          // withDecisions[b] = batches before b that should decide something (a prefix sum).
          const ahead = opts.withDecisions[next]! - opts.withDecisions[collector.progress + 1]!;
          if (ahead >= opts.maxLag) break;
        }
        const b = next++;
        inflight++;
        pub.publish(topics[b]!, bodies[b]!, { qos: 1 }, (err) => {
          if (err) {
            done = true;
            reject(err);
            return;
          }
          lastAckMs = ackAt[b] = performance.now();
          inflight--;
          pump();
        });
      }
      if (next >= stopAt && inflight === 0) {
        done = true;
        if (timer !== null) clearTimeout(timer);
        resolve({ sent: next, firstMs, lastAckMs });
      }
    };
    collector.onProgress = pump;
    // A decision-less stretch longer than maxLag must not stall the closed loop forever.
    const poll = setInterval(() => (done ? clearInterval(poll) : pump()), 20);
    pump();
  });
}

async function connect(port: number, clientId: string): Promise<MqttClient> {
  return mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId, clean: true, reconnectPeriod: 0, keepalive: 60, protocolVersion: 4 });
}

/**
 * Runs the workload through Node-RED once: fresh broker and Node-RED, warm-up, engine reset,
 * measured run, decision log check, both processes stopped (also on errors).
 */
export async function runNodeRedPeer(opts: NodeRedPeerOptions): Promise<NodeRedPeerResult> {
  const set = opts.events;
  const batchSize = opts.batchSize ?? 500;
  const mode = opts.mode ?? 'closed';
  const inFlight = opts.inFlight ?? 16;
  const maxLag = opts.maxLagBatches ?? 8;
  const notes: string[] = [];

  let batches = batchEvents(set, batchSize);
  if (opts.count !== undefined && opts.count < set.events.length) {
    // The batches holding the first `count` events: each plugin's batches up to that point.
    const keep: Batch[] = [];
    for (const b of batches) if (b.indices[0]! < opts.count) keep.push(b);
    batches = keep;
  }
  const full = opts.expected && opts.count === undefined ? opts.expected : expectedDecisions(set, batches);
  const batchOf = new Int32Array(set.events.length).fill(-1);
  batches.forEach((b, k) => b.indices.forEach((i) => (batchOf[i] = k)));
  const withDecisions = new Int32Array(batches.length + 1);
  {
    const has = new Uint8Array(batches.length);
    for (const d of full.decisions) has[batchOf[d.cause]!] = 1;
    for (let b = 0; b < batches.length; b++) withDecisions[b + 1] = withDecisions[b]! + has[b]!;
  }
  const bodies = payloads(set, batches);
  const topics = batches.map((b) => `${EVENTS_TOPIC}/${PLUGIN_IDS[b.plugin]}`);
  const warmupN = opts.warmupEvents ?? Math.min(50_000, Math.floor(set.events.length / 4));
  const warm = warmupN > 0 ? generateEvents(warmupN, set.seed + 1000, { startMs: set.startMs, ratePerSec: set.ratePerSec }) : null;
  const warmBatches = warm ? batchEvents(warm, batchSize) : [];
  const warmBodies = warm ? payloads(warm, warmBatches) : [];
  const warmExpected = warm ? expectedDecisions(warm, warmBatches).decisions.length : 0;

  const redJs = ensureNodeRed();
  const dir = await mkdtemp(join(os.tmpdir(), 'node-red-peer-'));
  if (!opts.keep) scratchDirs.add(dir);
  const decisionsFile = join(dir, 'decisions.jsonl');
  let broker: { proc: Proc; port: number } | null = null;
  let red: Proc | null = null;
  const clients: MqttClient[] = [];
  try {
    broker = await startMosquitto(dir);
    red = await startNodeRed(redJs, dir, broker.port, decisionsFile, opts.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.profileDir}`] : []);
    const pub = await connect(broker.port, 'bench-feeder');
    const sub = await connect(broker.port, 'bench-collector');
    clients.push(pub, sub);
    const rec = new LatencyRecorder();
    const stats = { beforeAck: 0 };
    const warmAck = new Float64Array(warmBodies.length);
    const collector = new Collector(rec, warmAck, new Int32Array(0), stats);
    sub.on('message', (_topic, payload) => collector.message(payload));
    await sub.subscribeAsync(DECISIONS_TOPIC, { qos: 1 });
    await ping(pub, collector, 'ready', {});

    if (warm) {
      progress(`node-red · ${mode}: warming up with ${warmupN.toLocaleString('en')} events`);
      await feed(pub, warmBodies, warmBatches.map((b) => `${EVENTS_TOPIC}/${PLUGIN_IDS[b.plugin]}`), warmAck, { inFlight, maxLag, closed: false, seconds: null, withDecisions: new Int32Array(warmBodies.length + 1) }, collector);
      await ping(pub, collector, 'warm', { reset: true });
      if (collector.warmup !== warmExpected) notes.push(`warm-up: ${collector.warmup} decisions for ${warmExpected} expected`);
    }

    const ackAt = new Float64Array(bodies.length);
    collector.ackAt = ackAt;
    collector.batchOf = batchOf;
    collector.measuring = true;
    // The feeder's own stalls (GC of a large workload heap) would show up as latency: measure them.
    const loopDelay = monitorEventLoopDelay({ resolution: 5 });
    loopDelay.enable();
    const cpu0 = { red: cpuSeconds(red.child.pid), mq: cpuSeconds(broker.proc.child.pid), me: process.cpuUsage() };
    const eventsBefore = new Float64Array(batches.length + 1);
    for (let b = 1; b <= batches.length; b++) eventsBefore[b] = eventsBefore[b - 1]! + batches[b - 1]!.indices.length;
    progress(`node-red · ${mode}: sending ${eventsBefore[batches.length]!.toLocaleString('en')} events in ${bodies.length.toLocaleString('en')} messages of ≤ ${batchSize}`);
    const rate = mode === 'open' ? opts.feedRatePerSec : undefined;
    const fed = await feed(pub, bodies, topics, ackAt, { inFlight, maxLag, closed: mode === 'closed', seconds: opts.seconds ?? null, withDecisions, rate, eventsBefore }, collector);
    const expected: Expected = fed.sent === batches.length ? full : { ...full, decisions: full.decisions.filter((d) => batchOf[d.cause]! < fed.sent) };
    const want = expected.decisions.length;
    // All decisions out: until the count is reached, or nothing new for 10 s.
    await waitFor(
      `${want} decisions`,
      () => collector.count >= want || (collector.lastAtMs > 0 ? performance.now() - Math.max(collector.lastAtMs, fed.lastAckMs) > 10_000 : performance.now() - fed.lastAckMs > 30_000),
      24 * 3600_000,
      red,
    );
    const endMs = Math.max(collector.lastAtMs, fed.lastAckMs);
    loopDelay.disable();
    notes.push(`feeder event-loop delay p99 ${(loopDelay.percentile(99) / 1e6).toFixed(1)} ms, max ${(loopDelay.max / 1e6).toFixed(1)} ms`);
    const wallSec = (endMs - fed.firstMs) / 1000;
    const me = process.cpuUsage(cpu0.me);
    const cpu = {
      nodeRedSec: cpuSeconds(red.child.pid) - cpu0.red,
      mosquittoSec: cpuSeconds(broker.proc.child.pid) - cpu0.mq,
      feederSec: (me.user + me.system) / 1e6,
      wallSec,
    };
    const sentEvents = eventsBefore[fed.sent]!;

    // Correctness: the same decisions (rule, event, cause), not just as many.
    const exp = new Map<string, number>();
    for (const d of expected.decisions) {
      const key = `${d.rule}|${set.events[d.trigger]!.event_id}|${set.events[d.cause]!.event_id}`;
      exp.set(key, (exp.get(key) ?? 0) + 1);
    }
    const byRule: Record<string, { got: number; expected: number }> = {};
    for (const d of expected.decisions) (byRule[d.rule] ??= { got: collector.byRule.get(d.rule) ?? 0, expected: 0 }).expected++;
    for (const [rule, got] of collector.byRule) byRule[rule] ??= { got, expected: 0 };
    let missing = 0;
    let extra = 0;
    for (const [k, v] of exp) missing += Math.max(0, v - (collector.got.get(k) ?? 0));
    for (const [k, v] of collector.got) extra += Math.max(0, v - (exp.get(k) ?? 0));

    // Persistence: every published decision is in the log (the file node passes a message on once written).
    await ping(pub, collector, 'end', {});
    const fileDecisions = await countLoggedDecisions(decisionsFile) - collector.warmup;
    if (stats.beforeAck > 0) notes.push(`${stats.beforeAck} decisions arrived before their message's PUBACK (counted as 0 ms)`);
    if (fed.sent < batches.length) notes.push(`stopped after ${opts.seconds} s: ${fed.sent} of ${batches.length} messages sent`);
    if (expected.absencePending > 0) notes.push(`${expected.absencePending} absence triggers still waiting at the end (no decision expected)`);

    return {
      mode,
      feedRatePerSec: rate ?? null,
      events: sentEvents,
      batchSize,
      eventsPerSec: sentEvents / wallSec,
      eventsPerSecAcked: sentEvents / ((fed.lastAckMs - fed.firstMs) / 1000),
      decisions: collector.count,
      expectedDecisions: want,
      byRule,
      timeline: timeline(collector.seen, fed.firstMs),
      fileDecisions,
      missing,
      extra,
      p50Ms: rec.percentile(50),
      p95Ms: rec.percentile(95),
      p99Ms: rec.percentile(99),
      cpu,
      notes,
    };
  } finally {
    for (const c of clients) await c.endAsync(true).catch(() => {});
    if (red) await stop(red);
    if (broker) await stop(broker.proc);
    if (!opts.keep) await rm(dir, { recursive: true, force: true });
    else progress(`kept ${dir}`);
    scratchDirs.delete(dir);
  }
}

function timeline(seen: readonly number[], startMs: number): NodeRedPeerResult['timeline'] {
  const bySecond = new Map<number, LatencyRecorder & { n: number }>();
  for (let i = 0; i < seen.length; i += 2) {
    const second = Math.floor((seen[i]! - startMs) / 1000);
    let rec = bySecond.get(second);
    if (rec === undefined) bySecond.set(second, (rec = Object.assign(new LatencyRecorder(), { n: 0 })));
    rec.add(seen[i + 1]!);
    rec.n++;
  }
  return [...bySecond].sort((a, b) => a[0] - b[0]).map(([second, rec]) => ({ second, decisions: rec.n, p95Ms: rec.percentile(95) }));
}

async function countLoggedDecisions(file: string): Promise<number> {
  const text = await readFile(file, 'utf8').catch(() => '');
  let n = 0;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    for (const d of JSON.parse(line) as Decision[]) if (d.pong === undefined) n++;
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// The flow's code without Node-RED (a quick check of the generated JavaScript)

/** Runs the two function nodes' code in-process over the batches; returns the decisions. */
export function emulateFlow(set: EventSet, batches: readonly Batch[]): Decision[] {
  const code = nodeRedCode();
  const node = (init: string, func: string) => {
    const store = new Map<string, unknown>();
    const context = { get: (k: string) => store.get(k), set: (k: string, v: unknown) => store.set(k, v) };
    new Function('context', init)(context);
    const f = new Function('context', 'msg', func) as (c: unknown, m: unknown) => Record<string, unknown> | null;
    return (msg: Record<string, unknown> | null) => (msg === null ? null : f(context, msg));
  };
  const triggers = node(code.triggersInit, code.triggersFunc);
  const cep = node(code.cepInit, code.cepFunc);
  const out: Decision[] = [];
  for (const b of batches) {
    const payload = JSON.parse(JSON.stringify(Array.from(b.indices, (i) => set.events[i])));
    const msg = cep(triggers({ topic: `${EVENTS_TOPIC}/${PLUGIN_IDS[b.plugin]}`, payload }));
    if (msg) out.push(...(msg.payload as Decision[]));
  }
  return out;
}

/**
 * The generated trigger code against the project's condition compiler on damaged copies of the
 * events (fields deleted, null, of the wrong type, zero), where three-valued logic matters.
 * Returns the number of (event, definition) pairs where they disagree.
 */
export function fuzzConditions(set: EventSet, samples: number, seed = 99): number {
  const store = new Map<string, unknown>();
  new Function('context', nodeRedCode().triggersInit)({ get: (k: string) => store.get(k), set: (k: string, v: unknown) => store.set(k, v) });
  const plugins = store.get('plugins') as Record<string, { test(e: unknown): number }>;
  const compiled = registrations.map((r) =>
    (r.action_definitions as Array<{ condition: string }>).map((d) => compileCondition(d.condition, { orderedEnums: { severity: ['low', 'medium', 'high', 'critical'] } })),
  );
  let x = seed >>> 0;
  const rnd = () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 4294967296);
  const damage = (o: Record<string, unknown>) => {
    for (const k of Object.keys(o)) {
      const r = rnd();
      if (typeof o[k] === 'object' && o[k] !== null && !Array.isArray(o[k]) && r < 0.5) damage(o[k] as Record<string, unknown>);
      else if (r < 0.08) delete o[k];
      else if (r < 0.12) o[k] = null;
      else if (r < 0.16) o[k] = 'x';
      else if (r < 0.2) o[k] = 0;
      else if (r < 0.22) o[k] = true;
    }
  };
  let diff = 0;
  for (let s = 0; s < samples; s++) {
    const i = Math.floor(rnd() * set.events.length);
    const p = set.plugin[i]!;
    const e = JSON.parse(JSON.stringify(set.events[i])) as Record<string, unknown>;
    damage(e);
    const mask = plugins[PLUGIN_IDS[p]!]!.test(e);
    compiled[p]!.forEach((c, d) => {
      if (c.test(e) !== ((mask & (1 << d)) !== 0)) diff++;
    });
  }
  return diff;
}

// ---------------------------------------------------------------------------------------------
// Command line

function parseArgs(argv: string[]) {
  const out = { profile: undefined as string | undefined, events: 200_000, batch: 500, seed: 1, rate: undefined as number | undefined, feedRate: TARGET_EPS, mode: 'all', seconds: undefined as number | undefined, warmup: undefined as number | undefined, inFlight: 16, lag: 8, keep: false, check: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => argv[++i]!;
    if (a === '--events') out.events = Number(v());
    else if (a === '--batch') out.batch = Number(v());
    else if (a === '--seed') out.seed = Number(v());
    else if (a === '--rate') out.rate = Number(v());
    else if (a === '--mode') out.mode = v();
    else if (a === '--feed-rate') out.feedRate = Number(v());
    else if (a === '--seconds') out.seconds = Number(v());
    else if (a === '--warmup') out.warmup = Number(v());
    else if (a === '--in-flight') out.inFlight = Number(v());
    else if (a === '--lag') out.lag = Number(v());
    else if (a === '--keep') out.keep = true;
    else if (a === '--profile') out.profile = v();
    else if (a === '--check') out.check = true;
    else throw new Error(`unknown option ${a}`);
  }
  return out;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  progress(`generating ${args.events.toLocaleString('en')} events (seed ${args.seed})`);
  const set = generateEvents(args.events, args.seed, args.rate ? { ratePerSec: args.rate } : {});
  const batches = batchEvents(set, args.batch);
  const expected = expectedDecisions(set, batches);
  const summary =
    `Workload: ${args.events.toLocaleString('en')} events, seed ${args.seed}, ${set.ratePerSec} events/s of event time; ` +
    `${expected.eventsWithTrigger.toLocaleString('en')} events (${((100 * expected.eventsWithTrigger) / args.events).toFixed(2)} %) fire ` +
    `${expected.triggerDecisions.toLocaleString('en')} action-trigger decisions; ${expected.correlationDecisions.toLocaleString('en')} correlation decisions ` +
    `(${[...expected.byRule].filter(([r]) => !r.startsWith('plugin:')).map(([r, n]) => `${r} ${n}`).join(', ')}).`;
  if (args.check) {
    const got = emulateFlow(set, batches);
    const key = (r: string, e: string, c: string) => `${r}|${e}|${c}`;
    const want = new Map<string, number>();
    for (const d of expected.decisions) {
      const k = key(d.rule, set.events[d.trigger]!.event_id as string, set.events[d.cause]!.event_id as string);
      want.set(k, (want.get(k) ?? 0) + 1);
    }
    let diff = 0;
    for (const d of got) {
      const k = key(d.r!, d.e!, d.c!);
      const n = want.get(k) ?? 0;
      if (n === 0) diff++;
      else want.set(k, n - 1);
    }
    for (const n of want.values()) diff += n;
    console.log(summary);
    console.log(`Flow code in-process: ${got.length} decisions, ${expected.decisions.length} expected, ${diff} differing.`);
    const fuzz = fuzzConditions(set, 200_000);
    console.log(`Generated conditions vs src/rules/expression.ts on 200,000 damaged events: ${fuzz} disagreements.`);
    if (diff !== 0 || fuzz !== 0) process.exitCode = 1;
    return;
  }
  // Runs: closed loop, open loop as fast as acknowledged, open loop paced at the target rate.
  const runs: Array<{ mode: 'closed' | 'open'; rate?: number }> = [];
  for (const m of args.mode.split(',')) {
    if (m === 'all' || m === 'closed') runs.push({ mode: 'closed' });
    if (m === 'all' || m === 'open') runs.push({ mode: 'open' });
    if (m === 'all' || m === 'paced') runs.push({ mode: 'open', rate: args.feedRate });
  }
  const rows: string[][] = [];
  const notes: string[] = [];
  const load0 = os.loadavg()[0]!;
  for (const run of runs) {
    const mode = run.mode;
    const r = await runNodeRedPeer({
      events: set,
      batchSize: args.batch,
      mode,
      feedRatePerSec: run.rate,
      seconds: args.seconds,
      warmupEvents: args.warmup,
      inFlight: args.inFlight,
      maxLagBatches: args.lag,
      keep: args.keep,
      profileDir: args.profile,
      expected,
    });
    const ok = r.missing === 0 && r.extra === 0 && r.fileDecisions === r.decisions;
    const feedLabel = mode === 'closed' ? `closed loop (≤ ${args.lag} batches ahead)` : run.rate ? `paced, ${run.rate.toLocaleString('en')} events/s` : `open loop (≤ ${args.inFlight} unacked)`;
    rows.push([
      `Node-RED ${NODE_RED_VERSION}`,
      feedLabel,
      r.events.toLocaleString('en'),
      String(r.batchSize),
      Math.round(r.eventsPerSec).toLocaleString('en'),
      Math.round(r.eventsPerSecAcked).toLocaleString('en'),
      r.p50Ms.toFixed(1),
      r.p95Ms.toFixed(1),
      r.p99Ms.toFixed(1),
      `${r.decisions.toLocaleString('en')} / ${r.expectedDecisions.toLocaleString('en')}${ok ? '' : ` (missing ${r.missing}, extra ${r.extra}, logged ${r.fileDecisions})`}`,
      `${(r.cpu.nodeRedSec / r.cpu.wallSec).toFixed(2)} / ${(r.cpu.mosquittoSec / r.cpu.wallSec).toFixed(2)} / ${(r.cpu.feederSec / r.cpu.wallSec).toFixed(2)}`,
      // A paced run cannot finish faster than its schedule: it meets the target if it kept the pace (within 1 %).
      (run.rate !== undefined ? run.rate >= TARGET_EPS && r.eventsPerSec >= 0.99 * run.rate : r.eventsPerSec >= TARGET_EPS) && r.p95Ms <= 100 ? 'yes' : 'no',
    ]);
    for (const n of r.notes) notes.push(`${mode}: ${n}`);
    notes.push(`${feedLabel}: p95 by second ${r.timeline.map((x) => Math.round(x.p95Ms)).join(' ')} ms`);
    progress(`node-red · ${feedLabel}: ${Math.round(r.eventsPerSec).toLocaleString('en')} events/s, p95 ${r.p95Ms.toFixed(1)} ms, ${r.decisions}/${r.expectedDecisions} decisions`);
  }
  console.log(`\n## Brain benchmark peer: Node-RED\n`);
  console.log(machine());
  console.log(`Load average (1 min) before / after: ${load0.toFixed(2)} / ${os.loadavg()[0]!.toFixed(2)}.\n`);
  console.log(summary);
  console.log(
    `Flow: mqtt in (QoS 1, JSON arrays) → function (22 action triggers) → function (5 correlation rules, windows in node context) → file (append, one JSON line per message; no fsync) → mqtt out. ` +
      `Broker: Mosquitto, persistence off. Latency: decision received − PUBACK of the message carrying the event that completed it. CPU: cores used by Node-RED / Mosquitto / the feeder.\n`,
  );
  console.log(markdownTable(['engine', 'feed', 'events', 'events/message', 'events/s (all decided)', 'events/s (acked)', 'p50 ms', 'p95 ms', 'p99 ms', 'decisions / expected', 'CPU cores', '≥ 100k/s, P95 ≤ 100 ms'], rows));
  if (notes.length > 0) console.log(`\n${notes.map((n) => `- ${n}`).join('\n')}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
