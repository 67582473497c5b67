/**
 * Child processes of `bench:jobs` (executors, redis-server, BullMQ workers) and the temporary
 * folders they use: started into a group that stops them all, whatever happens — a thrown error,
 * Ctrl-C or the bench's own `process.exit` — so a run never leaves a Redis or an executor behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';

export const PROCESS_DEFAULTS = {
  /** After SIGTERM, a child that has not exited is SIGKILLed after this long. */
  stopGraceMs: 5_000,
  /** Output kept per child for error messages (the tail). */
  maxOutputChars: 200_000,
  pollMs: 25,
} as const;

export interface Proc {
  name: string;
  child: ChildProcess;
  exited: Promise<void>;
  /** What it wrote on stdout and stderr (the last `maxOutputChars`). */
  output(): string;
}

/**
 * @example
 *   const group = new ProcessGroup();
 *   try {
 *     const redis = group.start('redis', '/usr/bin/redis-server', ['--port', String(port)]);
 *     await group.waitFor('redis to listen', () => canConnect(port), 10_000, redis);
 *   } finally {
 *     await group.stopAll();
 *   }
 */
export class ProcessGroup {
  readonly #running = new Set<Proc>();
  readonly #dirs = new Set<string>();
  #guarded = false;

  /** Starts `cmd` with its output kept; it is SIGKILLed if this process exits first. */
  start(name: string, cmd: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Proc {
    this.#guard();
    const child = spawn(cmd, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const keep = (b: Buffer) => {
      out += b.toString();
      if (out.length > PROCESS_DEFAULTS.maxOutputChars) out = out.slice(-PROCESS_DEFAULTS.maxOutputChars / 2);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const proc: Proc = { name, child, exited, output: () => out };
    this.#running.add(proc);
    void exited.then(() => this.#running.delete(proc));
    return proc;
  }

  /** A fresh folder under the OS temp dir, removed by stopAll (or at exit). */
  async tempDir(prefix: string): Promise<string> {
    this.#guard();
    const dir = await mkdtemp(join(os.tmpdir(), prefix));
    this.#dirs.add(dir);
    return dir;
  }

  async stop(proc: Proc): Promise<void> {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
    proc.child.kill('SIGTERM');
    const timer = setTimeout(() => proc.child.kill('SIGKILL'), PROCESS_DEFAULTS.stopGraceMs);
    await proc.exited;
    clearTimeout(timer);
  }

  /** Stops every child (SIGTERM, then SIGKILL) and removes the temporary folders. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.#running].map((p) => this.stop(p)));
    for (const d of this.#dirs) await rm(d, { recursive: true, force: true });
    this.#dirs.clear();
  }

  /** Polls `check`; fails early, with the child's output, if `proc` exits meanwhile. */
  async waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, proc?: Proc): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (proc && proc.child.exitCode !== null) throw new Error(`${proc.name} exited (${proc.child.exitCode}) while waiting for ${what}:\n${proc.output().slice(-3000)}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${proc ? `:\n${proc.output().slice(-3000)}` : ''}`);
      await new Promise((r) => setTimeout(r, PROCESS_DEFAULTS.pollMs));
    }
  }

  // The bench ends with process.exit(0) and may be interrupted: both must take the children along.
  #guard(): void {
    if (this.#guarded) return;
    this.#guarded = true;
    process.once('exit', () => {
      for (const p of this.#running) p.child.kill('SIGKILL');
      for (const d of this.#dirs) rmSync(d, { recursive: true, force: true });
    });
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        for (const p of this.#running) p.child.kill('SIGKILL');
        if (process.listenerCount(signal) === 0) process.exit(130);
      });
    }
  }
}


/**
 * True when something accepts a TCP connection on 127.0.0.1:port.
 *
 * @example
 *   await group.waitFor('redis-server to listen', () => canConnect(port), 10_000, redis);
 */
export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

/**
 * CPU seconds of a process and of the children it has waited for (utime, stime, cutime, cstime
 * of proc(5)), from /proc (Linux); NaN elsewhere. The children matter for an executor: its
 * resource probe (systeminformation) runs commands after every job.
 *
 * @example
 *   const before = cpuSecondsWithChildren(executor.child.pid);
 *   // … run jobs …
 *   const used = cpuSecondsWithChildren(executor.child.pid) - before;
 */
export function cpuSecondsWithChildren(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Counted from the state field, after the parenthesised command name: 11–14 are utime, stime, cutime, cstime.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // In clock ticks: 100 a second on Linux (as bench/report.ts's cpuSeconds takes it).
    return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100;
  } catch {
    return NaN;
  }
}
