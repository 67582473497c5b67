import { BlockList, isIP } from 'node:net';
import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import { CityError, cityError } from '../errors.js';
import type { ZoneTree } from '../geo/zones.js';
import { hashApiKey, keyFromHeaders, sameHash } from './api-keys.js';
import type { AccessTokens } from './access-tokens.js';
import { ANONYMOUS, actorId, isSuperAdmin, tenantOf, type Principal, type UserPrincipal } from './principal.js';
import { LINK_HEADER } from '../hierarchy/link-auth.js';
import { ZoneScope } from './scope.js';

/**
 * The node's one authorization policy (DESIGN.md non-negotiables; seed 001 §8.3, §13; seed 002
 * RBAC). Every HTTP route declares the permission it needs in `config.policy`; the hook
 * installed by `installPolicy` authenticates the caller, decides with `decide()` and attaches
 * the caller's zone scope, which list routes use to filter and item routes check with
 * `assertInScope`. A route that declares no policy stops the node at start. The live stream's
 * WebSocket upgrade is an HTTP route like the others; the MQTT broker asks `decide()` too
 * (src/auth/mqtt-policy.ts). So the decision — role × level × zone scope × tenant — is made here
 * and only here.
 */
export const PERMISSIONS = {
  public: 'anyone, signed in or not',
  signed_in: 'any signed-in user (their own profile, sign-out)',
  ingest: "send events for a plugin: that plugin's key, a device bound to it, or an admin",
  plugin_publish: "register a plugin or a new version: that plugin's key or a tenant admin",
  monitor: 'read events, decisions, state, rules and plugins in scope: operators, authorities, tenant admins',
  respond: 'act on incidents in scope (close them): operators and authorities',
  approve: 'review, approve, reject and escalate decisions in scope at their level: authorities',
  override: 'suspend and resume rules, plugins or all automation in scope: authorities and tenant admins',
  configure: 'change plugins, zones, devices and action targets: tenant admins',
  configure_rules: 'change correlation rules (city-wide policy, seed §8.3): authorities L3+ and tenant admins',
  audit: 'read the audit log in scope: authorities L2+ and tenant admins',
  feedback: "export labelled feedback for retraining: tenant admins and that plugin's key",
  manage_users: "manage the tenant's users: tenant admins",
  manage_tenants: 'create tenants and their admins: the super admin',
  link: 'exchange hierarchy messages (reports, escalations, directives, peer requests): linked nodes, by their signed link credential',
  command: 'issue directives down the hierarchy and coordinate incidents across zones (seed 001 §4.3, §5.3, §12.3): authorities L2+ and tenant admins',
  compute: "submit jobs to the compute network, read their results and the pool, store job data: operators, authorities and tenant admins",
  execute: 'join the compute network as an executor and run its jobs: executor keys',
} as const;

export type Permission = keyof typeof PERMISSIONS;

/** Permissions decided per plugin (the plugin a request acts on): all a plugin key may hold. */
export const PLUGIN_BOUND: ReadonlySet<Permission> = new Set<Permission>(['ingest', 'plugin_publish', 'feedback']);

export interface RoutePolicy {
  permission: Permission;
  /** For ingest, plugin_publish and feedback: the plugin the request acts on. */
  pluginOf?: (request: FastifyRequest) => string | null;
  /**
   * Called with the refusal before it is answered (ingest keeps refused input as a dead
   * letter). Such routes are checked after the body is read, the others before.
   */
  onDenied?: (request: FastifyRequest, error: CityError) => Promise<void>;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    policy?: RoutePolicy;
  }
  interface FastifyRequest {
    principal: Principal;
    scope: ZoneScope;
  }
}

/** Which roles hold which permission (super admin holds all; tenant and scope checked after). */
const ROLE_PERMISSIONS: Record<'tenant_admin' | 'operator' | 'citizen', ReadonlySet<Permission>> = {
  tenant_admin: new Set<Permission>(['signed_in', 'plugin_publish', 'monitor', 'respond', 'override', 'configure', 'configure_rules', 'audit', 'feedback', 'manage_users', 'command', 'compute']),
  operator: new Set<Permission>(['signed_in', 'monitor', 'respond', 'compute']),
  citizen: new Set<Permission>(['signed_in']),
};
const AUTHORITY_PERMISSIONS: ReadonlySet<Permission> = new Set<Permission>(['signed_in', 'monitor', 'respond', 'approve', 'override', 'compute']);
/** Permissions an authority gains from a level up (seed 001 §8.3). */
const AUTHORITY_MIN_LEVEL: Partial<Record<Permission, number>> = { audit: 2, configure_rules: 3, command: 2 };

export type Verdict = { allow: true } | { allow: false; error: CityError };

/**
 * The decision, as a pure function of who asks, what for and on which node. `pluginId` is the
 * plugin the request acts on, for the permissions that name one.
 */
export function decide(principal: Principal, permission: Permission, nodeTenant: string, pluginId: string | null = null): Verdict {
  if (permission === 'public') return { allow: true };
  if (principal.kind === 'anonymous') return { allow: false, error: cityError(permission === 'ingest' ? 'AUTH_KEY_MISSING' : 'AUTH_REQUIRED') };
  if (isSuperAdmin(principal)) return { allow: true };
  const tenant = tenantOf(principal);
  if (tenant !== nodeTenant) return { allow: false, error: cityError('AUTH_WRONG_TENANT', { tenant, nodeTenant }) };
  const deny = (reason: string): Verdict => ({ allow: false, error: cityError('AUTH_FORBIDDEN', { actor: describe(principal), permission, reason, needs: PERMISSIONS[permission] }) });

  switch (principal.kind) {
    case 'plugin':
      if (PLUGIN_BOUND.has(permission)) {
        return pluginId === principal.pluginId ? { allow: true } : deny(`the key belongs to plugin ${principal.pluginId}, not ${pluginId ?? 'this route'}`);
      }
      return deny('plugin keys may only send their own events, register their own versions and read their own feedback');
    case 'device':
      if (permission === 'ingest') {
        return principal.pluginId !== null && pluginId === principal.pluginId ? { allow: true } : deny(`device ${principal.deviceId} publishes for ${principal.pluginId ?? 'no plugin'}`);
      }
      return deny('device keys may only send events for their plugin and receive their commands');
    case 'node':
      return permission === 'link' ? { allow: true } : deny('a link credential only delivers hierarchy messages');
    case 'executor':
      return permission === 'execute' ? { allow: true } : deny('an executor key only joins the compute network to run jobs');
    case 'user': {
      if (permission === 'ingest' || permission === 'manage_tenants' || permission === 'link' || permission === 'execute') return deny(PERMISSIONS[permission]);
      if (principal.role === 'authority') {
        const min = AUTHORITY_MIN_LEVEL[permission];
        if (AUTHORITY_PERMISSIONS.has(permission)) return { allow: true };
        if (min !== undefined) return (principal.level ?? 0) >= min ? { allow: true } : deny(`it needs level L${min} or above; you are L${principal.level}`);
        return deny(PERMISSIONS[permission]);
      }
      const granted = ROLE_PERMISSIONS[principal.role as 'tenant_admin' | 'operator' | 'citizen'];
      return granted?.has(permission) ? { allow: true } : deny(PERMISSIONS[permission]);
    }
  }
  return deny('unknown principal');
}

function describe(p: Principal): string {
  if (p.kind === 'user') return p.role === 'authority' ? `authority L${p.level} ${p.userId}` : `${p.role} ${p.userId}`;
  return actorId(p);
}

/** A key owner as the policy needs it: who, and where the key may be used from. */
export interface KeyOwner {
  principal: Principal;
  keyPrefix: string;
  allowedSources: readonly string[];
}

export interface PolicyDeps {
  nodeTenant: string;
  adminTokenHash: string;
  /** The owner of a plugin or device key (looked up by the key's SHA-256), or null. */
  keyOwner(keyHash: string): KeyOwner | null;
  accessTokens: AccessTokens;
  zones: () => ZoneTree;
  /** Verifies another node's link credential (the `X-City-Node` header); absent: links are refused. */
  links?: { verify(token: string): Promise<Principal> };
}

/** A JWT has three base64url parts; API keys have none of their dots. */
const JWT_SHAPE = /^[\w-]+\.[\w-]+\.[\w-]*$/;

/**
 * Who sent this request: a Bearer access token (JWT), the admin token, or a plugin / device
 * key (`X-API-Key` or Bearer). `queryToken` is the credential browsers put in a WebSocket URL
 * (they cannot set headers there). Throws for credentials that are present but not valid, so
 * a wrong token is never silently treated as anonymous.
 */
export async function authenticate(deps: PolicyDeps, headers: FastifyRequest['headers'], remote: string | null, queryToken: string | null = null): Promise<Principal> {
  const link = headers[LINK_HEADER];
  if (typeof link === 'string') {
    if (!deps.links) throw cityError('LINK_AUTH_INVALID', { reason: 'this node takes no links' });
    return deps.links.verify(link);
  }
  const credential = keyFromHeaders(headers) ?? queryToken;
  if (credential === null) return ANONYMOUS;
  if (JWT_SHAPE.test(credential)) {
    const verdict = await deps.accessTokens.verify(credential);
    if ('reason' in verdict) throw cityError('AUTH_TOKEN_INVALID', { reason: verdict.reason });
    return verdict.user;
  }
  return authenticateKey(deps, credential, remote);
}

/** The principal of an API key (the admin token, a plugin's or a device's key). */
export function authenticateKey(deps: PolicyDeps, key: string, remote: string | null): Principal {
  const hash = hashApiKey(key);
  if (sameHash(hash, deps.adminTokenHash)) return { kind: 'admin_token' };
  const owner = deps.keyOwner(hash);
  if (owner === null) throw cityError('AUTH_KEY_INVALID', { pluginId: 'this node' });
  if (owner.allowedSources.length > 0 && !sourceAllowed(owner.allowedSources, remote)) {
    throw cityError('AUTH_SOURCE_NOT_ALLOWED', { keyPrefix: owner.keyPrefix, remote: remote ?? 'an unknown address', allowed: owner.allowedSources.join(', ') });
  }
  return owner.principal;
}

/**
 * Compiled allow-lists, by list: the key owners hand out the same array until the list is
 * changed, so each list is compiled once rather than on every request or MQTT publish.
 */
const compiledLists = new WeakMap<readonly string[], BlockList>();

/** `allowed` holds addresses and CIDR blocks (IPv4 or IPv6). */
export function sourceAllowed(allowed: readonly string[], remote: string | null): boolean {
  if (remote === null) return false;
  const address = remote.startsWith('::ffff:') && isIP(remote.slice(7)) === 4 ? remote.slice(7) : remote;
  const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
  let list = compiledLists.get(allowed);
  if (!list) {
    list = new BlockList();
    for (const entry of allowed) {
      const [net, bits] = entry.split('/');
      const entryFamily = isIP(net!) === 6 ? 'ipv6' : 'ipv4';
      if (bits === undefined) list.addAddress(net!, entryFamily);
      else list.addSubnet(net!, Number(bits), entryFamily);
    }
    compiledLists.set(allowed, list);
  }
  return list.check(address, family);
}

/** Checks an allow-list entry when it is configured, naming what is wrong. */
export function sourceEntryProblem(entry: string): string | null {
  const [net, bits, extra] = entry.split('/');
  if (extra !== undefined || !net || isIP(net) === 0) return `"${entry}" is not an IP address or CIDR block`;
  if (bits !== undefined) {
    const n = Number(bits);
    const max = isIP(net) === 6 ? 128 : 32;
    if (!/^\d+$/.test(bits) || n > max) return `"${entry}" has a prefix length outside 0–${max}`;
  }
  return null;
}

/** The zone subtree a principal may see: the whole tenant for admins, machines and unscoped users. */
export function scopeOf(principal: Principal, zones: ZoneTree): ZoneScope {
  if (principal.kind === 'user' && principal.scopeZoneId !== null && !isSuperAdmin(principal)) {
    return ZoneScope.subtree(zones, principal.scopeZoneId);
  }
  if (principal.kind === 'device' && principal.zoneId !== null) return ZoneScope.subtree(zones, principal.zoneId);
  // A node's messages name zones across the tree (a peer's incident, a parent's directive): the link's apply checks what each kind may touch.
  return ZoneScope.ALL;
}

/** Throws AUTH_OUT_OF_SCOPE unless `zoneId` is inside the request's scope. */
export function assertInScope(request: FastifyRequest, zoneId: string | null, what: string): void {
  if (!request.scope.includes(zoneId)) {
    throw cityError('AUTH_OUT_OF_SCOPE', { what, zoneId: zoneId ?? '(none)', scope: request.scope.describe() });
  }
}

/**
 * A route's `config`, declaring what it needs.
 *
 * @example
 *   app.get('/api/v1/decisions', { schema, config: requires('monitor') }, handler)
 */
export function requires(permission: Permission, extra: Omit<RoutePolicy, 'permission'> = {}): { policy: RoutePolicy } {
  return { policy: { permission, ...extra } };
}

/**
 * The zone a list or state query is about: the one asked for (which must be in scope), else
 * the root of the caller's scope (undefined = the whole tenant).
 */
export function scopedZone(request: FastifyRequest, asked: string | undefined): string | undefined {
  if (asked !== undefined) {
    assertInScope(request, asked, `zone ${asked}`);
    return asked;
  }
  return request.scope.root ?? undefined;
}

/** Authentication failures of routes that decide once the body is read (see installPolicy). */
const failedAuthentication = new WeakMap<FastifyRequest, CityError>();

/** One row of the route table the authorization matrix test is built from. */
export interface RouteEntry {
  method: string;
  url: string;
  permission: Permission;
  websocket: boolean;
}

/**
 * Installs the policy on an app: call before any route is registered. Returns the live route
 * table (every route with its declared permission).
 */
export function installPolicy(app: FastifyInstance, deps: PolicyDeps): RouteEntry[] {
  const table: RouteEntry[] = [];
  app.decorateRequest('principal', null as never);
  app.decorateRequest('scope', null as never);
  app.addHook('onRoute', (route: RouteOptions) => {
    const config = (route.config ?? {}) as { policy?: RoutePolicy };
    let policy = config.policy;
    // The API documentation (swagger-ui's own routes) is public by design, and so are CORS
    // preflights (browsers send them without credentials; @fastify/cors answers them).
    if (!policy && (route.url === '/docs' || route.url.startsWith('/docs/'))) policy = { permission: 'public' };
    if (!policy && route.method === 'OPTIONS') policy = { permission: 'public' };
    if (!policy) throw new Error(`route ${String(route.method)} ${route.url} declares no authorization policy (config.policy); see src/auth/policy.ts`);
    route.config = { ...config, policy } as typeof route.config;
    const websocket = (route as RouteOptions & { websocket?: boolean }).websocket === true;
    for (const method of [route.method].flat()) table.push({ method: String(method), url: route.url, permission: policy.permission, websocket });
    // Who is asking is settled first, for every route (onRequest), and never refuses there: the
    // rate limiter, an onRequest hook added after this one (src/http/hardening.ts), must count
    // refused callers too — by address — or a flood of bad keys would cost the node a 401 and,
    // on ingest, a dead letter each, unthrottled. Whether they may is decided next: before the
    // body is read (preParsing), or after it where the decision needs the body (the plugin a
    // registration names) or a refusal must be kept with its payload (ingest, preHandler).
    const deferred = policy.onDenied !== undefined || policy.pluginOf !== undefined;
    const identify = async (request: FastifyRequest): Promise<void> => {
      const query = websocket ? ((request.query ?? {}) as Record<string, unknown>) : {};
      const queryToken = typeof query.access_token === 'string' ? query.access_token : typeof query.token === 'string' ? query.token : null;
      request.scope = ZoneScope.NONE;
      try {
        request.principal = await authenticate(deps, request.headers, request.ip, queryToken);
      } catch (err) {
        // A public route answers anyone: a bad credential there only makes the caller anonymous.
        request.principal = ANONYMOUS;
        if (policy.permission !== 'public') {
          if (!(err instanceof CityError)) throw err;
          failedAuthentication.set(request, err);
        }
      }
    };
    const authorize = (request: FastifyRequest): void => {
      const failed = failedAuthentication.get(request);
      if (failed) throw failed;
      const verdict = decide(request.principal, policy.permission, deps.nodeTenant, policy.pluginOf?.(request) ?? null);
      if (!verdict.allow) throw verdict.error;
      request.scope = scopeOf(request.principal, deps.zones());
    };
    const authorizeBeforeBody = async (request: FastifyRequest): Promise<void> => authorize(request);
    const authorizeWithBody = async (request: FastifyRequest): Promise<void> => {
      try {
        authorize(request);
      } catch (err) {
        if (policy.onDenied && err instanceof CityError) await policy.onDenied(request, err);
        throw err;
      }
    };
    route.onRequest = route.onRequest ? [identify, ...[route.onRequest].flat()] : [identify] as never;
    if (deferred) route.preHandler = route.preHandler ? [authorizeWithBody, ...[route.preHandler].flat()] : [authorizeWithBody] as never;
    else route.preParsing = route.preParsing ? [authorizeBeforeBody, ...[route.preParsing].flat()] : [authorizeBeforeBody] as never;
  });
  return table;
}

export type { UserPrincipal };
