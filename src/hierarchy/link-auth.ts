import { generateKeyPair, exportJWK, importJWK, SignJWT, jwtVerify, decodeJwt, type JWK, type CryptoKey } from 'jose';
import type { Kysely } from 'kysely';
import { cityError } from '../errors.js';
import type { Database } from '../store/schema.js';

/** The request header a node's link credential travels in (apart from users' Bearer tokens). */
export const LINK_HEADER = 'x-city-node';

/** Lifetime of one signed link credential: long enough for clock skew and a slow request, short enough that a leaked one is soon useless. */
const LINK_TOKEN_TTL_S = 120;
/** A sender reuses its credential for this long before signing a new one. */
const LINK_TOKEN_REUSE_S = 60;
const ALG = 'EdDSA';

export type NodeRelation = 'parent' | 'child' | 'peer';

/** A node this node links with, as the link layer and the policy need it. */
export interface LinkedNode {
  node_id: string;
  relation: NodeRelation;
  role: string;
  zone_id: string | null;
  url: string | null;
  public_key: JWK;
  enrolled_at: string;
  revoked_at: string | null;
}

/** Who sent a link request, once its credential is verified (a policy principal). */
export interface NodePrincipal {
  kind: 'node';
  tenantId: string;
  nodeId: string;
  relation: NodeRelation;
  role: string;
  zoneId: string | null;
}

/**
 * This node's own Ed25519 key pair, made at first start and kept in `node_secrets` (so a restart
 * keeps the identity its parent, children and peers know).
 */
export async function nodeKeyPair(db: Kysely<Database>): Promise<{ privateKey: CryptoKey; publicJwk: JWK }> {
  const existing = await db.selectFrom('node_secrets').select('value').where('name', '=', 'link_signing_key').executeTakeFirst();
  if (!existing) {
    const { privateKey } = await generateKeyPair(ALG, { crv: 'Ed25519', extractable: true });
    const jwk = await exportJWK(privateKey);
    await db
      .insertInto('node_secrets')
      .values({ name: 'link_signing_key', value: JSON.stringify(jwk) })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
  }
  const row = await db.selectFrom('node_secrets').select('value').where('name', '=', 'link_signing_key').executeTakeFirstOrThrow();
  const privateJwk = JSON.parse(row.value) as JWK;
  const { d: _private, ...publicJwk } = privateJwk;
  return { privateKey: (await importJWK(privateJwk, ALG)) as CryptoKey, publicJwk };
}

/**
 * Authentication of node-to-node links, both ways (issue 5 §1). Every node holds an Ed25519 key
 * pair; enrolment exchanges public keys (the child sends its own with the one-time token, the
 * parent answers with its own and later introduces siblings as peers). Each link request then
 * carries a short-lived JWT in `X-City-Node`, signed by the sender for one receiver
 * (`iss` = sender, `aud` = receiver): the receiver verifies it with the public key it holds for
 * that node. No shared secret crosses the wire after enrolment, and a revoked node is refused
 * at once (its row is read from memory here).
 *
 * @example
 *   const links = await LinkAuth.load({ db, tenantId, nodeId: 'district-9' });
 *   const headers = { [LINK_HEADER]: await links.credentialFor('local-1') };
 *   const who = await links.verify(token); // → { kind: 'node', nodeId: 'local-1', relation: 'child', … }
 */
export class LinkAuth {
  readonly nodeId: string;
  readonly publicJwk: JWK;
  readonly #db: Kysely<Database>;
  readonly #tenantId: string;
  readonly #privateKey: CryptoKey;
  readonly #nodes = new Map<string, LinkedNode>();
  readonly #keys = new Map<string, CryptoKey>();
  readonly #issued = new Map<string, { token: string; untilS: number }>();
  readonly #listeners: Array<() => void> = [];
  readonly #now: () => number;

  private constructor(db: Kysely<Database>, tenantId: string, nodeId: string, privateKey: CryptoKey, publicJwk: JWK, now: () => number) {
    this.#db = db;
    this.#tenantId = tenantId;
    this.nodeId = nodeId;
    this.#privateKey = privateKey;
    this.publicJwk = publicJwk;
    this.#now = now;
  }

  static async load(opts: { db: Kysely<Database>; tenantId: string; nodeId: string; now?: () => number }): Promise<LinkAuth> {
    const { privateKey, publicJwk } = await nodeKeyPair(opts.db);
    const auth = new LinkAuth(opts.db, opts.tenantId, opts.nodeId, privateKey, publicJwk, opts.now ?? Date.now);
    await auth.reload();
    return auth;
  }

  /** Reads the linked nodes again (after enrolment, a peer list, a revocation). */
  async reload(): Promise<void> {
    const rows = await this.#db.selectFrom('hierarchy_nodes').selectAll().where('tenant_id', '=', this.#tenantId).execute();
    this.#nodes.clear();
    this.#keys.clear();
    for (const r of rows) {
      this.#nodes.set(r.node_id, {
        node_id: r.node_id,
        relation: r.relation,
        role: r.role,
        zone_id: r.zone_id,
        url: r.url,
        public_key: (typeof r.public_key === 'string' ? JSON.parse(r.public_key) : r.public_key) as JWK,
        enrolled_at: new Date(r.enrolled_at).toISOString(),
        revoked_at: r.revoked_at === null ? null : new Date(r.revoked_at).toISOString(),
      });
    }
    for (const listener of this.#listeners) listener();
  }

  /** Called after every reload (the hierarchy starts and stops senders from it). */
  onChange(listener: () => void): void {
    this.#listeners.push(listener);
  }

  node(nodeId: string): LinkedNode | null {
    return this.#nodes.get(nodeId) ?? null;
  }

  /** Linked nodes that are not revoked, optionally of one relation. */
  active(relation?: NodeRelation): LinkedNode[] {
    return [...this.#nodes.values()].filter((n) => n.revoked_at === null && (relation === undefined || n.relation === relation));
  }

  parent(): LinkedNode | null {
    return this.active('parent')[0] ?? null;
  }

  /** A credential for one request to `receiver` (reused for a minute, then signed anew). */
  async credentialFor(receiver: string): Promise<string> {
    const nowS = Math.floor(this.#now() / 1000);
    const cached = this.#issued.get(receiver);
    if (cached && cached.untilS > nowS) return cached.token;
    const token = await new SignJWT({ tid: this.#tenantId })
      .setProtectedHeader({ alg: ALG })
      .setIssuer(this.nodeId)
      .setAudience(receiver)
      .setIssuedAt(nowS)
      .setExpirationTime(nowS + LINK_TOKEN_TTL_S)
      .sign(this.#privateKey);
    this.#issued.set(receiver, { token, untilS: nowS + LINK_TOKEN_REUSE_S });
    return token;
  }

  /**
   * The node that signed `token` for this node.
   * @throws CITY_ERR_LINK_AUTH_INVALID naming what is wrong (unknown node, revoked, bad signature, expired, another tenant)
   */
  async verify(token: string): Promise<NodePrincipal> {
    let issuer: string | undefined;
    try {
      issuer = decodeJwt(token).iss;
    } catch {
      throw cityError('LINK_AUTH_INVALID', { reason: 'not a signed link credential' });
    }
    const node = issuer === undefined ? undefined : this.#nodes.get(issuer);
    if (!node) throw cityError('LINK_AUTH_INVALID', { reason: `node ${issuer ?? '(none)'} is not linked with ${this.nodeId}` });
    if (node.revoked_at !== null) throw cityError('LINK_AUTH_INVALID', { reason: `node ${node.node_id} was revoked at ${node.revoked_at}` });
    let key = this.#keys.get(node.node_id);
    if (!key) {
      key = (await importJWK(node.public_key, ALG)) as CryptoKey;
      this.#keys.set(node.node_id, key);
    }
    try {
      const { payload } = await jwtVerify(token, key, { issuer: node.node_id, audience: this.nodeId, algorithms: [ALG], currentDate: new Date(this.#now()), clockTolerance: 30 });
      if (payload.tid !== this.#tenantId) throw new Error(`it is for tenant ${String(payload.tid)}, this node serves ${this.#tenantId}`);
    } catch (err) {
      throw cityError('LINK_AUTH_INVALID', { reason: `${node.node_id}: ${(err as Error).message}` });
    }
    return { kind: 'node', tenantId: this.#tenantId, nodeId: node.node_id, relation: node.relation, role: node.role, zoneId: node.zone_id };
  }
}
