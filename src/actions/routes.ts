import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { requires } from '../auth/policy.js';
import { ActionTargetConfigSchema, TARGET_DEFAULTS, type ActionTargetConfig, type ActionTargets } from './targets.js';

export interface ActionTargetRouteOptions {
  targets: ActionTargets;
  /** Called after every change, for the audit trail and logs. */
  onChange?: (what: 'action-target.put' | 'action-target.delete', name: string, request: FastifyRequest) => void;
}

const NameParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 64 }) });
const SECURITY = [{ adminToken: [] }];

/**
 * Management of action targets: where decisions' external actions go (actuator webhooks, MQTT
 * command topics, notification channels). Admin only: targets hold URLs and credentials.
 * Invalid targets answer 422 CITY_ERR_ACTION_TARGET_INVALID naming the field.
 */
export async function actionTargetRoutes(app: FastifyInstance, opts: ActionTargetRouteOptions): Promise<void> {
  const { targets } = opts;

  app.get(
    '/api/v1/action-targets',
    { schema: { summary: 'List configured action targets, and the default for targets not configured', tags: ['actions'], security: SECURITY }, config: requires('configure') },
    async () => ({
      targets: targets.list(),
      default: { kind: 'mqtt', topic: TARGET_DEFAULTS.mqttTopic, timeout_ms: TARGET_DEFAULTS.timeoutMs, max_attempts: TARGET_DEFAULTS.maxAttempts },
    }),
  );

  app.get<{ Params: { name: string } }>(
    '/api/v1/action-targets/:name',
    { schema: { summary: 'One configured action target (sensitive header values masked)', tags: ['actions'], params: NameParams, security: SECURITY }, config: requires('configure') },
    async (request) => targets.view(request.params.name),
  );

  app.put<{ Params: { name: string }; Body: ActionTargetConfig }>(
    '/api/v1/action-targets/:name',
    {
      schema: {
        summary: 'Create or replace an action target: a webhook (url, headers, timeout_ms, max_attempts) or an MQTT topic template',
        tags: ['actions'],
        params: NameParams,
        body: ActionTargetConfigSchema,
        security: SECURITY,
      },
      // The schema documents the body; ActionTargets.put validates it, so every mistake answers
      // 422 ACTION_TARGET_INVALID naming the field (ajv's "must NOT have additional properties"
      // would not say which), the same as a bad target in node config.
      validatorCompiler: () => (value: unknown) => ({ value }),
      config: requires('configure'),
    },
    async (request, reply) => {
      const { target, created } = await targets.put(request.params.name, request.body);
      opts.onChange?.('action-target.put', request.params.name, request);
      return reply.status(created ? 201 : 200).send(target);
    },
  );

  app.delete<{ Params: { name: string } }>(
    '/api/v1/action-targets/:name',
    {
      schema: { summary: "Remove an action target (its actions then go to the default MQTT command topic)", tags: ['actions'], params: NameParams, security: SECURITY },
      config: requires('configure'),
    },
    async (request) => {
      await targets.delete(request.params.name);
      opts.onChange?.('action-target.delete', request.params.name, request);
      return { name: request.params.name, deleted: true };
    },
  );
}
