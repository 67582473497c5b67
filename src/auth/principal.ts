import type { UserRole } from '../store/schema.js';
import type { NodePrincipal } from '../hierarchy/link-auth.js';

/** Authority levels (seed 001 §8.3): L1 Local Officer … L5 National Admin. */
export const AUTHORITY_LEVELS = [1, 2, 3, 4, 5] as const;
export type AuthorityLevel = (typeof AUTHORITY_LEVELS)[number];

export const LEVEL_TITLES: Record<AuthorityLevel, string> = {
  1: 'Local Officer',
  2: 'District Commander',
  3: 'City Commissioner',
  4: 'State Director',
  5: 'National Admin',
};

/** A signed-in person (from a verified access token). */
export interface UserPrincipal {
  kind: 'user';
  userId: string;
  tenantId: string;
  role: UserRole;
  /** Authorities only. */
  level: AuthorityLevel | null;
  /** Root of the zone subtree the user may see and act on; null = the whole tenant. */
  scopeZoneId: string | null;
  /** The refresh-token family this access token was issued from (logout revokes it). */
  sessionId: string;
  name: string;
}

/**
 * Who is asking. The node admin token is the super admin of the node (it exists before any
 * user does, and stays as the break-glass credential); plugin and device keys are machines
 * bound to one tenant.
 */
export type Principal =
  | { kind: 'anonymous' }
  | { kind: 'admin_token' }
  | UserPrincipal
  | { kind: 'plugin'; tenantId: string; pluginId: string }
  | { kind: 'device'; tenantId: string; deviceId: string; pluginId: string | null; zoneId: string | null }
  /** Another node of the hierarchy: its parent, a child or a peer (src/hierarchy/link-auth.ts). */
  | NodePrincipal
  /** A compute executor (src/compute/executor-keys.ts): a machine that runs the city's jobs. */
  | { kind: 'executor'; tenantId: string; executorId: string };

export const ANONYMOUS: Principal = { kind: 'anonymous' };

/** The id written into audit rows and approval history. */
export function actorId(p: Principal): string {
  switch (p.kind) {
    case 'anonymous':
      return 'anonymous';
    case 'admin_token':
      return 'admin-token';
    case 'user':
      return p.userId;
    case 'plugin':
      return `plugin:${p.pluginId}`;
    case 'device':
      return `device:${p.deviceId}`;
    case 'node':
      return `node:${p.nodeId}`;
    case 'executor':
      return `executor:${p.executorId}`;
  }
}

export function isSuperAdmin(p: Principal): boolean {
  return p.kind === 'admin_token' || (p.kind === 'user' && p.role === 'super_admin');
}

/** The tenant a principal belongs to; null for the super admin (all tenants) and anonymous. */
export function tenantOf(p: Principal): string | null {
  if (p.kind === 'user') return p.role === 'super_admin' ? null : p.tenantId;
  if (p.kind === 'plugin' || p.kind === 'device' || p.kind === 'node' || p.kind === 'executor') return p.tenantId;
  return null;
}
