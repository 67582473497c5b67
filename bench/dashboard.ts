/**
 * `npm run bench:dashboard` — how long the Authority Command Dashboard takes to load (issue 6:
 * under 2 s on loopback with 10,000 events in the store), in Debian's headless Chromium against a
 * real node.
 *
 * "Loaded" is what an operator waits for: from navigation to the live map drawn with the zones and
 * the newest events and decisions (the map region's `data-ready="true"`, set after maplibre's
 * first 'idle' with every source filled). The session is a signed-in one resumed from the tab (the
 * refresh token in sessionStorage, as after a reload), so the time includes the token refresh and
 * /api/v1/auth/me. Cold = a fresh browser profile (nothing cached); warm = a reload.
 *
 *   npm run bench:dashboard                     10,000 events, 5 cold and 5 warm loads
 *   npm run bench:dashboard -- --events 50000 --runs 10
 */
import type { Page } from 'playwright-core';
import { call, NO_RATE_LIMITS, startTestNode, suiteCleanup } from '../test/helpers/node.js';
import { seedRegistration, CHENNAI_ZONES } from '../test/helpers/fixtures.js';
import { chromiumMissing, launchBrowser } from '../test/helpers/browser.js';
import { signIn } from '../test/helpers/users.js';
import { machine, markdownTable, progress } from './report.js';

const TARGET_MS = 2000;
const args = parseArgs(process.argv.slice(2));
const missing = chromiumMissing();
if (missing) {
  console.error(missing);
  process.exit(1);
}

const cleanup = suiteCleanup();
try {
  // Rate limits off: the bench signs in once per load, from one address.
  const node = await startTestNode(cleanup, { zonesFile: CHENNAI_ZONES, mqtt: { enabled: false }, ...NO_RATE_LIMITS });
  const registered = await call(node, 'POST', '/api/v1/plugin/register', { headers: node.admin, body: seedRegistration() });
  if (registered.status !== 201) throw new Error(`registration: ${JSON.stringify(registered.body)}`);
  await storeEvents(node, registered.body.api_key, args.events);
  const stored = (await call(node, 'GET', '/api/v1/decisions?limit=1', { headers: node.admin })).body;
  progress(`${args.events.toLocaleString('en')} events stored (with their decisions: ${stored.decisions.length > 0 ? 'yes' : 'none'})`);

  const browser = await launchBrowser(cleanup);
  const admin = await signIn(node, { role: 'tenant_admin', name: 'bench' });
  const cold: Load[] = [];
  const warm: Load[] = [];
  for (let run = 0; run < args.runs; run++) {
    const context = await browser.newContext({ viewport: { width: 1366, height: 768 } });
    const refresh = await freshRefreshToken(node, admin);
    // Runs in the page (a string: the node's tsconfig has no DOM types). Only the first load
    // of the tab gets it; the reload resumes with the token the page itself rotated.
    await context.addInitScript(`if (!sessionStorage.getItem('possible-city.refresh')) sessionStorage.setItem('possible-city.refresh', ${JSON.stringify(refresh)});`);
    const page = await context.newPage();
    cold.push(await load(page, () => page.goto(`${node.url}/#/map`)));
    warm.push(await load(page, () => page.reload()));
    progress(`run ${run + 1}/${args.runs}: cold ${cold.at(-1)!.readyMs.toFixed(0)} ms, warm ${warm.at(-1)!.readyMs.toFixed(0)} ms`);
    await context.close();
  }

  const rows = [
    row('cold load: map ready', cold, (l) => l.readyMs, `< ${TARGET_MS} ms`),
    row('cold load: DOMContentLoaded', cold, (l) => l.domContentLoadedMs, '—'),
    row('warm reload: map ready', warm, (l) => l.readyMs, `< ${TARGET_MS} ms`),
    row('cold load: bytes over the wire', cold, (l) => l.transferKb, '—', 'kB'),
    row('points drawn', cold, (l) => l.points, '—', ''),
  ];
  console.log(`\n## Dashboard page load — ${args.events.toLocaleString('en')} events in the store (PGlite), ${args.runs} runs\n`);
  console.log(markdownTable(['measure', 'target', 'median', 'worst'], rows));
  console.log(`\n${machine()}Browser: ${browser.version()} (Debian chromium, headless, SwiftShader WebGL)\n`);
} finally {
  await cleanup.run();
}

interface Load {
  readyMs: number;
  domContentLoadedMs: number;
  transferKb: number;
  points: number;
}

async function load(page: Page, navigate: () => Promise<unknown>): Promise<Load> {
  const started = performance.now();
  await navigate();
  const map = page.locator('[aria-label="Incident map"][data-ready="true"]');
  await map.waitFor({ timeout: 60_000 });
  const readyMs = performance.now() - started;
  // A load only counts when the map is really drawn (a stylesheet once left it 0 px tall while ready).
  const box = await map.locator('canvas').first().boundingBox();
  if (!box || box.height < 200) throw new Error(`the map's canvas is ${JSON.stringify(box)}: not drawn, the load does not count`);
  const timing = await page.evaluate<{ dcl: number; bytes: number }>(`(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const resources = performance.getEntriesByType('resource');
    return { dcl: nav ? nav.domContentLoadedEventEnd : NaN, bytes: resources.reduce((n, r) => n + r.transferSize, nav ? nav.transferSize : 0) };
  })()`);
  return { readyMs, domContentLoadedMs: timing.dcl, transferKb: timing.bytes / 1024, points: Number(await map.getAttribute('data-points')) };
}

/** Events spread over Chennai in the last hour, a mix of severities, sent as batches of 1,000. */
async function storeEvents(node: { url: string }, key: string, count: number): Promise<void> {
  const severities = ['low', 'medium', 'high', 'critical'];
  const now = Date.now();
  for (let sent = 0; sent < count; ) {
    const batch = [];
    for (let i = 0; i < 1000 && sent < count; i++, sent++) {
      batch.push({
        timestamp: new Date(now - Math.floor(((count - sent) / count) * 3_600_000)).toISOString(),
        location: { latitude: 12.97 + ((sent * 7919) % 1000) / 6000, longitude: 80.19 + ((sent * 104729) % 1000) / 10000, address: `bench ${sent}` },
        violation_type: 'speeding',
        vehicle_data: { license_plate: `TN${sent}`, vehicle_type: 'car', speed_kmh: 60 + (sent % 50) },
        evidence: { image_urls: [] },
        severity: severities[sent % 4],
        confidence_score: 0.5 + (sent % 50) / 100,
      });
    }
    const res = await call(node, 'POST', '/webhook/traffic-violation-detector-v2', { headers: { 'x-api-key': key }, body: batch });
    if (res.status !== 202) throw new Error(`ingest: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
    progress(`stored ${sent.toLocaleString('en')} / ${count.toLocaleString('en')} events`);
  }
}

async function freshRefreshToken(node: { url: string }, who: { username: string; password: string }): Promise<string> {
  const res = await call(node, 'POST', '/api/v1/auth/login', { body: { username: who.username, password: who.password } });
  if (res.status !== 200) throw new Error(`sign-in: ${JSON.stringify(res.body)}`);
  return res.body.refresh_token;
}

function row(name: string, loads: Load[], pick: (l: Load) => number, target: string, unit = 'ms'): string[] {
  const values = loads.map(pick).sort((a, b) => a - b);
  const fmt = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? '—' : `${v.toLocaleString('en', { maximumFractionDigits: 0 })}${unit ? ` ${unit}` : ''}`);
  return [name, target, fmt(values[Math.floor((values.length - 1) / 2)]), fmt(values.at(-1))];
}

function parseArgs(argv: string[]): { events: number; runs: number } {
  const get = (name: string, fallback: number) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? Number(argv[i + 1]) : fallback;
  };
  return { events: get('events', 10_000), runs: get('runs', 5) };
}
