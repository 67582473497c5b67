import type { ActionView, DecisionView, EventView, LatLng } from '../../api/types';


/**
 * What the map and its list show: events and decisions, newest first, from the first page of
 * the API and then from the live stream. One store holds both so the map's source, the list and
 * the details panel always agree on what is known.
 */
export type MapItem =
  | { kind: 'event'; key: string; id: string; timeMs: number; severity: string | null; zoneId: string | null; location: LatLng | null; event: EventView }
  | { kind: 'decision'; key: string; id: string; timeMs: number; severity: string | null; zoneId: string | null; location: LatLng | null; decision: DecisionView };

/** src/brain/ingest-batch.ts RESOURCE_STATUS_EVENT: a vehicle's position and availability. */
export const RESOURCE_STATUS_EVENT = 'resource_status';

/** How many items the page keeps: enough for a busy hour, small enough to redraw in one frame. */
export const MAX_ITEMS = 5_000;

/**
 * GET /api/v1/events answers stored rows (`timestamp` as ISO text, `received_at`, `payload`),
 * the live stream answers EventView (`ts_ms`): both become an EventView here.
 */
export interface StoredEvent {
  event_id: string;
  event_type: string | null;
  plugin_id: string | null;
  severity: string | null;
  confidence: number | null;
  timestamp?: string;
  received_at?: string | null;
  ts_ms?: number;
  zone_id: string | null;
  location: LatLng | null;
  payload?: unknown;
}

export function toEventView(e: StoredEvent): EventView {
  return {
    event_id: e.event_id,
    event_type: e.event_type,
    plugin_id: e.plugin_id,
    severity: e.severity,
    confidence: e.confidence,
    ts_ms: e.ts_ms ?? (e.timestamp ? Date.parse(e.timestamp) : 0),
    received_at_ms: e.received_at ? Date.parse(e.received_at) : null,
    zone_id: e.zone_id,
    location: e.location,
  };
}

/** An event or decision as an item, for opening one that is not (or no longer) in the store. */
export const eventItem = (event: EventView): MapItem => ({
  kind: 'event', key: `e:${event.event_id}`, id: event.event_id, timeMs: event.ts_ms,
  severity: event.severity, zoneId: event.zone_id, location: event.location, event,
});
export const decisionItem = (decision: DecisionView): MapItem => ({
  kind: 'decision', key: `d:${decision.decision_id}`, id: decision.decision_id, timeMs: decision.decision_time_ms,
  severity: decision.severity, zoneId: decision.zone_id, location: decision.location, decision,
});

/** "Decision: speeding_detected on violation_event" or "violation_event". */
export function itemTitle(item: MapItem): string {
  if (item.kind === 'event') return item.event.event_type ?? 'event';
  const type = triggerType(item.decision);
  return `Decision: ${item.decision.rule.name}${type ? ` on ${type}` : ''}`;
}

/** The type of the event that triggered a decision (the first of rationale.matched_events, src/decisions/plan.ts). */
export function triggerType(decision: DecisionView): string | null {
  const matched = (decision.rationale as { matched_events?: Array<{ event_type?: unknown }> }).matched_events;
  const type = Array.isArray(matched) ? matched[0]?.event_type : undefined;
  return typeof type === 'string' ? type : null;
}

/**
 * The items by key, mutated in place by live messages (a burst of a thousand costs a thousand
 * map writes, not a thousand arrays); `snapshot()` makes the sorted array React renders, once
 * per animation frame.
 */
export class ItemStore {
  readonly #items = new Map<string, MapItem>();
  /** Action updates that arrived before their decision (the stream does not order them). */
  readonly #earlyActions = new Map<string, ActionView[]>();

  get size(): number {
    return this.#items.size;
  }

  get(key: string): MapItem | undefined {
    return this.#items.get(key);
  }

  upsertEvent(event: EventView): void {
    // Resource reports are drawn as the resources they move (polled), not as one incident per ping.
    if (event.event_type === RESOURCE_STATUS_EVENT) return;
    const prev = this.#items.get(`e:${event.event_id}`);
    // The live view knows the event's decisions; a later API page does not: keep them.
    if (prev?.kind === 'event' && prev.event.decision_ids && !event.decision_ids) event = { ...event, decision_ids: prev.event.decision_ids };
    this.#set(eventItem(event));
  }

  upsertDecision(decision: DecisionView): void {
    const early = this.#earlyActions.get(decision.decision_id);
    if (early) {
      this.#earlyActions.delete(decision.decision_id);
      for (const a of early) decision = withAction(decision, a);
    }
    this.#set(decisionItem(decision));
  }

  /** An action's new status: patched into its decision's copy. */
  patchAction(action: ActionView): void {
    const item = this.#items.get(`d:${action.decision_id}`);
    if (item?.kind === 'decision') this.#set(decisionItem(withAction(item.decision, action)));
    else if (this.#earlyActions.size < 1_000) this.#earlyActions.set(action.decision_id, [...(this.#earlyActions.get(action.decision_id) ?? []), action]);
  }

  /** Newest first, at most MAX_ITEMS (the oldest are forgotten here too). */
  snapshot(): MapItem[] {
    const all = [...this.#items.values()].sort((a, b) => b.timeMs - a.timeMs);
    if (all.length > MAX_ITEMS) {
      for (const old of all.splice(MAX_ITEMS)) this.#items.delete(old.key);
    }
    return all;
  }

  #set(item: MapItem): void {
    this.#items.set(item.key, item);
  }
}

function withAction(decision: DecisionView, action: ActionView): DecisionView {
  const actions = decision.actions.some((a) => a.action_id === action.action_id)
    ? decision.actions.map((a) => (a.action_id === action.action_id ? action : a))
    : [...decision.actions, action].sort((a, b) => a.position - b.position);
  return { ...decision, actions };
}
