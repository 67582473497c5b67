import { readFileSync } from 'node:fs';
import os from 'node:os';

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
