/**
 * The CEP engine of a Local Brain (seed 001 §3.2 "Real-time CEP Engine", §3.3): correlation,
 * sequence, count and absence rules over time windows × place, in memory, on the main thread.
 *
 * It consumes ScreenedEvents — the role hits were decided where the event was decoded
 * (src/rules/role-screen.ts), so nothing here evaluates a condition — and produces RuleMatches
 * for the decision engine. Time is event time (`tsMs`): windows are measured between events and
 * expire against the newest event time seen, never the wall clock, so the node can rebuild the
 * windows after a restart by offering the stored events of the last window again, in order;
 * every match carries a dedupKey so that such a replay cannot make a decision twice.
 *
 * @example
 *   const cep = new CepEngine(specs);
 *   const screen = new RoleScreen(specs);
 *   const matches = cep.offer({ ...summary, triggers: [], roles: screen.screen(type, plugin, event) });
 *   setInterval(() => decide(cep.tick(Date.now())), 1000); // absence deadlines
 */
import type { RuleMatch, ScreenedEvent } from '../../decisions/types.js';
import type { CorrelationRuleSpec } from '../../rules/correlation-types.js';
import { AbsenceRuntime } from './absence.js';
import { CorrelationRuntime } from './correlation.js';
import { CountRuntime } from './count.js';
import type { EngineContext, RuleRuntime } from './runtime.js';
import { SequenceRuntime } from './sequence.js';

export interface CepOptions {
  /** Most events kept per role of a rule; beyond it the oldest is evicted (and counted). */
  maxEntriesPerRole?: number;
  /** Clock for RuleMatch.matchedAtMs only. */
  now?: () => number;
  /**
   * How late, in event time, an event may arrive and still be matched with the events it belongs
   * with: windows keep entries this much longer than their time window.
   */
  latenessMs?: number;
}

export const CEP_DEFAULTS = Object.freeze({
  maxEntriesPerRole: 100_000,
  latenessMs: 60_000,
  /**
   * An event time this far past the event's receipt does not advance the engine's clock: one
   * plugin with a clock in the future must not expire every window.
   */
  maxFutureSkewMs: 60_000,
});

export interface CepStats {
  rules: number;
  /** Events held in all windows. */
  entries: number;
  /** Events evicted because a window was full, since the engine started. */
  evicted: number;
  /** Events held, by rule. */
  byRule: Record<string, number>;
}

/** What offer and tick return when nothing matched: shared, frozen. */
const NO_MATCHES: RuleMatch[] = Object.freeze([]) as unknown as RuleMatch[];

export class CepEngine {
  readonly #ctx: EngineContext;
  #rules = new Map<string, { runtime: RuleRuntime; shape: string }>();
  /** Newest event time seen (bounded by receipt + skew): what windows expire against. */
  #watermarkMs = -Infinity;
  /** Evictions of rules no longer loaded, so that stats().evicted only grows. */
  #evictedBefore = 0;

  constructor(specs: readonly CorrelationRuleSpec[], options: CepOptions = {}) {
    const max = options.maxEntriesPerRole ?? CEP_DEFAULTS.maxEntriesPerRole;
    const lateness = options.latenessMs ?? CEP_DEFAULTS.latenessMs;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxEntriesPerRole must be a positive integer, got ${max}`);
    if (!(lateness >= 0)) throw new RangeError(`latenessMs must be zero or more, got ${lateness}`);
    this.#ctx = { maxEntriesPerRole: max, latenessMs: lateness, now: options.now ?? Date.now, seq: 0 };
    this.setRules(specs);
  }

  /**
   * Replaces the rules (hot reload). A rule whose windows would be the same — same kind, roles,
   * windows, reach, count and match_on — keeps its windows and takes the new name-independent
   * parts (actions, priority, severity, description); any other rule starts empty. Disabled rules
   * are dropped.
   */
  setRules(specs: readonly CorrelationRuleSpec[]): void {
    const next = new Map<string, { runtime: RuleRuntime; shape: string }>();
    for (const spec of specs) {
      if (!spec.enabled || next.has(spec.name)) continue;
      const shape = shapeOf(spec);
      const old = this.#rules.get(spec.name);
      if (old !== undefined && old.shape === shape) {
        old.runtime.spec = spec;
        next.set(spec.name, old);
      } else {
        next.set(spec.name, { runtime: runtimeFor(spec, this.#ctx), shape });
      }
    }
    for (const [name, old] of this.#rules) if (next.get(name) !== old) this.#evictedBefore += old.runtime.evicted();
    this.#rules = next;
  }

  /**
   * Offers an event to the rules whose roles it plays (event.roles). Returns the matches it
   * completes (a shared empty array when none). Depends on nothing but the events offered.
   */
  offer(event: ScreenedEvent): RuleMatch[] {
    const hits = event.roles;
    const ts = event.tsMs;
    if (hits.length === 0 || !Number.isFinite(ts)) return NO_MATCHES;
    let clock = ts;
    const bound = event.receivedAtMs + CEP_DEFAULTS.maxFutureSkewMs;
    if (bound < clock) clock = bound;
    if (clock > this.#watermarkMs) this.#watermarkMs = clock;
    let out: RuleMatch[] | null = null;
    for (let i = 0; i < hits.length; i++) {
      const rule = hits[i]!.rule;
      let seen = false;
      for (let j = 0; j < i && !seen; j++) seen = hits[j]!.rule === rule;
      if (seen) continue; // the runtime took all of this rule's hits at the first one
      const entry = this.#rules.get(rule);
      if (entry !== undefined) out = entry.runtime.offer(event, hits, i, this.#watermarkMs, out);
    }
    return out ?? NO_MATCHES;
  }

  /**
   * Fires absence rules whose deadline is at or before `nowMs` and drops expired entries from
   * every window (against the newest event time, not `nowMs`). Call it on a timer, and not while
   * a replay is still feeding old events (an expectation closed by a replayed event would fire).
   */
  tick(nowMs: number): RuleMatch[] {
    let out: RuleMatch[] | null = null;
    for (const { runtime } of this.#rules.values()) out = runtime.tick(nowMs, this.#watermarkMs, out);
    return out ?? NO_MATCHES;
  }

  stats(): CepStats {
    let entries = 0;
    let evicted = this.#evictedBefore;
    const byRule: Record<string, number> = {};
    for (const [name, { runtime }] of this.#rules) {
      const n = runtime.entries();
      byRule[name] = n;
      entries += n;
      evicted += runtime.evicted();
    }
    return { rules: this.#rules.size, entries, evicted, byRule };
  }
}

function runtimeFor(spec: CorrelationRuleSpec, ctx: EngineContext): RuleRuntime {
  switch (spec.kind) {
    case 'correlation':
      return new CorrelationRuntime(spec, ctx);
    case 'sequence':
      return new SequenceRuntime(spec, ctx);
    case 'count':
      return new CountRuntime(spec, ctx);
    case 'absence':
      return new AbsenceRuntime(spec, ctx);
  }
}

/** What a rule's windows depend on: two specs with the same shape can share them. */
function shapeOf(spec: CorrelationRuleSpec): string {
  const roles = spec.roles.map((r) => [r.name, r.eventType, r.source, r.condition, r.windowMs ?? null, r.radiusM ?? null, r.sameZone ?? null]);
  return JSON.stringify([spec.kind, roles, spec.windowMs, spec.radiusM, spec.sameZone, spec.count, spec.matchOn]);
}
