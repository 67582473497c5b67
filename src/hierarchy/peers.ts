import type { Kysely, Transaction } from 'kysely';
import { cityError } from '../errors.js';
import { uuidv7 } from '../events/ids.js';
import type { RuleMatch } from '../decisions/types.js';
import type { Database } from '../store/schema.js';
import type { LinkMessage } from './inbox.js';
import type { LinkAuth, LinkedNode } from './link-auth.js';

export const PEER_DEFAULTS = {
  /** Units of each resource type a node keeps for itself whatever its neighbours ask. */
  reservePerType: 1,
  /** Resource ids named in one offer. */
  maxOfferedIds: 50,
} as const;

export interface ResourceRequestInput {
  /** One peer, or every peer when absent. */
  peer?: string;
  resource_type: string;
  quantity: number;
  reason?: string;
  incident_id?: string;
  location?: { latitude: number; longitude: number } | null;
}

export interface HandoverInput {
  peer: string;
  incident_id: string;
  type: string;
  severity?: string | null;
  zone_id?: string | null;
  location?: { latitude: number; longitude: number } | null;
  reason?: string;
}

export interface PeerMessageView {
  message_id: string;
  peer_node: string;
  direction: 'in' | 'out';
  kind: string;
  in_reply_to: string | null;
  payload: Record<string, unknown>;
  created_at: string;
}

/**
 * Horizontal flow between peers (issue 5 §4; seed 001 §7.3): nodes of one layer whose zones
 * touch ask each other for resources, offer what they can spare, and hand over incidents that
 * cross their boundary. Every message is kept both ways in `peer_messages`; answers are queued in
 * the transaction that receives the question, so a request is answered exactly once.
 *
 * - A resource request is answered with an offer of the units of that type the node holds
 *   `available` beyond its own reserve (`reservePerType`), naming them; nothing is offered
 *   when there is nothing to spare (the offer says 0, so the asker is not left waiting).
 * - An incident handed over becomes a decision here (rule kind `escalation`, from the peer) and
 *   is acknowledged with `handover_accepted`.
 */
export class PeerDesk {
  readonly #o: { db: Kysely<Database>; tenantId: string; nodeId: string; links: LinkAuth; poke: (destination?: string) => void };

  constructor(options: { db: Kysely<Database>; tenantId: string; nodeId: string; links: LinkAuth; poke: (destination?: string) => void }) {
    this.#o = options;
  }

  async requestResources(input: ResourceRequestInput, requestedBy: string): Promise<{ message_ids: string[]; peers: string[] }> {
    if (!Number.isInteger(input.quantity) || input.quantity < 1) throw cityError('HIERARCHY_INVALID', { reason: 'quantity must be a whole number of at least 1' });
    const peers = this.#targets(input.peer);
    const ids = await this.#send(peers, 'resource_request', null, { ...input, requested_by: requestedBy });
    return { message_ids: ids, peers: peers.map((p) => p.node_id) };
  }

  async handOver(input: HandoverInput, requestedBy: string): Promise<{ message_id: string }> {
    const [id] = await this.#send(this.#targets(input.peer), 'incident_handover', null, { ...input, handed_over_by: requestedBy });
    return { message_id: id! };
  }

  async list(q: { peer?: string; limit: number }): Promise<PeerMessageView[]> {
    let query = this.#o.db.selectFrom('peer_messages').selectAll().where('tenant_id', '=', this.#o.tenantId);
    if (q.peer !== undefined) query = query.where('peer_node', '=', q.peer);
    const rows = await query.orderBy('created_at', 'desc').limit(q.limit).execute();
    return rows.map((r) => ({ message_id: r.message_id, peer_node: r.peer_node, direction: r.direction, kind: r.kind, in_reply_to: r.in_reply_to, payload: parse(r.payload), created_at: new Date(r.created_at).toISOString() }));
  }

  /** A peer's message, applied in the inbox transaction. Returns the decision to make once it commits (a handover). */
  async receive(trx: Transaction<Database>, message: LinkMessage, source: LinkedNode): Promise<RuleMatch | null> {
    const payload = (message.payload ?? {}) as Record<string, unknown>;
    const inReplyTo = typeof payload.in_reply_to === 'string' ? payload.in_reply_to : null;
    await trx
      .insertInto('peer_messages')
      .values({ message_id: message.message_id, tenant_id: this.#o.tenantId, peer_node: source.node_id, direction: 'in', kind: message.kind, in_reply_to: inReplyTo, payload: JSON.stringify(payload) })
      .onConflict((oc) => oc.column('message_id').doNothing())
      .execute();
    if (message.kind === 'resource_request') {
      const type = String(payload.resource_type ?? '');
      const wanted = Number(payload.quantity ?? 0);
      const spare = await trx
        .selectFrom('resources')
        .select(['resource_id', 'lat', 'lng'])
        .where('tenant_id', '=', this.#o.tenantId)
        .where('resource_type', '=', type)
        .where('status', '=', 'available')
        .orderBy('resource_id')
        .execute();
      const offered = spare.slice(0, Math.max(0, Math.min(wanted, spare.length - PEER_DEFAULTS.reservePerType)));
      await this.#queue(trx, source.node_id, 'resource_offer', message.message_id, {
        in_reply_to: message.message_id,
        resource_type: type,
        quantity: offered.length,
        requested: wanted,
        available: spare.length,
        reserve: PEER_DEFAULTS.reservePerType,
        resources: offered.slice(0, PEER_DEFAULTS.maxOfferedIds).map((r) => ({ resource_id: r.resource_id, location: r.lat !== null && r.lng !== null ? { latitude: r.lat, longitude: r.lng } : null })),
      });
    } else if (message.kind === 'incident_handover') {
      await this.#queue(trx, source.node_id, 'handover_accepted', message.message_id, { in_reply_to: message.message_id, incident_id: payload.incident_id, accepted_by: this.#o.nodeId });
      return handoverMatch(payload, source);
    }
    return null;
  }

  #targets(peer: string | undefined): LinkedNode[] {
    const peers = this.#o.links.active('peer');
    if (peer === undefined) {
      if (peers.length === 0) throw cityError('HIERARCHY_INVALID', { reason: `${this.#o.nodeId} has no peers yet (its parent introduces the nodes whose zones touch its own)` });
      return peers;
    }
    const found = peers.find((p) => p.node_id === peer);
    if (!found) throw cityError('NODE_UNKNOWN', { nodeId: peer });
    return [found];
  }

  async #send(peers: LinkedNode[], kind: string, inReplyTo: string | null, payload: Record<string, unknown>): Promise<string[]> {
    const ids: string[] = [];
    await this.#o.db.transaction().execute(async (trx) => {
      for (const p of peers) ids.push(await this.#queue(trx, p.node_id, kind, inReplyTo, payload));
    });
    for (const p of peers) this.#o.poke(p.node_id);
    return ids;
  }

  async #queue(trx: Transaction<Database>, peer: string, kind: string, inReplyTo: string | null, payload: Record<string, unknown>): Promise<string> {
    const messageId = uuidv7(Date.now());
    const text = JSON.stringify(payload);
    await trx.insertInto('peer_messages').values({ message_id: messageId, tenant_id: this.#o.tenantId, peer_node: peer, direction: 'out', kind, in_reply_to: inReplyTo, payload: text }).execute();
    await trx.insertInto('outbox').values({ tenant_id: this.#o.tenantId, message_id: messageId, destination: peer, kind, payload: text }).execute();
    return messageId;
  }
}

function handoverMatch(p: Record<string, unknown>, source: LinkedNode): RuleMatch {
  const incidentId = String(p.incident_id);
  const location = p.location as { latitude: number; longitude: number } | null | undefined;
  const now = Date.now();
  const type = String(p.type ?? 'incident');
  const severity = typeof p.severity === 'string' ? p.severity : null;
  return {
    kind: 'escalation',
    ruleId: `handover:${type}`,
    ruleName: type,
    rulePriority: 0,
    dedupKey: `handover:${source.node_id}:${incidentId}`,
    triggerEventId: incidentId,
    events: [{ eventId: incidentId, pluginId: `node:${source.node_id}`, pluginVersion: '', eventType: type, severity, confidence: null, tsMs: now, receivedAtMs: now, zoneId: (p.zone_id as string | null) ?? null, lat: location?.latitude ?? null, lng: location?.longitude ?? null, role: 'trigger' }],
    conditions: [{ role: 'handover', source: `handed over by peer ${source.node_id}`, values: { incident_id: incidentId, reason: p.reason ?? null } }],
    severity,
    zoneId: (p.zone_id as string | null) ?? null,
    lat: location?.latitude ?? null,
    lng: location?.longitude ?? null,
    actions: [{ type: 'log_event', log: 'handovers' }],
    escalationRules: [],
    explanation: `${type} ${incidentId} handed over by peer ${source.node_id}: ${String(p.reason ?? 'it crosses into this zone')}`,
    matchedAtMs: now,
  };
}

function parse(value: unknown): Record<string, unknown> {
  return (typeof value === 'string' ? JSON.parse(value) : value) as Record<string, unknown>;
}
