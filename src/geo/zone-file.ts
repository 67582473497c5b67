import { readFile } from 'node:fs/promises';
import { cityError } from '../errors.js';
import { featuresOf, isObject, parseJsonText, positionProblem, type Ring, type ZoneGeometry } from './geojson.js';
import { describeItem, isZoneLevel, validateZones, ZONE_LEVELS, type Zone, type ZoneWording } from './zones.js';

const FILE_WORDING: ZoneWording = {
  item: 'feature',
  idKey: 'zone_id',
  field: { id: 'property "zone_id"', parentId: 'property "parent_id"', level: 'property "level"' },
};

const RESERVED = new Set(['zone_id', 'name', 'level', 'parent_id']);
const DEFAULT_SOURCE = 'zone file';

/**
 * Parses the project's zone file: a GeoJSON FeatureCollection whose features carry
 * `properties: { zone_id, name, level, parent_id }` (parent_id null or absent for a root) and a
 * Polygon, MultiPolygon or null geometry. Other properties are kept in `Zone.properties`. The
 * whole file is checked, tree included, and the first problem is reported with the feature
 * index and property.
 *
 * @example
 *   parseZoneFile('{"type":"FeatureCollection","features":[{"type":"Feature","geometry":null,' +
 *     '"properties":{"zone_id":"in","name":"India","level":"nation"}}]}');
 *   // → [{ id: 'in', name: 'India', level: 'nation', parentId: null, geometry: null, properties: {} }]
 * @throws CITY_ERR_ZONE_FILE_INVALID
 */
export function parseZoneFile(text: string, source = DEFAULT_SOURCE): Zone[] {
  const fail = (reason: string): never => {
    throw cityError('ZONE_FILE_INVALID', { reason: source === DEFAULT_SOURCE ? reason : `${source}: ${reason}`, source });
  };
  const parsed = parseJsonText(text);
  if ('error' in parsed) return fail(`it is not valid JSON: ${parsed.error}`);
  const features = featuresOf(parsed.value);
  if (typeof features === 'string') return fail(features);
  const zones = features.map((feature: unknown, i: number): Zone => {
    if (!isObject(feature) || feature.type !== 'Feature') return fail(`feature ${i} must be an object with "type": "Feature"`);
    const props = feature.properties;
    if (!isObject(props)) return fail(`feature ${i}: "properties" must be an object holding zone_id, name, level and parent_id`);
    const where = describeItem(FILE_WORDING, i, props.zone_id);
    const bad = (what: string): never => fail(`${where}: ${what}`);
    const { zone_id: id, name, level, parent_id: parentId } = props;
    if (typeof id !== 'string') return bad('property "zone_id" must be a string');
    if (typeof name !== 'string' || name.trim() === '') bad('property "name" must be a non-empty string');
    if (!isZoneLevel(level)) return bad(`property "level" must be one of ${ZONE_LEVELS.join(', ')}`);
    if (parentId !== undefined && parentId !== null && typeof parentId !== 'string') {
      bad('property "parent_id" must be a zone_id string, or null for a root');
    }
    const geometryProblem = checkGeometry(feature.geometry);
    if (geometryProblem) bad(geometryProblem);
    const properties = Object.fromEntries(Object.entries(props).filter(([key]) => !RESERVED.has(key)));
    return {
      id,
      name: name as string,
      level,
      parentId: (parentId as string | null | undefined) ?? null,
      geometry: (feature.geometry as ZoneGeometry | null | undefined) ?? null,
      properties,
    };
  });
  try {
    validateZones(zones, FILE_WORDING);
  } catch (err) {
    return fail(String((err as { details?: { reason?: unknown } }).details?.reason ?? err));
  }
  return zones;
}

/**
 * Reads and parses a zone file; the path becomes the source named in errors.
 *
 * @example
 *   const tree = new ZoneTree(await loadZoneFile('examples/cities/chennai/city.geojson'));
 * @throws CITY_ERR_ZONE_FILE_INVALID, also when the file cannot be read
 */
export async function loadZoneFile(path: string): Promise<Zone[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw cityError('ZONE_FILE_INVALID', { reason: `${path} could not be read: ${(err as Error).message}`, source: path }, err);
  }
  return parseZoneFile(text, path);
}

/** Why a feature's geometry is unusable, or null; GeoJSON rules plus WGS 84 ranges. */
function checkGeometry(geometry: unknown): string | null {
  if (geometry === null || geometry === undefined) return null;
  if (!isObject(geometry) || (geometry.type !== 'Polygon' && geometry.type !== 'MultiPolygon')) {
    return 'geometry must be a Polygon, a MultiPolygon or null';
  }
  const coords = geometry.coordinates;
  if (!Array.isArray(coords) || coords.length === 0) return 'geometry.coordinates must be a non-empty array';
  const polygons = geometry.type === 'Polygon' ? [coords] : coords;
  for (let p = 0; p < polygons.length; p++) {
    const path = geometry.type === 'Polygon' ? 'geometry.coordinates' : `geometry.coordinates[${p}]`;
    const rings: unknown = polygons[p];
    if (!Array.isArray(rings) || rings.length === 0) return `${path} must be a non-empty array of rings`;
    for (let r = 0; r < rings.length; r++) {
      const problem = checkRing(rings[r]);
      if (problem) return `${path}[${r}]${problem}`;
    }
  }
  return null;
}

function checkRing(ring: unknown): string | null {
  if (!Array.isArray(ring) || ring.length < 4) return ' must be a ring of at least 4 positions';
  for (let i = 0; i < ring.length; i++) {
    const problem = positionProblem(ring[i], `[${i}]`);
    if (problem) return problem;
  }
  const first = ring[0] as Ring[number];
  const last = ring[ring.length - 1] as Ring[number];
  if (first[0] !== last[0] || first[1] !== last[1]) return ' is not closed: its first and last positions differ';
  return null;
}
