/**
 * What `bench:jobs` runs on both systems, and how a run is summarised.
 *
 * Both workloads are the task kind `anomaly_scoring` (src/compute/tasks/anomaly.ts), so the
 * Possible City executors and the BullMQ processors run the very same function:
 *
 * - `noop`: a 1-point series — validated and "scored" in microseconds, so what is measured is
 *   the queue: submission, dispatch, result handling.
 * - `small`: 5 sensors × 1,000 readings — tens of ms of CPU per job, the smallest job worth
 *   sending to another machine.
 *
 * Every job's input differs (its sensor ids carry the job's number): Possible City's data store
 * is content-addressed and would otherwise store one input for all jobs, which no real workload
 * gets.
 */
import { TASK_KINDS } from '../../src/compute/tasks/kinds.js';
import { LatencyRecorder } from '../report.js';

export const WORKLOAD_DEFAULTS = {
  kind: 'anomaly_scoring',
  small: { sensors: 5, points: 1_000 },
} as const;

export type WorkloadName = 'noop' | 'small';

export interface Workload {
  name: WorkloadName;
  /** For the table: what one job is. */
  label: string;
  kind: string;
  /** The input of job `i` (distinct per job). */
  input(i: number): unknown;
  /** What a correct output of job `i` says, checked on the results that come back. */
  expectedAnomalies(i: number): number;
}

/** A deterministic minute series around 40 with one planted spike (as in test/e2e/compute.test.ts). */
function series(n: number, spikeAt: number, phase: number): number[] {
  const values = new Array<number>(n);
  for (let i = 0; i < n; i++) values[i] = 40 + Math.sin((i + phase) / 5) * 2 + (((i + phase) * 7919) % 13) / 13;
  if (spikeAt < n) values[spikeAt] = 95;
  return values;
}

/**
 * The two workloads. Expected anomaly counts are computed once here with the task's own code,
 * so a system that returned something else (or nothing) is caught.
 *
 * @example
 *   const w = workloads().small;
 *   const job = { kind: w.kind, input: w.input(17) };
 */
export function workloads(): Record<WorkloadName, Workload> {
  const kind = TASK_KINDS.get(WORKLOAD_DEFAULTS.kind)!;
  const { sensors, points } = WORKLOAD_DEFAULTS.small;
  const smallInput = (i: number) => ({ series: Array.from({ length: sensors }, (_, s) => ({ sensor_id: `job-${i}-s${s}`, values: series(points, 200 + 150 * s, (i % 7) + s) })) });
  // The series differ only by phase (i % 7): seven expected counts cover every job.
  const smallExpected = Array.from({ length: 7 }, (_, p) => (kind.run(kind.validate(smallInput(p)), () => {}) as { total_anomalies: number }).total_anomalies);
  return {
    noop: { name: 'noop', label: 'no-op (1-point series)', kind: WORKLOAD_DEFAULTS.kind, input: (i) => ({ series: [{ sensor_id: `job-${i}`, values: [1] }] }), expectedAnomalies: () => 0 },
    small: { name: 'small', label: `small compute (${sensors} sensors × ${points.toLocaleString('en')} points)`, kind: WORKLOAD_DEFAULTS.kind, input: smallInput, expectedAnomalies: (i) => smallExpected[i % 7]! },
  };
}

/**
 * Runs a job the way a BullMQ processor does here: the task kind's own validate and run, in the
 * calling thread. Possible City's executors call the same two functions, in a limited worker thread.
 *
 * @example
 *   runTask({ kind: 'anomaly_scoring', input: { series: [{ sensor_id: 'a', values: [1] }] } }).total_anomalies; // → 0
 */
export function runTask(data: { kind: string; input: unknown }): { total_anomalies: number } {
  const kind = TASK_KINDS.get(data.kind);
  if (!kind) throw new Error(`${data.kind} is not a task kind`);
  return kind.run(kind.validate(data.input), () => {}) as { total_anomalies: number };
}

/** One job as a system reports it: wall-clock ms (Date.now scale) of creation, start and end. */
export interface JobTimes {
  createdMs: number;
  startedMs: number;
  finishedMs: number;
  ok: boolean;
}

export interface JobsRunResult {
  system: string;
  workload: WorkloadName;
  /** `load`: submitted as fast as accepted; `serial`: one job at a time, each after the previous finished. */
  mode: 'load' | 'serial';
  jobs: number;
  failed: number;
  /** From the first submission to the last completion seen by the bench. */
  wallMs: number;
  jobsPerSec: number;
  dispatch: { p50: number; p95: number };
  completion: { p50: number; p95: number };
  /** CPU seconds of every process involved (bench process included) per 1,000 jobs. */
  cpuSecPer1k: number;
  notes: string[];
}

/**
 * Percentiles of dispatch (start − created) and completion (end − created) latency.
 *
 * @example
 *   summarise('BullMQ', 'noop', 'load', times, wallMs, cpuSec, []).dispatch.p95;
 */
export function summarise(system: string, workload: WorkloadName, mode: JobsRunResult['mode'], times: readonly JobTimes[], wallMs: number, cpuSec: number, notes: string[]): JobsRunResult {
  const dispatch = new LatencyRecorder();
  const completion = new LatencyRecorder();
  let failed = 0;
  for (const t of times) {
    if (!t.ok) {
      failed++;
      continue;
    }
    dispatch.add(t.startedMs - t.createdMs);
    completion.add(t.finishedMs - t.createdMs);
  }
  return {
    system,
    workload,
    mode,
    jobs: times.length,
    failed,
    wallMs,
    jobsPerSec: (times.length / wallMs) * 1000,
    dispatch: { p50: dispatch.percentile(50), p95: dispatch.percentile(95) },
    completion: { p50: completion.percentile(50), p95: completion.percentile(95) },
    cpuSecPer1k: (cpuSec / times.length) * 1000,
    notes,
  };
}

/**
 * Submits the `n` jobs of a run and waits for them: `load` submits all with at most `inFlight`
 * submissions open, then waits for every completion; `serial` submits one, waits for it, then
 * the next. Both systems run through it, so both get the same pressure. Resolves with the ids.
 *
 * @example
 *   const ids = await submitJobs(2000, 'load', 16, async (i) => (await queue.add('noop', job(i))).id!, (ids) => settled(ids));
 */
export async function submitJobs(n: number, mode: JobsRunResult['mode'], inFlight: number, submit: (i: number) => Promise<string>, settled: (ids: readonly string[]) => Promise<void>): Promise<string[]> {
  const ids = new Array<string>(n);
  if (mode === 'serial') {
    for (let i = 0; i < n; i++) {
      ids[i] = await submit(i);
      await settled([ids[i]!]);
    }
    return ids;
  }
  let next = 0;
  const lane = async () => {
    while (next < n) {
      const i = next++;
      ids[i] = await submit(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, inFlight) }, lane));
  await settled(ids);
  return ids;
}

/**
 * CPU seconds (user + system, all threads) of this process since `since` (process.cpuUsage()).
 *
 * @example
 *   const cpu0 = process.cpuUsage();
 *   // … run jobs …
 *   ownCpuSeconds(cpu0); // → e.g. 3.2
 */
export function ownCpuSeconds(since: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1e6;
}

/**
 * For progress lines: a run's headline.
 *
 * @example
 *   progress(describeRun(result)); // "BullMQ 6.7.0 in-process · noop · load: 2000 jobs, 2030.5 jobs/s, …"
 */
export function describeRun(r: JobsRunResult): string {
  const ms = (v: number) => `${v.toFixed(0)} ms`;
  return `${r.system} · ${r.workload} · ${r.mode}: ${r.jobs} jobs, ${r.jobsPerSec.toFixed(1)} jobs/s, dispatch p50 ${ms(r.dispatch.p50)} p95 ${ms(r.dispatch.p95)}, completion p95 ${ms(r.completion.p95)}${r.failed ? `, ${r.failed} failed` : ''}`;
}
