import { readFile } from 'node:fs/promises';
import { cityError } from '../errors.js';
import { featuresOf, isObject, parseJsonText, positionProblem } from './geojson.js';

/** Which way traffic may go along a line, relative to the order of its coordinates. */
export type OneWay = 'both' | 'forward' | 'backward';

/** One line of a road file, checked, with its speed and direction settled. */
export interface RoadLine {
  /** `r<feature>` or `r<feature>.<part>` for the parts of a MultiLineString. */
  roadId: string;
  name: string | null;
  /** The road class (OpenStreetMap `highway`, or `kind`), e.g. `primary`; null when not given. */
  highway: string | null;
  speedKmh: number;
  oneway: OneWay;
  coordinates: Array<[number, number]>;
}

/**
 * Speeds by road class when a line has neither `speed_kmh` nor a usable `maxspeed`: typical
 * free-flow speeds in an Indian city, not legal limits. Classes are OpenStreetMap's `highway`.
 */
export const SPEEDS_BY_CLASS_KMH: Readonly<Record<string, number>> = {
  motorway: 80, motorway_link: 40, trunk: 60, trunk_link: 40, primary: 50, primary_link: 30,
  secondary: 40, secondary_link: 30, tertiary: 35, tertiary_link: 25, unclassified: 30,
  residential: 25, living_street: 10, service: 15, road: 30,
};
export const DEFAULT_ROAD_SPEED_KMH = 30;
const MAX_SPEED_KMH = 300;

/**
 * Checks a road file — a GeoJSON FeatureCollection of LineString or MultiLineString features
 * with optional properties `name`, `highway` (or `kind`), `speed_kmh` (or OpenStreetMap
 * `maxspeed`, "50", "50 km/h" or "30 mph") and `oneway` (true, "yes", "1", "-1", …) — and
 * returns its lines. The first problem is reported with the feature's index and name.
 *
 * @example
 *   parseRoadFile({ type: 'FeatureCollection', features: [{ type: 'Feature', properties: { name: 'Anna Salai' },
 *     geometry: { type: 'LineString', coordinates: [[80.25, 13.05], [80.26, 13.06]] } }] });
 *   // → [{ roadId: 'r0', name: 'Anna Salai', highway: null, speedKmh: 30, oneway: 'both', coordinates: [...] }]
 * @throws CITY_ERR_ROADS_INVALID
 */
export function parseRoadFile(doc: unknown, source?: string): RoadLine[] {
  const fail = (reason: string): never => {
    throw cityError('ROADS_INVALID', { reason: source ? `${source}: ${reason}` : reason });
  };
  const features = featuresOf(doc);
  if (typeof features === 'string') return fail(features);
  if (features.length === 0) return fail('"features" is empty: a road file needs at least one LineString');
  const lines: RoadLine[] = [];
  features.forEach((feature: unknown, i: number) => {
    if (!isObject(feature) || feature.type !== 'Feature') return fail(`feature ${i} must be an object with "type": "Feature"`);
    const props = feature.properties ?? {};
    if (!isObject(props)) return fail(`feature ${i}: "properties" must be an object or null`);
    const where = typeof props.name === 'string' ? `feature ${i} (name ${JSON.stringify(props.name)})` : `feature ${i}`;
    const bad = (what: string): never => fail(`${where}: ${what}`);
    if (props.name !== undefined && props.name !== null && typeof props.name !== 'string') bad('property "name" must be a string');
    const highway = props.highway ?? props.kind ?? null;
    if (highway !== null && typeof highway !== 'string') bad('property "highway" (or "kind") must be a string such as "primary" or "residential"');
    const speedKmh = speedOf(props, highway as string | null, bad);
    const oneway = onewayOf(props, highway as string | null, bad);
    const parts = linesOf(feature.geometry, bad);
    parts.forEach((line, p) => {
      if (line.every(([x, y]) => x === line[0]![0] && y === line[0]![1])) bad(`${parts.length === 1 ? 'the line' : `line ${p}`} has no length: all its positions are the same point`);
    });
    parts.forEach((coordinates, p) => {
      lines.push({ roadId: parts.length === 1 ? `r${i}` : `r${i}.${p}`, name: (props.name as string | undefined) ?? null, highway: highway as string | null, speedKmh, oneway, coordinates });
    });
  });
  return lines;
}

/**
 * Reads a road file from disk as JSON, for `parseRoadFile` or `RoadService.replace` (pass the
 * path as their `source`, so problems name the file).
 *
 * @throws CITY_ERR_ROADS_INVALID when the file cannot be read or is not JSON
 */
export async function readRoadFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw cityError('ROADS_INVALID', { reason: `${path} could not be read: ${(err as Error).message}` }, err);
  }
  const parsed = parseJsonText(text);
  if ('error' in parsed) throw cityError('ROADS_INVALID', { reason: `${path} is not valid JSON: ${parsed.error}` });
  return parsed.value;
}

function speedOf(props: Record<string, unknown>, highway: string | null, bad: (what: string) => never): number {
  const own = props.speed_kmh;
  if (own !== undefined && own !== null) {
    if (typeof own !== 'number' || !(own > 0 && own <= MAX_SPEED_KMH)) bad(`property "speed_kmh" must be a number above 0 and at most ${MAX_SPEED_KMH}`);
    return own as number;
  }
  // OpenStreetMap values such as "IN:urban", "signals" or "walk" carry no number: the class decides.
  const max = props.maxspeed;
  if (typeof max === 'number' && max > 0 && max <= MAX_SPEED_KMH) return max;
  if (typeof max === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(km\/h|kmh|kph|mph)?\s*$/i.exec(max);
    const value = m ? Number(m[1]) * (m[2]?.toLowerCase() === 'mph' ? 1.609344 : 1) : NaN;
    if (value > 0 && value <= MAX_SPEED_KMH) return value;
  }
  return (highway !== null ? SPEEDS_BY_CLASS_KMH[highway] : undefined) ?? DEFAULT_ROAD_SPEED_KMH;
}

function onewayOf(props: Record<string, unknown>, highway: string | null, bad: (what: string) => never): OneWay {
  const value = props.oneway;
  if (value === undefined || value === null) {
    // OpenStreetMap: roundabouts and motorways are one-way without saying so.
    return props.junction === 'roundabout' || highway === 'motorway' ? 'forward' : 'both';
  }
  if (value === true || value === 1 || value === 'yes' || value === 'true' || value === '1') return 'forward';
  if (value === -1 || value === '-1' || value === 'reverse') return 'backward';
  // "reversible" and "alternating" change direction during the day: either way may be open.
  if (value === false || value === 0 || value === 'no' || value === 'false' || value === '0' || value === 'reversible' || value === 'alternating') return 'both';
  return bad(`property "oneway" is ${JSON.stringify(value)}; use true or "yes" (along the line), "-1" (against it) or false/"no"`);
}

function linesOf(geometry: unknown, bad: (what: string) => never): Array<Array<[number, number]>> {
  if (!isObject(geometry)) return bad('geometry must be a LineString or MultiLineString, not null');
  if (geometry.type === 'LineString') return [lineOf(geometry.coordinates, 'geometry.coordinates', bad)];
  if (geometry.type === 'MultiLineString') {
    if (!Array.isArray(geometry.coordinates) || geometry.coordinates.length === 0) bad('geometry.coordinates must be a non-empty array of lines');
    return (geometry.coordinates as unknown[]).map((line, p) => lineOf(line, `geometry.coordinates[${p}]`, bad));
  }
  return bad(`geometry must be a LineString or MultiLineString, not ${JSON.stringify(geometry.type)}`);
}

function lineOf(line: unknown, path: string, bad: (what: string) => never): Array<[number, number]> {
  if (!Array.isArray(line) || line.length < 2) return bad(`${path} must be an array of at least 2 positions`);
  return line.map((pos: unknown, k): [number, number] => {
    const problem = positionProblem(pos, `${path}[${k}]`);
    if (problem) return bad(problem);
    return [(pos as number[])[0]!, (pos as number[])[1]!];
  });
}
