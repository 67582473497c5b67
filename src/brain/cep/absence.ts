/**
 * absence rules: an A (`trigger`) opens an expectation due at A's time + window; a B (`expect`)
 * at or after A's time and by that deadline, within reach and with equal match_on values, closes
 * it. A B that arrives before its A (out of order, but later in event time) still closes it, so
 * Bs are kept for a window too.
 *
 * `tick(now)` fires an expectation once its deadline has passed on either clock:
 * - event time: the newest event time seen (the watermark) is past A's time + window + the
 *   engine's lateness allowance, so a B delayed in a gateway's batch still counts. This is what
 *   decides when events come faster than real time (a replay, a backlog, a benchmark).
 * - processing time: the wall clock is past A's receipt + window. This is what decides when the
 *   stream is quiet: a dispatched ambulance with no news at all still raises the alarm on time.
 */
import type { RoleHit, RuleMatch, ScreenedEvent } from '../../decisions/types.js';
import type { CorrelationRuleSpec } from '../../rules/correlation-types.js';
import { buildMatch, describeEvent, describeRole, formatDuration } from './match.js';
import { RuleRuntime, type EngineContext } from './runtime.js';
import type { Entry, RoleWindow } from './window.js';

export class AbsenceRuntime extends RuleRuntime {
  readonly #open: RoleWindow;
  readonly #closers: RoleWindow;
  /** Open expectations by deadline (a binary min-heap; closed ones are skipped when popped). */
  #due: Entry[] = [];
  /** Open expectations in arrival order, for the processing-time deadline (receipt + window). */
  #arrived: Entry[] = [];
  #arrivedHead = 0;
  readonly #scratch: Entry[] = [];
  readonly #self: string[] = [''];

  constructor(spec: CorrelationRuleSpec, ctx: EngineContext) {
    super(spec, ctx);
    // Open expectations leave by firing, closing or eviction, never by age: tick must see them.
    this.#open = this.window([this.reach], Infinity);
    this.#closers = this.window([this.reach], spec.windowMs);
  }

  offer(ev: ScreenedEvent, hits: readonly RoleHit[], from: number, watermarkMs: number, out: RuleMatch[] | null): RuleMatch[] | null {
    const name = this.spec.name;
    let a: RoleHit | null = null;
    let b: RoleHit | null = null;
    for (let i = from; i < hits.length; i++) {
      const hit = hits[i]!;
      if (hit.rule !== name) continue;
      if (hit.role === 0) a = hit;
      else if (hit.role === 1) b = hit;
    }
    // B first: an event that is both (a heartbeat expecting the next heartbeat) closes earlier As, then opens its own.
    if (b !== null) this.#close(ev, b, watermarkMs);
    if (a !== null) this.#openFor(ev, a, watermarkMs);
    return out;
  }

  #close(ev: ScreenedEvent, hit: RoleHit, watermarkMs: number): void {
    const mkey = this.matchKey(hit.values);
    if (mkey === null) return;
    const entry = this.entry(this.#closers, ev, hit.values, mkey);
    if (entry === null) return;
    this.#closers.add(entry, watermarkMs);
    if (this.#open.size === 0) return;
    const closed = this.#scratch;
    this.#open.collect(entry, ev.tsMs - this.spec.windowMs, ev.tsMs, this.reach, ev.eventId, closed);
    for (let i = 0; i < closed.length; i++) this.#open.remove(closed[i]!);
    closed.length = 0;
  }

  #openFor(ev: ScreenedEvent, hit: RoleHit, watermarkMs: number): void {
    const mkey = this.matchKey(hit.values);
    if (mkey === null) return;
    const entry = this.entry(this.#open, ev, hit.values, mkey);
    if (entry === null) return;
    this.#self[0] = ev.eventId;
    // Already answered by a B that arrived first.
    if (this.#closers.earliest(entry, ev.tsMs, ev.tsMs + this.spec.windowMs, this.reach, this.#self) !== null) return;
    this.#open.add(entry, watermarkMs);
    this.#push(entry);
    this.#arrived.push(entry);
  }

  override tick(nowMs: number, watermarkMs: number, out: RuleMatch[] | null): RuleMatch[] | null {
    out = super.tick(nowMs, watermarkMs, out);
    const due = this.#due;
    const w = this.spec.windowMs;
    const eventTimeLimit = watermarkMs - this.ctx.latenessMs;
    while (due.length > 0 && due[0]!.ts + w <= eventTimeLimit) {
      const a = this.#pop();
      if (!a.alive) continue;
      this.#open.remove(a);
      (out ??= []).push(this.#match(a));
    }
    const arrived = this.#arrived;
    while (this.#arrivedHead < arrived.length && arrived[this.#arrivedHead]!.ev.receivedAtMs + w <= nowMs) {
      const a = arrived[this.#arrivedHead++]!;
      if (!a.alive) continue;
      this.#open.remove(a);
      (out ??= []).push(this.#match(a));
    }
    if (this.#arrivedHead > 1024 && this.#arrivedHead * 2 > arrived.length) {
      this.#arrived = arrived.slice(this.#arrivedHead);
      this.#arrivedHead = 0;
    }
    return out;
  }

  #match(a: Entry): RuleMatch {
    const expect = this.spec.roles[1]!;
    const text = `${this.spec.name}: ${describeEvent(a)} was not followed by ${describeRole(expect)} within ${formatDuration(this.spec.windowMs)}`;
    return buildMatch(this.spec, [{ entry: a, role: this.spec.roles[0]! }], `${this.spec.name}:${a.eventId}`, text, this.ctx.now());
  }

  // Binary heap on (time, arrival); every A has the same window, so time orders deadlines.

  #push(e: Entry): void {
    // Closed and evicted As stay in the heap until popped; rebuild when they outnumber the open ones.
    if (this.#due.length > 2 * this.#open.size + 1024) {
      this.#due = this.#due.filter((x) => x.alive).sort(earlier);
    }
    const h = this.#due;
    let i = h.length;
    h.push(e);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (earlier(h[p]!, e) <= 0) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = e;
  }

  #pop(): Entry {
    const h = this.#due;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const c = r < h.length && earlier(h[r]!, h[l]!) < 0 ? r : l;
        if (earlier(last, h[c]!) <= 0) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}

function earlier(a: Entry, b: Entry): number {
  return a.ts - b.ts || a.seq - b.seq;
}
