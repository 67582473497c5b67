import Fastify, { LogController, type FastifyInstance, type FastifyError } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Logger } from 'pino';
import { CityError, cityError } from '../errors.js';

export type CityApp = FastifyInstance;

export interface HttpAppOptions {
  /** Serve HTTPS with this certificate and key (config http.tls). */
  https?: { cert: Buffer; key: Buffer };
  logger: Logger;
  /** Body limit for ordinary JSON routes (ingest routes read raw bodies with their own limit). */
  jsonBodyLimitBytes: number;
  version: string;
  /**
   * Runs on the bare app before any route exists — where the authorization policy installs
   * its onRoute hook, so that even the documentation routes declare who may read them.
   */
  beforeRoutes?: (app: CityApp) => void;
}

/**
 * The fastify app shared by every domain: error shape (house style #1), OpenAPI from route
 * schemas (/openapi.json, /docs). Domains add themselves as plugins (house style #3).
 */
export async function createHttpApp(options: HttpAppOptions): Promise<CityApp> {
  const app = Fastify({
    ...(options.https ? { https: options.https } : {}),
    loggerInstance: options.logger,
    bodyLimit: options.jsonBodyLimitBytes,
    // Per-request log lines would cost more than the request at 100k events/s; metrics cover it.
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: false,
    ajv: { customOptions: { allErrors: true, coerceTypes: 'array', removeAdditional: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();
  options.beforeRoutes?.(app as unknown as CityApp);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Possible City node API',
        version: options.version,
        description: 'A Possible City node: plugin registration, event ingestion, events and dead letters, operations.',
      },
      components: {
        securitySchemes: {
          adminToken: { type: 'http', scheme: 'bearer', description: 'The node admin token' },
          pluginKey: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: "A plugin's API key" },
        },
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true }, config: { policy: { permission: 'public' } } }, async () => app.swagger());

  app.setErrorHandler((error: FastifyError | CityError, request, reply) => {
    const city = toCityError(error);
    if (city.status >= 500) request.log.error({ err: error }, city.message);
    void reply.status(city.status).send({ error: city.toJSON() });
  });
  app.setNotFoundHandler((request, reply) => {
    const err = cityError('ROUTE_NOT_FOUND', { method: request.method, url: request.url.split('?')[0] });
    void reply.status(404).send({ error: err.toJSON() });
  });
  // Domains type their own routes; the shared handle is the plain instance type.
  return app as unknown as CityApp;
}

/** Maps fastify's own errors (validation, JSON parsing, limits) into the catalogue. */
export function toCityError(error: unknown): CityError {
  if (error instanceof CityError) return error;
  const e = error as FastifyError;
  if (e.validation) {
    const where = e.validationContext ?? 'request';
    const problems = e.validation.map((v) => `${where}${v.instancePath.replaceAll('/', '.')}: ${v.message ?? 'is invalid'}`);
    return cityError('REQUEST_INVALID', { reason: problems.join('; '), errors: problems });
  }
  switch (e.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return cityError('PAYLOAD_MALFORMED', { format: 'JSON', reason: e.message });
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return cityError('PAYLOAD_TOO_LARGE', { size: 'more than the limit', limit: 'the route limit' });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return cityError('MEDIA_TYPE_UNSUPPORTED', { contentType: e.message });
  }
  if (typeof e.statusCode === 'number' && e.statusCode < 500) {
    return cityError('REQUEST_INVALID', { reason: e.message });
  }
  return cityError('INTERNAL', { reason: e.message ?? String(error) }, error);
}
