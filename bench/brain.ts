/**
 * `npm run bench:brain` — decisions per second and latency from acknowledgement to decision of
 * one Local Brain with ≥ 20 action triggers and ≥ 5 correlation rules loaded and every decision
 * stored (seed 001 §14.1: 100,000 events/s, P95 ≤ 100 ms), on PGlite and PostgreSQL; and, in the
 * same run on the same events, Node-RED running the same conditions and correlations as a flow
 * fed over MQTT (bench/brain/node-red-peer.ts). The workload (bench/brain/workload.ts) is
 * deterministic and says which decisions each engine must make; both are checked against it.
 *
 *   npm run bench:brain                                   200,000 events, both stores and Node-RED
 *   npm run bench:brain -- --events 50000 --store pglite --no-node-red
 *   npm run bench:brain -- --profile /tmp/prof            CPU profiles of the city node's threads
 */
import { join } from 'node:path';
import { createTestDatabase } from '../test/helpers/store.js';
// @ts-expect-error plain ESM helper shared with the test runner
import { findPostgresBin, startCluster } from '../scripts/pg-cluster.mjs';
import { machine, markdownTable, progress } from './report.js';
import { runCityPeer } from './brain/city-peer.js';
import { runNodeRedPeer } from './brain/node-red-peer.js';
import { PLUGIN_IDS, type BrainRunResult, expectedTriggerFraction, generateEvents, registrations, ruleNames } from './brain/workload.js';

const TARGET_EPS = 100_000;
const TARGET_P95_MS = 100;
const args = parseArgs(process.argv.slice(2));
const set = generateEvents(args.events, 2026);
const triggers = registrations.reduce((n, r) => n + (r.action_definitions as unknown[]).length, 0);
progress(`workload: ${args.events.toLocaleString('en')} events of ${PLUGIN_IDS.length} plugins, ${triggers} action triggers, ${ruleNames.length} correlation rules`);

type Row = { engine: string; store: string; r: BrainRunResult };
const rows: Row[] = [];
for (const store of args.stores) {
  let cluster: { url: string; stop(): void } | null = null;
  if (store === 'postgres' && !process.env.DATABASE_URL) {
    const bin = findPostgresBin();
    if (!bin) {
      progress('PostgreSQL: no server binaries and no DATABASE_URL; skipped');
      continue;
    }
    cluster = await startCluster(bin);
  }
  try {
    const db = await createTestDatabase(store === 'postgres' ? (cluster?.url ?? process.env.DATABASE_URL) : undefined);
    try {
      progress(`city node on ${store}`);
      const r = await runCityPeer({ events: set, dataDir: db.dataDir, databaseUrl: db.databaseUrl, batchSize: args.batch, profileDir: args.profile ? join(args.profile, store) : undefined });
      rows.push({ engine: 'Possible City', store: store === 'postgres' ? 'PostgreSQL' : 'PGlite', r });
    } finally {
      await db.dispose();
    }
  } finally {
    cluster?.stop();
  }
}
if (args.nodeRed) {
  progress('Node-RED peer');
  const r = await runNodeRedPeer({ events: set, batchSize: args.batch });
  rows.push({ engine: `Node-RED`, store: 'flow context + decision log file', r });
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const nodeRed = rows.find((x) => x.engine === 'Node-RED')?.r;
process.stdout.write(`\n## Brain benchmark (decisions made and stored)\n\n${machine()}\n\n`);
process.stdout.write(
  `Workload: ${fmt(args.events)} events of ${PLUGIN_IDS.length} plugins in MQTT QoS 1 messages of ≤ ${args.batch} (JSON arrays); ` +
    `${triggers} action triggers (about ${fmt(expectedTriggerFraction * 100, 1)}% of events fire one) and ${ruleNames.length} correlation rules (${ruleNames.join(', ')}). ` +
    `Each engine runs as its own process; latency is from the PUBACK of the message that completed a decision to the decision's arrival (absence decisions, which wait for a deadline, are left out).\n\n`,
);
const table = rows.map(({ engine, store, r }) => [
  engine,
  store,
  fmt(r.eventsPerSec),
  `${fmt(r.decisions - r.extra)} / ${fmt(r.expectedDecisions)}${r.missing || r.extra ? ` (missing ${r.missing}, extra ${r.extra})` : ''}`,
  fmt(r.p50Ms, 1),
  fmt(r.p95Ms, 1),
  fmt(r.p99Ms, 1),
  nodeRed && engine !== 'Node-RED' ? `${fmt(r.eventsPerSec / nodeRed.eventsPerSec, 2)}×` : '',
  `≥ ${fmt(TARGET_EPS)}/s, P95 ≤ ${TARGET_P95_MS} ms`,
  r.eventsPerSec >= TARGET_EPS && r.p95Ms <= TARGET_P95_MS ? 'yes' : 'no',
]);
process.stdout.write(markdownTable(['engine', 'store', 'events/s', 'decisions right / expected', 'p50 ms', 'p95 ms', 'p99 ms', 'vs Node-RED', 'target', 'met'], table) + '\n');
for (const { engine, store, r } of rows) for (const note of r.notes) process.stdout.write(`- ${engine} (${store}): ${note}\n`);
process.exit(0);

function parseArgs(argv: string[]): { events: number; stores: string[]; batch: number; nodeRed: boolean; profile?: string } {
  const out = { events: 200_000, stores: ['pglite', 'postgres'], batch: 500, nodeRed: true, profile: undefined as string | undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--events') out.events = Number(argv[++i]);
    else if (a === '--store') out.stores = argv[++i]!.split(',');
    else if (a === '--batch') out.batch = Number(argv[++i]);
    else if (a === '--no-node-red') out.nodeRed = false;
    else if (a === '--profile') out.profile = argv[++i];
    else throw new Error(`unknown option ${a}; see the comment at the top of bench/brain.ts`);
  }
  return out;
}
