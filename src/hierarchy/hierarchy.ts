import { backoffMs } from '../actions/backoff.js';
import type { Kysely, Transaction } from 'kysely';
import type { Logger } from 'pino';
import { cityError } from '../errors.js';
import type { DecisionView, RuleMatch } from '../decisions/types.js';
import type { ZoneService } from '../geo/zone-service.js';
import type { Database } from '../store/schema.js';
import { Directives, type DirectivePayload, type DirectiveStatusMessage } from './directives.js';
import { Enrolments, applyPeers, enrolWithParent, type NodeCard } from './enrolment.js';
import { escalationMatch, recordEscalation, undecidedEscalations, type EscalationPayload, type EscalationPolicy } from './escalations.js';
import { LinkInbox, type LinkMessage, type LinkResult } from './inbox.js';
import { LINK_HEADER, type LinkAuth, type LinkedNode } from './link-auth.js';
import { LinkSender, type LinkBackoff } from './link-sender.js';
import { LayerReporter, recordChildReport } from './layer-reporter.js';
import type { NodeRole } from './roles.js';
import type { LinkHealth } from './topology-types.js';
import type { AggregationReport } from '../brain/aggregation.js';
import type { LayerReport } from './report-merge.js';
import { PeerDesk } from './peers.js';

export interface HierarchyOptions {
  db: Kysely<Database>;
  tenantId: string;
  nodeId: string;
  role: NodeRole;
  zoneId: string | null;
  zones: ZoneService;
  links: LinkAuth;
  /** Given at start (`--parent`); once enrolled, the stored parent URL is used when absent. */
  parentUrl: string | null;
  enrolToken: string | null;
  /** Where the parent and peers reach this node (read after the HTTP server listens). */
  advertiseUrl: () => string;
  fetch: typeof fetch;
  sender: { batchSize: number; backoff: LinkBackoff; requestTimeoutMs: number; idlePollMs: number };
  windowMs: number;
  reportGraceMs: number;
  escalation: EscalationPolicy;
  /** The node's decision writer. */
  submit: (matches: RuleMatch[]) => void;
  log: Logger;
}

/** Enrolment retries while the parent is unreachable: 0.5 s doubling to 30 s, with jitter. */
const ENROL_RETRY = { baseDelayMs: 500, maxDelayMs: 30_000 };

/** Which kinds each relation may send (a child cannot direct its parent, a peer cannot report). */
const KINDS_FROM: Record<LinkedNode['relation'], ReadonlySet<string>> = {
  child: new Set(['aggregation_report', 'layer_report', 'escalation', 'directive_status']),
  parent: new Set(['directive', 'peers']),
  peer: new Set(['resource_request', 'resource_offer', 'incident_handover', 'handover_accepted']),
};

/** Work that may only start once the receiving transaction has committed. */
type AfterCommit = () => void;

/**
 * A node's place in the hierarchy (issue 5): its links and what flows over them. The composition
 * root builds one per node whatever its role; a standalone node simply has no parent or children.
 *
 * - Links: one LinkSender per linked node (the parent, each child, each peer) drains that
 *   destination's outbox rows in order; the LinkInbox applies what arrives exactly once.
 * - Up: a Local Brain's window reports and escalations are queued by the reporter and by
 *   decisions (`escalate`); a higher layer stores its children's reports and merges them each
 *   window (LayerReporter), and decides on escalations — forwarding the severe ones at once.
 * - Down: directives fan out to the children in scope; leaves execute them (src/hierarchy/directives.ts).
 * - Across: peers exchange resource requests, offers and incident handovers (src/hierarchy/peers.ts).
 * - Offline: nothing here waits for another node. Decisions are made locally either way; the
 *   outbox keeps what the parent has not taken, and health says the uplink is down.
 */
export class Hierarchy {
  readonly links: LinkAuth;
  readonly enrolments: Enrolments;
  readonly directives: Directives;
  readonly peers: PeerDesk;
  readonly reporter: LayerReporter | null;
  readonly inbox: LinkInbox;
  readonly #o: HierarchyOptions;
  readonly #senders = new Map<string, LinkSender>();
  #enrolTimer: NodeJS.Timeout | null = null;
  #enrolError: string | null = null;
  #closed = false;

  constructor(options: HierarchyOptions) {
    this.#o = options;
    this.links = options.links;
    const self = { nodeId: options.nodeId, role: options.role, zoneId: options.zoneId };
    this.inbox = new LinkInbox({ db: options.db, tenantId: options.tenantId, log: options.log });
    this.enrolments = new Enrolments({
      db: options.db,
      tenantId: options.tenantId,
      self: { ...self, url: options.advertiseUrl },
      links: options.links,
      zones: options.zones,
      onChanged: async () => {
        await this.links.reload();
        this.poke();
      },
    });
    this.directives = new Directives({ db: options.db, tenantId: options.tenantId, self, links: options.links, zones: () => options.zones.tree, submit: options.submit });
    this.peers = new PeerDesk({ db: options.db, tenantId: options.tenantId, nodeId: options.nodeId, links: options.links, poke: (d) => this.poke(d) });
    this.reporter =
      options.role === 'local'
        ? null
        : new LayerReporter({
            db: options.db,
            tenantId: options.tenantId,
            nodeId: options.nodeId,
            role: options.role,
            zoneId: options.zoneId,
            zoneName: (id) => (id !== null && options.zones.tree.has(id) ? options.zones.tree.get(id).name : null),
            links: options.links,
            windowMs: options.windowMs,
            graceMs: options.reportGraceMs,
            onReport: () => this.poke('parent'),
            onError: (err, what) => options.log.error({ err }, `${what} failed`),
          });
    this.links.onChange(() => this.#syncSenders());
  }

  /** Enrols when needed (in the background when the parent is unreachable), starts the links, and finishes what a crash interrupted. */
  async start(): Promise<void> {
    await this.#adoptParentUrl();
    this.#syncSenders();
    if (this.#o.parentUrl !== null && this.links.parent() === null) void this.#enrol(0);
    const escalations = await undecidedEscalations(this.#o.db, this.#o.tenantId);
    this.#o.submit(escalations.flatMap((e) => this.#escalationMatch(e.source_node, e.payload) ?? []));
    this.#o.submit(await this.directives.recover());
    await this.reporter?.start();
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#enrolTimer) clearTimeout(this.#enrolTimer);
    await this.reporter?.close();
    await Promise.all([...this.#senders.values()].map((s) => s.close()));
    this.#senders.clear();
  }

  /** New outbox rows were committed: the senders look now rather than at their next poll. */
  poke(destination?: string): void {
    if (destination !== undefined) this.#senders.get(destination)?.poke();
    else for (const s of this.#senders.values()) s.poke();
  }

  /**
   * One batch from another node (POST /api/v1/layer/messages): applied in one transaction,
   * then the work that must follow the commit (decisions, revisions, pokes).
   */
  async receive(fromNode: string, messages: readonly LinkMessage[]): Promise<LinkResult[]> {
    const source = this.links.node(fromNode);
    if (!source || source.revoked_at !== null) throw cityError('LINK_AUTH_INVALID', { reason: `node ${fromNode} is not linked with ${this.#o.nodeId}` });
    const after: AfterCommit[] = [];
    const results = await this.inbox.receive(fromNode, messages, (trx, message) => this.#apply(trx, message, source, after));
    for (const work of after) work();
    return results;
  }

  /** A decision this node makes for a coordination it leads (an emergency route, an EOC activation). */
  submitDecision(match: RuleMatch): void {
    this.#o.submit([match]);
  }

  /** A decision was stored (any kind): directive executions report their progress. */
  decided(view: DecisionView): void {
    if (view.rule.kind === 'directive') void this.directives.decided(view).then(() => this.poke('parent'), (err) => this.#o.log.warn({ err }, 'directive status not recorded'));
    if (view.actions.some((a) => a.type === 'escalate')) this.poke('parent');
  }

  /** An action changed: a directive's execution may have finished. */
  actionChanged(decisionId: string): void {
    void this.directives.actionsChanged(decisionId).then(() => this.poke('parent'), (err) => this.#o.log.warn({ err }, 'directive status not recorded'));
  }

  /**
   * Every link's health at once, as the topology shows it: three grouped reads (outbox depth per
   * destination, last heard per source, last report per child) whatever the number of links,
   * then a lookup per link ('parent' for the parent). The dashboard asks every 5 s.
   */
  async linkHealths(): Promise<(destination: string, nodeId: string | null) => LinkHealth> {
    const { db, tenantId } = this.#o;
    const [pending, seen, reports] = await Promise.all([
      db
        .selectFrom('outbox')
        .select((eb) => ['destination', eb.fn.countAll<string | number>().as('n'), eb.fn.min('created_at').as('oldest')])
        .where('tenant_id', '=', tenantId)
        .where('delivered_at', 'is', null)
        .groupBy('destination')
        .execute(),
      db.selectFrom('link_inbox_sources').select(['source_node', 'last_received_at']).where('tenant_id', '=', tenantId).execute(),
      db.selectFrom('child_reports').select((eb) => ['source_node', eb.fn.max('received_at').as('at')]).where('tenant_id', '=', tenantId).groupBy('source_node').execute(),
    ]);
    const iso = (v: Date | string | null | undefined) => (v === null || v === undefined ? null : new Date(v).toISOString());
    const queued = new Map(pending.map((r) => [r.destination, { n: Number(r.n), oldest: iso(r.oldest) }]));
    const heard = new Map(seen.map((r) => [r.source_node, iso(r.last_received_at)]));
    const reported = new Map(reports.map((r) => [r.source_node, iso(r.at)]));
    const now = Date.now();
    return (destination, nodeId) => {
      const snap = this.#senders.get(destination)?.snapshot() ?? null;
      const q = queued.get(destination);
      const notEnrolled = destination === 'parent' && this.links.parent() === null;
      return {
        state: notEnrolled ? 'not_enrolled' : !snap ? 'idle' : snap.state === 'down' ? (snap.delivered > 0 ? 'degraded' : 'down') : snap.state,
        lag_ms: q?.oldest ? Math.max(0, now - Date.parse(q.oldest)) : 0,
        outbox_depth: q?.n ?? 0,
        last_seen_at: nodeId === null ? null : (heard.get(nodeId) ?? null),
        last_report_at: nodeId === null ? null : (reported.get(nodeId) ?? null),
        last_error: notEnrolled ? this.#enrolError : (snap?.last_error ?? null),
      };
    };
  }

  /** The uplink in one line for /healthz: a child working alone says so. */
  uplinkStatus(): { enrolled: boolean; parent: string | null; state: string; consecutive_failures: number; last_error: string | null } {
    const parent = this.links.parent();
    const snap = this.#senders.get('parent')?.snapshot();
    return {
      enrolled: parent !== null,
      parent: parent?.node_id ?? null,
      state: parent === null ? (this.#o.parentUrl ? 'not_enrolled' : 'standalone') : (snap?.state ?? 'idle'),
      consecutive_failures: snap?.consecutive_failures ?? 0,
      last_error: parent === null ? this.#enrolError : (snap?.last_error ?? null),
    };
  }

  // ---- applying messages ------------------------------------------------------------------

  async #apply(trx: Transaction<Database>, message: LinkMessage, source: LinkedNode, after: AfterCommit[]): Promise<void> {
    if (!KINDS_FROM[source.relation].has(message.kind)) {
      throw cityError('LINK_MESSAGE_INVALID', { index: message.message_id, source: source.node_id, reason: `a ${source.relation} may not send ${message.kind} (it may send ${[...KINDS_FROM[source.relation]].join(', ')})` });
    }
    const payload = message.payload as Record<string, unknown>;
    switch (message.kind) {
      case 'aggregation_report':
      case 'layer_report': {
        const windowStart = await recordChildReport(trx, this.#o.tenantId, source.node_id, payload as unknown as AggregationReport | LayerReport);
        if (windowStart === null) throw cityError('LINK_MESSAGE_INVALID', { index: message.message_id, source: source.node_id, reason: `${message.kind} without report_id, window_start and window_end` });
        if (this.reporter) after.push(() => this.reporter!.childReportArrived(windowStart));
        return;
      }
      case 'escalation': {
        const escalation = payload as EscalationPayload;
        if (typeof escalation.incident_id !== 'string' || typeof escalation.type !== 'string') throw cityError('LINK_MESSAGE_INVALID', { index: message.message_id, source: source.node_id, reason: 'an escalation needs incident_id and type' });
        if (await recordEscalation(trx, this.#o.tenantId, source.node_id, message.message_id, escalation)) {
          const match = this.#escalationMatch(source.node_id, escalation);
          if (match) after.push(() => this.#o.submit([match]));
        }
        return;
      }
      case 'directive_status':
        await this.directives.statusFromChild(trx, payload as unknown as DirectiveStatusMessage);
        after.push(() => this.poke('parent'));
        return;
      case 'directive': {
        const match = await this.directives.receive(trx, payload as unknown as DirectivePayload, source.node_id);
        after.push(() => {
          this.poke();
          if (match) this.#o.submit([match]);
        });
        return;
      }
      case 'peers':
        await applyPeers(trx, this.#o.tenantId, this.#o.nodeId, (payload.peers ?? []) as NodeCard[]);
        after.push(() => void this.links.reload().catch((err) => this.#o.log.warn({ err }, 'peer list not reloaded')));
        return;
      default: {
        const handover = await this.peers.receive(trx, message, source);
        after.push(() => {
          this.poke(source.node_id);
          if (handover) this.#o.submit([handover]);
        });
      }
    }
  }

  #escalationMatch(sourceId: string, payload: EscalationPayload): RuleMatch | null {
    const source = this.links.node(sourceId);
    if (!source) return null;
    return escalationMatch(payload, source, { role: this.#o.role, hasParent: this.links.parent() !== null || this.#o.parentUrl !== null }, this.#o.escalation, Date.now());
  }

  // ---- links --------------------------------------------------------------------------------

  /** One sender per active linked node (parent under 'parent'); senders of revoked nodes stop. */
  #syncSenders(): void {
    if (this.#closed) return;
    const wanted = new Map<string, LinkedNode>();
    for (const n of this.links.active()) wanted.set(n.relation === 'parent' ? 'parent' : n.node_id, n);
    for (const [destination, sender] of this.#senders) {
      if (!wanted.has(destination)) {
        void sender.close();
        this.#senders.delete(destination);
      }
    }
    for (const [destination, node] of wanted) {
      if (this.#senders.has(destination)) continue;
      const sender = new LinkSender({
        db: this.#o.db,
        tenantId: this.#o.tenantId,
        nodeId: this.#o.nodeId,
        destination,
        url: () => this.links.node(node.node_id)?.url ?? null,
        headers: async () => ({ [LINK_HEADER]: await this.links.credentialFor(node.node_id) }),
        batchSize: this.#o.sender.batchSize,
        backoff: this.#o.sender.backoff,
        requestTimeoutMs: this.#o.sender.requestTimeoutMs,
        idlePollMs: this.#o.sender.idlePollMs,
        fetch: this.#o.fetch,
      });
      this.#senders.set(destination, sender);
      sender.start();
    }
  }

  /** `--parent` given again with another URL (the parent moved): the stored one follows. */
  async #adoptParentUrl(): Promise<void> {
    const parent = this.links.parent();
    if (!parent || this.#o.parentUrl === null || parent.url === this.#o.parentUrl) return;
    await this.#o.db.updateTable('hierarchy_nodes').set({ url: this.#o.parentUrl, updated_at: new Date() }).where('tenant_id', '=', this.#o.tenantId).where('node_id', '=', parent.node_id).execute();
    await this.links.reload();
  }

  /** Enrolment, retried with capped backoff while the parent is unreachable (the node works alone meanwhile). */
  async #enrol(attempt: number): Promise<void> {
    this.#enrolTimer = null;
    if (this.#closed) return;
    const { parentUrl, enrolToken, log } = this.#o;
    if (parentUrl === null) return;
    if (enrolToken === null) {
      this.#enrolError = `not enrolled with ${parentUrl}: start with --enrol-token <token from POST /api/v1/layer/enrolments on the parent>`;
      log.error(this.#enrolError);
      return;
    }
    try {
      const parent = await enrolWithParent({
        db: this.#o.db,
        tenantId: this.#o.tenantId,
        parentUrl,
        fetch: this.#o.fetch,
        request: { token: enrolToken, node_id: this.#o.nodeId, role: this.#o.role, zone_id: this.#o.zoneId, url: this.#o.advertiseUrl(), public_key: this.links.publicJwk },
      });
      this.#enrolError = null;
      await this.links.reload();
      log.info({ parent: parent.node_id, url: parentUrl }, 'enrolled with the parent');
      this.poke('parent');
    } catch (err) {
      this.#enrolError = (err as Error).message;
      const status = (err as { details?: { status?: number } }).details?.status;
      // A refused token will not become valid by waiting: say so once and stop.
      if (status !== undefined && status < 500) {
        log.error({ err }, 'enrolment refused by the parent');
        return;
      }
      const delay = backoffMs(attempt + 1, ENROL_RETRY);
      log.warn({ err: (err as Error).message, retryInMs: Math.round(delay) }, 'parent unreachable for enrolment: working alone, retrying');
      this.#enrolTimer = setTimeout(() => void this.#enrol(attempt + 1), delay).unref();
    }
  }
}
