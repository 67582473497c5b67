import type { FastifyInstance, FastifyRequest } from 'fastify';
import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import type { RoutePolicy } from '../auth/policy.js';
import { actorId, type Principal } from '../auth/principal.js';
import { cityError } from '../errors.js';

export interface HardeningOptions {
  corsOrigins: string[];
  rateLimit: { enabled: boolean; perMinute: number; ingestPerMinute: number; signInPerMinute: number };
}

/**
 * Application security (seed 001 §13.1 L4): security headers with a strict CSP (the dashboard
 * loads nothing from elsewhere), CORS only for configured origins, and rate limits per user, key
 * and address. Body size limits are set per route family in src/http/app.ts (JSON) and by the
 * ingest routes (raw bodies).
 */
export async function installHardening(app: FastifyInstance, options: HardeningOptions): Promise<void> {
  await app.register(helmet, {
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        // maplibre-gl renders in blob: workers and draws tiles from blob:/data: images.
        workerSrc: ["'self'", 'blob:'],
        imgSrc: ["'self'", 'data:', 'blob:'],
        // Inline styles: React style props and swagger-ui's own page.
        styleSrc: ["'self'", "'unsafe-inline'"],
        // 'self' covers the live stream's ws:/wss: on this origin (CSP 3); bare schemes would allow any host.
        connectSrc: ["'self'"],
        frameAncestors: ["'none'"],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
      },
    },
    // The API answers JSON to other origins only through CORS, which decides that itself.
    crossOriginResourcePolicy: { policy: 'same-origin' },
    hsts: { maxAge: 31_536_000, includeSubDomains: true },
  });

  if (options.corsOrigins.length > 0) {
    await app.register(cors, {
      origin: options.corsOrigins,
      credentials: false,
      methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
      allowedHeaders: ['authorization', 'content-type', 'x-api-key', 'content-encoding'],
      maxAge: 600,
    });
  }

  const limits = options.rateLimit;
  if (!limits.enabled) return;
  await app.register(rateLimit, {
    global: true,
    // After authentication (the policy's onRequest hook, for every route) and before any
    // refusal (the policy decides in preParsing or preHandler), so signed-in users and keys are
    // counted by who they are, and anonymous callers and failed credentials by address.
    hook: 'onRequest',
    timeWindow: 60_000,
    max: (request: FastifyRequest) => {
      const group = limitGroup(request);
      return group === 'ingest' ? limits.ingestPerMinute : group === 'sign-in' ? limits.signInPerMinute : limits.perMinute;
    },
    keyGenerator: (request: FastifyRequest) => `${limitGroup(request)}:${who(request)}`,
    errorResponseBuilder: (request, context) => {
      const err = cityError('RATE_LIMITED', { who: who(request), retryAfterS: Math.ceil(context.ttl / 1000), limit: context.max });
      // @fastify/rate-limit throws what this returns; the app's error handler answers it.
      return Object.assign(err, { statusCode: 429 });
    },
  });
}

type LimitGroup = 'ingest' | 'sign-in' | 'api';

function limitGroup(request: FastifyRequest): LimitGroup {
  const policy = (request.routeOptions.config as { policy?: RoutePolicy } | undefined)?.policy;
  if (policy?.permission === 'ingest') return 'ingest';
  if (request.url.startsWith('/api/v1/auth/')) return 'sign-in';
  return 'api';
}

function who(request: FastifyRequest): string {
  // Null only where no route matched (the not-found answer): the policy hook never ran there.
  const principal = request.principal as Principal | null;
  return principal === null || principal.kind === 'anonymous' ? `address ${request.ip}` : actorId(principal);
}
