import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { cityError } from '../errors.js';
import type { ZoneTree } from '../geo/zones.js';
import type { AccessTokens } from './access-tokens.js';
import type { AuditLog } from './audit.js';
import type { OneTimeCodes } from './otp.js';
import { MAX_PASSWORD_LENGTH } from './passwords.js';
import { decide, PERMISSIONS, PLUGIN_BOUND, requires, type Permission } from './policy.js';
import { sessionUserOf, tokenResponse, type IssuedRefresh, type Sessions, type UserRow } from './sessions.js';
import { TENANT_ID_PATTERN } from './tenants.js';
import { userView, type Users } from './users.js';

export interface AuthRouteOptions {
  users: Users;
  sessions: Sessions;
  otp: OneTimeCodes;
  accessTokens: AccessTokens;
  zones: () => ZoneTree;
  audit: AuditLog;
  /** The tenant this node serves: what /me's permissions are decided against. */
  nodeTenant: string;
}

const security = [{ adminToken: [] }];
/** Bytes, not characters: a password of 256 four-byte characters still fits. */
const PasswordField = Type.String({ minLength: 1, maxLength: MAX_PASSWORD_LENGTH * 4 });
const PhoneField = Type.String({ minLength: 1, maxLength: 40, description: 'E.164, e.g. +919876543210' });

const LoginBody = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 64 }),
    password: PasswordField,
    tenant: Type.Optional(Type.String({ pattern: TENANT_ID_PATTERN.source, description: "defaults to this node's tenant" })),
  },
  { additionalProperties: false },
);
const OtpRequestBody = Type.Object({ phone: PhoneField }, { additionalProperties: false });
const OtpVerifyBody = Type.Object({ phone: PhoneField, code: Type.String({ minLength: 1, maxLength: 12 }) }, { additionalProperties: false });
const RefreshBody = Type.Object({ refresh_token: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false });
const PasswordBody = Type.Object({ old_password: PasswordField, new_password: PasswordField }, { additionalProperties: false });

/**
 * Sign-in (seed 004 §4 authentication flow), all under /api/v1/auth: staff with user name and
 * password, citizens with phone and one-time code; both answer a one-hour access token and a
 * rotating refresh token. Per-address limits on these routes are the rate limiter's
 * (src/http/hardening.ts, the 'sign-in' group); per-account lockout and per-phone code limits are
 * the services'.
 */
export async function authRoutes(app: FastifyInstance, opts: AuthRouteOptions): Promise<void> {
  const { users, sessions, otp } = opts;
  const signIn = async (user: UserRow, refresh?: IssuedRefresh) => {
    const session = refresh ?? (await sessions.issue(sessionUserOf(user)));
    return { ...(await tokenResponse(opts.accessTokens, sessionUserOf(user), session)), user: userView(user) };
  };

  app.post<{ Body: { username: string; password: string; tenant?: string } }>(
    '/api/v1/auth/login',
    { schema: { summary: 'Staff sign-in with user name and password', tags: ['auth'], body: LoginBody }, config: requires('public') },
    async (request) => {
      const { username, password, tenant } = request.body;
      const user = await users.passwordLogin({ tenantId: tenant, username, password }, request.ip);
      return signIn(user);
    },
  );

  app.post<{ Body: { phone: string } }>(
    '/api/v1/auth/otp/request',
    {
      schema: {
        summary: 'Send a one-time sign-in code to a phone number',
        description: 'Answers the same whether or not the number belongs to a citizen yet: the account is created at the first verified sign-in.',
        tags: ['auth'],
        body: OtpRequestBody,
      },
      config: requires('public'),
    },
    async (request, reply) => {
      const sent = await otp.request(request.body.phone);
      reply.code(202);
      return { sent: true, expires_in: sent.expiresInS };
    },
  );

  app.post<{ Body: { phone: string; code: string } }>(
    '/api/v1/auth/otp/verify',
    { schema: { summary: 'Citizen sign-in with phone number and one-time code', tags: ['auth'], body: OtpVerifyBody }, config: requires('public') },
    async (request) => {
      const phone = await otp.verify(request.body.phone, request.body.code, request.ip);
      return signIn(await users.citizenSignIn(phone, request.ip));
    },
  );

  app.post<{ Body: { refresh_token: string } }>(
    '/api/v1/auth/refresh',
    {
      schema: {
        summary: 'Trade a refresh token for new tokens (the presented one is spent)',
        description: 'Presenting a spent refresh token again revokes the whole session: sign in again.',
        tags: ['auth'],
        body: RefreshBody,
      },
      config: requires('public'),
    },
    async (request) => {
      const rotated = await sessions.rotate(request.body.refresh_token);
      return signIn(rotated.user, rotated);
    },
  );

  app.post(
    '/api/v1/auth/logout',
    { schema: { summary: 'Sign out: revokes this session (its refresh and access tokens)', tags: ['auth'], security }, config: requires('signed_in') },
    async (request, reply) => {
      const principal = request.principal;
      // The admin token has no session to end; answering 204 keeps clients simple.
      if (principal.kind === 'user') {
        await sessions.revokeFamily(principal.sessionId, 'signed out');
        opts.audit.recordSoon({ actor: principal, action: 'auth.logout', target: { kind: 'user', id: principal.userId }, remote: request.ip, details: { session_id: principal.sessionId } });
      }
      reply.code(204);
    },
  );

  app.get(
    '/api/v1/auth/me',
    { schema: { summary: 'Who the caller is: user, role, level and zone scope', tags: ['auth'], security }, config: requires('signed_in') },
    async (request) => me(request, users, opts.zones(), opts.nodeTenant),
  );

  app.post<{ Body: { old_password: string; new_password: string } }>(
    '/api/v1/auth/password',
    { schema: { summary: 'Change your own password (signs out every session of yours)', tags: ['auth'], body: PasswordBody, security }, config: requires('signed_in') },
    async (request, reply) => {
      const principal = request.principal;
      if (principal.kind !== 'user') throw cityError('REQUEST_INVALID', { reason: 'only a signed-in user has a password to change' });
      await users.setPassword(principal.tenantId, principal.userId, { oldPassword: request.body.old_password, newPassword: request.body.new_password }, { principal, remote: request.ip });
      reply.code(204);
    },
  );
}

async function me(request: FastifyRequest, users: Users, tree: ZoneTree, nodeTenant: string) {
  const principal = request.principal;
  // What the caller may do, decided by the same policy the routes use: the dashboard shows the
  // views and controls these allow and nothing else. Plugin-bound permissions (ingest,
  // plugin_publish, feedback) are decided per plugin and are not listed.
  const permissions = (Object.keys(PERMISSIONS) as Permission[]).filter((p) => !PLUGIN_BOUND.has(p) && decide(principal, p, nodeTenant).allow);
  if (principal.kind !== 'user') return { kind: principal.kind, role: 'super_admin', display_name: 'node admin token', scope: request.scope.describe(), permissions };
  const row = await users.get(principal.tenantId, principal.userId);
  const zoneId = row.scope_zone_id;
  const zone = zoneId !== null && tree.has(zoneId) ? tree.get(zoneId) : null;
  return {
    kind: 'user',
    ...userView(row),
    session_id: principal.sessionId,
    scope_zone: zoneId === null ? null : { id: zoneId, name: zone?.name ?? null, level: zone?.level ?? null },
    scope: request.scope.describe(),
    permissions,
  };
}

