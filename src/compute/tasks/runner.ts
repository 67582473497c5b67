import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { TASK_KINDS } from './kinds.js';
import { errorFromWire, type WorkerReply, type WorkerRequest, type WorkerTaskSpec } from './runner-worker.js';
import { TaskFailedError, TaskInputError } from './task.js';

/**
 * The sandboxed runner (issue 7 §4): each task runs in a fresh worker thread with its own
 * heap limit, and is terminated when it runs out of time, out of memory or is cancelled. A
 * fresh thread per task costs ~100–300 ms of start-up (loading tsx and the kinds), small next to
 * the jobs worth sending over a network, and buys isolation: nothing a task leaves in memory
 * survives it, and a terminated task cannot hold the executor's event loop.
 *
 * What the isolation is and is not: the heap limit and termination are V8's, dependable for
 * runaway loops and allocation; task kinds are this project's code, and WebAssembly modules are
 * held to their own linear memory with no imports (wasm.ts). It is not a process or OS sandbox
 * — running untrusted JavaScript is not offered at all.
 */
export const RUNNER_DEFAULTS = {
  /** Progress messages from the worker: at most one per this interval. */
  progressIntervalMs: 100,
  /** Loading the worker (tsx, the kinds) before the task's own time limit starts. */
  bootTimeoutMs: 30_000,
  /**
   * The least heap a task may be given: the worker itself (tsx, the kinds) boots in about 12 MB
   * (measured on Node 20; 8 MB runs out before the task starts).
   */
  minMemoryMb: 16,
  /** Young generation: a quarter of the limit, at most 64 MB (bin/city.mjs gives the main thread 3 × 64 MiB). */
  youngShare: 0.25,
  maxYoungMb: 64,
} as const;

export type TaskSpec = WorkerTaskSpec;

export interface TaskLimits {
  /** The task's own run time, from when its worker has loaded. */
  timeoutMs: number;
  /**
   * The worker's JavaScript heap (old + young generation). A WebAssembly module's linear memory
   * lives outside that heap and is capped at the same number separately.
   */
  maxMemoryMb: number;
}

export interface TaskRun {
  /** The kind's output, or the WebAssembly module's output bytes. */
  output: unknown;
  /** CPU time of the task on its thread (see runner-worker.ts for how it is measured). */
  cpu_ms: number;
  /** From the call to the answer, worker start-up included. */
  wall_ms: number;
}

/**
 * Runs one task in a fresh, limited worker thread. Rejects with TaskInputError (bad kind, input
 * or module) or TaskFailedError whose `reason` says why: `timeout` ("exceeded its time limit of
 * N ms"), `memory` ("exceeded its memory limit of N MB"), `cancelled`, `failed` or `crashed`.
 *
 * @example
 *   const ac = new AbortController();
 *   const { output, cpu_ms } = await runInWorker(
 *     { kind: 'anomaly_scoring', input: { series } },
 *     { timeoutMs: 60_000, maxMemoryMb: 256 },
 *     (f) => reportProgress(jobId, f),
 *     ac.signal,
 *   );
 */
export function runInWorker(spec: TaskSpec, limits: TaskLimits, onProgress?: (fraction: number) => void, signal?: AbortSignal): Promise<TaskRun> {
  const { timeoutMs, maxMemoryMb } = limits;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) return Promise.reject(new RangeError(`timeoutMs must be a positive number, not ${timeoutMs}`));
  if (!Number.isInteger(maxMemoryMb) || maxMemoryMb < RUNNER_DEFAULTS.minMemoryMb) {
    return Promise.reject(new RangeError(`maxMemoryMb must be a whole number of at least ${RUNNER_DEFAULTS.minMemoryMb}, not ${maxMemoryMb}`));
  }
  // Refused here, before a worker is started for nothing.
  if ('kind' in spec && !TASK_KINDS.has(spec.kind)) {
    return Promise.reject(new TaskInputError('kind', `${JSON.stringify(spec.kind)} is not a task kind; known: ${[...TASK_KINDS.keys()].join(', ')}`));
  }
  if (signal?.aborted) return Promise.reject(new TaskFailedError('cancelled', 'the task was cancelled'));

  const startedAt = performance.now();
  const youngMb = Math.max(1, Math.min(RUNNER_DEFAULTS.maxYoungMb, Math.floor(maxMemoryMb * RUNNER_DEFAULTS.youngShare)));
  const request: WorkerRequest = {
    computeTask: true,
    spec,
    maxWasmMemoryBytes: maxMemoryMb * 1024 * 1024,
    progressIntervalMs: RUNNER_DEFAULTS.progressIntervalMs,
  };

  return new Promise<TaskRun>((resolve, reject) => {
    // The boot file registers tsx in the worker: module hooks are not inherited, and bin/city.mjs
    // registers them with register() rather than --import.
    let worker: Worker;
    try {
      worker = new Worker(new URL('./runner-worker-boot.mjs', import.meta.url), {
        workerData: request,
        resourceLimits: { maxOldGenerationSizeMb: maxMemoryMb - youngMb, maxYoungGenerationSizeMb: youngMb },
      });
    } catch (err) {
      // workerData is cloned here: an input with functions or class instances cannot travel.
      return reject(new TaskInputError('input', `cannot be sent to a worker: ${(err as Error).message}`, { cause: err }));
    }
    let settled = false;
    let timer = setTimeout(
      () => finish(new TaskFailedError('crashed', `the task's worker did not start within ${RUNNER_DEFAULTS.bootTimeoutMs} ms`)),
      RUNNER_DEFAULTS.bootTimeoutMs,
    );
    const onAbort = () => finish(new TaskFailedError('cancelled', 'the task was cancelled'));
    signal?.addEventListener('abort', onAbort, { once: true });

    function finish(outcome: Error | TaskRun): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      // Also after a result: the worker has nothing left to do, and must not linger on a laptop.
      void worker.terminate();
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    }

    worker.on('message', (reply: WorkerReply) => {
      if (settled) return;
      switch (reply.type) {
        case 'started':
          clearTimeout(timer);
          timer = setTimeout(() => finish(new TaskFailedError('timeout', `the task exceeded its time limit of ${timeoutMs} ms`)), timeoutMs);
          break;
        case 'progress':
          try {
            onProgress?.(reply.fraction);
          } catch (err) {
            finish(err as Error); // the caller's bug: end the task with it rather than crash the executor
          }
          break;
        case 'done':
          finish({ output: reply.output, cpu_ms: reply.cpu_ms, wall_ms: performance.now() - startedAt });
          break;
        case 'error':
          finish(errorFromWire(reply.error));
          break;
      }
    });
    worker.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'ERR_WORKER_OUT_OF_MEMORY') {
        finish(new TaskFailedError('memory', `the task exceeded its memory limit of ${maxMemoryMb} MB`, { cause: err }));
      } else {
        finish(new TaskFailedError('crashed', `the task's worker failed: ${err.message}`, { cause: err }));
      }
    });
    worker.on('exit', (code) => finish(new TaskFailedError('crashed', `the task's worker exited with code ${code} before it answered`)));
  });
}
