/**
 * correlation rules (seed 001 §3.3 `correlation_rule`): a trigger event and, for every
 * `correlate_with` entry, an event within that entry's window of the trigger — before or after
 * it, so either may arrive first — and within its radius (or the same zone). Fires once per
 * trigger event, when the last needed event arrives.
 */
import type { RoleHit, RuleMatch, ScreenedEvent } from '../../decisions/types.js';
import type { CorrelationRuleSpec } from '../../rules/correlation-types.js';
import { buildMatch, describeEvent, describePlace, formatDuration, type Part } from './match.js';
import { RuleRuntime, type EngineContext } from './runtime.js';
import { Entry, type Reach, type RoleWindow } from './window.js';

export class CorrelationRuntime extends RuleRuntime {
  /** Per role (index 0 = trigger, unused): window and reach relative to the trigger. */
  readonly #windowMs: number[] = [0];
  readonly #reach: Reach[] = [{ radiusM: null, sameZone: false }];
  readonly #triggers: RoleWindow;
  // Scratch (a runtime handles one event at a time).
  readonly #pending: Entry[] = [];
  readonly #ids: string[] = [];
  readonly #chosen: Entry[] = [];

  constructor(spec: CorrelationRuleSpec, ctx: EngineContext) {
    super(spec, ctx);
    let widest = 0;
    for (let i = 1; i < spec.roles.length; i++) {
      const role = spec.roles[i]!;
      const w = role.windowMs ?? spec.windowMs;
      widest = Math.max(widest, w);
      this.#windowMs.push(w);
      this.#reach.push({ radiusM: role.radiusM ?? spec.radiusM, sameZone: role.sameZone ?? spec.sameZone });
    }
    // A trigger waits as long as the widest correlate_with window; it is queried with every role's reach.
    this.#triggers = this.window(this.#reach.slice(1), widest);
    for (let i = 1; i < spec.roles.length; i++) this.window([this.#reach[i]!], this.#windowMs[i]!);
  }

  offer(ev: ScreenedEvent, hits: readonly RoleHit[], from: number, watermarkMs: number, out: RuleMatch[] | null): RuleMatch[] | null {
    const name = this.spec.name;
    let trigger: RoleHit | null = null;
    for (let i = from; i < hits.length; i++) {
      const hit = hits[i]!;
      if (hit.rule !== name) continue;
      if (hit.role === 0) trigger = hit;
      else if (hit.role > 0 && hit.role < this.windows.length) out = this.#correlate(ev, hit, watermarkMs, out);
    }
    if (trigger !== null) out = this.#trigger(ev, trigger, watermarkMs, out);
    return out;
  }

  /** An event for correlate_with role `hit.role`: kept, then every waiting trigger it may complete is tried. */
  #correlate(ev: ScreenedEvent, hit: RoleHit, watermarkMs: number, out: RuleMatch[] | null): RuleMatch[] | null {
    const mkey = this.matchKey(hit.values);
    if (mkey === null) return out;
    const r = hit.role;
    const entry = this.entry(this.windows[r]!, ev, hit.values, mkey);
    if (entry === null) return out;
    this.windows[r]!.add(entry, watermarkMs);
    if (this.#triggers.size === 0) return out;
    const pending = this.#pending;
    const w = this.#windowMs[r]!;
    this.#triggers.collect(entry, ev.tsMs - w, ev.tsMs + w, this.#reach[r]!, ev.eventId, pending);
    for (let i = 0; i < pending.length; i++) {
      const t = pending[i]!;
      if (!t.alive) continue;
      const m = this.#tryFire(t);
      if (m !== null) (out ??= []).push(m);
    }
    pending.length = 0;
    return out;
  }

  /** A trigger event: fires now if every role has its event, else waits in the trigger window. */
  #trigger(ev: ScreenedEvent, hit: RoleHit, watermarkMs: number, out: RuleMatch[] | null): RuleMatch[] | null {
    const mkey = this.matchKey(hit.values);
    if (mkey === null) return out;
    const key = this.#triggers.keyOf(ev, mkey);
    const entry = new Entry(ev, hit.values, mkey, this.ctx.seq++);
    const m = this.#tryFire(entry);
    if (m !== null) {
      (out ??= []).push(m);
      return out;
    }
    if (key !== null) {
      entry.key = key;
      this.#triggers.add(entry, watermarkMs);
    }
    return out;
  }

  /** The match for trigger `t` if every correlate_with role has an event for it (the nearest in time), else null. */
  #tryFire(t: Entry): RuleMatch | null {
    const ids = this.#ids;
    const chosen = this.#chosen;
    ids.length = 0;
    chosen.length = 0;
    ids.push(t.eventId);
    for (let r = 1; r < this.windows.length; r++) {
      // Greedy: one event per role, none used twice (the nearest free one).
      const c = this.windows[r]!.nearest(t, this.#windowMs[r]!, this.#reach[r]!, ids);
      if (c === null) return null;
      chosen.push(c);
      ids.push(c.eventId);
    }
    this.#triggers.remove(t);
    const roles = this.spec.roles;
    const parts: Part[] = [{ entry: t, role: roles[0]! }];
    let text = `${this.spec.name}: ${describeEvent(t)}`;
    for (let i = 0; i < chosen.length; i++) {
      const c = chosen[i]!;
      parts.push({ entry: c, role: roles[i + 1]! });
      const place = describePlace(t, c);
      text += `${i === 0 ? ' and ' : ', '}${describeEvent(c)}${place === '' ? '' : ` ${place}`}, ${formatDuration(c.ts - t.ts)} apart`;
    }
    return buildMatch(this.spec, parts, `${this.spec.name}:${t.eventId}`, text, this.ctx.now());
  }
}
