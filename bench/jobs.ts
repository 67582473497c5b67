/**
 * `npm run bench:jobs` — the compute network against BullMQ (issue 7 "Show"): jobs/s and
 * dispatch latency p50/p95 for no-op and small compute jobs with 4 executors, side by side in the
 * same run with BullMQ on a local Redis running the same jobs with the same concurrency (4
 * workers × 1 job at a time), and the ratio Possible City / BullMQ.
 *
 *   Possible City: a node in this process (PGlite) ◄─ task_submit on /api/v1/jobs/ws (16 in flight)
 *                  4 × `city executor --concurrency 1`  ─► task_result on the same socket ─► completions
 *   BullMQ:        redis-server (persistence off; or AOF fsynced on every write) ◄─ queue.add (16 in flight)
 *                  4 worker processes, concurrency 1    ─► QueueEvents ─► completions
 *
 * Both run the same task code: `anomaly_scoring` from src/compute/tasks (bench/jobs/workload.ts).
 * BullMQ runs three times: its processor in the worker's own thread (the usual setup); sandboxed in
 * a BullMQ-managed worker thread (closer to the executors' isolation, where each executor keeps a
 * warm limited thread per job slot); and in-process with Redis fsyncing every write (`durable`,
 * as a Possible City job is committed before it is accepted).
 *
 * Per workload, three runs on each system: a warm-up (not reported), `load` (N jobs submitted as
 * fast as accepted; jobs/s from the first submission to the last completion; latencies include
 * the wait in the queue), and `serial` (one job at a time: the latency of an idle system).
 *
 *   npm run bench:jobs                                  2,000 no-op, 500 small, 50 serial each
 *   npm run bench:jobs -- --jobs 300 --small 100 --serial 20
 *   npm run bench:jobs -- --systems city                Possible City only (e.g. to profile)
 *   npm run bench:jobs -- --systems city,bullmq-durable the two durable systems
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof-jobs --import tsx bench/jobs.ts --jobs 300 --systems city
 *   npm run bench:jobs -- --systems city --profile-executors /tmp/prof-exec   CPU profiles of the executors
 *                                                       (and of every job's worker thread)
 */
import os from 'node:os';
import { BullMqPeer, type BullMqMode } from './jobs/bullmq-peer.js';
import { CityPeer } from './jobs/city-peer.js';
import { describeRun, workloads, type JobsRunResult, type Workload, type WorkloadName } from './jobs/workload.js';
import { machine, markdownTable, progress } from './report.js';

type SystemName = 'city' | 'bullmq' | 'bullmq-sandboxed' | 'bullmq-durable';
const BULLS = ['bullmq', 'bullmq-sandboxed', 'bullmq-durable'] as const;
/** Column labels of the ratios. */
const BULL_LABELS: Record<(typeof BULLS)[number], string> = { bullmq: 'in-process', 'bullmq-sandboxed': 'sandboxed', 'bullmq-durable': 'durable' };
interface Peer {
  system: string;
  run(w: Workload, n: number, mode: JobsRunResult['mode']): Promise<JobsRunResult>;
  close(): Promise<void>;
}

const args = parseArgs(process.argv.slice(2));
const all = workloads();
const plan: Array<{ workload: Workload; n: number }> = [
  { workload: all.noop, n: args.jobs },
  { workload: all.small, n: args.small },
].filter((p) => p.n > 0);

const load0 = os.loadavg()[0]!;
const results = new Map<SystemName, JobsRunResult[]>();
const systemNames = new Map<SystemName, string>();
for (const name of args.systems) {
  progress(`${name}: starting`);
  const peer: Peer = name === 'city' ? await CityPeer.start({ executors: args.executors, inFlight: args.inFlight }, args.profileExecutors ? ['--cpu-prof', `--cpu-prof-dir=${args.profileExecutors}`] : []) : await BullMqPeer.start({ mode: bullMode(name), durable: name === 'bullmq-durable', workers: args.executors, inFlight: args.inFlight });
  systemNames.set(name, peer.system);
  const runs: JobsRunResult[] = [];
  try {
    for (const { workload, n } of plan) {
      if (args.warmup > 0) {
        progress(`${peer.system} · ${workload.name}: warm-up, ${args.warmup} jobs`);
        await peer.run(workload, args.warmup, 'load');
      }
      progress(`${peer.system} · ${workload.name}: ${n.toLocaleString('en')} jobs as fast as accepted`);
      runs.push(await peer.run(workload, n, 'load'));
      progress(describeRun(runs.at(-1)!));
      if (args.serial > 0) {
        progress(`${peer.system} · ${workload.name}: ${args.serial} jobs one at a time`);
        runs.push(await peer.run(workload, args.serial, 'serial'));
        progress(describeRun(runs.at(-1)!));
      }
    }
  } finally {
    await peer.close();
  }
  results.set(name, runs);
}

// ---- the report --------------------------------------------------------------------------------

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '—');
const ratio = (a: number, b: number) => (!Number.isFinite(a) || !Number.isFinite(b) ? '—' : b === 0 ? (a === 0 ? '1.00×' : '∞') : `${fmt(a / b, a / b < 0.1 ? 3 : 2)}×`);
const find = (s: SystemName, w: WorkloadName, mode: JobsRunResult['mode']) => results.get(s)?.find((r) => r.workload === w && r.mode === mode);
const bulls = BULLS.filter((s) => results.has(s));

type Measure = { label: string; value: (r: JobsRunResult) => number; digits: number; higherIsBetter: boolean | null };
const measures: Measure[] = [
  { label: 'jobs/s', value: (r) => r.jobsPerSec, digits: 1, higherIsBetter: true },
  { label: 'dispatch p50 ms', value: (r) => r.dispatch.p50, digits: 0, higherIsBetter: false },
  { label: 'dispatch p95 ms', value: (r) => r.dispatch.p95, digits: 0, higherIsBetter: false },
  { label: 'completion p50 ms', value: (r) => r.completion.p50, digits: 0, higherIsBetter: false },
  { label: 'completion p95 ms', value: (r) => r.completion.p95, digits: 0, higherIsBetter: false },
  { label: 'CPU s / 1,000 jobs', value: (r) => r.cpuSecPer1k, digits: 1, higherIsBetter: null },
];
const rows: string[][] = [];
for (const { workload, n } of plan) {
  for (const mode of ['load', 'serial'] as const) {
    const count = mode === 'load' ? n : args.serial;
    if (count === 0) continue;
    const what = `${workload.label}, ${fmt(count)} jobs, ${mode === 'load' ? 'as fast as accepted' : 'one at a time'}`;
    for (const m of measures) {
      // jobs/s of a serial run is 1 / latency: shown once, as latency.
      if (mode === 'serial' && m.label === 'jobs/s') continue;
      const city = find('city', workload.name, mode);
      const cells = [what, m.label, city ? fmt(m.value(city), m.digits) : '—'];
      const met: string[] = [];
      for (const b of bulls) {
        const bull = find(b, workload.name, mode);
        cells.push(bull ? fmt(m.value(bull), m.digits) : '—', city && bull ? ratio(m.value(city), m.value(bull)) : '—');
        if (city && bull && m.higherIsBetter !== null) met.push((m.higherIsBetter ? m.value(city) >= m.value(bull) : m.value(city) <= m.value(bull)) ? 'yes' : 'no');
      }
      cells.push(m.higherIsBetter === null ? '—' : m.higherIsBetter ? 'ratio ≥ 1' : 'ratio ≤ 1', met.length > 0 ? met.join(' / ') : '—');
      rows.push(cells);
    }
  }
}
const header = ['workload', 'measure', systemNames.get('city') ?? 'Possible City'];
for (const b of bulls) header.push(systemNames.get(b)!, `PC / ${BULL_LABELS[b]}`);
header.push('target: ahead of BullMQ', `met${bulls.length > 1 ? ` (${bulls.map((b) => BULL_LABELS[b]).join(' / ')})` : ''}`);

process.stdout.write(`\n## Jobs benchmark: the compute network against BullMQ\n\n${machine()}`);
process.stdout.write(`Load average (1 min) before / after: ${fmt(load0, 2)} / ${fmt(os.loadavg()[0]!, 2)}. Everything below shares this machine: the node, ${args.executors} executors or workers, Redis, the bench.\n\n`);
process.stdout.write(
  `Each system: ${args.executors} executors / workers × concurrency 1; jobs submitted with at most ${args.inFlight} in flight; ${args.warmup} warm-up jobs per workload first. ` +
    `Both run the same code, \`anomaly_scoring\` from src/compute/tasks. Dispatch = the job taken for a worker − the job created (Possible City: \`assigned_at − created_at\`; BullMQ: \`processedOn − timestamp\`); completion = finished − created. ` +
    `A Possible City job is validated and its input stored content-addressed and committed before it is accepted, runs in a worker thread with heap and time limits on an executor (kept warm between jobs), and its result is signed there, verified by the broker and committed; every state change is committed to the job table in PGlite (group commits). ` +
    `BullMQ in-process runs the same function in the worker process's own thread; sandboxed, in a worker thread BullMQ keeps for the next job. Redis runs with persistence off, except for the durable run (in-process workers), where it appends every write to its AOF and fsyncs it before answering (\`appendfsync always\`), as Possible City commits before it accepts.\n\n`,
);
process.stdout.write(markdownTable(header, rows) + '\n\n');
for (const [name, runs] of results) for (const r of runs) for (const note of r.notes) process.stdout.write(`- ${systemNames.get(name)} · ${r.workload} · ${r.mode}: ${note}\n`);
if (results.has('city')) {
  process.stdout.write(
    `- Possible City executors run with \`--dedicated\` (offer their share whatever the machine's load): otherwise a job (1 core by default) is placed only where the executor's last load reading leaves a core idle, and 4 executors on this one shared machine all read it as busy, so jobs wait for readings (every 10 s) instead of for executors.\n`,
  );
}
process.exit(0);

function bullMode(name: SystemName): BullMqMode {
  return name === 'bullmq-sandboxed' ? 'sandboxed' : 'in-process';
}

function parseArgs(argv: string[]): { jobs: number; small: number; serial: number; warmup: number; executors: number; inFlight: number; systems: SystemName[]; profileExecutors?: string } {
  const out = { jobs: 2000, small: 500, serial: 50, warmup: 20, executors: 4, inFlight: 16, systems: ['city', ...BULLS] as SystemName[], profileExecutors: undefined as string | undefined };
  const count = (a: string, v: string | undefined, min: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`${a} must be a whole number of at least ${min}, not ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[++i];
    if (a === '--jobs') out.jobs = count(a, v, 0);
    else if (a === '--small') out.small = count(a, v, 0);
    else if (a === '--serial') out.serial = count(a, v, 0);
    else if (a === '--warmup') out.warmup = count(a, v, 0);
    else if (a === '--executors') out.executors = count(a, v, 1);
    else if (a === '--in-flight') out.inFlight = count(a, v, 1);
    else if (a === '--profile-executors') out.profileExecutors = v;
    else if (a === '--systems') {
      const list = (v ?? '').split(',');
      for (const s of list) if (s !== 'city' && !(BULLS as readonly string[]).includes(s)) throw new Error(`--systems takes city, ${BULLS.join(', ')}; not ${s}`);
      out.systems = list as SystemName[];
    } else throw new Error(`unknown option ${a}; see the comment at the top of bench/jobs.ts`);
  }
  return out;
}
