import { backoffMs } from '../actions/backoff.js';
import { generateKeyPairSync, createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { arch, hostname, platform, release } from 'node:os';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import si from 'systeminformation';
import WebSocket from 'ws';
import { VERSION } from '../node/paths.js';
import { DEFAULT_TASK_MEMORY_MB, HEARTBEAT_MS, resultDigest, type BrokerMessage, type ExecutorMessage, type OfferLimits, type ResourceInfo } from './protocol.js';
import { TaskRunner } from './tasks/runner.js';
import { TaskFailedError } from './tasks/task.js';

export const EXECUTOR_DEFAULTS = {
  limits: { max_cpu_share: 0.5, max_memory_share: 0.5, max_storage_share: 0.2 } satisfies OfferLimits,
  concurrency: 1,
  /** Resources are read and sent this often. */
  resourceUpdateMs: 10_000,
  /** Reconnect delays: 0.5 s doubling to 10 s, with jitter (src/actions/backoff.ts). */
  reconnect: { baseDelayMs: 500, maxDelayMs: 10_000 },
} as const;

export interface ExecutorOptions {
  /** The broker node's HTTP(S) URL; the WebSocket is `<url>/api/v1/pool/ws`. */
  brokerUrl: string;
  /** The executor key (`ek_…`) an admin issued (POST /api/v1/pool/executors). */
  key: string;
  name?: string;
  /** Where the executor keeps its signing key (its identity across restarts). */
  dataDir: string;
  limits?: Partial<OfferLimits>;
  concurrency?: number;
  log: Logger;
  /** Reads what the machine has now; systeminformation by default. */
  probe?: () => Promise<ResourceInfo>;
}

export type ExecutorState = 'connecting' | 'registered' | 'disconnected' | 'closed';

/**
 * The executor agent (issue 7 §1; seed 003's client): joins a broker over WebSocket with its key,
 * registers what the machine has and what its owner lets the pool use, heartbeats every 5 s,
 * sends resource updates, runs the tasks it is given in worker threads with memory and time
 * limits (src/compute/tasks/runner.ts), signs each result with its own Ed25519 key, and
 * reconnects by itself with backoff when the broker goes away. A task whose broker connection
 * dropped keeps running; its result is then lost with the connection and the broker gives the
 * job to another executor (a result for an attempt the broker gave up on is ignored there).
 *
 * @example
 *   const agent = await ExecutorAgent.start({ brokerUrl: 'http://127.0.0.1:8080', key: 'ek_…', dataDir: './executor', log });
 *   agent.state; // 'registered' once the broker answered
 */
export class ExecutorAgent {
  state: ExecutorState = 'connecting';
  readonly #o: ExecutorOptions;
  readonly #limits: OfferLimits;
  readonly #concurrency: number;
  readonly #privateKey: KeyObject;
  readonly #publicJwk: Record<string, unknown>;
  readonly #running = new Map<string, AbortController>();
  /** One warm worker thread per job slot (src/compute/tasks/runner.ts). */
  readonly #runner: TaskRunner;
  #ws: WebSocket | null = null;
  #heartbeat: NodeJS.Timeout | null = null;
  #resourceTimer: NodeJS.Timeout | null = null;
  #reconnectTimer: NodeJS.Timeout | null = null;
  #failures = 0;
  readonly #probe: () => Promise<ResourceInfo>;
  readonly #listeners: Array<(state: ExecutorState) => void> = [];
  /** Tasks run and their outcomes, for the agent's own log line and tests. */
  readonly stats = { completed: 0, failed: 0, cancelled: 0 };

  private constructor(o: ExecutorOptions, privateKey: KeyObject, publicJwk: Record<string, unknown>) {
    this.#o = o;
    this.#limits = { ...EXECUTOR_DEFAULTS.limits, ...o.limits };
    this.#concurrency = o.concurrency ?? EXECUTOR_DEFAULTS.concurrency;
    this.#privateKey = privateKey;
    this.#publicJwk = publicJwk;
    this.#runner = new TaskRunner({ keepIdle: this.#concurrency });
    this.#probe = o.probe ?? (() => probeResources(resolve(o.dataDir)));
  }

  static async start(o: ExecutorOptions): Promise<ExecutorAgent> {
    const { privateKey, publicJwk } = await signingKey(o.dataDir);
    const agent = new ExecutorAgent(o, privateKey, publicJwk);
    agent.#connect();
    // Threads load while the agent registers, so the first jobs do not wait for them.
    void agent.#runner.warm(DEFAULT_TASK_MEMORY_MB, agent.#concurrency).catch((err: unknown) => o.log.warn({ err }, 'task threads could not be started ahead'));
    return agent;
  }

  onState(listener: (state: ExecutorState) => void): void {
    this.#listeners.push(listener);
  }

  async close(): Promise<void> {
    this.#setState('closed');
    this.#stopTimers();
    if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer);
    for (const c of this.#running.values()) c.abort();
    this.#ws?.close(1000, 'executor stopping');
    await this.#runner.close();
  }

  #connect(): void {
    if (this.state === 'closed') return;
    this.#setState('connecting');
    const url = `${this.#o.brokerUrl.replace(/^http/, 'ws').replace(/\/+$/, '')}/api/v1/pool/ws`;
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${this.#o.key}` }, handshakeTimeout: 10_000 });
    this.#ws = ws;
    ws.on('open', () => void this.#register(ws));
    ws.on('message', (data) => {
      let message: BrokerMessage;
      try {
        message = JSON.parse(String(data)) as BrokerMessage;
      } catch {
        return;
      }
      this.#handle(ws, message);
    });
    ws.on('error', (err) => this.#o.log.warn({ err: err.message, broker: this.#o.brokerUrl }, 'broker connection error'));
    ws.on('close', (code, reason) => {
      if (this.#ws !== ws) return;
      this.#stopTimers();
      if (this.state === 'closed') return;
      this.#setState('disconnected');
      const delay = backoffMs(++this.#failures, EXECUTOR_DEFAULTS.reconnect);
      this.#o.log.warn({ code, reason: String(reason), retryInMs: Math.round(delay) }, 'broker connection closed: reconnecting');
      // Not unref'd: while the broker is away this timer is all that keeps `city executor` alive.
      this.#reconnectTimer = setTimeout(() => this.#connect(), delay);
    });
  }

  async #register(ws: WebSocket): Promise<void> {
    const resources = await this.#probe();
    this.#send(ws, {
      type: 'register',
      name: this.#o.name ?? hostname(),
      platform: `${platform()} ${release()} ${arch()}`,
      resources,
      limits: this.#limits,
      public_key: this.#publicJwk,
      concurrency: this.#concurrency,
      version: VERSION,
    });
  }

  #handle(ws: WebSocket, m: BrokerMessage): void {
    switch (m.type) {
      case 'registered':
        this.#failures = 0;
        this.#setState('registered');
        this.#stopTimers();
        this.#heartbeat = setInterval(() => this.#send(ws, { type: 'heartbeat' }), m.heartbeat_ms || HEARTBEAT_MS);
        this.#resourceTimer = setInterval(() => void this.#sendResources(ws), EXECUTOR_DEFAULTS.resourceUpdateMs);
        return;
      case 'task_assign':
        void this.#run(ws, m);
        return;
      case 'task_cancel':
        this.#running.get(`${m.job_id}#${m.attempt}`)?.abort();
        return;
      case 'error':
        this.#o.log.error({ error: m.error }, 'the broker refused this executor');
        return;
      default:
        return; // devices, device_joined, device_left, resource_update: the pool as others see it
    }
  }

  async #run(ws: WebSocket, m: Extract<BrokerMessage, { type: 'task_assign' }>): Promise<void> {
    const key = `${m.job_id}#${m.attempt}`;
    const abort = new AbortController();
    this.#running.set(key, abort);
    const input = Buffer.from(m.input_b64, 'base64');
    try {
      const spec = m.wasm_b64 !== null ? { wasm: new Uint8Array(Buffer.from(m.wasm_b64, 'base64')), input: new Uint8Array(input) } : { kind: m.kind!, input: JSON.parse(input.toString('utf8')) as unknown };
      let lastSent = 0;
      const result = await this.#runner.run(spec, { timeoutMs: m.limits.timeout_ms, maxMemoryMb: m.limits.max_memory_mb }, (fraction: number) => {
        const now = Date.now();
        if (now - lastSent < 250) return;
        lastSent = now;
        this.#send(ws, { type: 'task_progress', job_id: m.job_id, attempt: m.attempt, fraction });
      }, abort.signal);
      const output = result.output instanceof Uint8Array ? Buffer.from(result.output) : Buffer.from(JSON.stringify(result.output));
      const signature = sign(null, resultDigest(m.job_id, m.attempt, output), this.#privateKey);
      this.#send(ws, {
        type: 'task_result',
        job_id: m.job_id,
        attempt: m.attempt,
        ok: true,
        output_b64: output.toString('base64'),
        media_type: result.output instanceof Uint8Array ? 'application/octet-stream' : 'application/json',
        signature_b64: signature.toString('base64'),
        cpu_ms: Math.round(result.cpu_ms),
        wall_ms: Math.round(result.wall_ms),
      });
      this.stats.completed++;
    } catch (err) {
      if (abort.signal.aborted) {
        this.stats.cancelled++;
        return;
      }
      this.stats.failed++;
      // A task's own failure (bad input, a trap, the job's own time or memory limit) fails the same
      // way anywhere: not retried. A worker that crashed for another reason may do better elsewhere.
      const retryable = err instanceof TaskFailedError && err.reason === 'crashed';
      this.#send(ws, { type: 'task_result', job_id: m.job_id, attempt: m.attempt, ok: false, error: (err as Error).message, retryable });
    } finally {
      // No resource reading after each task: the broker counts what its running jobs were given,
      // and load is read on the regular update, not once more per job.
      this.#running.delete(key);
    }
  }

  async #sendResources(ws: WebSocket): Promise<void> {
    if (ws.readyState !== WebSocket.OPEN) return;
    try {
      this.#send(ws, { type: 'resource_update', resources: await this.#probe() });
    } catch (err) {
      this.#o.log.warn({ err }, 'resources could not be read');
    }
  }

  #send(ws: WebSocket, message: ExecutorMessage): void {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
  }

  #stopTimers(): void {
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    if (this.#resourceTimer) clearInterval(this.#resourceTimer);
    this.#heartbeat = null;
    this.#resourceTimer = null;
  }

  #setState(state: ExecutorState): void {
    if (this.state === state) return;
    this.state = state;
    for (const l of this.#listeners) l(state);
  }
}

/** The executor's Ed25519 identity, made once and kept in its data folder (mode 0600). */
async function signingKey(dataDir: string): Promise<{ privateKey: KeyObject; publicJwk: Record<string, unknown> }> {
  const file = join(dataDir, 'executor-key.pem');
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch {
    await mkdir(dataDir, { recursive: true });
    const { privateKey } = generateKeyPairSync('ed25519');
    pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    await writeFile(file, pem, { mode: 0o600 });
  }
  const privateKey = createPrivateKey(pem);
  const { kty, crv, x } = privateKey.export({ format: 'jwk' }) as { kty: string; crv: string; x: string };
  return { privateKey, publicJwk: { kty, crv, x } };
}

/** What the machine has now (seed 003 ResourceInfo: CPU cores and usage, memory, storage, GPU). */
export async function probeResources(dataDir: string): Promise<ResourceInfo> {
  // Only load and free memory change from job to job; they are read from /proc, cheaply. The CPU
  // model, free disk and GPU (systeminformation spawns commands for those) are read every 5 minutes.
  if (staticFacts === null || Date.now() - staticFactsAtMs > 300_000) {
    staticFacts = readStaticFacts(dataDir);
    staticFactsAtMs = Date.now();
  }
  const fixed = await staticFacts;
  const [load, mem] = await Promise.all([si.currentLoad(), si.mem()]);
  return {
    cpu: { ...fixed.cpu, usage_percent: Math.round(load.currentLoad * 10) / 10 },
    memory_mb: { total: mb(mem.total), available: mb(mem.available) },
    storage_mb: fixed.storage_mb,
    gpu: fixed.gpu,
  };
}

let staticFactsAtMs = 0;
let staticFacts: Promise<Pick<ResourceInfo, 'storage_mb' | 'gpu'> & { cpu: { model: string; cores: number } }> | null = null;

async function readStaticFacts(dataDir: string): Promise<Pick<ResourceInfo, 'storage_mb' | 'gpu'> & { cpu: { model: string; cores: number } }> {
  const [cpu, disks, graphics] = await Promise.all([si.cpu(), si.fsSize().catch(() => []), si.graphics().catch(() => ({ controllers: [] as Array<{ model: string; vram: number | null }> }))]);
  // The file system the executor works on: the longest mount point its data folder lies under.
  const disk = disks.filter((d) => dataDir.startsWith(d.mount)).sort((a, b) => b.mount.length - a.mount.length)[0];
  const gpu = graphics.controllers.find((c) => c.vram !== null && c.vram > 0) ?? null;
  return {
    cpu: { model: `${cpu.manufacturer} ${cpu.brand}`.trim(), cores: cpu.cores },
    storage_mb: { total: disk ? mb(disk.size) : 0, available: disk ? mb(disk.available) : 0 },
    gpu: gpu ? { name: gpu.model, memory_mb: gpu.vram ?? null } : null,
  };
}

function mb(bytes: number): number {
  return Math.round(bytes / 2 ** 20);
}
