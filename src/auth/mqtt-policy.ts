import { cityError, type CityError } from '../errors.js';
import type { ZoneTree } from '../geo/zones.js';
import { authenticate, decide, scopeOf, type PolicyDeps, type Verdict } from './policy.js';
import { actorId, isSuperAdmin, tenantOf, type Principal } from './principal.js';

/**
 * The authorization policy (src/auth/policy.ts) applied to MQTT: who may CONNECT, publish to
 * which topic and subscribe to which filter. Pure functions of the principal, the topic and the
 * zone tree, so the broker (src/mqtt/broker.ts) only asks and enforces, and the rules are tested
 * without a socket.
 *
 * Topics (README "What a node does"):
 *   city/{zone}/events/{plugin_id}[/batch]  events in, from that plugin's key or a device bound to it
 *   city/{zone}/commands/{target}           actuator commands out (src/actions/targets.ts), {target} a device id
 *   city/{zone}/rejected/{plugin_id}        refusals of that plugin's events, for its key and its devices
 */

/** What the MQTT rules need to know about the node. */
export interface MqttPolicyContext {
  nodeTenant: string;
  zones: ZoneTree;
}

/** `city/{zone}/events/{plugin_id}` and `…/batch` (protobuf EventBatch). */
export const EVENTS_TOPIC = /^city\/([^/+#]+)\/events\/([^/+#]+)(\/batch)?$/;

/** An accepted publication to an events topic: where it goes in the ingest pipeline. */
export interface EventsPublication {
  zone: string;
  pluginId: string;
  batch: boolean;
}

/** `events` is null for a super admin's publication to any other topic (passed through as is). */
export type PublishVerdict = { allow: true; events: EventsPublication | null } | { allow: false; error: CityError };

/**
 * May `principal` publish to `topic`? Events go through `decide(…, 'ingest', …, pluginId)` like
 * the webhook; a device with a zone may publish only into its own zone subtree, because its key
 * stands for a thing installed there. Runs on every publication: no allocation on the allowed
 * path beyond the result, and zone checks walk the tree's cached ancestor lists.
 *
 * @example
 *   authorizeMqttPublish(device, 'city/chennai-w119/events/flood-sensor-network', ctx)
 *   // → { allow: true, events: { zone: 'chennai-w119', pluginId: 'flood-sensor-network', batch: false } }
 */
export function authorizeMqttPublish(principal: Principal, topic: string, ctx: MqttPolicyContext): PublishVerdict {
  const m = EVENTS_TOPIC.exec(topic);
  if (m === null) {
    if (isSuperAdmin(principal)) return { allow: true, events: null };
    return refuse(principal, 'publish to', topic, 'only city/{zone}/events/{plugin_id} (and …/batch) take publications');
  }
  const zone = m[1]!;
  const pluginId = m[2]!;
  const verdict = decide(principal, 'ingest', ctx.nodeTenant, pluginId);
  if (!verdict.allow) return verdict;
  if (principal.kind === 'device' && principal.zoneId !== null && !zoneWithin(ctx.zones, zone, principal.zoneId)) {
    return { allow: false, error: cityError('AUTH_OUT_OF_SCOPE', { what: `the events topic ${topic}`, zoneId: zone, scope: `device ${principal.deviceId}: zone ${principal.zoneId} and below` }) };
  }
  return { allow: true, events: { zone, pluginId, batch: m[3] !== undefined } };
}

/**
 * May `principal` subscribe to `filter`? Raw events are never offered (they carry personal data
 * that leaves the pipeline only tokenized); what can be followed is:
 * - a device: its own command topic `city/{zone}/commands/{device_id}` and its plugin's
 *   `city/{zone}/rejected/{plugin_id}`, for zones in its subtree (`+` only for a device with no zone);
 * - a plugin key: `city/{zone|+}/rejected/{plugin_id}` of its own plugin;
 * - a user who may monitor: `city/{zone}/commands/…` and `city/{zone}/rejected/…` for zones in
 *   their scope (`+` only when the scope is the whole tenant);
 * - the super admin: anything.
 *
 * @example
 *   authorizeMqttSubscribe(device, 'city/chennai-w119/commands/pump-7', ctx) // → { allow: true } for device pump-7 in w119
 */
export function authorizeMqttSubscribe(principal: Principal, filter: string, ctx: MqttPolicyContext): Verdict {
  if (principal.kind === 'anonymous') return { allow: false, error: cityError('AUTH_REQUIRED') };
  if (isSuperAdmin(principal)) return { allow: true };
  const tenant = tenantOf(principal);
  if (tenant !== ctx.nodeTenant) return { allow: false, error: cityError('AUTH_WRONG_TENANT', { tenant, nodeTenant: ctx.nodeTenant }) };

  const levels = filter.split('/');
  const channel = levels[2];
  if (levels.length !== 4 || levels[0] !== 'city' || (channel !== 'commands' && channel !== 'rejected')) {
    return refuse(principal, 'subscribe to', filter, 'subscriptions are to city/{zone}/commands/… or city/{zone}/rejected/…; raw events are not offered');
  }
  const zone = levels[1]!;
  const leaf = levels[3]!;
  const anyZone = zone === '+';
  if (!anyZone && /[+#]/.test(zone)) return refuse(principal, 'subscribe to', filter, 'the zone level is a zone id or +'); // MQTT-4.7.1-2/3

  switch (principal.kind) {
    case 'device': {
      const own = channel === 'commands' ? principal.deviceId : principal.pluginId;
      if (own === null || leaf !== own) {
        return refuse(principal, 'subscribe to', filter, channel === 'commands' ? `device ${principal.deviceId} receives only city/{zone}/commands/${principal.deviceId}` : `device ${principal.deviceId} follows only the refusals of its plugin (${principal.pluginId ?? 'none'})`);
      }
      if (principal.zoneId === null) return { allow: true };
      if (anyZone) return refuse(principal, 'subscribe to', filter, `device ${principal.deviceId} is installed in zone ${principal.zoneId}: name a zone in its subtree instead of +`);
      return zoneWithin(ctx.zones, zone, principal.zoneId)
        ? { allow: true }
        : { allow: false, error: cityError('AUTH_OUT_OF_SCOPE', { what: `topic ${filter}`, zoneId: zone, scope: `device ${principal.deviceId}: zone ${principal.zoneId} and below` }) };
    }
    case 'plugin':
      return channel === 'rejected' && leaf === principal.pluginId
        ? { allow: true }
        : refuse(principal, 'subscribe to', filter, `a plugin key follows only city/{zone}/rejected/${principal.pluginId}; commands go to devices`);
    case 'user': {
      const verdict = decide(principal, 'monitor', ctx.nodeTenant);
      if (!verdict.allow) return verdict;
      const scope = scopeOf(principal, ctx.zones);
      if (anyZone) return scope.all ? { allow: true } : refuse(principal, 'subscribe to', filter, `your scope is ${scope.describe()}: name a zone in it instead of +`);
      return scope.includes(zone) ? { allow: true } : { allow: false, error: cityError('AUTH_OUT_OF_SCOPE', { what: `topic ${filter}`, zoneId: zone, scope: scope.describe() }) };
    }
  }
  return refuse(principal, 'subscribe to', filter, 'unknown principal');
}

/** A user's credential on CONNECT: user name `jwt` (or their user id) and the access token as password. */
export const MQTT_JWT_USERNAME = 'jwt';

/**
 * Who is connecting (MQTT-3.1.3-4 user name, MQTT-3.1.3-5 password). The password is the
 * credential the HTTP API takes as a Bearer token: the admin token, a plugin or device key
 * (checked against its source allow-list with `remote`), or a user's access token. With a key
 * the user name is free text — plugins have always sent their model id, devices send their id —
 * because the key alone names its owner; with an access token it must be `jwt` or that user's id.
 * Throws the CityError that explains the refusal.
 */
export async function authenticateMqtt(deps: PolicyDeps, username: string | undefined, password: Buffer | undefined, remote: string | null): Promise<Principal> {
  const secret = password?.toString('utf8') ?? '';
  if (secret === '') throw cityError('AUTH_KEY_MISSING');
  // The same path as an HTTP request with `Authorization: Bearer <secret>`.
  const principal = await authenticate(deps, { authorization: `Bearer ${secret}` }, remote);
  // A password with white space in it is no key or token the node issued.
  if (principal.kind === 'anonymous') throw cityError('AUTH_KEY_INVALID', { pluginId: username || 'this client' });
  if (principal.kind === 'user' && username !== undefined && username !== '' && username !== MQTT_JWT_USERNAME && username !== principal.userId) {
    throw cityError('AUTH_TOKEN_INVALID', { reason: `it belongs to user ${principal.userId}, not ${username}; connect with user name ${MQTT_JWT_USERNAME} or your user id` });
  }
  return principal;
}

/** True when `zone` is `root` or below it; false for zones the tree does not know. */
function zoneWithin(tree: ZoneTree, zone: string, root: string): boolean {
  return tree.has(zone) && tree.has(root) && tree.isWithin(zone, root);
}

function refuse(principal: Principal, operation: string, topic: string, reason: string): { allow: false; error: CityError } {
  return { allow: false, error: cityError('AUTH_TOPIC_FORBIDDEN', { actor: actorId(principal), operation, topic, reason }) };
}
