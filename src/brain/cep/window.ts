/**
 * One role's time window of a correlation rule: the recent events that played the role, bounded
 * in count (oldest evicted first, and counted) and in time (older than the newest event time seen
 * minus the window, dropped lazily), indexed by place so that a query looks only at nearby cells.
 *
 * Two structures share the entries: an arrival-order queue (what to evict) and cells keyed by
 * grid square, zone and/or match_on key, each sorted by event time (what to look at). An entry
 * removed early (a trigger that fired, events a count used up) leaves a dead slot in the queue,
 * skipped when reached and compacted away when dead slots outnumber live ones.
 */
import type { ScreenedEvent } from '../../decisions/types.js';
import { distanceM, Grid } from './geo.js';

/**
 * An event in a role's window, with what the role screen read from it. The fields a query reads
 * (time, place, zone, id) are copied out of the event, so that checking a candidate reads one
 * object rather than two: queries are bound by memory latency (entries lie scattered in the heap).
 */
export class Entry {
  /** In a window (set by add; cleared when it leaves by expiry, eviction or remove). */
  alive = false;
  /** The cell the entry sits in, once added to a window. */
  key: number | string = 0;
  readonly ts: number;
  readonly lat: number | null;
  readonly lng: number | null;
  readonly zoneId: string | null;
  readonly eventId: string;

  constructor(
    readonly ev: ScreenedEvent,
    /** The role's condition values and the rule's match_on values (RoleHit.values). */
    readonly values: Record<string, unknown>,
    /** The match_on values as one string ('' when the rule has no match_on). */
    readonly mkey: string,
    /** Arrival number, to order events of equal time as they came. */
    readonly seq: number,
  ) {
    this.ts = ev.tsMs;
    this.lat = ev.lat;
    this.lng = ev.lng;
    this.zoneId = ev.zoneId;
    this.eventId = ev.eventId;
  }
}

export interface WindowShape {
  /** Grid cell size in metres when every query against this window has a radius; else null. */
  cellM: number | null;
  /** With no grid: cells keyed by zone, when every query needs the same zone. */
  byZone: boolean;
  /** Most live entries kept; beyond it the oldest arrival is evicted. */
  capacity: number;
  /** Entries older than (newest event time − retentionMs) are dropped; Infinity = never. */
  retentionMs: number;
}

/** Where and how far to look, relative to a probe entry. */
export interface Reach {
  radiusM: number | null;
  sameZone: boolean;
}

/** Entries of one cell sorted by time, with their times alongside (binary search reads only `times`). */
class Cell {
  items: Entry[] = [];
  times: number[] = [];
  head = 0;
}

/** First index in [lo, hi) whose time is ≥ ts. */
function lowerBound(times: readonly number[], lo: number, hi: number, ts: number): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (times[mid]! < ts) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class RoleWindow {
  /** Live entries. */
  size = 0;
  /** Entries evicted because the window was full. */
  evicted = 0;
  readonly #shape: WindowShape;
  readonly #grid: Grid | null;
  /** Arrival order; slots before #head are gone. */
  #order: Entry[] = [];
  #head = 0;
  readonly #cells = new Map<number | string, Cell>();
  /** Scratch for cell keys of a query (queries do not nest within one window). */
  readonly #cover: number[] = [];
  readonly #coverKeys: Array<number | string> = [];

  constructor(shape: WindowShape) {
    this.#shape = shape;
    this.#grid = shape.cellM === null ? null : new Grid(shape.cellM);
  }

  /** The cell an event with this match key belongs in, or null when it cannot be placed (no location, no zone). */
  keyOf(ev: ScreenedEvent, mkey: string): number | string | null {
    if (this.#grid !== null) {
      if (ev.lat === null || ev.lng === null) return null;
      const k = this.#grid.key(ev.lat, ev.lng);
      return mkey === '' ? k : `${mkey}\u0001${k}`;
    }
    if (this.#shape.byZone) return ev.zoneId === null ? null : `${ev.zoneId}\u0002${mkey}`;
    return mkey;
  }

  /** Adds an entry (whose `key` is set from keyOf), first dropping expired entries and, when full, the oldest. */
  add(entry: Entry, watermarkMs: number): void {
    this.expire(watermarkMs);
    if (this.size >= this.#shape.capacity) this.#evictOldest();
    entry.alive = true;
    this.#order.push(entry);
    let cell = this.#cells.get(entry.key);
    if (cell === undefined) {
      cell = new Cell();
      this.#cells.set(entry.key, cell);
    }
    // Sorted by event time: nearly always an append; a late event moves back a few places.
    const { items, times } = cell;
    const ts = entry.ts;
    let k = items.length;
    items.push(entry);
    times.push(ts);
    while (k > cell.head && times[k - 1]! > ts) {
      items[k] = items[k - 1]!;
      times[k] = times[k - 1]!;
      k--;
    }
    items[k] = entry;
    times[k] = ts;
    this.size++;
    if (this.#order.length - this.#head > 2 * this.size + 1024) this.#compactOrder();
  }

  /** Takes a live entry out (it fired, was used up or was closed); a no-op for one not in a window. */
  remove(entry: Entry): void {
    if (!entry.alive) return;
    entry.alive = false;
    this.size--;
    this.#removeFromCell(entry);
  }

  /** Drops entries older than the retention, oldest arrivals first. */
  expire(watermarkMs: number): void {
    const horizon = watermarkMs - this.#shape.retentionMs;
    const order = this.#order;
    let head = this.#head;
    while (head < order.length) {
      const e = order[head]!;
      if (e.alive) {
        if (e.ts >= horizon) break;
        e.alive = false;
        this.size--;
        this.#removeFromCell(e);
      }
      head++;
    }
    this.#head = head;
    if (head > 1024 && head * 2 > order.length) this.#compactOrder();
  }

  /** Every live entry, oldest arrival first (for tests and the API; not a hot path). */
  *entries(): IterableIterator<Entry> {
    for (let i = this.#head; i < this.#order.length; i++) {
      const e = this.#order[i]!;
      if (e.alive) yield e;
    }
  }

  /**
   * The live entry nearest in time to the probe with |Δt| ≤ maxDtMs, within reach and with the
   * probe's match key, whose event is none of `exclude`; null if there is none.
   */
  nearest(probe: Entry, maxDtMs: number, reach: Reach, exclude: readonly string[]): Entry | null {
    const keys = this.#keysNear(probe, reach);
    const ts = probe.ts;
    let best: Entry | null = null;
    let bestDt = maxDtMs;
    for (let c = 0; c < keys.length; c++) {
      const cell = this.#cells.get(keys[c]!);
      if (cell === undefined) continue;
      const { items, times } = cell;
      const at = lowerBound(times, cell.head, times.length, ts);
      for (let i = at; i < times.length; i++) {
        const dt = times[i]! - ts;
        if (dt > bestDt) break;
        const e = items[i]!;
        if (fits(probe, e, reach, exclude)) {
          if (dt < bestDt || best === null) {
            best = e;
            bestDt = dt;
          }
          break;
        }
      }
      for (let i = at - 1; i >= cell.head; i--) {
        const dt = ts - times[i]!;
        if (dt > bestDt) break;
        const e = items[i]!;
        if (fits(probe, e, reach, exclude)) {
          if (dt < bestDt || best === null) {
            best = e;
            bestDt = dt;
          }
          break;
        }
      }
    }
    return best;
  }

  /** The live entry earliest in time with loMs ≤ ts ≤ hiMs (ties: first arrival), within reach, none of `exclude`. */
  earliest(probe: Entry, loMs: number, hiMs: number, reach: Reach, exclude: readonly string[]): Entry | null {
    const keys = this.#keysNear(probe, reach);
    let best: Entry | null = null;
    for (let c = 0; c < keys.length; c++) {
      const cell = this.#cells.get(keys[c]!);
      if (cell === undefined) continue;
      const { items, times } = cell;
      for (let i = lowerBound(times, cell.head, times.length, loMs); i < times.length; i++) {
        const t = times[i]!;
        if (t > hiMs || (best !== null && t > best.ts)) break;
        const e = items[i]!;
        if (fits(probe, e, reach, exclude)) {
          if (best === null || t < best.ts || e.seq < best.seq) best = e;
          break;
        }
      }
    }
    return best;
  }

  /** Appends to `out` every live entry with loMs ≤ ts ≤ hiMs within reach, except the event `excludeId`. */
  collect(probe: Entry, loMs: number, hiMs: number, reach: Reach, excludeId: string | null, out: Entry[]): void {
    const keys = this.#keysNear(probe, reach);
    const exclude = excludeId === null ? NONE : [excludeId];
    for (let c = 0; c < keys.length; c++) {
      const cell = this.#cells.get(keys[c]!);
      if (cell === undefined) continue;
      const { items, times } = cell;
      for (let i = lowerBound(times, cell.head, times.length, loMs); i < times.length; i++) {
        if (times[i]! > hiMs) break;
        const e = items[i]!;
        if (fits(probe, e, reach, exclude)) out.push(e);
      }
    }
  }

  /** The keys of the cells a query from the probe must look at. */
  #keysNear(probe: Entry, reach: Reach): ReadonlyArray<number | string> {
    const keys = this.#coverKeys;
    keys.length = 0;
    if (this.#grid !== null) {
      if (probe.lat === null || probe.lng === null || reach.radiusM === null) return keys;
      const cover = this.#grid.cover(probe.lat, probe.lng, reach.radiusM, this.#cover);
      if (probe.mkey === '') return cover;
      for (let i = 0; i < cover.length; i++) keys.push(`${probe.mkey}\u0001${cover[i]!}`);
      return keys;
    }
    if (this.#shape.byZone) {
      if (probe.zoneId !== null) keys.push(`${probe.zoneId}\u0002${probe.mkey}`);
      return keys;
    }
    keys.push(probe.mkey);
    return keys;
  }

  #evictOldest(): void {
    const order = this.#order;
    while (this.#head < order.length) {
      const e = order[this.#head++]!;
      if (!e.alive) continue;
      e.alive = false;
      this.size--;
      this.evicted++;
      this.#removeFromCell(e);
      return;
    }
  }

  #removeFromCell(e: Entry): void {
    const cell = this.#cells.get(e.key);
    if (cell === undefined) return;
    const { items, times } = cell;
    if (items[cell.head] === e) {
      cell.head++;
    } else {
      let k = lowerBound(times, cell.head, times.length, e.ts);
      while (k < items.length && items[k] !== e) k++;
      if (k < items.length) {
        items.splice(k, 1);
        times.splice(k, 1);
      }
    }
    if (cell.head >= items.length) {
      this.#cells.delete(e.key);
    } else if (cell.head > 32 && cell.head * 2 > items.length) {
      items.copyWithin(0, cell.head);
      times.copyWithin(0, cell.head);
      items.length -= cell.head;
      times.length -= cell.head;
      cell.head = 0;
    }
  }

  #compactOrder(): void {
    const live: Entry[] = [];
    const order = this.#order;
    for (let i = this.#head; i < order.length; i++) if (order[i]!.alive) live.push(order[i]!);
    this.#order = live;
    this.#head = 0;
  }
}

const NONE: readonly string[] = Object.freeze([]);

/** Whether a candidate is within reach of the probe (distance, zone) and not excluded. */
function fits(probe: Entry, e: Entry, reach: Reach, exclude: readonly string[]): boolean {
  if (reach.sameZone && (probe.zoneId === null || probe.zoneId !== e.zoneId)) return false;
  if (reach.radiusM !== null) {
    if (probe.lat === null || probe.lng === null || e.lat === null || e.lng === null) return false;
    if (distanceM(probe.lat, probe.lng, e.lat, e.lng) > reach.radiusM) return false;
  }
  for (let i = 0; i < exclude.length; i++) if (exclude[i] === e.eventId) return false;
  return true;
}
