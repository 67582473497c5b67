/**
 * BullMQ's sandboxed processor for `bench:jobs` (`--bullmq sandboxed`): BullMQ loads this file
 * (through bullmq-processor-boot.mjs) in a worker thread of its own pool (useWorkerThreads) and
 * calls the default export per job. The thread is kept for the next job, where a Possible City
 * executor starts a fresh one per job.
 */
import type { BullJob } from './bullmq-api.js';
import { runTask } from './workload.js';

export default async function processJob(job: BullJob): Promise<{ total_anomalies: number }> {
  return runTask(job.data);
}
