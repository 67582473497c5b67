import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { CityError, cityError } from '../errors.js';
import { requires } from '../auth/policy.js';
import type { NodeMetrics } from '../ops/metrics.js';
import type { PluginRegistry } from '../plugins/registry.js';
import { decodeContentEncoding, formatFromContentType } from './decode.js';
import type { InputSource } from './dead-letters.js';
import type { IngestPipeline, ItemResult } from './ingest.js';
import { registerRawBodyParser } from './raw-body.js';

export interface WebhookRouteOptions {
  pipeline: IngestPipeline;
  registry: PluginRegistry;
  metrics: NodeMetrics;
  maxBodyBytes: number;
  maxBatchItems: number;
  /** Refuses input while the node drains for shutdown. */
  accepting: () => boolean;
}

const ItemResultSchema = Type.Object({
  index: Type.Integer(),
  status: Type.Union([Type.Literal('accepted'), Type.Literal('rejected')]),
  event_id: Type.Optional(Type.String()),
  zone_id: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String(), details: Type.Any() })),
});

/**
 * `POST /webhook/{plugin_id}` (seed 001 §12.1): one event, a batch (JSON array or NDJSON), or
 * protobuf `city.v1.Event` / `EventBatch`, optionally gzip/deflate-encoded, authenticated by
 * the plugin's key. 202 only after the
 * accepted events are committed; a batch answers per item (207 when some were refused).
 * Every refusal is kept in the dead-letter table before it is answered.
 */
export async function webhookRoutes(app: FastifyInstance, opts: WebhookRouteOptions): Promise<void> {
  // Raw bytes for this plugin context only: decoding happens here, where failures can be kept.
  registerRawBodyParser(app, opts.maxBodyBytes);

  app.post<{ Params: { plugin_id: string }; Querystring: { version?: string } }>(
    '/webhook/:plugin_id',
    {
      schema: {
        summary: 'Send events from a plugin model (JSON, NDJSON or protobuf)',
        tags: ['ingest'],
        params: Type.Object({ plugin_id: Type.String({ maxLength: 64 }) }),
        querystring: Type.Object({ version: Type.Optional(Type.String({ maxLength: 64 })) }),
        security: [{ pluginKey: [] }],
        response: {
          202: Type.Union([
            Type.Object({ status: Type.Literal('accepted'), event_id: Type.String(), zone_id: Type.Union([Type.String(), Type.Null()]) }),
            Type.Object({ accepted: Type.Integer(), rejected: Type.Integer(), results: Type.Array(ItemResultSchema) }),
          ]),
          207: Type.Object({ accepted: Type.Integer(), rejected: Type.Integer(), results: Type.Array(ItemResultSchema) }),
        },
      },
      // The plugin's own key (or a device bound to it, or an admin). A refused credential is
      // kept as a dead letter with the payload, like every other refusal of input.
      config: requires('ingest', {
        pluginOf: (request) => (request.params as { plugin_id: string }).plugin_id,
        onDenied: async (request, error) => {
          const pluginId = (request.params as { plugin_id: string }).plugin_id;
          const raw = request.rawBody;
          const source: InputSource = { transport: 'http', remote: request.ip, contentType: request.headers['content-type'] ?? null };
          await opts.pipeline.reject(source, opts.registry.has(pluginId) ? pluginId : null, error, raw && raw.bytes.length > 0 ? raw.bytes : null, raw?.size ?? 0);
        },
      }),
    },
    async (request, reply) => handleWebhook(request, reply, opts),
  );
}

async function handleWebhook(
  request: FastifyRequest<{ Params: { plugin_id: string }; Querystring: { version?: string } }>,
  reply: FastifyReply,
  opts: WebhookRouteOptions,
): Promise<unknown> {
  const started = performance.now();
  const receivedAtMs = Date.now();
  const pluginId = request.params.plugin_id;
  const contentType = request.headers['content-type'] ?? null;
  const source: InputSource = { transport: 'http', remote: request.ip, contentType };
  const raw = request.rawBody ?? { bytes: Buffer.alloc(0), size: 0, overLimit: false };
  if (!opts.accepting()) throw cityError('SHUTTING_DOWN');

  let results: ItemResult[];
  let batch: boolean;
  try {
    if (!opts.registry.has(pluginId)) throw cityError('PLUGIN_NOT_FOUND', { pluginId });
    const plugin = opts.registry.forIngest(pluginId, request.query.version);
    if (raw.overLimit) throw cityError('PAYLOAD_TOO_LARGE', { size: raw.size, limit: opts.maxBodyBytes });
    const format = formatFromContentType(contentType ?? undefined);
    if (format === null) throw cityError('MEDIA_TYPE_UNSUPPORTED', { contentType });
    const body = decodeContentEncoding(raw.bytes, request.headers['content-encoding'], opts.maxBodyBytes);
    ({ results, batch } = await opts.pipeline.ingest(plugin, body, format, opts.maxBatchItems, { source, receivedAtMs }));
  } catch (err) {
    if (err instanceof CityError && isRefusalOfInput(err)) {
      await opts.pipeline.reject(source, opts.registry.has(pluginId) ? pluginId : null, err, raw.bytes.length > 0 ? raw.bytes : null, raw.size);
    }
    throw err;
  } finally {
    opts.metrics.ingestLatency.observe({ transport: 'http' }, (performance.now() - started) / 1000);
  }

  if (!batch) {
    const only = results[0]!;
    if (only.status === 'accepted') return reply.status(202).send({ status: 'accepted', event_id: only.event_id, zone_id: only.zone_id });
    const status = only.error.code === 'CITY_ERR_PAYLOAD_MALFORMED' ? 400 : 422;
    return reply.status(status).send({ error: only.error });
  }
  let accepted = 0;
  for (const r of results) if (r.status === 'accepted') accepted++;
  const rejected = results.length - accepted;
  const status = rejected === 0 ? 202 : accepted > 0 ? 207 : 422;
  return reply.status(status).send({ accepted, rejected, results });
}

/** Refusals of what the client sent (kept as dead letters), as opposed to the node's own trouble. */
function isRefusalOfInput(err: CityError): boolean {
  return err.status < 500;
}
