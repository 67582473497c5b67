import { sql, type Kysely, type Transaction } from 'kysely';
import type { Logger } from 'pino';
import { cityError } from '../errors.js';
import type { Database } from '../store/schema.js';

/** One message as it travels over a link (what the sender's outbox rows become on the wire). */
export interface LinkMessage {
  message_id: string;
  kind: string;
  /** The sender's sequence number (its outbox id). Informative: message ids decide. */
  seq?: number | null;
  created_at?: string | null;
  payload?: unknown;
}

export type LinkResultStatus = 'applied' | 'duplicate';
export interface LinkResult {
  message_id: string;
  status: LinkResultStatus;
}

/**
 * Applies one message: writes whatever the message means (a child's report, an escalation) with
 * `trx`, inside the transaction that records the message as received. Throwing rolls the whole
 * batch back; the sender then retries it.
 */
export type ApplyLinkMessage = (trx: Transaction<Database>, message: LinkMessage, sourceNode: string) => Promise<void>;

/** Per source node, as the topology will show it. */
export interface LinkSourceStats {
  source_node: string;
  high_seq: number | null;
  applied: number;
  duplicates: number;
  out_of_order: number;
  first_received_at: string;
  last_received_at: string;
}

export interface LinkInboxOptions {
  db: Kysely<Database>;
  tenantId: string;
  log?: Pick<Logger, 'warn'>;
}

export const MAX_MESSAGE_ID_LENGTH = 200;
export const MAX_KIND_LENGTH = 100;
/** Rows per INSERT: 4 parameters a row stays far below PostgreSQL's 65,535 bind parameters. */
const INSERT_CHUNK = 1000;

/**
 * The receiving end of a link (issue 5 §5: "an idempotent inbox on the receiver (message ids)
 * … never applied twice"). A batch is one transaction: each message id is recorded in
 * `link_inbox` and, only when it was new, applied with the same transaction — so applying and
 * remembering commit together, and a message resent after a lost acknowledgement, a timeout or
 * a crash is answered `duplicate` without being applied again.
 *
 * @example
 *   const inbox = new LinkInbox({ db: store.db, tenantId: 'default' });
 *   await inbox.receive('local-7', [{ message_id: 'm1', kind: 'escalation', seq: 41, payload }], apply);
 *   // → [{ message_id: 'm1', status: 'applied' }]; the same call again → [{ …, status: 'duplicate' }]
 */
export class LinkInbox {
  readonly #db: Kysely<Database>;
  readonly #tenantId: string;
  readonly #log: Pick<Logger, 'warn'> | undefined;

  constructor(opts: LinkInboxOptions) {
    this.#db = opts.db;
    this.#tenantId = opts.tenantId;
    this.#log = opts.log;
  }

  /**
   * Receives one batch from `sourceNode`, in order. Refuses the whole batch (LINK_MESSAGE_INVALID,
   * naming the message's index) before anything is written when one message lacks an id or kind.
   */
  async receive(sourceNode: string, messages: readonly LinkMessage[], apply: ApplyLinkMessage): Promise<LinkResult[]> {
    validateBatch(sourceNode, messages);
    if (messages.length === 0) return [];
    const tenantId = this.#tenantId;
    const { results, outOfOrder } = await this.#db.transaction().execute(async (trx) => {
      // The source's row first: the upsert locks it, so two batches from one source (a retry
      // racing the original after a timeout) apply one after the other, never interleaved.
      const source = await trx
        .insertInto('link_inbox_sources')
        .values({ tenant_id: tenantId, source_node: sourceNode })
        .onConflict((oc) => oc.columns(['tenant_id', 'source_node']).doUpdateSet({ last_received_at: sql`now()` }))
        .returning('high_seq')
        .executeTakeFirstOrThrow();
      const inserted = await insertNew(trx, tenantId, sourceNode, messages);

      let high = source.high_seq === null ? null : Number(source.high_seq);
      const results: LinkResult[] = new Array(messages.length);
      const outOfOrder: LinkMessage[] = [];
      let applied = 0;
      for (let i = 0; i < messages.length; i++) {
        const message = messages[i]!;
        // `delete`: a message id repeated inside one batch is applied at its first occurrence only.
        if (!inserted.delete(message.message_id)) {
          results[i] = { message_id: message.message_id, status: 'duplicate' };
          continue;
        }
        const seq = message.seq ?? null;
        if (seq !== null) {
          // Ids decide, seq only informs (issue 5 §5): a new id below the high-water mark is
          // still applied, but counted, since a sender that delivers in order never causes it.
          if (high !== null && seq <= high) outOfOrder.push(message);
          else high = seq;
        }
        await apply(trx, message, sourceNode);
        applied++;
        results[i] = { message_id: message.message_id, status: 'applied' };
      }
      await trx
        .updateTable('link_inbox_sources')
        .set({
          high_seq: high,
          applied: sql`applied + ${applied}`,
          duplicates: sql`duplicates + ${messages.length - applied}`,
          out_of_order: sql`out_of_order + ${outOfOrder.length}`,
        })
        .where('tenant_id', '=', tenantId)
        .where('source_node', '=', sourceNode)
        .execute();
      return { results, outOfOrder };
    });
    if (outOfOrder.length > 0) {
      this.#log?.warn(
        { source_node: sourceNode, messages: outOfOrder.map((m) => ({ message_id: m.message_id, seq: m.seq })) },
        `${outOfOrder.length} new message(s) from ${sourceNode} arrived below its highest sequence number; applied anyway (ids decide)`,
      );
    }
    return results;
  }

  /** Every source heard from, with its counters (for the topology's child links). */
  async sources(): Promise<LinkSourceStats[]> {
    const rows = await this.#db.selectFrom('link_inbox_sources').selectAll().where('tenant_id', '=', this.#tenantId).orderBy('source_node').execute();
    return rows.map((r) => ({
      source_node: r.source_node,
      high_seq: r.high_seq === null ? null : Number(r.high_seq),
      applied: Number(r.applied),
      duplicates: Number(r.duplicates),
      out_of_order: Number(r.out_of_order),
      first_received_at: new Date(r.first_received_at).toISOString(),
      last_received_at: new Date(r.last_received_at).toISOString(),
    }));
  }
}

/** Records the batch's ids; returns the ids that were new (ON CONFLICT DO NOTHING skips the rest). */
async function insertNew(trx: Transaction<Database>, tenantId: string, sourceNode: string, messages: readonly LinkMessage[]): Promise<Set<string>> {
  const inserted = new Set<string>();
  for (let start = 0; start < messages.length; start += INSERT_CHUNK) {
    const chunk = messages.slice(start, start + INSERT_CHUNK);
    const rows = await trx
      .insertInto('link_inbox')
      .values(chunk.map((m) => ({ tenant_id: tenantId, source_node: sourceNode, message_id: m.message_id, kind: m.kind, seq: m.seq ?? null })))
      .onConflict((oc) => oc.doNothing())
      .returning('message_id')
      .execute();
    for (const row of rows) inserted.add(row.message_id);
  }
  return inserted;
}

/** All or nothing: one bad message refuses the batch before anything is written. */
function validateBatch(sourceNode: string, messages: readonly LinkMessage[]): void {
  if (typeof sourceNode !== 'string' || sourceNode.length === 0) {
    throw cityError('LINK_MESSAGE_INVALID', { index: '(batch)', source: '(unknown)', reason: 'the source node is missing' });
  }
  if (!Array.isArray(messages)) throw cityError('LINK_MESSAGE_INVALID', { index: '(batch)', source: sourceNode, reason: 'messages must be an array' });
  for (let i = 0; i < messages.length; i++) {
    const problem = messageProblem(messages[i]);
    if (problem !== null) throw cityError('LINK_MESSAGE_INVALID', { index: i, source: sourceNode, reason: problem });
  }
}

function messageProblem(m: unknown): string | null {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return 'it is not an object';
  const { message_id: id, kind, seq } = m as Record<string, unknown>;
  if (typeof id !== 'string' || id.length === 0) return 'message_id is missing';
  if (id.length > MAX_MESSAGE_ID_LENGTH) return `message_id is longer than ${MAX_MESSAGE_ID_LENGTH} characters`;
  if (typeof kind !== 'string' || kind.length === 0) return 'kind is missing';
  if (kind.length > MAX_KIND_LENGTH) return `kind is longer than ${MAX_KIND_LENGTH} characters`;
  if (seq !== undefined && seq !== null && !(Number.isSafeInteger(seq) && (seq as number) >= 0)) return 'seq must be a whole number ≥ 0';
  return null;
}
