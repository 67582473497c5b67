/**
 * sequence rules: steps in event-time order (each step's time ≥ the previous step's), all within
 * the window of the first step and within the radius of it. Fires when the last step completes;
 * each first-step event completes at most once (later steps may serve several first steps).
 */
import type { RoleHit, RuleMatch, ScreenedEvent } from '../../decisions/types.js';
import type { CorrelationRuleSpec } from '../../rules/correlation-types.js';
import { buildMatch, describeEvent, formatDuration, type Part } from './match.js';
import { RuleRuntime, type EngineContext } from './runtime.js';
import type { Entry } from './window.js';

export class SequenceRuntime extends RuleRuntime {
  // Scratch (a runtime handles one event at a time).
  readonly #firsts: Entry[] = [];
  readonly #ids: string[] = [];
  readonly #chain: Entry[] = [];

  constructor(spec: CorrelationRuleSpec, ctx: EngineContext) {
    super(spec, ctx);
    for (let i = 0; i < spec.roles.length; i++) this.window([this.reach], spec.windowMs);
  }

  offer(ev: ScreenedEvent, hits: readonly RoleHit[], from: number, watermarkMs: number, out: RuleMatch[] | null): RuleMatch[] | null {
    const name = this.spec.name;
    const firsts = this.#firsts;
    const w = this.spec.windowMs;
    for (let i = from; i < hits.length; i++) {
      const hit = hits[i]!;
      if (hit.rule !== name || hit.role < 0 || hit.role >= this.windows.length) continue;
      const mkey = this.matchKey(hit.values);
      if (mkey === null) continue;
      const window = this.windows[hit.role]!;
      const entry = this.entry(window, ev, hit.values, mkey);
      if (entry === null) continue;
      window.add(entry, watermarkMs);
      // The first steps this event may complete a sequence for: itself, or earlier ones in reach.
      if (hit.role === 0) firsts.push(entry);
      else this.windows[0]!.collect(entry, ev.tsMs - w, ev.tsMs, this.reach, null, firsts);
    }
    for (let i = 0; i < firsts.length; i++) {
      const f = firsts[i]!;
      if (!f.alive) continue;
      const m = this.#tryChain(f);
      if (m !== null) (out ??= []).push(m);
    }
    firsts.length = 0;
    return out;
  }

  /**
   * Completes the sequence from first step `f` greedily: each next step is the earliest fitting
   * event at or after the previous one. Earliest-first finds a chain whenever one exists.
   */
  #tryChain(f: Entry): RuleMatch | null {
    const ids = this.#ids;
    const chain = this.#chain;
    ids.length = 0;
    chain.length = 0;
    ids.push(f.eventId);
    chain.push(f);
    const end = f.ts + this.spec.windowMs;
    let prev = f.ts;
    for (let s = 1; s < this.windows.length; s++) {
      const next = this.windows[s]!.earliest(f, prev, end, this.reach, ids);
      if (next === null) return null;
      chain.push(next);
      ids.push(next.eventId);
      prev = next.ts;
    }
    this.windows[0]!.remove(f);
    const roles = this.spec.roles;
    const parts: Part[] = [];
    let text = `${this.spec.name}: ${describeEvent(f)}`;
    for (let i = 0; i < chain.length; i++) {
      parts.push({ entry: chain[i]!, role: roles[i]! });
      if (i > 0) text += `, then ${describeEvent(chain[i]!)} ${formatDuration(chain[i]!.ts - chain[i - 1]!.ts)} later`;
    }
    text += ` (${formatDuration(prev - f.ts)} in all)`;
    return buildMatch(this.spec, parts, `${this.spec.name}:${f.eventId}`, text, this.ctx.now());
  }
}
