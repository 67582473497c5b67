import type { FastifyInstance } from 'fastify';
import websocket from '@fastify/websocket';
import { Type, type Static } from '@sinclair/typebox';
import type { WebSocket } from 'ws';
import type { BrainBus } from '../decisions/bus.js';
import type { BrainUpdate, DecisionView } from '../decisions/types.js';
import { cityError } from '../errors.js';
import type { ZoneService } from '../geo/zone-service.js';
import { requires, scopedZone } from '../auth/policy.js';
import { SEVERITY_LEVELS, severityRank, type SeverityLevel } from '../events/severity.js';
import { decisionEventTypes, eventView } from './state-store.js';

/**
 * The live stream for dashboards (DESIGN.md "Data flow of a Local Brain": "live updates
 * (WebSocket)"): new events, decisions and action updates from the BrainBus, each socket with
 * its own filter (kinds, zone subtree, event types, minimum severity).
 *
 * Delivery is best effort, and says so: a socket that does not keep up (more than
 * `maxBufferedBytes` waiting) has messages dropped, never buffered without bound, and once it
 * has drained it is told how many with `{ "kind": "dropped", "count": n }`. The store and the
 * query API hold the complete record.
 */
export const STREAM_DEFAULTS = {
  maxBufferedBytes: 4 * 1024 * 1024,
  heartbeatIntervalMs: 30_000,
  /** While a socket is dropping: how often to look whether it has drained. */
  drainCheckMs: 250,
  /** Decisions remembered to filter their later action updates by severity and event type. */
  decisionCacheSize: 10_000,
  maxClients: 1_000,
} as const;

export const STREAM_KINDS = ['event', 'decision', 'action', 'pool'] as const;
export type StreamKind = (typeof STREAM_KINDS)[number];
const KIND_BIT: Record<StreamKind, number> = { event: 1, decision: 2, action: 4, pool: 8 };
/** What a client gets when it names no kinds: the brain's updates. The compute pool's (executors joining and leaving, jobs changing) are asked for by name. */
const DEFAULT_KINDS: StreamKind[] = ['event', 'decision', 'action'];

/** WebSocket close codes (4000–4999 are the application's, RFC 6455 §7.4.2). */
export const CLOSE_CODES = { notFound: 4404, unauthorized: 4401, overloaded: 1013, goingAway: 1001 } as const;

export interface StreamFilters {
  kinds: StreamKind[];
  zone: string | null;
  eventTypes: string[] | null;
  minSeverity: SeverityLevel | null;
}

/** Satisfied by NodeMetrics once it has these two (see the report of this change). */
export interface StreamMetrics {
  streamClients: { set(value: number): void };
  streamDropped: { inc(value?: number): void };
}

export type LiveStreamHubOptions = {
  bus: BrainBus;
  zones: ZoneService;
  nodeId: string;
  metrics?: StreamMetrics;
} & Partial<StreamLimits>;

type StreamLimits = { -readonly [K in keyof typeof STREAM_DEFAULTS]: number };

interface Client {
  socket: WebSocket;
  filters: StreamFilters;
  kinds: number;
  /** The zone's subtree, compiled at connect and again when the zone tree is replaced. */
  zones: Set<string> | null;
  types: Set<string> | null;
  minRank: number;
  dropped: number;
  alive: boolean;
}

interface DecisionMeta {
  rank: number;
  types: string[];
}

/**
 * @example
 *   const hub = new LiveStreamHub({ bus, zones, nodeId });
 *   ingest.setEventSummaries(() => hub.wantsEvents());
 *   await app.register(liveStreamRoutes, { hub, authorize });
 */
export class LiveStreamHub {
  readonly #o: LiveStreamHubOptions & StreamLimits;
  readonly #clients = new Set<Client>();
  readonly #decisions = new Map<string, DecisionMeta>();
  #eventClients = 0;
  #dropping = 0;
  #unsubscribe: (() => void) | null;
  #heartbeat: NodeJS.Timeout | null = null;
  #drainTimer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(options: LiveStreamHubOptions) {
    const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
    this.#o = { ...STREAM_DEFAULTS, ...given } as LiveStreamHubOptions & StreamLimits;
    this.#unsubscribe = options.bus.subscribe((u) => this.#publish(u));
    options.zones.onChange(() => {
      for (const c of this.#clients) c.zones = this.#subtree(c.filters.zone);
    });
  }

  /**
   * True while a socket wants events: ingestion makes an event summary per accepted event only
   * then (at 100,000 events/s they cost CPU nobody would use).
   */
  wantsEvents(): boolean {
    return this.#eventClients > 0;
  }

  get clientCount(): number {
    return this.#clients.size;
  }

  /** For /metrics and tests: sockets, those behind (dropping until they drain), the most buffered for one. */
  stats(): { clients: number; event_clients: number; dropping: number; max_buffered_bytes: number } {
    let buffered = 0;
    for (const c of this.#clients) buffered = Math.max(buffered, c.socket.bufferedAmount);
    return { clients: this.#clients.size, event_clients: this.#eventClients, dropping: this.#dropping, max_buffered_bytes: buffered };
  }

  /**
   * Takes a connected socket: sends `hello`, or an error and a close (4404 for an unknown zone,
   * 1013 when full).
   */
  add(socket: WebSocket, filters: StreamFilters): void {
    if (this.#closed) return socket.close(CLOSE_CODES.goingAway, 'node shutting down');
    if (filters.zone !== null && !this.#o.zones.has(filters.zone)) {
      socket.send(JSON.stringify({ kind: 'error', error: cityError('ZONE_NOT_FOUND', { zoneId: filters.zone }).toJSON() }));
      return socket.close(CLOSE_CODES.notFound, 'zone not found');
    }
    if (this.#clients.size >= this.#o.maxClients) {
      socket.send(JSON.stringify({ kind: 'error', error: cityError('OVERLOADED', { reason: `${this.#o.maxClients} live-stream clients` }).toJSON() }));
      return socket.close(CLOSE_CODES.overloaded, 'too many clients');
    }
    const client: Client = {
      socket,
      filters,
      kinds: filters.kinds.reduce((bits, k) => bits | KIND_BIT[k], 0),
      zones: this.#subtree(filters.zone),
      types: filters.eventTypes && new Set(filters.eventTypes),
      minRank: filters.minSeverity === null ? 0 : severityRank(filters.minSeverity),
      dropped: 0,
      alive: true,
    };
    this.#clients.add(client);
    if (client.kinds & KIND_BIT.event) this.#eventClients++;
    this.#o.metrics?.streamClients.set(this.#clients.size);
    socket.on('pong', () => (client.alive = true));
    socket.once('close', () => this.#remove(client));
    this.#heartbeat ??= setInterval(() => this.#ping(), this.#o.heartbeatIntervalMs).unref();
    socket.send(
      JSON.stringify({
        kind: 'hello',
        node_id: this.#o.nodeId,
        filters: { kinds: filters.kinds, zone: filters.zone, event_type: filters.eventTypes, min_severity: filters.minSeverity },
        max_buffered_bytes: this.#o.maxBufferedBytes,
      }),
    );
  }

  /** Closes every socket (1001) and stops listening; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    for (const c of this.#clients) c.socket.close(CLOSE_CODES.goingAway, 'node shutting down');
    this.#stopTimers();
  }

  #remove(client: Client): void {
    if (!this.#clients.delete(client)) return;
    if (client.kinds & KIND_BIT.event) this.#eventClients--;
    if (client.dropped > 0) this.#dropping--;
    this.#o.metrics?.streamClients.set(this.#clients.size);
    if (this.#clients.size === 0) this.#stopTimers();
  }

  #stopTimers(): void {
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    if (this.#drainTimer) clearInterval(this.#drainTimer);
    this.#heartbeat = this.#drainTimer = null;
  }

  #subtree(zone: string | null): Set<string> | null {
    if (zone === null) return null;
    // A zone removed by a replaced tree matches nothing rather than everything.
    return this.#o.zones.has(zone) ? this.#o.zones.tree.subtreeIds(zone) : new Set();
  }

  #publish(u: BrainUpdate): void {
    let meta: DecisionMeta | undefined;
    if (u.kind === 'decision') meta = this.#remember(u.decision);
    if (this.#clients.size === 0) return;
    if (u.kind === 'action') meta = this.#decisions.get(u.action.decision_id);
    // Serialised once for every socket it goes to, and only if one does (house style #4).
    let text: string | null = null;
    for (const c of this.#clients) {
      if (!matches(c, u, meta)) continue;
      text ??= serialise(u);
      this.#send(c, text);
    }
  }

  #remember(d: DecisionView): DecisionMeta {
    let meta = this.#decisions.get(d.decision_id);
    if (meta === undefined) {
      meta = { rank: severityRank(d.severity), types: decisionEventTypes(d) };
      this.#decisions.set(d.decision_id, meta);
      if (this.#decisions.size > this.#o.decisionCacheSize) this.#decisions.delete(this.#decisions.keys().next().value!);
    }
    return meta;
  }

  #send(c: Client, text: string): void {
    const socket = c.socket;
    if (socket.readyState !== socket.OPEN) return;
    if (c.dropped > 0 && !this.#drained(c)) {
      this.#drop(c);
      return;
    }
    if (socket.bufferedAmount > this.#o.maxBufferedBytes) {
      this.#drop(c);
      return;
    }
    socket.send(text);
  }

  /** A socket behind is caught up once it is below a quarter of the limit; it hears what it missed. */
  #drained(c: Client): boolean {
    if (c.socket.bufferedAmount > this.#o.maxBufferedBytes / 4) return false;
    c.socket.send(JSON.stringify({ kind: 'dropped', count: c.dropped }));
    c.dropped = 0;
    this.#dropping--;
    return true;
  }

  #drop(c: Client): void {
    if (c.dropped++ === 0) {
      this.#dropping++;
      // A quiet stream would never learn of its losses from #send alone.
      this.#drainTimer ??= setInterval(() => this.#checkDrains(), this.#o.drainCheckMs).unref();
    }
    this.#o.metrics?.streamDropped.inc();
  }

  #checkDrains(): void {
    for (const c of this.#clients) if (c.dropped > 0 && c.socket.readyState === c.socket.OPEN) this.#drained(c);
    if (this.#dropping === 0 && this.#drainTimer) {
      clearInterval(this.#drainTimer);
      this.#drainTimer = null;
    }
  }

  #ping(): void {
    for (const c of this.#clients) {
      // No pong since the last ping: the peer is gone without a close (a dead TCP connection).
      if (!c.alive) {
        c.socket.terminate();
        continue;
      }
      c.alive = false;
      c.socket.ping();
    }
  }
}

function matches(c: Client, u: BrainUpdate, meta: DecisionMeta | undefined): boolean {
  if ((c.kinds & KIND_BIT[u.kind]) === 0) return false;
  switch (u.kind) {
    case 'event': {
      const e = u.event;
      if (c.zones !== null && (e.zoneId === null || !c.zones.has(e.zoneId))) return false;
      if (c.types !== null && !c.types.has(e.eventType)) return false;
      return c.minRank === 0 || severityRank(e.severity) >= c.minRank;
    }
    case 'decision':
    case 'action': {
      const zone = u.kind === 'decision' ? u.decision.zone_id : u.zone_id;
      if (c.zones !== null && (zone === null || !c.zones.has(zone))) return false;
      if (c.types === null && c.minRank === 0) return true;
      // An action whose decision is no longer remembered cannot be checked: left out.
      if (meta === undefined) return false;
      if (c.minRank > 0 && meta.rank < c.minRank) return false;
      return c.types === null || meta.types.some((t) => c.types!.has(t));
    }
    case 'pool':
      // The pool is the tenant's, not a zone's: a zone-scoped watcher sees it only unfiltered by zone.
      return c.zones === null;
  }
}

function serialise(u: BrainUpdate): string {
  switch (u.kind) {
    case 'event':
      return JSON.stringify({ kind: 'event', event: eventView(u.event) });
    case 'decision':
      return JSON.stringify({ kind: 'decision', decision: u.decision });
    case 'action':
      return JSON.stringify({ kind: 'action', action: u.action, zone_id: u.zone_id });
    case 'pool':
      return JSON.stringify({ kind: 'pool', update: u.update });
  }
}

const StreamQuery = Type.Object({
  kinds: Type.Optional(Type.String({ pattern: '^(event|decision|action|pool)(,(event|decision|action|pool))*$', description: 'comma list of event, decision, action, pool (default: event, decision, action)' })),
  zone: Type.Optional(Type.String({ maxLength: 64, description: 'a zone id: that zone and everything inside it' })),
  event_type: Type.Optional(Type.String({ maxLength: 2000, description: 'comma list of event types; decisions match on their events’ types or their rule name' })),
  min_severity: Type.Optional(Type.Union(SEVERITY_LEVELS.map((s) => Type.Literal(s)))),
  access_token: Type.Optional(Type.String({ maxLength: 4096, description: 'an access token or API key, for browsers (they cannot set headers on a WebSocket)' })),
  token: Type.Optional(Type.String({ maxLength: 4096, description: 'the same as access_token' })),
});
type StreamQuery = Static<typeof StreamQuery>;

export function parseStreamFilters(q: StreamQuery): StreamFilters {
  const list = (s: string | undefined) => (s === undefined ? null : [...new Set(s.split(',').map((x) => x.trim()).filter((x) => x.length > 0))]);
  const types = list(q.event_type);
  return {
    kinds: (list(q.kinds) as StreamKind[] | null) ?? [...DEFAULT_KINDS],
    zone: q.zone ?? null,
    eventTypes: types && types.length > 0 ? types : null,
    minSeverity: q.min_severity ?? null,
  };
}

export interface LiveStreamRouteOptions {
  hub: LiveStreamHub;
}

/**
 * `GET /api/v1/stream` (WebSocket). Messages are JSON text: first
 * `{ "kind": "hello", "node_id", "filters" }`, then `{ "kind": "event" | "decision" | "action", … }`
 * and, after losses, `{ "kind": "dropped", "count" }`.
 *
 * @fastify/websocket must be registered once per server (it listens for every upgrade): this
 * plugin registers it only when the app has not, so register it at app creation when another
 * route (MQTT over WebSocket) needs it too.
 */
export async function liveStreamRoutes(app: FastifyInstance, opts: LiveStreamRouteOptions): Promise<void> {
  // Before @fastify/websocket's own preClose (which closes sockets without a code) when this
  // plugin registers it; when the app registered it, that one runs first and clients see 1005.
  app.addHook('preClose', (done) => {
    opts.hub.close();
    done();
  });
  if (!app.hasDecorator('websocketServer')) await app.register(websocket, { options: { maxPayload: 64 * 1024 } });
  app.get<{ Querystring: StreamQuery }>(
    '/api/v1/stream',
    {
      websocket: true,
      schema: { summary: 'Live events, decisions and action updates (WebSocket)', tags: ['state'], querystring: StreamQuery },
      // The policy reads the token from the header or, for browsers (they cannot set headers
      // on a WebSocket), from `access_token` / `token` in the URL.
      config: requires('monitor'),
      // Still HTTP: a zone outside the caller's scope is refused before the upgrade; no zone
      // means the caller's whole scope.
      preHandler: async (request) => {
        const zone = scopedZone(request, request.query.zone);
        if (zone !== undefined) request.query.zone = zone;
      },
    },
    (socket, request) => {
      // Clients only listen; anything they send is ignored (ws enforces maxPayload).
      opts.hub.add(socket, parseStreamFilters(request.query));
    },
  );
}
