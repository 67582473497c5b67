import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { cityError } from '../errors.js';
import type { ZoneTree } from '../geo/zones.js';
import type { Database, UserRole } from '../store/schema.js';
import type { AuditLog } from './audit.js';
import { maskPhone, normalisePhone } from './otp.js';
import { assertPasswordAcceptable, hashPassword, verifyPassword } from './passwords.js';
import { ANONYMOUS, AUTHORITY_LEVELS, LEVEL_TITLES, isSuperAdmin, type AuthorityLevel, type Principal } from './principal.js';
import { sessionUserOf, type Sessions, type UserRow } from './sessions.js';

/** Roles a user row may have; the super admin is also the node's admin token. */
export const USER_ROLES = ['super_admin', 'tenant_admin', 'operator', 'authority', 'citizen'] as const satisfies readonly UserRole[];
const STAFF_ROLES: ReadonlySet<UserRole> = new Set(['super_admin', 'tenant_admin', 'operator', 'authority']);
export const USERNAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@-]{2,63}$/;

/** Who is acting, for the checks and the audit trail; `system` is the node itself (demo seeding). */
export interface Caller {
  principal: Principal | { kind: 'system'; id: string };
  remote: string | null;
}

export interface NewUser {
  username?: string | null;
  phone?: string | null;
  display_name: string;
  role: UserRole;
  level?: number | null;
  scope_zone_id?: string | null;
  /** Staff only: the first password (the user can change it). */
  password?: string | null;
}

export interface UserPatch {
  display_name?: string;
  phone?: string | null;
  role?: UserRole;
  level?: number | null;
  scope_zone_id?: string | null;
  disabled?: boolean;
}

export interface UserFilter {
  role?: UserRole;
  level?: number;
  /** Part of the user name, display name or phone number (case-insensitive). */
  q?: string;
  limit?: number;
  offset?: number;
}

export interface UsersOptions {
  db: Kysely<Database>;
  /** The tenant this node serves; sign-in is for its users (and super admins) only. */
  tenantId: string;
  /** The node tenant's zone tree, for scope checks. */
  zones: () => ZoneTree;
  sessions: Sessions;
  audit: AuditLog;
  /** Consecutive wrong passwords before the account locks … */
  maxFailedLogins: number;
  /** … for this long. */
  lockoutMs: number;
  now?: () => number;
}

/**
 * The tenant's people (seed 002 multi-tenant RBAC; seed 001 §8.3 authority levels): staff who
 * sign in with a password, citizens who sign in with a one-time code. Changes that alter what a
 * user may do — role, level, scope, disabling, a new password — revoke their sessions, so the
 * next refresh carries the new claims or is refused (src/auth/sessions.ts).
 */
export class Users {
  readonly #db: Kysely<Database>;
  readonly #now: () => number;

  constructor(private readonly options: UsersOptions) {
    this.#db = options.db;
    this.#now = options.now ?? Date.now;
  }

  get nodeTenant(): string {
    return this.options.tenantId;
  }

  /** @throws CITY_ERR_USER_INVALID, CITY_ERR_USER_EXISTS, CITY_ERR_PASSWORD_INVALID, CITY_ERR_TENANT_NOT_FOUND */
  async create(tenantId: string, input: NewUser, caller: Caller, db: Kysely<Database> = this.#db): Promise<UserRow> {
    guardSuperAdmin(caller, input.role);
    const record = await this.#validate(tenantId, {
      username: input.username?.trim() || null,
      phone: input.phone ? normalisePhone(input.phone) : null,
      display_name: input.display_name.trim(),
      role: input.role,
      level: input.level ?? null,
      scope_zone_id: input.scope_zone_id ?? null,
    }, db);
    if (record.role === 'citizen' && input.password) throw cityError('USER_INVALID', { reason: 'citizens sign in with a one-time code; leave out the password' });
    if (record.role !== 'citizen' && !input.password) throw cityError('USER_INVALID', { reason: `a ${record.role} signs in with a password: give a first one` });
    if (input.password) assertPasswordAcceptable(input.password, { username: record.username });
    await this.#assertUnique(tenantId, record.username, record.phone, null, db);
    const password_hash = input.password ? await hashPassword(input.password) : null;
    const now = new Date(this.#now());
    const write = async (tx: Kysely<Database>) => {
      const row = await tx
        .insertInto('users')
        .values({ user_id: randomUUID(), tenant_id: tenantId, ...record, password_hash, created_at: now, updated_at: now })
        .returningAll()
        .executeTakeFirstOrThrow();
      await this.options.audit.recordIn(tx, {
        actor: caller.principal,
        action: 'user.create',
        target: { kind: 'user', id: row.user_id },
        zoneId: row.scope_zone_id,
        remote: caller.remote,
        details: { tenant: tenantId, username: row.username, role: row.role, level: row.level },
      });
      return row;
    };
    try {
      return db === this.#db ? await this.#db.transaction().execute(write) : await write(db);
    } catch (err) {
      throw uniqueViolation(err, tenantId, record) ?? err;
    }
  }

  async list(tenantId: string, filter: UserFilter = {}): Promise<UserRow[]> {
    let query = this.#db.selectFrom('users').selectAll().where('tenant_id', '=', tenantId);
    if (filter.role) query = query.where('role', '=', filter.role);
    if (filter.level !== undefined) query = query.where('level', '=', filter.level);
    if (filter.q) {
      const like = `%${filter.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      query = query.where((eb) => eb.or([eb('username', 'ilike', like), eb('display_name', 'ilike', like), eb('phone', 'ilike', like)]));
    }
    return query
      .orderBy(sql`lower(coalesce(username, phone))`)
      .orderBy('user_id')
      .limit(Math.min(filter.limit ?? 100, 1000))
      .offset(filter.offset ?? 0)
      .execute();
  }

  /** A user by user name (case-insensitive), or null. */
  async findByUsername(tenantId: string, username: string): Promise<UserRow | null> {
    const row = await this.#db.selectFrom('users').selectAll().where('tenant_id', '=', tenantId).where(sql<string>`lower(username)`, '=', username.trim().toLowerCase()).executeTakeFirst();
    return row ?? null;
  }

  /** @throws CITY_ERR_USER_NOT_FOUND */
  async get(tenantId: string, userId: string): Promise<UserRow> {
    const row = await this.#db.selectFrom('users').selectAll().where('tenant_id', '=', tenantId).where('user_id', '=', userId).executeTakeFirst();
    if (!row) throw cityError('USER_NOT_FOUND', { userId, tenantId });
    return row;
  }

  /**
   * Changes a user. A new role, level or scope, or disabling, revokes the user's sessions:
   * their access tokens stop at once and they sign in again with the new claims.
   */
  async update(tenantId: string, userId: string, patch: UserPatch, caller: Caller): Promise<UserRow> {
    const current = await this.get(tenantId, userId);
    guardSuperAdmin(caller, current.role);
    if (patch.role) guardSuperAdmin(caller, patch.role);
    const roleChanges = patch.role !== undefined && patch.role !== current.role;
    const record = await this.#validate(tenantId, {
      username: current.username,
      phone: patch.phone === undefined ? current.phone : patch.phone === null ? null : normalisePhone(patch.phone),
      display_name: (patch.display_name ?? current.display_name).trim(),
      role: patch.role ?? current.role,
      // A new role that takes no level drops the old one rather than failing on it.
      level: patch.level !== undefined ? patch.level : roleChanges && patch.role !== 'authority' ? null : current.level,
      scope_zone_id: patch.scope_zone_id !== undefined ? patch.scope_zone_id : roleChanges && (patch.role === 'tenant_admin' || patch.role === 'super_admin') ? null : current.scope_zone_id,
    });
    if (record.phone !== current.phone) await this.#assertUnique(tenantId, null, record.phone, userId);
    const disable = patch.disabled === true && current.disabled_at === null;
    const enable = patch.disabled === false && current.disabled_at !== null;
    const changed = (Object.keys(record) as Array<keyof typeof record>).filter((k) => record[k] !== current[k]);
    const revokes = disable || changed.some((k) => k === 'role' || k === 'level' || k === 'scope_zone_id');
    const now = new Date(this.#now());
    return this.#db.transaction().execute(async (tx) => {
      const row = await tx
        .updateTable('users')
        .set({
          ...record,
          updated_at: now,
          ...(disable ? { disabled_at: now } : {}),
          // Enabling again also clears a lockout: an admin has looked at the account.
          ...(enable ? { disabled_at: null, failed_logins: 0, locked_until: null } : {}),
        })
        .where('user_id', '=', userId)
        .returningAll()
        .executeTakeFirstOrThrow();
      if (revokes) await this.options.sessions.revokeUser(userId, disable ? 'user disabled' : 'role, level or scope changed', tx);
      await this.options.audit.recordIn(tx, {
        actor: caller.principal,
        action: disable ? 'user.disable' : enable ? 'user.enable' : 'user.update',
        target: { kind: 'user', id: userId },
        zoneId: row.scope_zone_id,
        remote: caller.remote,
        details: { changed: Object.fromEntries(changed.map((k) => [k, { from: k === 'phone' ? mask(current[k]) : current[k], to: k === 'phone' ? mask(row[k]) : row[k] }])), sessions_revoked: revokes },
      });
      return row;
    });
  }

  /**
   * Sets a password. The user themselves must give the old one; an admin resets without it
   * (and so unlocks the account). Every session of the user is revoked either way.
   *
   * @throws CITY_ERR_AUTH_LOGIN_FAILED (old password wrong), CITY_ERR_PASSWORD_INVALID
   */
  async setPassword(tenantId: string, userId: string, change: { oldPassword?: string | undefined; newPassword: string }, caller: Caller): Promise<void> {
    const user = await this.get(tenantId, userId);
    guardSuperAdmin(caller, user.role);
    if (user.role === 'citizen') throw cityError('USER_INVALID', { reason: 'citizens sign in with a one-time code and have no password' });
    const self = caller.principal.kind === 'user' && caller.principal.userId === userId;
    if (self) {
      if (change.oldPassword === undefined) throw cityError('REQUEST_INVALID', { reason: 'give your current password as old_password' });
      if (!(await verifyPassword(user.password_hash, change.oldPassword))) throw cityError('AUTH_LOGIN_FAILED');
    }
    assertPasswordAcceptable(change.newPassword, { username: user.username });
    const password_hash = await hashPassword(change.newPassword);
    const now = new Date(this.#now());
    await this.#db.transaction().execute(async (tx) => {
      await tx
        .updateTable('users')
        .set({ password_hash, updated_at: now, ...(self ? {} : { failed_logins: 0, locked_until: null }) })
        .where('user_id', '=', userId)
        .execute();
      await this.options.sessions.revokeUser(userId, 'password changed', tx);
      await this.options.audit.recordIn(tx, {
        actor: caller.principal,
        action: self ? 'user.password_change' : 'user.password_reset',
        target: { kind: 'user', id: userId },
        remote: caller.remote,
      });
    });
  }

  /**
   * Staff sign-in. Unknown users, other tenants' users and wrong passwords all answer
   * AUTH_LOGIN_FAILED after one argon2id verification, so neither the answer nor its timing
   * tells which user names exist. `maxFailedLogins` consecutive failures lock the account for
   * `lockoutMs` (OWASP Authentication Cheat Sheet, "Account Lockout"); a success resets the count.
   *
   * @throws CITY_ERR_AUTH_LOGIN_FAILED, CITY_ERR_AUTH_LOCKED, CITY_ERR_AUTH_USER_DISABLED
   */
  async passwordLogin(login: { tenantId?: string | undefined; username: string; password: string }, remote: string | null): Promise<UserRow> {
    const tenantId = login.tenantId ?? this.options.tenantId;
    const now = this.#now();
    const audit = (outcome: 'ok' | 'failed' | 'denied', reason: string | null, user: UserRow | null) =>
      this.options.audit.recordSoon({
        actor: user && outcome === 'ok' ? principalOf(user) : ANONYMOUS,
        action: 'auth.login',
        target: user ? { kind: 'user', id: user.user_id } : null,
        outcome,
        remote,
        details: { method: 'password', username: login.username.slice(0, 64), tenant: tenantId, ...(reason ? { reason } : {}) },
      });
    const found = await this.#db
      .selectFrom('users')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where(sql<string>`lower(username)`, '=', login.username.trim().toLowerCase())
      .executeTakeFirst();
    // Another tenant's users exist in a shared identity database but cannot use this node;
    // only a super admin signs in anywhere.
    const user = found && (found.tenant_id === this.options.tenantId || found.role === 'super_admin') && found.password_hash !== null ? found : null;
    if (user?.locked_until && user.locked_until.getTime() > now) {
      audit('denied', 'locked', user);
      throw lockedError(user.locked_until, now);
    }
    const ok = await verifyPassword(user?.password_hash ?? null, login.password);
    if (!user) {
      audit('failed', !found ? 'unknown user' : found.password_hash === null ? 'no password (signs in by code)' : "another tenant's user", null);
      throw cityError('AUTH_LOGIN_FAILED');
    }
    if (!ok) {
      const max = this.options.maxFailedLogins;
      const lockUntil = new Date(now + this.options.lockoutMs);
      // One statement, so concurrent wrong guesses are all counted. Locking restarts the count:
      // after the lock ends the user has `max` fresh tries, not one.
      const counted = await this.#db
        .updateTable('users')
        .set({
          failed_logins: sql<number>`case when failed_logins + 1 >= ${max} then 0 else failed_logins + 1 end`,
          locked_until: sql<Date>`case when failed_logins + 1 >= ${max} then ${lockUntil}::timestamptz else locked_until end`,
        })
        .where('user_id', '=', user.user_id)
        .returning(['failed_logins', 'locked_until'])
        .executeTakeFirstOrThrow();
      if (counted.locked_until && counted.locked_until.getTime() > now) {
        audit('failed', `wrong password; locked after ${max} failures`, user);
        throw lockedError(counted.locked_until, now);
      }
      audit('failed', 'wrong password', user);
      throw cityError('AUTH_LOGIN_FAILED');
    }
    if (user.disabled_at !== null) {
      audit('denied', 'disabled', user);
      throw cityError('AUTH_USER_DISABLED');
    }
    if (user.failed_logins !== 0 || user.locked_until !== null) {
      await this.#db.updateTable('users').set({ failed_logins: 0, locked_until: null }).where('user_id', '=', user.user_id).execute();
    }
    audit('ok', null, user);
    return { ...user, failed_logins: 0, locked_until: null };
  }

  /**
   * The citizen behind a phone number whose one-time code was just verified; created at their
   * first sign-in. A staff member's phone does not sign in this way.
   *
   * @throws CITY_ERR_AUTH_USER_DISABLED, CITY_ERR_AUTH_OTP_INVALID (a staff phone)
   */
  async citizenSignIn(phone: string, remote: string | null): Promise<UserRow> {
    const tenantId = this.options.tenantId;
    const now = new Date(this.#now());
    const byPhone = () => this.#db.selectFrom('users').selectAll().where('tenant_id', '=', tenantId).where('phone', '=', phone).executeTakeFirst();
    let user = await byPhone();
    let created = false;
    if (!user) {
      // Two first sign-ins at once: the unique (tenant, phone) index lets one insert win.
      const inserted = await this.#db
        .insertInto('users')
        .values({ user_id: randomUUID(), tenant_id: tenantId, username: null, phone, display_name: `Citizen ${maskPhone(phone)}`, role: 'citizen', level: null, scope_zone_id: null, password_hash: null, created_at: now, updated_at: now })
        .onConflict((oc) => oc.doNothing())
        .returningAll()
        .executeTakeFirst();
      created = inserted !== undefined;
      user = inserted ?? (await byPhone());
      if (!user) throw cityError('INTERNAL', { reason: 'the citizen could not be created' });
    }
    if (user.role !== 'citizen') throw cityError('AUTH_OTP_INVALID', { reason: 'not for staff accounts: staff sign in with their user name and password' });
    if (user.disabled_at !== null) throw cityError('AUTH_USER_DISABLED');
    this.options.audit.recordSoon({
      actor: principalOf(user),
      action: 'auth.login',
      target: { kind: 'user', id: user.user_id },
      remote,
      details: { method: 'otp', phone: maskPhone(phone), created },
    });
    return user;
  }

  /** Checks a user record's role, level and scope consistency and fills nothing in. */
  async #validate<T extends Pick<UserRow, 'username' | 'phone' | 'display_name' | 'role' | 'level' | 'scope_zone_id'>>(tenantId: string, record: T, db: Kysely<Database> = this.#db): Promise<T> {
    const invalid = (reason: string) => cityError('USER_INVALID', { reason });
    if (!(USER_ROLES as readonly string[]).includes(record.role)) throw invalid(`role must be one of ${USER_ROLES.join(', ')}`);
    if (!record.display_name || record.display_name.length > 200) throw invalid('display_name must have 1 to 200 characters');
    if (STAFF_ROLES.has(record.role)) {
      if (!record.username) throw invalid(`a ${record.role} needs a username (staff sign in with user name and password)`);
      if (!USERNAME_PATTERN.test(record.username)) throw invalid('username must be 3 to 64 letters, digits or . _ @ -, starting with a letter or digit');
    } else {
      if (!record.phone) throw invalid('a citizen needs a phone number (citizens sign in with a one-time code)');
      if (record.username) throw invalid('citizens have no username; they sign in by phone');
    }
    if (record.role === 'authority') {
      if (record.level === null || !(AUTHORITY_LEVELS as readonly number[]).includes(record.level)) {
        throw invalid(`an authority needs a level from 1 to 5 (${AUTHORITY_LEVELS.map((l) => `L${l} ${LEVEL_TITLES[l]}`).join(', ')})`);
      }
      if (!record.scope_zone_id) throw invalid('an authority needs a scope_zone_id: the zone subtree they act on');
    } else if (record.level !== null) {
      throw invalid(`only authorities have a level; a ${record.role} has none`);
    }
    if ((record.role === 'tenant_admin' || record.role === 'super_admin') && record.scope_zone_id) {
      throw invalid(`a ${record.role} manages the whole tenant; leave scope_zone_id empty`);
    }
    if (record.scope_zone_id && !(await this.#zoneExists(tenantId, record.scope_zone_id, db))) {
      throw invalid(`scope zone ${record.scope_zone_id} does not exist in tenant ${tenantId}`);
    }
    return record;
  }

  async #zoneExists(tenantId: string, zoneId: string, db: Kysely<Database>): Promise<boolean> {
    if (tenantId === this.options.tenantId) return this.options.zones().has(zoneId);
    // Another tenant's tree is not loaded on this node; its zones table is the truth.
    const row = await db.selectFrom('zones').select('id').where('tenant_id', '=', tenantId).where('id', '=', zoneId).executeTakeFirst();
    return row !== undefined;
  }

  async #assertUnique(tenantId: string, username: string | null, phone: string | null, exceptUserId: string | null, db: Kysely<Database> = this.#db): Promise<void> {
    if (username) {
      let q = db.selectFrom('users').select('user_id').where('tenant_id', '=', tenantId).where(sql<string>`lower(username)`, '=', username.toLowerCase());
      if (exceptUserId) q = q.where('user_id', '<>', exceptUserId);
      if (await q.executeTakeFirst()) throw cityError('USER_EXISTS', { field: 'username', value: username, tenantId });
    }
    if (phone) {
      let q = db.selectFrom('users').select('user_id').where('tenant_id', '=', tenantId).where('phone', '=', phone);
      if (exceptUserId) q = q.where('user_id', '<>', exceptUserId);
      if (await q.executeTakeFirst()) throw cityError('USER_EXISTS', { field: 'phone', value: maskPhone(phone), tenantId });
    }
  }
}

/** A user who just signed in, as the audit log's actor (no session exists yet). */
function principalOf(user: UserRow): Principal {
  return { kind: 'user', ...sessionUserOf(user), sessionId: '' };
}

/** Only the super admin creates, changes or resets super admins. */
function guardSuperAdmin(caller: Caller, role: UserRole): void {
  if (role === 'super_admin' && caller.principal.kind !== 'system' && !isSuperAdmin(caller.principal)) {
    throw cityError('AUTH_FORBIDDEN', { actor: caller.principal.kind, permission: 'manage super admins', reason: 'only a super admin may', needs: 'the super admin' });
  }
}

function lockedError(until: Date, now: number) {
  return cityError('AUTH_LOCKED', { until: until.toISOString(), retryAfterS: Math.max(1, Math.ceil((until.getTime() - now) / 1000)) });
}

/** A unique-index race lost between the check and the insert, as USER_EXISTS. */
function uniqueViolation(err: unknown, tenantId: string, record: { username: string | null; phone: string | null }) {
  const message = String((err as Error)?.message ?? '');
  if (message.includes('users_username')) return cityError('USER_EXISTS', { field: 'username', value: record.username, tenantId }, err);
  if (message.includes('users_phone')) return cityError('USER_EXISTS', { field: 'phone', value: record.phone ? maskPhone(record.phone) : null, tenantId }, err);
  return null;
}

function mask(value: unknown): unknown {
  return typeof value === 'string' ? maskPhone(value) : value;
}

/** A user as the API shows it (never the password hash). */
export function userView(row: UserRow, now = Date.now()) {
  const level = row.level as AuthorityLevel | null;
  return {
    user_id: row.user_id,
    tenant_id: row.tenant_id,
    username: row.username,
    phone: row.phone,
    display_name: row.display_name,
    role: row.role,
    level,
    level_title: level === null ? null : LEVEL_TITLES[level],
    scope_zone_id: row.scope_zone_id,
    disabled: row.disabled_at !== null,
    disabled_at: row.disabled_at?.toISOString() ?? null,
    locked_until: row.locked_until && row.locked_until.getTime() > now ? row.locked_until.toISOString() : null,
    has_password: row.password_hash !== null,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}
