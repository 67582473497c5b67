/**
 * A task worker thread (runner.ts keeps a few of them warm). It says `ready` once loaded, then
 * runs one task per `task` message: it says when the task starts, sends throttled progress, and
 * ends each with one `done` or `error` message. It keeps nothing between tasks: the kinds are
 * pure functions of their input, and a WebAssembly module is instantiated afresh for each task
 * with no imports (wasm.ts), so no task can leave anything behind for the next one.
 */
import { performance } from 'node:perf_hooks';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { TASK_KINDS } from './kinds.js';
import { TaskFailedError, TaskInputError, type TaskFailureReason } from './task.js';
import { runWasm } from './wasm.js';

export type WorkerTaskSpec = { kind: string; input: unknown } | { wasm: Uint8Array; input: Uint8Array };

/** workerData of a task worker: marks it as ours, so importing this file elsewhere runs nothing. */
export interface WorkerBoot {
  computeTaskWorker: true;
}

export interface WorkerRequest {
  type: 'task';
  spec: WorkerTaskSpec;
  maxWasmMemoryBytes: number;
  progressIntervalMs: number;
}

/** Errors cross the thread boundary as data: only own fields survive structured cloning. */
export type WireError = { name: 'TaskInputError'; field: string; problem: string } | { name: 'TaskFailedError'; reason: TaskFailureReason; message: string };

export type WorkerReply =
  | { type: 'ready' }
  | { type: 'progress'; fraction: number }
  | { type: 'done'; output: unknown; cpu_ms: number }
  | { type: 'error'; error: WireError };

/** Rebuilds the error a worker sent. */
export function errorFromWire(e: WireError): TaskInputError | TaskFailedError {
  return e.name === 'TaskInputError' ? new TaskInputError(e.field, e.problem) : new TaskFailedError(e.reason, e.message);
}

function toWire(err: unknown): WireError {
  if (err instanceof TaskInputError) return { name: 'TaskInputError', field: err.field, problem: err.problem };
  if (err instanceof TaskFailedError) return { name: 'TaskFailedError', reason: err.reason, message: err.message };
  // A kind that throws anything else has a bug (or hit an engine limit such as the call stack).
  return { name: 'TaskFailedError', reason: 'failed', message: `the task failed: ${err instanceof Error ? err.message : String(err)}` };
}

/**
 * This thread's CPU time in ms. Node ≥ 23.9 measures it (process.threadCpuUsage); before that
 * only the whole process's is available, which counts the executor's other threads, so the
 * time the task ran on this thread stands in — the same for CPU-bound work on a machine that
 * is not oversubscribed.
 */
function cpuClock(): () => number {
  const threadCpuUsage = (process as { threadCpuUsage?: () => { user: number; system: number } }).threadCpuUsage;
  if (typeof threadCpuUsage === 'function') {
    const read = () => {
      const u = threadCpuUsage.call(process);
      return (u.user + u.system) / 1000;
    };
    const start = read();
    return () => read() - start;
  }
  const start = performance.now();
  return () => performance.now() - start;
}

function runTask(port: MessagePort, request: WorkerRequest): void {
  const { spec } = request;
  let lastProgressMs = -Infinity;
  // Kinds report progress from their loops; only one message per interval crosses the thread.
  const progress = (fraction: number) => {
    const now = performance.now();
    if (now - lastProgressMs < request.progressIntervalMs) return;
    lastProgressMs = now;
    port.postMessage({ type: 'progress', fraction: Math.min(1, Math.max(0, fraction)) } satisfies WorkerReply);
  };
  const cpu = cpuClock();
  try {
    if ('wasm' in spec) {
      const output = runWasm(spec.wasm, spec.input, { maxMemoryBytes: request.maxWasmMemoryBytes });
      port.postMessage({ type: 'done', output, cpu_ms: cpu() } satisfies WorkerReply, [output.buffer as ArrayBuffer]); // a fresh copy (wasm.ts), never shared
      return;
    }
    const kind = TASK_KINDS.get(spec.kind);
    if (!kind) throw new TaskInputError('kind', `${JSON.stringify(spec.kind)} is not a task kind; known: ${[...TASK_KINDS.keys()].join(', ')}`);
    const output = kind.run(kind.validate(spec.input), progress);
    port.postMessage({ type: 'done', output, cpu_ms: cpu() } satisfies WorkerReply);
  } catch (err) {
    port.postMessage({ type: 'error', error: toWire(err) } satisfies WorkerReply);
  }
}

const port = parentPort;
if (port && (workerData as WorkerBoot | undefined)?.computeTaskWorker === true) {
  port.on('message', (request: WorkerRequest) => {
    if (request?.type === 'task') runTask(port, request);
  });
  port.postMessage({ type: 'ready' } satisfies WorkerReply);
}
