import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { Kysely } from 'kysely';
import { cityError } from '../errors.js';
import type { Database, UserRole } from '../store/schema.js';
import { normalisePhone } from './otp.js';
import { MAX_PASSWORD_LENGTH } from './passwords.js';
import { requires } from './policy.js';
import { isSuperAdmin } from './principal.js';
import { TENANT_ID_PATTERN, tenantView, type Tenants } from './tenants.js';
import { USER_ROLES, userView, type Caller, type NewUser, type UserPatch, type Users } from './users.js';

export interface UserRouteOptions {
  db: Kysely<Database>;
  users: Users;
  tenants: Tenants;
}

const security = [{ adminToken: [] }];
const Role = Type.Union(USER_ROLES.map((r) => Type.Literal(r)));
const Level = Type.Integer({ minimum: 1, maximum: 5 });
const TenantQuery = Type.Optional(Type.String({ pattern: TENANT_ID_PATTERN.source, description: "another tenant's users (super admin only); defaults to this node's tenant" }));
const UserParams = Type.Object({ user_id: Type.String({ minLength: 1, maxLength: 64 }) });
const Password = Type.String({ minLength: 1, maxLength: MAX_PASSWORD_LENGTH * 4 });
const DisplayName = Type.String({ minLength: 1, maxLength: 200 });
const Username = Type.String({ minLength: 1, maxLength: 64 });
const Phone = Type.String({ minLength: 1, maxLength: 40 });
const ZoneId = Type.String({ minLength: 1, maxLength: 64 });

const ListQuery = Type.Object(
  {
    role: Type.Optional(Role),
    level: Type.Optional(Level),
    q: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    offset: Type.Optional(Type.Integer({ minimum: 0 })),
    tenant: TenantQuery,
  },
  { additionalProperties: false },
);
const TenantOnlyQuery = Type.Object({ tenant: TenantQuery }, { additionalProperties: false });
const CreateBody = Type.Object(
  {
    username: Type.Optional(Username),
    phone: Type.Optional(Phone),
    display_name: DisplayName,
    role: Role,
    level: Type.Optional(Type.Union([Level, Type.Null()])),
    scope_zone_id: Type.Optional(Type.Union([ZoneId, Type.Null()])),
    password: Type.Optional(Password),
  },
  { additionalProperties: false },
);
const PatchBody = Type.Object(
  {
    display_name: Type.Optional(DisplayName),
    phone: Type.Optional(Type.Union([Phone, Type.Null()])),
    role: Type.Optional(Role),
    level: Type.Optional(Type.Union([Level, Type.Null()])),
    scope_zone_id: Type.Optional(Type.Union([ZoneId, Type.Null()])),
    disabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, minProperties: 1 },
);
const PasswordBody = Type.Object({ old_password: Type.Optional(Password), new_password: Password }, { additionalProperties: false });
const TenantBody = Type.Object(
  {
    id: Type.String({ pattern: TENANT_ID_PATTERN.source }),
    name: Type.String({ minLength: 1, maxLength: 200 }),
    admin: Type.Object({ username: Username, password: Password, display_name: DisplayName }, { additionalProperties: false }),
  },
  { additionalProperties: false },
);
const NotificationsQuery = Type.Object(
  { recipient: Type.Optional(Type.String({ minLength: 1, maxLength: 320 })), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })) },
  { additionalProperties: false },
);

/**
 * Managing people (seed 002 RBAC): a tenant's users by its tenant admins (manage_users), tenants
 * and their first admins by the super admin (manage_tenants), and the development outbox of
 * messages sent to people (configure), where a code "sent" by SMS can be read.
 */
export async function userRoutes(app: FastifyInstance, opts: UserRouteOptions): Promise<void> {
  const { users, tenants } = opts;
  const caller = (request: FastifyRequest): Caller => ({ principal: request.principal, remote: request.ip });
  /** The tenant a request manages: the node's, or with ?tenant= another one for the super admin. */
  const tenantOf = async (request: FastifyRequest, asked: string | undefined): Promise<string> => {
    const node = users.nodeTenant;
    if (asked === undefined || asked === node) return node;
    if (!isSuperAdmin(request.principal)) throw cityError('AUTH_WRONG_TENANT', { tenant: node, nodeTenant: `${node} only (?tenant= is for the super admin)` });
    if (!(await tenants.exists(asked))) throw cityError('TENANT_NOT_FOUND', { tenantId: asked });
    return asked;
  };

  app.get<{ Querystring: { role?: UserRole; level?: number; q?: string; limit?: number; offset?: number; tenant?: string } }>(
    '/api/v1/users',
    { schema: { summary: "The tenant's users, filtered by role, level or a search text", tags: ['users'], querystring: ListQuery, security }, config: requires('manage_users') },
    async (request) => {
      const { tenant, ...filter } = request.query;
      const rows = await users.list(await tenantOf(request, tenant), filter);
      return { users: rows.map((r) => userView(r)) };
    },
  );

  app.post<{ Querystring: { tenant?: string }; Body: NewUser }>(
    '/api/v1/users',
    {
      schema: {
        summary: 'Create a user',
        description: 'Staff (tenant_admin, operator, authority) need username and password; citizens a phone. Authorities need level 1–5 and scope_zone_id.',
        tags: ['users'],
        querystring: TenantOnlyQuery,
        body: CreateBody,
        security,
      },
      config: requires('manage_users'),
    },
    async (request, reply) => {
      const row = await users.create(await tenantOf(request, request.query.tenant), request.body, caller(request));
      reply.code(201);
      return userView(row);
    },
  );

  app.get<{ Params: { user_id: string }; Querystring: { tenant?: string } }>(
    '/api/v1/users/:user_id',
    { schema: { summary: 'One user', tags: ['users'], params: UserParams, querystring: TenantOnlyQuery, security }, config: requires('manage_users') },
    async (request) => userView(await users.get(await tenantOf(request, request.query.tenant), request.params.user_id)),
  );

  app.patch<{ Params: { user_id: string }; Querystring: { tenant?: string }; Body: UserPatch }>(
    '/api/v1/users/:user_id',
    {
      schema: {
        summary: 'Change a user: display name, phone, role, level, scope, disabled',
        description: 'A new role, level or scope, or disabling, signs the user out everywhere.',
        tags: ['users'],
        params: UserParams,
        querystring: TenantOnlyQuery,
        body: PatchBody,
        security,
      },
      config: requires('manage_users'),
    },
    async (request) => userView(await users.update(await tenantOf(request, request.query.tenant), request.params.user_id, request.body, caller(request))),
  );

  app.post<{ Params: { user_id: string }; Querystring: { tenant?: string }; Body: { old_password?: string; new_password: string } }>(
    '/api/v1/users/:user_id/password',
    {
      schema: {
        summary: "Reset a user's password (your own needs old_password)",
        description: 'Signs the user out everywhere; an admin reset also ends a lockout.',
        tags: ['users'],
        params: UserParams,
        querystring: TenantOnlyQuery,
        body: PasswordBody,
        security,
      },
      config: requires('manage_users'),
    },
    async (request, reply) => {
      const tenant = await tenantOf(request, request.query.tenant);
      await users.setPassword(tenant, request.params.user_id, { oldPassword: request.body.old_password, newPassword: request.body.new_password }, caller(request));
      reply.code(204);
    },
  );

  app.get(
    '/api/v1/tenants',
    { schema: { summary: 'Tenants (municipalities)', tags: ['tenants'], security }, config: requires('manage_tenants') },
    async () => ({ tenants: (await tenants.list()).map(tenantView) }),
  );

  app.post<{ Body: { id: string; name: string; admin: { username: string; password: string; display_name: string } } }>(
    '/api/v1/tenants',
    { schema: { summary: 'Create a tenant and its first tenant admin', tags: ['tenants'], body: TenantBody, security }, config: requires('manage_tenants') },
    async (request, reply) => {
      const created = await tenants.create(request.body, caller(request));
      reply.code(201);
      return { tenant: tenantView(created.tenant), admin: userView(created.admin) };
    },
  );

  app.get<{ Querystring: { recipient?: string; limit?: number } }>(
    '/api/v1/notifications',
    {
      schema: {
        summary: 'Messages sent to people, newest first (the development outbox)',
        description: 'With the outbox channel nothing leaves the node: sign-in codes are read here.',
        tags: ['notifications'],
        querystring: NotificationsQuery,
        security,
      },
      config: requires('configure'),
    },
    async (request) => {
      let query = opts.db.selectFrom('notifications').selectAll().where('tenant_id', '=', users.nodeTenant);
      const recipient = request.query.recipient;
      if (recipient !== undefined) query = query.where('recipient', '=', phoneOrAsIs(recipient));
      const rows = await query.orderBy('id', 'desc').limit(request.query.limit ?? 50).execute();
      return {
        notifications: rows.map((n) => ({
          id: String(n.id),
          channel: n.channel,
          recipient: n.recipient,
          subject: n.subject,
          body: n.body,
          created_at: n.created_at.toISOString(),
          sent_at: n.sent_at?.toISOString() ?? null,
          provider: n.provider,
          attempts: n.attempts,
          last_error: n.last_error,
        })),
      };
    },
  );
}

/** A phone number as stored (E.164), so `+91 98765 43210` finds `+919876543210`; an email as given. */
function phoneOrAsIs(recipient: string): string {
  if (recipient.includes('@')) return recipient;
  try {
    // An unencoded `+` in a query string arrives as a space (application/x-www-form-urlencoded).
    return normalisePhone(recipient.replace(/^ (?=\d)/, '+'));
  } catch {
    return recipient;
  }
}
