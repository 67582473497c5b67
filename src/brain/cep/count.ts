/**
 * count rules: `count` events of one role within the window and the radius of the newest one
 * (and with equal match_on values). The events of a match are used up, so 10 events with count 5
 * make two matches, not six. The window's grid (cells about a radius wide, each sorted by time)
 * means an event looks at the events of nine cells within its time range, not the whole window.
 */
import type { RoleHit, RuleMatch, ScreenedEvent } from '../../decisions/types.js';
import type { CorrelationRuleSpec } from '../../rules/correlation-types.js';
import { buildMatch, eventSetKey, formatDistance, formatDuration, type Part } from './match.js';
import { RuleRuntime, type EngineContext } from './runtime.js';
import type { Entry, RoleWindow } from './window.js';

function byTime(a: Entry, b: Entry): number {
  return a.ts - b.ts || a.seq - b.seq;
}

export class CountRuntime extends RuleRuntime {
  readonly #window: RoleWindow;
  readonly #near: Entry[] = [];

  constructor(spec: CorrelationRuleSpec, ctx: EngineContext) {
    super(spec, ctx);
    this.#window = this.window([this.reach], spec.windowMs);
  }

  offer(ev: ScreenedEvent, hits: readonly RoleHit[], from: number, watermarkMs: number, out: RuleMatch[] | null): RuleMatch[] | null {
    const name = this.spec.name;
    let hit: RoleHit | null = null;
    for (let i = from; i < hits.length && hit === null; i++) if (hits[i]!.rule === name && hits[i]!.role === 0) hit = hits[i]!;
    if (hit === null) return out;
    const mkey = this.matchKey(hit.values);
    if (mkey === null) return out;
    const window = this.#window;
    const entry = this.entry(window, ev, hit.values, mkey);
    if (entry === null) return out;
    window.expire(watermarkMs);

    const count = this.spec.count ?? 2;
    const w = this.spec.windowMs;
    const near = this.#near;
    near.length = 0;
    // The same event offered twice (a replay) is not counted twice.
    window.collect(entry, ev.tsMs - w, ev.tsMs + w, this.reach, ev.eventId, near);
    let group: Entry[] | null = null;
    if (near.length + 1 >= count) {
      near.push(entry);
      near.sort(byTime);
      const at = near.indexOf(entry);
      // The `count` consecutive events (in time) that include the new one and span at most the
      // window; preferring those that end with it, as an in-order stream would see them.
      for (let i = Math.max(0, at - count + 1); i <= at && i + count <= near.length; i++) {
        if (near[i + count - 1]!.ts - near[i]!.ts <= w) {
          group = near.slice(i, i + count);
          break;
        }
      }
    }
    near.length = 0;
    if (group === null) {
      window.add(entry, watermarkMs);
      return out;
    }
    for (const e of group) window.remove(e);
    (out ??= []).push(this.#match(group, entry));
    return out;
  }

  #match(group: Entry[], newest: Entry): RuleMatch {
    const role = this.spec.roles[0]!;
    const parts: Part[] = group.map((entry) => ({ entry, role }));
    const first = group[0]!.ev;
    const last = group[group.length - 1]!.ev;
    const types = [...new Set(group.map((e) => e.ev.eventType))].join('/');
    const sources = [...new Set(group.map((e) => e.ev.pluginId))].join('/');
    const where =
      this.spec.radiusM !== null ? ` within ${formatDistance(this.spec.radiusM)}` : this.spec.sameZone && first.zoneId !== null ? ` in zone ${first.zoneId}` : '';
    const text =
      `${this.spec.name}: ${group.length} ${types} events from ${sources}${where} over ${formatDuration(last.tsMs - first.tsMs)}` +
      ` (reached by ${newest.eventId})`;
    const key = eventSetKey(group.map((e) => e.eventId));
    return buildMatch(this.spec, parts, `${this.spec.name}:${key}`, text, this.ctx.now());
  }
}
