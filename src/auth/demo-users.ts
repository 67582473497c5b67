import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Zone, ZoneTree } from '../geo/zones.js';
import type { UserRole } from '../store/schema.js';
import type { Users } from './users.js';

/** One demo account, as written to the passwords file and the start log. */
export interface DemoUser {
  username: string;
  password: string;
  role: UserRole;
  level: number | null;
  scope_zone_id: string | null;
}

export interface DemoUsersResult {
  file: string;
  users: DemoUser[];
  /** User names whose password was made at this start (the log shows those once). */
  fresh: string[];
}

interface DemoSpec {
  username: string;
  display_name: string;
  role: UserRole;
  level: number | null;
  scope: Zone | null;
}

/**
 * The demo's people, one per kind of sign-in the dashboard shows: a tenant admin, a control-room
 * operator, and authorities at L1 (a ward), L2 (that ward's district) and L3 (the city), taken
 * from the loaded zone tree — in the Chennai demo city a ward, its zone and Chennai itself.
 *
 * Passwords are random, never in the source: they are kept in `<dataDir>/demo-users.json`
 * (mode 0600, like the admin token) so every restart keeps them. A missing user is created; a
 * user whose password the file has lost gets a new one.
 */
export async function seedDemoUsers(users: Users, tree: ZoneTree, dataDir: string): Promise<DemoUsersResult> {
  const file = join(dataDir, 'demo-users.json');
  const known = await readPasswords(file);
  const tenantId = users.nodeTenant;
  const caller = { principal: { kind: 'system' as const, id: 'demo' }, remote: null };
  const result: DemoUser[] = [];
  const fresh: string[] = [];
  for (const spec of demoSpecs(tree)) {
    const existing = await users.findByUsername(tenantId, spec.username);
    let password = known[spec.username];
    if (!existing) {
      password ??= newPassword();
      await users.create(tenantId, { username: spec.username, display_name: spec.display_name, role: spec.role, level: spec.level, scope_zone_id: spec.scope?.id ?? null, password }, caller);
      if (known[spec.username] === undefined) fresh.push(spec.username);
    } else if (password === undefined) {
      password = newPassword();
      await users.setPassword(tenantId, existing.user_id, { newPassword: password }, caller);
      fresh.push(spec.username);
    }
    result.push({ username: spec.username, password, role: spec.role, level: spec.level, scope_zone_id: existing?.scope_zone_id ?? spec.scope?.id ?? null });
  }
  if (fresh.length > 0) {
    await mkdir(dataDir, { recursive: true });
    await writeFile(file, JSON.stringify(Object.fromEntries(result.map((u) => [u.username, u.password])), null, 2) + '\n', { mode: 0o600 });
    await chmod(file, 0o600);
  }
  return { file, users: result, fresh };
}

/** Which zones the demo authorities get: the first city, its first district with wards, its first ward. */
function demoSpecs(tree: ZoneTree): DemoSpec[] {
  const city = tree.all().find((z) => z.level === 'city') ?? tree.roots()[0] ?? null;
  const district = city ? (tree.children(city.id).find((z) => tree.children(z.id).length > 0) ?? tree.children(city.id)[0] ?? city) : null;
  const ward = district ? (tree.children(district.id)[0] ?? district) : null;
  const specs: DemoSpec[] = [
    { username: 'demo-admin', display_name: 'Demo Tenant Admin', role: 'tenant_admin', level: null, scope: null },
    { username: 'demo-operator', display_name: 'Demo Control Room Operator', role: 'operator', level: null, scope: null },
  ];
  // Authorities need a scope zone; a node without zones gets no demo authorities.
  if (ward && district && city) {
    specs.push(
      { username: 'demo-officer', display_name: `Demo Local Officer, ${ward.name}`, role: 'authority', level: 1, scope: ward },
      { username: 'demo-commander', display_name: `Demo District Commander, ${district.name}`, role: 'authority', level: 2, scope: district },
      { username: 'demo-commissioner', display_name: `Demo City Commissioner, ${city.name}`, role: 'authority', level: 3, scope: city },
    );
  }
  return specs;
}

async function readPasswords(file: string): Promise<Record<string, string>> {
  const text = await readFile(file, 'utf8').catch(() => null);
  if (text === null) return {};
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      return Object.fromEntries(Object.entries(parsed).filter((e): e is [string, string] => typeof e[1] === 'string'));
    }
  } catch {
    // A damaged file: its users get new passwords and the file is written again.
  }
  return {};
}

/** 16 base64url characters (96 bits): well over the 12-character minimum, easy to paste. */
function newPassword(): string {
  return randomBytes(12).toString('base64url');
}
