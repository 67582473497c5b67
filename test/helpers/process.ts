import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/node/paths.js';

export interface NodeProcess {
  child: ChildProcess;
  url: string;
  adminToken: string;
  pluginKeys: Record<string, string>;
  output: () => string;
  /** Resolves with the exit code (or signal) once the process has ended. */
  exited: Promise<number | string>;
}

/**
 * Runs `city start …` as a real process, waits for its banner, and reads the URL, admin token
 * and plugin keys from it. The caller must stop it (t.after) — kill is idempotent.
 */
export async function spawnCity(args: string[], env: Record<string, string | undefined> = {}, timeoutMs = 60_000, nodeArgs: string[] = []): Promise<NodeProcess> {
  const child = spawn(process.execPath, [...nodeArgs, join(PROJECT_ROOT, 'bin/city.mjs'), 'start', ...args], {
    env: { ...process.env, CITY_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const deadline = Date.now() + timeoutMs;
  while (!/Admin token\s+\S+/.test(out) || !/HTTP API\s+(http:\/\/\S+)\/api\/v1/.test(out)) {
    if (child.exitCode !== null) throw new Error(`city start exited early (${child.exitCode}):\n${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`city start did not print its banner within ${timeoutMs} ms:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 50)); // let the rest of the banner (keys) arrive
  const url = /HTTP API\s+(http:\/\/\S+)\/api\/v1/.exec(out)![1]!;
  const adminToken = /Admin token\s+(\S+)/.exec(out)![1]!;
  const pluginKeys: Record<string, string> = {};
  for (const m of out.matchAll(/^\s{4}(\S+)\s+(pk_\S+)$/gm)) pluginKeys[m[1]!] = m[2]!;
  return { child, url, adminToken, pluginKeys, output: () => out, exited };
}
