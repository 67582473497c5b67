import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { cityError } from '../errors.js';
import { requires } from '../auth/policy.js';
import type { PluginRegistry } from './registry.js';

export interface PluginRouteOptions {
  registry: PluginRegistry;
  /** Called after every change, for the audit trail and logs. */
  onChange?: (what: string, modelId: string, request: FastifyRequest) => void;
}

const ModelParams = Type.Object({ model_id: Type.String({ maxLength: 64 }) });

/** The plugin model layer's API (seed 001 §12.1) and its management routes. */
export async function pluginRoutes(app: FastifyInstance, opts: PluginRouteOptions): Promise<void> {
  const { registry } = opts;
  const modelIdOfBody = (request: FastifyRequest): string | null => {
    const m = (request.body as { plugin_manifest?: { model_id?: unknown } } | undefined)?.plugin_manifest?.model_id;
    return typeof m === 'string' ? m : null;
  };

  app.post(
    '/api/v1/plugin/register',
    {
      schema: {
        summary: 'Register a plugin model: plugin_manifest, output_schema, action_definitions (seed shape or JSON Schema)',
        tags: ['plugins'],
        security: [{ adminToken: [] }, { pluginKey: [] }],
        body: Type.Object({}, { additionalProperties: true }),
      },
      config: requires('plugin_publish', { pluginOf: modelIdOfBody }),
    },
    async (request, reply) => {
      const asPlugin = request.principal?.kind === 'plugin' ? request.principal.pluginId : null;
      const outcome = await registry.register(request.body, asPlugin);
      opts.onChange?.(`plugin.${outcome.status}`, outcome.plugin.model_id, request);
      if (outcome.status === 'unchanged') return reply.status(200).send(outcome);
      return reply.status(201).send({
        ...outcome,
        ...(outcome.api_key ? { note: 'Store this API key now: it is shown only once. Send it as X-API-Key with every event.' } : {}),
      });
    },
  );

  app.get('/api/v1/plugins', { schema: { summary: 'List plugins', tags: ['plugins'], security: [{ adminToken: [] }] }, config: requires('monitor') }, async () => ({
    plugins: registry.list(),
  }));

  app.get<{ Params: { model_id: string } }>(
    '/api/v1/plugins/:model_id',
    { schema: { summary: 'One plugin and the documents of its current version', tags: ['plugins'], params: ModelParams, security: [{ adminToken: [] }] }, config: requires('monitor') },
    async (request) => ({ ...registry.summary(request.params.model_id), current: await registry.documents(request.params.model_id) }),
  );

  app.get<{ Params: { model_id: string; version: string } }>(
    '/api/v1/plugins/:model_id/versions/:version',
    {
      schema: {
        summary: 'The documents of one plugin version',
        tags: ['plugins'],
        params: Type.Object({ model_id: Type.String({ maxLength: 64 }), version: Type.String({ maxLength: 64 }) }),
        security: [{ adminToken: [] }],
      },
      config: requires('monitor'),
    },
    async (request) => registry.documents(request.params.model_id, request.params.version),
  );

  for (const action of ['disable', 'enable'] as const) {
    app.post<{ Params: { model_id: string }; Body: { version?: string } | undefined }>(
      `/api/v1/plugins/:model_id/${action}`,
      {
        // The body is optional ({"version": "x.y.z"} targets one version), so it is checked here
        // rather than by a route schema, which would demand one.
        schema: { summary: `${action === 'disable' ? 'Disable' : 'Re-enable'} a plugin, or one version ({"version": "x.y.z"})`, tags: ['plugins'], params: ModelParams, security: [{ adminToken: [] }] },
        config: requires('configure'),
      },
      async (request) => {
        const version = request.body?.version;
        if (version !== undefined && typeof version !== 'string') throw cityError('REQUEST_INVALID', { reason: 'body.version must be a string' });
        const summary = await registry.setEnabled(request.params.model_id, action === 'enable', version);
        opts.onChange?.(`plugin.${action}`, request.params.model_id, request);
        return summary;
      },
    );
  }

  app.post<{ Params: { model_id: string } }>(
    '/api/v1/plugins/:model_id/rotate-key',
    { schema: { summary: "Replace a plugin's API key (the old one stops working at once)", tags: ['plugins'], params: ModelParams, security: [{ adminToken: [] }] }, config: requires('configure') },
    async (request) => {
      const rotated = await registry.rotateKey(request.params.model_id);
      opts.onChange?.('plugin.rotate-key', request.params.model_id, request);
      return { ...rotated, note: 'Store this API key now: it is shown only once.' };
    },
  );
}
