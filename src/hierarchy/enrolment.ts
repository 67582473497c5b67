import { randomBytes } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { JWK } from 'jose';
import { hashApiKey } from '../auth/api-keys.js';
import { cityError } from '../errors.js';
import { uuidv7 } from '../events/ids.js';
import type { ZoneLookup } from '../geo/roads.js';
import type { Database } from '../store/schema.js';
import type { LinkAuth, LinkedNode } from './link-auth.js';
import { childProblem, isNodeRole, touchingZones, type NodeRole } from './roles.js';

export const ENROLMENT_DEFAULTS = {
  /** A token not used within a day must be issued again (it travels by hand or by config management). */
  tokenTtlS: 86_400,
  maxTokenTtlS: 30 * 86_400,
} as const;

/** The path a parent takes enrolments on. */
export const ENROL_PATH = '/api/v1/layer/enrol';

export interface EnrolRequest {
  token: string;
  node_id: string;
  role: NodeRole;
  zone_id: string | null;
  /** Where the parent (and peers) reach the child. */
  url: string;
  public_key: JWK;
}

/** What a node says of itself in enrolment answers and peer introductions. */
export interface NodeCard {
  node_id: string;
  role: string;
  zone_id: string | null;
  url: string | null;
  public_key: JWK;
}

export interface EnrolAnswer {
  parent: NodeCard;
  enrolled_at: string;
}

export interface IssuedToken {
  token: string;
  node_id: string;
  role: NodeRole;
  zone_id: string | null;
  expires_at: string;
  /** The command that starts the child with this token (the parent's URL filled in). */
  command: string;
}

export interface EnrolmentOptions {
  db: Kysely<Database>;
  tenantId: string;
  self: { nodeId: string; role: NodeRole; zoneId: string | null; url: () => string };
  links: LinkAuth;
  zones: ZoneLookup;
  /** After a child enrolled or was revoked (committed): the links reload, senders start. */
  onChanged: () => Promise<void>;
  now?: () => number;
}

/**
 * The parent's side of enrolment (issue 5 §1: "A parent enrols a child with a one-time token and
 * issues it link credentials"). An admin issues a token for one node id, role and zone; the
 * child presents it once, with its public key and URL, and gets the parent's public key back.
 * Only the token's hash is stored, and using it stamps `used_at` in the transaction that records
 * the child, so two children racing with one token cannot both enrol. From then on each side
 * signs its link requests with its own key (src/hierarchy/link-auth.ts).
 *
 * Siblings whose zones touch are introduced to each other as peers (seed 001 §7.3) by a `peers`
 * message queued to each child in the same transaction.
 */
export class Enrolments {
  readonly #o: EnrolmentOptions;
  readonly #now: () => number;

  constructor(options: EnrolmentOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  /** Issues a one-time token for a child. @throws CITY_ERR_HIERARCHY_INVALID when the child cannot sit under this node */
  async issue(input: { node_id: string; role: string; zone_id?: string | null; ttl_s?: number }, createdBy: string): Promise<IssuedToken> {
    const { self, db, tenantId } = this.#o;
    if (!isNodeRole(input.role)) throw cityError('HIERARCHY_INVALID', { reason: `role ${input.role} is not one of local, district, city, state, national` });
    if (input.node_id === self.nodeId) throw cityError('HIERARCHY_INVALID', { reason: `${input.node_id} is this node's own id` });
    const zoneId = input.zone_id ?? null;
    const problem = childProblem(this.#o.zones.tree, self.role, self.zoneId, input.role, zoneId);
    if (problem) throw cityError('HIERARCHY_INVALID', { reason: problem });
    const existing = this.#o.links.node(input.node_id);
    if (existing && existing.relation !== 'child') throw cityError('HIERARCHY_INVALID', { reason: `${input.node_id} is this node's ${existing.relation}` });
    const ttlS = Math.min(input.ttl_s ?? ENROLMENT_DEFAULTS.tokenTtlS, ENROLMENT_DEFAULTS.maxTokenTtlS);
    const token = `enr_${randomBytes(24).toString('base64url')}`;
    const expiresAt = new Date(this.#now() + ttlS * 1000);
    await db
      .insertInto('enrolment_tokens')
      .values({ token_hash: hashApiKey(token), tenant_id: tenantId, node_id: input.node_id, role: input.role, zone_id: zoneId, created_by: createdBy, expires_at: expiresAt })
      .execute();
    const zoneFlag = zoneId ? ` --zone ${zoneId}` : '';
    return {
      token,
      node_id: input.node_id,
      role: input.role,
      zone_id: zoneId,
      expires_at: expiresAt.toISOString(),
      command: `city start --role ${input.role} --node-id ${input.node_id}${zoneFlag} --parent ${self.url()} --enrol-token ${token}`,
    };
  }

  /** Tokens not used yet and not expired (never the tokens themselves). */
  async pending(): Promise<Array<{ node_id: string; role: string; zone_id: string | null; created_by: string; expires_at: string }>> {
    const rows = await this.#o.db
      .selectFrom('enrolment_tokens')
      .select(['node_id', 'role', 'zone_id', 'created_by', 'expires_at'])
      .where('tenant_id', '=', this.#o.tenantId)
      .where('used_at', 'is', null)
      .where('expires_at', '>', new Date(this.#now()))
      .orderBy('created_at')
      .execute();
    return rows.map((r) => ({ ...r, expires_at: new Date(r.expires_at).toISOString() }));
  }

  /**
   * A child presents its token. @throws CITY_ERR_ENROL_TOKEN_INVALID (unknown, used, expired),
   * CITY_ERR_ENROL_MISMATCH (the token names another node, role or zone)
   */
  async enrol(request: EnrolRequest): Promise<EnrolAnswer> {
    const { db, tenantId, self } = this.#o;
    const hash = hashApiKey(request.token);
    const enrolledAt = new Date(this.#now());
    await db.transaction().execute(async (trx) => {
      const token = await trx.selectFrom('enrolment_tokens').selectAll().where('token_hash', '=', hash).where('tenant_id', '=', tenantId).forUpdate().executeTakeFirst();
      if (!token) throw cityError('ENROL_TOKEN_INVALID', { reason: 'unknown' });
      if (token.used_at !== null) throw cityError('ENROL_TOKEN_INVALID', { reason: `already used at ${new Date(token.used_at).toISOString()}` });
      if (new Date(token.expires_at).getTime() <= enrolledAt.getTime()) throw cityError('ENROL_TOKEN_INVALID', { reason: `expired at ${new Date(token.expires_at).toISOString()}` });
      const expected = `${token.node_id} (${token.role}${token.zone_id ? ` over ${token.zone_id}` : ''})`;
      const given = `${request.node_id} (${request.role}${request.zone_id ? ` over ${request.zone_id}` : ''})`;
      if (token.node_id !== request.node_id || token.role !== request.role || (token.zone_id ?? null) !== (request.zone_id ?? null)) throw cityError('ENROL_MISMATCH', { expected, given });
      await trx.updateTable('enrolment_tokens').set({ used_at: enrolledAt }).where('token_hash', '=', hash).execute();
      const row = {
        tenant_id: tenantId,
        node_id: request.node_id,
        relation: 'child' as const,
        role: request.role,
        zone_id: request.zone_id ?? null,
        url: request.url,
        public_key: JSON.stringify(request.public_key),
        enrolled_at: enrolledAt,
        updated_at: enrolledAt,
        revoked_at: null,
      };
      await trx
        .insertInto('hierarchy_nodes')
        .values(row)
        .onConflict((oc) => oc.columns(['tenant_id', 'node_id']).doUpdateSet({ relation: 'child', role: row.role, zone_id: row.zone_id, url: row.url, public_key: row.public_key, updated_at: enrolledAt, revoked_at: null }))
        .execute();
      await this.#introducePeers(trx, [...this.#o.links.active('child').filter((c) => c.node_id !== request.node_id), { ...row, public_key: request.public_key, enrolled_at: enrolledAt.toISOString(), revoked_at: null }], request.node_id);
    });
    await this.#o.onChanged();
    return { parent: { node_id: self.nodeId, role: self.role, zone_id: self.zoneId, url: self.url(), public_key: this.#o.links.publicJwk }, enrolled_at: enrolledAt.toISOString() };
  }

  /** Ends a child's link: its credentials are refused at once; its history stays. */
  async revoke(nodeId: string): Promise<void> {
    const node = this.#o.links.node(nodeId);
    if (!node || node.relation !== 'child') throw cityError('NODE_UNKNOWN', { nodeId });
    await this.#o.db.transaction().execute(async (trx) => {
      await trx.updateTable('hierarchy_nodes').set({ revoked_at: new Date(this.#now()) }).where('tenant_id', '=', this.#o.tenantId).where('node_id', '=', nodeId).execute();
      await this.#introducePeers(trx, this.#o.links.active('child').filter((c) => c.node_id !== nodeId), nodeId);
    });
    await this.#o.onChanged();
  }

  /**
   * Queues the siblings whose zones touch its own to each child whose peer list `changed` (a node
   * enrolled or revoked) alters: that node itself and its neighbours — not every child, which
   * would make enrolling n children cost n² messages. Each list is whole: the last one received
   * is the truth.
   */
  async #introducePeers(trx: Transaction<Database>, children: LinkedNode[], changed: string): Promise<void> {
    const zoned = children.filter((c) => c.zone_id !== null && this.#o.zones.tree.has(c.zone_id));
    // A revoked node is no longer among the children, but its neighbours still need new lists.
    const changedZone = children.find((c) => c.node_id === changed)?.zone_id ?? this.#o.links.node(changed)?.zone_id ?? null;
    const zoneIds = new Set(zoned.map((c) => c.zone_id!));
    if (changedZone !== null && this.#o.zones.tree.has(changedZone)) zoneIds.add(changedZone);
    const touching = touchingZones(this.#o.zones, [...zoneIds]);
    const byZone = new Map<string, LinkedNode[]>();
    for (const c of zoned) byZone.set(c.zone_id!, [...(byZone.get(c.zone_id!) ?? []), c]);
    const affected = new Set<string>([changed]);
    if (changedZone !== null) {
      for (const z of touching.get(changedZone) ?? []) for (const n of byZone.get(z) ?? []) affected.add(n.node_id);
      for (const n of byZone.get(changedZone) ?? []) affected.add(n.node_id);
    }
    const rows = children.filter((c) => affected.has(c.node_id)).map((child) => {
      const neighbours = child.zone_id === null ? [] : [...(touching.get(child.zone_id) ?? [])].flatMap((z) => byZone.get(z) ?? []);
      const peers: NodeCard[] = neighbours.filter((n) => n.node_id !== child.node_id).map((n) => ({ node_id: n.node_id, role: n.role, zone_id: n.zone_id, url: n.url, public_key: n.public_key }));
      return { tenant_id: this.#o.tenantId, message_id: uuidv7(this.#now()), destination: child.node_id, kind: 'peers', payload: JSON.stringify({ peers }) };
    });
    if (rows.length > 0) await trx.insertInto('outbox').values(rows).execute();
  }
}

/**
 * The child's side: presents the token to the parent and records the parent. Called at start
 * when `--parent` and `--enrol-token` are given and the node is not enrolled yet.
 * @throws CITY_ERR_ENROL_FAILED naming the parent's answer (its error message when it gave one)
 */
export async function enrolWithParent(opts: {
  db: Kysely<Database>;
  tenantId: string;
  parentUrl: string;
  request: EnrolRequest;
  fetch: typeof fetch;
  timeoutMs?: number;
}): Promise<NodeCard> {
  const url = `${opts.parentUrl.replace(/\/+$/, '')}${ENROL_PATH}`;
  let answer: Response;
  try {
    answer = await opts.fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(opts.request),
      signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
    });
  } catch (err) {
    throw cityError('ENROL_FAILED', { url: opts.parentUrl, reason: (err as Error).message }, err);
  }
  const text = await answer.text();
  if (!answer.ok) {
    let reason = `HTTP ${answer.status}`;
    try {
      const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
      if (body.error?.message) reason = `${body.error.message} [${body.error.code ?? answer.status}]`;
    } catch {
      // not JSON: the status says enough
    }
    throw cityError('ENROL_FAILED', { url: opts.parentUrl, reason, status: answer.status });
  }
  const body = JSON.parse(text) as EnrolAnswer;
  const parent = body.parent;
  const now = new Date();
  await opts.db.transaction().execute(async (trx) => {
    // One parent: a node enrolled again under another parent forgets the old one as its parent.
    await trx.deleteFrom('hierarchy_nodes').where('tenant_id', '=', opts.tenantId).where('relation', '=', 'parent').execute();
    await trx
      .insertInto('hierarchy_nodes')
      .values({ tenant_id: opts.tenantId, node_id: parent.node_id, relation: 'parent', role: parent.role, zone_id: parent.zone_id, url: opts.parentUrl, public_key: JSON.stringify(parent.public_key), enrolled_at: now, updated_at: now, revoked_at: null })
      .onConflict((oc) => oc.columns(['tenant_id', 'node_id']).doUpdateSet({ relation: 'parent', role: parent.role, zone_id: parent.zone_id, url: opts.parentUrl, public_key: JSON.stringify(parent.public_key), updated_at: now, revoked_at: null }))
      .execute();
  });
  return parent;
}

/** Replaces the peer set with the one the parent sent (applied inside the link inbox's transaction). */
export async function applyPeers(trx: Transaction<Database>, tenantId: string, selfId: string, peers: readonly NodeCard[]): Promise<void> {
  const now = new Date();
  const ids = peers.map((p) => p.node_id).filter((id) => id !== selfId);
  let retire = trx.updateTable('hierarchy_nodes').set({ revoked_at: now }).where('tenant_id', '=', tenantId).where('relation', '=', 'peer').where('revoked_at', 'is', null);
  if (ids.length > 0) retire = retire.where('node_id', 'not in', ids);
  await retire.execute();
  for (const p of peers) {
    if (p.node_id === selfId) continue;
    await trx
      .insertInto('hierarchy_nodes')
      .values({ tenant_id: tenantId, node_id: p.node_id, relation: 'peer', role: p.role, zone_id: p.zone_id, url: p.url, public_key: JSON.stringify(p.public_key), enrolled_at: now, updated_at: now, revoked_at: null })
      // A node that is this node's parent or child is never demoted to a peer.
      .onConflict((oc) => oc.columns(['tenant_id', 'node_id']).doUpdateSet({ role: p.role, zone_id: p.zone_id, url: p.url, public_key: JSON.stringify(p.public_key), updated_at: now, revoked_at: null }).where('hierarchy_nodes.relation', '=', 'peer'))
      .execute();
  }
}
