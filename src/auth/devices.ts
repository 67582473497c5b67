import type { Kysely, Selectable, Updateable } from 'kysely';
import { TARGET_NAME_PATTERN } from '../actions/targets.js';
import { cityError } from '../errors.js';
import type { ZoneTree } from '../geo/zones.js';
import type { Database, DevicesTable } from '../store/schema.js';
import { newApiKey } from './api-keys.js';
import type { AuditLog } from './audit.js';
import { sourceEntryProblem, type KeyOwner } from './policy.js';
import type { Principal } from './principal.js';

/** Limits on what a device record may hold. */
export const DEVICE_LIMITS = {
  nameChars: 200,
  allowedSources: 64,
} as const;

/** A device as the API shows it: never its key, only the key's display prefix. */
export interface DeviceView {
  device_id: string;
  name: string;
  zone_id: string | null;
  plugin_id: string | null;
  allowed_sources: string[];
  api_key_prefix: string;
  status: 'active' | 'revoked';
  created_at: string;
  rotated_at: string | null;
  revoked_at: string | null;
}

export interface NewDevice {
  device_id: string;
  name: string;
  zone_id?: string | null;
  plugin_id?: string | null;
  allowed_sources?: string[];
}

export type DevicePatch = Partial<Omit<NewDevice, 'device_id'>>;

/** Who makes a change, for its audit row. */
export interface ChangedBy {
  actor: Principal;
  remote: string | null;
}

export interface DevicesDeps {
  db: Kysely<Database>;
  tenantId: string;
  audit: AuditLog;
  zones: () => ZoneTree;
  /** True when a plugin with this model id is registered (a device publishes its events). */
  pluginExists: (modelId: string) => boolean;
}

type DeviceRow = Selectable<DevicesTable>;

interface Entry {
  row: DeviceRow;
  /** Built once per change, so a key lookup on every ingest request allocates nothing. */
  owner: KeyOwner;
}

/**
 * The tenant's devices (seed 001 §12.3 IoT sensors and actuators): things that publish events
 * for one plugin and receive actuator commands on `city/{zone}/commands/{device_id}`. Each has
 * its own key (`dk_…`), shown once, stored as a SHA-256 hash, rotatable and revocable, with an
 * optional allow-list of source addresses. Kept in memory over table `devices` so the
 * authorization policy resolves a key in O(1) (`ownerOfKeyHash`); writes go to the store first,
 * each with its audit row in the same transaction.
 *
 * A device id is also the action target its commands are addressed to (an unconfigured target
 * is the MQTT topic `city/{zone}/commands/{target}`, src/actions/targets.ts; a configured target
 * of the same name would take them instead), so it follows the target name rules (no `/`, `+`,
 * `#`: it is an MQTT topic level).
 *
 * @example
 *   const devices = await Devices.load({ db, tenantId, audit, zones: () => zoneService.tree, pluginExists: (id) => registry.has(id) });
 *   const { api_key } = await devices.create({ device_id: 'pump-7', name: 'Pump 7', zone_id: 'chennai-w119' }, by);
 *   devices.ownerOfKeyHash(hashApiKey(api_key))?.principal; // { kind: 'device', deviceId: 'pump-7', … }
 */
export class Devices {
  readonly #byId = new Map<string, Entry>();
  /** Active keys only: a revoked device's key resolves to nobody. */
  readonly #byKeyHash = new Map<string, Entry>();

  private constructor(private readonly deps: DevicesDeps) {}

  static async load(deps: DevicesDeps): Promise<Devices> {
    const devices = new Devices(deps);
    const rows = await deps.db.selectFrom('devices').selectAll().where('tenant_id', '=', deps.tenantId).execute();
    for (const row of rows) devices.#put(row);
    return devices;
  }

  /** The device whose current key hashes to `keyHash`, as the policy's key owner; null if none or revoked. */
  ownerOfKeyHash(keyHash: string): KeyOwner | null {
    return this.#byKeyHash.get(keyHash)?.owner ?? null;
  }

  list(): DeviceView[] {
    return [...this.#byId.values()].map((e) => view(e.row)).sort((a, b) => a.device_id.localeCompare(b.device_id));
  }

  /** @throws CITY_ERR_DEVICE_NOT_FOUND */
  get(deviceId: string): DeviceView {
    return view(this.#entry(deviceId).row);
  }

  /** Registers a device and issues its key, returned this once. */
  async create(input: NewDevice, by: ChangedBy): Promise<{ device: DeviceView; api_key: string }> {
    const id = input.device_id;
    if (!TARGET_NAME_PATTERN.test(id)) {
      throw cityError('DEVICE_INVALID', { deviceId: id, reason: "device_id must be 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit (it is an MQTT topic level)" });
    }
    if (this.#byId.has(id)) throw cityError('DEVICE_EXISTS', { deviceId: id });
    const fields = this.#checked(id, { name: input.name, zone_id: input.zone_id ?? null, plugin_id: input.plugin_id ?? null, allowed_sources: input.allowed_sources ?? [] });
    const key = newApiKey('dk');
    const row = await this.deps.db.transaction().execute(async (tx) => {
      const inserted = await tx
        .insertInto('devices')
        .values({
          tenant_id: this.deps.tenantId,
          device_id: id,
          name: fields.name,
          zone_id: fields.zone_id,
          plugin_id: fields.plugin_id,
          api_key_hash: key.hash,
          api_key_prefix: key.prefix,
          allowed_sources: JSON.stringify(fields.allowed_sources),
        })
        .onConflict((oc) => oc.columns(['tenant_id', 'device_id']).doNothing())
        .returningAll()
        .executeTakeFirst();
      // Another request created it between the check above and this insert.
      if (!inserted) throw cityError('DEVICE_EXISTS', { deviceId: id });
      await this.#audit(tx, by, 'device.create', inserted, { name: fields.name, plugin_id: fields.plugin_id, allowed_sources: fields.allowed_sources, api_key_prefix: key.prefix });
      return inserted;
    });
    this.#put(row);
    return { device: view(row), api_key: key.key };
  }

  /** Changes name, zone, plugin or allow-list; the key stays. A new allow-list applies to the next request. */
  async update(deviceId: string, patch: DevicePatch, by: ChangedBy): Promise<DeviceView> {
    const current = this.#entry(deviceId).row;
    const fields = this.#checked(deviceId, {
      name: patch.name ?? current.name,
      zone_id: patch.zone_id === undefined ? current.zone_id : patch.zone_id,
      plugin_id: patch.plugin_id === undefined ? current.plugin_id : patch.plugin_id,
      allowed_sources: patch.allowed_sources ?? current.allowed_sources,
    });
    const row = await this.#write(deviceId, by, 'device.update', { ...fields, allowed_sources: JSON.stringify(fields.allowed_sources) }, { changed: Object.keys(patch) });
    return view(row);
  }

  /** Issues a new key; the old one stops at once (it leaves the key index before this returns). */
  async rotateKey(deviceId: string, by: ChangedBy): Promise<{ device: DeviceView; api_key: string }> {
    const current = this.#entry(deviceId).row;
    if (current.revoked_at !== null) throw cityError('DEVICE_REVOKED', { deviceId, at: new Date(current.revoked_at).toISOString() });
    const key = newApiKey('dk');
    const row = await this.#write(deviceId, by, 'device.rotate_key', { api_key_hash: key.hash, api_key_prefix: key.prefix, rotated_at: new Date() }, { old_prefix: current.api_key_prefix, new_prefix: key.prefix });
    return { device: view(row), api_key: key.key };
  }

  /** Stops the device's key for good; the device stays on record (audit, decisions that name it). */
  async revoke(deviceId: string, by: ChangedBy): Promise<DeviceView> {
    const current = this.#entry(deviceId).row;
    if (current.revoked_at !== null) return view(current); // revoking twice changes nothing
    const row = await this.#write(deviceId, by, 'device.revoke', { revoked_at: new Date() }, { api_key_prefix: current.api_key_prefix });
    return view(row);
  }

  async #write(deviceId: string, by: ChangedBy, action: string, set: Updateable<DevicesTable>, details: Record<string, unknown>): Promise<DeviceRow> {
    const row = await this.deps.db.transaction().execute(async (tx) => {
      const updated = await tx
        .updateTable('devices')
        .set(set)
        .where('tenant_id', '=', this.deps.tenantId)
        .where('device_id', '=', deviceId)
        .returningAll()
        .executeTakeFirst();
      if (!updated) throw cityError('DEVICE_NOT_FOUND', { deviceId });
      await this.#audit(tx, by, action, updated, details);
      return updated;
    });
    this.#put(row);
    return row;
  }

  #audit(db: Kysely<Database>, by: ChangedBy, action: string, row: DeviceRow, details: Record<string, unknown>): Promise<void> {
    return this.deps.audit.recordIn(db, { actor: by.actor, remote: by.remote, action, target: { kind: 'device', id: row.device_id }, zoneId: row.zone_id, details });
  }

  /** Validates the fields a schema cannot (zone and plugin exist, allow-list entries parse). */
  #checked(deviceId: string, f: { name: string; zone_id: string | null; plugin_id: string | null; allowed_sources: readonly string[] }) {
    const invalid = (reason: string) => cityError('DEVICE_INVALID', { deviceId, reason });
    const name = f.name.trim();
    if (name === '' || name.length > DEVICE_LIMITS.nameChars) throw invalid(`name must be 1-${DEVICE_LIMITS.nameChars} characters`);
    if (f.zone_id !== null && !this.deps.zones().has(f.zone_id)) throw invalid(`zone_id ${f.zone_id} is not a zone of this node`);
    if (f.plugin_id !== null && !this.deps.pluginExists(f.plugin_id)) throw invalid(`plugin_id ${f.plugin_id} is not a registered plugin`);
    if (f.allowed_sources.length > DEVICE_LIMITS.allowedSources) throw invalid(`allowed_sources holds at most ${DEVICE_LIMITS.allowedSources} entries`);
    for (const entry of f.allowed_sources) {
      const problem = sourceEntryProblem(entry);
      if (problem !== null) throw invalid(`allowed_sources: ${problem}`);
    }
    return { name, zone_id: f.zone_id, plugin_id: f.plugin_id, allowed_sources: [...f.allowed_sources] };
  }

  #put(row: DeviceRow): void {
    const previous = this.#byId.get(row.device_id);
    if (previous) this.#byKeyHash.delete(previous.row.api_key_hash);
    const entry: Entry = {
      row,
      owner: {
        principal: { kind: 'device', tenantId: this.deps.tenantId, deviceId: row.device_id, pluginId: row.plugin_id, zoneId: row.zone_id },
        keyPrefix: row.api_key_prefix,
        allowedSources: Object.freeze([...(row.allowed_sources ?? [])]),
      },
    };
    this.#byId.set(row.device_id, entry);
    if (row.revoked_at === null) this.#byKeyHash.set(row.api_key_hash, entry);
  }

  #entry(deviceId: string): Entry {
    const entry = this.#byId.get(deviceId);
    if (!entry) throw cityError('DEVICE_NOT_FOUND', { deviceId });
    return entry;
  }
}

function view(r: DeviceRow): DeviceView {
  return {
    device_id: r.device_id,
    name: r.name,
    zone_id: r.zone_id,
    plugin_id: r.plugin_id,
    allowed_sources: [...(r.allowed_sources ?? [])],
    api_key_prefix: r.api_key_prefix,
    status: r.revoked_at === null ? 'active' : 'revoked',
    created_at: iso(r.created_at)!,
    rotated_at: iso(r.rotated_at),
    revoked_at: iso(r.revoked_at),
  };
}

function iso(value: Date | string | null): string | null {
  return value === null ? null : new Date(value).toISOString();
}
