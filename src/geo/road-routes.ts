import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { requires } from '../auth/policy.js';
import type { AuditLog } from '../auth/audit.js';
import { cityError } from '../errors.js';
import { route } from './road-graph.js';
import type { RoadNetwork } from './roads.js';
import type { ZoneTree } from './zones.js';

export interface RoadRouteOptions {
  /** The current network (it is replaced, not changed, so each request reads one). */
  roads: () => RoadNetwork;
  /** Checks, stores and switches to a road file (RoadService.replace). */
  replace: (doc: unknown) => Promise<RoadNetwork>;
  zones: () => ZoneTree;
  audit: AuditLog;
  /** A city's road file runs to tens of megabytes. */
  maxRoadFileBytes: number;
}

const LAT = Type.Number({ minimum: -90, maximum: 90 });
const LNG = Type.Number({ minimum: -180, maximum: 180 });
const round1 = (v: number): number => Math.round(v * 10) / 10;

/**
 * The road network as GeoJSON (public geography, like the zones), the shortest route between
 * two points with its parts per zone, and the replacement of the network by a road file.
 */
export async function roadRoutes(app: FastifyInstance, opts: RoadRouteOptions): Promise<void> {
  app.get<{ Querystring: { zone?: string } }>(
    '/api/v1/roads',
    {
      schema: {
        summary: 'Roads as a GeoJSON FeatureCollection (road_id, name, kind, length_m, zone_ids); "source" says whether they come from a road file or link neighbouring wards',
        tags: ['roads'],
        querystring: Type.Object({ zone: Type.Optional(Type.String({ maxLength: 64, description: 'only the roads in this zone and the zones below it' })) }),
      },
      config: requires('public'),
    },
    async (request) => {
      const { zone } = request.query;
      return opts.roads().toFeatureCollection(zone === undefined ? {} : { zoneIds: opts.zones().subtreeIds(zone) });
    },
  );

  app.get<{ Querystring: { from_lat: number; from_lng: number; to_lat: number; to_lng: number; by?: 'time' | 'distance'; speed_factor?: number } }>(
    '/api/v1/roads/route',
    {
      schema: {
        summary: 'The shortest route between two points as a GeoJSON LineString Feature with its length, ETA and its part in each zone',
        tags: ['roads'],
        querystring: Type.Object({
          from_lat: LAT,
          from_lng: LNG,
          to_lat: LAT,
          to_lng: LNG,
          by: Type.Optional(Type.Union([Type.Literal('time'), Type.Literal('distance')], { description: 'least travel time (default) or least distance' })),
          speed_factor: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 5, description: 'multiplies road speeds for the ETA, e.g. 1.5 for an emergency vehicle' })),
        }),
      },
      config: requires('monitor'),
    },
    async (request) => {
      const q = request.query;
      const network = opts.roads();
      const tree = opts.zones();
      const from = `${q.from_lat},${q.from_lng}`;
      const to = `${q.to_lat},${q.to_lng}`;
      const found = route(network, { lng: q.from_lng, lat: q.from_lat }, { lng: q.to_lng, lat: q.to_lat }, { by: q.by ?? 'time', speedFactor: q.speed_factor ?? 1 });
      if (!found) throw cityError('ROAD_PATH_NOT_FOUND', { from, to, reason: 'the road network is empty: load a road file (PUT /api/v1/roads) or zones with neighbourhood boundaries' });
      const end = (snap: { node: number; distance_m: number }) => ({ node: network.position(snap.node), zone_id: network.zoneOfNode(snap.node), snap_m: round1(snap.distance_m) });
      if (!found.path) {
        const where = (snap: { node: number }): string => {
          const [lng, lat] = network.position(snap.node) as [number, number];
          return `${network.zoneOfNode(snap.node) ?? 'no zone'} (node at ${lat.toFixed(6)},${lng.toFixed(6)})`;
        };
        const reason =
          network.source === 'file'
            ? `the loaded road file has no way from ${where(found.from)} to ${where(found.to)}, one-way streets respected; load a road file that connects them (PUT /api/v1/roads)`
            : `no chain of neighbouring wards leads from ${where(found.from)} to ${where(found.to)}; load a road file that connects them (PUT /api/v1/roads)`;
        throw cityError('ROAD_PATH_NOT_FOUND', { from, to, reason });
      }
      const { path } = found;
      const name = (id: string | null): string | null => (id !== null && tree.has(id) ? tree.get(id).name : null);
      return {
        type: 'Feature',
        // A LineString needs two positions: a route that starts where it ends repeats its one point.
        geometry: { type: 'LineString', coordinates: path.coordinates.length > 1 ? path.coordinates : [path.coordinates[0], path.coordinates[0]] },
        properties: {
          length_m: round1(path.length_m),
          eta_s: round1(path.eta_s),
          by: q.by ?? 'time',
          speed_factor: q.speed_factor ?? 1,
          source: network.source,
          from: end(found.from),
          to: end(found.to),
          segments: path.segments.map((s) => ({ zone_id: s.zone_id, zone_name: name(s.zone_id), length_m: round1(s.length_m), eta_s: round1(s.eta_s), coordinates: s.coordinates })),
        },
      };
    },
  );

  app.put(
    '/api/v1/roads',
    {
      bodyLimit: opts.maxRoadFileBytes,
      schema: {
        summary: 'Replace the road network with a road file: a GeoJSON FeatureCollection of LineStrings (properties name, highway, maxspeed or speed_kmh, oneway)',
        tags: ['roads'],
        security: [{ adminToken: [] }],
      },
      config: requires('configure'),
    },
    async (request) => {
      const network = await opts.replace(request.body);
      const summary = { roads: network.roads.length, nodes: network.nodeCount, edges: network.edges.length };
      await opts.audit.record({ actor: request.principal, action: 'roads.replace', target: { kind: 'road_network', id: 'all' }, remote: request.ip, details: summary });
      return { source: network.source, ...summary };
    },
  );
}
