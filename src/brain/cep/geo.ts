// Distances come from the one geodesy module (src/geo/geodesy.ts); the grid below is the CEP's own.
import { distanceM, metresPerDegreeLat, metresPerDegreeLng } from '../../geo/geodesy.js';

export { distanceM, metresPerDegreeLat, metresPerDegreeLng };

/** Smallest grid cell: below this a cell holds so few events that more cells cost more than they save. */
const MIN_CELL_M = 25;
/**
 * Cell keys are 30-bit integers: 15 bits of row and column counted from the grid's first point,
 * wrapping every 32,768 cells (over 800 km). Small integers are what a Map hashes fastest:
 * measured here, keys of 2^41 (heap numbers) cost ~200 ns a lookup in a 30,000-cell map against
 * ~20 ns for these. Cells 800 km apart sharing a key is harmless — every candidate's distance is
 * checked exactly — and no city spans that.
 */
const MASK = 0x7fff;

/**
 * A square-ish grid of cells about `cellM` metres wide, for finding the events near a point
 * without looking at the others. The degrees per cell are fixed at the first point the grid sees
 * (a node covers one city); a query elsewhere still finds every cell it needs, as the covering
 * is computed with the metres-per-degree at the query's own latitude.
 */
export class Grid {
  readonly cellM: number;
  #dLat = 0;
  #dLng = 0;
  /** Row and column of the first point's cell: keys count from here. */
  #y0 = 0;
  #x0 = 0;

  constructor(cellM: number) {
    this.cellM = Math.max(cellM, MIN_CELL_M);
  }

  #init(lat: number, lng: number): void {
    this.#dLat = this.cellM / metresPerDegreeLat(lat);
    // Near the poles a degree of longitude shrinks to nothing; clamp so cells stay finite.
    this.#dLng = Math.min(360, this.cellM / Math.max(metresPerDegreeLng(lat), metresPerDegreeLng(89)));
    this.#y0 = Math.floor(lat / this.#dLat);
    this.#x0 = Math.floor(lng / this.#dLng);
  }

  #key(y: number, x: number): number {
    return (((y - this.#y0) & MASK) << 15) | ((x - this.#x0) & MASK);
  }

  /** The cell key of a point. */
  key(lat: number, lng: number): number {
    if (this.#dLat === 0) this.#init(lat, lng);
    return this.#key(Math.floor(lat / this.#dLat), Math.floor(lng / this.#dLng));
  }

  /**
   * The keys of every cell that may hold a point within `radiusM` of (lat, lng), written into
   * `out` (which is cleared first), the point's own cell first: a nearest-in-time search that
   * starts there finds a close candidate early and looks at less of the other cells. Returns `out`.
   */
  cover(lat: number, lng: number, radiusM: number, out: number[]): number[] {
    out.length = 0;
    if (this.#dLat === 0) this.#init(lat, lng);
    // A little slack so that the rounding of the projection never loses a boundary cell.
    const r = radiusM * 1.01;
    const dLatQ = r / metresPerDegreeLat(lat);
    const edge = Math.min(89.9, Math.abs(lat) + dLatQ);
    const dLngQ = Math.min(180, r / metresPerDegreeLng(edge));
    const y0 = Math.floor((lat - dLatQ) / this.#dLat);
    const y1 = Math.floor((lat + dLatQ) / this.#dLat);
    const x0 = Math.floor((lng - dLngQ) / this.#dLng);
    const x1 = Math.floor((lng + dLngQ) / this.#dLng);
    const yc = Math.floor(lat / this.#dLat);
    const xc = Math.floor(lng / this.#dLng);
    out.push(this.#key(yc, xc));
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) if (y !== yc || x !== xc) out.push(this.#key(y, x));
    }
    return out;
  }
}
