import type { FastifyInstance } from 'fastify';
import { requires } from '../auth/policy.js';
import type { AuditLog } from '../auth/audit.js';
import { Type } from '@sinclair/typebox';
import { cityError } from '../errors.js';
import type { PluginRegistry } from '../plugins/registry.js';
import type { RuleRecord, RuleRegistry } from './rule-registry.js';

export interface RuleRouteOptions {
  rules: RuleRegistry;
  registry: PluginRegistry;
  audit: AuditLog;
}

const NameParams = Type.Object({ name: Type.String({ maxLength: 100 }) });
const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml', 'text/plain'];
const MAX_RULE_BYTES = 1024 * 1024;

/**
 * Correlation rules through the API (seed 001 §3.3; the same YAML as the rules folder). POST
 * takes YAML or JSON text holding one or more rules and creates or replaces them; PUT replaces
 * one by name. Changes apply at once, without a restart. GET also lists the plugins' action
 * triggers, so an operator sees every rule the node runs in one place, and the rule files the
 * folder refused, with their line and reason.
 */
export async function ruleRoutes(app: FastifyInstance, opts: RuleRouteOptions): Promise<void> {
  const { rules } = opts;
  const security = [{ adminToken: [] }];
  app.addContentTypeParser(YAML_TYPES, { parseAs: 'string', bodyLimit: MAX_RULE_BYTES }, (_request, body, done) => done(null, body));

  app.get(
    '/api/v1/rules',
    { schema: { summary: 'Correlation rules, action triggers and refused rule files', tags: ['rules'], security }, config: requires('monitor') },
    async () => ({
      rules: rules.list().map(ruleView),
      action_triggers: opts.registry.descriptors().flatMap((d) =>
        d.actionDefinitions.map((def, i) => ({
          id: `plugin:${d.modelId}@${d.version}#${i}`,
          plugin_id: d.modelId,
          plugin_version: d.version,
          trigger: def.trigger,
          condition: def.condition ?? null,
          actions: def.actions.map((a) => a.type),
          escalation_rules: def.escalation_rules ?? [],
        })),
      ),
      file_errors: rules.fileErrors(),
    }),
  );

  app.post(
    '/api/v1/rules',
    {
      schema: {
        summary: 'Create or replace correlation rules from YAML (application/yaml) or JSON',
        description: 'The body holds one rule document (correlation_rule, sequence_rule, count_rule or absence_rule), several separated by ---, or a rules: list.',
        tags: ['rules'],
        security,
      },
      config: requires('configure_rules'),
    },
    async (request, reply) => {
      const saved = await rules.putText(bodyText(request.body));
      for (const r of saved) await opts.audit.record({ actor: request.principal, action: 'rule.put', target: { kind: 'rule', id: r.spec.name }, remote: request.ip, details: { kind: r.spec.kind, version: r.version } });
      reply.code(201);
      return { rules: saved.map(ruleView) };
    },
  );

  app.get<{ Params: { name: string } }>(
    '/api/v1/rules/:name',
    { schema: { summary: 'One correlation rule with its source text', tags: ['rules'], params: NameParams, security }, config: requires('monitor') },
    async (request) => {
      const r = rules.get(request.params.name);
      return { ...ruleView(r), spec: r.spec, source_text: r.sourceText };
    },
  );

  app.put<{ Params: { name: string } }>(
    '/api/v1/rules/:name',
    { schema: { summary: 'Replace one correlation rule (YAML or JSON holding that rule)', tags: ['rules'], params: NameParams, security }, config: requires('configure_rules') },
    async (request) => {
      const [saved] = await rules.putText(bodyText(request.body), request.params.name);
      await opts.audit.record({ actor: request.principal, action: 'rule.put', target: { kind: 'rule', id: saved!.spec.name }, remote: request.ip, details: { kind: saved!.spec.kind, version: saved!.version } });
      return ruleView(saved!);
    },
  );

  app.delete<{ Params: { name: string } }>(
    '/api/v1/rules/:name',
    { schema: { summary: 'Delete a correlation rule created through the API', tags: ['rules'], params: NameParams, security }, config: requires('configure_rules') },
    async (request, reply) => {
      await rules.delete(request.params.name);
      await opts.audit.record({ actor: request.principal, action: 'rule.delete', target: { kind: 'rule', id: request.params.name }, remote: request.ip });
      reply.code(204);
    },
  );

  for (const [verb, enabled] of [['enable', true], ['disable', false]] as const) {
    app.post<{ Params: { name: string } }>(
      `/api/v1/rules/:name/${verb}`,
      { schema: { summary: `${verb === 'enable' ? 'Enable' : 'Disable'} a correlation rule`, tags: ['rules'], params: NameParams, security }, config: requires('configure_rules') },
      async (request) => {
        const rule = ruleView(await rules.setEnabled(request.params.name, enabled));
        await opts.audit.record({ actor: request.principal, action: `rule.${verb}`, target: { kind: 'rule', id: request.params.name }, remote: request.ip });
        return rule;
      },
    );
  }
}

function bodyText(body: unknown): string {
  if (typeof body === 'string') return body;
  if (body !== null && typeof body === 'object') return JSON.stringify(body);
  throw cityError('REQUEST_INVALID', { reason: 'send the rule as YAML (Content-Type: application/yaml) or JSON' });
}

function ruleView(r: RuleRecord) {
  return {
    name: r.spec.name,
    kind: r.spec.kind,
    description: r.spec.description,
    enabled: r.enabled,
    version: r.version,
    priority: r.spec.priority,
    severity: r.spec.severity,
    window_ms: r.spec.windowMs,
    radius_m: r.spec.radiusM,
    roles: r.spec.roles.map((role) => ({ name: role.name, event_type: role.eventType, source: role.source, condition: role.condition })),
    actions: r.spec.actions,
    origin: r.sourceFile ? { file: r.sourceFile } : { api: true },
    updated_at: r.updatedAt,
  };
}
