/**
 * The Possible City side of `bench:jobs`: a node started in this process (PGlite in a temporary
 * folder, HTTP on port 0, no rate limits, a per-client quota of open jobs high enough for the
 * whole run) and `executors` real `city executor --concurrency 1 --dedicated` processes joined to
 * it over loopback, started as test/e2e/compute.test.ts starts them.
 *
 * Jobs go in over the client WebSocket (`/api/v1/jobs/ws`, seed 003's task_submit → task_accepted
 * … task_result; at most `inFlight` submissions awaiting their task_accepted), the way a
 * program that submits many jobs talks to the broker — as BullMQ's client holds one Redis
 * connection. Completions come back on the same socket. Times are the node's own: dispatch =
 * `assigned_at − created_at` (the broker placed the job and sent it to an executor), completion
 * = `finished_at − created_at` (the signed result verified and stored).
 *
 * What a Possible City job does that a BullMQ job does not: its input is validated and stored
 * content-addressed, durably (committed), before task_accepted; it runs in a worker thread with
 * heap and time limits; its result is signed by the executor, verified by the broker and stored
 * durably; and every state change is committed to the job table.
 */
import { join } from 'node:path';
import pino from 'pino';
import WebSocket from 'ws';
import { DEFAULT_CONFIG, type Config } from '../../src/config/config.js';
import type { JobView } from '../../src/compute/broker.js';
import { startNode, type CityNode } from '../../src/node/node.js';
import { PROJECT_ROOT } from '../../src/node/paths.js';
import { cpuSecondsWithChildren, ProcessGroup, type Proc } from './processes.js';
import { ownCpuSeconds, submitJobs, summarise, type JobTimes, type JobsRunResult, type Workload } from './workload.js';

export const CITY_PEER_DEFAULTS = {
  executors: 4,
  /** Submissions awaiting their task_accepted at once. */
  inFlight: 16,
  /**
   * Executors' offer, as in the e2e test: the whole CPU, half the memory — and `--dedicated`
   * (machines for pool work only: the share is offered whatever the machine's load). Without it
   * the broker places a job (1 core by default) only where the executor's last reading of its
   * machine's load leaves a core idle; here 4 executors share one machine with the broker, Redis
   * and the bench, every one of them reads that machine as busy, and jobs wait for the next
   * reading (every 10 s) instead of for an executor.
   */
  maxCpuShare: 1,
  maxMemoryShare: 0.5,
  /** A run with no completion for this long has lost updates: the missing jobs are read from the API. */
  stallMs: 60_000,
  joinTimeoutMs: 60_000,
} as const;

export type CityPeerOptions = { -readonly [K in keyof typeof CITY_PEER_DEFAULTS]: number };

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);

/**
 * @example
 *   const city = await CityPeer.start({ executors: 4 });
 *   try {
 *     const r = await city.run(workloads().noop, 2000, 'load');
 *   } finally {
 *     await city.close();
 *   }
 */
export class CityPeer {
  readonly system = 'Possible City';
  /** The node's URL and admin headers, for looking at it while a run goes (GET /api/v1/pool). */
  readonly url: string;
  readonly auth: Record<string, string>;
  readonly #o: CityPeerOptions;
  readonly #group: ProcessGroup;
  readonly #node: CityNode;
  readonly #auth: Record<string, string>;
  readonly #executors: Proc[];
  readonly #ws: WebSocket;
  /** Terminal views of every job the socket reported, by id. */
  readonly #done = new Map<string, JobView>();
  #onDone: (() => void) | null = null;
  #lastDoneMs = 0;
  /** Submissions awaiting their answer, by request id. */
  readonly #submitted = new Map<string, { resolve: (job: JobView) => void; reject: (err: Error) => void }>();
  #requests = 0;

  private constructor(o: CityPeerOptions, group: ProcessGroup, node: CityNode, executors: Proc[], ws: WebSocket) {
    this.#o = o;
    this.#group = group;
    this.#node = node;
    this.#auth = { authorization: `Bearer ${node.adminToken}` };
    this.url = node.url;
    this.auth = this.#auth;
    this.#executors = executors;
    this.#ws = ws;
    ws.on('message', (data) => this.#message(String(data)));
    ws.on('error', () => {});
    ws.on('close', () => {
      for (const s of this.#submitted.values()) s.reject(new Error('the jobs WebSocket closed'));
      this.#submitted.clear();
    });
  }

  /** `executorNodeArgs`: node flags for the executor processes, e.g. `--cpu-prof --cpu-prof-dir=DIR`. */
  static async start(options: Partial<CityPeerOptions> = {}, executorNodeArgs: readonly string[] = []): Promise<CityPeer> {
    const o = { ...CITY_PEER_DEFAULTS, ...options };
    const group = new ProcessGroup();
    let node: CityNode | null = null;
    try {
      const dataDir = await group.tempDir('bench-jobs-city-');
      const config: Config = {
        ...DEFAULT_CONFIG,
        nodeId: 'bench-jobs',
        dataDir,
        logLevel: 'warn',
        http: { ...DEFAULT_CONFIG.http, port: 0, rateLimit: { ...DEFAULT_CONFIG.http.rateLimit, enabled: false } },
        mqtt: { ...DEFAULT_CONFIG.mqtt, enabled: false },
        compute: { ...DEFAULT_CONFIG.compute, maxOpenJobsPerClient: 1_000_000 },
      };
      node = await startNode(config, pino({ level: 'error' })); // executors leaving at the end are warnings
      const auth = { authorization: `Bearer ${node.adminToken}` };
      const executors: Proc[] = [];
      for (let i = 0; i < o.executors; i++) {
        const id = `bench-exec-${i + 1}`;
        const issued = (await request(node.url, 'POST', '/api/v1/pool/executors', auth, { executor_id: id, name: id })) as { key: string };
        const data = await group.tempDir(`bench-jobs-${id}-`);
        executors.push(
          group.start(id, process.execPath, [
            ...executorNodeArgs,
            join(PROJECT_ROOT, 'bin/city.mjs'),
            'executor',
            ...['--broker', node.url, '--key', issued.key, '--name', id, '--data', data, '--concurrency', '1'],
            ...['--max-cpu', String(o.maxCpuShare), '--max-memory', String(o.maxMemoryShare), '--dedicated', '--log-level', 'warn'],
          ]),
        );
      }
      const joined = async () => ((await request(node!.url, 'GET', '/api/v1/pool/devices', auth)) as { devices: unknown[] }).devices.length === o.executors;
      await group.waitFor(`${o.executors} executors to join`, joined, o.joinTimeoutMs, executors[0]);
      const ws = new WebSocket(`${node.url.replace(/^http/, 'ws')}/api/v1/jobs/ws`, { headers: auth });
      await new Promise<void>((resolve, reject) => {
        ws.once('error', reject);
        ws.once('open', () => resolve());
      });
      return new CityPeer(o, group, node, executors, ws);
    } catch (err) {
      await node?.close();
      await group.stopAll();
      throw err;
    }
  }

  /**
   * Runs `n` jobs of `workload`: `load` submits them all as fast as the node accepts (at most
   * `inFlight` requests open); `serial` submits one, waits for it to finish, then the next.
   */
  async run(workload: Workload, n: number, mode: JobsRunResult['mode']): Promise<JobsRunResult> {
    const cpu0 = { own: process.cpuUsage(), executors: this.#executors.map((e) => cpuSecondsWithChildren(e.child.pid)) };
    const notes: string[] = [];
    const stale0 = this.#node.broker.staleResults;
    const t0 = performance.now();
    const ids = await submitJobs(n, mode, this.#o.inFlight, async (i) => (await this.#submit({ kind: workload.kind, input: workload.input(i) })).job_id, (wanted) => this.#settled(wanted));
    const wallMs = this.#lastDoneMs - t0;
    const ownSec = ownCpuSeconds(cpu0.own);
    const executorsSec = this.#executors.reduce((s, e, k) => s + cpuSecondsWithChildren(e.child.pid) - cpu0.executors[k]!, 0);
    const cpuSec = ownSec + executorsSec;
    notes.push(`CPU s per 1,000 jobs: this process (node: broker, WebSocket, PGlite; and the bench's client) ${perThousand(ownSec, n)}, executors ${perThousand(executorsSec, n)}`);
    const times: JobTimes[] = [];
    const byExecutor = new Map<string, number>();
    let wrong = 0;
    for (let i = 0; i < n; i++) {
      const job = this.#done.get(ids[i]!)!;
      this.#done.delete(ids[i]!);
      byExecutor.set(job.executor_id ?? 'none', (byExecutor.get(job.executor_id ?? 'none') ?? 0) + 1);
      times.push({ createdMs: Date.parse(job.created_at), startedMs: Date.parse(job.assigned_at ?? job.created_at), finishedMs: Date.parse(job.finished_at!), ok: job.status === 'succeeded' });
      if (job.status !== 'succeeded' && wrong++ < 3) notes.push(`job ${i} ${job.status}: ${job.error}`);
    }
    notes.push(`jobs per executor: ${[...byExecutor].sort().map(([id, k]) => `${id} ${k}`).join(', ')}`);
    // Counted since the node started: a result ignored in a warm-up still shapes this run (see the report).
    const stale = this.#node.broker.staleResults;
    if (stale > 0) notes.push(`results the broker has ignored as late, duplicate or for another attempt since it started: ${stale} (${stale - stale0} in this run)`);
    // Spot-check results (every result is the executor's signed output, stored by the broker): first, middle, last.
    for (const i of [0, n >> 1, n - 1]) {
      const job = times[i]!.ok ? ids[i]! : null;
      if (job === null) continue;
      const res = await fetch(`${this.#node.url}/api/v1/jobs/${job}/result`, { headers: this.#auth });
      const out = (await res.json()) as { total_anomalies: number };
      if (out.total_anomalies !== workload.expectedAnomalies(i)) notes.push(`job ${i}: ${out.total_anomalies} anomalies, expected ${workload.expectedAnomalies(i)}`);
    }
    return summarise(this.system, workload.name, mode, times, wallMs, cpuSec, notes);
  }

  async close(): Promise<void> {
    this.#ws.close();
    await this.#group.stopAll().catch(() => {});
    await this.#node.close();
  }

  /** Sends a task_submit and resolves with the job once the broker accepted it (stored it). */
  #submit(job: { kind: string; input: unknown }): Promise<JobView> {
    const requestId = String(++this.#requests);
    return new Promise<JobView>((resolve, reject) => {
      this.#submitted.set(requestId, { resolve, reject });
      this.#ws.send(JSON.stringify({ type: 'task_submit', request_id: requestId, ...job }));
    });
  }

  #message(text: string): void {
    const m = JSON.parse(text) as { type: string; request_id?: string | null; job?: JobView; error?: { code: string; message: string } };
    if (m.type === 'task_accepted' || m.type === 'error') {
      const waiting = this.#submitted.get(m.request_id ?? '');
      if (!waiting) return;
      this.#submitted.delete(m.request_id!);
      if (m.type === 'task_accepted') waiting.resolve(m.job!);
      else waiting.reject(new Error(`task_submit refused: ${m.error?.code} ${m.error?.message}`));
      return;
    }
    // task_result: the job's terminal view, which holds all three times.
    const job = m.type === 'task_result' ? m.job : undefined;
    if (job === undefined || !TERMINAL.has(job.status)) return;
    this.#done.set(job.job_id, job);
    this.#lastDoneMs = performance.now();
    this.#onDone?.();
  }

  /** Until every id has a terminal view (from the socket, or from the API after a stall). */
  async #settled(ids: readonly string[]): Promise<void> {
    let missing = ids.reduce((k, id) => k + (this.#done.has(id) ? 0 : 1), 0);
    if (missing === 0) return;
    const wanted = new Set(ids.filter((id) => !this.#done.has(id)));
    await new Promise<void>((resolve) => {
      let lastProgress = performance.now();
      const stall = setInterval(() => {
        if (performance.now() - lastProgress > this.#o.stallMs) {
          clearInterval(stall);
          this.#onDone = null;
          resolve();
        }
      }, 1_000);
      this.#onDone = () => {
        lastProgress = performance.now();
        // Only this run's jobs are open, so a count is enough until it reaches zero.
        if (--missing > 0) return;
        clearInterval(stall);
        this.#onDone = null;
        resolve();
      };
    });
    for (const id of wanted) {
      if (this.#done.has(id)) continue;
      const job = (await request(this.#node.url, 'GET', `/api/v1/jobs/${id}`, this.#auth)) as JobView;
      if (!TERMINAL.has(job.status)) {
        const pool = await request(this.#node.url, 'GET', '/api/v1/pool', this.#auth);
        throw new Error(`job ${id} is still ${job.status} after ${this.#o.stallMs} ms without a completion; the pool: ${JSON.stringify(pool)}`);
      }
      this.#done.set(id, job);
      this.#lastDoneMs = performance.now();
    }
  }
}

function perThousand(sec: number, n: number): string {
  return ((sec / n) * 1000).toFixed(1);
}

async function request(base: string, method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<unknown> {
  const res = await fetch(base + path, { method, headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 500)}`);
  return JSON.parse(text);
}
