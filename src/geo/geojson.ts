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
