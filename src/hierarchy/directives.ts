import type { Kysely, Transaction } from 'kysely';
import { cityError } from '../errors.js';
import { uuidv7 } from '../events/ids.js';
import type { ZoneTree } from '../geo/zones.js';
import type { ActionSpec, DecisionView, RuleMatch } from '../decisions/types.js';
import type { Database } from '../store/schema.js';
import type { LinkAuth, LinkedNode } from './link-auth.js';

/** A directive or command as it travels down (seed 001 §5.3 `directive`, §4.3 `command`, §12.3 /layer/command). */
export interface DirectivePayload {
  directive_id: string;
  origin_node: string;
  issued_at: string;
  issued_by: string;
  /** The seed's `directive` or `command` word, e.g. flood_emergency_protocol, clear_route_for_emergency. */
  name: string;
  form: 'directive' | 'command';
  /** Every node whose zone overlaps it takes part; null: the whole subtree. */
  scope_zone_id: string | null;
  actions: Array<string | ActionSpec>;
  priority: string | null;
  /** Everything else the issuer sent (resources_allocated, route_segments, parameters …), passed to each action. */
  parameters: Record<string, unknown>;
}

export interface DirectiveInput {
  directive?: string;
  command?: string;
  scope_zone_id?: string | null;
  /** Only these direct children (default: every child in scope). */
  target_nodes?: string[];
  actions?: Array<string | ActionSpec>;
  priority?: string | null;
  /** Extra fields for one child only (the ambulance's route segments per neighbourhood). */
  per_node?: Record<string, Record<string, unknown>>;
  [field: string]: unknown;
}

export type DirectiveState = 'sent' | 'acknowledged' | 'executing' | 'completed' | 'failed';
/** A status never moves back (an acknowledgement arriving after the completion changes nothing). */
const RANK: Record<DirectiveState, number> = { sent: 0, acknowledged: 1, executing: 2, completed: 3, failed: 3 };

export interface DirectiveStatusMessage {
  directive_id: string;
  origin_node: string;
  node_id: string;
  parent_node: string | null;
  role: string;
  zone_id: string | null;
  status: DirectiveState;
  detail: Record<string, unknown>;
  at: string;
  /** The children this node passed the directive to (they appear as `sent` at the origin). */
  forwarded_to?: Array<{ node_id: string; role: string; zone_id: string | null }>;
}

export interface NodeStatusView {
  node_id: string;
  parent_node: string | null;
  role: string | null;
  zone_id: string | null;
  status: DirectiveState;
  detail: Record<string, unknown> | null;
  updated_at: string;
}

export interface DirectiveView {
  directive: DirectivePayload;
  received_from: string | null;
  decision_id: string | null;
  nodes: NodeStatusView[];
  counts: Record<DirectiveState, number>;
  /** Every node that executes (no children in scope) has completed or failed. */
  finished: boolean;
}

export interface DirectivesOptions {
  db: Kysely<Database>;
  tenantId: string;
  self: { nodeId: string; role: string; zoneId: string | null };
  links: LinkAuth;
  zones: () => ZoneTree;
  /** Hands a leaf's execution to the decision writer (after the receiving transaction commits). */
  submit: (matches: RuleMatch[]) => void;
  now?: () => number;
}

/**
 * Directives down the tree (issue 5 §3; seed 001 §7.2 downward flow). The issuer stores the
 * directive and queues it to each child in scope; each node, inside the link transaction that
 * receives it, stores it, passes it on to its own children in scope, and acknowledges up. A node
 * with no children in scope executes it: a decision (rule kind `directive`) whose actions go
 * through the node's own action targets — actuators, MQTT command topics — like any decision.
 * When those actions finish, the node reports `completed` (or `failed`, naming the action). Each
 * status travels up hop by hop to the issuer, which shows per-node status for the whole subtree.
 */
export class Directives {
  readonly #o: DirectivesOptions;
  readonly #now: () => number;
  /** Directive decisions whose actions are still running: decision id → directive id. */
  readonly #running = new Map<string, string>();

  constructor(options: DirectivesOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  /** Issues a directive at this node. @throws CITY_ERR_HIERARCHY_INVALID naming what is wrong */
  async issue(input: DirectiveInput, issuedBy: string): Promise<{ directive: DirectivePayload; targets: string[]; executes_here: boolean }> {
    const name = input.directive ?? input.command;
    if (typeof name !== 'string' || name.length === 0) throw cityError('HIERARCHY_INVALID', { reason: 'a directive needs `directive` (seed 001 §5.3) or `command` (§4.3): its name' });
    const scope = input.scope_zone_id ?? null;
    if (scope !== null && !this.#o.zones().has(scope)) throw cityError('ZONE_NOT_FOUND', { zoneId: scope });
    const { directive: _d, command: _c, scope_zone_id: _s, target_nodes: targetNodes, actions, priority, per_node: perNode, ...parameters } = input;
    const directive: DirectivePayload = {
      directive_id: uuidv7(this.#now()),
      origin_node: this.#o.self.nodeId,
      issued_at: new Date(this.#now()).toISOString(),
      issued_by: issuedBy,
      name,
      form: input.directive !== undefined ? 'directive' : 'command',
      scope_zone_id: scope,
      actions: actions ?? [],
      priority: priority ?? null,
      parameters,
    };
    let children = this.#childrenInScope(scope);
    if (targetNodes !== undefined) {
      const unknown = targetNodes.filter((id) => !this.#o.links.active('child').some((c) => c.node_id === id));
      if (unknown.length > 0) throw cityError('HIERARCHY_INVALID', { reason: `target_nodes ${unknown.join(', ')} are not children of ${this.#o.self.nodeId}` });
      children = children.filter((c) => targetNodes.includes(c.node_id));
    }
    const executions: RuleMatch[] = [];
    await this.#o.db.transaction().execute(async (trx) => {
      await this.#store(trx, directive, null);
      await this.#fanOut(trx, directive, children, perNode ?? {});
      if (children.length === 0) executions.push(this.#match(directive, null));
    });
    this.#o.submit(executions);
    return { directive, targets: children.map((c) => c.node_id), executes_here: executions.length > 0 };
  }

  /**
   * A directive from the parent, applied inside the inbox transaction. Returns the decision to
   * make once the transaction commits (a leaf), or null.
   */
  async receive(trx: Transaction<Database>, directive: DirectivePayload, fromParent: string): Promise<RuleMatch | null> {
    const inserted = await this.#store(trx, directive, fromParent);
    if (!inserted) return null;
    const children = this.#childrenInScope(directive.scope_zone_id);
    await this.#fanOut(trx, directive, children, {});
    const execute = children.length === 0;
    await this.#report(trx, directive, 'acknowledged', execute ? { executes: true } : { forwarded: children.length }, children);
    return execute ? this.#match(directive, fromParent) : null;
  }

  /** A child's status, applied inside the inbox transaction, and passed up unless this node issued the directive. */
  async statusFromChild(trx: Transaction<Database>, message: DirectiveStatusMessage): Promise<void> {
    await this.#upsertStatus(trx, message);
    for (const f of message.forwarded_to ?? []) {
      await trx
        .insertInto('directive_status')
        .values({ tenant_id: this.#o.tenantId, directive_id: message.directive_id, node_id: f.node_id, parent_node: message.node_id, role: f.role, zone_id: f.zone_id, status: 'sent', detail: null })
        .onConflict((oc) => oc.columns(['directive_id', 'node_id']).doNothing())
        .execute();
    }
    if (message.origin_node !== this.#o.self.nodeId) {
      await trx.insertInto('outbox').values({ tenant_id: this.#o.tenantId, message_id: uuidv7(this.#now()), destination: 'parent', kind: 'directive_status', payload: JSON.stringify(message) }).execute();
    }
  }

  /** The executing decision was stored: say so up, and finish at once when no action is left running. */
  async decided(view: DecisionView): Promise<void> {
    const directiveId = view.event_id;
    const directive = await this.#directive(directiveId);
    if (!directive) return;
    await this.#o.db.transaction().execute(async (trx) => {
      await trx.updateTable('directives').set({ decision_id: view.decision_id }).where('directive_id', '=', directiveId).execute();
      await this.#report(trx, directive, 'executing', { decision_id: view.decision_id, actions: view.actions.map((a) => ({ type: a.type, status: a.status })) });
    });
    this.#running.set(view.decision_id, directiveId);
    await this.actionsChanged(view.decision_id);
  }

  /** An action of some decision changed; when it is a directive's and all its actions are final, report the outcome. */
  async actionsChanged(decisionId: string): Promise<void> {
    const directiveId = this.#running.get(decisionId);
    if (directiveId === undefined) return;
    const actions = await this.#o.db.selectFrom('actions').select(['type', 'status', 'last_error', 'result']).where('decision_id', '=', decisionId).orderBy('position').execute();
    if (actions.some((a) => a.status !== 'COMPLETED' && a.status !== 'FAILED' && a.status !== 'CANCELLED')) return;
    this.#running.delete(decisionId);
    const directive = await this.#directive(directiveId);
    if (!directive) return;
    const failed = actions.filter((a) => a.status !== 'COMPLETED');
    const detail = {
      decision_id: decisionId,
      actions: actions.map((a) => ({ type: a.type, status: a.status, result: a.result, error: a.last_error })),
      ...(failed.length > 0 ? { reason: failed.map((a) => `${a.type} ${a.status.toLowerCase()}${a.last_error ? `: ${a.last_error}` : ''}`).join('; ') } : {}),
    };
    await this.#o.db.transaction().execute((trx) => this.#report(trx, directive, failed.length > 0 ? 'failed' : 'completed', detail));
  }

  /** Executions a crash interrupted: directives received here to execute whose decision is missing or still running. */
  async recover(): Promise<RuleMatch[]> {
    const rows = await this.#o.db
      .selectFrom('directives as d')
      .innerJoin('directive_status as s', (j) => j.onRef('s.directive_id', '=', 'd.directive_id').on('s.node_id', '=', this.#o.self.nodeId))
      .select(['d.payload', 'd.received_from', 'd.decision_id', 's.status'])
      .where('d.tenant_id', '=', this.#o.tenantId)
      .where('s.status', 'in', ['acknowledged', 'executing'])
      .execute();
    const matches: RuleMatch[] = [];
    for (const r of rows) {
      const payload = parse<DirectivePayload>(r.payload);
      if (r.decision_id !== null) this.#running.set(r.decision_id, payload.directive_id);
      else if (r.status === 'acknowledged' && this.#childrenInScope(payload.scope_zone_id).length === 0) matches.push(this.#match(payload, r.received_from));
    }
    for (const decisionId of [...this.#running.keys()]) await this.actionsChanged(decisionId);
    return matches;
  }

  async get(directiveId: string): Promise<DirectiveView> {
    const row = await this.#o.db.selectFrom('directives').selectAll().where('tenant_id', '=', this.#o.tenantId).where('directive_id', '=', directiveId).executeTakeFirst();
    if (!row) throw cityError('DIRECTIVE_NOT_FOUND', { directiveId });
    const statuses = await this.#o.db.selectFrom('directive_status').selectAll().where('directive_id', '=', directiveId).orderBy('node_id').execute();
    const nodes: NodeStatusView[] = statuses.map((s) => ({
      node_id: s.node_id,
      parent_node: s.parent_node,
      role: s.role,
      zone_id: s.zone_id,
      status: s.status as DirectiveState,
      detail: s.detail === null ? null : parse<Record<string, unknown>>(s.detail),
      updated_at: new Date(s.updated_at).toISOString(),
    }));
    const counts: Record<DirectiveState, number> = { sent: 0, acknowledged: 0, executing: 0, completed: 0, failed: 0 };
    for (const n of nodes) counts[n.status]++;
    // Executors: nodes no other node passed it on from (leaves of the status tree), this node excepted when it forwarded.
    const forwarders = new Set(nodes.map((n) => n.parent_node).filter((p): p is string => p !== null));
    const executors = nodes.filter((n) => !forwarders.has(n.node_id) && !(n.node_id === this.#o.self.nodeId && nodes.length > 1));
    const finished = executors.length > 0 && executors.every((n) => n.status === 'completed' || n.status === 'failed');
    return { directive: parse<DirectivePayload>(row.payload), received_from: row.received_from, decision_id: row.decision_id, nodes, counts, finished };
  }

  async list(limit: number): Promise<Array<{ directive: DirectivePayload; received_from: string | null; received_at: string }>> {
    const rows = await this.#o.db.selectFrom('directives').selectAll().where('tenant_id', '=', this.#o.tenantId).orderBy('issued_at', 'desc').limit(limit).execute();
    return rows.map((r) => ({ directive: parse<DirectivePayload>(r.payload), received_from: r.received_from, received_at: new Date(r.received_at).toISOString() }));
  }

  // ---- internals ---------------------------------------------------------------------------

  /** Children whose zone overlaps the scope (inside it, or containing it). */
  #childrenInScope(scope: string | null): LinkedNode[] {
    const tree = this.#o.zones();
    return this.#o.links.active('child').filter((c) => {
      if (scope === null || c.zone_id === null) return true;
      if (!tree.has(c.zone_id) || !tree.has(scope)) return c.zone_id === scope;
      return tree.isWithin(c.zone_id, scope) || tree.isWithin(scope, c.zone_id);
    });
  }

  async #store(trx: Transaction<Database>, d: DirectivePayload, receivedFrom: string | null): Promise<boolean> {
    const row = await trx
      .insertInto('directives')
      .values({ directive_id: d.directive_id, tenant_id: this.#o.tenantId, origin_node: d.origin_node, received_from: receivedFrom, name: d.name, scope_zone_id: d.scope_zone_id, payload: JSON.stringify(d), issued_at: d.issued_at })
      .onConflict((oc) => oc.column('directive_id').doNothing())
      .returning('directive_id')
      .executeTakeFirst();
    return row !== undefined;
  }

  async #fanOut(trx: Transaction<Database>, d: DirectivePayload, children: LinkedNode[], perNode: Record<string, Record<string, unknown>>): Promise<void> {
    if (children.length === 0) return;
    const nowMs = this.#now();
    await trx
      .insertInto('outbox')
      .values(
        children.map((c) => ({
          tenant_id: this.#o.tenantId,
          message_id: uuidv7(nowMs),
          destination: c.node_id,
          kind: 'directive',
          payload: JSON.stringify(perNode[c.node_id] ? { ...d, parameters: { ...d.parameters, ...perNode[c.node_id] } } : d),
        })),
      )
      .execute();
    await trx
      .insertInto('directive_status')
      .values(children.map((c) => ({ tenant_id: this.#o.tenantId, directive_id: d.directive_id, node_id: c.node_id, parent_node: this.#o.self.nodeId, role: c.role, zone_id: c.zone_id, status: 'sent', detail: null })))
      .onConflict((oc) => oc.columns(['directive_id', 'node_id']).doNothing())
      .execute();
  }

  /** This node's own status: kept here and, unless this node issued the directive, queued to the parent. */
  async #report(trx: Transaction<Database>, d: DirectivePayload, status: DirectiveState, detail: Record<string, unknown>, forwardedTo: LinkedNode[] = []): Promise<void> {
    const self = this.#o.self;
    const message: DirectiveStatusMessage = {
      directive_id: d.directive_id,
      origin_node: d.origin_node,
      node_id: self.nodeId,
      parent_node: d.origin_node === self.nodeId ? null : (this.#o.links.parent()?.node_id ?? null),
      role: self.role,
      zone_id: self.zoneId,
      status,
      detail,
      at: new Date(this.#now()).toISOString(),
      ...(forwardedTo.length > 0 ? { forwarded_to: forwardedTo.map((c) => ({ node_id: c.node_id, role: c.role, zone_id: c.zone_id })) } : {}),
    };
    await this.#upsertStatus(trx, message);
    if (d.origin_node !== self.nodeId) {
      await trx.insertInto('outbox').values({ tenant_id: this.#o.tenantId, message_id: uuidv7(this.#now()), destination: 'parent', kind: 'directive_status', payload: JSON.stringify(message) }).execute();
    }
  }

  async #upsertStatus(trx: Transaction<Database>, m: DirectiveStatusMessage): Promise<void> {
    const existing = await trx.selectFrom('directive_status').select('status').where('directive_id', '=', m.directive_id).where('node_id', '=', m.node_id).executeTakeFirst();
    if (existing && RANK[existing.status as DirectiveState] > RANK[m.status]) return;
    const values = { status: m.status, detail: JSON.stringify(m.detail), updated_at: new Date(m.at), role: m.role, zone_id: m.zone_id, parent_node: m.parent_node };
    await trx
      .insertInto('directive_status')
      .values({ tenant_id: this.#o.tenantId, directive_id: m.directive_id, node_id: m.node_id, ...values })
      .onConflict((oc) => oc.columns(['directive_id', 'node_id']).doUpdateSet(values))
      .execute();
  }

  async #directive(directiveId: string): Promise<DirectivePayload | null> {
    const row = await this.#o.db.selectFrom('directives').select('payload').where('directive_id', '=', directiveId).executeTakeFirst();
    return row ? parse<DirectivePayload>(row.payload) : null;
  }

  /** The decision that executes a directive here: its actions through this node's own targets. */
  #match(d: DirectivePayload, receivedFrom: string | null): RuleMatch {
    // A named action goes to the target of the same name: a configured actuator or channel, else
    // the zone's MQTT command topic `city/{zone}/commands/{action}` (src/actions/targets.ts), where
    // the devices that carry it out listen.
    const actions: ActionSpec[] = d.actions.map((a) =>
      typeof a === 'string' ? { type: a, target: a, directive_id: d.directive_id, directive: d.name, ...d.parameters } : { target: a.type, directive_id: d.directive_id, directive: d.name, ...d.parameters, ...a },
    );
    // Nothing to actuate is still an execution: it is logged, so the decision says what was received.
    if (actions.length === 0) actions.push({ type: 'log_event', log: 'directives' });
    const via = receivedFrom && receivedFrom !== d.origin_node ? ` via ${receivedFrom}` : '';
    return {
      kind: 'directive',
      ruleId: `directive:${d.name}`,
      ruleName: d.name,
      rulePriority: 0,
      dedupKey: `directive:${d.directive_id}`,
      triggerEventId: d.directive_id,
      events: [],
      conditions: [{ role: 'directive', source: `${d.form} ${d.name} from ${d.origin_node}${via}`, values: { directive_id: d.directive_id, origin_node: d.origin_node, issued_by: d.issued_by, ...d.parameters } }],
      severity: d.priority,
      zoneId: this.#o.self.zoneId,
      lat: null,
      lng: null,
      actions,
      escalationRules: [],
      explanation: `${d.form} ${d.name} from ${d.origin_node}${via}, issued by ${d.issued_by} at ${d.issued_at}`,
      matchedAtMs: this.#now(),
    };
  }
}

function parse<T>(value: unknown): T {
  return (typeof value === 'string' ? JSON.parse(value) : value) as T;
}
