/**
 * `npm run bench:ingest` — acknowledged-and-durable ingest throughput and latency of one Local
 * Brain, per transport, on PGlite and on PostgreSQL (seed 001 §14.1: 100,000 events/s per Local
 * Brain, P95 < 100 ms). The node runs as its own process (`city start`), the load comes from
 * this process with prebuilt bodies, and after each run the node is stopped and the rows in its
 * store are counted, so the figure is of events that are really there.
 *
 *   npm run bench:ingest                      both stores, all transports, 10 s each
 *   npm run bench:ingest -- --seconds 5 --store pglite --only http-json
 *   npm run bench:ingest -- --only ceiling     the stores alone (bench/ingest-ceiling.ts)
 *
 * Each store's first row is its ceiling: COPY of ready-made event rows with no node at all.
 */
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { sql } from 'kysely';
import mqtt from 'mqtt';
import { openStore } from '../src/store/store.js';
import { createTestDatabase } from '../test/helpers/store.js';
import { encodeProtobufEvents } from '../src/events/protobuf-codec.js';
import { PROJECT_ROOT } from '../src/node/paths.js';
import { spawnCity, type NodeProcess } from '../test/helpers/process.js';
import { sampleSpots, seededRandom, violationEvent } from '../src/demo/generators.js';
import { loadZoneFile } from '../src/geo/zone-file.js';
import { ZoneTree } from '../src/geo/zones.js';
import { ZoneIndex } from '../src/geo/zone-index.js';
// @ts-expect-error plain ESM helper shared with the test runner
import { findPostgresBin, startCluster } from '../scripts/pg-cluster.mjs';
import { ROWS_PER_COPY, storeCeiling } from './ingest-ceiling.js';
import { LatencyRecorder, machine, markdownTable, progress } from './report.js';

const PLUGIN = 'traffic-violation-detector-v2';
const TARGET_EPS = 100_000;
const args = parseArgs(process.argv.slice(2));

interface Scenario {
  name: string;
  transport: string;
  batch: number;
  concurrency: number;
  target: string;
  run(node: NodeProcess, key: string, seconds: number, rec: LatencyRecorder): Promise<number>;
}

const zonesFile = join(PROJECT_ROOT, 'examples/cities/chennai/city.geojson');
const tree = new ZoneTree(await loadZoneFile(zonesFile));
const spots = sampleSpots(tree, new ZoneIndex(tree), 2000, seededRandom(7));
let serial = 0;
/** Realistic, distinct events: real ward points, plates and speeds; ids assigned by the node. */
function events(n: number): Record<string, unknown>[] {
  const random = seededRandom(++serial);
  return Array.from({ length: n }, (_, i) => violationEvent(spots[(serial * 31 + i) % spots.length]!, random));
}

const scenarios: Scenario[] = [
  httpScenario('http-json', 'HTTP JSON array', 1000, 4, 'application/json', (evs) => Buffer.from(JSON.stringify(evs)), `≥ ${TARGET_EPS.toLocaleString('en')}/s, P95 < 100 ms`),
  httpScenario('http-ndjson', 'HTTP NDJSON', 1000, 4, 'application/x-ndjson', (evs) => Buffer.from(evs.map((e) => JSON.stringify(e)).join('\n')), `≥ ${TARGET_EPS.toLocaleString('en')}/s, P95 < 100 ms`),
  httpScenario('http-protobuf', 'HTTP protobuf EventBatch', 1000, 4, 'application/x-protobuf; messageType=city.v1.EventBatch', (evs) => Buffer.from(encodeProtobufEvents(evs, 'batch')), `≥ ${TARGET_EPS.toLocaleString('en')}/s, P95 < 100 ms`),
  httpScenario('http-single', 'HTTP one event per request', 1, 64, 'application/json', (evs) => Buffer.from(JSON.stringify(evs[0])), 'P95 < 100 ms'),
  mqttScenario('mqtt-single', 'MQTT QoS 1, one event per message', 1, 256, 'P95 < 100 ms'),
  mqttScenario('mqtt-batch', 'MQTT QoS 1, JSON array of 100', 100, 32, 'P95 < 100 ms'),
].filter((s) => !args.only || args.only.split(',').includes(s.name));

const rows: string[][] = [];
const stores = (args.store ?? 'pglite,postgres').split(',');
for (const store of stores) {
  let cluster: { url: string; stop(): void } | null = null;
  if (store === 'postgres') {
    const bin = findPostgresBin();
    if (!bin && !process.env.DATABASE_URL) {
      progress(`PostgreSQL: no server binaries and no DATABASE_URL; skipped`);
      continue;
    }
    cluster = process.env.DATABASE_URL ? null : await startCluster(bin);
  }
  const databaseUrl = store === 'postgres' ? (cluster?.url ?? process.env.DATABASE_URL) : undefined;
  try {
    if (!args.only || args.only.split(',').includes('ceiling')) {
      // PGlite has one connection; PostgreSQL is measured with one backend and with four (both cores).
      for (const inFlight of store === 'postgres' ? [1, 4] : [1]) {
        progress(`${store} · the store alone: COPY of ready rows, ${inFlight} at a time, for ${args.seconds} s`);
        const { rowsPerS, rec } = await storeCeiling(databaseUrl, args.seconds, inFlight, events(1000).map((e) => JSON.stringify(e)));
        const storeName = store === 'postgres' ? 'PostgreSQL' : 'PGlite';
        rows.push([storeName, "no node: COPY of ready event rows (the store's ceiling)", String(ROWS_PER_COPY), String(inFlight), Math.round(rowsPerS).toLocaleString('en'), rec.percentile(50).toFixed(1), rec.percentile(95).toFixed(1), rec.percentile(99).toFixed(1), 'the most a node storing a row per event can reach', rowsPerS >= TARGET_EPS ? 'above target' : 'below target']);
      }
    }
    for (const scenario of scenarios) {
      const db = await createTestDatabase(databaseUrl);
      const { dataDir, databaseUrl: dbUrl } = db;
      // No per-key rate limit: the bench measures how much the node takes, not how much one key may send.
      const configFile = join(dataDir, 'bench-config.json');
      await writeFile(configFile, JSON.stringify({ http: { rateLimit: { enabled: false } } }));
      const node = await spawnCity(['--config', configFile, '--data', dataDir, '--port', '0', '--mqtt-port', '0', '--zones', zonesFile, '--plugins', join(PROJECT_ROOT, 'examples/plugins')], {
        DATABASE_URL: dbUrl,
        CITY_LOG_LEVEL: 'error',
      },
      // --profile DIR: CPU profiles of the node's threads (open in Chrome DevTools / speedscope).
      60_000,
      // The young-generation size `city` runs with (see bin/city.mjs), plus profiling on request.
      ['--max-semi-space-size=64', ...(args.profile ? ['--cpu-prof', `--cpu-prof-dir=${args.profile}`] : [])],
      );
      try {
        const key = node.pluginKeys[PLUGIN]!;
        progress(`${store} · ${scenario.transport}: warming up`);
        const warmupAcked = await scenario.run(node, key, 2, new LatencyRecorder());
        const rec = new LatencyRecorder();
        progress(`${store} · ${scenario.transport}: measuring ${args.seconds} s`);
        const started = performance.now();
        const acked = await scenario.run(node, key, args.seconds, rec);
        const elapsed = (performance.now() - started) / 1000;
        // "Durable" is checked in the store itself, not in the node's counters: stop the node
        // (PGlite has one owner), open its store here and count the rows.
        node.child.kill('SIGTERM');
        await node.exited;
        const stored = await storedRows(dataDir, dbUrl);
        if (stored < warmupAcked + acked) throw new Error(`${scenario.name}: ${warmupAcked + acked} acknowledged but only ${stored} stored`);
        const eps = acked / elapsed;
        rows.push([
          store === 'postgres' ? 'PostgreSQL' : 'PGlite',
          scenario.transport,
          String(scenario.batch),
          String(scenario.concurrency),
          Math.round(eps).toLocaleString('en'),
          rec.percentile(50).toFixed(1),
          rec.percentile(95).toFixed(1),
          rec.percentile(99).toFixed(1),
          scenario.target,
          verdict(scenario, eps, rec.percentile(95)),
        ]);
        progress(
          `${store} · ${scenario.transport}: ${Math.round(eps).toLocaleString('en')} events/s, p95 ${rec.percentile(95).toFixed(1)} ms; ` +
            `${stored.toLocaleString('en')} rows in the store for ${(warmupAcked + acked).toLocaleString('en')} acknowledged`,
        );
      } finally {
        node.child.kill('SIGTERM');
        await node.exited;
        await db.dispose();
      }
    }
  } finally {
    cluster?.stop();
  }
}

console.log(`\n## Ingest benchmark (acknowledged and durable)\n`);
console.log(machine());
console.log(`Each run: ${args.seconds} s after a 2 s warm-up, node as a separate process, latency from send to acknowledgement per request/message.\n`);
console.log(markdownTable(['store', 'transport', 'events/request', 'in flight', 'events/s', 'p50 ms', 'p95 ms', 'p99 ms', 'target', 'met'], rows));

function verdict(s: Scenario, eps: number, p95: number): string {
  const latencyOk = p95 < 100;
  if (s.target.startsWith('≥')) return eps >= TARGET_EPS && latencyOk ? 'yes' : 'no';
  return latencyOk ? 'yes' : 'no';
}

function httpScenario(name: string, transport: string, batch: number, concurrency: number, contentType: string, encode: (evs: Record<string, unknown>[]) => Buffer, target: string): Scenario {
  return {
    name,
    transport,
    batch,
    concurrency,
    target,
    async run(node, key, seconds, rec) {
      const bodies = Array.from({ length: 64 }, () => encode(events(batch)));
      const url = new URL(`${node.url}/webhook/${PLUGIN}`);
      const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
      const deadline = performance.now() + seconds * 1000;
      let acked = 0;
      let n = 0;
      const worker = async () => {
        while (performance.now() < deadline) {
          const body = bodies[n++ % bodies.length]!;
          const t0 = performance.now();
          const status = await post(url, agent, body, contentType, key);
          if (status !== 202) throw new Error(`${name}: HTTP ${status}`);
          rec.add(performance.now() - t0);
          acked += batch;
        }
      };
      await Promise.all(Array.from({ length: concurrency }, worker));
      agent.destroy();
      return acked;
    },
  };
}

function post(url: URL, agent: http.Agent, body: Buffer, contentType: string, key: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent, headers: { 'content-type': contentType, 'content-length': body.length, 'x-api-key': key } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function mqttScenario(name: string, transport: string, batch: number, inFlight: number, target: string): Scenario {
  return {
    name,
    transport,
    batch,
    concurrency: inFlight,
    target,
    async run(node, key, seconds, rec) {
      const port = Number(/MQTT\s+mqtt:\/\/[^:]+:(\d+)/.exec(node.output())![1]);
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username: PLUGIN, password: key, reconnectPeriod: 0 });
      const payloads = Array.from({ length: 256 }, () => Buffer.from(JSON.stringify(batch === 1 ? events(1)[0] : events(batch))));
      const deadline = performance.now() + seconds * 1000;
      let acked = 0;
      let n = 0;
      const worker = async () => {
        while (performance.now() < deadline) {
          const spot = spots[n % spots.length]!;
          const t0 = performance.now();
          await client.publishAsync(`city/${spot.zoneId}/events/${PLUGIN}`, payloads[n++ % payloads.length]!, { qos: 1 });
          rec.add(performance.now() - t0);
          acked += batch;
        }
      };
      await Promise.all(Array.from({ length: inFlight }, worker));
      await client.endAsync();
      return acked;
    },
  };
}

/** Rows in the events table of a stopped node's store. */
async function storedRows(dataDir: string, databaseUrl: string | undefined): Promise<number> {
  const store = await openStore({ dataDir, databaseUrl });
  try {
    const row = await sql<{ n: string }>`select count(*)::text as n from events`.execute(store.db);
    return Number(row.rows[0]!.n);
  } finally {
    await store.close();
  }
}

function parseArgs(argv: string[]): { seconds: number; store?: string; only?: string; profile?: string } {
  const out: { seconds: number; store?: string; only?: string; profile?: string } = { seconds: 10 };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--seconds') out.seconds = Number(argv[++i]);
    else if (argv[i] === '--store') out.store = argv[++i];
    else if (argv[i] === '--only') out.only = argv[++i];
    else if (argv[i] === '--profile') out.profile = argv[++i];
  }
  return out;
}
