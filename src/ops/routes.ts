import type { FastifyInstance } from 'fastify';
import type { NodeMetrics } from './metrics.js';
import { requires } from '../auth/policy.js';

export interface OpsRouteOptions {
  metrics: NodeMetrics;
  /** Null when ready, else the reason it is not. */
  readiness: () => Promise<string | null>;
  info: () => Record<string, unknown>;
}

/** Liveness, readiness and Prometheus metrics (unauthenticated, as scrapers and probes expect). */
export async function opsRoutes(app: FastifyInstance, opts: OpsRouteOptions): Promise<void> {
  app.get('/healthz', { schema: { summary: 'Liveness: the process answers', tags: ['ops'] }, config: requires('public') }, async () => ({ status: 'ok', ...opts.info() }));

  app.get('/readyz', { schema: { summary: 'Readiness: the store answers and the node takes input', tags: ['ops'] }, config: requires('public') }, async (_request, reply) => {
    const problem = await opts.readiness();
    if (problem) return reply.status(503).send({ status: 'not_ready', reason: problem });
    return { status: 'ready' };
  });

  app.get('/metrics', { schema: { summary: 'Prometheus metrics', tags: ['ops'] }, config: requires('public') }, async (_request, reply) => {
    void reply.header('content-type', opts.metrics.registry.contentType);
    return opts.metrics.registry.metrics();
  });
}
