import type { FastifyReply, FastifyRequest } from 'fastify';
import { cityError } from '../errors.js';
import { keyFromHeaders, verifyApiKey } from './api-keys.js';

/**
 * The node's authorization policy, in one place (DESIGN.md non-negotiables): every route
 * declares the permission it needs and this decides. Until users and scoped roles arrive,
 * two principals exist: the node administrator (admin token) and a plugin (its API key,
 * which may act only on that plugin: publish its events, register its new versions).
 */
export type Permission = 'public' | 'admin' | 'plugin-or-admin';

export type Principal = { kind: 'admin' } | { kind: 'plugin'; pluginId: string } | { kind: 'anonymous' };

export interface PolicyDeps {
  adminTokenHash: string;
  /** Verifies a plugin key; resolves to the plugin id it belongs to, or null. */
  pluginForKey(pluginId: string, key: string): boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

export function principalOf(request: FastifyRequest, deps: PolicyDeps, pluginId: string | null): Principal {
  const key = keyFromHeaders(request.headers);
  if (key === null) return { kind: 'anonymous' };
  if (verifyApiKey(key, deps.adminTokenHash)) return { kind: 'admin' };
  if (pluginId !== null && deps.pluginForKey(pluginId, key)) return { kind: 'plugin', pluginId };
  return { kind: 'anonymous' };
}

/**
 * A preHandler enforcing `permission`. For `plugin-or-admin`, `pluginIdOf` names the plugin the
 * request acts on (from the URL or the body).
 */
export function requirePermission(
  deps: PolicyDeps,
  permission: Permission,
  pluginIdOf?: (request: FastifyRequest) => string | null,
) {
  return async function authorize(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    if (permission === 'public') return;
    const pluginId = pluginIdOf ? pluginIdOf(request) : null;
    const principal = principalOf(request, deps, pluginId);
    request.principal = principal;
    if (principal.kind === 'admin') return;
    if (permission === 'plugin-or-admin' && principal.kind === 'plugin' && principal.pluginId === pluginId) return;
    if (keyFromHeaders(request.headers) === null) throw cityError('AUTH_REQUIRED');
    throw cityError('AUTH_KEY_INVALID', { pluginId: pluginId ?? '(admin)' });
  };
}

/**
 * The live stream's check (src/brain/live-stream.ts): the admin token as a Bearer header, or —
 * because browsers cannot set headers on a WebSocket — as the `token` query parameter.
 * Throws AUTH_REQUIRED / AUTH_KEY_INVALID like the HTTP preHandler.
 */
export function authorizeStream(deps: PolicyDeps, request: FastifyRequest): void {
  const query = (request.query ?? {}) as Record<string, unknown>;
  const key = keyFromHeaders(request.headers) ?? (typeof query.token === 'string' && query.token.length > 0 ? query.token : null);
  if (key === null) throw cityError('AUTH_REQUIRED');
  if (!verifyApiKey(key, deps.adminTokenHash)) throw cityError('AUTH_KEY_INVALID', { pluginId: '(admin)' });
  request.principal = { kind: 'admin' };
}
