import { sql, type Kysely } from 'kysely';
import { cityError } from '../errors.js';
import type { Database } from '../store/schema.js';

/** The path a receiving node serves its inbox on (src/hierarchy/link-routes.ts). */
export const LINK_MESSAGES_PATH = '/api/v1/layer/messages';

export interface LinkBackoff {
  baseMs: number;
  maxMs: number;
  /** Full jitter: wait a random time in [0, min(maxMs, baseMs·2ⁿ⁻¹)], so children reconnecting together do not retry in step. */
  jitter: boolean;
}

export interface LinkSenderOptions {
  db: Kysely<Database>;
  tenantId: string;
  /** This node's id, sent as `from_node`. */
  nodeId: string;
  /** The outbox destination this sender drains ('parent', or a peer's id). */
  destination: string;
  /** The receiver's base URL, read before every attempt (it may move); null: not known yet. */
  url: () => string | null;
  /** Headers for every request (the link credential, once enrolment issues one). */
  headers?: () => Record<string, string> | Promise<Record<string, string>>;
  batchSize?: number;
  backoff?: Partial<LinkBackoff>;
  requestTimeoutMs?: number;
  /** How often an idle sender looks at the outbox anyway, in case a poke() was missed. */
  idlePollMs?: number;
  fetch?: typeof fetch;
  onState?: (state: LinkSenderSnapshot) => void;
}

export const LINK_SENDER_DEFAULTS = {
  batchSize: 100,
  backoff: { baseMs: 500, maxMs: 30_000, jitter: true } satisfies LinkBackoff,
  requestTimeoutMs: 10_000,
  idlePollMs: 5_000,
} as const;

/**
 * 'idle': caught up, waiting for messages; 'up': delivering; 'down': the last attempt failed
 * (`consecutive_failures` > 0) and the sender waits until `next_attempt_at`.
 */
export type LinkSenderStateName = 'up' | 'down' | 'idle';

/** What the sender keeps in memory (cheap to read on every topology request). */
export interface LinkSenderSnapshot {
  destination: string;
  state: LinkSenderStateName;
  delivered: number;
  last_delivered_at: string | null;
  last_error: string | null;
  consecutive_failures: number;
  next_attempt_at: string | null;
}

/** The snapshot plus the outbox's depth, read from the store. */
export interface LinkSenderState extends LinkSenderSnapshot {
  pending: number;
  oldest_pending_at: string | null;
}

interface PendingRow {
  id: string;
  message_id: string;
  kind: string;
  created_at: Date | string;
  payload_text: string;
}

/**
 * The sending end of a link (issue 5 §5: "the durable outbox on the sender … retries with
 * backoff, in-order delivery after reconnect"). Delivers one destination's undelivered outbox
 * rows in id order, a batch at a time, to the receiver's `POST /api/v1/layer/messages`, and
 * marks them delivered once acknowledged. On any failure — network error, timeout, non-2xx,
 * an answer that acknowledges nothing — it waits with exponential backoff and resends the same
 * rows: it never skips ahead, so the receiver sees each destination's messages in order, and its
 * inbox (src/hierarchy/inbox.ts) turns resends into `duplicate` instead of applying them twice.
 * Delivery is at-least-once on the wire and exactly-once in effect.
 *
 * "In order" is the order rows become visible, not quite id order: ids are drawn at insert and
 * rows appear at commit, so two writers committing at once on PostgreSQL (PGlite has one
 * connection) can show id 6 before id 5; 5 then follows 6, and the inbox counts it out of
 * order. Nothing is lost or applied twice. Strict order per destination, when the hierarchy
 * needs it, means numbering rows per destination under a lock taken in the writing transaction.
 *
 * @example
 *   const sender = new LinkSender({ db, tenantId: 'default', nodeId: 'local-7', destination: 'parent', url: () => parentUrl });
 *   sender.start();
 *   // after committing new outbox rows:
 *   sender.poke();
 *   await sender.state(); // → { state: 'idle', pending: 0, consecutive_failures: 0, … }
 *   await sender.close();
 */
export class LinkSender {
  readonly #opts: LinkSenderOptions;
  readonly #batchSize: number;
  readonly #backoff: LinkBackoff;
  readonly #timeoutMs: number;
  readonly #idlePollMs: number;
  readonly #fetch: typeof fetch;

  #state: LinkSenderStateName = 'idle';
  #delivered = 0;
  #lastDeliveredAt: Date | null = null;
  #lastError: string | null = null;
  #failures = 0;
  #nextAttemptAt: Date | null = null;

  #running: Promise<void> | null = null;
  #closed = false;
  /** Set by poke(); cleared when the outbox is read, so a poke between a read and a wait is not lost. */
  #poked = false;
  #wake: (() => void) | null = null;
  #timer: NodeJS.Timeout | null = null;
  readonly #stop = new AbortController();

  constructor(opts: LinkSenderOptions) {
    this.#opts = opts;
    this.#batchSize = clampInt(opts.batchSize ?? LINK_SENDER_DEFAULTS.batchSize, 1, 10_000);
    this.#backoff = { ...LINK_SENDER_DEFAULTS.backoff, ...opts.backoff };
    this.#backoff.baseMs = Math.max(1, this.#backoff.baseMs);
    this.#backoff.maxMs = Math.max(this.#backoff.baseMs, this.#backoff.maxMs);
    this.#timeoutMs = opts.requestTimeoutMs ?? LINK_SENDER_DEFAULTS.requestTimeoutMs;
    this.#idlePollMs = opts.idlePollMs ?? LINK_SENDER_DEFAULTS.idlePollMs;
    this.#fetch = opts.fetch ?? fetch;
  }

  /** Starts the delivery loop (once). */
  start(): void {
    if (this.#running || this.#closed) return;
    this.#running = this.#run();
  }

  /**
   * New rows were committed for this destination: an idle sender reads them at once. A sender in
   * backoff keeps waiting — new messages do not make a receiver that is down come back sooner.
   */
  poke(): void {
    this.#poked = true;
    if (this.#state !== 'down') this.#wakeUp();
  }

  /** Stops promptly: aborts the request in flight and clears timers; resolves once the loop has ended. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#stop.abort();
    this.#wakeUp();
    await this.#running;
  }

  /** The in-memory part of the state, without touching the store. */
  snapshot(): LinkSenderSnapshot {
    return {
      destination: this.#opts.destination,
      state: this.#state,
      delivered: this.#delivered,
      last_delivered_at: iso(this.#lastDeliveredAt),
      last_error: this.#lastError,
      consecutive_failures: this.#failures,
      next_attempt_at: iso(this.#nextAttemptAt),
    };
  }

  /** Link health for the topology: the snapshot plus the outbox depth (one indexed count). */
  async state(): Promise<LinkSenderState> {
    const row = await this.#opts.db
      .selectFrom('outbox')
      .select((eb) => [eb.fn.countAll<string | number>().as('pending'), eb.fn.min('created_at').as('oldest')])
      .where('destination', '=', this.#opts.destination)
      .where('delivered_at', 'is', null)
      .where('tenant_id', '=', this.#opts.tenantId)
      .executeTakeFirstOrThrow();
    return { ...this.snapshot(), pending: Number(row.pending), oldest_pending_at: row.oldest === null ? null : new Date(row.oldest).toISOString() };
  }

  async #run(): Promise<void> {
    while (!this.#closed) {
      try {
        await this.#step();
      } catch (err) {
        // A throwing url() or onState() must not end the loop (nor reject it unhandled).
        if (!this.#closed) await this.#failed(null, `the link failed: ${describe(err)}`);
      }
    }
    if (this.#timer) clearTimeout(this.#timer);
  }

  /** One turn: read a batch, send it, settle it; or wait for messages. */
  async #step(): Promise<void> {
    let rows: PendingRow[];
    try {
      this.#poked = false;
      rows = await this.#pending();
    } catch (err) {
      if (this.#closed) return;
      await this.#failed(null, `the outbox could not be read: ${describe(err)}`);
      return;
    }
    if (rows.length === 0) {
      // Caught up: whatever failed before (a store hiccup) is over.
      this.#failures = 0;
      this.#lastError = null;
      this.#setState('idle');
      if (!this.#poked) await this.#sleep(this.#idlePollMs);
      return;
    }
    // A link that is failing stays 'down' through its retries until one succeeds.
    if (this.#failures === 0) this.#setState('up');
    const url = this.#opts.url();
    if (url === null) {
      // Nothing was attempted, so the rows' attempt counters stay as they are.
      await this.#failed(null, this.#error('(unknown)', 'no address is known for it yet'));
      return;
    }
    const outcome = await this.#send(url, rows);
    if (this.#closed) return;
    if (typeof outcome === 'string') await this.#failed(rows[0]!.id, outcome);
    else await this.#acknowledged(rows, outcome);
  }

  /** The next batch, oldest first (the partial index outbox_pending serves it). */
  #pending(): Promise<PendingRow[]> {
    return this.#opts.db
      .selectFrom('outbox')
      // The payload as its stored JSON text: it goes on the wire as is, never parsed and re-encoded.
      .select(['id', 'message_id', 'kind', 'created_at', sql<string>`payload::text`.as('payload_text')])
      .where('destination', '=', this.#opts.destination)
      .where('delivered_at', 'is', null)
      .where('tenant_id', '=', this.#opts.tenantId)
      .orderBy('id')
      .limit(this.#batchSize)
      .execute();
  }

  /** POSTs the batch; returns the acknowledged message ids, or the failure as text. */
  async #send(url: string, rows: readonly PendingRow[]): Promise<Set<string> | string> {
    const target = url.replace(/\/+$/, '') + LINK_MESSAGES_PATH;
    let response: Response;
    let text: string;
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    try {
      response = await this.#fetch(target, {
        method: 'POST',
        headers: { ...(await this.#opts.headers?.()), 'content-type': 'application/json' },
        body: encodeBatch(this.#opts.nodeId, rows),
        signal: AbortSignal.any([this.#stop.signal, timeout]),
      });
      text = await response.text();
    } catch (err) {
      // Asked of the signal, not the error: undici may wrap the abort reason in its own error.
      const reason = timeout.aborted ? `no answer within ${this.#timeoutMs} ms` : describe(err);
      return this.#error(target, reason);
    }
    if (!response.ok) return this.#error(target, `HTTP ${response.status}: ${errorMessage(text)}`);
    let acked: Set<string>;
    try {
      const results = (JSON.parse(text) as { results?: unknown }).results;
      if (!Array.isArray(results)) throw new Error('no results array');
      acked = new Set();
      for (const r of results as { message_id?: unknown; status?: unknown }[]) {
        if ((r?.status === 'applied' || r?.status === 'duplicate') && typeof r.message_id === 'string') acked.add(r.message_id);
      }
    } catch (err) {
      return this.#error(target, `the answer is not { results: [...] } (${describe(err)})`);
    }
    // An answer that acknowledges not even the first row would resend it forever without backoff.
    if (!acked.has(rows[0]!.message_id)) return this.#error(target, `the answer does not acknowledge message ${rows[0]!.message_id}`);
    return acked;
  }

  /** Marks the acknowledged prefix delivered: strict order, so a gap stops it (the rest is resent). */
  async #acknowledged(rows: readonly PendingRow[], acked: Set<string>): Promise<void> {
    const ids: string[] = [];
    for (const row of rows) {
      if (!acked.has(row.message_id)) break;
      ids.push(row.id);
    }
    try {
      await this.#opts.db.updateTable('outbox').set({ delivered_at: sql`now()` }).where('id', 'in', ids).execute();
    } catch (err) {
      if (this.#closed) return;
      // The receiver has them; resending is harmless (its inbox answers duplicate).
      await this.#failed(null, `delivered, but the outbox could not be updated: ${describe(err)}`);
      return;
    }
    this.#delivered += ids.length;
    this.#lastDeliveredAt = new Date();
    this.#failures = 0;
    this.#lastError = null;
    this.#nextAttemptAt = null;
    this.#setState('up', true);
  }

  /** Records a failure (on the first row when one was attempted) and waits out the backoff. */
  async #failed(rowId: string | null, error: string): Promise<void> {
    this.#failures++;
    this.#lastError = error;
    if (rowId !== null) {
      await this.#opts.db
        .updateTable('outbox')
        .set({ attempts: sql`attempts + 1`, last_error: error })
        .where('id', '=', rowId)
        .execute()
        .catch(() => {}); // bookkeeping only: the failure is already in memory
    }
    const delayMs = backoffMs(this.#backoff, this.#failures);
    this.#nextAttemptAt = new Date(Date.now() + delayMs);
    this.#setState('down', true);
    await this.#sleep(delayMs);
    this.#nextAttemptAt = null;
  }

  #error(url: string, reason: string): string {
    return cityError('LINK_DELIVERY_FAILED', { destination: this.#opts.destination, url, reason }).message;
  }

  #sleep(ms: number): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.#wake = resolve;
      this.#timer = setTimeout(() => this.#wakeUp(), ms);
    });
  }

  #wakeUp(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  #setState(state: LinkSenderStateName, always = false): void {
    if (this.#state === state && !always) return;
    this.#state = state;
    this.#emit();
  }

  #emit(): void {
    try {
      this.#opts.onState?.(this.snapshot());
    } catch {
      // an observer's failure is not the link's
    }
  }
}

/**
 * Exponential backoff, capped, with full jitter (AWS architecture blog, "Exponential Backoff
 * And Jitter"): attempt n waits up to min(maxMs, baseMs·2ⁿ⁻¹).
 */
export function backoffMs(backoff: LinkBackoff, failures: number, random: () => number = Math.random): number {
  const ceiling = Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.min(30, Math.max(0, failures - 1)));
  return backoff.jitter ? Math.max(1, Math.round(random() * ceiling)) : ceiling;
}

/**
 * The wire format, built as text: `{ from_node, messages: [{ message_id, kind, seq, created_at,
 * payload }] }`, `seq` being the outbox id (ids are bigint; below 2⁵³ for any real outbox).
 */
function encodeBatch(nodeId: string, rows: readonly PendingRow[]): string {
  let body = `{"from_node":${JSON.stringify(nodeId)},"messages":[`;
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    if (i > 0) body += ',';
    body += `{"message_id":${JSON.stringify(r.message_id)},"kind":${JSON.stringify(r.kind)},"seq":${Number(r.id)},"created_at":"${new Date(r.created_at).toISOString()}","payload":${r.payload_text}}`;
  }
  return body + ']}';
}

/** The node's own error message from an error answer (`{ error: { code, message } }`), else the text. */
function errorMessage(text: string): string {
  try {
    const error = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
    if (error?.message) return error.code ? `${error.code}: ${error.message}` : error.message;
  } catch {
    // not JSON: fall through to the raw text
  }
  return text.length > 300 ? `${text.slice(0, 300)}…` : text || '(empty answer)';
}

/** fetch's errors hide the reason in `cause` ("fetch failed" ← ECONNREFUSED …). */
function describe(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  const cause = e?.cause ? ` (${e.cause.code ?? e.cause.message ?? String(e.cause)})` : '';
  return `${e?.message ?? String(err)}${cause}`;
}

function iso(d: Date | null): string | null {
  return d === null ? null : d.toISOString();
}

function clampInt(n: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, Math.trunc(n)));
}
