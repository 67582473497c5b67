import { verify, type KeyObject } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import type { Logger } from 'pino';
import { cityError } from '../errors.js';
import { uuidv7 } from '../events/ids.js';
import type { Database, JobsTable, JobStatus } from '../store/schema.js';
import { schedule, type DeviceResources, type QueuedJob, type ResourceNeeds } from './allocation.js';
import type { BlobStore, StagedBlob } from './blob-store.js';
import type { ExecutorKeys } from './executor-keys.js';
import { JobWriter } from './job-writer.js';
import { DEFAULT_TASK_MEMORY_MB, HEARTBEAT_MS, HEARTBEAT_TIMEOUT_MS, resultDigest, type BrokerMessage, type DeviceSummary, type ExecutorMessage, type OfferLimits, type ResourceInfo } from './protocol.js';
import { TASK_KINDS } from './tasks/kinds.js';

export const BROKER_DEFAULTS = {
  heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS,
  /** How often the broker looks for silent executors and jobs past their deadline. */
  sweepMs: 1_000,
  /** Attempts of a job whose executor vanished before it is failed (issue 7 §5). */
  maxAttempts: 3,
  timeoutMs: 60_000,
  maxMemoryMb: 256,
  /** Queued and running jobs one client may hold (issue 7 §7 per-client quotas). */
  maxOpenJobsPerClient: 100,
  /**
   * Inputs of open jobs kept in memory, so a dispatch sends them without a read from the data
   * store (bytes in all; an input that does not fit is read when its job is dispatched).
   */
  inputCacheBytes: 64 * 1024 * 1024,
} as const;

export type BrokerOptions = { -readonly [K in keyof typeof BROKER_DEFAULTS]: number };

export const JOB_PRIORITIES = ['critical', 'high', 'normal', 'low'] as const;
export type JobPriority = (typeof JOB_PRIORITIES)[number];

/** What a client submits (POST /api/v1/jobs, `city submit`). */
export interface JobRequest {
  /** A task kind the executors ship (flood_simulation, route_optimisation, anomaly_scoring) … */
  kind?: string;
  /** … or a WebAssembly module in the data store. */
  wasm_ref?: string;
  /** The input inline (JSON) or as a data-store ref. */
  input?: unknown;
  input_ref?: string;
  needs?: Partial<ResourceNeeds>;
  priority?: JobPriority;
  /** Seconds from now; a job not placed by then fails with the reason it could not be. */
  deadline_s?: number;
  timeout_s?: number;
  max_attempts?: number;
  /** Split a kind's input over up to this many executors and merge the results. */
  fan_out?: number;
}

export interface JobView {
  job_id: string;
  client_id: string;
  kind: string | null;
  wasm_ref: string | null;
  input_ref: string;
  needs: ResourceNeeds;
  priority: string;
  deadline_at: string | null;
  timeout_ms: number;
  status: JobStatus;
  attempts: number;
  max_attempts: number;
  executor_id: string | null;
  progress: number;
  result_ref: string | null;
  result_signature: string | null;
  error: string | null;
  parent_job_id: string | null;
  part_index: number | null;
  parts: number | null;
  created_at: string;
  assigned_at: string | null;
  finished_at: string | null;
}

/** A broker event for watchers (the live stream, tests): devices coming and going, jobs changing. */
export type PoolUpdate = { kind: 'device_joined' | 'resource_update'; device: DeviceSummary } | { kind: 'device_left'; device_id: string; reason: string } | { kind: 'job'; job: JobView };

/** The socket the broker talks to an executor over (a ws WebSocket fits). */
export interface ExecutorSocket {
  send(text: string): void;
  close(code?: number, reason?: string): void;
}

interface Device {
  id: string;
  name: string;
  platform: string;
  socket: ExecutorSocket;
  lastSeenMs: number;
  resources: ResourceInfo;
  limits: OfferLimits;
  concurrency: number;
  verifier: KeyObject;
  /** Another broker offering its executors over a backhaul (src/compute/backhaul.ts), not a machine. */
  broker: boolean;
  /** job id → what the job was given there. */
  running: Map<string, { attempt: number; needs: ResourceNeeds }>;
}

const DEFAULT_NEEDS: ResourceNeeds = { cpu_cores: 1, memory_mb: DEFAULT_TASK_MEMORY_MB, storage_mb: 0, gpu: false };

/**
 * The compute broker of a node (issue 7; seed 000 "central broker", seed 003 "resource pool").
 * Executors join over a WebSocket with their key and register what they offer; clients submit
 * jobs. The broker keeps the job table in the store (a restart loses no job: running ones are
 * queued again), places queued jobs with seed 003's allocation plus priorities and deadlines
 * (src/compute/allocation.ts), sends each its input from the data store, relays progress,
 * verifies the executor's signature on the result, stores the result in the data store, and
 * answers the client. An executor silent for 15 s is gone: its jobs go back to the queue until
 * their attempts run out. A result for an attempt that is no longer current (late, duplicate,
 * from an executor that was given up on) is ignored.
 */
export class Broker {
  readonly #o: BrokerOptions;
  readonly #db: Kysely<Database>;
  readonly #tenantId: string;
  readonly #blobs: BlobStore;
  readonly #keys: ExecutorKeys;
  readonly #log: Logger;
  readonly #devices = new Map<string, Device>();
  /** Queued and running jobs (the store has all of them). */
  readonly #open = new Map<string, JobView>();
  /** Open jobs per client (fan-out parts not counted): the quota, without a scan per submit. */
  readonly #openPerClient = new Map<string, number>();
  /** What placement needs of each open job, made once (a pass would otherwise parse dates per job). */
  readonly #queueEntries = new Map<string, QueuedJob & { fromPeer: boolean }>();
  /** Inputs of open jobs, by job id (see BROKER_DEFAULTS.inputCacheBytes). */
  readonly #inputs = new Map<string, Uint8Array>();
  #inputBytes = 0;
  /** Fan-out jobs whose parts are being merged or failed (two parts may end in one commit). */
  readonly #concluding = new Set<string>();
  readonly #writer: JobWriter;
  readonly #listeners: Array<(u: PoolUpdate) => void> = [];
  #sweep: NodeJS.Timeout | null = null;
  #kickPending = false;
  #placing = false;
  #kickAgain = false;
  #closed = false;
  /** Results ignored because they were late, duplicated or for another attempt. */
  staleResults = 0;

  constructor(deps: { db: Kysely<Database>; tenantId: string; blobs: BlobStore; keys: ExecutorKeys; log: Logger; options?: Partial<BrokerOptions> }) {
    this.#db = deps.db;
    this.#tenantId = deps.tenantId;
    this.#blobs = deps.blobs;
    this.#keys = deps.keys;
    this.#log = deps.log;
    this.#o = { ...BROKER_DEFAULTS, ...deps.options };
    this.#writer = new JobWriter(deps.db, deps.tenantId);
  }

  /** Returns the function that stops listening. */
  onUpdate(listener: (u: PoolUpdate) => void): () => void {
    this.#listeners.push(listener);
    return () => {
      const at = this.#listeners.indexOf(listener);
      if (at >= 0) this.#listeners.splice(at, 1);
    };
  }

  /** Loads the open jobs; those that were running when the broker stopped are queued again (their executors are gone). */
  async start(): Promise<void> {
    await this.#db
      .updateTable('jobs')
      .set({ status: 'queued', executor_id: null, updated_at: new Date() })
      .where('tenant_id', '=', this.#tenantId)
      .where('status', '=', 'running')
      .where('parts', 'is', null)
      .execute();
    const rows = await this.#db.selectFrom('jobs').selectAll().where('tenant_id', '=', this.#tenantId).where('status', 'in', ['queued', 'running']).execute();
    for (const r of rows) this.#track(jobView(r));
    this.#sweep = setInterval(() => this.#sweepNow(), this.#o.sweepMs);
    this.#sweep.unref();
    this.#kick();
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#sweep) clearInterval(this.#sweep);
    for (const d of this.#devices.values()) d.socket.close(1001, 'broker shutting down');
    this.#devices.clear();
    await this.#writer.drain();
  }

  // ---- executors ------------------------------------------------------------------------------

  /** A message from the executor `executorId` on `socket`. The first must be `register`. */
  async receive(executorId: string, socket: ExecutorSocket, message: ExecutorMessage): Promise<void> {
    const device = this.#devices.get(executorId);
    if (message.type === 'register') return this.#register(executorId, socket, message);
    if (!device || device.socket !== socket) return send(socket, { type: 'error', error: { code: 'CITY_ERR_REQUEST_INVALID', message: 'register first' } });
    device.lastSeenMs = Date.now();
    switch (message.type) {
      case 'heartbeat':
        return;
      case 'resource_update':
        device.resources = message.resources;
        // A peer broker's slots change as executors join and leave it.
        if (device.broker && typeof message.concurrency === 'number') device.concurrency = Math.max(1, Math.min(1024, Math.floor(message.concurrency)));
        this.#emit({ kind: 'resource_update', device: summary(device) });
        this.#broadcast({ type: 'resource_update', device: summary(device) });
        this.#kick();
        return;
      case 'task_progress': {
        const job = this.#open.get(message.job_id);
        if (!job || job.executor_id !== executorId || job.attempts !== message.attempt) return;
        job.progress = Math.max(0, Math.min(1, message.fraction));
        this.#emit({ kind: 'job', job });
        return;
      }
      case 'task_result':
        return this.#result(device, message);
    }
  }

  /** The executor's socket closed: its jobs go back to the queue. */
  disconnected(executorId: string, socket: ExecutorSocket): void {
    const device = this.#devices.get(executorId);
    if (device && device.socket === socket) void this.#lose(device, 'disconnected');
  }

  async #register(executorId: string, socket: ExecutorSocket, m: Extract<ExecutorMessage, { type: 'register' }>): Promise<void> {
    let verifier: KeyObject;
    try {
      verifier = await this.#keys.adoptPublicKey(executorId, m.public_key);
    } catch (err) {
      send(socket, { type: 'error', error: { code: 'CITY_ERR_REQUEST_INVALID', message: (err as Error).message } });
      socket.close(4001, 'registration refused');
      return;
    }
    const previous = this.#devices.get(executorId);
    // The same executor connecting again (a reconnect that beat the old socket's close): the old connection's jobs are lost.
    if (previous && previous.socket !== socket) {
      await this.#lose(previous, 'replaced by a new connection');
      previous.socket.close(4000, 'replaced by a new connection');
    }
    const device: Device = {
      id: executorId,
      name: m.name,
      platform: m.platform,
      socket,
      lastSeenMs: Date.now(),
      resources: m.resources,
      limits: clampLimits(m.limits),
      concurrency: Math.max(1, Math.min(1024, Math.floor(m.concurrency || 1))),
      verifier,
      broker: m.platform === PEER_BROKER_PLATFORM,
      running: new Map(),
    };
    this.#devices.set(executorId, device);
    send(socket, { type: 'registered', device_id: executorId, heartbeat_ms: HEARTBEAT_MS });
    send(socket, { type: 'devices', devices: [...this.#devices.values()].map(summary) });
    this.#broadcast({ type: 'device_joined', device: summary(device) }, executorId);
    this.#emit({ kind: 'device_joined', device: summary(device) });
    this.#log.info({ executor: executorId, name: m.name, cores: m.resources.cpu.cores }, 'executor joined');
    this.#kick();
  }

  async #lose(device: Device, reason: string): Promise<void> {
    if (this.#devices.get(device.id) !== device) return;
    this.#devices.delete(device.id);
    this.#broadcast({ type: 'device_left', device_id: device.id, reason });
    this.#emit({ kind: 'device_left', device_id: device.id, reason });
    this.#log.warn({ executor: device.id, reason, jobs: device.running.size }, 'executor left');
    const handedBack: Array<Promise<void>> = [];
    for (const [jobId] of device.running) {
      const job = this.#open.get(jobId);
      if (!job || job.executor_id !== device.id) continue;
      if (job.attempts >= job.max_attempts) {
        handedBack.push(this.#finish(job, 'failed', { error: `executor ${device.id} was lost (${reason}) on attempt ${job.attempts} of ${job.max_attempts}; no attempts left` }));
      } else {
        handedBack.push(this.#update(job, { status: 'queued', executor_id: null, progress: 0 }));
      }
    }
    // Queued again in memory already: placed while their rows commit (together).
    this.#kick();
    await Promise.all(handedBack);
  }

  #sweepNow(): void {
    const now = Date.now();
    for (const d of [...this.#devices.values()]) {
      if (now - d.lastSeenMs > this.#o.heartbeatTimeoutMs) {
        void this.#lose(d, `no heartbeat for ${Math.round((now - d.lastSeenMs) / 1000)} s`);
        d.socket.close(4002, 'heartbeat timeout');
      }
    }
    this.#kick();
  }

  async #result(device: Device, m: Extract<ExecutorMessage, { type: 'task_result' }>): Promise<void> {
    const job = this.#open.get(m.job_id);
    const given = device.running.get(m.job_id);
    if (!job || !given || given.attempt !== m.attempt || job.executor_id !== device.id || job.attempts !== m.attempt || job.status !== 'running') {
      // The slot it took is free again either way, unless this executor runs a newer attempt of it.
      if (given && given.attempt === m.attempt && !(job && job.executor_id === device.id && job.attempts === given.attempt && job.status === 'running')) device.running.delete(m.job_id);
      this.staleResults++;
      this.#log.info({ job: m.job_id, attempt: m.attempt, executor: device.id }, 'result ignored: late, duplicate or for another attempt');
      return;
    }
    device.running.delete(m.job_id);
    // The executor's slot is free now: its next job is placed while this result is committed. (A
    // job queued again below is queued in memory before that pass runs.)
    this.#kick();
    if (!m.ok) {
      if (m.retryable && job.attempts < job.max_attempts) await this.#update(job, { status: 'queued', executor_id: null, progress: 0 });
      else await this.#finish(job, 'failed', { error: `${m.error} (on ${device.id}, attempt ${m.attempt})` });
      return;
    }
    const output = Buffer.from(m.output_b64, 'base64');
    const signature = Buffer.from(m.signature_b64, 'base64');
    if (!verify(null, resultDigest(m.job_id, m.attempt, output), device.verifier, signature)) {
      // Not the executor's own result: never stored; the job runs again elsewhere.
      this.#log.warn({ job: m.job_id, executor: device.id }, 'result signature does not verify');
      if (job.attempts < job.max_attempts) await this.#update(job, { status: 'queued', executor_id: null, progress: 0 });
      else await this.#finish(job, 'failed', { error: `the result from ${device.id} was not signed with its registered key` });
      return;
    }
    // A small result commits with the job's outcome (one commit, and never a job pointing at a
    // result that was not stored); a larger one is stored first.
    const staged = this.#blobs.stage?.(output, { media_type: m.media_type }, this.#db) ?? null;
    const resultRef = staged?.ref ?? (await this.#blobs.put(output, { media_type: m.media_type })).ref;
    await this.#finish(job, 'succeeded', { result_ref: resultRef, result_signature: `ed25519:${device.id}:${m.signature_b64}` }, staged);
  }

  // ---- jobs -----------------------------------------------------------------------------------

  /** @throws CITY_ERR_JOB_INVALID (422) naming what is wrong; CITY_ERR_QUOTA_EXCEEDED (429) */
  async submit(request: JobRequest, clientId: string): Promise<JobView> {
    const shapeProblem = requestProblem(request);
    if (shapeProblem) throw cityError('JOB_INVALID', { reason: shapeProblem });
    const kind = request.kind ?? null;
    const wasmRef = request.wasm_ref ?? null;
    if ((kind === null) === (wasmRef === null)) throw cityError('JOB_INVALID', { reason: 'give either `kind` (one of ' + [...TASK_KINDS.keys()].join(', ') + ') or `wasm_ref` (a WebAssembly module in the data store)' });
    const taskKind = kind === null ? null : TASK_KINDS.get(kind);
    if (kind !== null && !taskKind) throw cityError('JOB_INVALID', { reason: `kind ${kind} is not one the executors run; they run ${[...TASK_KINDS.keys()].join(', ')}` });
    if ((request.input === undefined) === (request.input_ref === undefined)) throw cityError('JOB_INVALID', { reason: 'give either `input` (inline JSON) or `input_ref` (data in the data store)' });
    if (wasmRef !== null && !(await this.#blobs.stat(wasmRef))) throw cityError('JOB_INVALID', { reason: `wasm_ref ${wasmRef} is not in the data store (upload it with POST /api/v1/blobs)` });
    const inputRef = request.input_ref ?? null;
    const missingInput = () => cityError('JOB_INVALID', { reason: `input_ref ${inputRef} is not in the data store (upload it with POST /api/v1/blobs)` });
    // A kind reads its input here (for the check below, and kept for the dispatch); a module's is only looked up.
    let stored: Uint8Array | null = null;
    if (inputRef !== null && taskKind) stored = await this.#blobs.get(inputRef);
    if (inputRef !== null && (taskKind ? stored === null : !(await this.#blobs.stat(inputRef)))) throw missingInput();
    if ((this.#openPerClient.get(clientId) ?? 0) >= this.#o.maxOpenJobsPerClient) throw cityError('QUOTA_EXCEEDED', { what: 'open jobs', limit: this.#o.maxOpenJobsPerClient, holder: clientId });
    // A kind's input is checked here, so a wrong field is the client's 422 now and not a failed job later.
    let input: unknown = request.input;
    if (taskKind) {
      try {
        if (stored !== null) input = JSON.parse(Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength).toString('utf8'));
      } catch (err) {
        throw cityError('JOB_INVALID', { reason: `input_ref ${inputRef} for ${kind} is not JSON: ${(err as Error).message}` });
      }
      try {
        input = taskKind.validate(input);
      } catch (err) {
        throw cityError('JOB_INVALID', { reason: `input for ${kind}: ${(err as Error).message}` });
      }
    }
    const inputBytes = stored ?? (inputRef === null ? Buffer.from(JSON.stringify(input)) : null);
    // An inline input small enough for the data store's database tier commits with the job's row.
    const stagedInput = inputRef === null ? (this.#blobs.stage?.(inputBytes!, { media_type: 'application/json' }, this.#db) ?? null) : null;
    const storedInput = inputRef ?? stagedInput?.ref ?? (await this.#blobs.put(inputBytes!, { media_type: 'application/json' })).ref;
    const needs: ResourceNeeds = { ...DEFAULT_NEEDS, ...request.needs };
    const base = {
      client_id: clientId,
      kind,
      wasm_ref: wasmRef,
      priority: request.priority ?? 'normal',
      deadline_at: request.deadline_s === undefined ? null : new Date(Date.now() + request.deadline_s * 1000),
      timeout_ms: Math.round((request.timeout_s ?? this.#o.timeoutMs / 1000) * 1000),
      max_attempts: request.max_attempts ?? this.#o.maxAttempts,
    };
    const jobId = uuidv7(Date.now());
    const fanOut = taskKind && request.fan_out && request.fan_out > 1 ? taskKind.split(input, request.fan_out) : null;
    const split = fanOut !== null && fanOut.length > 1;
    const createdAt = new Date().toISOString();
    const job = (job_id: string, input_ref: string, status: JobStatus, part: { parent: string; index: number } | null, parts: number | null): JobView => ({
      ...base,
      job_id,
      needs,
      deadline_at: base.deadline_at === null ? null : base.deadline_at.toISOString(),
      input_ref,
      status,
      attempts: 0,
      executor_id: null,
      progress: 0,
      result_ref: null,
      result_signature: null,
      error: null,
      parent_job_id: part?.parent ?? null,
      part_index: part?.index ?? null,
      parts,
      created_at: createdAt,
      assigned_at: null,
      finished_at: null,
    });
    const jobs = [job(jobId, storedInput, split ? 'running' : 'queued', null, split ? fanOut.length : null)];
    const inputs = new Map<string, Uint8Array>();
    if (!split && inputBytes) inputs.set(jobId, inputBytes);
    if (split) {
      // The parts' inputs are stored together (one commit in the small tier), then listed in order.
      const parts = fanOut.map((part) => Buffer.from(JSON.stringify(part)));
      const stored = await Promise.all(parts.map((bytes) => this.#blobs.put(bytes, { media_type: 'application/json' })));
      for (const [index, bytes] of parts.entries()) {
        const partId = uuidv7(Date.now());
        jobs.push(job(partId, stored[index]!.ref, 'queued', { parent: jobId, index }, null));
        inputs.set(partId, bytes);
      }
    }
    // Acknowledged once durable; only then can the jobs be placed.
    await Promise.all(jobs.map((j) => this.#writer.write(j, j.job_id === jobId ? stagedInput : null)));
    for (const j of jobs) this.#track(j, inputs.get(j.job_id));
    const view = this.#open.get(jobId)!;
    this.#emit({ kind: 'job', job: view });
    this.#kick();
    return view;
  }

  async cancel(jobId: string, by: string): Promise<JobView> {
    const job = this.#open.get(jobId);
    if (!job) {
      const stored = await this.get(jobId);
      throw cityError('REQUEST_INVALID', { reason: `job ${jobId} is ${stored.status}: only queued or running jobs can be cancelled` });
    }
    const parts = [...this.#open.values()].filter((j) => j.parent_job_id === jobId);
    for (const part of [job, ...parts]) {
      if (part.status === 'running' && part.executor_id) {
        const device = this.#devices.get(part.executor_id);
        device?.running.delete(part.job_id);
        if (device) send(device.socket, { type: 'task_cancel', job_id: part.job_id, attempt: part.attempts, reason: `cancelled by ${by}` });
      }
      await this.#finish(part, 'cancelled', { error: `cancelled by ${by}` });
    }
    this.#kick();
    return this.get(jobId);
  }

  /** @throws CITY_ERR_REQUEST_INVALID (as 404) when unknown */
  async get(jobId: string): Promise<JobView> {
    const open = this.#open.get(jobId);
    if (open) return open;
    const row = await this.#db.selectFrom('jobs').selectAll().where('tenant_id', '=', this.#tenantId).where('job_id', '=', jobId).executeTakeFirst();
    if (!row) throw cityError('JOB_NOT_FOUND', { jobId });
    return jobView(row);
  }

  async list(q: { clientId?: string; status?: JobStatus; limit: number }): Promise<JobView[]> {
    let query = this.#db.selectFrom('jobs').selectAll().where('tenant_id', '=', this.#tenantId).where('parent_job_id', 'is', null);
    if (q.clientId !== undefined) query = query.where('client_id', '=', q.clientId);
    if (q.status !== undefined) query = query.where('status', '=', q.status);
    return (await query.orderBy('created_at', 'desc').limit(q.limit).execute()).map(jobView);
  }

  /**
   * What this broker's own executors can take now, as one device for a peer broker (the
   * backhaul's registration and updates): the largest single executor's free resources (a job
   * runs on one executor), all executors' job slots (a job sent while they are busy waits in this
   * broker's queue), a GPU if any has one.
   */
  ownCapacity(): { resources: ResourceInfo; concurrency: number } {
    let best: ReturnType<typeof offered> | null = null;
    let slots = 0;
    let gpu: ResourceInfo['gpu'] = null;
    let cores = 0;
    let memory = 0;
    for (const d of this.#devices.values()) {
      if (d.broker) continue;
      const o = offered(d);
      slots += d.concurrency;
      cores += d.resources.cpu.cores;
      memory += d.resources.memory_mb.total;
      if (d.resources.gpu) gpu = d.resources.gpu;
      if (!best || o.cpu_cores_available > best.cpu_cores_available) best = o;
    }
    const freeCores = best?.cpu_cores_available ?? 0;
    return {
      // Shaped so the peer's share (1.0) and usage leave exactly the largest executor's free capacity.
      resources: {
        cpu: { model: 'pooled executors', cores: Math.max(cores, freeCores), usage_percent: cores > 0 ? Math.round((1 - freeCores / Math.max(cores, freeCores)) * 1000) / 10 : 100 },
        memory_mb: { total: Math.max(memory, Math.round(best?.memory_mb_available ?? 0)), available: Math.round(best?.memory_mb_available ?? 0) },
        storage_mb: { total: Math.round(best?.storage_mb_available ?? 0), available: Math.round(best?.storage_mb_available ?? 0) },
        gpu,
      },
      concurrency: Math.max(1, slots),
    };
  }

  /** Data the open jobs still need (the data store's retention sweep keeps it). */
  pinnedRefs(): Set<string> {
    const refs = new Set<string>();
    for (const j of this.#open.values()) {
      refs.add(j.input_ref);
      if (j.wasm_ref !== null) refs.add(j.wasm_ref);
      if (j.result_ref !== null) refs.add(j.result_ref);
    }
    return refs;
  }

  /** Devices online and the pooled totals (GET /api/v1/pool). */
  pool(): { devices: DeviceSummary[]; totals: { devices: number; peer_brokers: number; cpu_cores: number; cpu_cores_offered: number; memory_mb: number; memory_mb_offered: number; storage_mb_offered: number; gpus: number; running_jobs: number; queued_jobs: number } } {
    const devices = [...this.#devices.values()].map(summary);
    const totals = { devices: devices.filter((d) => d.kind === 'executor').length, peer_brokers: 0, cpu_cores: 0, cpu_cores_offered: 0, memory_mb: 0, memory_mb_offered: 0, storage_mb_offered: 0, gpus: 0, running_jobs: 0, queued_jobs: 0 };
    for (const d of this.#devices.values()) {
      // A peer broker is listed, not summed: its executors are counted where they are attached.
      if (d.broker) {
        totals.peer_brokers++;
        continue;
      }
      const r = offered(d);
      totals.cpu_cores += d.resources.cpu.cores;
      totals.cpu_cores_offered += round1(r.cpu_cores_available);
      totals.memory_mb += d.resources.memory_mb.total;
      totals.memory_mb_offered += Math.round(r.memory_mb_available);
      totals.storage_mb_offered += Math.round(r.storage_mb_available);
      if (d.resources.gpu) totals.gpus++;
      totals.running_jobs += d.running.size;
    }
    totals.queued_jobs = [...this.#open.values()].filter((j) => j.status === 'queued').length;
    return { devices, totals };
  }

  // ---- scheduling -----------------------------------------------------------------------------

  /**
   * Asks for a placement pass. Passes never overlap: one asked for while another runs happens
   * right after it (two passes at once could both give one job to two executors).
   */
  #kick(): void {
    if (this.#closed) return;
    if (this.#placing) {
      this.#kickAgain = true;
      return;
    }
    if (this.#kickPending) return;
    this.#kickPending = true;
    setImmediate(() => {
      this.#kickPending = false;
      this.#placing = true;
      void this.#place()
        .catch((err) => this.#log.error({ err }, 'scheduling failed'))
        .finally(() => {
          this.#placing = false;
          if (this.#kickAgain) {
            this.#kickAgain = false;
            this.#kick();
          }
        });
    });
  }

  /**
   * Two passes: first the jobs a peer broker passed on, on this broker's own executors only (a job
   * never travels back over a backhaul it came in on); then every other job, on all executors —
   * own ones first, since a peer broker ranks as busier (see `offered`).
   */
  async #place(): Promise<void> {
    const fromPeers: QueuedJob[] = [];
    const others: QueuedJob[] = [];
    for (const job of this.#open.values()) {
      if (job.status !== 'queued') continue;
      const entry = this.#queueEntries.get(job.job_id)!;
      (entry.fromPeer ? fromPeers : others).push(entry);
    }
    if (fromPeers.length + others.length === 0) return;
    await this.#placePass(fromPeers, false);
    await this.#placePass(others.filter((j) => this.#open.get(j.job_id)?.status === 'queued'), true);
  }

  async #placePass(queue: QueuedJob[], withPeers: boolean): Promise<void> {
    if (queue.length === 0) return;
    const now = Date.now();
    const devices: DeviceResources[] = [...this.#devices.values()].filter((d) => withPeers || !d.broker).map((d) => ({ ...offered(d), device_id: d.id }));
    const plan = schedule(queue, devices, now);
    for (const e of plan.expired) {
      const job = this.#open.get(e.job_id);
      if (job) await this.#finish(job, 'failed', { error: `deadline passed before it could be placed: ${e.reason}` });
    }
    let deferred = false;
    const dispatched: Array<Promise<void>> = [];
    for (const a of plan.assign) {
      const job = this.#open.get(a.job_id);
      const target = a.plan.allocations[0];
      const device = target ? this.#devices.get(target.device_id) : undefined;
      if (!job || !device || job.status !== 'queued') continue;
      // The plan counts resources, not job slots: an executor already at its concurrency takes no
      // more; the job waits for the next pass, which sees that executor full and looks elsewhere.
      if (device.running.size >= device.concurrency) {
        deferred = true;
        continue;
      }
      dispatched.push(this.#dispatch(job, device));
    }
    if (deferred) this.#kick();
    // The pass does not wait for the rows (they share the next commit): what the next pass must
    // see — the job running, the executor's slot taken — is already so in memory, and waiting
    // would hold every placement to the store's commit time.
    void Promise.all(dispatched).catch((err: unknown) => this.#log.error({ err }, 'a dispatched job could not be recorded'));
  }

  /**
   * Gives the job to the device at once. Its row is written lazily (JobWriter.writeDeferred): a
   * job that ends within DEFERRED_WRITE_MS has only its outcome written, and watchers hear of
   * the assignment only if it was committed. A broker that stops before then queues the job again
   * at start, as it does every running job; the attempt it lost is not counted.
   */
  async #dispatch(job: JobView, device: Device): Promise<void> {
    const attempt = job.attempts + 1;
    device.running.set(job.job_id, { attempt, needs: job.needs });
    const written = this.#update(job, { status: 'running', executor_id: device.id, attempts: attempt, assigned_at: new Date().toISOString(), progress: 0 }, 'deferred');
    try {
      const input = this.#inputs.get(job.job_id) ?? (await this.#blobs.get(job.input_ref));
      const wasm = job.wasm_ref === null ? null : await this.#blobs.get(job.wasm_ref);
      if (!input || (job.wasm_ref !== null && !wasm)) throw new Error(`${!input ? `input ${job.input_ref}` : `module ${job.wasm_ref}`} is no longer in the data store`);
      send(device.socket, {
        type: 'task_assign',
        job_id: job.job_id,
        attempt,
        kind: job.kind,
        wasm_b64: wasm ? Buffer.from(wasm).toString('base64') : null,
        input_b64: Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('base64'),
        needs: job.needs,
        limits: { timeout_ms: job.timeout_ms, max_memory_mb: Math.max(16, Math.round(job.needs.memory_mb || this.#o.maxMemoryMb)) },
      });
    } catch (err) {
      device.running.delete(job.job_id);
      await this.#finish(job, 'failed', { error: (err as Error).message }); // takes the deferred write's place
      return;
    }
    await written;
  }

  /** `result`: the result's bytes, staged to commit with the outcome (JobWriter.write). */
  async #finish(job: JobView, status: 'succeeded' | 'failed' | 'cancelled', fields: { error?: string; result_ref?: string; result_signature?: string }, result: StagedBlob | null = null): Promise<void> {
    if (job.executor_id) this.#devices.get(job.executor_id)?.running.delete(job.job_id);
    await this.#update(job, { status, finished_at: new Date().toISOString(), progress: status === 'succeeded' ? 1 : job.progress, ...fields }, 'now', result);
    this.#untrack(job);
    if (job.parent_job_id !== null) await this.#partFinished(job);
  }

  /** A fan-out part ended: when every part succeeded, merge; when one failed, the whole job fails. */
  async #partFinished(part: JobView): Promise<void> {
    const parent = this.#open.get(part.parent_job_id!);
    if (!parent) return;
    const parts = await this.#db.selectFrom('jobs').selectAll().where('parent_job_id', '=', parent.job_id).orderBy('part_index').execute();
    // Parts that end in one commit all see each other ended: only the first concludes the job.
    if (!this.#open.has(parent.job_id) || this.#concluding.has(parent.job_id)) return;
    const failed = parts.find((p) => p.status === 'failed' || p.status === 'cancelled');
    const concluding = (failed && part.status !== 'cancelled') || parts.every((p) => p.status === 'succeeded');
    if (!concluding) {
      await this.#update(parent, { progress: parts.filter((p) => p.status === 'succeeded').length / parts.length });
      return;
    }
    this.#concluding.add(parent.job_id);
    try {
      if (failed) {
        for (const p of parts) {
          const open = this.#open.get(p.job_id);
          if (open) await this.#cancelPart(open, `part ${failed.part_index} failed`);
        }
        await this.#finish(parent, 'failed', { error: `part ${failed.part_index! + 1} of ${parts.length} ${failed.status}: ${failed.error}` });
        return;
      }
      const kind = TASK_KINDS.get(parent.kind!)!;
      const outputs = await Promise.all(parts.map(async (p) => JSON.parse(Buffer.from((await this.#blobs.get(p.result_ref!))!).toString('utf8'))));
      const input = JSON.parse(Buffer.from((await this.#blobs.get(parent.input_ref))!).toString('utf8'));
      const merged = kind.merge(outputs, kind.validate(input));
      const stored = await this.#blobs.put(Buffer.from(JSON.stringify(merged)), { media_type: 'application/json' });
      await this.#finish(parent, 'succeeded', { result_ref: stored.ref, result_signature: `merged:${parts.map((p) => p.result_signature).join(',')}` });
    } finally {
      this.#concluding.delete(parent.job_id);
    }
  }

  async #cancelPart(job: JobView, reason: string): Promise<void> {
    if (job.status === 'running' && job.executor_id) {
      const device = this.#devices.get(job.executor_id);
      if (device) send(device.socket, { type: 'task_cancel', job_id: job.job_id, attempt: job.attempts, reason });
    }
    await this.#update(job, { status: 'cancelled', finished_at: new Date().toISOString(), error: reason });
    if (job.executor_id) this.#devices.get(job.executor_id)?.running.delete(job.job_id);
    this.#untrack(job);
  }

  /**
   * `deferred`: the row may wait for a later write of the job to take its place
   * (JobWriter.writeDeferred); watchers then hear of this change only if it was the one committed.
   * `blob`: a staged blob the change refers to, committed with it.
   */
  async #update(job: JobView, fields: Partial<Pick<JobView, 'status' | 'executor_id' | 'attempts' | 'assigned_at' | 'finished_at' | 'progress' | 'error' | 'result_ref' | 'result_signature'>>, when: 'now' | 'deferred' = 'now', blob: StagedBlob | null = null): Promise<void> {
    // Memory first: a pass or a result arriving while the row is written sees the job as it now is.
    Object.assign(job, fields);
    // Watchers see this change once it is durable, and not a later one before that is: the job
    // may change again while this commit runs (a result arriving before its assignment commits).
    const committed = { ...job };
    if (when === 'deferred') {
      if (await this.#writer.writeDeferred(job)) this.#emit({ kind: 'job', job: committed });
      return;
    }
    await this.#writer.write(job, blob);
    this.#emit({ kind: 'job', job: committed });
  }

  #track(job: JobView, input?: Uint8Array): void {
    this.#open.set(job.job_id, job);
    this.#queueEntries.set(job.job_id, {
      job_id: job.job_id,
      priority: job.priority as QueuedJob['priority'],
      deadline_ms: job.deadline_at === null ? null : Date.parse(job.deadline_at),
      submitted_ms: Date.parse(job.created_at),
      needs: job.needs,
      single: true,
      fromPeer: isFromPeer(job),
    });
    if (input && this.#inputBytes + input.byteLength <= this.#o.inputCacheBytes) {
      this.#inputs.set(job.job_id, input);
      this.#inputBytes += input.byteLength;
    }
    if (job.parent_job_id === null) this.#openPerClient.set(job.client_id, (this.#openPerClient.get(job.client_id) ?? 0) + 1);
  }

  #untrack(job: JobView): void {
    this.#queueEntries.delete(job.job_id);
    const input = this.#inputs.get(job.job_id);
    if (input) {
      this.#inputs.delete(job.job_id);
      this.#inputBytes -= input.byteLength;
    }
    if (!this.#open.delete(job.job_id) || job.parent_job_id !== null) return;
    const left = (this.#openPerClient.get(job.client_id) ?? 1) - 1;
    if (left > 0) this.#openPerClient.set(job.client_id, left);
    else this.#openPerClient.delete(job.client_id);
  }

  #broadcast(message: BrokerMessage, except?: string): void {
    for (const d of this.#devices.values()) if (d.id !== except) send(d.socket, message);
  }

  #emit(update: PoolUpdate): void {
    for (const l of this.#listeners) {
      try {
        l(update);
      } catch (err) {
        this.#log.warn({ err }, 'a pool listener failed');
      }
    }
  }
}

/** What a device can take now: its free capacity within its owner's shares, less what its running jobs were given. */
function offered(d: Device): Omit<DeviceResources, 'device_id'> {
  const r = d.resources;
  const l = d.limits;
  const capCpu = r.cpu.cores * l.max_cpu_share;
  const capMem = r.memory_mb.total * l.max_memory_share;
  const capDisk = r.storage_mb.total * l.max_storage_share;
  let usedCpu = 0;
  let usedMem = 0;
  let usedDisk = 0;
  for (const j of d.running.values()) {
    usedCpu += j.needs.cpu_cores;
    usedMem += j.needs.memory_mb;
    usedDisk += j.needs.storage_mb;
  }
  const idleCpu = l.dedicated ? capCpu : r.cpu.cores * (1 - Math.min(100, Math.max(0, r.cpu.usage_percent)) / 100);
  const full = d.running.size >= d.concurrency;
  return {
    online: !full && !(d.broker && d.concurrency <= d.running.size),
    cpu_cores_available: Math.max(0, Math.min(idleCpu + usedCpu, capCpu) - usedCpu),
    memory_mb_available: Math.max(0, Math.min(r.memory_mb.available + usedMem, capMem) - usedMem),
    storage_mb_available: Math.max(0, Math.min(r.storage_mb.available, capDisk) - usedDisk),
    gpu: r.gpu ? { name: r.gpu.name } : null,
    // A peer broker ranks after this broker's own executors: its jobs travel a backhaul.
    running: d.running.size + (d.broker ? PEER_BROKER_PENALTY : 0),
    limits: { cpu_cores: capCpu, memory_mb: capMem, storage_mb: capDisk },
  };
}

/**
 * What the HTTP route's schema checks, for requests that arrive another way (the client
 * WebSocket, a peer broker): null when the shape is right, else what is wrong.
 */
function requestProblem(r: JobRequest): string | null {
  if (typeof r !== 'object' || r === null) return 'a job is a JSON object';
  if (r.kind !== undefined && typeof r.kind !== 'string') return 'kind must be a string';
  if (r.wasm_ref !== undefined && typeof r.wasm_ref !== 'string') return 'wasm_ref must be a sha256: ref';
  if (r.input_ref !== undefined && typeof r.input_ref !== 'string') return 'input_ref must be a sha256: ref';
  if (r.priority !== undefined && !JOB_PRIORITIES.includes(r.priority)) return `priority must be one of ${JOB_PRIORITIES.join(', ')}`;
  for (const f of ['deadline_s', 'timeout_s', 'max_attempts', 'fan_out'] as const) {
    const v = r[f];
    if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v > 0)) return `${f} must be a positive number`;
  }
  if (r.max_attempts !== undefined && (!Number.isInteger(r.max_attempts) || r.max_attempts > 20)) return 'max_attempts must be a whole number from 1 to 20';
  if (r.fan_out !== undefined && (!Number.isInteger(r.fan_out) || r.fan_out > 256)) return 'fan_out must be a whole number from 1 to 256';
  const n = r.needs;
  if (n !== undefined) {
    if (typeof n !== 'object' || n === null) return 'needs must be an object';
    for (const f of ['cpu_cores', 'memory_mb', 'storage_mb'] as const) {
      const v = n[f];
      if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v >= 0)) return `needs.${f} must be a number of at least 0`;
    }
    if (n.gpu !== undefined && typeof n.gpu !== 'boolean') return 'needs.gpu must be true or false';
  }
  return null;
}

/** The platform a broker registers as when it offers its executors to another broker. */
export const PEER_BROKER_PLATFORM = 'possible-city broker';
/** Extra running jobs a peer broker counts as when executors are ranked. */
const PEER_BROKER_PENALTY = 2;
/** Jobs a peer broker passed on carry its id as their client (`broker:<node>`). */
export const PEER_CLIENT_PREFIX = 'broker:';

function isFromPeer(j: JobView): boolean {
  return j.client_id.startsWith(PEER_CLIENT_PREFIX);
}

function clampLimits(l: OfferLimits): OfferLimits {
  const c = (v: number) => (Number.isFinite(v) ? Math.max(0, Math.min(1, v)) : 0.5);
  return { max_cpu_share: c(l.max_cpu_share), max_memory_share: c(l.max_memory_share), max_storage_share: c(l.max_storage_share), dedicated: l.dedicated === true };
}

function summary(d: Device): DeviceSummary {
  return { device_id: d.id, name: d.name, platform: d.platform, kind: d.broker ? 'broker' : 'executor', online: true, resources: d.resources, limits: d.limits, running: d.running.size, last_seen_at: new Date(d.lastSeenMs).toISOString() };
}

function send(socket: ExecutorSocket, message: BrokerMessage): void {
  try {
    socket.send(JSON.stringify(message));
  } catch {
    // a closing socket: its close handler hands the jobs back
  }
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

export function jobView(r: Selectable<JobsTable>): JobView {
  const iso = (v: Date | string | null) => (v === null ? null : new Date(v).toISOString());
  return {
    job_id: r.job_id,
    client_id: r.client_id,
    kind: r.kind,
    wasm_ref: r.wasm_ref,
    input_ref: r.input_ref,
    needs: (typeof r.needs === 'string' ? JSON.parse(r.needs) : r.needs) as ResourceNeeds,
    priority: r.priority,
    deadline_at: iso(r.deadline_at),
    timeout_ms: r.timeout_ms,
    status: r.status,
    attempts: r.attempts,
    max_attempts: r.max_attempts,
    executor_id: r.executor_id,
    progress: r.progress,
    result_ref: r.result_ref,
    result_signature: r.result_signature,
    error: r.error,
    parent_job_id: r.parent_job_id,
    part_index: r.part_index,
    parts: r.parts,
    created_at: iso(r.created_at)!,
    assigned_at: iso(r.assigned_at),
    finished_at: iso(r.finished_at),
  };
}
