import pino from 'pino';
import { AuditLog } from '../../src/auth/audit.js';
import { OneTimeCodes, type OneTimeCodesOptions } from '../../src/auth/otp.js';
import { Sessions } from '../../src/auth/sessions.js';
import { Users, type Caller } from '../../src/auth/users.js';
import { loadZoneFile } from '../../src/geo/zone-file.js';
import { ZoneTree } from '../../src/geo/zones.js';
import { DEMO_ZONES_FILE } from '../../src/node/node.js';
import { OutboxChannel, type NotificationChannel } from '../../src/notify/channels.js';
import type { Store } from '../../src/store/store.js';

export { openTestStore } from '../helpers/store.js';

/** A clock the test moves, so expiry is tested without sleeping. */
export function testClock(start = Date.parse('2026-01-15T08:00:00Z')): { now: () => number; advance(ms: number): void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

let chennai: Promise<ZoneTree> | null = null;
/** The demo city's zone tree, loaded once per test file. */
export function chennaiTree(): Promise<ZoneTree> {
  chennai ??= loadZoneFile(DEMO_ZONES_FILE).then((zones) => new ZoneTree(zones));
  return chennai;
}

export const SYSTEM: Caller = { principal: { kind: 'system', id: 'test' }, remote: null };
export const ADMIN: Caller = { principal: { kind: 'admin_token' }, remote: '127.0.0.1' };

export interface IdentityServices {
  audit: AuditLog;
  sessions: Sessions;
  users: Users;
  otp: OneTimeCodes;
}

/** The identity services on one store and one clock, with the defaults a node uses unless overridden. */
export function identityServices(
  store: Store,
  clock: { now: () => number },
  options: { tree?: ZoneTree; accessTokenTtlS?: number; refreshTtlMs?: number; maxFailedLogins?: number; lockoutMs?: number; channel?: NotificationChannel; otp?: Partial<OneTimeCodesOptions> } = {},
): IdentityServices {
  const { db } = store;
  const audit = new AuditLog(db, 'default', pino({ level: 'silent' }));
  const sessions = new Sessions({ db, tenantId: 'default', refreshTtlMs: options.refreshTtlMs ?? 30 * 86_400_000, accessTokenTtlS: options.accessTokenTtlS ?? 3600, audit, now: clock.now });
  const tree = options.tree ?? new ZoneTree([]);
  const users = new Users({ db, tenantId: 'default', zones: () => tree, sessions, audit, maxFailedLogins: options.maxFailedLogins ?? 5, lockoutMs: options.lockoutMs ?? 15 * 60_000, now: clock.now });
  const otp = new OneTimeCodes({
    db,
    tenantId: 'default',
    channel: options.channel ?? new OutboxChannel(db, clock.now),
    key: Buffer.alloc(32, 7),
    ttlMs: 5 * 60_000,
    maxAttempts: 5,
    requestsPer15Min: 5,
    audit,
    now: clock.now,
    ...options.otp,
  });
  return { audit, sessions, users, otp };
}

/** Audit rows of one action, oldest first. */
export function auditRows(store: Store, action: string) {
  return store.db.selectFrom('audit_log').selectAll().where('action', '=', action).orderBy('id').execute();
}
