/**
 * The BullMQ side of `bench:jobs`: a redis-server of its own (Debian's, on a free loopback port,
 * a temporary folder, no RDB snapshots and no AOF — persistence off, as BullMQ is usually
 * benchmarked), `workers` worker processes with concurrency 1 (bench/jobs/bullmq-worker.ts), and
 * the producer in this process.
 *
 * Jobs go in with `queue.add` (at most `inFlight` unanswered, the same pressure as the HTTP
 * submitter of the Possible City side); completions come back as QueueEvents. Times are BullMQ's
 * own: dispatch = `processedOn − timestamp` (a worker took the job), completion =
 * `finishedOn − timestamp`. `timestamp` is set by the producer just before it sends the job.
 */
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/node/paths.js';
import { BULLMQ_VERSION, ensureBullMq, loadBullMq, type BullConnection, type BullQueue, type BullQueueEvents } from './bullmq-api.js';
import { canConnect, cpuSecondsWithChildren, ProcessGroup, type Proc } from './processes.js';
import { freePort } from '../report.js';
import { ownCpuSeconds, submitJobs, summarise, type JobTimes, type JobsRunResult, type Workload } from './workload.js';

export const BULLMQ_PEER_DEFAULTS = {
  workers: 4,
  inFlight: 16,
  redisServer: '/usr/bin/redis-server',
  /** A run with no completion for this long is reported as stuck. */
  stallMs: 60_000,
  startTimeoutMs: 30_000,
} as const;

export type BullMqMode = 'in-process' | 'sandboxed';

export type BullMqPeerOptions = { -readonly [K in keyof typeof BULLMQ_PEER_DEFAULTS]: (typeof BULLMQ_PEER_DEFAULTS)[K] extends string ? string : number } & {
  mode: BullMqMode;
  /**
   * Redis appends every write to its AOF and fsyncs it before answering (`appendfsync always`),
   * as Possible City commits a job before accepting it; otherwise persistence is off.
   */
  durable?: boolean;
};

/**
 * @example
 *   const bull = await BullMqPeer.start({ mode: 'in-process' });
 *   try {
 *     const r = await bull.run(workloads().noop, 2000, 'load');
 *   } finally {
 *     await bull.close();
 *   }
 */
export class BullMqPeer {
  readonly system: string;
  readonly #o: BullMqPeerOptions;
  readonly #group: ProcessGroup;
  readonly #redis: Proc;
  readonly #workers: Proc[];
  readonly #queue: BullQueue;
  readonly #events: BullQueueEvents;
  readonly #done = new Set<string>();
  #onDone: (() => void) | null = null;
  #lastDoneMs = 0;

  private constructor(o: BullMqPeerOptions, group: ProcessGroup, redis: Proc, workers: Proc[], queue: BullQueue, events: BullQueueEvents) {
    this.#o = o;
    this.system = `BullMQ ${BULLMQ_VERSION} ${o.mode === 'sandboxed' ? 'sandboxed (worker threads)' : 'in-process'}${o.durable ? ', Redis fsync always' : ''}`;
    this.#group = group;
    this.#redis = redis;
    this.#workers = workers;
    this.#queue = queue;
    this.#events = events;
    const done = ({ jobId }: { jobId: string }) => {
      this.#done.add(jobId);
      this.#lastDoneMs = performance.now();
      this.#onDone?.();
    };
    events.on('completed', done);
    events.on('failed', done);
  }

  static async start(options: Partial<BullMqPeerOptions> & { mode: BullMqMode; durable?: boolean }): Promise<BullMqPeer> {
    const o = { ...BULLMQ_PEER_DEFAULTS, ...options } as BullMqPeerOptions;
    ensureBullMq();
    const { Queue, QueueEvents } = loadBullMq();
    const group = new ProcessGroup();
    const closers: Array<() => Promise<void>> = [];
    try {
      const port = await freePort();
      const dir = await group.tempDir('bench-jobs-redis-');
      const persistence = o.durable ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
      const redis = group.start('redis-server', o.redisServer, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence, '--dir', dir], { cwd: dir });
      await group.waitFor('redis-server to listen', () => canConnect(port), o.startTimeoutMs, redis);
      const connection: BullConnection = { host: '127.0.0.1', port, maxRetriesPerRequest: null };
      const name = `bench-jobs-${o.mode}`;
      const queue = new Queue(name, { connection });
      closers.push(() => queue.close());
      const events = new QueueEvents(name, { connection });
      closers.push(() => events.close());
      await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
      const workers: Proc[] = [];
      for (let i = 0; i < o.workers; i++) {
        workers.push(
          group.start(`bullmq-worker-${i + 1}`, process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'bench/jobs/bullmq-worker.ts'), '--port', String(port), '--queue', name, '--mode', o.mode], { cwd: PROJECT_ROOT }),
        );
      }
      for (const w of workers) await group.waitFor(`${w.name} to connect`, () => /^ready$/m.test(w.output()), o.startTimeoutMs, w);
      return new BullMqPeer(o, group, redis, workers, queue, events);
    } catch (err) {
      for (const c of closers.reverse()) await c().catch(() => {});
      await group.stopAll();
      throw err;
    }
  }

  /** Runs `n` jobs of `workload`, `load` (as fast as accepted) or `serial` (one after the other). */
  async run(workload: Workload, n: number, mode: JobsRunResult['mode']): Promise<JobsRunResult> {
    const pids = [this.#redis, ...this.#workers].map((p) => p.child.pid);
    const cpu0 = { own: process.cpuUsage(), others: pids.map(cpuSecondsWithChildren) };
    const t0 = performance.now();
    const ids = await submitJobs(n, mode, this.#o.inFlight, async (i) => (await this.#queue.add(workload.name, { kind: workload.kind, input: workload.input(i) })).id!, (wanted) => this.#settled(wanted));
    const wallMs = this.#lastDoneMs - t0;
    const used = pids.map((pid, k) => cpuSecondsWithChildren(pid) - cpu0.others[k]!);
    const ownSec = ownCpuSeconds(cpu0.own);
    const workersSec = used.slice(1).reduce((a, b) => a + b, 0);
    const cpuSec = ownSec + used[0]! + workersSec;
    const byId = new Map<string, Awaited<ReturnType<BullQueue['getJobs']>>[number]>();
    for (const job of await this.#queue.getJobs(['completed', 'failed'], 0, -1)) if (job.id !== undefined) byId.set(job.id, job);
    const perThousand = (sec: number) => ((sec / n) * 1000).toFixed(1);
    const notes = [`CPU s per 1,000 jobs: this process (the producer) ${perThousand(ownSec)}, redis-server ${perThousand(used[0]!)}, workers ${perThousand(workersSec)}`];
    const times: JobTimes[] = [];
    let wrong = 0;
    for (let i = 0; i < n; i++) {
      const job = byId.get(ids[i]!);
      if (!job) throw new Error(`BullMQ job ${ids[i]} (${i}) is neither completed nor failed`);
      this.#done.delete(ids[i]!);
      const out = job.returnvalue as { total_anomalies?: number } | null;
      const ok = job.failedReason === undefined && out !== null && out.total_anomalies === workload.expectedAnomalies(i);
      times.push({ createdMs: job.timestamp, startedMs: job.processedOn ?? job.timestamp, finishedMs: job.finishedOn ?? job.timestamp, ok });
      if (!ok && wrong++ < 3) notes.push(`job ${i}: ${job.failedReason ?? `${out?.total_anomalies} anomalies, expected ${workload.expectedAnomalies(i)}`}`);
    }
    // Keep Redis to this run's jobs only: the next run's getJobs reads what is left.
    await this.#queue.clean(0, 0, 'completed');
    await this.#queue.clean(0, 0, 'failed');
    return summarise(this.system, workload.name, mode, times, wallMs, cpuSec, notes);
  }

  async close(): Promise<void> {
    await this.#events.close().catch(() => {});
    await this.#queue.close().catch(() => {});
    await this.#group.stopAll();
  }

  async #settled(ids: readonly string[]): Promise<void> {
    let missing = ids.reduce((k, id) => k + (this.#done.has(id) ? 0 : 1), 0);
    if (missing === 0) return;
    await new Promise<void>((resolve, reject) => {
      let lastProgress = performance.now();
      const stall = setInterval(() => {
        if (performance.now() - lastProgress <= this.#o.stallMs) return;
        clearInterval(stall);
        this.#onDone = null;
        reject(new Error(`BullMQ: ${missing} jobs not finished after ${this.#o.stallMs} ms without a completion`));
      }, 1_000);
      this.#onDone = () => {
        lastProgress = performance.now();
        if (--missing > 0) return;
        clearInterval(stall);
        this.#onDone = null;
        resolve();
      };
    });
  }
}
