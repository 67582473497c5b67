import { Worker } from 'node:worker_threads';
import { cityError } from '../errors.js';
import type { ZoneService } from '../geo/zone-service.js';
import type { PluginRegistry } from '../plugins/registry.js';
import type { BatchPreparer, PrepareRequest } from './ingest.js';
import { InlinePreparer, type RuleSource } from './inline-preparer.js';
import type { PreparedBatch } from './ingest-batch.js';
import { errorFromWire, versionKey, type WorkerInit, type WorkerMessage } from './ingest-worker.js';

type Reply =
  | ({ id: number; ok: true; batch: boolean } & PreparedBatch)
  | { id: number; ok: false; error: { code: string; details: Record<string, unknown> } };

interface Pending {
  resolve: (value: PreparedBatch & { batch: boolean }) => void;
  reject: (err: unknown) => void;
}

/**
 * Prepares batches in a pool of ingest worker threads (round robin). The registry and the zones
 * push their changes here, and each worker gets the new replica before any later batch.
 */
export class WorkerPreparer implements BatchPreparer {
  readonly #workers: Worker[] = [];
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #next = 0;
  #closed = false;
  /** Set once a worker has failed: later batches are refused at once rather than lost. */
  #broken: string | null = null;

  /** Bodies below this size are prepared on the main thread: the hop costs more than it saves. */
  static readonly MIN_WORKER_BYTES = 16 * 1024;
  readonly #inline: InlinePreparer;

  constructor(count: number, init: WorkerInit, registry: PluginRegistry, zones: ZoneService, rules: RuleSource | null = null) {
    this.#inline = new InlinePreparer(init.tenantId, zones, rules);
    for (let i = 0; i < count; i++) {
      // The boot file loads tsx in the worker (module hooks are not inherited); the young
      // generation matches what bin/city.mjs gives the main thread (3 × 64 MiB semi-spaces).
      const worker = new Worker(new URL('./ingest-worker-boot.mjs', import.meta.url), {
        workerData: init,
        resourceLimits: { maxYoungGenerationSizeMb: 192 },
      });
      worker.on('message', (reply: Reply) => this.#settle(reply));
      worker.on('error', (err) => this.#failAll(`an ingest worker failed: ${err.message}`));
      worker.on('exit', (code) => {
        if (!this.#closed) this.#failAll(`an ingest worker exited with code ${code}; restart the node`);
      });
      this.#workers.push(worker);
    }
    registry.onVersionsChanged(() => this.#broadcast({ op: 'plugins', descriptors: registry.descriptors() }));
    zones.onChange(() => this.#broadcast({ op: 'zones', zones: [...zones.tree.all()] }));
    rules?.onChange(() => this.#broadcast({ op: 'rules', specs: rules.specs() }));
    this.#broadcast({ op: 'plugins', descriptors: registry.descriptors() });
    this.#broadcast({ op: 'zones', zones: [...zones.tree.all()] });
    if (rules) this.#broadcast({ op: 'rules', specs: rules.specs() });
  }

  prepare(r: PrepareRequest): Promise<PreparedBatch & { batch: boolean }> {
    if (this.#closed) return Promise.reject(cityError('SHUTTING_DOWN'));
    if (this.#broken !== null) return Promise.reject(cityError('INTERNAL', { reason: this.#broken }));
    // Single events and small batches (one sensor reading over MQTT) stay here: in the ingest
    // benchmark the single-event paths ran slower with the thread hop, 1,000-event bodies faster.
    if (r.bytes.byteLength < WorkerPreparer.MIN_WORKER_BYTES) return this.#inline.prepare(r);
    const id = this.#nextId++;
    const worker = this.#workers[this.#next++ % this.#workers.length]!;
    // Cloned by postMessage, not transferred: the caller keeps the bytes to dead-letter the
    // whole body if the worker refuses it (a transfer would leave it an empty buffer). The copy
    // of a 1,000-event body costs well under 0.1 µs per event.
    const bytes = r.bytes;
    const message: WorkerMessage = {
      op: 'prepare',
      id,
      pluginKey: versionKey(r.plugin.modelId, r.plugin.version),
      bytes,
      format: r.format,
      maxItems: r.maxItems,
      receivedAtMs: r.receivedAtMs,
      zoneHint: r.zoneHint,
      summaries: r.summaries,
    };
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      worker.postMessage(message);
    });
  }

  #settle(reply: Reply): void {
    const pending = this.#pending.get(reply.id);
    if (!pending) return;
    this.#pending.delete(reply.id);
    if (!reply.ok) return pending.reject(errorFromWire(reply.error));
    // Structured cloning turns Buffers into plain Uint8Arrays; the store wants Buffers.
    for (const letter of reply.letters) {
      const p = letter.payload as unknown;
      if (p instanceof Uint8Array && !Buffer.isBuffer(p)) letter.payload = Buffer.from(p.buffer, p.byteOffset, p.byteLength);
    }
    pending.resolve(reply);
  }

  #broadcast(message: WorkerMessage): void {
    for (const worker of this.#workers) worker.postMessage(message);
  }

  #failAll(reason: string): void {
    this.#broken = reason;
    for (const p of this.#pending.values()) p.reject(cityError('INTERNAL', { reason }));
    this.#pending.clear();
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}
