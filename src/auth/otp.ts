import { createHmac, randomInt, randomUUID } from 'node:crypto';
import { sameHash } from './api-keys.js';
import { sql, type Kysely } from 'kysely';
import { cityError } from '../errors.js';
import type { NotificationChannel } from '../notify/channels.js';
import type { Database } from '../store/schema.js';
import type { AuditLog } from './audit.js';
import { ANONYMOUS } from './principal.js';

/** The window the per-phone request limit counts in. */
const REQUEST_WINDOW_MS = 15 * 60_000;
const CODE_DIGITS = 6;

/**
 * A phone number in E.164 form (ITU-T E.164: `+`, country code, number; 15 digits at most),
 * from what people type: spaces, dashes, dots and brackets are dropped, and a leading `00` (the
 * international prefix) becomes `+`. Anything else is refused with the rule it breaks; a
 * national number without its country code is refused rather than guessed.
 *
 * @example
 *   normalisePhone('+91 98765-43210');  // '+919876543210'
 *   normalisePhone('0091 98765 43210'); // '+919876543210'
 *   normalisePhone('98765 43210');      // throws CITY_ERR_PHONE_INVALID (no country code)
 */
export function normalisePhone(input: string): string {
  const compact = input.trim().replace(/[\s().-]/g, '');
  const e164 = compact.startsWith('00') ? `+${compact.slice(2)}` : compact;
  const refuse = (rule: string) => cityError('PHONE_INVALID', { phone: input.slice(0, 40), rule });
  if (!e164.startsWith('+')) throw refuse('write it in international E.164 form: + and the country code, then the number (e.g. +919876543210)');
  const digits = e164.slice(1);
  if (!/^\d+$/.test(digits)) throw refuse('after the + only digits may follow (spaces, dashes and brackets are ignored)');
  if (digits.startsWith('0')) throw refuse('a country code never starts with 0');
  if (digits.length < 7 || digits.length > 15) throw refuse(`an E.164 number has 7 to 15 digits; this one has ${digits.length}`);
  return e164;
}

/** The last digits only, for logs and the audit trail (a phone number is personal data). */
export function maskPhone(phone: string): string {
  return `…${phone.slice(-4)}`;
}

export interface OneTimeCodesOptions {
  db: Kysely<Database>;
  tenantId: string;
  channel: NotificationChannel;
  /** HMAC key the codes are hashed with (node_secrets `otp_code_key`). */
  key: Uint8Array;
  /** 5 minutes unless configured. */
  ttlMs: number;
  /** Tries per code (5); the next one is refused even with the right code. */
  maxAttempts: number;
  /** Codes per phone number per 15 minutes. */
  requestsPer15Min: number;
  audit: AuditLog;
  now?: () => number;
}

/**
 * Citizens' sign-in by phone and one-time code (seed 004 §4 authentication flow: `{phone, otp}`).
 *
 * A code is six digits from `crypto.randomInt` (uniform, CSPRNG), stored only as an HMAC of
 * tenant, phone and code under a node secret — six digits hashed without a key would be found
 * from a leaked row in a million tries. Only the newest code of a phone counts (a request
 * spends the older ones); it is valid for `ttlMs`, for `maxAttempts` tries, once. Each try is
 * counted before the code is compared, in one conditional UPDATE, so parallel guesses cannot
 * exceed the limit. A phone may ask for `requestsPer15Min` codes per 15 minutes, which bounds
 * both SMS cost and guessing (5 codes × 5 tries = 25 guesses in 10⁶ per 15 minutes).
 */
export class OneTimeCodes {
  readonly #db: Kysely<Database>;
  readonly #now: () => number;

  constructor(private readonly options: OneTimeCodesOptions) {
    this.#db = options.db;
    this.#now = options.now ?? Date.now;
  }

  get ttlMs(): number {
    return this.options.ttlMs;
  }

  /**
   * Sends a new code to `phoneInput`. Answers the same for every well-formed number, known or
   * not: a citizen's account is created at their first verified sign-in.
   *
   * @throws CITY_ERR_PHONE_INVALID, CITY_ERR_RATE_LIMITED, CITY_ERR_NOTIFICATION_FAILED
   */
  async request(phoneInput: string): Promise<{ phone: string; expiresInS: number }> {
    const phone = normalisePhone(phoneInput);
    const { tenantId, ttlMs, requestsPer15Min } = this.options;
    const now = this.#now();
    const code = randomInt(0, 10 ** CODE_DIGITS).toString().padStart(CODE_DIGITS, '0');
    await this.#db.transaction().execute(async (tx) => {
      // Serialises requests for one phone, so two at once cannot both pass the count.
      await sql`select pg_advisory_xact_lock(hashtextextended(${`otp:${tenantId}:${phone}`}, 0))`.execute(tx);
      const recent = await tx
        .selectFrom('otp_codes')
        .select((eb) => [eb.fn.countAll<string>().as('n'), eb.fn.min('created_at').as('oldest')])
        .where('tenant_id', '=', tenantId)
        .where('phone', '=', phone)
        .where('created_at', '>', new Date(now - REQUEST_WINDOW_MS))
        .executeTakeFirstOrThrow();
      if (Number(recent.n) >= requestsPer15Min) {
        const oldest = recent.oldest === null ? now : new Date(recent.oldest).getTime();
        const retryAfterS = Math.max(1, Math.ceil((oldest + REQUEST_WINDOW_MS - now) / 1000));
        throw cityError('RATE_LIMITED', { who: `phone ${maskPhone(phone)} (at most ${requestsPer15Min} codes per 15 minutes)`, retryAfterS });
      }
      // Only the newest code counts: older unused ones are spent now (used_at doubles as
      // "superseded"), so verification never has to choose between codes made in the same instant.
      await tx.updateTable('otp_codes').set({ used_at: new Date(now) }).where('tenant_id', '=', tenantId).where('phone', '=', phone).where('used_at', 'is', null).execute();
      await tx
        .insertInto('otp_codes')
        .values({ otp_id: randomUUID(), tenant_id: tenantId, phone, code_hash: this.#hash(phone, code), created_at: new Date(now), expires_at: new Date(now + ttlMs) })
        .execute();
    });
    const minutes = Math.round(ttlMs / 60_000);
    const text = (shown: string) => `${shown} is your Possible City sign-in code. It expires in ${minutes} minute${minutes === 1 ? '' : 's'}. Do not share it.`;
    // The code is stored only as an HMAC: the record of the message must not hold it either.
    await this.options.channel.send({ tenantId, channel: 'sms', recipient: phone, body: text(code), recordBody: text('••••••') });
    return { phone, expiresInS: Math.round(ttlMs / 1000) };
  }

  /**
   * Spends the phone's newest code if `code` matches; answers the normalised phone number.
   *
   * @throws CITY_ERR_AUTH_OTP_INVALID naming why: none requested, expired, too many tries, wrong, already used
   */
  async verify(phoneInput: string, code: string, remote: string | null = null): Promise<string> {
    const phone = normalisePhone(phoneInput);
    const { tenantId, maxAttempts } = this.options;
    const now = new Date(this.#now());
    const fail = (reason: string, why: string) => {
      this.options.audit.recordSoon({ actor: ANONYMOUS, action: 'auth.otp_verify', outcome: 'failed', remote, details: { phone: maskPhone(phone), reason: why } });
      return cityError('AUTH_OTP_INVALID', { reason });
    };
    const codes = this.#db.selectFrom('otp_codes').selectAll().where('tenant_id', '=', tenantId).where('phone', '=', phone);
    const row = await codes.where('used_at', 'is', null).executeTakeFirst();
    if (!row) {
      const any = await codes.select('otp_id').limit(1).executeTakeFirst();
      throw any ? fail('already used: each code signs in once', 'already used') : fail('not known: no code was requested for this phone number', 'none requested');
    }
    if (row.expires_at <= now) throw fail(`expired (at ${row.expires_at.toISOString()})`, 'expired');
    const counted = await this.#db
      .updateTable('otp_codes')
      .set((eb) => ({ attempts: eb('attempts', '+', 1) }))
      .where('otp_id', '=', row.otp_id)
      .where('attempts', '<', maxAttempts)
      .where('used_at', 'is', null)
      .returning('attempts')
      .executeTakeFirst();
    if (!counted) throw fail(`refused after ${maxAttempts} tries`, 'too many tries');
    if (!/^\d{6}$/.test(code) || !sameHash(this.#hash(phone, code), row.code_hash)) {
      const left = maxAttempts - counted.attempts;
      throw fail(`wrong (${left} ${left === 1 ? 'try' : 'tries'} left)`, 'wrong code');
    }
    const spent = await this.#db.updateTable('otp_codes').set({ used_at: now }).where('otp_id', '=', row.otp_id).where('used_at', 'is', null).returning('otp_id').executeTakeFirst();
    if (!spent) throw fail('already used: each code signs in once', 'already used');
    this.options.audit.recordSoon({ actor: ANONYMOUS, action: 'auth.otp_verify', remote, details: { phone: maskPhone(phone) } });
    return phone;
  }

  #hash(phone: string, code: string): string {
    return createHmac('sha256', this.options.key).update(`${this.options.tenantId}\n${phone}\n${code}`).digest('hex');
  }

}
