import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_PLUGINS_DIR, DEMO_RULES_DIR } from '../../src/node/node.js';
import { loadZoneFile } from '../../src/geo/zone-file.js';
import { RoadNetwork } from '../../src/geo/roads.js';
import { ZoneIndex } from '../../src/geo/zone-index.js';
import { ZoneTree } from '../../src/geo/zones.js';
import { CHENNAI_ZONES } from './fixtures.js';
import { call, type Cleanup } from './node.js';
import { spawnCity, type NodeProcess } from './process.js';

/** Short windows so a test sees several of them: reports every 2 s, merged 1.2 s after. */
export const FAST_HIERARCHY_CONFIG = `
brain:
  reportWindowMs: 2000
  reportSettleMs: 300
hierarchy:
  reportGraceMs: 1200
  link:
    batchSize: 100
    requestTimeoutMs: 3000
    idlePollMs: 200
    backoffBaseMs: 100
    backoffMaxMs: 1000
http:
  rateLimit:
    enabled: false
`;

export interface TreeNodeSpec {
  nodeId: string;
  role: 'local' | 'district' | 'city' | 'state' | 'national';
  zoneId: string;
  /** The parent's node id (absent for the root). */
  parent?: string;
}

/** A node process of a test tree, restartable on the same data folder. */
export interface TreeNode extends TreeNodeSpec {
  dataDir: string;
  proc: NodeProcess;
  auth: Record<string, string>;
  /** Stops the process (SIGTERM, then SIGKILL after 10 s). */
  stop(): Promise<void>;
  /** Starts it again on its data folder (already enrolled: no token). */
  restart(): Promise<void>;
}

/**
 * Starts a tree of real `city start` processes on loopback, top down: each parent issues an
 * enrolment token for each child (POST /api/v1/layer/enrolments), and the child starts with
 * `--parent <url> --enrol-token <token>`. Locals register the demo plugins (their keys are in
 * `proc.pluginKeys`) and load the demo rules. Every process is stopped by `cleanup`.
 */
export async function startTree(cleanup: Cleanup, specs: readonly TreeNodeSpec[], config = FAST_HIERARCHY_CONFIG): Promise<Map<string, TreeNode>> {
  const nodes = new Map<string, TreeNode>();
  const pending = [...specs];
  while (pending.length > 0) {
    // Every spec whose parent is running starts now, together.
    const ready = pending.filter((s) => s.parent === undefined || nodes.has(s.parent));
    if (ready.length === 0) throw new Error(`no parent for ${pending.map((s) => s.nodeId).join(', ')}`);
    for (const s of ready) pending.splice(pending.indexOf(s), 1);
    await Promise.all(ready.map(async (spec) => nodes.set(spec.nodeId, await startTreeNode(cleanup, spec, spec.parent ? nodes.get(spec.parent)! : null, config))));
  }
  return nodes;
}

async function startTreeNode(cleanup: Cleanup, spec: TreeNodeSpec, parent: TreeNode | null, config: string): Promise<TreeNode> {
  const dataDir = await mkdtemp(join(tmpdir(), `city-${spec.nodeId}-`));
  cleanup.after(() => rm(dataDir, { recursive: true, force: true }));
  const configFile = join(dataDir, 'node.yaml');
  await writeFile(configFile, config);
  const base = ['--config', configFile, '--data', dataDir, '--port', '0', '--mqtt-port', '0', '--role', spec.role, '--node-id', spec.nodeId, '--zone', spec.zoneId];
  if (spec.role === 'local') base.push('--plugins', DEMO_PLUGINS_DIR, '--rules', DEMO_RULES_DIR);
  const first = [...base];
  if (parent) {
    const issued = await call(parent.proc, 'POST', '/api/v1/layer/enrolments', { headers: parent.auth, body: { node_id: spec.nodeId, role: spec.role, zone_id: spec.zoneId } });
    if (issued.status !== 201) throw new Error(`enrolment token for ${spec.nodeId}: ${issued.status} ${JSON.stringify(issued.body)}`);
    first.push('--parent', parent.proc.url, '--enrol-token', issued.body.token);
  }
  const node: TreeNode = {
    ...spec,
    dataDir,
    proc: await spawnCity(first),
    auth: {},
    stop: async () => {
      if (node.proc.child.exitCode !== null) return;
      node.proc.child.kill('SIGTERM');
      const timer = setTimeout(() => node.proc.child.kill('SIGKILL'), 10_000);
      await node.proc.exited;
      clearTimeout(timer);
    },
    // The port may differ after a restart: the parent learns nothing of it, so a restarted
    // child must keep its port when it has children. Restart on the same port then.
    restart: async () => {
      const port = new URL(node.proc.url).port;
      node.proc = await spawnCity(base.map((a, i) => (base[i - 1] === '--port' ? port : a)));
      node.auth = { authorization: `Bearer ${node.proc.adminToken}` };
    },
  };
  node.auth = { authorization: `Bearer ${node.proc.adminToken}` };
  cleanup.after(() => node.stop());
  return node;
}

/** A point inside each ward (a node of the ward-adjacency road network), for events and routes. */
export async function wardPoints(): Promise<(wardId: string) => { latitude: number; longitude: number }> {
  const tree = new ZoneTree(await loadZoneFile(CHENNAI_ZONES));
  const network = RoadNetwork.fromWardAdjacency(new ZoneIndex(tree));
  return (wardId) => {
    for (let n = 0; n < network.nodeCount; n++) {
      if (network.zoneOfNode(n) === wardId) return { latitude: network.lat[n]!, longitude: network.lng[n]! };
    }
    throw new Error(`no point in ${wardId}`);
  };
}
