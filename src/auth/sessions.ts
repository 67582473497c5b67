import { randomBytes, randomUUID } from 'node:crypto';
import { hashApiKey } from './api-keys.js';
import type { Insertable, Kysely, Selectable } from 'kysely';
import { cityError } from '../errors.js';
import type { Database, RefreshTokensTable, UsersTable } from '../store/schema.js';
import type { AccessTokens } from './access-tokens.js';
import type { AuditLog } from './audit.js';
import type { AuthorityLevel, UserPrincipal } from './principal.js';

/** What an access token says about its user (the claims), without the session. */
export type SessionUser = Omit<UserPrincipal, 'kind' | 'sessionId'>;

export type UserRow = Selectable<UsersTable>;

/** A refresh token just handed out. */
export interface IssuedRefresh {
  refreshToken: string;
  expiresAt: Date;
  /** The family id: the `sid` claim of the access tokens signed alongside. */
  sessionId: string;
}

export interface SessionsOptions {
  db: Kysely<Database>;
  /** The node's tenant: refresh tokens of other tenants (a shared identity database) are refused. */
  tenantId: string;
  /** 30 days unless configured (`auth.refreshTokenTtlMs`). */
  refreshTtlMs: number;
  /** How long a revoked family must stay in memory: as long as its last access token may live. */
  accessTokenTtlS: number;
  audit: AuditLog;
  now?: () => number;
}

const PREFIX = 'rt_';
/** `rt_` and 32 random bytes in base64url (43 characters). */
const TOKEN_SHAPE = /^rt_[A-Za-z0-9_-]{43}$/;

/**
 * Refresh-token families (OAuth 2.0 Security BCP, RFC 9700 §4.14.2: refresh token rotation).
 *
 * Signing in starts a family; its id is the access token's `sid`. Every refresh spends the
 * presented token and issues the next one of the same family. A spent token presented again
 * means two parties hold it — the user and a thief — and nobody can tell which is which, so the
 * whole family is revoked (RFC 9700 §4.14.2) and both must sign in again. Logout revokes the
 * family; disabling a user or changing their password or role revokes all their families.
 *
 * Only SHA-256 hashes of tokens are stored: they are 32 random bytes, so a fast hash suffices.
 *
 * Access tokens are checked without a database round trip, so revocation must reach them
 * through memory: `isRevoked` reads a set of the families revoked within the last access-token
 * lifetime (older ones cannot have a live access token left). It is loaded at start and
 * updated by every revocation in this process. Nodes sharing one PostgreSQL database see each
 * other's revocations only at their next start (or `loadRevoked()`); their refresh tokens are
 * refused at once in any case, since that check reads the database.
 */
export class Sessions {
  readonly refreshTtlMs: number;
  readonly #db: Kysely<Database>;
  readonly #now: () => number;
  /** family id → when it was revoked (ms). */
  readonly #revoked = new Map<string, number>();
  readonly #keepRevokedMs: number;

  constructor(private readonly options: SessionsOptions) {
    this.#db = options.db;
    this.#now = options.now ?? Date.now;
    this.refreshTtlMs = options.refreshTtlMs;
    this.#keepRevokedMs = options.accessTokenTtlS * 1000;
  }

  /** Loads the families revoked recently enough to still have live access tokens. */
  async loadRevoked(): Promise<void> {
    const since = new Date(this.#now() - this.#keepRevokedMs);
    const rows = await this.#db
      .selectFrom('refresh_tokens')
      .select(['family_id', 'revoked_at'])
      .where('revoked_at', '>', since)
      .execute();
    for (const row of rows) this.#remember(row.family_id, row.revoked_at!.getTime());
  }

  /** True when the session was signed out or revoked (synchronous: called on every request). */
  isRevoked(sessionId: string): boolean {
    const at = this.#revoked.get(sessionId);
    if (at === undefined) return false;
    if (at + this.#keepRevokedMs < this.#now()) {
      // Every access token of this family has expired by now; jose refuses them before asking.
      this.#revoked.delete(sessionId);
      return false;
    }
    return true;
  }

  /** Starts a family for a user who just proved who they are. */
  async issue(user: SessionUser): Promise<IssuedRefresh> {
    const sessionId = randomUUID();
    return this.#insert(this.#db, user.userId, sessionId);
  }

  /**
   * Spends `refreshToken` and issues the next token of its family, with the user as they are
   * now (a role, level or scope changed since sign-in shows in the new access token).
   *
   * @throws CITY_ERR_AUTH_REFRESH_INVALID naming why: unknown, expired, revoked, already used
   *   (which revokes the family), or its user disabled.
   */
  async rotate(refreshToken: string): Promise<IssuedRefresh & { user: UserRow }> {
    if (!TOKEN_SHAPE.test(refreshToken)) throw cityError('AUTH_REFRESH_INVALID', { reason: 'not a refresh token of this node' });
    const hash = hashApiKey(refreshToken);
    const now = new Date(this.#now());
    const outcome = await this.#db.transaction().execute(async (tx) => {
      // The conditional UPDATE is the race guard: of two concurrent rotations of one token,
      // PostgreSQL lets exactly one match `used_at is null` (the other re-checks the row after
      // the first commits and matches nothing), so the loser is treated as reuse below.
      const spent = await tx
        .updateTable('refresh_tokens')
        .set({ used_at: now })
        .where('token_hash', '=', hash)
        .where('tenant_id', '=', this.options.tenantId)
        .where('used_at', 'is', null)
        .where('revoked_at', 'is', null)
        .where('expires_at', '>', now)
        .returning(['family_id', 'user_id'])
        .executeTakeFirst();
      if (!spent) return { kind: 'refused' as const };
      const user = await tx.selectFrom('users').selectAll().where('user_id', '=', spent.user_id).executeTakeFirst();
      if (!user || user.disabled_at !== null) return { kind: 'disabled' as const, familyId: spent.family_id, userId: spent.user_id };
      const next = await this.#insert(tx, user.user_id, spent.family_id);
      return { kind: 'rotated' as const, next, user };
    });
    if (outcome.kind === 'rotated') return { ...outcome.next, user: outcome.user };
    if (outcome.kind === 'disabled') {
      await this.revokeFamily(outcome.familyId, 'user disabled');
      throw cityError('AUTH_REFRESH_INVALID', { reason: 'for a disabled account' });
    }
    throw await this.#refusal(hash, now);
  }

  /** Revokes one family (logout: reason 'signed out'). Its access tokens stop at once. */
  async revokeFamily(sessionId: string, reason: string): Promise<void> {
    const now = new Date(this.#now());
    await this.#db
      .updateTable('refresh_tokens')
      .set({ revoked_at: now, revoked_reason: reason })
      .where('family_id', '=', sessionId)
      .where('revoked_at', 'is', null)
      .execute();
    this.#remember(sessionId, now.getTime());
  }

  /** Revokes every session of a user (disabled, password or role changed). */
  async revokeUser(userId: string, reason: string, db: Kysely<Database> = this.#db): Promise<number> {
    const now = new Date(this.#now());
    const rows = await db
      .updateTable('refresh_tokens')
      .set({ revoked_at: now, revoked_reason: reason })
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .returning('family_id')
      .execute();
    const families = new Set(rows.map((r) => r.family_id));
    for (const family of families) this.#remember(family, now.getTime());
    return families.size;
  }

  /** Why a token the UPDATE did not match is refused; reuse revokes its family first. */
  async #refusal(hash: string, now: Date): Promise<Error> {
    const row = await this.#db.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', hash).where('tenant_id', '=', this.options.tenantId).executeTakeFirst();
    if (!row) return cityError('AUTH_REFRESH_INVALID', { reason: 'not known to this node' });
    if (row.revoked_at !== null) return cityError('AUTH_REFRESH_INVALID', { reason: `revoked (${row.revoked_reason ?? 'no reason given'})` });
    if (row.used_at !== null) {
      await this.revokeFamily(row.family_id, 'reuse detected');
      this.options.audit.recordSoon({
        actor: { kind: 'system', id: 'sessions' },
        action: 'auth.refresh_reuse',
        target: { kind: 'user', id: row.user_id },
        outcome: 'denied',
        details: { session_id: row.family_id, token_used_at: row.used_at.toISOString() },
      });
      return cityError('AUTH_REFRESH_INVALID', { reason: 'already used: it was presented twice, so every token of this session is revoked (reuse detected)' });
    }
    if (row.expires_at <= now) return cityError('AUTH_REFRESH_INVALID', { reason: `expired (at ${row.expires_at.toISOString()})` });
    return cityError('AUTH_REFRESH_INVALID', { reason: 'not valid' });
  }

  async #insert(db: Kysely<Database>, userId: string, familyId: string): Promise<IssuedRefresh> {
    const refreshToken = PREFIX + randomBytes(32).toString('base64url');
    const issuedAt = this.#now();
    // Each rotation starts a fresh lifetime: a session ends after refreshTtlMs without use.
    const expiresAt = new Date(issuedAt + this.refreshTtlMs);
    const row: Insertable<RefreshTokensTable> = {
      token_id: randomUUID(),
      family_id: familyId,
      tenant_id: this.options.tenantId,
      user_id: userId,
      token_hash: hashApiKey(refreshToken),
      issued_at: new Date(issuedAt),
      expires_at: expiresAt,
    };
    await db.insertInto('refresh_tokens').values(row).execute();
    return { refreshToken, expiresAt, sessionId: familyId };
  }

  #remember(sessionId: string, atMs: number): void {
    this.#revoked.set(sessionId, atMs);
    // Bounded memory: now and then drop families whose access tokens have all expired.
    if (this.#revoked.size % 1024 === 0) {
      const horizon = this.#now() - this.#keepRevokedMs;
      for (const [id, at] of this.#revoked) if (at < horizon) this.#revoked.delete(id);
    }
  }
}

/** The claims an access token carries for a user row. */
export function sessionUserOf(user: UserRow): SessionUser {
  return {
    userId: user.user_id,
    tenantId: user.tenant_id,
    role: user.role,
    level: user.level as AuthorityLevel | null,
    scopeZoneId: user.scope_zone_id,
    name: user.display_name,
  };
}

/** The token answer of login, OTP verify and refresh (RFC 6749 §5.1 names, plus the user). */
export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  /** Seconds. */
  expires_in: number;
  refresh_token: string;
  refresh_expires_at: string;
}

/** Signs the access token for a session just issued or rotated. */
export async function tokenResponse(accessTokens: AccessTokens, user: SessionUser, refresh: IssuedRefresh): Promise<TokenResponse> {
  const access = await accessTokens.sign({ ...user, sessionId: refresh.sessionId });
  return {
    access_token: access.token,
    token_type: 'Bearer',
    expires_in: accessTokens.ttlS,
    refresh_token: refresh.refreshToken,
    refresh_expires_at: refresh.expiresAt.toISOString(),
  };
}
