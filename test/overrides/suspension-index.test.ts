import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { loadZoneFile } from '../../src/geo/zone-file.js';
import { ZoneTree } from '../../src/geo/zones.js';
import { SuspensionIndex, type ActiveSuspension } from '../../src/overrides/suspension-index.js';
import { CHENNAI_ZONES } from '../helpers/fixtures.js';

const suspension = (kind: ActiveSuspension['kind'], target: string, id = `s-${kind}-${target}`): ActiveSuspension => ({
  suspensionId: id,
  kind,
  target,
  reason: 'test',
  createdBy: 'admin-token',
  createdAt: new Date(),
});

describe('SuspensionIndex.holdOf', () => {
  let tree: ZoneTree;
  before(async () => {
    tree = new ZoneTree(await loadZoneFile(CHENNAI_ZONES));
  });
  const subject = { ruleId: 'flood_traffic_coordination', pluginId: 'flood_prediction_model', zoneId: 'chennai-w119' };

  test('holds nothing while nothing is suspended', () => {
    assert.equal(new SuspensionIndex(() => tree).holdOf(subject), null);
  });

  test('a rule, a plugin, the zone itself or any ancestor zone holds the action', () => {
    for (const [kind, target] of [['rule', 'flood_traffic_coordination'], ['plugin', 'flood_prediction_model'], ['zone', 'chennai-w119'], ['zone', 'chennai-z09'], ['zone', 'chennai']] as const) {
      const index = new SuspensionIndex(() => tree);
      index.add(suspension(kind, target));
      assert.equal(index.holdOf(subject)?.target, target, `${kind} ${target}`);
    }
  });

  test('other rules, plugins, sibling zones and unzoned decisions are not held by a zone', () => {
    const index = new SuspensionIndex(() => tree);
    index.add(suspension('rule', 'another_rule'));
    index.add(suspension('plugin', 'another_plugin'));
    index.add(suspension('zone', 'chennai-z01'));
    assert.equal(index.holdOf(subject), null);
    assert.equal(index.holdOf({ ...subject, zoneId: null }), null);
    assert.equal(index.holdOf({ ...subject, zoneId: 'zone-not-in-the-tree' }), null);
    assert.equal(index.holdOf({ ...subject, zoneId: 'chennai-w001' })?.target, 'chennai-z01');
  });

  test('remove takes out only that suspension, and the count follows', () => {
    const index = new SuspensionIndex(() => tree);
    const first = suspension('zone', 'chennai-z09', 'first');
    index.add(first);
    index.remove(suspension('zone', 'chennai-z09', 'a-different-one'));
    assert.equal(index.size, 1);
    index.remove(first);
    assert.equal(index.size, 0);
    assert.equal(index.holdOf(subject), null);
  });
});
