import type { BrainUpdate } from './types.js';

export type BrainListener = (update: BrainUpdate) => void;

/**
 * Fan-out of what the brain does (new events, decisions, action updates) to in-process
 * listeners: the live WebSocket stream and the state store. Synchronous and in order; a
 * listener that throws is dropped from nothing and harms no other — its error is reported to
 * `onListenerError` so a broken dashboard socket cannot stop decisions.
 */
export class BrainBus {
  readonly #listeners = new Set<BrainListener>();
  constructor(private readonly onListenerError: (err: unknown) => void = () => {}) {}

  /** Adds a listener; returns the function that removes it. */
  subscribe(listener: BrainListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get listenerCount(): number {
    return this.#listeners.size;
  }

  publish(update: BrainUpdate): void {
    for (const listener of this.#listeners) {
      try {
        listener(update);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }
}
