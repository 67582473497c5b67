import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { TASK_KINDS } from './kinds.js';
import { errorFromWire, type WorkerBoot, type WorkerReply, type WorkerRequest, type WorkerTaskSpec } from './runner-worker.js';
import { TaskFailedError, TaskInputError } from './task.js';

/**
 * The sandboxed runner (issue 7 §4): tasks run in worker threads with a heap limit, and a task
 * that runs out of time, out of memory or is cancelled has its thread terminated. Threads that
 * ended their task cleanly are kept warm for the next task with the same heap limit: starting
 * one costs ~200 ms of CPU (V8 isolate, tsx, the kinds), which dwarfed small jobs when every
 * task paid it (bench:jobs measured 8.7 jobs/s). A kept thread holds nothing of the task before
 * it (see runner-worker.ts), and a thread that did not end cleanly is never reused.
 *
 * What the isolation is and is not: the heap limit and termination are V8's, dependable for
 * runaway loops and allocation; task kinds are this project's code, and WebAssembly modules are
 * held to their own linear memory with no imports (wasm.ts). It is not a process or OS sandbox
 * — running untrusted JavaScript is not offered at all.
 */
export const RUNNER_DEFAULTS = {
  /** Progress messages from the worker: at most one per this interval. */
  progressIntervalMs: 100,
  /** Loading a new worker (tsx, the kinds) before the task's own time limit starts. */
  bootTimeoutMs: 30_000,
  /**
   * The least heap a task may be given: the worker itself (tsx, the kinds) boots in about 12 MB
   * (measured on Node 20; 8 MB runs out before the task starts).
   */
  minMemoryMb: 16,
  /** Young generation: a quarter of the limit, at most 64 MB (bin/city.mjs gives the main thread 3 × 64 MiB). */
  youngShare: 0.25,
  maxYoungMb: 64,
  /** Idle workers kept warm; the executor keeps one per job slot. */
  keepIdle: 1,
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
  /** From the call to the answer, worker start-up (if any) included. */
  wall_ms: number;
  /** The worker thread that ran it (threads are reused: see TaskRunner). */
  thread_id: number;
}

/** A worker thread and the heap limit it was started with (fixed for its life). */
interface TaskThread {
  worker: Worker;
  maxMemoryMb: number;
  /** true once it said `ready`; false if it died first. */
  ready: Promise<boolean>;
}

/**
 * Runs tasks in limited worker threads, keeping up to `keepIdle` threads warm between tasks.
 *
 * @example
 *   const runner = new TaskRunner({ keepIdle: 2 });
 *   await runner.warm(128, 2); // the first jobs find their threads loaded
 *   const { output, cpu_ms } = await runner.run(
 *     { kind: 'anomaly_scoring', input: { series } },
 *     { timeoutMs: 60_000, maxMemoryMb: 128 },
 *     (f) => reportProgress(jobId, f),
 *     ac.signal,
 *   );
 *   await runner.close();
 */
export class TaskRunner {
  readonly #keepIdle: number;
  /** Warm threads, the longest idle first. */
  readonly #idle: TaskThread[] = [];
  #closed = false;

  constructor(options: { keepIdle?: number } = {}) {
    const keepIdle = options.keepIdle ?? RUNNER_DEFAULTS.keepIdle;
    if (!Number.isInteger(keepIdle) || keepIdle < 0) throw new RangeError(`keepIdle must be a whole number of at least 0, not ${keepIdle}`);
    this.#keepIdle = keepIdle;
  }

  /** Threads waiting for a task now. */
  get idle(): number {
    return this.#idle.length;
  }

  /** Starts threads with this heap limit (up to `keepIdle` idle in all) and waits until they have loaded. */
  async warm(maxMemoryMb: number, count: number): Promise<void> {
    checkMemory(maxMemoryMb);
    const threads: TaskThread[] = [];
    for (let i = 0; i < count && this.#idle.length + threads.length < this.#keepIdle; i++) threads.push(this.#spawn(maxMemoryMb));
    await Promise.all(
      threads.map(async (t) => {
        if (await t.ready) this.#release(t);
      }),
    );
  }

  /**
   * Runs one task. Rejects with TaskInputError (bad kind, input or module) or TaskFailedError
   * whose `reason` says why: `timeout` ("exceeded its time limit of N ms"), `memory` ("exceeded
   * its memory limit of N MB"), `cancelled`, `failed` or `crashed`.
   */
  run(spec: TaskSpec, limits: TaskLimits, onProgress?: (fraction: number) => void, signal?: AbortSignal): Promise<TaskRun> {
    const { timeoutMs, maxMemoryMb } = limits;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) return Promise.reject(new RangeError(`timeoutMs must be a positive number, not ${timeoutMs}`));
    try {
      checkMemory(maxMemoryMb);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    // Refused here, before a thread is taken for nothing.
    if ('kind' in spec && !TASK_KINDS.has(spec.kind)) {
      return Promise.reject(new TaskInputError('kind', `${JSON.stringify(spec.kind)} is not a task kind; known: ${[...TASK_KINDS.keys()].join(', ')}`));
    }
    if (signal?.aborted) return Promise.reject(new TaskFailedError('cancelled', 'the task was cancelled'));
    if (this.#closed) return Promise.reject(new TaskFailedError('crashed', 'the runner is closed'));

    const startedAt = performance.now();
    const request: WorkerRequest = { type: 'task', spec, maxWasmMemoryBytes: maxMemoryMb * 1024 * 1024, progressIntervalMs: RUNNER_DEFAULTS.progressIntervalMs };
    const thread = this.#take(maxMemoryMb) ?? this.#spawn(maxMemoryMb);
    const { worker } = thread;
    worker.ref(); // a running task keeps the process alive; an idle thread does not

    return new Promise<TaskRun>((resolve, reject) => {
      let settled = false;
      let timer = setTimeout(
        () => finish(new TaskFailedError('crashed', `the task's worker did not start within ${RUNNER_DEFAULTS.bootTimeoutMs} ms`), false),
        RUNNER_DEFAULTS.bootTimeoutMs,
      );
      const onAbort = () => finish(new TaskFailedError('cancelled', 'the task was cancelled'), false);
      signal?.addEventListener('abort', onAbort, { once: true });

      const onMessage = (reply: WorkerReply) => {
        if (settled) return;
        switch (reply.type) {
          case 'progress':
            try {
              onProgress?.(reply.fraction);
            } catch (err) {
              finish(err as Error, false); // the caller's bug: end the task with it rather than crash the executor
            }
            break;
          case 'done':
            finish({ output: reply.output, cpu_ms: reply.cpu_ms, wall_ms: performance.now() - startedAt, thread_id: worker.threadId }, true);
            break;
          case 'error':
            finish(errorFromWire(reply.error), true);
            break;
        }
      };
      const onError = (err: Error & { code?: string }) => {
        if (err.code === 'ERR_WORKER_OUT_OF_MEMORY') finish(new TaskFailedError('memory', `the task exceeded its memory limit of ${maxMemoryMb} MB`, { cause: err }), false);
        else finish(new TaskFailedError('crashed', `the task's worker failed: ${err.message}`, { cause: err }), false);
      };
      const onExit = (code: number) => finish(new TaskFailedError('crashed', `the task's worker exited with code ${code} before it answered`), false);
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);

      /** `clean`: the task ended with its own answer, so the thread can take another. */
      function finish(outcome: Error | TaskRun, clean: boolean): void {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
        release(clean);
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
      }
      const release = (clean: boolean) => (clean ? this.#release(thread) : void worker.terminate());

      void thread.ready.then((ok) => {
        if (settled || !ok) return; // a thread that died before loading is reported by onExit/onError
        try {
          worker.postMessage(request);
          // The thread is loaded and idle, so the task starts as soon as the message lands: its
          // time limit runs from here (no 'started' reply, one thread hop less per task).
          clearTimeout(timer);
          timer = setTimeout(() => finish(new TaskFailedError('timeout', `the task exceeded its time limit of ${timeoutMs} ms`), false), timeoutMs);
        } catch (err) {
          // The request is cloned here: an input with functions or class instances cannot travel.
          finish(new TaskInputError('input', `cannot be sent to a worker: ${(err as Error).message}`, { cause: err }), true);
        }
      });
    });
  }

  /** Terminates the idle threads; a thread still running a task is terminated when it ends. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#idle.splice(0).map((t) => t.worker.terminate()));
  }

  #spawn(maxMemoryMb: number): TaskThread {
    const youngMb = Math.max(1, Math.min(RUNNER_DEFAULTS.maxYoungMb, Math.floor(maxMemoryMb * RUNNER_DEFAULTS.youngShare)));
    // The boot file registers tsx in the worker: module hooks are not inherited, and bin/city.mjs
    // registers them with register() rather than --import.
    const worker = new Worker(new URL('./runner-worker-boot.mjs', import.meta.url), {
      workerData: { computeTaskWorker: true } satisfies WorkerBoot,
      resourceLimits: { maxOldGenerationSizeMb: maxMemoryMb - youngMb, maxYoungGenerationSizeMb: youngMb },
    });
    const ready = new Promise<boolean>((resolve) => {
      const onReady = (m: WorkerReply) => {
        if (m.type !== 'ready') return;
        worker.off('message', onReady);
        resolve(true);
      };
      worker.on('message', onReady);
      worker.once('exit', () => resolve(false));
    });
    // An idle thread that dies (it should not) simply leaves the pool; an 'error' listener keeps
    // its error from becoming the executor's uncaught exception.
    worker.on('error', () => {});
    worker.once('exit', () => {
      const at = this.#idle.findIndex((t) => t.worker === worker);
      if (at >= 0) this.#idle.splice(at, 1);
    });
    return { worker, maxMemoryMb, ready };
  }

  #take(maxMemoryMb: number): TaskThread | undefined {
    for (let i = this.#idle.length - 1; i >= 0; i--) {
      if (this.#idle[i]!.maxMemoryMb === maxMemoryMb) return this.#idle.splice(i, 1)[0];
    }
    return undefined;
  }

  #release(thread: TaskThread): void {
    if (this.#closed || this.#keepIdle === 0) {
      void thread.worker.terminate();
      return;
    }
    thread.worker.unref();
    this.#idle.push(thread);
    // Over the limit (threads kept for other heap limits): the longest idle goes.
    while (this.#idle.length > this.#keepIdle) void this.#idle.shift()!.worker.terminate();
  }
}

function checkMemory(maxMemoryMb: number): void {
  if (!Number.isInteger(maxMemoryMb) || maxMemoryMb < RUNNER_DEFAULTS.minMemoryMb) {
    throw new RangeError(`maxMemoryMb must be a whole number of at least ${RUNNER_DEFAULTS.minMemoryMb}, not ${maxMemoryMb}`);
  }
}
