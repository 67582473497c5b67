import type { Kysely } from 'kysely';
import { cityError } from '../errors.js';
import type { Database } from '../store/schema.js';

/** One message to one person: a sign-in code today, alerts to citizens later. */
export interface OutgoingMessage {
  tenantId: string;
  channel: 'sms' | 'email';
  /** E.164 phone number for sms, address for email. */
  recipient: string;
  subject?: string;
  body: string;
  /**
   * What the `notifications` record keeps when the body is itself a secret (a sign-in code): a
   * channel that delivers elsewhere stores this instead, so neither the table nor
   * GET /api/v1/notifications holds a live code. The development outbox, which is the delivery,
   * keeps the body.
   */
  recordBody?: string;
}

/**
 * Where messages to people go (house style #2: an edge behind a small interface). Every channel
 * writes the message into the `notifications` table first, so what was sent — or was meant to
 * be and failed — is on record; `send` resolves once the provider accepted it and throws
 * CITY_ERR_NOTIFICATION_FAILED when it did not.
 */
export interface NotificationChannel {
  readonly name: string;
  send(message: OutgoingMessage): Promise<void>;
}

/**
 * Development and demo default: the message is only written to the `notifications` table and
 * marked sent by provider 'outbox'. An operator (or a test) reads it at
 * GET /api/v1/notifications — nothing leaves the machine.
 */
export class OutboxChannel implements NotificationChannel {
  readonly name = 'outbox';

  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number = Date.now,
  ) {}

  async send(message: OutgoingMessage): Promise<void> {
    const at = new Date(this.now());
    await this.db
      .insertInto('notifications')
      .values({ ...row(message), created_at: at, sent_at: at, provider: this.name, attempts: 1 })
      .execute();
  }
}

export interface WebhookSmsOptions {
  url: string;
  /** e.g. `{ authorization: 'Bearer …' }` for the SMS provider. */
  headers?: Record<string, string>;
  /** A provider that has not answered by then counts as failed (default 10 s). */
  timeoutMs?: number;
  now?: () => number;
}

/**
 * Production SMS: POSTs `{"to": "+91…", "body": "…"}` as JSON to a provider's (or a small
 * relay's) URL; any 2xx is success. The row is written before the call and updated after it
 * with sent_at, attempts and last_error, so a message is never lost silently: a crash between
 * the two leaves a row with sent_at null.
 *
 * There is no retry: the only messages today are sign-in codes, which are worthless after a
 * few minutes, and a person who does not receive one asks again (within the OTP rate limit).
 */
export class WebhookSmsChannel implements NotificationChannel {
  readonly name = 'webhook-sms';
  readonly #now: () => number;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly options: WebhookSmsOptions,
  ) {
    this.#now = options.now ?? Date.now;
  }

  async send(message: OutgoingMessage): Promise<void> {
    if (message.channel !== 'sms') {
      throw cityError('NOTIFICATION_FAILED', { channel: message.channel, provider: this.name, reason: 'this channel only sends SMS' });
    }
    const { id } = await this.db
      .insertInto('notifications')
      .values({ ...row(message), body: message.recordBody ?? message.body, created_at: new Date(this.#now()) })
      .returning('id')
      .executeTakeFirstOrThrow();
    let failure: string | null = null;
    try {
      const res = await fetch(this.options.url, {
        method: 'POST',
        headers: { ...this.options.headers, 'content-type': 'application/json' },
        body: JSON.stringify({ to: message.recipient, body: message.body }),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
      });
      // Drain the body so the connection can be reused; its text explains a refusal.
      const text = await res.text().catch(() => '');
      if (!res.ok) failure = `the provider answered ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`;
    } catch (err) {
      // fetch() says only "fetch failed"; the cause names the network error (ECONNREFUSED, …).
      const reason = ((err as Error).cause as Error | undefined)?.message ?? (err as Error).message;
      failure = (err as Error).name === 'TimeoutError' ? 'the provider did not answer in time' : `the provider could not be reached: ${reason}`;
    }
    await this.db
      .updateTable('notifications')
      .set((eb) => ({
        attempts: eb('attempts', '+', 1),
        provider: this.name,
        sent_at: failure === null ? new Date(this.#now()) : null,
        last_error: failure,
      }))
      .where('id', '=', id)
      .execute();
    if (failure !== null) throw cityError('NOTIFICATION_FAILED', { channel: 'sms', provider: this.name, reason: failure });
  }
}

function row(message: OutgoingMessage) {
  return {
    tenant_id: message.tenantId,
    channel: message.channel,
    recipient: message.recipient,
    subject: message.subject ?? null,
    body: message.body,
  };
}

/** The channel `auth.otpChannel` names. */
export function channelFromConfig(db: Kysely<Database>, config: { kind: 'outbox' } | { kind: 'webhook'; url: string; headers?: Record<string, string> | undefined }): NotificationChannel {
  if (config.kind === 'outbox') return new OutboxChannel(db);
  return new WebhookSmsChannel(db, { url: config.url, ...(config.headers ? { headers: config.headers } : {}) });
}
