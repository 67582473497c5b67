import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RoleScreen } from '../../src/rules/role-screen.js';
import { parseRuleDocuments } from '../../src/rules/rule-file.js';
import { seedFloodRule } from '../helpers/fixtures.js';

// seed 001 §3.3, as shipped in examples/rules (escalate's target/reason under it: the seed's text split them by accident).
const SEED_RULE = seedFloodRule();

const MORE = `
---
count_rule:
  name: speeding_cluster
  event_type: speeding_detected
  condition: "severity >= 'medium' AND vehicle.speed_kmh > 80"
  match_on: [vehicle.plate, "tags[0]"]
  count: 3
  time_window: 10m
  actions: [{ type: notify }]
---
absence_rule:
  name: flood_unanswered
  trigger: { event_type: flood_warning, condition: "water_level_cm > 50" }
  expect: { event_type: road_closed }
  time_window: 15m
  actions: [{ type: escalate }]
---
correlation_rule:
  name: anything_from_camera
  trigger: { source: camera_7 }
  correlate_with: [{ event_type: flood_warning, time_window: 1m }]
  actions: [{ type: log }]
---
sequence_rule:
  name: switched_off
  enabled: false
  steps: [{ event_type: flood_warning }, { event_type: traffic_status }]
  time_window: 1m
  actions: [{ type: log }]
`;

describe('RoleScreen', () => {
  const seed = new RoleScreen(parseRuleDocuments(SEED_RULE, null));

  it('finds the roles of the seed rule an event plays', () => {
    assert.deepEqual(seed.screen('flood_warning', 'flood_prediction_model', { water_level_cm: 42 }), [
      { rule: 'flood_traffic_coordination', role: 0, values: { water_level_cm: 42 } },
    ]);
    assert.deepEqual(seed.screen('traffic_status', 'traffic_monitoring', { congestion: 'heavy' }), [
      { rule: 'flood_traffic_coordination', role: 1, values: {} },
    ]);
  });

  it('checks the condition and the source', () => {
    assert.deepEqual(seed.screen('flood_warning', 'flood_prediction_model', { water_level_cm: 20 }), []);
    assert.deepEqual(seed.screen('flood_warning', 'flood_prediction_model', {}), []);
    assert.deepEqual(seed.screen('flood_warning', 'someone_else', { water_level_cm: 42 }), []);
    assert.deepEqual(seed.screen('traffic_status', 'someone_else', {}), []);
  });

  it('returns one shared, frozen empty array for events no role wants', () => {
    const a = seed.screen('air_quality', 'aq_model', { pm25: 3 });
    const b = seed.screen('flood_warning', 'flood_prediction_model', { water_level_cm: 1 });
    assert.equal(a, b);
    assert.equal(a.length, 0);
    assert.ok(Object.isFrozen(a));
    assert.equal(seed.wants('air_quality'), false);
    assert.equal(seed.wants('flood_warning'), true);
  });

  const all = new RoleScreen(parseRuleDocuments(SEED_RULE + MORE, null));

  it('finds every rule and role an event plays, skipping disabled rules', () => {
    assert.equal(all.size, 7); // 2 + 1 + 2 + 2: the disabled sequence rule's two roles are not screened
    const hits = all.screen('flood_warning', 'flood_prediction_model', { water_level_cm: 60 });
    assert.deepEqual(hits.map((h) => [h.rule, h.role]), [
      ['flood_traffic_coordination', 0],
      ['flood_unanswered', 0],
      ['anything_from_camera', 1],
    ]);
    const low = all.screen('flood_warning', 'flood_prediction_model', { water_level_cm: 40 });
    assert.deepEqual(low.map((h) => [h.rule, h.role]), [['flood_traffic_coordination', 0], ['anything_from_camera', 1]]);
  });

  it('screens roles that name no event type against every event', () => {
    const hits = all.screen('anything_at_all', 'camera_7', {});
    assert.deepEqual(hits, [{ rule: 'anything_from_camera', role: 0, values: {} }]);
    assert.equal(all.wants('anything_at_all'), true);
  });

  it('adds the match_on values, read as conditions read paths (own properties only)', () => {
    const event = { severity: 'high', vehicle: { speed_kmh: 95, plate: 'HH-AB-123' }, tags: ['red'] };
    assert.deepEqual(all.screen('speeding_detected', 'speed_camera', event), [
      {
        rule: 'speeding_cluster',
        role: 0,
        values: { severity: 'high', 'vehicle.speed_kmh': 95, 'vehicle.plate': 'HH-AB-123', 'tags[0]': 'red' },
      },
    ]);
    const inherited = Object.create({ plate: 'inherited' }) as Record<string, unknown>;
    inherited.speed_kmh = 120;
    const [hit] = all.screen('speeding_detected', 'speed_camera', { severity: 'critical', vehicle: inherited });
    assert.deepEqual(hit!.values, { severity: 'critical', 'vehicle.speed_kmh': 120, 'vehicle.plate': undefined, 'tags[0]': undefined });
    assert.deepEqual(all.screen('speeding_detected', 'speed_camera', { severity: 'low', vehicle: { speed_kmh: 120 } }), []);
  });

  it('is built from plain data (what a worker thread receives)', () => {
    const specs = structuredClone(parseRuleDocuments(SEED_RULE + MORE, null));
    const copy = new RoleScreen(specs);
    const event = { water_level_cm: 60 };
    assert.deepEqual(copy.screen('flood_warning', 'flood_prediction_model', event), all.screen('flood_warning', 'flood_prediction_model', event));
  });
});
