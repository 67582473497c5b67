/**
 * What every compute task kind is (issue 7 §3): a pure, deterministic, synchronous function
 * from a validated input to an output, which can also be cut into independent parts for fan-out
 * across executors (seed 000: the broker dispatches jobs, executors return result data).
 *
 * The errors here are plain classes, not catalogue CityErrors: tasks run in worker threads and
 * on other people's machines, and the broker decides what a failure means for the job
 * (an input error is not worth a retry; a timeout on a laptop may succeed on a server).
 */

/**
 * One kind of work an executor knows how to do.
 *
 * @example
 *   const input = kind.validate(JSON.parse(body));
 *   const parts = kind.split(input, 4);              // dispatched to up to four executors
 *   const output = kind.merge(parts.map((p) => kind.run(p, () => {})), input);
 */
export interface TaskKind<I = unknown, O = unknown> {
  name: string;
  description: string;
  /** Throws TaskInputError naming the field when the input is wrong. */
  validate(input: unknown): I;
  /** Pure, deterministic, synchronous CPU work; `progress` gets fractions in [0, 1]. */
  run(input: I, progress: (fraction: number) => void): O;
  /** Fan-out: split one input into at most n independent parts (never none). */
  split(input: I, n: number): I[];
  /** Merge the parts' outputs, given in part order, into the output of the whole input. */
  merge(outputs: O[], input: I): O;
}

/**
 * The input is wrong: the submitter's fault, so the broker should not retry it. `field` is a
 * path into the input (`grid.elevation_m[12]`, `stops[3].lat`), or `''` for the input itself.
 *
 * @example
 *   throw new TaskInputError('stops[3].lat', 'must be a latitude between -90 and 90');
 */
export class TaskInputError extends Error {
  override readonly name = 'TaskInputError';
  constructor(
    readonly field: string,
    /** What is wrong with it, without the field: `must be a finite number`. */
    readonly problem: string,
    options?: { cause?: unknown },
  ) {
    super(field === '' ? problem : `${field}: ${problem}`, options);
  }
}

/**
 * Why a task that was accepted did not produce an output:
 * - `failed`: the task itself failed (a WebAssembly trap, an output it could not return);
 * - `timeout` / `memory`: it ran past the runner's limits — a bigger executor may manage;
 * - `cancelled`: the caller aborted it;
 * - `crashed`: its worker died for another reason.
 */
export type TaskFailureReason = 'failed' | 'timeout' | 'memory' | 'cancelled' | 'crashed';

/**
 * A task was accepted but did not finish.
 *
 * @example
 *   if (err instanceof TaskFailedError && err.reason === 'timeout') requeueOnALargerExecutor();
 */
export class TaskFailedError extends Error {
  override readonly name = 'TaskFailedError';
  constructor(
    readonly reason: TaskFailureReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

// --- validation helpers shared by the kinds -------------------------------------------------
// Small and explicit rather than a schema library: every kind's input must be checked in the
// worker on an executor, and each message must name the exact field the submitter got wrong.

/** The value as a plain object, or a TaskInputError naming `field`. */
export function objectAt(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TaskInputError(field, 'must be an object');
  return value as Record<string, unknown>;
}

/** The value as an array, or a TaskInputError naming `field`. */
export function arrayAt(value: unknown, field: string): unknown[] {
  if (!Array.isArray(value)) throw new TaskInputError(field, 'must be an array');
  return value;
}

/** A finite number within [min, max], or a TaskInputError naming `field`. */
export function numberAt(value: unknown, field: string, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new TaskInputError(field, 'must be a finite number');
  if (value < min || value > max) throw new TaskInputError(field, `must be between ${min} and ${max}, not ${value}`);
  return value;
}

/** An integer within [min, max], or a TaskInputError naming `field`. */
export function integerAt(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new TaskInputError(field, 'must be an integer');
  return numberAt(value, field, min, max);
}

/** A non-empty string, or a TaskInputError naming `field`. */
export function stringAt(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new TaskInputError(field, 'must be a non-empty string');
  return value;
}

/** `n` as a usable part count for `split`: a RangeError for a caller's mistake, not the input's. */
export function partCount(n: number): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`split needs a whole number of parts of at least 1, not ${n}`);
  return n;
}

/**
 * Cuts `count` items into at most `n` contiguous runs of near-equal length, in order; always at
 * least one run (possibly empty) so a split is never empty.
 *
 * @example
 *   chunkBounds(5, 2); // → [[0, 3], [3, 5]]
 */
export function chunkBounds(count: number, n: number): Array<[number, number]> {
  const parts = Math.max(1, Math.min(partCount(n), count));
  const bounds: Array<[number, number]> = [];
  for (let k = 0; k < parts; k++) bounds.push([Math.floor((k * count) / parts), Math.floor(((k + 1) * count) / parts)]);
  return bounds;
}
