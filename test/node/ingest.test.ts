import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { encodeProtobufEvents } from '../../src/events/protobuf-codec.js';
import { call, startTestNode, suiteCleanup } from '../helpers/node.js';
import { CHENNAI_ZONES, speedingEvent, seedRegistration, TEYNAMPET } from '../helpers/fixtures.js';

const PLUGIN = 'traffic-violation-detector-v2';

describe('ingestion over HTTP', () => {
  let node: Awaited<ReturnType<typeof startTestNode>>;
  let key: string;
  const post = (raw: string | Uint8Array, contentType = 'application/json', headers: Record<string, string> = { 'x-api-key': key }, path = `/webhook/${PLUGIN}`) =>
    call(node, 'POST', path, { raw, contentType, headers });
  const deadLetters = async (code: string) =>
    (await call(node, 'GET', `/api/v1/dead-letters?code=${code}`, { headers: node.admin })).body.dead_letters as any[];

  const suite = suiteCleanup();
  after(() => suite.run());
  before(async () => {
    node = await startTestNode(suite, { zonesFile: CHENNAI_ZONES, ingest: { maxBodyBytes: 64 * 1024 } as any });
    const res = await call(node, 'POST', '/api/v1/plugin/register', { headers: node.admin, body: seedRegistration() });
    key = res.body.api_key;
  });

  test('a valid speeding event is stored with its zone and a tokenized plate', async () => {
    const res = await post(JSON.stringify(speedingEvent()));
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(res.body.status, 'accepted');
    assert.equal(res.body.zone_id, 'chennai-w119');
    assert.match(res.body.event_id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);

    const stored = await call(node, 'GET', `/api/v1/events/${res.body.event_id}`, { headers: node.admin });
    assert.equal(stored.status, 200);
    assert.equal(stored.body.zone_id, 'chennai-w119');
    assert.equal(stored.body.plugin_id, PLUGIN);
    assert.equal(stored.body.plugin_version, '2.3.1');
    assert.equal(stored.body.event_type, 'violation_event');
    assert.equal(stored.body.severity, 'high');
    assert.equal(new Date(stored.body.timestamp).toISOString(), '2026-11-22T08:30:00.000Z');
    assert.deepEqual(stored.body.location, { latitude: TEYNAMPET.latitude, longitude: TEYNAMPET.longitude });
    const plate = stored.body.payload.vehicle_data.license_plate;
    assert.match(plate, /^tok_[A-Za-z0-9_-]{22}$/);
    assert.equal(JSON.stringify(stored.body).includes('TN09AB1234'), false, 'the raw plate is nowhere in what is stored');
    assert.equal(stored.body.payload.vehicle_data.speed_kmh, 85);

    // The same plate gives the same token, so repeat offenders link without the plate.
    const again = await post(JSON.stringify(speedingEvent({ event_id: 'vendor-42' })));
    assert.equal(again.body.event_id, 'vendor-42');
    const second = await call(node, 'GET', '/api/v1/events/vendor-42', { headers: node.admin });
    assert.equal(second.body.payload.vehicle_data.license_plate, plate);
  });

  test('schema violation → 422 naming the field and rule, kept as a dead letter', async () => {
    const res = await post(JSON.stringify(speedingEvent({ confidence_score: 1.7, event_id: 'bad-confidence' })));
    assert.equal(res.status, 422);
    assert.equal(res.body.error.code, 'CITY_ERR_EVENT_INVALID');
    assert.match(res.body.error.message, /confidence_score: must be <= 1/);
    const missing = await post(JSON.stringify({ ...speedingEvent(), location: { longitude: 80.26 } }));
    assert.equal(missing.status, 422);
    assert.match(missing.body.error.message, /location\.latitude: required/);
    const letters = await deadLetters('CITY_ERR_EVENT_INVALID');
    const kept = letters.find((l) => l.payload.includes('bad-confidence'));
    assert.ok(kept, 'the rejected event is in the dead-letter table');
    assert.equal(kept.plugin_id, PLUGIN);
    assert.equal(kept.source, 'http');
    assert.match(kept.reason, /confidence_score/);
  });

  test('malformed JSON and protobuf → 400, kept', async () => {
    const json = await post('{"timestamp": "2026-11-22T08:30:00Z", ');
    assert.equal(json.status, 400);
    assert.equal(json.body.error.code, 'CITY_ERR_PAYLOAD_MALFORMED');
    const proto = await post(Buffer.from('definitely not protobuf \xff\xff\xff'), 'application/x-protobuf');
    assert.equal(proto.status, 400);
    assert.equal(proto.body.error.code, 'CITY_ERR_PAYLOAD_MALFORMED');
    const letters = await deadLetters('CITY_ERR_PAYLOAD_MALFORMED');
    assert.ok(letters.some((l) => l.payload === '{"timestamp": "2026-11-22T08:30:00Z", '));
    assert.ok(letters.some((l) => l.content_type === 'application/x-protobuf'));
  });

  test('unknown or disabled plugin → 404; missing or bad key → 401; all kept', async () => {
    const unknown = await post(JSON.stringify(speedingEvent()), 'application/json', node.admin, '/webhook/no-such-plugin');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error.code, 'CITY_ERR_PLUGIN_NOT_FOUND');
    // Another plugin's key is refused before anything about the plugin is said.
    const foreign = await post(JSON.stringify(speedingEvent()), 'application/json', { 'x-api-key': key }, '/webhook/no-such-plugin');
    assert.equal(foreign.status, 403);
    assert.equal(foreign.body.error.code, 'CITY_ERR_AUTH_FORBIDDEN');

    const noKey = await post(JSON.stringify(speedingEvent()), 'application/json', {});
    assert.equal(noKey.status, 401);
    assert.equal(noKey.body.error.code, 'CITY_ERR_AUTH_KEY_MISSING');
    const badKey = await post(JSON.stringify(speedingEvent()), 'application/json', { 'x-api-key': 'pk_wrong' });
    assert.equal(badKey.status, 401);
    assert.equal(badKey.body.error.code, 'CITY_ERR_AUTH_KEY_INVALID');

    await call(node, 'POST', `/api/v1/plugins/${PLUGIN}/disable`, { headers: node.admin });
    const disabled = await post(JSON.stringify(speedingEvent()));
    await call(node, 'POST', `/api/v1/plugins/${PLUGIN}/enable`, { headers: node.admin });
    assert.equal(disabled.status, 404);
    assert.equal(disabled.body.error.code, 'CITY_ERR_PLUGIN_DISABLED');
    const back = await post(JSON.stringify(speedingEvent()));
    assert.equal(back.status, 202);

    assert.equal((await deadLetters('CITY_ERR_PLUGIN_NOT_FOUND')).length, 1);
    assert.equal((await deadLetters('CITY_ERR_AUTH_FORBIDDEN')).length, 1);
    assert.equal((await deadLetters('CITY_ERR_AUTH_KEY_MISSING')).length, 1);
    assert.equal((await deadLetters('CITY_ERR_AUTH_KEY_INVALID')).length, 1);
    assert.equal((await deadLetters('CITY_ERR_PLUGIN_DISABLED')).length, 1);
  });

  test('over the size limit → 413 and the first bytes are kept; unknown type → 415', async () => {
    const big = JSON.stringify(Array.from({ length: 400 }, () => speedingEvent()));
    assert.ok(big.length > 64 * 1024);
    const res = await post(big);
    assert.equal(res.status, 413);
    assert.equal(res.body.error.code, 'CITY_ERR_PAYLOAD_TOO_LARGE');
    const [letter] = await deadLetters('CITY_ERR_PAYLOAD_TOO_LARGE');
    assert.equal(letter.payload_size, Buffer.byteLength(big));
    assert.equal(letter.truncated, true, 'the bytes beyond the limit were not kept');
    assert.equal(letter.payload, big.slice(0, 64 * 1024), 'the first limit-worth of bytes is kept');

    const xml = await post('<event/>', 'application/xml');
    assert.equal(xml.status, 415);
    assert.equal(xml.body.error.code, 'CITY_ERR_MEDIA_TYPE_UNSUPPORTED');
  });

  test('a mixed batch stores exactly its valid items and answers per item', async () => {
    const batch = [
      speedingEvent({ event_id: 'mix-1' }),
      speedingEvent({ event_id: 'mix-2', severity: 'extreme' }),
      speedingEvent({ event_id: 'mix-3' }),
      'not an object',
      speedingEvent({ event_id: 'mix-5', vehicle_data: { vehicle_type: 'car' } }),
    ];
    const res = await post(JSON.stringify(batch));
    assert.equal(res.status, 207);
    assert.equal(res.body.accepted, 2);
    assert.equal(res.body.rejected, 3);
    assert.deepEqual(res.body.results.map((r: any) => r.status), ['accepted', 'rejected', 'accepted', 'rejected', 'rejected']);
    assert.match(res.body.results[1].error.message, /severity: must be one of low, medium, high, critical/);
    assert.match(res.body.results[4].error.message, /vehicle_data\.license_plate: required/);
    for (const id of ['mix-1', 'mix-3']) assert.equal((await call(node, 'GET', `/api/v1/events/${id}`, { headers: node.admin })).status, 200);
    for (const id of ['mix-2', 'mix-5']) assert.equal((await call(node, 'GET', `/api/v1/events/${id}`, { headers: node.admin })).status, 404);
  });

  test('text PostgreSQL cannot store (NUL, lone surrogates) is refused per item, not per commit', async () => {
    const batch = [
      speedingEvent({ event_id: 'nul-ok-1' }),
      speedingEvent({ event_id: 'nul-bad', location: { ...TEYNAMPET, address: 'Anna Salai\u0000' } }),
      speedingEvent({ event_id: 'surrogate-bad', location: { ...TEYNAMPET, address: '\ud800' } }),
      speedingEvent({ event_id: 'ctrl\u0001id' }),
      speedingEvent({ event_id: 'nul-ok-2', location: { ...TEYNAMPET, address: 'Teynampet 😀' } }),
    ];
    const res = await post(JSON.stringify(batch));
    assert.equal(res.status, 207, JSON.stringify(res.body));
    assert.deepEqual(res.body.results.map((r: any) => r.status), ['accepted', 'rejected', 'rejected', 'rejected', 'accepted']);
    assert.match(res.body.results[1].error.message, /NUL character or an unpaired UTF-16 surrogate/);
    assert.match(res.body.results[3].error.message, /event_id: must be 1 to 200 characters without control characters/);
    const ok = await call(node, 'GET', '/api/v1/events/nul-ok-2', { headers: node.admin });
    assert.equal(ok.body.payload.location.address, 'Teynampet 😀');
  });

  test('gzip-encoded batches are accepted; a bomb is refused by its decompressed size; corrupt gzip is 400', async () => {
    const body = gzipSync(JSON.stringify([speedingEvent({ event_id: 'gz-1' }), speedingEvent({ event_id: 'gz-2' })]));
    const ok = await post(body, 'application/json', { 'x-api-key': key, 'content-encoding': 'gzip' });
    assert.equal(ok.status, 202, JSON.stringify(ok.body));
    assert.equal(ok.body.accepted, 2);
    const bomb = gzipSync(Buffer.alloc(10 * 1024 * 1024, 0x20)); // 10 MiB of spaces, ~10 KiB compressed
    const refused = await post(bomb, 'application/json', { 'x-api-key': key, 'content-encoding': 'gzip' });
    assert.equal(refused.status, 413);
    const corrupt = await post(Buffer.from('not gzip'), 'application/json', { 'x-api-key': key, 'content-encoding': 'gzip' });
    assert.equal(corrupt.status, 400);
    assert.equal(corrupt.body.error.code, 'CITY_ERR_PAYLOAD_MALFORMED');
    const brotli = await post(body, 'application/json', { 'x-api-key': key, 'content-encoding': 'br' });
    assert.equal(brotli.status, 415);
  });

  test('NDJSON answers per line, a broken line included', async () => {
    const body = [JSON.stringify(speedingEvent({ event_id: 'nd-1' })), '{broken', JSON.stringify(speedingEvent({ event_id: 'nd-3' }))].join('\n') + '\n';
    const res = await post(body, 'application/x-ndjson');
    assert.equal(res.status, 207);
    assert.deepEqual(res.body.results.map((r: any) => r.status), ['accepted', 'rejected', 'accepted']);
    assert.equal(res.body.results[1].error.code, 'CITY_ERR_PAYLOAD_MALFORMED');
  });

  test('protobuf Event and EventBatch are accepted by content type', async () => {
    const one = encodeProtobufEvents([speedingEvent({ event_id: 'pb-1' })], 'event');
    const single = await post(one, 'application/x-protobuf');
    assert.equal(single.status, 202, JSON.stringify(single.body));
    assert.equal(single.body.event_id, 'pb-1');
    assert.equal(single.body.zone_id, 'chennai-w119');

    const many = encodeProtobufEvents([speedingEvent({ event_id: 'pb-2' }), speedingEvent({ event_id: 'pb-3', confidence_score: 0.5 })], 'batch');
    const batch = await post(many, 'application/x-protobuf; messageType=city.v1.EventBatch');
    assert.equal(batch.status, 202, JSON.stringify(batch.body));
    assert.equal(batch.body.accepted, 2);
    const stored = await call(node, 'GET', '/api/v1/events/pb-3', { headers: node.admin });
    assert.equal(stored.body.confidence, 0.5);
    assert.match(stored.body.payload.vehicle_data.license_plate, /^tok_/);
  });

  test('events are listed with filters and keyset pages', async () => {
    const spread = Array.from({ length: 7 }, (_, i) =>
      speedingEvent({ event_id: `list-${i}`, severity: i % 2 ? 'medium' : 'critical', timestamp: `2026-11-21T0${i}:00:00Z` }),
    );
    spread.push(speedingEvent({ event_id: 'list-outside', location: { latitude: 13.2, longitude: 80.9 } }));
    assert.equal((await post(JSON.stringify(spread))).status, 202);
    const q = (query: string) => call(node, 'GET', `/api/v1/events?${query}`, { headers: node.admin });

    const day = await q('from=2026-11-21T00:00:00Z&to=2026-11-22T00:00:00Z&limit=3');
    assert.deepEqual(day.body.events.map((e: any) => e.event_id), ['list-6', 'list-5', 'list-4']);
    const next = await q(`from=2026-11-21T00:00:00Z&to=2026-11-22T00:00:00Z&limit=3&cursor=${day.body.next_cursor}`);
    assert.deepEqual(next.body.events.map((e: any) => e.event_id), ['list-3', 'list-2', 'list-1']);
    const last = await q(`from=2026-11-21T00:00:00Z&to=2026-11-22T00:00:00Z&limit=3&cursor=${next.body.next_cursor}`);
    assert.deepEqual(last.body.events.map((e: any) => e.event_id), ['list-0']);
    assert.equal(last.body.next_cursor, null);

    const critical = await q('from=2026-11-21T00:00:00Z&to=2026-11-22T00:00:00Z&severity=critical');
    assert.deepEqual(critical.body.events.map((e: any) => e.event_id), ['list-6', 'list-4', 'list-2', 'list-0']);
    const district = await q('zone=chennai-z09&from=2026-11-21T00:00:00Z&to=2026-11-22T00:00:00Z&limit=100');
    assert.equal(district.body.events.length, 7, 'a district filter includes its wards');
    const outside = await call(node, 'GET', '/api/v1/events/list-outside', { headers: node.admin });
    assert.equal(outside.body.zone_id, null, 'a point outside every zone is stored without a zone');
    const byType = await q(`type=violation_event&plugin=${PLUGIN}&limit=1`);
    assert.equal(byType.body.events.length, 1);
    const none = await q('type=flood_warning');
    assert.equal(none.body.events.length, 0);

    const badZone = await q('zone=atlantis');
    assert.equal(badZone.status, 404);
    const badTime = await q('from=yesterday');
    assert.equal(badTime.status, 400);
    assert.match(badTime.body.error.message, /from/);
    const anonymous = await call(node, 'GET', '/api/v1/events');
    assert.equal(anonymous.status, 401);
  });

  test('metrics count accepted and rejected events per plugin', async () => {
    const res = await fetch(`${node.url}/metrics`);
    const text = await res.text();
    assert.match(text, new RegExp(`city_events_accepted_total\\{plugin="${PLUGIN}"\\} \\d+`));
    assert.match(text, new RegExp(`city_events_rejected_total\\{plugin="${PLUGIN}",code="CITY_ERR_EVENT_INVALID"\\} [1-9]`));
    assert.match(text, /city_ingest_latency_seconds_bucket\{le="0.1",transport="http"\} [1-9]/);
    assert.match(text, /city_store_commit_seconds_count [1-9]/);
  });
});
