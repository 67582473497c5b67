import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';

/** Latencies in ms, kept whole (runs are seconds long), percentiles by sorting once. */
export class LatencyRecorder {
  #values: number[] = [];
  #sorted = false;
  add(ms: number): void {
    this.#values.push(ms);
    this.#sorted = false;
  }
  percentile(p: number): number {
    if (this.#values.length === 0) return NaN;
    if (!this.#sorted) {
      this.#values.sort((a, b) => a - b);
      this.#sorted = true;
    }
    const i = Math.min(this.#values.length - 1, Math.ceil((p / 100) * this.#values.length) - 1);
    return this.#values[Math.max(0, i)]!;
  }
}

export function machine(): string {
  const cpus = os.cpus();
  return `Machine: ${cpus[0]?.model ?? 'unknown CPU'} × ${cpus.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}\n`;
}

export function markdownTable(header: string[], rows: string[][]): string {
  const lines = [`| ${header.join(' | ')} |`, `| ${header.map((_, i) => (i === 0 || i === 1 || i === header.length - 2 ? '---' : '---:')).join(' | ')} |`];
  for (const r of rows) lines.push(`| ${r.join(' | ')} |`);
  return lines.join('\n');
}

/** Progress on stderr, so stdout stays the report. */
export function progress(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/** CPU seconds (user + system) of a process so far, from /proc (Linux); NaN elsewhere. */
export function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[11], fields[12] = utime, stime (fields 14 and 15 of proc(5), counted from the state field).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

/**
 * A TCP port free on 127.0.0.1 now (the OS's pick for port 0); another process may take it
 * before the caller binds it, which on a bench machine is a risk worth taking.
 *
 * @example
 *   const port = await freePort(); // → e.g. 41327
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Installs a benchmark peer's packages at pinned versions into its own folder under
 * bench/.peers (git-ignored) unless they are there: peers are measured against, never depended on.
 *
 * @example
 *   ensurePeerPackages(join(PROJECT_ROOT, 'bench/.peers/bullmq'), { bullmq: '6.7.0', ioredis: '6.0.0' });
 */
export function ensurePeerPackages(dir: string, packages: Record<string, string>): void {
  const installed = (name: string) => {
    const pkg = join(dir, 'node_modules', name, 'package.json');
    return existsSync(pkg) ? (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version : null;
  };
  const missing = Object.entries(packages).filter(([name, version]) => installed(name) !== version);
  if (missing.length === 0) return;
  const specs = Object.entries(packages).map(([name, version]) => `${name}@${version}`);
  progress(`installing ${specs.join(', ')} into ${dir} (found ${missing.map(([name]) => `${name} ${installed(name) ?? 'none'}`).join(', ')})`);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const r = spawnSync(npm, ['install', '--prefix', dir, ...specs, '--save-exact', '--no-audit', '--no-fund', '--loglevel', 'error'], { stdio: ['ignore', 2, 2] });
  if (r.status !== 0) throw new Error(`npm install ${specs.join(' ')} failed (exit ${r.status})`);
}
