/**
 * A plugin registration body: the seed's three documents side by side (seed 001 §2.2),
 * `{ plugin_manifest, output_schema, action_definitions }`. Everything is checked in one pass
 * so a vendor sees every problem at once instead of fixing them one round-trip at a time.
 */
import { escalationDelayMs, failSafeOutcome } from '../decisions/action-triggers.js';
import { compileCondition } from '../rules/expression.js';
import { CityError } from '../errors.js';
import { checkManifest, throwIfErrors, type FieldError, type PluginManifest } from './manifest.js';
import { translateOutputSchema, type CompiledOutputSchemaSource } from './output-schema.js';

/** One local action, e.g. `{ type: 'notify_authority', target: 'traffic_officer', priority: 'medium' }`. */
export interface ActionSpec {
  type: string;
  [param: string]: unknown;
}

export interface EscalationRule {
  condition: string;
  action: string;
}

/** Seed step 3. `condition` is kept as text; the rules module compiles it. */
export interface ActionDefinition {
  trigger: string;
  condition?: string;
  actions: ActionSpec[];
  escalation_rules?: EscalationRule[];
  description?: string;
}

export interface PluginRegistration {
  manifest: PluginManifest;
  outputSchema: CompiledOutputSchemaSource;
  actionDefinitions: ActionDefinition[];
}

const DEFINITION_KEYS = ['trigger', 'condition', 'actions', 'escalation_rules', 'description'];
const SECTIONS = ['plugin_manifest', 'output_schema', 'action_definitions'];
const MAX_DEFINITIONS = 200;
const MAX_ACTIONS = 50;
const MAX_CONDITION = 2000;

/**
 * Validates and normalises a registration body; throws CITY_ERR_PLUGIN_MANIFEST_INVALID with
 * `details.errors` = every `{ path, message }` found across the three documents.
 *
 * @example
 *   const body = JSON.parse(readFileSync('examples/plugins/traffic-violation-detector-v2.json', 'utf8'));
 *   const reg = parseRegistration(body);
 *   reg.manifest.model_id;        // 'traffic-violation-detector-v2'
 *   reg.outputSchema.eventType;   // 'violation_event'
 */
export function parseRegistration(body: unknown): PluginRegistration {
  const errors: FieldError[] = [];
  if (!isObject(body)) {
    throwIfErrors([{ path: '(body)', message: 'must be an object with plugin_manifest, output_schema and action_definitions' }]);
  }
  const doc = body as Record<string, unknown>;
  for (const key of Object.keys(doc)) {
    if (!SECTIONS.includes(key)) errors.push({ path: key, message: `unknown section; expected ${SECTIONS.join(', ')}` });
  }
  if (doc.plugin_manifest === undefined) errors.push({ path: 'plugin_manifest', message: 'required' });
  const manifest = doc.plugin_manifest === undefined ? null : checkManifest(doc.plugin_manifest, 'plugin_manifest', errors);

  let outputSchema: CompiledOutputSchemaSource | null = null;
  if (doc.output_schema === undefined) {
    errors.push({ path: 'output_schema', message: 'required' });
  } else {
    try {
      outputSchema = translateOutputSchema(doc.output_schema, 'output_schema');
    } catch (err) {
      if (!(err instanceof CityError) || !Array.isArray(err.details.errors)) throw err;
      errors.push(...(err.details.errors as FieldError[]));
    }
  }
  const actionDefinitions = checkActionDefinitions(doc.action_definitions, 'action_definitions', errors);

  // The manifest declares what the plugin emits; an event type it does not list is a mix-up
  // between two documents (e.g. a schema pasted from another model).
  if (manifest && outputSchema && manifest.output_types.length > 0 && !manifest.output_types.includes(outputSchema.eventType)) {
    errors.push({
      path: 'output_schema.event_type',
      message: `"${outputSchema.eventType}" is not one of the manifest's output_types (${manifest.output_types.join(', ')})`,
    });
  }
  checkConditions(actionDefinitions, outputSchema, errors);
  throwIfErrors(errors);
  return { manifest: manifest!, outputSchema: outputSchema!, actionDefinitions };
}

/**
 * Compiles each action trigger's condition (seed 001 §2.2 step 3) so a plugin with a condition
 * that could never run is refused at registration, with the position of the mistake. Severity
 * compares by the schema's own scale (`severity >= 'medium'`).
 */
function checkConditions(definitions: readonly ActionDefinition[], outputSchema: CompiledOutputSchemaSource | null, errors: FieldError[]): void {
  const orderedEnums: Record<string, readonly string[]> = outputSchema?.severityValues ? { severity: outputSchema.severityValues } : {};
  definitions.forEach((definition, i) => {
    if (definition.condition === undefined) return;
    try {
      compileCondition(definition.condition, { orderedEnums });
    } catch (err) {
      if (!(err instanceof CityError)) throw err;
      errors.push({ path: `action_definitions[${i}].condition`, message: `${err.details.reason} (at position ${err.details.position})` });
    }
  });
}

/**
 * Checks the shape of action_definitions (absent = none) and returns copies.
 *
 * @example
 *   checkActionDefinitions([{ trigger: 't', actions: [{}] }], 'action_definitions', errors);
 *   // errors: [{ path: 'action_definitions[0].actions[0].type', message: 'required' }]
 */
export function checkActionDefinitions(value: unknown, path: string, errors: FieldError[]): ActionDefinition[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > MAX_DEFINITIONS) {
    errors.push({ path, message: `must be a list of at most ${MAX_DEFINITIONS} action definitions` });
    return [];
  }
  const out: ActionDefinition[] = [];
  value.forEach((def, i) => {
    const at = `${path}[${i}]`;
    if (!isObject(def)) {
      errors.push({ path: at, message: 'must be an object with trigger and actions' });
      return;
    }
    // A misspelt "condition" would otherwise be dropped and the actions would fire on every event.
    for (const key of Object.keys(def)) {
      if (!DEFINITION_KEYS.includes(key)) errors.push({ path: `${at}.${key}`, message: `unknown key; expected ${DEFINITION_KEYS.join(', ')}` });
    }
    const trigger = text(def.trigger, `${at}.trigger`, errors, true);
    const condition = text(def.condition, `${at}.condition`, errors, false);
    const actions: ActionSpec[] = [];
    if (!Array.isArray(def.actions) || def.actions.length === 0 || def.actions.length > MAX_ACTIONS) {
      errors.push({ path: `${at}.actions`, message: `must be a list of 1 to ${MAX_ACTIONS} actions` });
    } else {
      def.actions.forEach((action, j) => {
        const actionAt = `${at}.actions[${j}]`;
        if (!isObject(action)) return void errors.push({ path: actionAt, message: 'must be an object with a type' });
        const type = text(action.type, `${actionAt}.type`, errors, true);
        if (type !== undefined) actions.push({ ...action, type });
      });
    }
    const definition: ActionDefinition = { trigger: trigger ?? '', actions };
    if (condition !== undefined) definition.condition = condition;
    const description = text(def.description, `${at}.description`, errors, false);
    if (description !== undefined) definition.description = description;
    if (def.escalation_rules !== undefined) definition.escalation_rules = checkEscalations(def.escalation_rules, `${at}.escalation_rules`, errors);
    out.push(definition);
  });
  return out;
}

function checkEscalations(value: unknown, path: string, errors: FieldError[]): EscalationRule[] {
  if (!Array.isArray(value)) {
    errors.push({ path, message: 'must be a list of { condition, action }' });
    return [];
  }
  const out: EscalationRule[] = [];
  value.forEach((rule, i) => {
    const at = `${path}[${i}]`;
    if (!isObject(rule)) return void errors.push({ path: at, message: 'must be an object with condition and action' });
    for (const key of Object.keys(rule)) {
      if (key !== 'condition' && key !== 'action') errors.push({ path: `${at}.${key}`, message: 'unknown key; expected condition, action' });
    }
    const condition = text(rule.condition, `${at}.condition`, errors, true);
    const action = text(rule.action, `${at}.action`, errors, true);
    // Escalation rules become durable fail-safe timers on the decision's approval request.
    if (condition !== undefined && escalationDelayMs(condition) === null) {
      errors.push({ path: `${at}.condition`, message: `'${condition}' is not a time condition; write it as no_response_within_<N>_<seconds|minutes|hours|days>, e.g. no_officer_response_within_30_minutes` });
    }
    if (action !== undefined && failSafeOutcome(action) === null) {
      errors.push({ path: `${at}.action`, message: `'${action}' is not a fail-safe action; start it with auto_approve, auto_reject or escalate, e.g. auto_approve_fine` });
    }
    if (condition !== undefined && action !== undefined) out.push({ condition, action });
  });
  return out;
}

function text(value: unknown, path: string, errors: FieldError[], required: boolean): string | undefined {
  if (value === undefined) {
    if (required) errors.push({ path, message: 'required' });
    return undefined;
  }
  if (typeof value !== 'string' || value.trim() === '' || value.length > MAX_CONDITION) {
    errors.push({ path, message: `must be a non-empty string of at most ${MAX_CONDITION} characters` });
    return undefined;
  }
  return value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
