import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { ZoneTree } from '../geo/zones.js';
import { channelFromConfig } from '../notify/channels.js';
import type { Database } from '../store/schema.js';
import type { AccessTokens } from './access-tokens.js';
import type { AuditLog } from './audit.js';
import { authRoutes } from './auth-routes.js';
import { seedDemoUsers, type DemoUsersResult } from './demo-users.js';
import { OneTimeCodes } from './otp.js';
import { Sessions } from './sessions.js';
import { Tenants } from './tenants.js';
import { userRoutes } from './user-routes.js';
import { Users } from './users.js';

export type { DemoUsersResult, Sessions, Users };

export interface IdentityDeps {
  db: Kysely<Database>;
  config: Pick<Config, 'tenantId' | 'auth' | 'demo'>;
  zones: () => ZoneTree;
  audit: AuditLog;
  log: Logger;
  /** The HMAC key one-time codes are stored under (a node secret). */
  otpKey: Buffer;
}

/**
 * The identity side of a node in one place (users, tenants, sessions, one-time codes and their
 * routes), so the composition root needs two calls: `start` before the authorization policy
 * (whose access tokens ask `isSessionRevoked`), `register` once the app exists.
 */
export class Identity {
  private constructor(
    private readonly deps: IdentityDeps,
    readonly sessions: Sessions,
    readonly users: Users,
    readonly tenants: Tenants,
    readonly otp: OneTimeCodes,
  ) {}

  static async start(deps: IdentityDeps): Promise<Identity> {
    const { db, config, audit } = deps;
    const auth = config.auth;
    const sessions = new Sessions({ db, tenantId: config.tenantId, refreshTtlMs: auth.refreshTokenTtlMs, accessTokenTtlS: auth.accessTokenTtlS, audit });
    await sessions.loadRevoked();
    const users = new Users({ db, tenantId: config.tenantId, zones: deps.zones, sessions, audit, maxFailedLogins: auth.maxFailedLogins, lockoutMs: auth.lockoutMs });
    const otp = new OneTimeCodes({
      db,
      tenantId: config.tenantId,
      channel: channelFromConfig(db, auth.otpChannel),
      key: deps.otpKey,
      ttlMs: auth.otpTtlMs,
      maxAttempts: auth.otpMaxAttempts,
      requestsPer15Min: auth.otpRequestsPer15Min,
      audit,
    });
    return new Identity(deps, sessions, users, new Tenants(db, users, audit), otp);
  }

  /** For AccessTokens: a signed-out or revoked session's tokens stop at once. */
  readonly isSessionRevoked = (sessionId: string): boolean => this.sessions.isRevoked(sessionId);

  /** Adds the /api/v1/auth, /users, /tenants and /notifications routes; in demo mode, the demo users. */
  async register(app: FastifyInstance, options: { accessTokens: AccessTokens; dataDir: string }): Promise<DemoUsersResult | null> {
    const { db, zones, audit, log, config } = this.deps;
    await app.register(authRoutes, { users: this.users, sessions: this.sessions, otp: this.otp, accessTokens: options.accessTokens, zones, audit, nodeTenant: config.tenantId });
    await app.register(userRoutes, { db, users: this.users, tenants: this.tenants });
    if (!config.demo) return null;
    const demo = await seedDemoUsers(this.users, zones(), options.dataDir);
    // Like the admin token: passwords made at this start are shown once; afterwards only the file.
    const shown = demo.users.filter((u) => demo.fresh.includes(u.username)).map((u) => ({ username: u.username, password: u.password, role: u.role, level: u.level, scope: u.scope_zone_id }));
    if (shown.length > 0) log.info({ users: shown, file: demo.file }, 'demo users created: sign in at POST /api/v1/auth/login (passwords kept in the file)');
    else log.info({ users: demo.users.map((u) => u.username), file: demo.file }, 'demo users ready (passwords in the file)');
    return demo;
  }
}
