import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { haversineM } from '../../src/geo/geodesy.js';
import { planTransfers, type PoolHolding, type PoolRequest } from '../../src/hierarchy/resource-pool.js';

// Tamil Nadu's cities, at their centres.
const AT = {
  chennai: { lat: 13.0827, lng: 80.2707 },
  vellore: { lat: 12.9165, lng: 79.1325 },
  madurai: { lat: 9.9252, lng: 78.1198 },
  coimbatore: { lat: 11.0168, lng: 76.9558 },
  salem: { lat: 11.6643, lng: 78.146 },
  trichy: { lat: 10.7905, lng: 78.7047 },
};
const km = (a: { lat: number; lng: number }, b: { lat: number; lng: number }): number => Math.round(haversineM(a.lng, a.lat, b.lng, b.lat) / 100) / 10;

const boats = (city: keyof typeof AT, available: number, reserve: number, located = true): PoolHolding =>
  ({ city, resource_type: 'rescue_boats', available, reserve, ...(located ? { location: AT[city] } : {}) });

describe('planTransfers', () => {
  const holdings: PoolHolding[] = [
    boats('chennai', 5, 5),
    boats('vellore', 12, 4), // 8 to spare, 125 km from Chennai
    boats('madurai', 25, 5), // 20 to spare, but Madurai asks for boats itself
    boats('coimbatore', 40, 10), // 30 to spare, 420 km from Chennai
    boats('salem', 3, 5), // below its reserve already
    { city: 'trichy', resource_type: 'medical_teams', available: 2, reserve: 2, location: AT.trichy },
  ];
  const requests: PoolRequest[] = [
    { request_id: 'trichy-boats', city: 'trichy', resource_type: 'rescue_boats', quantity: 30, priority: 'low' },
    { request_id: 'chennai-boats', city: 'chennai', resource_type: 'rescue_boats', quantity: 30, priority: 'critical' },
    { request_id: 'madurai-boats', city: 'madurai', resource_type: 'rescue_boats', quantity: 5, priority: 'medium' },
  ];

  it('serves the most urgent first, from the state pool, then the nearest surplus, and reports what is left unmet', () => {
    const before = JSON.stringify([requests, holdings]);
    const plan = planTransfers(requests, holdings, { rescue_boats: 10 }, { statePoolLocation: AT.trichy });
    assert.deepEqual(plan.transfers.map((t) => [t.request_id, t.from, t.to, t.quantity, t.distance_km]), [
      ['chennai-boats', 'state_pool', 'chennai', 10, km(AT.trichy, AT.chennai)],
      ['chennai-boats', 'vellore', 'chennai', 8, km(AT.vellore, AT.chennai)],
      // Madurai is nearer Chennai than Coimbatore, but has asked for boats itself.
      ['chennai-boats', 'coimbatore', 'chennai', 12, km(AT.coimbatore, AT.chennai)],
      ['madurai-boats', 'coimbatore', 'madurai', 5, km(AT.coimbatore, AT.madurai)],
      // Coimbatore's last 13 above its reserve of 10; Salem is below its own, Chennai gives nothing.
      ['trichy-boats', 'coimbatore', 'trichy', 13, km(AT.coimbatore, AT.trichy)],
    ]);
    assert.ok(plan.transfers.every((t) => t.resource_type === 'rescue_boats' && t.from !== t.to));
    assert.deepEqual(plan.unmet, [{ request_id: 'trichy-boats', resource_type: 'rescue_boats', quantity: 17 }]);
    assert.equal(JSON.stringify([requests, holdings]), before, 'the inputs are not changed');
    assert.ok(km(AT.vellore, AT.chennai) > 100 && km(AT.vellore, AT.chennai) < 150, 'Vellore is 125 km from Chennai by great circle');
  });

  it('takes the largest surplus first when the requester is not located, and unlocated donors after located ones', () => {
    const unlocated = [boats('vellore', 12, 4, false), boats('madurai', 25, 5, false), boats('coimbatore', 40, 10, false), boats('salem', 25, 5, false)];
    const request: PoolRequest = { request_id: 'r', city: 'chennai', resource_type: 'rescue_boats', quantity: 55, priority: 'high' };
    const plan = planTransfers([request], unlocated, {});
    // Coimbatore 30, then Madurai and Salem 20 each (the smaller id first), then Vellore.
    assert.deepEqual(plan.transfers.map((t) => [t.from, t.quantity, t.distance_km]), [['coimbatore', 30, null], ['madurai', 20, null], ['salem', 5, null]]);
    assert.deepEqual(plan.unmet, []);

    const mixed = [boats('vellore', 12, 4, false), boats('coimbatore', 12, 4)];
    const located = planTransfers([{ ...request, quantity: 10 }], mixed, {}, { cityLocations: { chennai: AT.chennai } });
    assert.deepEqual(located.transfers.map((t) => [t.from, t.quantity, t.distance_km]), [['coimbatore', 8, km(AT.coimbatore, AT.chennai)], ['vellore', 2, null]]);
  });

  it('leaves a request it cannot serve at all unmet, with no transfers, and types apart', () => {
    const plan = planTransfers([{ request_id: 'm', city: 'chennai', resource_type: 'medical_teams', quantity: 3, priority: 'critical' }], holdings, { rescue_boats: 10 });
    assert.deepEqual(plan, { transfers: [], unmet: [{ request_id: 'm', resource_type: 'medical_teams', quantity: 3 }] });
  });

  it('refuses what it cannot plan with', () => {
    const request: PoolRequest = { request_id: 'r', city: 'chennai', resource_type: 'rescue_boats', quantity: 1, priority: 'high' };
    assert.throws(() => planTransfers([{ ...request, priority: 'urgent' as 'high' }], holdings, {}), /priority must be one of critical, high, medium, low/);
    assert.throws(() => planTransfers([{ ...request, quantity: -1 }], holdings, {}), RangeError);
    assert.throws(() => planTransfers([request], [...holdings, boats('vellore', 1, 0)], {}), /"vellore"'s "rescue_boats" is held twice/);
    assert.throws(() => planTransfers([request], holdings, { rescue_boats: Number.NaN }), RangeError);
  });
});
