/** What the schedule needs to know of an action. */
export interface Scheduled {
  actionId: string;
  /** Higher runs first among due actions. */
  priority: number;
  /** Unix ms; ties on priority go to the older action. */
  createdAtMs: number;
  /** Unix ms when the action may run next. */
  dueAtMs: number;
}

/**
 * Actions waiting to run, in two binary heaps: `waiting` ordered by due time, `ready` (due) by
 * priority then age. Taking the next action moves the newly due ones across first, so one timer
 * for `nextDueAtMs()` is all the dispatcher needs — no timer per action, no polling.
 */
export class Schedule<T extends Scheduled> {
  readonly #waiting = new Heap<T>((a, b) => a.dueAtMs < b.dueAtMs);
  readonly #ready = new Heap<T>((a, b) => a.priority > b.priority || (a.priority === b.priority && (a.createdAtMs < b.createdAtMs || (a.createdAtMs === b.createdAtMs && a.actionId < b.actionId))));

  get size(): number {
    return this.#waiting.size + this.#ready.size;
  }

  add(item: T): void {
    this.#waiting.push(item);
  }

  /** The most urgent action due at `nowMs`, removed from the schedule; undefined when none is due. */
  takeDue(nowMs: number): T | undefined {
    for (let next = this.#waiting.peek(); next !== undefined && next.dueAtMs <= nowMs; next = this.#waiting.peek()) {
      this.#ready.push(this.#waiting.pop()!);
    }
    return this.#ready.pop();
  }

  /** When the next action falls due: now-or-earlier if some are ready; undefined when empty. */
  nextDueAtMs(): number | undefined {
    if (this.#ready.size > 0) return -Infinity;
    return this.#waiting.peek()?.dueAtMs;
  }

  /** Empties the schedule, returning what it held. */
  drain(): T[] {
    return [...this.#ready.drain(), ...this.#waiting.drain()];
  }
}

/** A binary heap; `before(a, b)` is true when `a` comes out first. */
class Heap<T> {
  #items: T[] = [];
  constructor(private readonly before: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.#items.length;
  }

  peek(): T | undefined {
    return this.#items[0];
  }

  push(item: T): void {
    const items = this.#items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(items[i]!, items[parent]!)) break;
      [items[i], items[parent]] = [items[parent]!, items[i]!];
      i = parent;
    }
  }

  pop(): T | undefined {
    const items = this.#items;
    if (items.length === 0) return undefined;
    const top = items[0]!;
    const last = items.pop()!;
    if (items.length > 0) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < items.length && this.before(items[l]!, items[best]!)) best = l;
        if (r < items.length && this.before(items[r]!, items[best]!)) best = r;
        if (best === i) break;
        [items[i], items[best]] = [items[best]!, items[i]!];
        i = best;
      }
    }
    return top;
  }

  drain(): T[] {
    const items = this.#items;
    this.#items = [];
    return items;
  }
}
