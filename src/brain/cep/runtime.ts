/**
 * What every rule kind shares in the engine: its windows, how an event's role hit becomes a
 * window entry, and the options the engine was built with.
 */
import type { RoleHit, RuleMatch, ScreenedEvent } from '../../decisions/types.js';
import type { CorrelationRuleSpec } from '../../rules/correlation-types.js';
import { Entry, RoleWindow, type Reach, type WindowShape } from './window.js';

/** The engine's edges and limits, as one object shared by its rules. */
export interface EngineContext {
  readonly maxEntriesPerRole: number;
  /** How late (in event time) an event may arrive and still meet the events it belongs with. */
  readonly latenessMs: number;
  /** When a match is found (RuleMatch.matchedAtMs); never used to decide anything. */
  readonly now: () => number;
  /** Arrival counter, to order events of equal time as they came. */
  seq: number;
}

export abstract class RuleRuntime {
  spec: CorrelationRuleSpec;
  readonly windows: RoleWindow[] = [];
  /** The rule's reach (rule-level radius / same zone). */
  readonly reach: Reach;

  constructor(
    spec: CorrelationRuleSpec,
    protected readonly ctx: EngineContext,
  ) {
    this.spec = spec;
    this.reach = { radiusM: spec.radiusM, sameZone: spec.sameZone };
  }

  /**
   * Offers the event's hits on this rule (hits[from] is the first; later hits of other rules are
   * skipped). Appends any matches to `out` (allocated on first use) and returns it.
   */
  abstract offer(ev: ScreenedEvent, hits: readonly RoleHit[], from: number, watermarkMs: number, out: RuleMatch[] | null): RuleMatch[] | null;

  /** Time-driven work (absence deadlines) and eviction of expired entries. */
  tick(_nowMs: number, watermarkMs: number, out: RuleMatch[] | null): RuleMatch[] | null {
    for (const w of this.windows) w.expire(watermarkMs);
    return out;
  }

  entries(): number {
    let n = 0;
    for (const w of this.windows) n += w.size;
    return n;
  }

  evicted(): number {
    let n = 0;
    for (const w of this.windows) n += w.evicted;
    return n;
  }

  /** A window shaped for queries of the given reach(es), holding events for `retentionMs` (plus lateness). */
  protected window(reaches: readonly Reach[], retentionMs: number): RoleWindow {
    let cellM: number | null = 0;
    let byZone = true;
    for (const r of reaches) {
      cellM = cellM === null || r.radiusM === null ? null : Math.max(cellM, r.radiusM);
      byZone &&= r.sameZone;
    }
    const shape: WindowShape = {
      cellM: reaches.length === 0 ? null : cellM,
      byZone: reaches.length > 0 && byZone,
      capacity: this.ctx.maxEntriesPerRole,
      retentionMs: retentionMs + this.ctx.latenessMs,
    };
    const w = new RoleWindow(shape);
    this.windows.push(w);
    return w;
  }

  /** The match_on values of a hit as one key: '' without match_on, null when one is missing (the event cannot take part). */
  protected matchKey(values: Record<string, unknown>): string | null {
    const on = this.spec.matchOn;
    if (on.length === 0) return '';
    let key = '';
    for (let i = 0; i < on.length; i++) {
      const v = Object.hasOwn(values, on[i]!) ? values[on[i]!] : undefined;
      if (v === undefined || v === null || v !== v) return null;
      // Typed, so that 5 and '5' differ as they do in conditions.
      const part = typeof v === 'string' ? `s${v}` : typeof v === 'number' || typeof v === 'boolean' ? `${typeof v}${String(v)}` : `j${JSON.stringify(v)}`;
      key += i === 0 ? part : `\u0000${part}`;
    }
    return key;
  }

  /** A new entry for `window`, or null when the event cannot be placed in it. */
  protected entry(window: RoleWindow, ev: ScreenedEvent, values: Record<string, unknown>, mkey: string): Entry | null {
    const key = window.keyOf(ev, mkey);
    if (key === null) return null;
    const e = new Entry(ev, values, mkey, this.ctx.seq++);
    e.key = key;
    return e;
  }
}
