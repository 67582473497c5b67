/**
 * One BullMQ worker process of `bench:jobs` (the bench starts 4, like 4 executors), concurrency 1:
 *
 *   node --import tsx bench/jobs/bullmq-worker.ts --port 6379 --queue bench --mode in-process|sandboxed
 *
 * `in-process` runs the task kind's code in the worker's own thread (the usual BullMQ setup);
 * `sandboxed` hands each job to bench/jobs/bullmq-processor.ts in a BullMQ-managed worker thread
 * (kept for the next job; bullmq-processor-boot.mjs loads tsx there).
 * Prints `ready` once connected; closes the worker (finishing the job at hand) on SIGTERM.
 */
import { fileURLToPath } from 'node:url';
import { loadBullMq, type BullJob } from './bullmq-api.js';
import { runTask } from './workload.js';

const args = parseArgs(process.argv.slice(2));
const { Worker } = loadBullMq();
const connection = { host: '127.0.0.1', port: args.port, maxRetriesPerRequest: null };
const worker =
  args.mode === 'sandboxed'
    ? new Worker(args.queue, fileURLToPath(new URL('./bullmq-processor-boot.mjs', import.meta.url)), { connection, concurrency: 1, useWorkerThreads: true })
    : new Worker(args.queue, async (job: BullJob) => runTask(job.data), { connection, concurrency: 1 });
await worker.waitUntilReady();
process.stdout.write('ready\n');
process.once('SIGTERM', () => {
  void worker.close().finally(() => process.exit(0));
});

function parseArgs(argv: string[]): { port: number; queue: string; mode: 'in-process' | 'sandboxed' } {
  const out = { port: 0, queue: '', mode: 'in-process' as 'in-process' | 'sandboxed' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[++i] ?? '';
    if (a === '--port') out.port = Number(v);
    else if (a === '--queue') out.queue = v;
    else if (a === '--mode' && (v === 'in-process' || v === 'sandboxed')) out.mode = v;
    else throw new Error(`unknown option ${a} ${v}; see the comment at the top of bench/jobs/bullmq-worker.ts`);
  }
  if (!(out.port > 0) || out.queue === '') throw new Error('--port and --queue are required');
  return out;
}
