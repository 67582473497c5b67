import { createSecretKey, type KeyObject } from 'node:crypto';
import { SignJWT, decodeJwt, jwtVerify, errors as joseErrors } from 'jose';
import type { UserRole } from '../store/schema.js';
import type { AuthorityLevel, UserPrincipal } from './principal.js';

/** Access tokens live one hour (seed 004 §4); refresh tokens renew them (src/auth/sessions.ts). */
export const ACCESS_TOKEN_TTL_S = 3600;

export interface AccessTokenClaims {
  /** user id */
  sub: string;
  tid: string;
  role: UserRole;
  lvl: AuthorityLevel | null;
  scp: string | null;
  sid: string;
  name: string;
}

export interface AccessTokenOptions {
  /** HMAC key (32+ random bytes, kept in node_secrets). */
  key: Uint8Array;
  issuer: string;
  /** Seconds; ACCESS_TOKEN_TTL_S unless a test shortens it. */
  ttlS?: number;
  /** A session (refresh family) logged out or revoked: its access tokens stop at once. */
  isSessionRevoked: (sessionId: string) => boolean;
  now?: () => number;
}

/**
 * Signs and verifies the node's JWT access tokens (HS256, jose). The claims carry what the
 * authorization policy needs — tenant, role, level, zone scope — so a request costs one HMAC
 * and no database round trip; logout and refresh-token reuse still take effect at once through
 * `isSessionRevoked`, an in-memory set the session store keeps.
 */
export class AccessTokens {
  readonly ttlS: number;
  readonly #now: () => number;
  /** Imported once: given raw bytes, jose imports the key again at every sign and verify (~15 µs a request). */
  readonly #key: KeyObject;

  constructor(private readonly options: AccessTokenOptions) {
    this.ttlS = options.ttlS ?? ACCESS_TOKEN_TTL_S;
    this.#now = options.now ?? Date.now;
    this.#key = createSecretKey(options.key);
  }

  /** A signed-out or revoked session, for checks that cannot wait for a verify (MQTT forwarding). */
  isSessionRevoked(sessionId: string): boolean {
    return this.options.isSessionRevoked(sessionId);
  }

  /** When a token (already verified once) expires, in Unix ms; null when it carries no expiry. */
  static expiresAtMs(token: string): number | null {
    const exp = decodeJwt(token).exp;
    return typeof exp === 'number' ? exp * 1000 : null;
  }

  async sign(user: Omit<UserPrincipal, 'kind'>): Promise<{ token: string; expiresAt: Date }> {
    const nowS = Math.floor(this.#now() / 1000);
    const claims: Omit<AccessTokenClaims, 'sub'> = { tid: user.tenantId, role: user.role, lvl: user.level, scp: user.scopeZoneId, sid: user.sessionId, name: user.name };
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(user.userId)
      .setIssuer(this.options.issuer)
      .setIssuedAt(nowS)
      .setExpirationTime(nowS + this.ttlS)
      .sign(this.#key);
    return { token, expiresAt: new Date((nowS + this.ttlS) * 1000) };
  }

  /** The user behind a token, or the reason it is refused. */
  async verify(token: string): Promise<{ user: UserPrincipal } | { reason: string }> {
    try {
      const { payload } = await jwtVerify<AccessTokenClaims>(token, this.#key, {
        issuer: this.options.issuer,
        algorithms: ['HS256'],
        currentDate: new Date(this.#now()),
      });
      if (typeof payload.sub !== 'string' || typeof payload.tid !== 'string' || typeof payload.sid !== 'string') return { reason: 'claims are missing' };
      if (this.options.isSessionRevoked(payload.sid)) return { reason: 'the session was signed out or revoked' };
      return {
        user: {
          kind: 'user',
          userId: payload.sub,
          tenantId: payload.tid,
          role: payload.role,
          level: payload.lvl ?? null,
          scopeZoneId: payload.scp ?? null,
          sessionId: payload.sid,
          name: payload.name ?? payload.sub,
        },
      };
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) return { reason: 'it has expired' };
      if (err instanceof joseErrors.JWSSignatureVerificationFailed) return { reason: 'its signature does not verify' };
      if (err instanceof joseErrors.JOSEError) return { reason: err.message };
      return { reason: 'it is not a JWT' };
    }
  }
}
