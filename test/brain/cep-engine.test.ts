import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CepEngine, type CepOptions } from '../../src/brain/cep/engine.js';
import { distanceM, metresPerDegreeLat, metresPerDegreeLng } from '../../src/brain/cep/geo.js';
import type { RuleMatch, ScreenedEvent } from '../../src/decisions/types.js';
import { RoleScreen } from '../../src/rules/role-screen.js';
import { parseRuleDocuments } from '../../src/rules/rule-file.js';
import { seedFloodRule } from '../helpers/fixtures.js';

// seed 001 §3.3, as shipped in examples/rules (escalate's target/reason under it: the seed's text split them by accident).
const SEED_RULE = seedFloodRule();

const T0 = Date.UTC(2025, 11, 3, 14, 0, 0);
const MIN = 60_000;
const HOME = { lat: 53.55, lng: 9.99 };

interface At {
  /** Minutes after T0. */
  min?: number;
  /** Metres north and east of HOME; null = no location. */
  north?: number;
  east?: number;
  located?: boolean;
  zone?: string | null;
  severity?: string | null;
  id?: string;
  plugin?: string;
}

/** A rule set, its role screen and its engine, with events built the way ingestion builds them. */
class City {
  readonly specs;
  readonly screen: RoleScreen;
  readonly cep: CepEngine;
  #n = 0;

  constructor(yaml: string, options: CepOptions = {}) {
    this.specs = parseRuleDocuments(yaml, 'test.yaml');
    this.screen = new RoleScreen(this.specs);
    this.cep = new CepEngine(this.specs, { now: () => T0 + 999 * MIN, ...options });
  }

  event(eventType: string, payload: Record<string, unknown>, at: At = {}): ScreenedEvent {
    const pluginId = at.plugin ?? PLUGIN_OF[eventType] ?? 'test_plugin';
    const tsMs = T0 + (at.min ?? 0) * MIN;
    const located = at.located ?? true;
    return {
      eventId: at.id ?? `e${++this.#n}`,
      pluginId,
      pluginVersion: '1.0.0',
      eventType,
      severity: at.severity ?? null,
      confidence: null,
      tsMs,
      receivedAtMs: tsMs,
      zoneId: at.zone ?? null,
      lat: located ? HOME.lat + (at.north ?? 0) / metresPerDegreeLat(HOME.lat) : null,
      lng: located ? HOME.lng + (at.east ?? 0) / metresPerDegreeLng(HOME.lat) : null,
      triggers: [],
      roles: this.screen.screen(eventType, pluginId, payload),
    };
  }

  offer(eventType: string, payload: Record<string, unknown>, at: At = {}): RuleMatch[] {
    return this.cep.offer(this.event(eventType, payload, at));
  }
}

const PLUGIN_OF: Record<string, string> = {
  flood_warning: 'flood_prediction_model',
  traffic_status: 'traffic_monitoring',
};

describe('correlation: the seed scenario (seed 001 §3.3)', () => {
  it('fires once when the traffic status follows the flood warning, 300 m away and 2 minutes later', () => {
    const city = new City(SEED_RULE);
    assert.deepEqual(city.offer('flood_warning', { water_level_cm: 42 }, { id: 'flood-1', severity: 'high', zone: 'z1' }), []);
    const [m, ...more] = city.offer('traffic_status', { congestion: 'heavy' }, { id: 'traffic-1', min: 2, north: 300, severity: 'medium' });
    assert.equal(more.length, 0);
    assert.ok(m);
    assert.equal(m.kind, 'correlation');
    assert.equal(m.ruleId, 'flood_traffic_coordination');
    assert.equal(m.ruleName, 'flood_traffic_coordination');
    assert.equal(m.rulePriority, 0);
    assert.equal(m.dedupKey, 'flood_traffic_coordination:flood-1');
    assert.equal(m.triggerEventId, 'flood-1');
    assert.deepEqual(m.events.map((e) => [e.eventId, e.role]), [['flood-1', 'trigger'], ['traffic-1', 'correlate_with[0]']]);
    assert.deepEqual(m.conditions, [{ role: 'trigger', source: 'water_level_cm > 30', values: { water_level_cm: 42 } }]);
    assert.equal(m.severity, 'high');
    assert.equal(m.zoneId, 'z1');
    assert.equal(m.lat, HOME.lat);
    assert.deepEqual(m.actions, city.specs[0]!.actions);
    assert.deepEqual(m.escalationRules, []);
    assert.equal(m.matchedAtMs, T0 + 999 * MIN);
    assert.equal(
      m.explanation,
      'flood_traffic_coordination: flood_warning from flood_prediction_model (water_level_cm=42) and traffic_status from traffic_monitoring 300 m away, 2 min apart',
    );
    // Once per trigger: more traffic does not fire it again.
    assert.deepEqual(city.offer('traffic_status', {}, { min: 3, north: 100 }), []);
  });

  it('fires once when the traffic status comes first', () => {
    const city = new City(SEED_RULE);
    assert.deepEqual(city.offer('traffic_status', {}, { north: 300 }), []);
    const matches = city.offer('flood_warning', { water_level_cm: 42 }, { id: 'flood-1', min: 2 });
    assert.equal(matches.length, 1);
    assert.equal(matches[0]!.dedupKey, 'flood_traffic_coordination:flood-1');
    assert.deepEqual(city.offer('traffic_status', {}, { min: 3, north: 100 }), []);
  });

  it('fires when a late traffic status carries an earlier time than the warning', () => {
    const city = new City(SEED_RULE);
    assert.deepEqual(city.offer('flood_warning', { water_level_cm: 42 }, { min: 2 }), []);
    assert.equal(city.offer('traffic_status', {}, { min: 0, east: 300 }).length, 1);
  });

  it('does not fire 6 minutes apart, 700 m apart, at 20 cm of water or from another source', () => {
    const cases: Array<[string, () => City]> = [
      ['6 minutes apart', () => {
        const c = new City(SEED_RULE);
        c.offer('flood_warning', { water_level_cm: 42 });
        assert.deepEqual(c.offer('traffic_status', {}, { min: 6, north: 300 }), []);
        return c;
      }],
      ['6 minutes apart, other order', () => {
        const c = new City(SEED_RULE);
        c.offer('traffic_status', {}, { north: 300 });
        assert.deepEqual(c.offer('flood_warning', { water_level_cm: 42 }, { min: 6 }), []);
        return c;
      }],
      ['700 m apart', () => {
        const c = new City(SEED_RULE);
        c.offer('flood_warning', { water_level_cm: 42 });
        assert.deepEqual(c.offer('traffic_status', {}, { min: 2, north: 700 }), []);
        return c;
      }],
      ['20 cm of water', () => {
        const c = new City(SEED_RULE);
        c.offer('flood_warning', { water_level_cm: 20 });
        assert.deepEqual(c.offer('traffic_status', {}, { min: 2, north: 300 }), []);
        return c;
      }],
      ['another source', () => {
        const c = new City(SEED_RULE);
        c.offer('flood_warning', { water_level_cm: 42 }, { plugin: 'weather_model' });
        assert.deepEqual(c.offer('traffic_status', {}, { min: 2, north: 300 }), []);
        c.offer('traffic_status', {}, { min: 2, north: 300, plugin: 'citizen_reports' });
        return c;
      }],
      ['no location', () => {
        const c = new City(SEED_RULE);
        c.offer('flood_warning', { water_level_cm: 42 });
        assert.deepEqual(c.offer('traffic_status', {}, { min: 2, located: false }), []);
        return c;
      }],
    ];
    for (const [what, run] of cases) {
      const city = run();
      // And a second look does not find one either.
      assert.deepEqual(city.offer('traffic_status', {}, { min: 20, north: 5000 }), [], what);
    }
  });

  it('fires for each trigger the one traffic status completes', () => {
    const city = new City(SEED_RULE);
    city.offer('flood_warning', { water_level_cm: 42 }, { id: 'f1' });
    city.offer('flood_warning', { water_level_cm: 55 }, { id: 'f2', min: 1, east: 200 });
    city.offer('flood_warning', { water_level_cm: 55 }, { id: 'far', min: 1, east: 2000 });
    const matches = city.offer('traffic_status', {}, { min: 2, north: 100 });
    assert.deepEqual(matches.map((m) => m.dedupKey).sort(), ['flood_traffic_coordination:f1', 'flood_traffic_coordination:f2']);
  });

  it('uses each correlate_with entry with its own window and reach, and match_on', () => {
    const city = new City(`
correlation_rule:
  name: storm
  severity: critical
  trigger: { event_type: storm_warning }
  correlate_with:
    - { event_type: power_outage, time_window: 30m, location_radius: 2km }
    - { event_type: tree_down, time_window: 5m, same_zone: true }
  match_on: [district]
  actions: [{ type: notify }]
`);
    city.offer('storm_warning', { district: 'north' }, { id: 's1', zone: 'a' });
    assert.deepEqual(city.offer('power_outage', { district: 'north' }, { min: 20, east: 1500 }), []);
    assert.deepEqual(city.offer('tree_down', { district: 'north' }, { min: 8, zone: 'a' }), [], 'outside its 5 min window');
    assert.deepEqual(city.offer('tree_down', { district: 'south' }, { min: 4, zone: 'a' }), [], 'another district');
    assert.deepEqual(city.offer('tree_down', { district: 'north' }, { min: 4, zone: 'b' }), [], 'another zone');
    const [m] = city.offer('tree_down', { district: 'north' }, { min: 4, zone: 'a', located: false });
    assert.ok(m);
    assert.equal(m.severity, 'critical');
    assert.deepEqual(m.events.map((e) => e.role), ['trigger', 'correlate_with[0]', 'correlate_with[1]']);
    assert.match(m.explanation, /^storm: storm_warning from test_plugin \(district=north\) and power_outage .* 1\.5 km away, 20 min apart, tree_down .* in the same zone, 4 min apart$/);
  });

  it('does not depend on the wall clock: events from long ago (a replay) correlate as they did', () => {
    const city = new City(SEED_RULE, { now: () => Date.UTC(2031, 0, 1) });
    const old = -5 * 365 * 24 * 60; // five years before T0, in minutes
    city.offer('flood_warning', { water_level_cm: 42 }, { min: old });
    assert.equal(city.offer('traffic_status', {}, { min: old + 2, north: 300 }).length, 1);
    assert.deepEqual(city.cep.tick(Date.UTC(2031, 0, 1)), []);
  });

  it('ignores hits on rules it does not know (a screen older than the rules)', () => {
    const city = new City(SEED_RULE);
    const e = city.event('flood_warning', { water_level_cm: 42 });
    e.roles = [{ rule: 'gone', role: 0, values: {} }, { rule: 'flood_traffic_coordination', role: 7, values: {} }];
    assert.deepEqual(city.cep.offer(e), []);
  });
});

const SEQUENCE = `
sequence_rule:
  name: wrong_way_then_crash
  steps:
    - { event_type: wrong_way_driver }
    - { event_type: collision, condition: "vehicles_involved >= 2" }
  time_window: 10m
  location_radius: 1km
  actions: [{ type: notify, target: emergency_services }]
`;

describe('sequence', () => {
  it('fires when the steps come in order within the window, once per first step', () => {
    const city = new City(SEQUENCE);
    assert.deepEqual(city.offer('wrong_way_driver', {}, { id: 'w1' }), []);
    assert.deepEqual(city.offer('collision', { vehicles_involved: 1 }, { min: 2 }), []);
    const [m, ...more] = city.offer('collision', { vehicles_involved: 3 }, { id: 'c1', min: 4, north: 600 });
    assert.equal(more.length, 0);
    assert.equal(m!.kind, 'sequence');
    assert.equal(m!.dedupKey, 'wrong_way_then_crash:w1');
    assert.deepEqual(m!.events.map((e) => [e.eventId, e.role]), [['w1', 'steps[0]'], ['c1', 'steps[1]']]);
    assert.match(m!.explanation, /^wrong_way_then_crash: wrong_way_driver from test_plugin, then collision from test_plugin \(vehicles_involved=3\) 4 min later/);
    assert.deepEqual(city.offer('collision', { vehicles_involved: 2 }, { min: 5 }), [], 'the first step completed already');
  });

  it('fires when the steps arrive out of order but happened in order', () => {
    const city = new City(SEQUENCE);
    assert.deepEqual(city.offer('collision', { vehicles_involved: 2 }, { min: 3 }), []);
    assert.equal(city.offer('wrong_way_driver', {}, { min: 1 }).length, 1);
  });

  it('does not fire for steps in the wrong order, too far apart in time or place', () => {
    const city = new City(SEQUENCE);
    city.offer('collision', { vehicles_involved: 2 }, { min: 0 });
    assert.deepEqual(city.offer('wrong_way_driver', {}, { min: 1 }), [], 'collision before the wrong-way driver');
    assert.deepEqual(city.offer('collision', { vehicles_involved: 2 }, { min: 12 }), [], 'after the window');
    assert.deepEqual(city.offer('collision', { vehicles_involved: 2 }, { min: 2, north: 1500 }), [], 'too far');
  });
});

const COUNT = `
count_rule:
  name: pothole_cluster
  event_type: pothole_report
  count: 5
  time_window: 10m
  location_radius: 200m
  actions: [{ type: create_work_order }]
`;

describe('count', () => {
  it('ten events with count 5 make two matches, each using its events up', () => {
    const city = new City(COUNT);
    const matches: RuleMatch[] = [];
    for (let i = 0; i < 10; i++) {
      const m = city.offer('pothole_report', {}, { id: `p${i}`, min: i * 0.5, north: (i % 3) * 40, east: (i % 2) * 30 });
      matches.push(...m);
      if (i !== 4 && i !== 9) assert.equal(m.length, 0, `event ${i}`);
    }
    assert.equal(matches.length, 2);
    assert.deepEqual(matches[0]!.events.map((e) => e.eventId), ['p0', 'p1', 'p2', 'p3', 'p4']);
    assert.deepEqual(matches[1]!.events.map((e) => e.eventId), ['p5', 'p6', 'p7', 'p8', 'p9']);
    assert.equal(matches[0]!.dedupKey, 'pothole_cluster:p0,p1,p2,p3,p4');
    assert.equal(matches[0]!.triggerEventId, 'p0');
    assert.match(matches[0]!.explanation, /^pothole_cluster: 5 pothole_report events from test_plugin within 200 m over 2 min/);
    assert.equal(city.cep.stats().entries, 0);
  });

  it('does not fire for four, for one too far or for a spread longer than the window', () => {
    const city = new City(COUNT);
    for (let i = 0; i < 4; i++) assert.deepEqual(city.offer('pothole_report', {}, { min: i }), []);
    assert.deepEqual(city.offer('pothole_report', {}, { min: 4, north: 300 }), [], 'fifth is too far');
    const spread = new City(COUNT);
    for (let i = 0; i < 5; i++) assert.deepEqual(spread.offer('pothole_report', {}, { min: i * 4 }), [], `spread ${i}`);
  });

  it('a replayed event is not counted twice', () => {
    const city = new City(COUNT);
    for (let i = 0; i < 5; i++) assert.deepEqual(city.offer('pothole_report', {}, { id: 'same', min: i }), []);
  });

  it('counts near the new event among 50,000 windowed events (speed is for the benchmark, not this test)', () => {
    const city = new City(COUNT.replace('count: 5', 'count: 3').replace('200m', '20m'), { maxEntriesPerRole: 60_000 });
    let state = 7;
    const rand = (): number => {
      // mulberry32: deterministic, so the test always sees the same city
      state = (state + 0x6d2b79f5) | 0;
      let t = Math.imul(state ^ (state >>> 15), 1 | state);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
    };
    // 50,000 reports scattered over 50 km × 50 km in 9 minutes: few have two neighbours within 20 m.
    let fired = 0;
    for (let i = 0; i < 50_000; i++) {
      fired += city.offer('pothole_report', {}, { min: (i / 50_000) * 9, north: rand() * 50_000, east: rand() * 50_000 }).length;
    }
    const held = city.cep.stats().entries;
    assert.ok(held > 45_000, `held ${held}`);
    city.offer('pothole_report', {}, { id: 'x1', min: 9, north: -1000, east: -1000 });
    const m = city.offer('pothole_report', {}, { id: 'x2', min: 9, north: -1010, east: -1000 });
    assert.deepEqual(m, []);
    const [hit] = city.offer('pothole_report', {}, { id: 'x3', min: 9, north: -1000, east: -1012 });
    assert.deepEqual(hit!.events.map((e) => e.eventId), ['x1', 'x2', 'x3']);
    assert.ok(fired < 50, `fired ${fired}`);
  });
});

const ABSENCE = `
absence_rule:
  name: ambulance_not_dispatched
  trigger: { event_type: cardiac_arrest_report }
  expect: { event_type: ambulance_dispatched }
  time_window: 3m
  same_zone: true
  match_on: [incident_id]
  actions: [{ type: escalate, target: district_layer }]
`;

describe('absence', () => {
  it('nothing fires when the expected event comes in time', () => {
    const city = new City(ABSENCE);
    city.offer('cardiac_arrest_report', { incident_id: 'i1' }, { zone: 'z1' });
    city.offer('ambulance_dispatched', { incident_id: 'i1' }, { zone: 'z1', min: 2 });
    assert.deepEqual(city.cep.tick(T0 + 10 * MIN), []);
    assert.equal(city.cep.stats().byRule.ambulance_not_dispatched, 1, 'only the dispatch is kept');
  });

  it('fires at the first tick after the deadline when it never comes, and only once', () => {
    const city = new City(ABSENCE);
    city.offer('cardiac_arrest_report', { incident_id: 'i1' }, { id: 'a1', zone: 'z1', severity: 'critical' });
    city.offer('ambulance_dispatched', { incident_id: 'i2' }, { zone: 'z1', min: 1 }); // another incident
    city.offer('ambulance_dispatched', { incident_id: 'i1' }, { zone: 'z2', min: 1 }); // another zone
    assert.deepEqual(city.cep.tick(T0 + 2 * MIN), []);
    const [m, ...more] = city.cep.tick(T0 + 3 * MIN);
    assert.equal(more.length, 0);
    assert.equal(m!.kind, 'absence');
    assert.equal(m!.dedupKey, 'ambulance_not_dispatched:a1');
    assert.equal(m!.severity, 'critical');
    assert.deepEqual(m!.events.map((e) => [e.eventId, e.role]), [['a1', 'trigger']]);
    assert.equal(
      m!.explanation,
      'ambulance_not_dispatched: cardiac_arrest_report from test_plugin (incident_id=i1) was not followed by ambulance_dispatched within 3 min',
    );
    assert.deepEqual(city.cep.tick(T0 + 4 * MIN), []);
    assert.deepEqual(city.offer('ambulance_dispatched', { incident_id: 'i1' }, { zone: 'z1', min: 5 }), []);
  });

  it('a late expected event that happened after the trigger still closes it', () => {
    const city = new City(ABSENCE);
    city.offer('ambulance_dispatched', { incident_id: 'i1' }, { zone: 'z1', min: 1 });
    city.offer('cardiac_arrest_report', { incident_id: 'i1' }, { zone: 'z1', min: 0 });
    assert.deepEqual(city.cep.tick(T0 + 10 * MIN), []);
  });

  it('fires by event time when later events show the deadline has passed, though the wall clock has not', () => {
    // A backlog or replay: events come faster than real time, so their receipt times are all
    // "now" while their event times move on; the watermark (newest event time, less the
    // lateness allowance) decides.
    const city = new City(ABSENCE, { latenessMs: MIN });
    const now = T0 + 10 * MIN;
    const at = (min: number, id: string, type: string) => ({ ...city.event(type, { incident_id: id }, { id: `${type}-${min}`, zone: 'z1', min }), receivedAtMs: now });
    city.cep.offer(at(0, 'i1', 'cardiac_arrest_report'));
    city.cep.offer(at(3.5, 'i9', 'ambulance_dispatched')); // another incident: the stream moves on
    assert.deepEqual(city.cep.tick(now), [], 'within the lateness allowance');
    city.cep.offer(at(4.5, 'i9', 'ambulance_dispatched'));
    const fired = city.cep.tick(now);
    assert.deepEqual(fired.map((m) => m.dedupKey), ['ambulance_not_dispatched:cardiac_arrest_report-0']);
  });

  it('an expected event before the trigger does not close it', () => {
    const city = new City(ABSENCE);
    city.offer('ambulance_dispatched', { incident_id: 'i1' }, { zone: 'z1', min: 0 });
    city.offer('cardiac_arrest_report', { incident_id: 'i1' }, { zone: 'z1', min: 1 });
    assert.equal(city.cep.tick(T0 + 10 * MIN).length, 1);
  });
});

describe('several rules and roles', () => {
  it('one event plays roles in several rules and several roles of one rule', () => {
    const city = new City(`${SEED_RULE}
---
count_rule:
  name: flood_warnings_pile_up
  event_type: flood_warning
  count: 2
  time_window: 10m
  actions: [{ type: log }]
---
correlation_rule:
  name: two_floods
  trigger: { event_type: flood_warning }
  correlate_with: [{ event_type: flood_warning, time_window: 10m, location_radius: 1km }]
  actions: [{ type: log }]
`);
    assert.deepEqual(city.offer('flood_warning', { water_level_cm: 42 }, { id: 'f1' }), []);
    const matches = city.offer('flood_warning', { water_level_cm: 42 }, { id: 'f2', min: 1, north: 100 });
    assert.deepEqual(matches.map((m) => m.dedupKey).sort(), ['flood_warnings_pile_up:f1,f2', 'two_floods:f1', 'two_floods:f2']);
    assert.equal(city.offer('traffic_status', {}, { min: 2 }).length, 2, 'the seed rule fires for both warnings');
  });
});

describe('bounded windows', () => {
  it('keeps maxEntriesPerRole entries per role and counts the evicted', () => {
    const city = new City(SEED_RULE, { maxEntriesPerRole: 1000 });
    for (let i = 0; i < 5000; i++) city.offer('traffic_status', {}, { min: i / 5000, north: i % 400 });
    assert.deepEqual(city.cep.stats(), { rules: 1, entries: 1000, evicted: 4000, byRule: { flood_traffic_coordination: 1000 } });
    // The newest are kept: a warning next to the last of them still correlates.
    assert.equal(city.offer('flood_warning', { water_level_cm: 42 }, { min: 1 }).length, 1);
  });

  it('drops entries older than the window (plus lateness) as event time moves on', () => {
    const city = new City(SEED_RULE, { latenessMs: 0 });
    for (let i = 0; i < 10; i++) city.offer('traffic_status', {}, { min: i });
    assert.equal(city.cep.stats().entries, 6); // minutes 4..9 are within 5 minutes of minute 9
    city.offer('traffic_status', {}, { min: 30 });
    assert.deepEqual(city.cep.tick(T0 + 30 * MIN), []);
    assert.equal(city.cep.stats().entries, 1);
  });

  it('an event time far past its receipt does not expire the windows', () => {
    const city = new City(SEED_RULE);
    city.offer('traffic_status', {}, { north: 300 });
    const future = city.event('traffic_status', {}, { min: 600 });
    future.receivedAtMs = T0;
    city.cep.offer(future);
    assert.equal(city.offer('flood_warning', { water_level_cm: 42 }, { min: 1 }).length, 1);
  });
});

describe('setRules', () => {
  it('keeps the windows of unchanged rules and takes their new actions; starts changed rules empty', () => {
    const city = new City(`${SEED_RULE}---\n${COUNT}`);
    city.offer('traffic_status', {}, { north: 300 });
    city.offer('pothole_report', {}, {});
    assert.deepEqual(city.cep.stats().byRule, { flood_traffic_coordination: 1, pothole_cluster: 1 });

    const [seed, count] = parseRuleDocuments(`${SEED_RULE.replace('"traffic_reroute"', '"notify"')}---\n${COUNT.replace('10m', '20m')}`, null);
    city.cep.setRules([seed!, count!]);
    assert.deepEqual(city.cep.stats().byRule, { flood_traffic_coordination: 1, pothole_cluster: 0 });
    const [m] = city.offer('flood_warning', { water_level_cm: 42 }, { min: 2 });
    assert.equal(m!.actions[0]!.type, 'notify');

    city.cep.setRules([count!]);
    assert.deepEqual(city.cep.stats(), { rules: 1, entries: 0, evicted: 0, byRule: { pothole_cluster: 0 } });
    city.cep.setRules([{ ...count!, enabled: false }]);
    assert.equal(city.cep.stats().rules, 0);
  });
});

describe('geo', () => {
  it('measures city distances to well under 0.5%', () => {
    // Reference: Vincenty's inverse formula on WGS84, to the centimetre.
    const cases: Array<[number, number, number, number, number]> = [
      [53.55, 9.99, 53.55, 10.0, 662.81], // 0.01° of longitude at Hamburg
      [53.55, 9.99, 53.56, 9.99, 1112.97], // 0.01° of latitude at Hamburg
      [0, 0, 0, 0.01, 1113.19],
      [-33.87, 151.21, -33.8, 151.3, 11_387.95],
      [40.7, -74.0, 40.9, -73.7, 33_678.14],
      [60, 10, 60.2, 10.3, 27_839.86],
    ];
    for (const [a, b, c, d, expected] of cases) {
      const m = distanceM(a, b, c, d);
      assert.ok(Math.abs(m - expected) / expected < 0.0005, `${a},${b} → ${c},${d}: ${m} vs ${expected}`);
    }
  });
});
