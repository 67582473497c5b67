import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileTriggers, escalationDelayMs, evaluateTriggers, failSafeOutcome } from '../../src/decisions/action-triggers.js';
import { parseRegistration } from '../../src/plugins/registration.js';
import { seedRegistration, speedingEvent } from '../helpers/fixtures.js';

function seedTriggers() {
  const reg = parseRegistration(seedRegistration());
  return compileTriggers(reg.actionDefinitions, reg.outputSchema.jsonSchema as { properties?: Record<string, unknown> }, reg.outputSchema.severityValues);
}

test('the seed trigger fires for speeding, high severity, confidence 0.9 and reports the values it read', () => {
  const hits = evaluateTriggers(seedTriggers(), speedingEvent());
  assert.deepEqual(hits, [{ definition: 0, values: { severity: 'high', confidence_score: 0.9, violation_type: 'speeding' } }]);
});

test('the seed trigger does not fire at confidence 0.8, at low severity, or for another violation type', () => {
  const triggers = seedTriggers();
  assert.equal(evaluateTriggers(triggers, speedingEvent({ confidence_score: 0.8 })), null);
  assert.equal(evaluateTriggers(triggers, speedingEvent({ severity: 'low' })), null);
  // `speeding_detected` names the violation_type enum value `speeding`.
  assert.equal(evaluateTriggers(triggers, speedingEvent({ violation_type: 'red_light' })), null);
  assert.equal(evaluateTriggers(triggers, speedingEvent({ severity: undefined })), null);
});

test('escalation time conditions and fail-safe actions are read from their names', () => {
  assert.equal(escalationDelayMs('no_officer_response_within_30_minutes'), 30 * 60_000);
  assert.equal(escalationDelayMs('no_response_within_90_seconds'), 90_000);
  assert.equal(escalationDelayMs('no_response_within_1_hour'), 3_600_000);
  assert.equal(escalationDelayMs('aqi_above_400'), null);
  assert.equal(failSafeOutcome('auto_approve_fine'), 'approve');
  assert.equal(failSafeOutcome('auto_reject'), 'reject');
  assert.equal(failSafeOutcome('escalate_to_city_command_centre'), 'escalate');
  assert.equal(failSafeOutcome('send_flowers'), null);
});

test('registration refuses an escalation rule that cannot become a timer, naming the field', () => {
  const body = seedRegistration();
  body.action_definitions[0].escalation_rules = [{ condition: 'whenever_it_rains', action: 'send_flowers' }];
  assert.throws(() => parseRegistration(body), (err: any) => {
    const paths = err.details.errors.map((e: { path: string }) => e.path);
    assert.ok(paths.includes('action_definitions[0].escalation_rules[0].condition'), paths.join());
    assert.ok(paths.includes('action_definitions[0].escalation_rules[0].action'), paths.join());
    return true;
  });
});
