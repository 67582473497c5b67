import { createPublicKey, type KeyObject } from 'node:crypto';
import type { Kysely } from 'kysely';
import { newApiKey } from '../auth/api-keys.js';
import type { KeyOwner } from '../auth/policy.js';
import { cityError } from '../errors.js';
import type { Database } from '../store/schema.js';

export interface ExecutorKeyView {
  executor_id: string;
  name: string;
  key_prefix: string;
  has_public_key: boolean;
  created_by: string;
  created_at: string;
  revoked_at: string | null;
}

interface Entry {
  row: ExecutorKeyView & { key_hash: string; public_key: Record<string, unknown> | null };
  owner: KeyOwner;
  verifier: KeyObject | null;
}

export const EXECUTOR_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/**
 * Executors' keys (issue 7 §7: "clients and executors authenticate"). An admin issues one key
 * per executor (`ek_…`, shown once, stored hashed); the executor presents it when it joins the
 * broker's WebSocket. At its first registration the executor also gives its Ed25519 public key,
 * kept here: from then on the broker accepts only results signed with it (§7 "results signed by
 * the executor that produced them"), and a later registration must present the same key.
 * Looked up in memory per request, like plugin and device keys.
 */
export class ExecutorKeys {
  readonly #byId = new Map<string, Entry>();
  readonly #byHash = new Map<string, Entry>();

  private constructor(
    private readonly db: Kysely<Database>,
    private readonly tenantId: string,
  ) {}

  static async load(db: Kysely<Database>, tenantId: string): Promise<ExecutorKeys> {
    const keys = new ExecutorKeys(db, tenantId);
    for (const r of await db.selectFrom('executor_keys').selectAll().where('tenant_id', '=', tenantId).execute()) {
      keys.#put({
        executor_id: r.executor_id,
        name: r.name,
        key_prefix: r.key_prefix,
        key_hash: r.key_hash,
        public_key: r.public_key === null ? null : ((typeof r.public_key === 'string' ? JSON.parse(r.public_key) : r.public_key) as Record<string, unknown>),
        has_public_key: r.public_key !== null,
        created_by: r.created_by,
        created_at: new Date(r.created_at).toISOString(),
        revoked_at: r.revoked_at === null ? null : new Date(r.revoked_at).toISOString(),
      });
    }
    return keys;
  }

  ownerOfKeyHash(keyHash: string): KeyOwner | null {
    return this.#byHash.get(keyHash)?.owner ?? null;
  }

  list(): ExecutorKeyView[] {
    return [...this.#byId.values()].map((e) => view(e)).sort((a, b) => a.executor_id.localeCompare(b.executor_id));
  }

  /** Issues a key for a new executor, returned this once. @throws CITY_ERR_REQUEST_INVALID for a bad or taken id */
  async create(executorId: string, name: string, createdBy: string): Promise<{ executor: ExecutorKeyView; key: string }> {
    if (!EXECUTOR_ID_PATTERN.test(executorId)) throw cityError('REQUEST_INVALID', { reason: `executor_id "${executorId}" must be 1–64 of a-z, 0-9, _ and -, starting with a letter or digit` });
    if (this.#byId.has(executorId)) throw cityError('REQUEST_INVALID', { reason: `executor ${executorId} exists; revoke it first to issue a new key` });
    const { key, hash, prefix } = newApiKey('ek');
    const createdAt = new Date();
    await this.db.insertInto('executor_keys').values({ tenant_id: this.tenantId, executor_id: executorId, name, key_hash: hash, key_prefix: prefix, created_by: createdBy, created_at: createdAt }).execute();
    const entry = this.#put({ executor_id: executorId, name, key_prefix: prefix, key_hash: hash, public_key: null, has_public_key: false, created_by: createdBy, created_at: createdAt.toISOString(), revoked_at: null });
    return { executor: view(entry), key };
  }

  async revoke(executorId: string): Promise<void> {
    const e = this.#byId.get(executorId);
    if (!e || e.row.revoked_at !== null) throw cityError('REQUEST_INVALID', { reason: `no active executor ${executorId}` });
    const at = new Date();
    await this.db.updateTable('executor_keys').set({ revoked_at: at }).where('tenant_id', '=', this.tenantId).where('executor_id', '=', executorId).execute();
    this.#byHash.delete(e.row.key_hash);
    e.row.revoked_at = at.toISOString();
  }

  /**
   * The key that verifies this executor's results: the one it registered first. A different key
   * later is refused (a stolen executor key alone cannot sign as that executor on another machine
   * without its private key).
   * @throws CITY_ERR_REQUEST_INVALID when the executor presents another key than the one on record
   */
  async adoptPublicKey(executorId: string, jwk: Record<string, unknown>): Promise<KeyObject> {
    const e = this.#byId.get(executorId);
    if (!e) throw cityError('REQUEST_INVALID', { reason: `no executor ${executorId}` });
    if (e.row.public_key !== null) {
      if (e.row.public_key.x !== jwk.x) throw cityError('REQUEST_INVALID', { reason: `executor ${executorId} registered with another signing key; revoke it and issue a new key to move it to another machine` });
      return e.verifier!;
    }
    if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw cityError('REQUEST_INVALID', { reason: 'public_key must be an Ed25519 JWK ({ kty: "OKP", crv: "Ed25519", x })' });
    const verifier = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, format: 'jwk' });
    await this.db.updateTable('executor_keys').set({ public_key: JSON.stringify({ kty: 'OKP', crv: 'Ed25519', x: jwk.x }) }).where('tenant_id', '=', this.tenantId).where('executor_id', '=', executorId).execute();
    e.row.public_key = { kty: 'OKP', crv: 'Ed25519', x: jwk.x };
    e.row.has_public_key = true;
    e.verifier = verifier;
    return verifier;
  }

  verifier(executorId: string): KeyObject | null {
    return this.#byId.get(executorId)?.verifier ?? null;
  }

  #put(row: Entry['row']): Entry {
    const entry: Entry = {
      row,
      owner: { principal: { kind: 'executor', tenantId: this.tenantId, executorId: row.executor_id }, keyPrefix: row.key_prefix, allowedSources: [] },
      verifier: row.public_key ? createPublicKey({ key: row.public_key as { kty: 'OKP'; crv: string; x: string }, format: 'jwk' }) : null,
    };
    this.#byId.set(row.executor_id, entry);
    if (row.revoked_at === null) this.#byHash.set(row.key_hash, entry);
    return entry;
  }
}

function view(e: Entry): ExecutorKeyView {
  const { key_hash: _h, public_key: _p, ...rest } = e.row;
  return rest;
}
