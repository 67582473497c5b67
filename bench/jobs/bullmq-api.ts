/**
 * BullMQ for `bench:jobs`: installed on demand into bench/.peers/bullmq (git-ignored) at a pinned
 * version, never a project dependency, and loaded from there. The types below are the small part
 * of BullMQ's API the bench uses, written out because the project's type check cannot see the
 * peer folder.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/node/paths.js';
import { ensurePeerPackages } from '../report.js';

export const BULLMQ_VERSION = '6.7.0';
/** BullMQ's Redis client (an optional peer dependency of BullMQ 6). */
export const IOREDIS_VERSION = '6.0.0';
export const BULLMQ_PEER_DIR = join(PROJECT_ROOT, 'bench/.peers/bullmq');

export interface BullConnection {
  host: string;
  port: number;
  /** BullMQ requires null for workers' blocking connections. */
  maxRetriesPerRequest: null;
}

export interface BullJob {
  id?: string;
  data: { kind: string; input: unknown };
  /** When the producer created the job (ms, its clock). */
  timestamp: number;
  /** When a worker took it (ms, the worker's clock). */
  processedOn?: number;
  finishedOn?: number;
  returnvalue: unknown;
  failedReason?: string;
}

export interface BullQueue {
  add(name: string, data: BullJob['data'], opts?: Record<string, unknown>): Promise<BullJob>;
  getJobs(types: string[], start?: number, end?: number, asc?: boolean): Promise<BullJob[]>;
  clean(graceMs: number, limit: number, type: 'completed' | 'failed'): Promise<string[]>;
  waitUntilReady(): Promise<unknown>;
  close(): Promise<void>;
}

export interface BullQueueEvents {
  on(event: 'completed' | 'failed', listener: (args: { jobId: string }) => void): unknown;
  waitUntilReady(): Promise<unknown>;
  close(): Promise<void>;
}

export interface BullWorker {
  waitUntilReady(): Promise<unknown>;
  close(): Promise<void>;
}

export interface BullMqModule {
  Queue: new (name: string, opts: { connection: BullConnection }) => BullQueue;
  QueueEvents: new (name: string, opts: { connection: BullConnection }) => BullQueueEvents;
  Worker: new (
    name: string,
    processor: ((job: BullJob) => Promise<unknown>) | string,
    opts: { connection: BullConnection; concurrency: number; useWorkerThreads?: boolean },
  ) => BullWorker;
}

/**
 * Installs the pinned BullMQ (and ioredis) into bench/.peers/bullmq unless they are there.
 *
 * @example
 *   ensureBullMq();
 *   const { Queue } = loadBullMq();
 */
export function ensureBullMq(): void {
  ensurePeerPackages(BULLMQ_PEER_DIR, { bullmq: BULLMQ_VERSION, ioredis: IOREDIS_VERSION });
}

/**
 * BullMQ from the peer folder (ensureBullMq first).
 *
 * @example
 *   const { Worker } = loadBullMq();
 *   new Worker('bench', async (job) => runTask(job.data), { connection, concurrency: 1 });
 */
export function loadBullMq(): BullMqModule {
  return createRequire(join(BULLMQ_PEER_DIR, 'package.json'))('bullmq') as BullMqModule;
}
