import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { assertInScope, requires } from '../auth/policy.js';
import { actorId } from '../auth/principal.js';
import { cityError } from '../errors.js';
import type { ZoneTree } from '../geo/zones.js';
import type { PluginRegistry } from '../plugins/registry.js';
import type { RuleRegistry } from '../rules/rule-registry.js';
import type { SuspensionKind } from './suspension-index.js';
import type { SuspensionView, Suspensions } from './suspensions.js';

export interface OverrideRouteOptions {
  suspensions: Suspensions;
  zones: () => ZoneTree;
  rules: Pick<RuleRegistry, 'get'>;
  registry: Pick<PluginRegistry, 'has' | 'version'>;
}

const SECURITY = [{ adminToken: [] }];
const Kind = Type.Union([Type.Literal('rule'), Type.Literal('plugin'), Type.Literal('zone')], {
  description: 'rule: a correlation rule name or an action trigger id (plugin:{model_id}@{version}#{index}); plugin: a model id; zone: a zone id, its whole subtree (emergency stop)',
});
const Target = Type.String({ minLength: 1, maxLength: 200 });
const SuspendBody = Type.Object({ kind: Kind, target: Target, reason: Type.String({ minLength: 1, maxLength: 1000 }) }, { additionalProperties: false });
const ResumeBody = Type.Object({ kind: Kind, target: Target, reason: Type.Optional(Type.String({ minLength: 1, maxLength: 1000 })) }, { additionalProperties: false });
const ListQuery = Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50, description: 'How many recent suspensions (active or resumed) to list' })) });

const SuspensionSchema = Type.Object({
  suspension_id: Type.String(),
  kind: Kind,
  target: Type.String(),
  reason: Type.String(),
  active: Type.Boolean(),
  created_by: Type.String(),
  created_at: Type.String({ format: 'date-time' }),
  resumed_by: Type.Union([Type.String(), Type.Null()]),
  resumed_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  resume_reason: Type.Union([Type.String(), Type.Null()]),
});

/** An action trigger's rule id (src/decisions/brain.ts). */
const ACTION_TRIGGER_ID = /^plugin:([^@]+)@([^#]+)#(\d+)$/;

/**
 * Manual override (seed 001 §8): suspend and resume a rule, a plugin or a zone subtree, and
 * list suspensions. Permission `override` (authorities and tenant admins); a zone only inside
 * the caller's scope, a rule or plugin only from L2 up (see {@link assertMayOverride}).
 */
export async function overrideRoutes(app: FastifyInstance, opts: OverrideRouteOptions): Promise<void> {
  const { suspensions } = opts;
  const by = (request: FastifyRequest) => ({ actor: request.principal, remote: request.ip });

  app.post<{ Body: Static<typeof SuspendBody> }>(
    '/api/v1/overrides/suspend',
    {
      schema: {
        summary: 'Suspend a rule, a plugin or every automated action in a zone subtree: decisions are still recorded, their external actions wait (SUSPENDED)',
        tags: ['overrides'],
        body: SuspendBody,
        security: SECURITY,
        response: { 201: Type.Object({ suspension: SuspensionSchema, actions_held: Type.Integer() }) },
      },
      config: requires('override'),
    },
    async (request, reply) => {
      const { kind, target, reason } = request.body;
      assertMayOverride(request, kind, target);
      assertTargetExists(opts, kind, target);
      return reply.status(201).send(await suspensions.suspend({ kind, target, reason }, by(request)));
    },
  );

  app.post<{ Body: Static<typeof ResumeBody> }>(
    '/api/v1/overrides/resume',
    {
      schema: {
        summary: 'Resume a suspended rule, plugin or zone: the actions it held are sent (unless another suspension still holds them)',
        tags: ['overrides'],
        body: ResumeBody,
        security: SECURITY,
        response: { 200: Type.Object({ suspension: SuspensionSchema, actions_released: Type.Integer(), actions_still_held: Type.Integer() }) },
      },
      config: requires('override'),
    },
    async (request) => {
      const { kind, target, reason } = request.body;
      assertMayOverride(request, kind, target);
      return suspensions.resume({ kind, target, reason }, by(request));
    },
  );

  app.get<{ Querystring: Static<typeof ListQuery> }>(
    '/api/v1/overrides',
    {
      schema: {
        summary: 'Active suspensions, and the latest ones (active or resumed); zone suspensions only where they touch your scope',
        tags: ['overrides'],
        querystring: ListQuery,
        security: SECURITY,
        response: { 200: Type.Object({ active: Type.Array(SuspensionSchema), recent: Type.Array(SuspensionSchema) }) },
      },
      config: requires('override'),
    },
    async (request) => {
      const visible = (s: SuspensionView) => s.kind !== 'zone' || touchesScope(request, opts.zones(), s.target);
      return { active: suspensions.active().filter(visible), recent: (await suspensions.recent(request.query.limit ?? 50)).filter(visible) };
    },
  );
}

/**
 * A zone only inside the caller's scope (an L1 officer: their neighbourhood). Rules and plugins
 * act city-wide — a rule matches events from every zone, a plugin's detectors feed every ward —
 * so suspending one changes what happens far outside one neighbourhood: that takes a district
 * commander (L2) or above, or a tenant admin (seed 001 §8.3 levels).
 */
function assertMayOverride(request: FastifyRequest, kind: SuspensionKind, target: string): void {
  if (kind === 'zone') return assertInScope(request, target, `zone ${target}`);
  const p = request.principal;
  if (p.kind === 'user' && p.role === 'authority' && (p.level ?? 0) < 2) {
    throw cityError('AUTH_FORBIDDEN', {
      actor: `authority L${p.level} ${actorId(p)}`,
      permission: `suspend or resume a ${kind}`,
      reason: `a ${kind} acts city-wide; that needs level L2 or above (you are L${p.level}); suspend your zone instead`,
    });
  }
}

/** Refuses suspending what does not exist (a typo would otherwise hold nothing, silently). */
function assertTargetExists(opts: OverrideRouteOptions, kind: SuspensionKind, target: string): void {
  switch (kind) {
    case 'zone':
      if (!opts.zones().has(target)) throw cityError('ZONE_NOT_FOUND', { zoneId: target });
      return;
    case 'plugin':
      if (!opts.registry.has(target)) throw cityError('PLUGIN_NOT_FOUND', { pluginId: target });
      return;
    case 'rule': {
      const trigger = ACTION_TRIGGER_ID.exec(target);
      if (trigger === null) {
        opts.rules.get(target); // throws RULE_NOT_FOUND
        return;
      }
      const definitions = opts.registry.version(trigger[1]!, trigger[2]!)?.actionDefinitions;
      if (!definitions || definitions[Number(trigger[3])] === undefined) throw cityError('RULE_NOT_FOUND', { rule: target });
    }
  }
}

/** A zone suspension matters to a caller when it is in their scope or above it (it holds their zones too). */
function touchesScope(request: FastifyRequest, tree: ZoneTree, zoneId: string): boolean {
  const scope = request.scope;
  if (scope.includes(zoneId)) return true;
  return scope.root !== null && tree.has(scope.root) && tree.has(zoneId) && tree.isWithin(scope.root, zoneId);
}
