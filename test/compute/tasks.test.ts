import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { centroidOf, distanceM, metresPerDegreeLat, metresPerDegreeLng } from '../../src/geo/geodesy.js';
import { loadZoneFile } from '../../src/geo/zone-file.js';
import { ZoneTree } from '../../src/geo/zones.js';
import { anomalyScoring, scoreSeries, type AnomalyInput } from '../../src/compute/tasks/anomaly.js';
import { floodSimulation, isEnsembleOutput, simulateFlood, type FloodInput, type FloodResult } from '../../src/compute/tasks/flood.js';
import { TASK_KINDS, TaskFailedError, TaskInputError } from '../../src/compute/tasks/kinds.js';
import { constructRoutes, improveRoute, routeDistanceM, routeOptimisation, type RouteInput } from '../../src/compute/tasks/route-optimisation.js';
import { TaskRunner } from '../../src/compute/tasks/runner.js';
import { PROJECT_ROOT } from '../../src/node/paths.js';
import { CHENNAI_ZONES } from '../helpers/fixtures.js';

/** Deterministic noise (mulberry32), so a failure can be replayed. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const inputError = (field: string) => (err: unknown) => err instanceof TaskInputError && err.field === field;
const failed = (reason: string, text: string) => (err: unknown) => err instanceof TaskFailedError && err.reason === reason && err.message.includes(text);

/** A 40 × 30 grid of 10 m cells: a valley running down the middle column, falling 1 m per 100 m north to south, with 20 cm bumps. */
function valley(extra: Partial<FloodInput> = {}): FloodInput {
  const rows = 40;
  const cols = 30;
  const rnd = prng(7);
  const elevation_m = Array.from({ length: rows * cols }, (_, i) => 5 + Math.abs((i % cols) - 15) * 0.3 + (rows - Math.floor(i / cols)) * 0.1 + rnd() * 0.2);
  return { grid: { rows, cols, elevation_m, cell_m: 10 }, rainfall_mm_per_h: 80, duration_min: 60, ...extra };
}

const balance = (r: FloodResult) => Math.abs(r.rain_volume_m3 - r.drained_volume_m3 - r.volume_m3) / r.rain_volume_m3;

test('flood: uniform rain on flat ground stays where it fell, mm for mm', () => {
  const out = simulateFlood({ grid: { rows: 5, cols: 4, elevation_m: new Array(20).fill(3), cell_m: 25 }, duration_min: 60 }, 36, () => {});
  for (const d of out.final_depth_m) assert.ok(Math.abs(d - 0.036) < 1e-12, `36 mm/h for an hour is 36 mm, got ${d}`);
  assert.equal(out.flooded_cells, 0);
  assert.ok(Math.abs(out.volume_m3 - 0.036 * 20 * 625) < 1e-9, 'the volume is the rain on the grid');
});

test('flood: water runs downhill into the valley and the drains; rain in − drained = stored', () => {
  const drains = [{ row: 39, col: 15, capacity_m3_per_s: 0.5 }, { row: 20, col: 15, capacity_m3_per_s: 0.2 }];
  const input = valley({ drains });
  const out = floodSimulation.run(floodSimulation.validate(input), () => {}) as FloodResult;
  assert.ok(balance(out) < 1e-9, `mass balance off by ${balance(out)}`);
  assert.ok(out.drained_volume_m3 > 0 && out.drained_volume_m3 <= (0.5 + 0.2) * 3600 + 1e-6, 'drains take no more than their capacity');
  const depthAt = (r: number, c: number) => out.max_depth_m[r * 30 + c]!;
  assert.ok(depthAt(30, 15) > 5 * depthAt(30, 2), 'the valley floor floods deeper than its slopes');
  assert.ok(depthAt(38, 15) > depthAt(5, 15), 'and deeper downstream than upstream');
  assert.ok(out.flooded_cells > 0 && out.flooded_cells < 1200, `${out.flooded_cells} cells flooded: some, not all`);
  assert.ok(out.final_depth_m.every((d) => d >= 0), 'no negative depths');
  // Without drains, all of it stays.
  const closed = floodSimulation.run(valley(), () => {}) as FloodResult;
  assert.ok(balance(closed) < 1e-9 && closed.drained_volume_m3 === 0, 'a closed grid keeps all its rain');
  assert.ok(closed.volume_m3 > out.volume_m3, 'drains lower the stored volume');
});

test('flood: a step beyond the stability limit is shortened, and depths neither go negative nor oscillate', () => {
  const input = valley({ step_s: 600, rainfall_mm_per_h: 200 });
  const out = floodSimulation.run(input, () => {}) as FloodResult;
  assert.ok(out.step_s <= 2.5 && out.steps >= 1440, `10 m cells at 1 m/s allow 2.5 s steps, took ${out.step_s}`);
  assert.ok(balance(out) < 1e-9, `mass balance off by ${balance(out)}`);
  assert.ok(Math.max(...out.max_depth_m) < out.rain_volume_m3 / 100, 'no cell holds more than all the rain');
  // A pit in flat ground: its neighbours drain into it, and it ends with their water.
  const flat = new Array(49).fill(1);
  flat[24] = 0;
  const pit = simulateFlood({ grid: { rows: 7, cols: 7, elevation_m: flat, cell_m: 5 }, duration_min: 30, step_s: 600 }, 100, () => {});
  assert.ok(pit.final_depth_m[24]! > 0.3 && pit.final_depth_m[0]! < 0.06, `pit ${pit.final_depth_m[24]} m, corner ${pit.final_depth_m[0]} m`);
});

test('flood: ensemble members fan out one per part; merged parts equal the whole run', () => {
  const input = floodSimulation.validate(valley({ rainfall_mm_per_h: undefined, duration_min: 20, ensemble: [20, 60, 120].map((r) => ({ rainfall_mm_per_h: r })) }));
  const parts = floodSimulation.split(input, 8);
  assert.equal(parts.length, 3);
  assert.equal(floodSimulation.split(input, 2).length, 2);
  assert.deepEqual(floodSimulation.split(valley(), 4).length, 1, 'one storm is one part');
  const merged = floodSimulation.merge(parts.map((p) => floodSimulation.run(p, () => {})), input);
  assert.deepEqual(merged, floodSimulation.run(input, () => {}));
  assert.ok(isEnsembleOutput(merged), 'an ensemble run answers with members');
  assert.deepEqual(merged.members.map((m) => m.rainfall_mm_per_h), [20, 60, 120]);
  merged.max_depth_m.forEach((d, i) => assert.equal(d, Math.max(...merged.members.map((m) => m.max_depth_m[i]!)), `cell ${i}`));
  assert.ok(merged.members[0]!.flooded_cells <= merged.members[2]!.flooded_cells, 'more rain floods more cells');
});

test('flood: a wrong input names its field', () => {
  const g = valley().grid;
  assert.throws(() => floodSimulation.validate({ ...valley(), grid: { ...g, elevation_m: [1, 2] } }), inputError('grid.elevation_m'));
  assert.throws(() => floodSimulation.validate({ ...valley(), grid: { ...g, elevation_m: g.elevation_m.map((e, i) => (i === 3 ? Number.NaN : e)) } }), inputError('grid.elevation_m[3]'));
  assert.throws(() => floodSimulation.validate(valley({ drains: [{ row: 40, col: 0, capacity_m3_per_s: 1 }] })), inputError('drains[0].row'));
  assert.throws(() => floodSimulation.validate(valley({ rainfall_mm_per_h: undefined })), inputError('rainfall_mm_per_h'));
});

// --- route_optimisation ----------------------------------------------------------------------

/** Chennai's ward centroids as stops, from the Corporation's Ripon Building as depot. */
async function chennaiStops(): Promise<RouteInput['stops']> {
  const wards = new ZoneTree(await loadZoneFile(CHENNAI_ZONES)).all().filter((z) => z.level === 'neighbourhood' && z.geometry);
  return wards.map((w) => {
    const [lng, lat] = centroidOf(w.geometry!)!;
    return { id: w.id, lat: lat!, lng: lng! };
  });
}
const RIPON = { lat: 13.0817, lng: 80.2707 };

function crosses(route: number[], input: RouteInput): boolean {
  const pts = [input.depot, ...route.map((i) => input.stops[i]!), input.depot];
  const side = (a: typeof input.depot, b: typeof a, c: typeof a) => Math.sign((b.lng - a.lng) * (c.lat - a.lat) - (b.lat - a.lat) * (c.lng - a.lng));
  for (let i = 0; i + 1 < pts.length; i++) {
    for (let j = i + 2; j + 1 < pts.length; j++) {
      if (i === 0 && j === pts.length - 2) continue; // both touch the depot
      const [a, b, c, d] = [pts[i]!, pts[i + 1]!, pts[j]!, pts[j + 1]!];
      if (side(a, b, c) * side(a, b, d) < 0 && side(c, d, a) * side(c, d, b) < 0) return true;
    }
  }
  return false;
}

test('routes: on a known instance nearest neighbour crosses itself and 2-opt removes the crossing, reaching the optimum', () => {
  // x east, y north, in 0.001° steps from the depot D:   s3 (0,4)
  //                                                      D (0,0)   s0 (2,0)
  //                                        s1 (-2,-2)
  //                                         s2 (-1,-3)                    s4 (4,-4)
  const at = (x: number, y: number) => ({ lat: RIPON.lat + y * 0.001, lng: RIPON.lng + x * 0.001 });
  const xy = [[2, 0], [-2, -2], [-1, -3], [0, 4], [4, -4]] as const;
  const input: RouteInput = { depot: RIPON, vehicles: 1, stops: xy.map(([x, y], k) => ({ id: `s${k}`, ...at(x, y) })) };
  const nn = constructRoutes(input).routes[0]!;
  assert.deepEqual(nn, [0, 2, 1, 4, 3], 'D → s0 → s2 → s1 → s4 → s3 → D: s0–s2 and s1–s4 cross');
  assert.ok(crosses(nn, input), 'nearest neighbour crosses itself here');
  const better = improveRoute(input, nn);
  assert.ok(!crosses(better, input), '2-opt leaves no crossing');
  const perms = (xs: number[]): number[][] => (xs.length <= 1 ? [xs] : xs.flatMap((x, i) => perms([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p])));
  const optimum = Math.min(...perms([0, 1, 2, 3, 4]).map((p) => routeDistanceM(input, p)));
  assert.ok(Math.abs(routeDistanceM(input, better) - optimum) < 1e-6, 'the best of all 120 orders');
  assert.ok(routeDistanceM(input, better) < routeDistanceM(input, nn) - 400, 'removing the crossing saves over 400 m');
});

test("routes: Chennai's 201 wards, 6 vehicles of 40 — every ward once, capacity kept, 2-opt never worse than construction", async () => {
  const input = routeOptimisation.validate({ depot: RIPON, stops: await chennaiStops(), vehicles: 6, capacity: 40 });
  assert.equal(input.stops.length, 201, 'wards w000–w200');
  const built = constructRoutes(input);
  for (const r of built.routes) assert.ok(routeDistanceM(input, improveRoute(input, r)) <= routeDistanceM(input, r), '2-opt is never worse than construction');
  const out = routeOptimisation.run(input, () => {});
  assert.deepEqual(out.unassigned_stop_ids, []);
  assert.deepEqual(out.routes.flatMap((r) => r.stop_ids).sort(), input.stops.map((s) => s.id).sort());
  assert.ok(out.routes.every((r) => r.stop_ids.length <= 40), 'no route over capacity');
  const byId = new Map(input.stops.map((s) => [s.id, s]));
  let total = 0;
  for (const r of out.routes) {
    const pts = [RIPON, ...r.stop_ids.map((id) => byId.get(id)!), RIPON];
    const d = pts.slice(1).reduce((sum, p, k) => sum + distanceM(pts[k]!.lat, pts[k]!.lng, p.lat, p.lng), 0);
    assert.ok(Math.abs(d - r.distance_m) < 1e-6, `vehicle ${r.vehicle}: ${d} m recomputed, ${r.distance_m} m reported`);
    total += d;
  }
  assert.ok(Math.abs(total - out.total_distance_m) < 1e-6, 'the total is the sum of the routes');
  const constructed = built.routes.reduce((sum, r) => sum + routeDistanceM(input, r), 0);
  assert.ok(out.total_distance_m < constructed, `2-opt improved on ${constructed.toFixed(0)} m: ${out.total_distance_m.toFixed(0)} m`);
  // Random instances too: 2-opt is never worse, route by route.
  for (let seed = 1; seed <= 20; seed++) {
    const rnd = prng(seed);
    const stops = Array.from({ length: 30 }, (_, k) => ({ id: `r${k}`, lat: RIPON.lat + (rnd() - 0.5) * 0.1, lng: RIPON.lng + (rnd() - 0.5) * 0.1 }));
    const small: RouteInput = { depot: RIPON, stops, vehicles: 3 };
    for (const r of constructRoutes(small).routes) assert.ok(routeDistanceM(small, improveRoute(small, r)) <= routeDistanceM(small, r) + 1e-9, `seed ${seed}: 2-opt made a route longer`);
  }
});

test('routes: a short fleet leaves stops unassigned rather than overloading; no capacity shares the stops out', async () => {
  const stops = (await chennaiStops()).slice(0, 30).map((s, k) => ({ ...s, demand: 1 + (k % 4) }));
  const short = routeOptimisation.run(routeOptimisation.validate({ depot: RIPON, stops, vehicles: 2, capacity: 20 }), () => {});
  assert.ok(short.unassigned_stop_ids.length > 0, 'two vehicles of 20 cannot take 73 units of demand');
  const demand = new Map(stops.map((s) => [s.id, s.demand]));
  for (const r of short.routes) assert.ok(r.stop_ids.reduce((sum, id) => sum + demand.get(id)!, 0) <= 20, `vehicle ${r.vehicle} is over capacity`);
  const even = routeOptimisation.run({ depot: RIPON, stops: stops.map(({ demand: _, ...s }) => s), vehicles: 4 }, () => {});
  assert.deepEqual(even.unassigned_stop_ids, []);
  assert.deepEqual(even.routes.map((r) => r.stop_ids.length), [8, 8, 8, 6]);
  assert.throws(() => routeOptimisation.validate({ depot: RIPON, stops: [...stops, stops[0]], vehicles: 2 }), inputError('stops[30].id'));
  assert.throws(() => routeOptimisation.validate({ depot: RIPON, stops, vehicles: 2, capacity: 3 }), inputError('stops[3].demand'));
  assert.throws(() => routeOptimisation.validate({ depot: { lat: 95, lng: 80 }, stops, vehicles: 2 }), inputError('depot.lat'));
});

test('routes: split sweeps sectors around the depot, shares the fleet out, and merge renumbers the vehicles', async () => {
  const input = routeOptimisation.validate({ depot: RIPON, stops: await chennaiStops(), vehicles: 7, capacity: 40 });
  const parts = routeOptimisation.split(input, 3);
  assert.equal(parts.length, 3);
  assert.equal(parts.reduce((sum, p) => sum + p.vehicles, 0), 7);
  assert.deepEqual(parts.flatMap((p) => p.stops.map((s) => s.id)).sort(), input.stops.map((s) => s.id).sort());
  // Sectors: each part's bearings form one arc that no other part's stop falls inside.
  const kx = metresPerDegreeLng(RIPON.lat);
  const ky = metresPerDegreeLat(RIPON.lat);
  const bearing = (s: { lat: number; lng: number }) => Math.atan2((s.lat - RIPON.lat) * ky, (s.lng - RIPON.lng) * kx);
  const sequence = parts.flatMap((p, k) => p.stops.map((s) => [bearing(s), k] as const)).sort((a, b) => a[0] - b[0]);
  const changes = sequence.filter((x, i) => x[1] !== sequence[(i + 1) % sequence.length]![1]).length;
  assert.equal(changes, 3, 'going round the depot, the part changes exactly once per sector');
  const merged = routeOptimisation.merge(parts.map((p) => routeOptimisation.run(p, () => {})), input);
  assert.deepEqual(merged.routes.map((r) => r.vehicle), [0, 1, 2, 3, 4, 5, 6]);
  assert.deepEqual(merged.routes.flatMap((r) => r.stop_ids).sort(), input.stops.map((s) => s.id).sort());
  assert.ok(Math.abs(merged.total_distance_m - merged.routes.reduce((s, r) => s + r.distance_m, 0)) < 1e-6, 'the total is the sum of the routes');
  assert.equal(routeOptimisation.split({ ...input, vehicles: 2 }, 5).length, 2, 'never more parts than vehicles');
});

// --- anomaly_scoring -------------------------------------------------------------------------

/** Air quality over a day of minutes: a daily wave, noise, and planted faults. */
function pm25(seed: number, faults: Record<number, number>): number[] {
  const rnd = prng(seed);
  return Array.from({ length: 600 }, (_, i) => faults[i] ?? 40 + 15 * Math.sin(i / 90) + (rnd() - 0.5) * 4);
}

/** The definition, computed the slow way: sort the trailing window for each point. */
function naiveZ(values: number[], window: number, i: number): number | null {
  const w = values.slice(Math.max(0, i - window), i);
  if (w.length < Math.min(window, Math.max(3, Math.ceil(window / 2)))) return null;
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  };
  const m = median(w);
  const mad = median(w.map((v) => Math.abs(v - m)));
  const scale = mad > 0 ? 1.4826 * mad : (1.2533 * w.reduce((s, v) => s + Math.abs(v - m), 0)) / w.length;
  return (values[i]! - m) / scale;
}

test('anomalies: a planted spike and a dip are found, and nothing else', () => {
  const out = anomalyScoring.run(anomalyScoring.validate({ series: [{ sensor_id: 'aq-w119', values: pm25(3, { 300: 180, 450: 2 }) }] }), () => {});
  assert.deepEqual(out.sensors[0]!.anomalies.map((a) => a.index), [300, 450]);
  assert.ok(out.sensors[0]!.anomalies[0]!.z > 20 && out.sensors[0]!.anomalies[1]!.z < -3.5, JSON.stringify(out.sensors[0]!.anomalies));
  assert.equal(out.sensors[0]!.scored, 600 - 30, 'scoring starts when the 60-point window is half full');
  assert.equal(out.total_anomalies, 2);
});

test('anomalies: z-scores match the definition computed by sorting each window', () => {
  for (const window of [5, 8, 31]) {
    const values = pm25(window, { 50: 90, 51: 95, 120: 0 }).map((v, i) => (i % 17 === 0 ? Math.round(v) : v));
    const { anomalies, scored } = scoreSeries(values, window, 1e-9);
    const expected = values.map((_, i) => naiveZ(values, window, i)).filter((z): z is number => z !== null);
    assert.equal(scored, expected.length);
    const byIndex = new Map(anomalies.map((a) => [a.index, a.z]));
    values.forEach((_, i) => {
      const z = naiveZ(values, window, i);
      if (z !== null && Math.abs(z) >= 1e-9) assert.ok(Math.abs(byIndex.get(i)! - z) < 1e-9 * Math.max(1, Math.abs(z)), `window ${window}, point ${i}`);
    });
  }
  // A stuck sensor then a jump: no spread to scale by, so the jump is infinitely unusual.
  assert.deepEqual(scoreSeries([5, 5, 5, 5, 5, 5, 7], 4, 3.5).anomalies, [{ index: 6, value: 7, z: Infinity }]);
});

test('anomalies: split by sensors and merged in order equals the whole run; wrong values are named', () => {
  const input: AnomalyInput = { series: Array.from({ length: 7 }, (_, k) => ({ sensor_id: `s${k}`, values: pm25(k, { [100 + k]: 500 }) })), window: 30 };
  const parts = anomalyScoring.split(input, 3);
  assert.deepEqual(parts.map((p) => p.series.length), [2, 2, 3]);
  assert.deepEqual(anomalyScoring.merge(parts.map((p) => anomalyScoring.run(p, () => {})), input), anomalyScoring.run(input, () => {}));
  assert.throws(() => anomalyScoring.validate({ series: [{ sensor_id: 'a', values: [1] }, { sensor_id: 'b', values: [1, 2, 'x'] }] }), inputError('series[1].values[2]'));
  assert.throws(() => anomalyScoring.validate({ series: [], window: 2 }), inputError('window'));
});

// --- through the sandboxed runner ------------------------------------------------------------

const runner = new TaskRunner({ keepIdle: 2 });
after(() => runner.close());

const LIMITS = { timeoutMs: 20_000, maxMemoryMb: 64 };

test('runner: every kind runs in a worker and answers what it answers in this thread', async () => {
  const inputs: Record<string, unknown> = {
    flood_simulation: valley({ duration_min: 10, drains: [{ row: 39, col: 15, capacity_m3_per_s: 0.3 }] }),
    route_optimisation: { depot: RIPON, stops: (await chennaiStops()).slice(0, 60), vehicles: 3, capacity: 25 },
    anomaly_scoring: { series: [{ sensor_id: 'aq', values: pm25(1, { 200: 300 }) }] },
  };
  assert.deepEqual(Object.keys(inputs).sort(), [...TASK_KINDS.keys()].sort());
  for (const [kind, input] of Object.entries(inputs)) {
    const k = TASK_KINDS.get(kind)!;
    const run = await runner.run({ kind, input }, LIMITS);
    assert.deepEqual(run.output, k.run(k.validate(input), () => {}), kind);
    assert.ok(run.cpu_ms >= 0 && run.wall_ms >= run.cpu_ms * 0.5, `${kind}: cpu ${run.cpu_ms} ms, wall ${run.wall_ms} ms`);
  }
  await assert.rejects(runner.run({ kind: 'anomaly_scoring', input: { series: [{ sensor_id: '', values: [] }] } }, LIMITS), inputError('series[0].sensor_id'));
  await assert.rejects(runner.run({ kind: 'mine_bitcoin', input: {} }, LIMITS), inputError('kind'));
  await assert.rejects(runner.run({ kind: 'anomaly_scoring', input: { series: [], window: () => 5 } }, LIMITS), inputError('input'));
});

test('runner: the worker loads TypeScript itself where tsx is registered in code, as bin/city.mjs does', async () => {
  // A fresh process without --import tsx, with bin/city.mjs's flag: only register(), so the
  // worker cannot inherit the loader. (CommonJS -e: --input-type would be inherited by the worker.)
  const script = `import('tsx/esm/api').then(async ({ register }) => {
    register();
    const { TaskRunner } = await import('./src/compute/tasks/runner.ts');
    const run = await new TaskRunner().run({ kind: 'anomaly_scoring', input: { series: [{ sensor_id: 'a', values: [1, 2, 1, 2, 1, 2, 1, 50] }], window: 6 } }, { timeoutMs: 10000, maxMemoryMb: 32 });
    console.log(JSON.stringify(run.output));
  });`;
  const args = ['--max-semi-space-size=64', '-e', script];
  const { stdout } = await promisify(execFile)(process.execPath, args, { cwd: PROJECT_ROOT, env: { ...process.env, NODE_OPTIONS: '' } });
  assert.deepEqual(JSON.parse(stdout).sensors[0].anomalies.map((a: { index: number }) => a.index), [7]);
});

/** A week of rain on 1 m cells: 14,400 steps a simulated hour, about a minute of work — far longer than any test waits. */
const endless = () => ({ kind: 'flood_simulation', input: { ...valley(), grid: { ...valley().grid, cell_m: 1 }, duration_min: 7 * 24 * 60 } });

test('runner: a task past its time limit is terminated; progress comes at most every 100 ms', async () => {
  const seen: Array<[number, number]> = [];
  const started = performance.now();
  await assert.rejects(
    runner.run(endless(), { timeoutMs: 700, maxMemoryMb: 64 }, (f) => seen.push([performance.now(), f])),
    failed('timeout', 'exceeded its time limit of 700 ms'),
  );
  assert.ok(performance.now() - started < 5_000, 'the time limit ended the task');
  assert.ok(seen.length >= 2 && seen.length <= 9, `${seen.length} progress reports in 700 ms`);
  assert.ok(seen.every(([, f], i) => f > 0 && f < 0.5 && (i === 0 || f >= seen[i - 1]![1])), JSON.stringify(seen));
});

test('runner: cancelling terminates the task; a signal already aborted starts nothing', async () => {
  const ac = new AbortController();
  await assert.rejects(
    runner.run(endless(), LIMITS, () => ac.abort(), ac.signal),
    failed('cancelled', 'cancelled'),
  );
  await assert.rejects(runner.run(endless(), LIMITS, undefined, ac.signal), failed('cancelled', 'cancelled'));
});

test('runner: a task that outgrows its heap limit fails as a memory failure, and the runner still works after', async () => {
  const n = 1500; // 2.25 M cells: the input alone is 18 MB of heap in the worker
  const elevation_m = Array.from({ length: n * n }, (_, i) => (i % 13) * 0.1);
  const spec = { kind: 'flood_simulation', input: { grid: { rows: n, cols: n, elevation_m, cell_m: 10 }, rainfall_mm_per_h: 50, duration_min: 1 } };
  await assert.rejects(runner.run(spec, { timeoutMs: 20_000, maxMemoryMb: 32 }), failed('memory', 'exceeded its memory limit of 32 MB'));
  await assert.rejects(runner.run(spec, { timeoutMs: 20_000, maxMemoryMb: 8 }), RangeError);
  const next = await runner.run({ kind: 'anomaly_scoring', input: { series: [] } }, { timeoutMs: 20_000, maxMemoryMb: 32 });
  assert.deepEqual(next.output, { sensors: [], total_anomalies: 0 });
});

test('runner: a thread whose task answered takes the next task with its heap limit; one that was cut off never does', async () => {
  const r = new TaskRunner({ keepIdle: 1 });
  try {
    const quick = { kind: 'anomaly_scoring', input: { series: [{ sensor_id: 'a', values: [1, 2, 1, 2, 1, 2, 1, 50] }], window: 6 } };
    const small = { timeoutMs: 20_000, maxMemoryMb: 32 };
    await r.warm(32, 3);
    assert.equal(r.idle, 1, 'no more warm threads than kept');
    const first = await r.run(quick, small);
    assert.equal((await r.run(quick, small)).thread_id, first.thread_id, 'a warm thread is reused');
    await assert.rejects(r.run({ kind: 'anomaly_scoring', input: { series: 5 } }, small), inputError('series'));
    assert.equal((await r.run(quick, small)).thread_id, first.thread_id, 'a task refused by its own kind leaves the thread clean');
    const bigger = await r.run(quick, { timeoutMs: 20_000, maxMemoryMb: 64 });
    assert.notEqual(bigger.thread_id, first.thread_id, 'another heap limit, another thread');
    const afterSwap = await r.run(quick, small);
    assert.notEqual(afterSwap.thread_id, first.thread_id, 'only one is kept: the 32 MB thread made way');
    await assert.rejects(r.run(endless(), { timeoutMs: 300, maxMemoryMb: 32 }), failed('timeout', 'time limit of 300 ms'));
    const afterTimeout = await r.run(quick, small);
    assert.notEqual(afterTimeout.thread_id, afterSwap.thread_id, 'a thread that was terminated is not reused');
    assert.deepEqual(afterTimeout.output, first.output);
  } finally {
    await r.close();
  }
  assert.equal(r.idle, 0);
  await assert.rejects(r.run({ kind: 'anomaly_scoring', input: { series: [] } }, LIMITS), failed('crashed', 'closed'));
});
