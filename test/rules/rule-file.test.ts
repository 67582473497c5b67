import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CityError } from '../../src/errors.js';
import { parseDistance, parseDuration, parseRuleDocuments, RULE_KINDS } from '../../src/rules/rule-file.js';

// seed 001 §3.3, with the escalate action's target/reason under it (the seed's text split them by
// accident). Kept literal here, not read from examples/rules: the tests below name its lines.
const SEED_RULE = `correlation_rule:
  name: "flood_traffic_coordination"
  trigger:
    - event_type: "flood_warning"
      source: "flood_prediction_model"
      condition: "water_level_cm > 30"

  correlate_with:
    - event_type: "traffic_status"
      source: "traffic_monitoring"
      time_window: "last_5_minutes"
      location_radius: "500_meters"

  actions:
    - type: "traffic_reroute"
      target: "traffic_control_system"
      parameters:
        close_roads: ["identified_flooded_roads"]
        suggest_alternatives: true

    - type: "escalate"
      target: "district_layer"
      reason: "multi_road_flooding_detected"
`;

interface RuleErrorDetails {
  rule: string;
  reason: string;
  file: string | null;
  line: number;
  column: number;
  path: string;
  key?: string;
  position?: number;
}

function ruleError(text: string, file: string | null = 'rules/test.yaml'): RuleErrorDetails & { message: string } {
  try {
    parseRuleDocuments(text, file);
  } catch (err) {
    assert.ok(err instanceof CityError, `expected a CityError, got ${String(err)}`);
    assert.equal(err.code, 'CITY_ERR_RULE_INVALID');
    assert.equal(err.status, 422);
    return { ...(err.details as unknown as RuleErrorDetails), message: err.message };
  }
  assert.fail('expected the rule file to be refused');
}

describe('the seed rule (seed 001 §3.3)', () => {
  it('loads unchanged', () => {
    const [spec, ...rest] = parseRuleDocuments(SEED_RULE, 'rules/flood.yaml');
    assert.equal(rest.length, 0);
    assert.deepEqual(spec, {
      name: 'flood_traffic_coordination',
      kind: 'correlation',
      description: null,
      priority: 0,
      severity: null,
      enabled: true,
      roles: [
        { name: 'trigger', eventType: 'flood_warning', source: 'flood_prediction_model', condition: 'water_level_cm > 30' },
        { name: 'correlate_with[0]', eventType: 'traffic_status', source: 'traffic_monitoring', condition: null, windowMs: 300_000, radiusM: 500 },
      ],
      windowMs: 300_000,
      radiusM: null,
      sameZone: false,
      count: null,
      matchOn: [],
      actions: [
        {
          type: 'traffic_reroute',
          target: 'traffic_control_system',
          parameters: { close_roads: ['identified_flooded_roads'], suggest_alternatives: true },
        },
        { type: 'escalate', target: 'district_layer', reason: 'multi_road_flooding_detected' },
      ],
      origin: { file: 'rules/flood.yaml', line: 1 },
    });
  });

  it('loads as JSON too', () => {
    const [yaml] = parseRuleDocuments(SEED_RULE, null);
    const json = JSON.stringify({
      correlation_rule: {
        name: 'flood_traffic_coordination',
        trigger: [{ event_type: 'flood_warning', source: 'flood_prediction_model', condition: 'water_level_cm > 30' }],
        correlate_with: [{ event_type: 'traffic_status', source: 'traffic_monitoring', time_window: 'last_5_minutes', location_radius: '500_meters' }],
        actions: yaml!.actions,
      },
    }, null, 2);
    const [spec] = parseRuleDocuments(json, null);
    assert.deepEqual({ ...spec, origin: null }, { ...yaml, origin: null });
    assert.deepEqual(spec!.origin, { file: null, line: 2 });
  });

  it('accepts the window and radius on the rule, as defaults for the correlate_with entries', () => {
    const text = SEED_RULE.replace('      time_window: "last_5_minutes"\n      location_radius: "500_meters"\n', '').replace(
      '  actions:',
      '  time_window: 5m\n  location_radius: 0.5km\n  actions:',
    );
    const [spec] = parseRuleDocuments(text, null);
    assert.equal(spec!.windowMs, 300_000);
    assert.equal(spec!.radiusM, 500);
    assert.equal(spec!.roles[1]!.windowMs, undefined);
    assert.equal(spec!.roles[1]!.radiusM, undefined);
  });

  it('keeps differing windows per correlate_with entry; the rule window is the widest', () => {
    const text = `
correlation_rule:
  name: storm
  trigger: { event_type: storm_warning }
  correlate_with:
    - { event_type: power_outage, time_window: 30m, location_radius: 2km }
    - { event_type: tree_down, time_window: 10m, same_zone: true }
  actions: [{ type: notify }]
`;
    const [spec] = parseRuleDocuments(text, null);
    assert.equal(spec!.windowMs, 1_800_000);
    assert.deepEqual(spec!.roles.slice(1).map((r) => [r.windowMs, r.radiusM, r.sameZone]), [
      [1_800_000, 2000, undefined],
      [600_000, undefined, true],
    ]);
  });

  it('needs a time window from somewhere', () => {
    const text = SEED_RULE.replace('      time_window: "last_5_minutes"\n', '');
    const e = ruleError(text);
    assert.equal(e.line, 9);
    assert.match(e.reason, /^line 9: correlation_rule\.correlate_with\[0\]: has no time_window/);
  });
});

describe('rule kinds', () => {
  it('lists them', () => {
    assert.deepEqual([...RULE_KINDS], ['correlation', 'sequence', 'count', 'absence']);
  });

  it('reads a sequence rule', () => {
    const [spec] = parseRuleDocuments(`
sequence_rule:
  name: wrong_way_then_crash
  priority: 5
  severity: critical
  steps:
    - { event_type: wrong_way_driver }
    - { event_type: collision, condition: "vehicles_involved >= 2" }
  time_window: 10m
  location_radius: 1km
  match_on: road_id
  actions: [{ type: notify, target: emergency_services }]
`, null);
    assert.equal(spec!.kind, 'sequence');
    assert.equal(spec!.priority, 5);
    assert.equal(spec!.severity, 'critical');
    assert.deepEqual(spec!.roles.map((r) => r.name), ['steps[0]', 'steps[1]']);
    assert.equal(spec!.windowMs, 600_000);
    assert.equal(spec!.radiusM, 1000);
    assert.deepEqual(spec!.matchOn, ['road_id']);
  });

  it('reads a count rule, inline or under match:', () => {
    const inline = `
count_rule:
  name: pothole_cluster
  event_type: pothole_report
  condition: "confidence_score > 0.7"
  count: 5
  time_window: 1h
  location_radius: 200m
  actions: [{ type: create_work_order }]
`;
    const [a] = parseRuleDocuments(inline, null);
    const [b] = parseRuleDocuments(
      inline.replace('  event_type: pothole_report\n  condition: "confidence_score > 0.7"\n', '  match:\n    event_type: pothole_report\n    condition: "confidence_score > 0.7"\n'),
      null,
    );
    assert.deepEqual(a!.roles, [{ name: 'match', eventType: 'pothole_report', source: null, condition: 'confidence_score > 0.7' }]);
    assert.equal(a!.count, 5);
    assert.deepEqual({ ...b, origin: null }, { ...a, origin: null });
  });

  it('reads an absence rule', () => {
    const [spec] = parseRuleDocuments(`
absence_rule:
  name: ambulance_not_dispatched
  trigger: { event_type: cardiac_arrest_report }
  expect: { event_type: ambulance_dispatched, source: dispatch_system }
  time_window: 3m
  same_zone: true
  match_on: [incident.id]
  actions: [{ type: escalate, target: district_layer, reason: no_dispatch }]
`, null);
    assert.equal(spec!.kind, 'absence');
    assert.deepEqual(spec!.roles.map((r) => [r.name, r.eventType, r.source]), [
      ['trigger', 'cardiac_arrest_report', null],
      ['expect', 'ambulance_dispatched', 'dispatch_system'],
    ]);
    assert.equal(spec!.sameZone, true);
    assert.deepEqual(spec!.matchOn, ['incident.id']);
  });

  it('reads several documents, a rules: list and a bare list, with the line of each rule', () => {
    const text = `# flood rules
${SEED_RULE}---
rules:
  - count_rule: { name: c1, event_type: x, count: 2, time_window: 1m, actions: [{ type: log }] }
  - absence_rule: { name: a1, trigger: { event_type: x }, expect: { event_type: y }, time_window: 1m, actions: [{ type: log }], enabled: false }
---
- sequence_rule: { name: s1, steps: [{ event_type: x }, { event_type: y }], time_window: 1m, actions: [{ type: log }] }
---
`;
    const specs = parseRuleDocuments(text, 'all.yaml');
    assert.deepEqual(specs.map((s) => [s.name, s.kind, s.enabled, s.origin.line]), [
      ['flood_traffic_coordination', 'correlation', true, 2],
      ['c1', 'count', true, 27],
      ['a1', 'absence', false, 28],
      ['s1', 'sequence', true, 30],
    ]);
  });

  it('reads an empty file as no rules', () => {
    assert.deepEqual(parseRuleDocuments('', null), []);
    assert.deepEqual(parseRuleDocuments('# nothing yet\n', null), []);
  });
});

describe('durations and distances', () => {
  it('reads durations with their units', () => {
    const cases: Array<[string, number]> = [
      ['last_5_minutes', 300_000], ['5_minutes', 300_000], ['5 minutes', 300_000], ['1_hour', 3_600_000],
      ['90_seconds', 90_000], ['30s', 30_000], ['5m', 300_000], ['2h', 7_200_000], ['1d', 86_400_000],
      ['500ms', 500], ['PT5M', 300_000], ['PT1M30S', 90_000], ['P1D', 86_400_000], ['pt0.5s', 500],
      ['1.5_hours', 5_400_000], ['last_hour', 3_600_000], ['  10 SECONDS ', 10_000],
    ];
    for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, text);
  });

  it('refuses what is not a duration, bare numbers included', () => {
    for (const text of ['300', '5', '', 'P', 'PT', '5 lightyears', 'minutes', '-5m', '5 m s', 'P5M5D']) {
      assert.equal(parseDuration(text), null, text);
    }
  });

  it('reads distances with their units', () => {
    const cases: Array<[string, number]> = [
      ['500_meters', 500], ['500_metres', 500], ['500m', 500], ['1.5_km', 1500], ['1.5km', 1500],
      ['2_kilometers', 2000], ['1 kilometre', 1000], ['750 M', 750],
    ];
    for (const [text, m] of cases) assert.equal(parseDistance(text), m, text);
    for (const text of ['500', '500 miles', 'km', '']) assert.equal(parseDistance(text), null, text);
  });
});

describe('bad rule files', () => {
  it('a YAML syntax error names the line', () => {
    const e = ruleError('correlation_rule:\n  name: x\n  trigger: [ { event_type: a }\n  actions: []\n');
    assert.equal(e.line, 4);
    assert.match(e.reason, /^line 4, column \d+: YAML syntax error: /);
    assert.match(e.message, /^rule .* is invalid: line 4/);
    assert.equal(e.file, 'rules/test.yaml');
  });

  it('a duplicate key is a syntax error with its line', () => {
    const e = ruleError(SEED_RULE.replace('  actions:', '  name: again\n  actions:'));
    assert.equal(e.line, 14);
    assert.match(e.reason, /unique/);
  });

  it('an unknown key names the line, the key and the allowed keys', () => {
    const e = ruleError(SEED_RULE.replace('condition:', 'condtion:'));
    assert.equal(e.rule, 'flood_traffic_coordination');
    assert.equal(e.line, 6);
    assert.equal(e.key, 'condtion');
    assert.equal(
      e.reason,
      "line 6: correlation_rule.trigger[0]: unknown key 'condtion' (did you mean 'condition'?); allowed keys are event_type, source, condition",
    );
  });

  it('an unknown key on the rule names it too', () => {
    const e = ruleError(SEED_RULE.replace('  actions:', '  time_windw: 5m\n  actions:'));
    assert.equal(e.line, 14);
    assert.match(e.reason, /unknown key 'time_windw' \(did you mean 'time_window'\?\); allowed keys are name, description/);
  });

  it('a bad condition names the line and the position in the condition', () => {
    const e = ruleError(SEED_RULE.replace('water_level_cm > 30', 'water_level_cm >> 30'));
    assert.equal(e.line, 6);
    assert.equal(e.position, 16);
    assert.equal(e.path, 'correlation_rule.trigger[0].condition');
    assert.match(e.reason, /^line 6: correlation_rule\.trigger\[0\]\.condition: 'water_level_cm >> 30' is not a valid condition: at position 16: /);
  });

  it('a condition with a severity outside the scale is refused', () => {
    const e = ruleError(SEED_RULE.replace('water_level_cm > 30', "severity >= 'severe'"));
    assert.match(e.reason, /'severe' is not a value of severity/);
  });

  it('a bad duration names the line and says what a duration looks like', () => {
    const e = ruleError(SEED_RULE.replace('last_5_minutes', '5 lightyears'));
    assert.equal(e.line, 11);
    assert.equal(
      e.reason,
      "line 11: correlation_rule.correlate_with[0].time_window: '5 lightyears' is not a duration such as 5_minutes, 30s or PT5M",
    );
  });

  it('a bare number for a duration or distance is refused as ambiguous', () => {
    assert.match(ruleError(SEED_RULE.replace('"last_5_minutes"', '300')).reason, /line 11: .*300 is a bare number, which is ambiguous/);
    assert.match(ruleError(SEED_RULE.replace('"500_meters"', '500')).reason, /line 12: .*500 is a bare number/);
  });

  it('a duplicate rule name is refused at the second name', () => {
    const e = ruleError(`${SEED_RULE}---\n${SEED_RULE}`);
    assert.equal(e.line, 26);
    assert.match(e.reason, /'flood_traffic_coordination' is already the name of the rule at line 1/);
  });

  it('limits are enforced', () => {
    assert.match(ruleError(SEED_RULE.replace('last_5_minutes', '25h')).reason, /longer than the limit of 24 h/);
    assert.match(ruleError(SEED_RULE.replace('500_meters', '101km')).reason, /over the limit of 100 km/);
    assert.match(ruleError(SEED_RULE.replace('500_meters', '0m')).reason, /more than zero/);
    assert.match(ruleError(SEED_RULE.replace('"flood_traffic_coordination"', '"flood traffic"')).reason, /is not a rule name/);
    const count = (n: number): string =>
      `count_rule: { name: c, event_type: x, count: ${n}, time_window: 1m, actions: [{ type: log }] }`;
    assert.match(ruleError(count(10_001)).reason, /10001 is out of range; allowed is 2 to 10000/);
    assert.match(ruleError(count(1)).reason, /out of range/);
    const roles = Array.from({ length: 16 }, (_, i) => `    - { event_type: e${i} }`).join('\n');
    const many = `correlation_rule:\n  name: many\n  trigger: { event_type: t }\n  time_window: 1m\n  correlate_with:\n${roles}\n  actions: [{ type: log }]\n`;
    assert.match(ruleError(many).reason, /at most 16 roles; this one has 17/);
  });

  it('refuses rules that would fire on anything or do nothing', () => {
    assert.match(ruleError(SEED_RULE.replace(/ {4}- event_type: "flood_warning"\n {6}source: "flood_prediction_model"\n {6}condition: "water_level_cm > 30"\n/, '    - {}\n')).reason, /at least one of event_type, source and condition/);
    assert.match(ruleError(SEED_RULE.replace(/ {2}actions:[\s\S]*$/, '  actions: []\n')).reason, /at least one action/);
    assert.match(ruleError(SEED_RULE.replace('- type: "escalate"', '- kind: "escalate"')).reason, /an action needs a type/);
    const two = SEED_RULE.replace('  correlate_with:', '    - event_type: "flood_warning"\n  correlate_with:');
    assert.match(ruleError(two).reason, /a rule has one trigger/);
  });

  it('refuses a mapping that is not a rule, and rule kinds written together', () => {
    assert.match(ruleError('name: x\n').reason, /line 1: unknown key 'name'; allowed keys are correlation_rule, sequence_rule, count_rule, absence_rule/);
    assert.match(ruleError('- 42\n').reason, /expected a rule/);
  });

  it('refuses aliases and prototype keys in actions', () => {
    const alias = SEED_RULE.replace('close_roads: ["identified_flooded_roads"]', 'close_roads: &r ["identified_flooded_roads"]\n        again: *r');
    assert.match(ruleError(alias).reason, /aliases/);
    assert.match(ruleError(SEED_RULE.replace('suggest_alternatives: true', '__proto__: { x: 1 }')).reason, /__proto__ is not allowed/);
  });

  it('refuses text nested deeper than any rule, before the YAML parser recurses into it', () => {
    // A few hundred kB of these can abort the process inside the YAML parser (see checkNesting).
    const flow = ruleError(`count_rule: ${'['.repeat(400_000)}${']'.repeat(400_000)}`);
    assert.equal(flow.line, 1);
    assert.equal(flow.column, 12 + 65);
    assert.match(flow.reason, /brackets are nested more than 64 deep/);
    assert.match(ruleError(`${'- '.repeat(100_000)}x`).reason, /nested more than 256 columns deep/);
    const stairs = Array.from({ length: 300 }, (_, i) => `${' '.repeat(i)}k:`).join('\n');
    assert.equal(ruleError(stairs).line, 258);
    // Brackets in quotes and comments are text.
    const quoted = `# ${'['.repeat(100)}\ncount_rule: { name: c, description: "${'{'.repeat(100)}", event_type: x, count: 2, time_window: 1m, actions: [{ type: log, note: '${'['.repeat(100)}''s' }] }`;
    assert.equal(parseRuleDocuments(quoted, null).length, 1);
  });

  it('refuses match_on entries that are not field paths', () => {
    const text = SEED_RULE.replace('  actions:', '  match_on: ["a + b"]\n  actions:');
    assert.match(ruleError(text).reason, /line 14: correlation_rule\.match_on\[0\]: 'a \+ b' is not a field name/);
  });
});

describe('hostile text', () => {
  it('deeply nested YAML is refused before the YAML parser sees it (it would exhaust the heap)', () => {
    for (const text of ['count_rule: ' + '['.repeat(5000) + ']'.repeat(5000), '- '.repeat(400) + 'x']) {
      assert.throws(() => parseRuleDocuments(text, 'bomb.yaml'), (err: unknown) => {
        assert.ok(err instanceof CityError);
        assert.equal(err.code, 'CITY_ERR_RULE_INVALID');
        assert.match(err.message, /line 1, column \d+: .*(nested more than 64|more than 256 columns)/);
        return true;
      });
    }
  });
});
