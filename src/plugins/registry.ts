import type { Kysely } from 'kysely';
import { cityError } from '../errors.js';
import { newApiKey } from '../auth/api-keys.js';
import type { KeyOwner } from '../auth/policy.js';
import { sourceEntryProblem } from '../auth/policy.js';
import type { IngestPlugin } from '../brain/ingest.js';
import type { Database } from '../store/schema.js';
import type { JsonSchema } from './output-schema.js';
import { CompiledVersion, type VersionDescriptor } from './compiled-version.js';
import { parseRegistration, type ActionDefinition, type PluginRegistration } from './registration.js';

interface PluginEntry {
  modelId: string;
  vendor: string;
  keyHash: string;
  keyPrefix: string;
  /** Addresses / CIDR blocks the key may be used from; empty = anywhere. */
  allowedSources: string[];
  keyRotatedAt: Date | null;
  enabled: boolean;
  currentVersion: string;
  versions: Map<string, CompiledVersion>;
}

export interface PluginSummary {
  model_id: string;
  vendor: string;
  enabled: boolean;
  current_version: string;
  versions: Array<{ version: string; enabled: boolean; event_type: string }>;
  api_key_prefix: string;
  /** Where the key may be used from (addresses, CIDR blocks); empty = anywhere. */
  allowed_sources: string[];
  key_rotated_at: string | null;
}

export interface RegisterOutcome {
  status: 'created' | 'version_added' | 'unchanged';
  plugin: PluginSummary;
  /** Present only when a new plugin got its key: shown this once, stored hashed. */
  api_key?: string;
}

/**
 * The L0 plugin registry (seed 001 §2.2, §12.1): registration, versions, enable/disable and
 * keys, kept in the store and compiled in memory. Schemas are compiled once here, never per
 * event (house style #4).
 */
export class PluginRegistry {
  readonly #plugins = new Map<string, PluginEntry>();
  /** Key hash → what the authorization policy needs of its owner, in O(1); rebuilt when the key or its allow-list changes. */
  readonly #byKeyHash = new Map<string, KeyOwner>();
  readonly #listeners: Array<() => void> = [];

  private constructor(
    private readonly db: Kysely<Database>,
    private readonly tenantId: string,
    private readonly tokenizer: (value: string) => string,
  ) {}

  static async load(db: Kysely<Database>, tenantId: string, tokenizer: (value: string) => string): Promise<PluginRegistry> {
    const registry = new PluginRegistry(db, tenantId, tokenizer);
    const plugins = await db.selectFrom('plugins').selectAll().where('tenant_id', '=', tenantId).execute();
    const versions = await db.selectFrom('plugin_versions').selectAll().where('tenant_id', '=', tenantId).orderBy('created_at').execute();
    for (const p of plugins) {
      registry.#plugins.set(p.model_id, {
        modelId: p.model_id,
        vendor: p.vendor,
        keyHash: p.api_key_hash,
        keyPrefix: p.api_key_prefix,
        allowedSources: p.allowed_sources ?? [],
        keyRotatedAt: p.key_rotated_at === null ? null : new Date(p.key_rotated_at),
        enabled: p.enabled,
        currentVersion: p.current_version,
        versions: new Map(),
      });
      registry.#indexKey(registry.#plugins.get(p.model_id)!);
    }
    for (const v of versions) {
      const entry = registry.#plugins.get(v.model_id);
      if (!entry) continue;
      const severity = (v.json_schema as JsonSchema & { properties?: { severity?: { enum?: string[] } } }).properties?.severity?.enum ?? null;
      entry.versions.set(
        v.version,
        new CompiledVersion(v.model_id, v.version, v.event_type, v.json_schema as JsonSchema, v.personal_paths as string[][], severity, tokenizer, v.enabled, v.action_definitions as ActionDefinition[]),
      );
    }
    return registry;
  }

  /**
   * Registers a plugin or a new version of one. A new plugin needs the admin; a new version of
   * an existing plugin may also be registered with that plugin's own key (`asPlugin`).
   * Re-sending an identical registration is a no-op ('unchanged'); a different body under a
   * version that exists is a conflict, because events already stored were checked against it.
   */
  async register(body: unknown, asPlugin: string | null = null): Promise<RegisterOutcome> {
    const reg = parseRegistration(body);
    const { model_id: modelId, version, vendor } = reg.manifest;
    const existing = this.#plugins.get(modelId);
    if (asPlugin !== null && asPlugin !== modelId) {
      throw cityError('AUTH_KEY_INVALID', { pluginId: modelId });
    }
    if (!existing && asPlugin !== null) throw cityError('AUTH_REQUIRED');
    if (existing?.versions.has(version)) {
      const stored = await this.db
        .selectFrom('plugin_versions')
        .select(['manifest', 'output_schema', 'action_definitions'])
        .where('tenant_id', '=', this.tenantId)
        .where('model_id', '=', modelId)
        .where('version', '=', version)
        .executeTakeFirstOrThrow();
      if (sameDocuments(stored, body as Record<string, unknown>)) return { status: 'unchanged', plugin: this.#summary(existing) };
      throw cityError('PLUGIN_EXISTS', { pluginId: modelId, version });
    }
    const compiled = this.#compile(reg);
    const docs = body as Record<string, unknown>;
    const key = existing ? null : newApiKey('pk');
    await this.db.transaction().execute(async (tx) => {
      if (key) {
        await tx
          .insertInto('plugins')
          .values({ tenant_id: this.tenantId, model_id: modelId, vendor, api_key_hash: key.hash, api_key_prefix: key.prefix, enabled: true, current_version: version })
          .execute();
      } else {
        await tx
          .updateTable('plugins')
          .set({ current_version: version, updated_at: new Date() })
          .where('tenant_id', '=', this.tenantId)
          .where('model_id', '=', modelId)
          .execute();
      }
      await tx
        .insertInto('plugin_versions')
        .values({
          tenant_id: this.tenantId,
          model_id: modelId,
          version,
          event_type: reg.outputSchema.eventType,
          manifest: JSON.stringify(docs.plugin_manifest),
          output_schema: JSON.stringify(docs.output_schema),
          action_definitions: JSON.stringify(docs.action_definitions ?? []),
          json_schema: JSON.stringify(reg.outputSchema.jsonSchema),
          personal_paths: JSON.stringify(reg.outputSchema.personalPaths),
          enabled: true,
        })
        .execute();
    });
    if (existing) {
      existing.versions.set(version, compiled);
      existing.currentVersion = version;
      this.#changed();
      return { status: 'version_added', plugin: this.#summary(existing) };
    }
    const entry: PluginEntry = {
      modelId,
      vendor,
      keyHash: key!.hash,
      keyPrefix: key!.prefix,
      allowedSources: [],
      keyRotatedAt: null,
      enabled: true,
      currentVersion: version,
      versions: new Map([[version, compiled]]),
    };
    this.#plugins.set(modelId, entry);
    this.#indexKey(entry);
    this.#changed();
    return { status: 'created', plugin: this.#summary(entry), api_key: key!.key };
  }

  #compile(reg: PluginRegistration): CompiledVersion {
    const o = reg.outputSchema;
    return new CompiledVersion(reg.manifest.model_id, reg.manifest.version, o.eventType, o.jsonSchema, o.personalPaths, o.severityValues, this.tokenizer, true, reg.actionDefinitions);
  }

  /** Everything an ingest worker needs to rebuild the compiled versions (no keys, no documents). */
  descriptors(): VersionDescriptor[] {
    const out: VersionDescriptor[] = [];
    for (const entry of this.#plugins.values()) for (const v of entry.versions.values()) out.push(v.descriptor);
    return out;
  }

  /** Called after every change to the set of versions (ingest workers keep a replica). */
  onVersionsChanged(listener: () => void): void {
    this.#listeners.push(listener);
  }

  list(): PluginSummary[] {
    return [...this.#plugins.values()].map((p) => this.#summary(p)).sort((a, b) => a.model_id.localeCompare(b.model_id));
  }

  has(modelId: string): boolean {
    return this.#plugins.has(modelId);
  }

  summary(modelId: string): PluginSummary {
    return this.#summary(this.#entry(modelId));
  }

  /** The stored documents of one version (the current one by default), as registered. */
  async documents(modelId: string, version?: string): Promise<Record<string, unknown>> {
    const entry = this.#entry(modelId);
    const v = version ?? entry.currentVersion;
    const row = await this.db
      .selectFrom('plugin_versions')
      .selectAll()
      .where('tenant_id', '=', this.tenantId)
      .where('model_id', '=', modelId)
      .where('version', '=', v)
      .executeTakeFirst();
    if (!row) throw cityError('PLUGIN_NOT_FOUND', { pluginId: `${modelId}@${v}` });
    return {
      model_id: modelId,
      version: v,
      enabled: entry.enabled && row.enabled,
      event_type: row.event_type,
      plugin_manifest: row.manifest,
      output_schema: row.output_schema,
      action_definitions: row.action_definitions,
      json_schema: row.json_schema,
      personal_fields: (row.personal_paths as string[][]).map((p) => p.join('.')),
      created_at: row.created_at,
    };
  }

  /** Disables or re-enables a plugin, or one of its versions. Disabled → its events get 404. */
  async setEnabled(modelId: string, enabled: boolean, version?: string): Promise<PluginSummary> {
    const entry = this.#entry(modelId);
    if (version !== undefined) {
      const v = entry.versions.get(version);
      if (!v) throw cityError('PLUGIN_NOT_FOUND', { pluginId: `${modelId}@${version}` });
      await this.db
        .updateTable('plugin_versions')
        .set({ enabled })
        .where('tenant_id', '=', this.tenantId)
        .where('model_id', '=', modelId)
        .where('version', '=', version)
        .execute();
      v.enabled = enabled;
    } else {
      await this.db.updateTable('plugins').set({ enabled, updated_at: new Date() }).where('tenant_id', '=', this.tenantId).where('model_id', '=', modelId).execute();
      entry.enabled = enabled;
    }
    return this.#summary(entry);
  }

  /** Issues a new key and invalidates the old one at once. */
  async rotateKey(modelId: string): Promise<{ api_key: string; plugin: PluginSummary }> {
    const entry = this.#entry(modelId);
    const key = newApiKey('pk');
    const now = new Date();
    await this.db
      .updateTable('plugins')
      .set({ api_key_hash: key.hash, api_key_prefix: key.prefix, key_rotated_at: now, updated_at: now })
      .where('tenant_id', '=', this.tenantId)
      .where('model_id', '=', modelId)
      .execute();
    this.#byKeyHash.delete(entry.keyHash);
    entry.keyHash = key.hash;
    entry.keyPrefix = key.prefix;
    entry.keyRotatedAt = now;
    this.#indexKey(entry);
    return { api_key: key.key, plugin: this.#summary(entry) };
  }

  /**
   * Replaces the allow-list of source addresses the plugin's key may be used from (empty =
   * anywhere); it applies to the next request. `alongside` runs in the same transaction (the
   * audit row). Throws REQUEST_INVALID naming an entry that is no address or CIDR block.
   */
  async setAllowedSources(modelId: string, sources: readonly string[], alongside?: (tx: Kysely<Database>, previous: readonly string[]) => Promise<void>): Promise<PluginSummary> {
    const entry = this.#entry(modelId);
    for (const source of sources) {
      const problem = sourceEntryProblem(source);
      if (problem !== null) throw cityError('REQUEST_INVALID', { reason: `allowed_sources: ${problem}` });
    }
    const previous = entry.allowedSources;
    const next = [...new Set(sources)];
    await this.db.transaction().execute(async (tx) => {
      await tx
        .updateTable('plugins')
        .set({ allowed_sources: JSON.stringify(next), updated_at: new Date() })
        .where('tenant_id', '=', this.tenantId)
        .where('model_id', '=', modelId)
        .execute();
      await alongside?.(tx, previous);
    });
    entry.allowedSources = next;
    this.#indexKey(entry);
    return this.#summary(entry);
  }

  /** The owner of the plugin key that hashes to `keyHash` (src/auth/policy.ts), or null. */
  ownerOfKeyHash(keyHash: string): KeyOwner | null {
    return this.#byKeyHash.get(keyHash) ?? null;
  }

  #indexKey(entry: PluginEntry): void {
    this.#byKeyHash.set(entry.keyHash, {
      principal: { kind: 'plugin', tenantId: this.tenantId, pluginId: entry.modelId },
      keyPrefix: entry.keyPrefix,
      allowedSources: entry.allowedSources,
    });
  }

  /**
   * The version that takes events: the named one, else the newest enabled one.
   * Throws PLUGIN_NOT_FOUND / PLUGIN_DISABLED.
   */
  /** A compiled version, enabled or not, or null (the brain reads its action definitions). */
  version(modelId: string, version: string): CompiledVersion | null {
    return this.#plugins.get(modelId)?.versions.get(version) ?? null;
  }

  forIngest(modelId: string, version?: string | null): IngestPlugin {
    const entry = this.#plugins.get(modelId);
    if (!entry) throw cityError('PLUGIN_NOT_FOUND', { pluginId: modelId });
    if (!entry.enabled) throw cityError('PLUGIN_DISABLED', { pluginId: modelId });
    if (version) {
      const v = entry.versions.get(version);
      if (!v) throw cityError('PLUGIN_NOT_FOUND', { pluginId: `${modelId}@${version}` });
      if (!v.enabled) throw cityError('PLUGIN_DISABLED', { pluginId: `${modelId}@${version}` });
      return v;
    }
    const current = entry.versions.get(entry.currentVersion);
    if (current?.enabled) return current;
    const fallback = [...entry.versions.values()].reverse().find((v) => v.enabled);
    if (!fallback) throw cityError('PLUGIN_DISABLED', { pluginId: modelId });
    return fallback;
  }

  #changed(): void {
    for (const listener of this.#listeners) listener();
  }

  #entry(modelId: string): PluginEntry {
    const entry = this.#plugins.get(modelId);
    if (!entry) throw cityError('PLUGIN_NOT_FOUND', { pluginId: modelId });
    return entry;
  }

  #summary(p: PluginEntry): PluginSummary {
    return {
      model_id: p.modelId,
      vendor: p.vendor,
      enabled: p.enabled,
      current_version: p.currentVersion,
      versions: [...p.versions.values()].map((v) => ({ version: v.version, enabled: v.enabled, event_type: v.eventType })),
      api_key_prefix: p.keyPrefix,
      allowed_sources: [...p.allowedSources],
      key_rotated_at: p.keyRotatedAt?.toISOString() ?? null,
    };
  }
}

function sameDocuments(stored: { manifest: unknown; output_schema: unknown; action_definitions: unknown }, body: Record<string, unknown>): boolean {
  return (
    canonical(stored.manifest) === canonical(body.plugin_manifest) &&
    canonical(stored.output_schema) === canonical(body.output_schema) &&
    canonical(stored.action_definitions) === canonical(body.action_definitions ?? [])
  );
}

/** JSON with sorted keys: jsonb does not keep key order, so compare canonical forms. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b))) : v,
  );
}
