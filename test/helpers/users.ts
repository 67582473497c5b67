import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { UserRole } from '../../src/store/schema.js';
import { call } from './node.js';

export interface SignedIn {
  userId: string;
  username: string;
  /** For signing in through the dashboard's form. */
  password: string;
  /** `{ authorization: 'Bearer <access token>' }` for `call(…, { headers })`. */
  headers: Record<string, string>;
}

/**
 * A real person on a test node: created by the admin through POST /api/v1/users and signed in
 * through POST /api/v1/auth/login, so tests go through the same policy, tokens and scopes as
 * the dashboard does. The node's sign-in limit is per address (20 a minute by default): keep
 * the sign-ins of one node under it.
 *
 * @example
 *   const officer = await signIn(node, { role: 'authority', level: 1, scope: 'chennai-w119' });
 *   await call(node, 'GET', '/api/v1/authority/pending-approvals', { headers: officer.headers });
 */
export async function signIn(
  node: { url: string; admin: Record<string, string> },
  who: { role: UserRole; level?: number; scope?: string | null; name?: string },
): Promise<SignedIn> {
  const username = `${who.name ?? who.role}-${randomBytes(4).toString('hex')}`;
  const password = `pw-${randomBytes(12).toString('hex')}`;
  const created = await call(node, 'POST', '/api/v1/users', {
    headers: node.admin,
    body: {
      username,
      password,
      display_name: who.name ?? username,
      role: who.role,
      ...(who.level !== undefined ? { level: who.level } : {}),
      ...(who.scope !== undefined ? { scope_zone_id: who.scope } : {}),
    },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const login = await call(node, 'POST', '/api/v1/auth/login', { body: { username, password } });
  assert.equal(login.status, 200, JSON.stringify(login.body));
  return { userId: created.body.user_id, username, password, headers: { authorization: `Bearer ${login.body.access_token}` } };
}
