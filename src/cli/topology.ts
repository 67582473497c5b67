import type { Command } from 'commander';
import type { Topology, TopologyChild, TopologyLink } from '../hierarchy/topology.js';
import { nodeClientOptions, nodeToken, type NodeClientFlags } from './node-client.js';

interface TopologyFlags extends NodeClientFlags {
  json?: boolean;
}

export function registerTopology(program: Command): void {
  nodeClientOptions(program.command('topology').description("print a node's hierarchy: its parent, children (and theirs), peers, and each link's state, lag, outbox depth and last report"))
    .option('--json', 'print the answer of GET /api/v1/topology as JSON')
    .action(async (flags: TopologyFlags) => {
      const token = await nodeToken(flags);
      if (!token) fail(`no token: pass --token, set CITY_ADMIN_TOKEN, or point --data at the node's data folder (it keeps admin-token there)`);
      let res: Response;
      try {
        res = await fetch(`${flags.url.replace(/\/+$/, '')}/api/v1/topology`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) });
      } catch (err) {
        fail(`cannot reach ${flags.url}: ${(err as Error).message} — is the node running? (city start; --url sets the address)`);
      }
      const text = await res.text();
      if (!res.ok) fail(`${flags.url} answered ${res.status}: ${text.slice(0, 300)}`);
      const topology = JSON.parse(text) as Topology;
      process.stdout.write(flags.json ? `${JSON.stringify(topology, null, 2)}\n` : render(topology, Date.now()));
    });
}

/**
 * The tree as text, this node at the top:
 *
 *   city-chennai  city · Chennai Metropolitan Area   uplink: standalone
 *   ├─ district-teynampet  district · Teynampet   up · lag 0 ms · outbox 0 · report 4 s ago
 *   │  ├─ local-w109  local · Ward 109   up · report 12 s ago
 */
export function render(t: Topology, nowMs: number): string {
  const lines: string[] = [];
  const zone = (name: string | null, id: string | null) => name ?? id ?? 'no zone';
  if (t.parent) lines.push(`parent: ${t.parent.node_id}  ${t.parent.role} · ${zone(t.parent.zone_name, t.parent.zone_id)}   ${linkText(t.parent.link, nowMs)}`);
  const pending = t.uplink.outbox_pending > 0 ? `${t.uplink.outbox_pending} message(s) waiting for the parent since ${t.uplink.oldest_pending_at}` : 'nothing waiting';
  lines.push(`${t.node.node_id}  ${t.node.role} · ${zone(t.node.zone_name, t.node.zone_id)}   (this node; ${t.parent ? 'uplink' : 'no parent'}: ${pending})`);
  const walk = (children: TopologyChild[], prefix: string): void => {
    children.forEach((c, i) => {
      const last = i === children.length - 1;
      lines.push(`${prefix}${last ? '└─ ' : '├─ '}${c.node_id}  ${c.role} · ${zone(c.zone_name, c.zone_id)}   ${linkText(c.link, nowMs)}`);
      walk(c.children, `${prefix}${last ? '   ' : '│  '}`);
    });
  };
  walk(t.children, '');
  if (t.peers.length > 0) lines.push(`peers: ${t.peers.map((p) => `${p.node_id} (${linkText(p.link, nowMs)})`).join('; ')}`);
  if (t.parent === null && t.children.length === 0 && t.peers.length === 0) lines.push('standalone: no parent, children or peers are enrolled');
  return `${lines.join('\n')}\n`;
}

function linkText(link: TopologyLink, nowMs: number): string {
  const parts: string[] = [link.state.replace('_', ' ')];
  if (link.lag_ms !== null && link.lag_ms > 0) parts.push(`lag ${Math.round(link.lag_ms)} ms`);
  if (link.outbox_depth !== null) parts.push(`outbox ${link.outbox_depth}`);
  parts.push(`report ${link.last_report_at ? ago(Date.parse(link.last_report_at), nowMs) : 'never'}`);
  if (link.last_error) parts.push(`error: ${link.last_error}`);
  return parts.join(' · ');
}

function ago(ms: number, nowMs: number): string {
  const s = Math.max(0, Math.round((nowMs - ms) / 1000));
  if (s < 90) return `${s} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

function fail(message: string): never {
  process.stderr.write(`city topology: ${message}\n`);
  process.exit(1);
}
