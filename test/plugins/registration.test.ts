import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CityError } from '../../src/errors.js';
import { parseRegistration } from '../../src/plugins/registration.js';
import { parseLatencySla, parseManifest, type FieldError } from '../../src/plugins/manifest.js';

const load = (name: string): Record<string, any> =>
  JSON.parse(readFileSync(new URL(`../../examples/plugins/${name}.json`, import.meta.url), 'utf8'));

/** Runs fn, expects a PLUGIN_MANIFEST_INVALID CityError, returns its `{ path, message }` list. */
function problems(fn: () => unknown): FieldError[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CityError, `expected a CityError, got ${String(err)}`);
    assert.equal(err.code, 'CITY_ERR_PLUGIN_MANIFEST_INVALID');
    assert.equal(err.status, 422);
    return err.details.errors as FieldError[];
  }
  assert.fail('expected the registration to be rejected');
}
const lines = (errors: FieldError[]): string[] => errors.map((e) => `${e.path}: ${e.message}`);

test('the seed traffic-violation-detector-v2 example registers unchanged', () => {
  const body = load('traffic-violation-detector-v2');
  const before = JSON.stringify(body);
  const reg = parseRegistration(body);
  assert.equal(JSON.stringify(body), before, 'parseRegistration must not mutate the body');

  assert.equal(reg.manifest.model_id, 'traffic-violation-detector-v2');
  assert.equal(reg.manifest.vendor, 'SmartCity Solutions Inc.');
  assert.equal(reg.manifest.version, '2.3.1');
  assert.deepEqual(reg.manifest.capabilities, ['speeding_detection', 'red_lightViolation', 'wrong_way_detection', 'helmet_detection']);
  assert.equal(reg.manifest.latencySlaMs, 2000);
  assert.equal(reg.manifest.geographic_scope, 'neighborhood');
  assert.equal(reg.manifest.requires_human_approval, true);
  assert.equal(reg.manifest.approval_authority, 'traffic_officer');

  assert.equal(reg.outputSchema.eventType, 'violation_event');
  assert.deepEqual(reg.outputSchema.severityValues, ['low', 'medium', 'high', 'critical']);
  assert.equal(reg.actionDefinitions.length, 1);
  const def = reg.actionDefinitions[0]!;
  assert.equal(def.trigger, 'speeding_detected');
  assert.equal(def.condition, "severity >= 'medium' AND confidence_score > 0.85");
  assert.deepEqual(def.actions[0], { type: 'notify_authority', target: 'traffic_officer', priority: 'medium', requires_approval: true });
  assert.deepEqual(def.actions[1], { type: 'log_event', database: 'violations_db' });
  assert.deepEqual(def.escalation_rules, [{ condition: 'no_officer_response_within_30_minutes', action: 'auto_approve_fine' }]);
});

test('the example file holds the seed documents exactly', () => {
  // Guards against someone "fixing" the seed example: these quirks are in the seed itself.
  const body = load('traffic-violation-detector-v2');
  assert.deepEqual(Object.keys(body), ['plugin_manifest', 'output_schema', 'action_definitions']);
  assert.equal(body.plugin_manifest.capabilities[1], 'red_lightViolation');
  assert.deepEqual(body.output_schema.fields.confidence_score, { type: 'float', range: [0, 1] });
  assert.deepEqual(body.output_schema.fields.vehicle_data.license_plate, { type: 'string', required: true });
});

test('the flood and air-quality examples register', () => {
  const flood = parseRegistration(load('flood-sensor-network'));
  assert.equal(flood.manifest.model_id, 'flood-level-monitor-v1');
  assert.equal(flood.outputSchema.eventType, 'flood_warning');
  assert.equal(flood.actionDefinitions[0]!.condition, "water_level_cm > 30 AND severity >= 'high'");
  assert.deepEqual(flood.actionDefinitions[0]!.actions.map((a) => a.type), ['notify_authority', 'log_event', 'escalate']);
  assert.deepEqual(flood.outputSchema.personalPaths, [['reported_by_phone']]);
  const air = parseRegistration(load('air-quality-monitor'));
  assert.equal(air.manifest.model_id, 'air-quality-monitor-v1');
  assert.equal(air.manifest.aqi_standard, 'CPCB National AQI (India)', 'vendor extension fields are kept');
  const aqi = (air.outputSchema.jsonSchema.properties as any).aqi;
  assert.deepEqual(aqi, { type: 'integer', minimum: 0, maximum: 500 });
});

test('manifest errors list every problem with its path', () => {
  const body = load('traffic-violation-detector-v2');
  body.plugin_manifest.version = 'v2';
  body.plugin_manifest.model_id = 'Traffic/Detector #1';
  delete body.plugin_manifest.vendor;
  body.plugin_manifest.capabilities = 'speeding';
  body.plugin_manifest.latency_sla = 'fast';
  body.plugin_manifest.geographic_scope = 'galaxy';
  body.plugin_manifest.requires_human_approval = 'yes';
  const got = lines(problems(() => parseRegistration(body)));
  assert.ok(got.includes('plugin_manifest.version: must look like 1.2.3 (optionally 1.2.3-beta.1)'), got.join('\n'));
  for (const field of ['model_id', 'vendor', 'capabilities', 'latency_sla', 'geographic_scope', 'requires_human_approval']) {
    assert.ok(got.some((l) => l.startsWith(`plugin_manifest.${field}: `)), `no error for ${field}:\n${got.join('\n')}`);
  }
  assert.ok(got.includes('plugin_manifest.vendor: required'));
});

test('errors from all three documents come back together', () => {
  const body = load('traffic-violation-detector-v2');
  delete body.plugin_manifest.model_name;
  body.output_schema.fields.severity.values = [];
  body.action_definitions[0].actions[1] = { database: 'violations_db' };
  body.action_definitions[0].condtion = 'x > 1';
  body.extra_section = {};
  const got = lines(problems(() => parseRegistration(body)));
  assert.deepEqual(got.sort(), [
    'action_definitions[0].actions[1].type: required',
    'action_definitions[0].condtion: unknown key; expected trigger, condition, actions, escalation_rules, description',
    'extra_section: unknown section; expected plugin_manifest, output_schema, action_definitions',
    'output_schema.fields.severity.values: an enum needs a non-empty list of values',
    'plugin_manifest.model_name: required',
  ]);
});

test('action definitions are checked for shape', () => {
  const body = load('traffic-violation-detector-v2');
  body.action_definitions = [
    { trigger: '', actions: [] },
    { trigger: 't', condition: 42, actions: [{ type: 'log_event' }], escalation_rules: [{ condition: 'c' }] },
    'not an object',
  ];
  const got = lines(problems(() => parseRegistration(body)));
  assert.ok(got.some((l) => l.startsWith('action_definitions[0].trigger: must be a non-empty string')), got.join('\n'));
  assert.ok(got.some((l) => l.startsWith('action_definitions[0].actions: must be a list of 1 to')));
  assert.ok(got.some((l) => l.startsWith('action_definitions[1].condition: must be a non-empty string')));
  assert.ok(got.includes('action_definitions[1].escalation_rules[0].action: required'));
  assert.ok(got.some((l) => l.startsWith('action_definitions[2]: must be an object')));
});

test('an event_type missing from output_types is reported', () => {
  const body = load('traffic-violation-detector-v2');
  body.plugin_manifest.output_types = ['alert'];
  const got = lines(problems(() => parseRegistration(body)));
  assert.deepEqual(got, ['output_schema.event_type: "violation_event" is not one of the manifest\'s output_types (alert)']);
});

test('missing sections and a non-object body are rejected with paths', () => {
  assert.deepEqual(lines(problems(() => parseRegistration({}))), ['plugin_manifest: required', 'output_schema: required']);
  assert.equal(problems(() => parseRegistration([]))[0]!.path, '(body)');
});

test('manifest normalisation: defaults, neighbourhood spelling, approval authority', () => {
  const m = parseManifest({ model_id: 'ab', model_name: 'A', vendor: 'V', version: '1.0.0-rc.1', geographic_scope: 'neighbourhood', x_vendor: { a: 1 } });
  assert.deepEqual(m, {
    model_id: 'ab', model_name: 'A', vendor: 'V', version: '1.0.0-rc.1', geographic_scope: 'neighborhood', x_vendor: { a: 1 },
    capabilities: [], data_sources: [], output_types: [], requires_human_approval: false,
  });
  const got = lines(problems(() => parseManifest({ model_id: 'ab', model_name: 'A', vendor: 'V', version: '1.0.0', requires_human_approval: true })));
  assert.deepEqual(got, ['plugin_manifest.approval_authority: required when requires_human_approval is true']);
  assert.equal(lines(problems(() => parseManifest({ model_id: 'a', model_name: 'A', vendor: 'V', version: '1.0.0' }))).length, 1, 'model_id needs 2+ characters');
});

test('latency_sla parsing', () => {
  assert.equal(parseLatencySla('< 2 seconds'), 2000);
  assert.equal(parseLatencySla('<= 500 ms'), 500);
  assert.equal(parseLatencySla('1.5s'), 1500);
  assert.equal(parseLatencySla('< 1 minute'), 60_000);
  assert.equal(parseLatencySla('soon'), null);
});

test('an action condition that does not compile is refused at registration with its position', () => {
  const body = JSON.parse(JSON.stringify(load('traffic-violation-detector-v2')));
  body.action_definitions[0].condition = "severity >= 'extreme' AND confidence_score > 0.85";
  body.action_definitions.push({ trigger: 'late', condition: 'confidence_score >', actions: [{ type: 'log_event' }] });
  assert.throws(
    () => parseRegistration(body),
    (err: any) => {
      const byPath = Object.fromEntries(err.details.errors.map((e: any) => [e.path, e.message]));
      assert.match(byPath['action_definitions[0].condition'], /'extreme' is not a value of severity; allowed values are 'low', 'medium', 'high', 'critical' \(at position 12\)/);
      assert.match(byPath['action_definitions[1].condition'], /at position 18/);
      return true;
    },
  );
  // The seed's own condition compiles against its own severity scale.
  assert.doesNotThrow(() => parseRegistration(load('traffic-violation-detector-v2')));
});
