import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { requires } from '../auth/policy.js';
import { actorId, isSuperAdmin } from '../auth/principal.js';
import type { AuditLog } from '../auth/audit.js';
import { CityError, cityError } from '../errors.js';
import { Broker, JOB_PRIORITIES, type JobRequest } from './broker.js';
import { BlobTooLargeError, type BlobInfo, type BlobStore } from './blob-store.js';
import type { ExecutorKeys } from './executor-keys.js';
import type { ExecutorMessage } from './protocol.js';

export interface ComputeRouteOptions {
  broker: Broker;
  blobs: BlobStore;
  keys: ExecutorKeys;
  audit: AuditLog;
  maxBlobBytes: number;
}

const Needs = Type.Object(
  {
    cpu_cores: Type.Optional(Type.Number({ minimum: 0, maximum: 1024 })),
    memory_mb: Type.Optional(Type.Number({ minimum: 0, maximum: 1_048_576 })),
    storage_mb: Type.Optional(Type.Number({ minimum: 0 })),
    gpu: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
const JobBody = Type.Object(
  {
    kind: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    wasm_ref: Type.Optional(Type.String({ pattern: '^sha256:[0-9a-f]{64}$' })),
    input: Type.Optional(Type.Unknown()),
    input_ref: Type.Optional(Type.String({ pattern: '^sha256:[0-9a-f]{64}$' })),
    needs: Type.Optional(Needs),
    priority: Type.Optional(Type.Union(JOB_PRIORITIES.map((p) => Type.Literal(p)))),
    deadline_s: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 7 * 86_400 })),
    timeout_s: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 86_400 })),
    max_attempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 20 })),
    fan_out: Type.Optional(Type.Integer({ minimum: 1, maximum: 256 })),
  },
  { additionalProperties: false },
);
const JobParams = Type.Object({ jobId: Type.String({ maxLength: 100 }) });

/**
 * The compute network's HTTP side (issue 7): executors join at `GET /api/v1/pool/ws`
 * (WebSocket, executor key), clients store data (`/api/v1/blobs`), submit and follow jobs
 * (`/api/v1/jobs`), and everyone allowed sees the pool (`/api/v1/pool`).
 */
export async function computeRoutes(app: FastifyInstance, opts: ComputeRouteOptions): Promise<void> {
  const { broker, blobs, keys, audit } = opts;

  app.post<{ Body: { executor_id: string; name?: string } }>(
    '/api/v1/pool/executors',
    {
      schema: { summary: 'Issue an executor key (shown once)', tags: ['compute'], body: Type.Object({ executor_id: Type.String(), name: Type.Optional(Type.String({ maxLength: 200 })) }, { additionalProperties: false }), security: [{ adminToken: [] }] },
      config: requires('configure'),
    },
    async (request, reply) => {
      const created = await keys.create(request.body.executor_id, request.body.name ?? request.body.executor_id, actorId(request.principal));
      audit.recordSoon({ actor: request.principal, action: 'executor_key_issued', target: { kind: 'executor', id: request.body.executor_id }, remote: request.ip });
      return reply.code(201).send({ ...created, command: `city executor --broker <this node's URL> --key ${created.key}` });
    },
  );
  app.get('/api/v1/pool/executors', { schema: { summary: 'Executor keys (never the keys)', tags: ['compute'], security: [{ adminToken: [] }] }, config: requires('configure') }, async () => ({ executors: keys.list() }));
  app.delete<{ Params: { executorId: string } }>(
    '/api/v1/pool/executors/:executorId',
    { schema: { summary: "Revoke an executor's key", tags: ['compute'], params: Type.Object({ executorId: Type.String() }), security: [{ adminToken: [] }] }, config: requires('configure') },
    async (request, reply) => {
      await keys.revoke(request.params.executorId);
      audit.recordSoon({ actor: request.principal, action: 'executor_key_revoked', target: { kind: 'executor', id: request.params.executorId }, remote: request.ip });
      return reply.code(204).send();
    },
  );

  app.get('/api/v1/pool', { schema: { summary: 'The pooled resources: totals and the online executors', tags: ['compute'], security: [{ adminToken: [] }] }, config: requires('compute') }, async () => broker.pool());
  app.get('/api/v1/pool/devices', { schema: { summary: 'Online executors with their resources (seed 003 device list)', tags: ['compute'], security: [{ adminToken: [] }] }, config: requires('compute') }, async () => ({ devices: broker.pool().devices }));

  app.get('/api/v1/pool/ws', { websocket: true, schema: { summary: 'Executors join the broker here (seed 003 protocol: register, heartbeat, resource_update, task_result)', tags: ['compute'] }, config: requires('execute') }, (socket, request) => {
    const principal = request.principal;
    const executorId = principal.kind === 'executor' ? principal.executorId : null;
    if (executorId === null) {
      socket.close(4003, 'an executor key is required');
      return;
    }
    socket.on('message', (data) => {
      let message: ExecutorMessage;
      try {
        message = JSON.parse(String(data)) as ExecutorMessage;
      } catch {
        socket.send(JSON.stringify({ type: 'error', error: { code: 'CITY_ERR_REQUEST_INVALID', message: 'messages are JSON objects with a type' } }));
        return;
      }
      void broker.receive(executorId, socket, message).catch((err) => request.log.error({ err }, 'executor message failed'));
    });
    socket.on('close', () => broker.disconnected(executorId, socket));
  });

  // Clients over WebSocket (seed 003 "Task Submission": task_submit → task_result): submit jobs and
  // hear of their progress and outcome on the same socket, without polling.
  app.get('/api/v1/jobs/ws', { websocket: true, schema: { summary: 'Submit jobs and follow them over WebSocket (task_submit → task_accepted, task_progress, task_result)', tags: ['compute'] }, config: requires('compute') }, (socket, request) => {
    const clientId = actorId(request.principal);
    const mine = new Set<string>();
    const unsubscribe = broker.onUpdate((u) => {
      if (u.kind !== 'job' || !mine.has(u.job.job_id)) return;
      const job = u.job;
      if (job.status === 'running' || job.status === 'queued') socket.send(JSON.stringify({ type: 'task_progress', job_id: job.job_id, status: job.status, progress: job.progress, executor_id: job.executor_id, attempts: job.attempts }));
      else {
        mine.delete(job.job_id);
        socket.send(JSON.stringify({ type: 'task_result', job }));
      }
    });
    socket.on('close', unsubscribe);
    socket.on('message', (data) => {
      let message: { type?: string; request_id?: string } & JobRequest;
      try {
        message = JSON.parse(String(data)) as typeof message;
      } catch {
        socket.send(JSON.stringify({ type: 'error', error: { code: 'CITY_ERR_REQUEST_INVALID', message: 'messages are JSON objects with a type (task_submit, task_cancel)' } }));
        return;
      }
      const requestId = message.request_id ?? null;
      const answer = (work: Promise<unknown>, type: string) =>
        void work.then(
          (job) => socket.send(JSON.stringify({ type, request_id: requestId, job })),
          (err: unknown) => socket.send(JSON.stringify({ type: 'error', request_id: requestId, error: err instanceof CityError ? err.toJSON() : { code: 'CITY_ERR_INTERNAL', message: (err as Error).message } })),
        );
      if (message.type === 'task_submit') {
        const { type: _t, request_id: _r, ...job } = message;
        answer(
          broker.submit(job, clientId).then((view) => {
            mine.add(view.job_id);
            return view;
          }),
          'task_accepted',
        );
      } else if (message.type === 'task_cancel' && typeof (message as { job_id?: unknown }).job_id === 'string') {
        const jobId = (message as unknown as { job_id: string }).job_id;
        answer(broker.get(jobId).then((j) => (j.client_id === clientId || seesAll(request) ? broker.cancel(jobId, clientId) : Promise.reject(cityError('JOB_NOT_FOUND', { jobId })))), 'task_cancelled');
      } else {
        socket.send(JSON.stringify({ type: 'error', request_id: requestId, error: { code: 'CITY_ERR_REQUEST_INVALID', message: `unknown message type ${String(message.type)}: send task_submit or task_cancel` } }));
      }
    });
  });

  // Blobs take any bytes: their own parser, in their own scope, so JSON is stored as sent.
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: opts.maxBlobBytes }, (_req, body, done) => done(null, body));
    scope.post(
      '/api/v1/blobs',
      { bodyLimit: opts.maxBlobBytes, schema: { summary: 'Store job data (any bytes); answers its content address', tags: ['compute'], security: [{ adminToken: [] }] }, config: requires('compute') },
      async (request, reply) => {
        const body = request.body as Buffer | undefined;
        if (!body || body.length === 0) throw cityError('REQUEST_INVALID', { reason: 'the body is empty: send the bytes to store' });
        try {
          const info = await blobs.put(body, { media_type: String(request.headers['content-type'] ?? 'application/octet-stream').split(';')[0]! });
          return reply.code(201).send(info);
        } catch (err) {
          if (err instanceof BlobTooLargeError) throw cityError('PAYLOAD_TOO_LARGE', { size: err.size, limit: err.limit });
          throw err;
        }
      },
    );
  });
  app.get<{ Params: { ref: string } }>(
    '/api/v1/blobs/:ref',
    { schema: { summary: 'Read job data or a result by its content address', tags: ['compute'], params: Type.Object({ ref: Type.String({ pattern: '^sha256:[0-9a-f]{64}$' }) }), security: [{ adminToken: [] }] }, config: requires('compute') },
    async (request, reply) => {
      const { info, data } = await readBlob(blobs, request.params.ref);
      return reply.header('content-type', info.media_type).header('etag', `"${info.ref}"`).send(data);
    },
  );

  app.post<{ Body: Static<typeof JobBody> }>(
    '/api/v1/jobs',
    { schema: { summary: 'Submit a job: a task kind or a WebAssembly module, its input, needs, priority, deadline', tags: ['compute'], body: JobBody, security: [{ adminToken: [] }] }, config: requires('compute') },
    async (request, reply) => reply.code(202).send(await broker.submit(request.body, actorId(request.principal))),
  );
  app.get<{ Querystring: { status?: string; limit: number } }>(
    '/api/v1/jobs',
    {
      schema: {
        summary: "Jobs, newest first (a client sees its own; admins every client's)",
        tags: ['compute'],
        querystring: Type.Object({ status: Type.Optional(Type.Union(['queued', 'running', 'succeeded', 'failed', 'cancelled'].map((s) => Type.Literal(s)))), limit: Type.Integer({ minimum: 1, maximum: 1000, default: 50 }) }),
        security: [{ adminToken: [] }],
      },
      config: requires('compute'),
    },
    async (request) => ({ jobs: await broker.list({ clientId: seesAll(request) ? undefined : actorId(request.principal), status: request.query.status as never, limit: request.query.limit }) }),
  );
  app.get<{ Params: Static<typeof JobParams> }>(
    '/api/v1/jobs/:jobId',
    { schema: { summary: 'A job: status, attempts, executor, progress, result ref and signature, error', tags: ['compute'], params: JobParams, security: [{ adminToken: [] }] }, config: requires('compute') },
    async (request) => ownJob(request, await broker.get(request.params.jobId)),
  );
  app.get<{ Params: Static<typeof JobParams> }>(
    '/api/v1/jobs/:jobId/result',
    { schema: { summary: "A finished job's result (its bytes, as the data store holds them)", tags: ['compute'], params: JobParams, security: [{ adminToken: [] }] }, config: requires('compute') },
    async (request, reply) => {
      const job = ownJob(request, await broker.get(request.params.jobId));
      if (job.status !== 'succeeded' || job.result_ref === null) throw cityError('REQUEST_INVALID', { reason: `job ${job.job_id} is ${job.status}${job.error ? `: ${job.error}` : ''}` });
      const { info, data } = await readBlob(blobs, job.result_ref);
      return reply.header('content-type', info.media_type).header('x-result-signature', job.result_signature ?? '').send(data);
    },
  );
  app.post<{ Params: Static<typeof JobParams> }>(
    '/api/v1/jobs/:jobId/cancel',
    { schema: { summary: 'Cancel a queued or running job (the executor stops it)', tags: ['compute'], params: JobParams, security: [{ adminToken: [] }] }, config: requires('compute') },
    async (request) => {
      ownJob(request, await broker.get(request.params.jobId));
      return broker.cancel(request.params.jobId, actorId(request.principal));
    },
  );
}

/** A blob's bytes and what is known of it (both reads at once). @throws CITY_ERR_BLOB_NOT_FOUND */
async function readBlob(blobs: BlobStore, ref: string): Promise<{ info: BlobInfo; data: Buffer }> {
  const [info, data] = await Promise.all([blobs.stat(ref), blobs.get(ref)]);
  if (!info || !data) throw cityError('BLOB_NOT_FOUND', { ref });
  return { info, data: Buffer.from(data.buffer, data.byteOffset, data.byteLength) };
}

function seesAll(request: FastifyRequest): boolean {
  const p = request.principal;
  return isSuperAdmin(p) || (p.kind === 'user' && p.role === 'tenant_admin');
}

/** A client reads its own jobs only (another's answers 404, not 403: it does not learn that the id exists). */
function ownJob<T extends { client_id: string; job_id: string }>(request: FastifyRequest, job: T): T {
  if (!seesAll(request) && job.client_id !== actorId(request.principal)) throw cityError('JOB_NOT_FOUND', { jobId: job.job_id });
  return job;
}
