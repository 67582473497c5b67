import type { Kysely, Selectable } from 'kysely';
import { cityError } from '../errors.js';
import type { Database, TenantsTable } from '../store/schema.js';
import type { AuditLog } from './audit.js';
import type { Caller, Users } from './users.js';
import type { UserRow } from './sessions.js';

export type TenantRow = Selectable<TenantsTable>;

/** Same shape as the config's `tenantId`, since a node is started with one. */
export const TENANT_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;

export interface NewTenant {
  id: string;
  name: string;
  /** The tenant's first tenant admin, who then creates everyone else. */
  admin: { username: string; password: string; display_name: string };
}

/**
 * Municipalities (seed 002 "Multi-Tenant Architecture": a super admin over all, each
 * municipality with its own users, sensors and data). A tenant and its first admin are created
 * together or not at all; a node is then started for the tenant (`tenantId`) to serve it.
 */
export class Tenants {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly users: Users,
    private readonly audit: AuditLog,
  ) {}

  list(): Promise<TenantRow[]> {
    return this.db.selectFrom('tenants').selectAll().orderBy('id').execute();
  }

  async exists(id: string): Promise<boolean> {
    return (await this.db.selectFrom('tenants').select('id').where('id', '=', id).executeTakeFirst()) !== undefined;
  }

  /** @throws CITY_ERR_TENANT_EXISTS, CITY_ERR_USER_INVALID, CITY_ERR_PASSWORD_INVALID */
  async create(input: NewTenant, caller: Caller): Promise<{ tenant: TenantRow; admin: UserRow }> {
    if (!TENANT_ID_PATTERN.test(input.id)) throw cityError('REQUEST_INVALID', { reason: 'id must be 1 to 64 lower-case letters, digits, _ or -, starting with a letter or digit' });
    const name = input.name.trim();
    if (!name) throw cityError('REQUEST_INVALID', { reason: 'name must not be empty' });
    if (await this.exists(input.id)) throw cityError('TENANT_EXISTS', { tenantId: input.id });
    return this.db.transaction().execute(async (tx) => {
      const tenant = await tx.insertInto('tenants').values({ id: input.id, name }).onConflict((oc) => oc.column('id').doNothing()).returningAll().executeTakeFirst();
      if (!tenant) throw cityError('TENANT_EXISTS', { tenantId: input.id });
      const admin = await this.users.create(input.id, { ...input.admin, role: 'tenant_admin' }, caller, tx);
      await this.audit.recordIn(tx, {
        actor: caller.principal,
        action: 'tenant.create',
        target: { kind: 'tenant', id: input.id },
        remote: caller.remote,
        details: { name, admin_user_id: admin.user_id, admin_username: admin.username },
      });
      return { tenant, admin };
    });
  }
}

export function tenantView(row: TenantRow) {
  return { id: row.id, name: row.name, created_at: row.created_at.toISOString() };
}
