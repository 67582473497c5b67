import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { PluginRegistry } from '../plugins/registry.js';
import type { AuditLog } from './audit.js';
import { DEVICE_LIMITS, type ChangedBy, type Devices } from './devices.js';
import { requires } from './policy.js';

export interface DeviceRouteOptions {
  devices: Devices;
  registry: PluginRegistry;
  audit: AuditLog;
}

const SECURITY = [{ adminToken: [] }];
const KEY_NOTE = 'Store this API key now: it is shown only once. The device sends it as X-API-Key (HTTP) or as its MQTT password.';

const DeviceParams = Type.Object({ device_id: Type.String({ minLength: 1, maxLength: 64 }) });
const ModelParams = Type.Object({ model_id: Type.String({ minLength: 1, maxLength: 64 }) });
const AllowedSources = Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
  maxItems: DEVICE_LIMITS.allowedSources,
  description: 'IPv4/IPv6 addresses or CIDR blocks the key may be used from (e.g. 10.20.0.0/16); empty = anywhere',
});
const nullableId = (description: string) => Type.Union([Type.String({ minLength: 1, maxLength: 64 }), Type.Null()], { description });
const ZONE_DESCRIPTION = 'Where it is installed: it publishes and subscribes only in this zone subtree; null = anywhere';
const PLUGIN_DESCRIPTION = 'The plugin whose events it publishes; null = it only receives commands';

const NewDeviceBody = Type.Object(
  {
    device_id: Type.String({ minLength: 1, maxLength: 64, description: 'Also the action target its commands are addressed to: city/{zone}/commands/{device_id}' }),
    name: Type.String({ minLength: 1, maxLength: DEVICE_LIMITS.nameChars }),
    zone_id: Type.Optional(nullableId(ZONE_DESCRIPTION)),
    plugin_id: Type.Optional(nullableId(PLUGIN_DESCRIPTION)),
    allowed_sources: Type.Optional(AllowedSources),
  },
  { additionalProperties: false },
);

const DevicePatchBody = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: DEVICE_LIMITS.nameChars })),
    zone_id: Type.Optional(nullableId(ZONE_DESCRIPTION)),
    plugin_id: Type.Optional(nullableId(PLUGIN_DESCRIPTION)),
    allowed_sources: Type.Optional(AllowedSources),
  },
  { additionalProperties: false, minProperties: 1 },
);

const AllowedSourcesBody = Type.Object({ allowed_sources: AllowedSources }, { additionalProperties: false });

const DeviceSchema = Type.Object({
  device_id: Type.String(),
  name: Type.String(),
  zone_id: Type.Union([Type.String(), Type.Null()]),
  plugin_id: Type.Union([Type.String(), Type.Null()]),
  allowed_sources: Type.Array(Type.String()),
  api_key_prefix: Type.String({ description: 'The first characters of the key, to tell keys apart; the key itself is never shown again' }),
  status: Type.Union([Type.Literal('active'), Type.Literal('revoked')]),
  created_at: Type.String({ format: 'date-time' }),
  rotated_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  revoked_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});
const DeviceWithKey = Type.Object({ device: DeviceSchema, api_key: Type.String(), note: Type.String() });

/**
 * Device registration and key management, and the key allow-list of plugins (the other kind of
 * machine key): tenant admins only (`configure`). Keys are shown once; every change writes an
 * audit row in the transaction that makes it (`device.create`, `device.update`,
 * `device.rotate_key`, `device.revoke`, `plugin.allowed_sources`).
 */
export async function deviceRoutes(app: FastifyInstance, opts: DeviceRouteOptions): Promise<void> {
  const { devices, registry, audit } = opts;
  const by = (request: FastifyRequest): ChangedBy => ({ actor: request.principal, remote: request.ip });

  app.get(
    '/api/v1/devices',
    { schema: { summary: 'List devices (active and revoked)', tags: ['devices'], security: SECURITY, response: { 200: Type.Object({ devices: Type.Array(DeviceSchema) }) } }, config: requires('configure') },
    async () => ({ devices: devices.list() }),
  );

  app.post<{ Body: Static<typeof NewDeviceBody> }>(
    '/api/v1/devices',
    {
      schema: { summary: 'Register a device and issue its key (shown once)', tags: ['devices'], body: NewDeviceBody, security: SECURITY, response: { 201: DeviceWithKey } },
      config: requires('configure'),
    },
    async (request, reply) => {
      const created = await devices.create(request.body, by(request));
      return reply.status(201).send({ ...created, note: KEY_NOTE });
    },
  );

  app.get<{ Params: Static<typeof DeviceParams> }>(
    '/api/v1/devices/:device_id',
    { schema: { summary: 'One device', tags: ['devices'], params: DeviceParams, security: SECURITY, response: { 200: DeviceSchema } }, config: requires('configure') },
    async (request) => devices.get(request.params.device_id),
  );

  app.patch<{ Params: Static<typeof DeviceParams>; Body: Static<typeof DevicePatchBody> }>(
    '/api/v1/devices/:device_id',
    {
      schema: { summary: "Change a device's name, zone, plugin or source allow-list (its key stays)", tags: ['devices'], params: DeviceParams, body: DevicePatchBody, security: SECURITY, response: { 200: DeviceSchema } },
      config: requires('configure'),
    },
    async (request) => devices.update(request.params.device_id, request.body, by(request)),
  );

  app.post<{ Params: Static<typeof DeviceParams> }>(
    '/api/v1/devices/:device_id/rotate-key',
    {
      schema: { summary: "Replace a device's key (shown once; the old one stops at once)", tags: ['devices'], params: DeviceParams, security: SECURITY, response: { 200: DeviceWithKey } },
      config: requires('configure'),
    },
    async (request) => ({ ...(await devices.rotateKey(request.params.device_id, by(request))), note: KEY_NOTE }),
  );

  app.post<{ Params: Static<typeof DeviceParams> }>(
    '/api/v1/devices/:device_id/revoke',
    {
      schema: { summary: "Revoke a device's key for good (the device stays on record)", tags: ['devices'], params: DeviceParams, security: SECURITY, response: { 200: DeviceSchema } },
      config: requires('configure'),
    },
    async (request) => devices.revoke(request.params.device_id, by(request)),
  );

  app.put<{ Params: Static<typeof ModelParams>; Body: Static<typeof AllowedSourcesBody> }>(
    '/api/v1/plugins/:model_id/allowed-sources',
    {
      schema: { summary: "Replace the source allow-list of a plugin's key (empty = anywhere)", tags: ['plugins'], params: ModelParams, body: AllowedSourcesBody, security: SECURITY },
      config: requires('configure'),
    },
    async (request) => {
      const { model_id: modelId } = request.params;
      const next = request.body.allowed_sources;
      return registry.setAllowedSources(modelId, next, (tx, previous) =>
        audit.recordIn(tx, { actor: request.principal, remote: request.ip, action: 'plugin.allowed_sources', target: { kind: 'plugin', id: modelId }, details: { previous, allowed_sources: next } }),
      );
    },
  );
}
