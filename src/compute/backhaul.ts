import { backoffMs } from '../actions/backoff.js';
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import { VERSION } from '../node/paths.js';
import type { Database } from '../store/schema.js';
import { PEER_BROKER_PLATFORM, PEER_CLIENT_PREFIX, type Broker, type JobView, type PoolUpdate } from './broker.js';
import type { BlobStore } from './blob-store.js';
import { HEARTBEAT_MS, resultDigest, type BrokerMessage, type ExecutorMessage } from './protocol.js';

export const BACKHAUL_DEFAULTS = {
  /** How often the offer (this broker's free capacity) is sent to the peer. */
  offerUpdateMs: 2_000,
  /** Reconnect delays: 0.5 s doubling to 10 s, with jitter (src/actions/backoff.ts). */
  reconnect: { baseDelayMs: 500, maxDelayMs: 10_000 },
} as const;

/** A backhaul to another broker: its URL and the executor key that broker issued to this one. */
export interface BackhaulTarget {
  url: string;
  key: string;
}

/**
 * Seed 000's second broker ("extends the network as an alternative route"; issue 7 §6): this
 * broker joins another as if it were one executor — with the key that broker issued it — and
 * offers its own executors' free capacity (`Broker.ownCapacity`). A job the peer gives it is
 * submitted here for a peer client (`broker:<node>`), placed only on this broker's own executors
 * (it never travels back), and its progress and signed result go back over the same link. So a
 * client of either broker can use the executors of both (each side runs one backhaul to the other).
 *
 * When the backhaul drops, nothing waits on it: the peer loses this "executor" and places its jobs
 * on its own executors again; jobs already handed over finish here, their results lost with the link
 * (the peer runs them again; a late result is ignored there). The link reconnects by itself with
 * backoff, and sharing resumes.
 */
export class Backhaul {
  state: 'connecting' | 'registered' | 'disconnected' | 'closed' = 'connecting';
  readonly #o: { target: BackhaulTarget; nodeId: string; broker: Broker; blobs: BlobStore; signingKey: KeyObject; publicJwk: Record<string, unknown>; log: Logger };
  #ws: WebSocket | null = null;
  #timers: NodeJS.Timeout[] = [];
  #reconnect: NodeJS.Timeout | null = null;
  #failures = 0;
  /** local job id → the peer's job and attempt it runs for. */
  readonly #forwarded = new Map<string, { jobId: string; attempt: number; ws: WebSocket }>();

  constructor(o: { target: BackhaulTarget; nodeId: string; broker: Broker; blobs: BlobStore; signingKey: KeyObject; publicJwk: Record<string, unknown>; log: Logger }) {
    this.#o = o;
    o.broker.onUpdate((u) => this.#onLocal(u));
  }

  start(): void {
    this.#connect();
  }

  close(): void {
    this.state = 'closed';
    this.#stopTimers();
    if (this.#reconnect) clearTimeout(this.#reconnect);
    this.#ws?.close(1000, 'broker stopping');
  }

  #connect(): void {
    if (this.state === 'closed') return;
    this.state = 'connecting';
    const url = `${this.#o.target.url.replace(/^http/, 'ws').replace(/\/+$/, '')}/api/v1/pool/ws`;
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${this.#o.target.key}` }, handshakeTimeout: 10_000 });
    this.#ws = ws;
    ws.on('open', () => {
      const offer = this.#o.broker.ownCapacity();
      this.#send(ws, { type: 'register', name: `broker ${this.#o.nodeId}`, platform: PEER_BROKER_PLATFORM, resources: offer.resources, limits: { max_cpu_share: 1, max_memory_share: 1, max_storage_share: 1, dedicated: false }, public_key: this.#o.publicJwk, concurrency: offer.concurrency, version: VERSION });
    });
    ws.on('message', (data) => {
      let m: BrokerMessage;
      try {
        m = JSON.parse(String(data)) as BrokerMessage;
      } catch {
        return;
      }
      void this.#handle(ws, m).catch((err) => this.#o.log.warn({ err }, 'backhaul message failed'));
    });
    ws.on('error', (err) => this.#o.log.warn({ err: err.message, peer: this.#o.target.url }, 'backhaul error'));
    ws.on('close', () => {
      if (this.#ws !== ws) return;
      this.#stopTimers();
      for (const [local, f] of this.#forwarded) if (f.ws === ws) this.#forwarded.delete(local);
      if (this.state === 'closed') return;
      this.state = 'disconnected';
      const delay = backoffMs(++this.#failures, BACKHAUL_DEFAULTS.reconnect);
      this.#o.log.warn({ peer: this.#o.target.url, retryInMs: Math.round(delay) }, 'backhaul down: working alone, reconnecting');
      this.#reconnect = setTimeout(() => this.#connect(), delay);
      this.#reconnect.unref();
    });
  }

  async #handle(ws: WebSocket, m: BrokerMessage): Promise<void> {
    switch (m.type) {
      case 'registered': {
        this.#failures = 0;
        this.state = 'registered';
        this.#stopTimers();
        this.#timers.push(setInterval(() => this.#send(ws, { type: 'heartbeat' }), m.heartbeat_ms || HEARTBEAT_MS));
        this.#timers.push(
          setInterval(() => {
            const offer = this.#o.broker.ownCapacity();
            this.#send(ws, { type: 'resource_update', resources: offer.resources, concurrency: offer.concurrency });
          }, BACKHAUL_DEFAULTS.offerUpdateMs),
        );
        for (const t of this.#timers) t.unref();
        this.#o.log.info({ peer: this.#o.target.url }, 'backhaul up: sharing executors');
        return;
      }
      case 'task_assign': {
        try {
          const input = await this.#o.blobs.put(Buffer.from(m.input_b64, 'base64'));
          const wasm = m.wasm_b64 === null ? null : await this.#o.blobs.put(Buffer.from(m.wasm_b64, 'base64'), { media_type: 'application/wasm' });
          const local = await this.#o.broker.submit(
            { ...(m.kind !== null ? { kind: m.kind } : { wasm_ref: wasm!.ref }), input_ref: input.ref, needs: m.needs ?? { memory_mb: m.limits.max_memory_mb }, timeout_s: m.limits.timeout_ms / 1000, priority: 'normal' },
            `${PEER_CLIENT_PREFIX}${peerName(this.#o.target.url)}`,
          );
          this.#forwarded.set(local.job_id, { jobId: m.job_id, attempt: m.attempt, ws });
        } catch (err) {
          this.#send(ws, { type: 'task_result', job_id: m.job_id, attempt: m.attempt, ok: false, error: `refused by the peer broker ${this.#o.nodeId}: ${(err as Error).message}`, retryable: false });
        }
        return;
      }
      case 'task_cancel': {
        for (const [local, f] of this.#forwarded) {
          if (f.jobId === m.job_id && f.attempt === m.attempt) {
            this.#forwarded.delete(local);
            await this.#o.broker.cancel(local, `the peer broker: ${m.reason}`).catch(() => {});
          }
        }
        return;
      }
      case 'error':
        this.#o.log.error({ error: m.error, peer: this.#o.target.url }, 'the peer broker refused this backhaul');
        return;
      default:
        return;
    }
  }

  /** A local job changed: pass a forwarded one's progress and outcome back to the peer. */
  #onLocal(u: PoolUpdate): void {
    if (u.kind !== 'job') return;
    const f = this.#forwarded.get(u.job.job_id);
    if (!f) return;
    const job: JobView = u.job;
    if (job.status === 'running') {
      this.#send(f.ws, { type: 'task_progress', job_id: f.jobId, attempt: f.attempt, fraction: job.progress });
      return;
    }
    if (job.status === 'queued') return;
    this.#forwarded.delete(job.job_id);
    if (job.status !== 'succeeded' || job.result_ref === null) {
      this.#send(f.ws, { type: 'task_result', job_id: f.jobId, attempt: f.attempt, ok: false, error: `${job.error ?? job.status} (at the peer broker ${this.#o.nodeId})`, retryable: job.status === 'cancelled' });
      return;
    }
    const ref = job.result_ref;
    void Promise.all([this.#o.blobs.get(ref), this.#o.blobs.stat(ref)]).then(([output, info]) => {
      if (!output) return;
      const bytes = Buffer.from(output);
      // Signed by this broker, which answers for the executor it chose (that executor signed it here).
      const signature = sign(null, resultDigest(f.jobId, f.attempt, bytes), this.#o.signingKey);
      this.#send(f.ws, { type: 'task_result', job_id: f.jobId, attempt: f.attempt, ok: true, output_b64: bytes.toString('base64'), media_type: info?.media_type ?? 'application/octet-stream', signature_b64: signature.toString('base64'), cpu_ms: 0, wall_ms: 0 });
    });
  }

  #send(ws: WebSocket, m: ExecutorMessage): void {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(m));
  }

  #stopTimers(): void {
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
  }
}

/** The node's own signing key (the hierarchy's link key), as node:crypto key objects for signing results. */
export async function brokerSigningKey(db: Kysely<Database>): Promise<{ signingKey: KeyObject; publicJwk: Record<string, unknown> }> {
  const row = await db.selectFrom('node_secrets').select('value').where('name', '=', 'link_signing_key').executeTakeFirstOrThrow();
  const jwk = JSON.parse(row.value) as { kty: string; crv: string; x: string; d: string };
  return { signingKey: createPrivateKey({ key: jwk, format: 'jwk' }), publicJwk: { kty: jwk.kty, crv: jwk.crv, x: jwk.x } };
}

function peerName(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}
