import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { requires } from '../auth/policy.js';
import type { AuditLog } from '../auth/audit.js';
import { ZONE_LEVELS, type ZoneLevel } from './zones.js';
import { parseZoneFile } from './zone-file.js';
import type { ZoneService } from './zone-service.js';

export interface ZoneRouteOptions {
  zones: ZoneService;
  audit: AuditLog;
  /** Zone files can be large (Chennai's wards are ~1 MB). */
  maxZoneFileBytes: number;
}

/**
 * The tenant's zone tree as GeoJSON (public geography: readable without a token) and its
 * replacement by an administrator.
 */
export async function zoneRoutes(app: FastifyInstance, opts: ZoneRouteOptions): Promise<void> {
  const { zones } = opts;

  app.get<{ Querystring: { level?: ZoneLevel } }>(
    '/api/v1/zones',
    {
      schema: {
        summary: 'Zones as a GeoJSON FeatureCollection (zone_id, name, level, parent_id)',
        tags: ['zones'],
        querystring: Type.Object({ level: Type.Optional(Type.Union(ZONE_LEVELS.map((l) => Type.Literal(l)))) }),
      },
      config: requires('public'),
    },
    async (request) => zones.tree.toFeatureCollection(request.query.level ? { level: request.query.level } : {}),
  );

  app.get<{ Querystring: { lat: number; lng: number } }>(
    '/api/v1/zones/locate',
    {
      schema: {
        summary: 'The deepest zone containing a point, with its ancestors',
        tags: ['zones'],
        querystring: Type.Object({ lat: Type.Number({ minimum: -90, maximum: 90 }), lng: Type.Number({ minimum: -180, maximum: 180 }) }),
      },
      config: requires('public'),
    },
    async (request) => {
      const id = zones.locate(request.query.lng, request.query.lat);
      return {
        zone_id: id,
        path: id === null ? [] : [id, ...zones.tree.ancestors(id).map((z) => z.id)],
      };
    },
  );

  app.get<{ Params: { zone_id: string } }>(
    '/api/v1/zones/:zone_id',
    { schema: { summary: 'One zone with its parent chain and children', tags: ['zones'], params: Type.Object({ zone_id: Type.String({ maxLength: 64 }) }) }, config: requires('public') },
    async (request) => {
      const zone = zones.tree.get(request.params.zone_id);
      return {
        zone_id: zone.id,
        name: zone.name,
        level: zone.level,
        parent_id: zone.parentId,
        ancestors: zones.tree.ancestors(zone.id).map((z) => z.id),
        children: zones.tree.children(zone.id).map((z) => z.id),
        properties: zone.properties,
        geometry: zone.geometry,
      };
    },
  );

  app.put(
    '/api/v1/zones',
    {
      bodyLimit: opts.maxZoneFileBytes,
      schema: { summary: 'Replace the zone tree with a zone file (GeoJSON FeatureCollection)', tags: ['zones'], security: [{ adminToken: [] }] },
      config: requires('configure'),
    },
    async (request) => {
      const parsed = parseZoneFile(JSON.stringify(request.body), 'request body');
      await zones.replace(parsed);
      await opts.audit.record({ actor: request.principal, action: 'zones.replace', target: { kind: 'zone_tree', id: 'all' }, remote: request.ip, details: { zones: parsed.length } });
      return { zones: parsed.length };
    },
  );
}
