/**
 * `npm run bench:hierarchy` — issue 5's three figures:
 *
 *  1. Reports per second through one link: a Local Brain's outbox holding N window reports (a
 *     backlog after an outage) drained into its district's inbox, each applied exactly once.
 *  2. End-to-end time of a critical escalation, L1 event → city decision, across three real
 *     processes (local → district → city) on loopback (seed 001 §14.1: < 5 s).
 *  3. Directive fan-out to 500 simulated locals: from `POST /api/v1/layer/command` at a district
 *     until every local has it, and until all 500 acknowledgements are back.
 *
 * Options: --reports N (default 3000), --escalations N (default 20), --locals N (default 500).
 * Profile the in-process parts with `node --cpu-prof --import tsx bench/hierarchy.ts`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { SignJWT, generateKeyPair, exportJWK, importJWK, jwtVerify, type CryptoKey, type JWK } from 'jose';
import { DEFAULT_CONFIG, type Config } from '../src/config/config.js';
import { startNode, type CityNode } from '../src/node/node.js';
import { LINK_HEADER } from '../src/hierarchy/link-auth.js';
import { startTree, wardPoints } from '../test/helpers/hierarchy.js';
import { suiteCleanup } from '../test/helpers/node.js';
import { LatencyRecorder, machine, markdownTable, progress } from './report.js';

const args = parseArgs(process.argv.slice(2));
const fmt = (n: number, digits = 0) => n.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits });

const TARGET_REPORTS_PER_S = 100;
const TARGET_ESCALATION_MS = 5_000;
const TARGET_FANOUT_MS = 5_000;

const rows: string[][] = [];
const reportRate = await reportsThroughALink(args.reports);
rows.push(['reports through one link (local → district), PGlite', `${fmt(reportRate.perSecond)} reports/s (${fmt(args.reports)} in ${fmt(reportRate.ms)} ms, ${fmt(reportRate.kbPerReport, 1)} kB each)`, `≥ ${TARGET_REPORTS_PER_S} reports/s`, reportRate.perSecond >= TARGET_REPORTS_PER_S ? 'yes' : 'no']);
const escalation = await criticalEscalation(args.escalations);
rows.push([`critical escalation L1 event → city decision, 3 processes (${args.escalations} runs)`, `p50 ${fmt(escalation.p50)} ms, p95 ${fmt(escalation.p95)} ms, max ${fmt(escalation.max)} ms (city's own latency_ms p50 ${fmt(escalation.cityP50)})`, `< ${fmt(TARGET_ESCALATION_MS)} ms`, escalation.max < TARGET_ESCALATION_MS ? 'yes' : 'no']);
const fanout = await directiveFanOut(args.locals);
rows.push([`directive fan-out to ${args.locals} simulated locals: all received`, `${fmt(fanout.deliveredMs)} ms`, `< ${fmt(TARGET_FANOUT_MS)} ms`, fanout.deliveredMs < TARGET_FANOUT_MS ? 'yes' : 'no']);
rows.push([`directive fan-out to ${args.locals} simulated locals: all acknowledgements back at the district`, `${fmt(fanout.acknowledgedMs)} ms`, `< ${fmt(TARGET_FANOUT_MS)} ms`, fanout.acknowledgedMs < TARGET_FANOUT_MS ? 'yes' : 'no']);

process.stdout.write(`\n## Hierarchy benchmark\n\n${machine()}\n${markdownTable(['measure', 'figure', 'target', 'met'], rows)}\n\n`);
process.exit(0);

// ---- 1. reports through a link ---------------------------------------------------------------

async function reportsThroughALink(n: number): Promise<{ perSecond: number; ms: number; kbPerReport: number }> {
  progress(`reports through a link: a district and a local in this process, ${fmt(n)} reports queued at the local`);
  const cleanup = suiteCleanup();
  try {
    const district = await node(cleanup, 'district', 'bench-district', 'chennai-z09');
    const token = await post(district, '/api/v1/layer/enrolments', { node_id: 'bench-local', role: 'local', zone_id: 'chennai-w109' });
    // The local's sender stays idle (no poke, long poll) until the backlog is queued: the drain is timed alone.
    const local = await node(cleanup, 'local', 'bench-local', 'chennai-w109', { parentUrl: district.url, enrolToken: token.token }, { idlePollMs: 600_000 });
    await until('enrolled', async () => local.hierarchy.links.parent() !== null);
    // A realistic report: the shape a Local Brain builds (src/brain/aggregation.ts), 12 event types, 40 resources.
    const windowMs = 15 * 60_000;
    const start0 = Math.floor(Date.now() / windowMs) * windowMs - n * windowMs;
    const payloads: string[] = [];
    for (let i = 0; i < n; i++) payloads.push(JSON.stringify(sampleReport(start0 + i * windowMs, windowMs)));
    const kb = payloads.reduce((s, p) => s + p.length, 0) / n / 1024;
    for (let i = 0; i < n; i += 500) {
      await local.store.db
        .insertInto('outbox')
        .values(payloads.slice(i, i + 500).map((payload, j) => ({ tenant_id: 'default', message_id: `bench-report-${i + j}`, destination: 'parent', kind: 'aggregation_report', payload })))
        .execute();
    }
    const t0 = performance.now();
    local.hierarchy.poke('parent');
    await until('all reports applied at the district', async () => {
      const row = await district.store.db.selectFrom('child_reports').select((eb) => eb.fn.countAll<string>().as('n')).where('source_node', '=', 'bench-local').executeTakeFirstOrThrow();
      return Number(row.n) >= n;
    }, 600_000, 50);
    const ms = performance.now() - t0;
    return { perSecond: (n / ms) * 1000, ms, kbPerReport: kb };
  } finally {
    await cleanup.run();
  }
}

// ---- 2. critical escalation across processes ---------------------------------------------------

async function criticalEscalation(runs: number): Promise<{ p50: number; p95: number; max: number; cityP50: number }> {
  progress('critical escalation: starting city, district and local processes');
  const cleanup = suiteCleanup();
  try {
    const tree = await startTree(
      cleanup,
      [
        { nodeId: 'city-chennai', role: 'city', zoneId: 'chennai' },
        { nodeId: 'district-teynampet', role: 'district', zoneId: 'chennai-z09', parent: 'city-chennai' },
        { nodeId: 'local-w109', role: 'local', zoneId: 'chennai-w109', parent: 'district-teynampet' },
      ],
      // Production defaults (15-minute windows, 5 s idle poll): only the pokes after each commit make it fast.
      'http:\n  rateLimit:\n    enabled: false\n',
    );
    const point = await wardPoints();
    const local = tree.get('local-w109')!;
    const city = tree.get('city-chennai')!;
    const wall = new LatencyRecorder();
    const own = new LatencyRecorder();
    let max = 0;
    for (let i = 0; i < runs; i++) {
      const eventId = randomUUID();
      const flood = { event_id: eventId, timestamp: new Date().toISOString(), location: point('chennai-w109'), sensor_id: `drain-${i}`, water_level_cm: 90, severity: 'critical', confidence_score: 0.97 };
      const t0 = performance.now();
      const res = await fetch(`${local.proc.url}/webhook/flood-level-monitor-v1`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': local.proc.pluginKeys['flood-level-monitor-v1']! }, body: JSON.stringify(flood) });
      if (res.status !== 202) throw new Error(`event refused: ${res.status} ${await res.text()}`);
      let decision: any;
      await until(`the city decided on event ${i}`, async () => {
        const list = (await (await fetch(`${city.proc.url}/api/v1/decisions?limit=20`, { headers: city.auth })).json()) as { decisions: any[] };
        decision = list.decisions.find((d) => d.event_ids.includes(eventId));
        return decision !== undefined;
      }, 30_000, 10);
      const ms = performance.now() - t0;
      wall.add(ms);
      own.add(decision.latency_ms);
      max = Math.max(max, ms);
      progress(`escalation ${i + 1}/${runs}: ${fmt(ms)} ms (city latency_ms ${decision.latency_ms})`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return { p50: wall.percentile(50), p95: wall.percentile(95), max, cityP50: own.percentile(50) };
  } finally {
    await cleanup.run();
  }
}

// ---- 3. directive fan-out ------------------------------------------------------------------------

async function directiveFanOut(count: number): Promise<{ deliveredMs: number; acknowledgedMs: number }> {
  progress(`directive fan-out: a district in this process and ${count} simulated locals behind one HTTP server`);
  const cleanup = suiteCleanup();
  try {
    const district = await node(cleanup, 'district', 'bench-district', 'chennai-z09');
    const sims = new Map<string, { key: CryptoKey; received: number | null }>();
    let districtKey: CryptoKey | null = null;
    let t0 = 0;
    let lastReceived = 0;
    // The simulated locals: each checks the district's signed credential, answers the batch, and
    // sends its `completed` status back over its own signed link — what a real local does, minus the store.
    const server = createServer((req, res) => void handle(req, res));
    const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
      const id = /^\/sim\/([^/]+)\//.exec(req.url ?? '')?.[1];
      const sim = id ? sims.get(id) : undefined;
      const body = JSON.parse(await readBody(req)) as { from_node: string; messages: Array<{ message_id: string; kind: string; payload: any }> };
      if (!sim || !districtKey) return void res.writeHead(404).end();
      try {
        await jwtVerify(String(req.headers[LINK_HEADER]), districtKey, { issuer: 'bench-district', audience: id });
      } catch {
        return void res.writeHead(401).end();
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ results: body.messages.map((m) => ({ message_id: m.message_id, status: 'applied' })) }));
      for (const m of body.messages) {
        if (m.kind !== 'directive') continue;
        sim.received = performance.now();
        lastReceived = Math.max(lastReceived, sim.received);
        const status = { directive_id: m.payload.directive_id, origin_node: m.payload.origin_node, node_id: id, parent_node: 'bench-district', role: 'local', zone_id: null, status: 'completed', detail: { simulated: true }, at: new Date().toISOString() };
        const credential = await new SignJWT({ tid: 'default' }).setProtectedHeader({ alg: 'EdDSA' }).setIssuer(id!).setAudience('bench-district').setIssuedAt().setExpirationTime('2m').sign(sim.key);
        await fetch(`${district.url}/api/v1/layer/messages`, { method: 'POST', headers: { 'content-type': 'application/json', [LINK_HEADER]: credential }, body: JSON.stringify({ from_node: id, messages: [{ message_id: randomUUID(), kind: 'directive_status', payload: status }] }) });
      }
    };
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanup.after(() => new Promise<void>((r) => server.close(() => r())));
    const simUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    for (let i = 0; i < count; i++) {
      const id = `sim-${String(i).padStart(4, '0')}`;
      const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
      sims.set(id, { key: privateKey, received: null });
      const { token } = await post(district, '/api/v1/layer/enrolments', { node_id: id, role: 'local', zone_id: null });
      const answer = await post(district, '/api/v1/layer/enrol', { token, node_id: id, role: 'local', zone_id: null, url: `${simUrl}/sim/${id}`, public_key: await exportJWK(publicKey) });
      districtKey ??= (await importJWK(answer.parent.public_key as JWK, 'EdDSA')) as CryptoKey;
      if ((i + 1) % 100 === 0) progress(`enrolled ${i + 1}/${count}`);
    }
    // Let the enrolment traffic (each new local's peer list) settle before timing.
    await until('peer lists delivered', async () => {
      const row = await district.store.db.selectFrom('outbox').select((eb) => eb.fn.countAll<string>().as('n')).where('delivered_at', 'is', null).executeTakeFirstOrThrow();
      return Number(row.n) === 0;
    }, 120_000, 100);
    t0 = performance.now();
    const issued = await post(district, '/api/v1/layer/command', { command: 'clear_route_for_emergency', actions: ['adjust_traffic_lights_to_green', 'alert_traffic_police'], priority: 'critical' });
    if (issued.targets.length !== count) throw new Error(`the directive went to ${issued.targets.length} locals, not ${count}`);
    await until('every simulated local received it', async () => [...sims.values()].every((s) => s.received !== null), 120_000, 5);
    const deliveredMs = lastReceived - t0;
    await until('every acknowledgement is back', async () => {
      const view = await get(district, `/api/v1/layer/directives/${issued.directive.directive_id}`);
      return view.counts.completed === count;
    }, 120_000, 50);
    const acknowledgedMs = performance.now() - t0;
    progress(`fan-out: delivered to all in ${fmt(deliveredMs)} ms, all acknowledged in ${fmt(acknowledgedMs)} ms`);
    return { deliveredMs, acknowledgedMs };
  } finally {
    await cleanup.run();
  }
}

// ---- helpers -----------------------------------------------------------------------------------

async function node(
  cleanup: { after(fn: () => unknown): void },
  role: Config['role'],
  nodeId: string,
  zoneId: string,
  hierarchy: Partial<Config['hierarchy']> = {},
  link: Partial<Config['hierarchy']['link']> = {},
): Promise<CityNode & { auth: Record<string, string> }> {
  const dataDir = await mkdtemp(join(tmpdir(), `bench-${nodeId}-`));
  cleanup.after(() => rm(dataDir, { recursive: true, force: true }));
  const config: Config = {
    ...DEFAULT_CONFIG,
    role,
    nodeId,
    dataDir,
    logLevel: 'warn',
    http: { ...DEFAULT_CONFIG.http, port: 0, rateLimit: { ...DEFAULT_CONFIG.http.rateLimit, enabled: false } },
    mqtt: { ...DEFAULT_CONFIG.mqtt, enabled: false },
    hierarchy: { ...DEFAULT_CONFIG.hierarchy, zoneId, ...hierarchy, link: { ...DEFAULT_CONFIG.hierarchy.link, ...link } },
  };
  const n = await startNode(config, pino({ level: 'warn' }));
  cleanup.after(() => n.close());
  return Object.assign(n, { auth: { authorization: `Bearer ${n.adminToken}` } });
}

async function post(n: { url: string; auth?: Record<string, string> }, path: string, body: unknown): Promise<any> {
  const res = await fetch(n.url + path, { method: 'POST', headers: { 'content-type': 'application/json', ...n.auth }, body: JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`POST ${path}: ${res.status} ${text}`);
  return JSON.parse(text);
}

async function get(n: { url: string; auth?: Record<string, string> }, path: string): Promise<any> {
  const res = await fetch(n.url + path, { headers: { ...n.auth } });
  if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => resolve(text));
    req.on('error', reject);
  });
}

function sampleReport(startMs: number, windowMs: number): Record<string, unknown> {
  const types = ['traffic_violation', 'air_quality_alert', 'waste_bin_full', 'flood_warning', 'traffic_status', 'resource_status', 'noise_complaint', 'streetlight_out', 'pothole', 'water_leak', 'fire_alarm', 'crowd_density'];
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    aggregation_report: {
      source_layer: 'bench-local',
      time_window: `${iso(startMs)} to ${iso(startMs + windowMs)}`,
      summary: {
        total_events: 247 * types.length,
        event_breakdown: Object.fromEntries(types.map((t) => [t, 247])),
        escalated_incidents: [{ incident_id: randomUUID(), type: 'major_flooding', severity: 'high', requires_district_coordination: true, zone_id: 'chennai-w109', decided_at: iso(startMs + 1000), target: 'district_layer', reason: 'waterlogging above 30 cm' }],
        resource_status: { ambulances_available: 2, fire_trucks_available: 1 },
        performance_metrics: { avg_processing_latency_ms: 45, event_accuracy: 0.94, p95_processing_latency_ms: 88, decisions_measured: 120, approvals_resolved: 17 },
        zone_breakdown: { 'chennai-w109': 247 * types.length },
        rejected_events: 3,
        decisions_total: 120,
        escalated_incidents_total: 1,
        resource_totals: { ambulances_total: 3, fire_trucks_total: 2 },
      },
      report_id: randomUUID(),
      window_start: iso(startMs),
      window_end: iso(startMs + windowMs),
      generated_at: iso(startMs + windowMs + 5000),
      event_counts_from: 'live',
      resources: Array.from({ length: 40 }, (_, i) => ({ resource_id: `amb-${i}`, resource_type: i % 2 ? 'ambulance' : 'fire_truck', status: 'available', zone_id: 'chennai-w109', location: { latitude: 13.04 + i / 1000, longitude: 80.25 } })),
    },
  };
}

function parseArgs(argv: string[]): { reports: number; escalations: number; locals: number } {
  const out = { reports: 3000, escalations: 20, locals: 500 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = Number(argv[i + 1]);
    if (a === '--reports') (out.reports = v), i++;
    else if (a === '--escalations') (out.escalations = v), i++;
    else if (a === '--locals') (out.locals = v), i++;
    else throw new Error(`unknown option ${a} (--reports N, --escalations N, --locals N)`);
  }
  return out;
}
