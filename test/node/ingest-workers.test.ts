import assert from 'node:assert/strict';
import { test } from 'node:test';
import { call, startTestNode } from '../helpers/node.js';
import { seedRegistration, speedingEvent } from '../helpers/fixtures.js';

const PLUGIN = 'traffic-violation-detector-v2';

/** A zone file of one square neighbourhood around a point, for checking replicas follow changes. */
function squareZone(id: string, lng: number, lat: number) {
  const d = 0.01;
  return {
    type: 'FeatureCollection',
    features: [
      {
        type: 'Feature',
        properties: { zone_id: id, name: id, level: 'neighbourhood' },
        geometry: { type: 'Polygon', coordinates: [[[lng - d, lat - d], [lng + d, lat - d], [lng + d, lat + d], [lng - d, lat + d], [lng - d, lat - d]]] },
      },
    ],
  };
}

for (const workers of [0, 2]) {
  test(`with ${workers} ingest workers: plugins, versions and zones changed at run time apply to the next event`, async (t) => {
    const node = await startTestNode(t, { ingest: { workers } as any });
    const key = (await call(node, 'POST', '/api/v1/plugin/register', { headers: node.admin, body: seedRegistration() })).body.api_key;
    // Batches of 40 (about 25 KB): large enough to be prepared by a worker when there are any.
    const post = async (event: Record<string, unknown>, version?: string) => {
      const batch = Array.from({ length: 40 }, (_, k) => ({ ...event, event_id: `${event.event_id}-${k}` }));
      assert.ok(JSON.stringify(batch).length > 16 * 1024);
      const res = await call(node, 'POST', `/webhook/${PLUGIN}${version ? `?version=${version}` : ''}`, { headers: { 'x-api-key': key }, body: batch });
      return { status: res.status, body: res.body.results?.[0] ?? res.body };
    };

    const first = await post(speedingEvent({ event_id: `w${workers}-a` }));
    assert.equal(first.status, 202, JSON.stringify(first.body));
    assert.equal(first.body.zone_id, 'chennai-w119', 'the demo city is loaded when no zones are configured');

    // A new version that requires a field the old one did not: the next event is checked by it.
    const v2 = seedRegistration();
    v2.plugin_manifest.version = '2.4.0';
    v2.output_schema.fields.camera_id = { type: 'string', required: true };
    assert.equal((await call(node, 'POST', '/api/v1/plugin/register', { headers: node.admin, body: v2 })).status, 201);
    const missing = await post(speedingEvent({ event_id: `w${workers}-b` }));
    assert.equal(missing.status, 422);
    assert.match(missing.body.error.message, /camera_id: required/);
    assert.equal(missing.body.status, 'rejected');
    const old = await post(speedingEvent({ event_id: `w${workers}-c` }), '2.3.1');
    assert.equal(old.status, 202, 'an older version can still be named');

    // Replaced zones: the same point now falls in the new zone.
    const replaced = await call(node, 'PUT', '/api/v1/zones', { headers: node.admin, body: squareZone('test-square', 80.264, 13.046) });
    assert.equal(replaced.status, 200, JSON.stringify(replaced.body));
    const after = await post(speedingEvent({ event_id: `w${workers}-d`, camera_id: 'cam-1' }));
    assert.equal(after.status, 202, JSON.stringify(after.body));
    assert.equal(after.body.zone_id, 'test-square');
  });
}
