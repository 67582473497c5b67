import { anomalyScoring } from './anomaly.js';
import { floodSimulation } from './flood.js';
import { routeOptimisation } from './route-optimisation.js';
import type { TaskKind } from './task.js';

export { TaskFailedError, TaskInputError, type TaskFailureReason, type TaskKind } from './task.js';

/**
 * The task kinds every executor can run (issue 7 §3), by name. A job names one of these or
 * carries a WebAssembly module (wasm.ts) instead.
 *
 * The map is a constant, not a registry filled at start-up: an executor and the broker must
 * agree on what a kind name means, so kinds change with a release, not at run time.
 *
 * @example
 *   const kind = TASK_KINDS.get('anomaly_scoring');
 *   if (!kind) throw new TaskInputError('kind', 'is not a task kind');
 *   kind.run(kind.validate(input), () => {});
 */
export const TASK_KINDS: ReadonlyMap<string, TaskKind> = new Map<string, TaskKind>(
  // Each kind is typed on its own input and output; the map holds them as unknown → unknown,
  // which is sound because `validate` is the only way in.
  [floodSimulation, routeOptimisation, anomalyScoring].map((kind) => [kind.name, kind as unknown as TaskKind]),
);
