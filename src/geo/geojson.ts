/**
 * The small part of GeoJSON (RFC 7946) that zones need. Declared here rather than taken from
 * @types/geojson so the geo module has no type dependency to keep in step.
 */

/** `[longitude, latitude]`, optionally followed by an altitude that zones ignore. */
export type Position = number[];

/** A linear ring: closed (first position equals last), at least four positions. */
export type Ring = Position[];

export interface Polygon {
  type: 'Polygon';
  /** The outer ring first, then holes. */
  coordinates: Ring[];
}

export interface MultiPolygon {
  type: 'MultiPolygon';
  coordinates: Ring[][];
}

/** The geometries a zone may have. */
export type ZoneGeometry = Polygon | MultiPolygon;

/** `[minLng, minLat, maxLng, maxLat]`. */
export type BBox = [number, number, number, number];

export interface Feature<G = ZoneGeometry | null, P = Record<string, unknown>> {
  type: 'Feature';
  geometry: G;
  properties: P;
  id?: string | number;
}

export interface FeatureCollection<G = ZoneGeometry | null, P = Record<string, unknown>> {
  type: 'FeatureCollection';
  features: Feature<G, P>[];
  [foreignMember: string]: unknown;
}

/**
 * The polygons of a zone geometry as one list, so callers need not branch on the type.
 *
 * @example
 *   polygonsOf({ type: 'Polygon', coordinates: [ring] }); // → [[ring]]
 */
export function polygonsOf(geometry: ZoneGeometry): Ring[][] {
  return geometry.type === 'Polygon' ? [geometry.coordinates] : geometry.coordinates;
}

/* What the zone and road file parsers (zone-file.ts, road-file.ts) check alike. */

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The features of a GeoJSON FeatureCollection, or why `doc` is not one. */
export function featuresOf(doc: unknown): unknown[] | string {
  if (!isObject(doc) || doc.type !== 'FeatureCollection' || !Array.isArray(doc.features)) {
    return 'the top level must be a GeoJSON FeatureCollection: {"type": "FeatureCollection", "features": [...]}';
  }
  return doc.features;
}

/** Why a position is not a WGS 84 [longitude, latitude], or null (`path` names it in the answer). */
export function positionProblem(pos: unknown, path: string): string | null {
  if (!Array.isArray(pos) || pos.length < 2) return `${path} must be a [longitude, latitude] array`;
  const [lng, lat] = pos as unknown[];
  if (typeof lng !== 'number' || !Number.isFinite(lng) || lng < -180 || lng > 180) return `${path} longitude must be a number from -180 to 180`;
  if (typeof lat !== 'number' || !Number.isFinite(lat) || lat < -90 || lat > 90) return `${path} latitude must be a number from -90 to 90`;
  return null;
}

/**
 * A JSON file as text → value, the byte-order mark dropped; a syntax error says where by line
 * and column (Node 20 gives only a character offset, and people fix files by line).
 */
export function parseJsonText(text: string): { value: unknown } | { error: string } {
  try {
    return { value: JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text) };
  } catch (err) {
    const message = (err as Error).message;
    const m = /at position (\d+)/.exec(message);
    if (!m || /line \d+/.test(message)) return { error: message };
    const before = text.slice(0, Number(m[1]));
    const line = before.split('\n').length;
    const column = before.length - before.lastIndexOf('\n');
    return { error: `${message} (line ${line}, column ${column})` };
  }
}
