/**
 * An ingest worker thread: decodes and prepares batches (ingest-batch.ts) off the main thread,
 * which then only moves bytes, commits and answers (DESIGN.md "Hot paths"). It keeps replicas
 * of the compiled plugin versions and of the zone index, replaced whole by the main thread when
 * they change; messages on one port arrive in order, so a batch never sees an older replica
 * than the registration that preceded it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { CityError, cityError, type ErrorKey } from '../errors.js';
import { ZoneIndex } from '../geo/zone-index.js';
import { ZoneTree, type Zone } from '../geo/zones.js';
import { CompiledVersion, type VersionDescriptor } from '../plugins/compiled-version.js';
import { makeTokenizer } from '../plugins/personal-fields.js';
import { decodePayload, type PayloadFormat } from './decode.js';
import { prepareBatch, type ZoneLocator } from './ingest-batch.js';
import { eventScreen } from './inline-preparer.js';
import { RoleScreen } from '../rules/role-screen.js';
import type { CorrelationRuleSpec } from '../rules/correlation-types.js';

export type WorkerMessage =
  | { op: 'plugins'; descriptors: VersionDescriptor[] }
  | { op: 'zones'; zones: Zone[] }
  | { op: 'rules'; specs: CorrelationRuleSpec[] }
  | {
      op: 'prepare';
      id: number;
      pluginKey: string;
      bytes: Uint8Array;
      format: PayloadFormat;
      maxItems: number;
      receivedAtMs: number;
      zoneHint: string | null;
      summaries: boolean;
    };

export interface WorkerInit {
  tenantId: string;
  tokenizerKeyHex: string;
}

export function versionKey(modelId: string, version: string): string {
  return `${modelId}@${version}`;
}

/** Rebuilds a CityError sent across the thread boundary (only its data survives cloning). */
export function errorFromWire(e: { code: string; details: Record<string, unknown> }): CityError {
  return cityError(e.code.replace(/^CITY_ERR_/, '') as ErrorKey, e.details);
}

if (parentPort) {
  const port = parentPort;
  const init = workerData as WorkerInit;
  const tokenizer = makeTokenizer(Buffer.from(init.tokenizerKeyHex, 'hex'));
  let plugins = new Map<string, CompiledVersion>();
  let zones: ZoneLocator = { locate: () => null, has: () => false };
  let roles: RoleScreen | null = null;

  port.on('message', (msg: WorkerMessage) => {
    if (msg.op === 'plugins') {
      const next = new Map<string, CompiledVersion>();
      for (const d of msg.descriptors) {
        const key = versionKey(d.modelId, d.version);
        next.set(key, plugins.get(key) ?? CompiledVersion.fromDescriptor(d, tokenizer));
      }
      plugins = next;
    } else if (msg.op === 'zones') {
      const tree = new ZoneTree(msg.zones);
      const index = new ZoneIndex(tree);
      zones = { locate: (lng, lat) => index.locate(lng, lat), has: (id) => tree.has(id) };
    } else if (msg.op === 'rules') {
      roles = msg.specs.length === 0 ? null : new RoleScreen(msg.specs);
    } else {
      try {
        const plugin = plugins.get(msg.pluginKey);
        if (!plugin) throw cityError('INTERNAL', { reason: `ingest worker has no plugin ${msg.pluginKey}` });
        const bytes = Buffer.from(msg.bytes.buffer, msg.bytes.byteOffset, msg.bytes.byteLength);
        const { items, batch } = decodePayload(bytes, msg.format, msg.maxItems);
        const prepared = prepareBatch(init.tenantId, plugin, items, zones, msg.receivedAtMs, msg.zoneHint, eventScreen(roles, msg.summaries));
        port.postMessage({ id: msg.id, ok: true, batch, ...prepared });
      } catch (err) {
        const e = err instanceof CityError ? err : cityError('INTERNAL', { reason: (err as Error).message });
        port.postMessage({ id: msg.id, ok: false, error: { code: e.code, details: e.details } });
      }
    }
  });
}
