import { createHash } from 'node:crypto';

/**
 * The executor ↔ broker protocol over WebSocket (seed 003 "Communication Protocol": JSON
 * messages with a `type`; its names kept: register, devices, device_joined, device_left,
 * heartbeat, resource_update, task_result; task_submit's dispatch half is `task_assign`).
 */

/** What an executor has and uses, as it reports it (read with systeminformation). */
export interface ResourceInfo {
  cpu: { model: string; cores: number; usage_percent: number };
  memory_mb: { total: number; available: number };
  storage_mb: { total: number; available: number };
  gpu: { name: string; memory_mb: number | null } | null;
}

/** The share of its machine the owner lets the pool use (issue 7 §1: "offers only what its owner allows"). */
export interface OfferLimits {
  max_cpu_share: number;
  max_memory_share: number;
  max_storage_share: number;
  /**
   * A machine that runs pool work only (a city server): its share is offered whatever its
   * measured load. Otherwise (a laptop, a desk PC) only the CPU its owner leaves idle is offered.
   */
  dedicated?: boolean;
}

export type ExecutorMessage =
  | { type: 'register'; name: string; platform: string; resources: ResourceInfo; limits: OfferLimits; public_key: Record<string, unknown>; concurrency: number; version: string }
  | { type: 'heartbeat' }
  | { type: 'resource_update'; resources: ResourceInfo; concurrency?: number }
  | { type: 'task_progress'; job_id: string; attempt: number; fraction: number }
  | {
      type: 'task_result';
      job_id: string;
      attempt: number;
      ok: true;
      output_b64: string;
      media_type: string;
      /** Ed25519 over resultDigest(job_id, attempt, output), base64. */
      signature_b64: string;
      cpu_ms: number;
      wall_ms: number;
    }
  | { type: 'task_result'; job_id: string; attempt: number; ok: false; error: string; retryable: boolean };

export type BrokerMessage =
  | { type: 'registered'; device_id: string; heartbeat_ms: number }
  | { type: 'devices'; devices: DeviceSummary[] }
  | { type: 'device_joined'; device: DeviceSummary }
  | { type: 'device_left'; device_id: string; reason: string }
  | { type: 'resource_update'; device: DeviceSummary }
  | {
      type: 'task_assign';
      job_id: string;
      attempt: number;
      kind: string | null;
      wasm_b64: string | null;
      input_b64: string;
      /** What the job asked for: a peer broker places it among its own executors with it. */
      needs?: { cpu_cores: number; memory_mb: number; storage_mb: number; gpu: boolean };
      limits: { timeout_ms: number; max_memory_mb: number };
    }
  | { type: 'task_cancel'; job_id: string; attempt: number; reason: string }
  | { type: 'error'; error: { code: string; message: string } };

export interface DeviceSummary {
  device_id: string;
  name: string;
  platform: string;
  /** 'broker': another broker offering its executors over a backhaul (seed 000's second broker). */
  kind: 'executor' | 'broker';
  online: boolean;
  resources: ResourceInfo;
  limits: OfferLimits;
  running: number;
  last_seen_at: string;
}

/** Executors say they are alive this often (seed 003: "Every 5 seconds") … */
export const HEARTBEAT_MS = 5_000;
/** … and are taken for gone after this long without a word (issue 7 §5). */
export const HEARTBEAT_TIMEOUT_MS = 15_000;

/** The heap a task gets when its job does not say how much memory it needs (the broker's default needs). */
export const DEFAULT_TASK_MEMORY_MB = 128;

/** What an executor signs for a result: the job, the attempt, and the output's SHA-256. */
export function resultDigest(jobId: string, attempt: number, output: Uint8Array): Buffer {
  return Buffer.from(`possible-city/result/v1\n${jobId}\n${attempt}\n${createHash('sha256').update(output).digest('hex')}`);
}
