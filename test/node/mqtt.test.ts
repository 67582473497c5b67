import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { encodeProtobufEvents } from '../../src/events/protobuf-codec.js';
import { call, startTestNode, suiteCleanup } from '../helpers/node.js';
import { CHENNAI_ZONES, speedingEvent, seedRegistration } from '../helpers/fixtures.js';

const run = promisify(execFile);
/** Debian's mosquitto-clients (installed by .ci/run); a developer machine may not have it. */
const MOSQUITTO_PUB = spawnSync('mosquitto_pub', ['--help']).error === undefined;
const needsMosquitto = MOSQUITTO_PUB ? {} : { skip: 'mosquitto_pub is not installed (apt-get install mosquitto-clients); .ci/run installs it' };
const PLUGIN = 'traffic-violation-detector-v2';
const TOPIC = `city/chennai-w119/events/${PLUGIN}`;

describe('ingestion over MQTT', () => {
  let node: Awaited<ReturnType<typeof startTestNode>>;
  let key: string;
  const suite = suiteCleanup();
  after(() => suite.run());
  before(async () => {
    node = await startTestNode(suite, { zonesFile: CHENNAI_ZONES });
    key = (await call(node, 'POST', '/api/v1/plugin/register', { headers: node.admin, body: seedRegistration() })).body.api_key;
  });
  const stored = async (eventId: string) => call(node, 'GET', `/api/v1/events/${eventId}`, { headers: node.admin });
  const mosquittoPub = (password: string, message: string, topic = TOPIC) =>
    run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(node.mqttPort), '-i', `test-${Date.now()}`, '-u', PLUGIN, '-P', password, '-t', topic, '-q', '1', '-m', message], {
      timeout: 10_000,
    });

  test('mosquitto_pub with the plugin key: the event is stored by the time PUBACK arrives', needsMosquitto, async () => {
    await mosquittoPub(key, JSON.stringify(speedingEvent({ event_id: 'mqtt-1' })));
    // mosquitto_pub -q 1 exits after PUBACK; the node acks only after the commit, so no waiting here.
    const res = await stored('mqtt-1');
    assert.equal(res.status, 200);
    assert.equal(res.body.zone_id, 'chennai-w119');
    assert.match(res.body.payload.vehicle_data.license_plate, /^tok_/);
  });

  test('a bad key is refused at CONNECT and the refusal is kept', needsMosquitto, async () => {
    await assert.rejects(mosquittoPub('pk_not-the-key', JSON.stringify(speedingEvent({ event_id: 'mqtt-bad-key' }))), (err: any) => {
      assert.match(String(err.stderr), /not authori[sz]ed|bad user name or password|Connection Refused/i);
      return true;
    });
    assert.equal((await stored('mqtt-bad-key')).status, 404);
    const letters = await call(node, 'GET', '/api/v1/dead-letters?source=mqtt&code=CITY_ERR_AUTH_KEY_INVALID', { headers: node.admin });
    assert.equal(letters.body.dead_letters.length, 1);
  });

  test('an invalid event is acknowledged, kept as a dead letter and explained on the rejected topic', async () => {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${node.mqttPort}`, { username: PLUGIN, password: key, reconnectPeriod: 0 });
    try {
      await client.subscribeAsync(`city/+/rejected/${PLUGIN}`, { qos: 0 });
      const notice = new Promise<any>((resolve) => client.once('message', (_t, payload) => resolve(JSON.parse(payload.toString()))));
      await client.publishAsync(TOPIC, JSON.stringify(speedingEvent({ event_id: 'mqtt-invalid', severity: 'apocalyptic' })), { qos: 1 });
      const body = await notice;
      assert.equal(body.rejected, 1);
      assert.match(body.results[0].error.message, /severity: must be one of/);
      const letters = await call(node, 'GET', `/api/v1/dead-letters?source=mqtt&code=CITY_ERR_EVENT_INVALID`, { headers: node.admin });
      assert.ok(letters.body.dead_letters.some((l: any) => l.payload.includes('mqtt-invalid')));
    } finally {
      await client.endAsync();
    }
  });

  test('a plugin may not publish as another plugin, nor read raw events', async () => {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${node.mqttPort}`, { username: PLUGIN, password: key, reconnectPeriod: 0 });
    try {
      await assert.rejects(client.subscribeAsync('city/+/events/#', { qos: 0 }), (err: any) => {
        assert.deepEqual(err.packet.granted, [128], 'subscription to raw events refused (SUBACK 0x80)');
        return true;
      });
      const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
      client.publish('city/chennai-w119/events/someone-else', JSON.stringify(speedingEvent({ event_id: 'impostor' })), { qos: 1 });
      await closed; // MQTT 3.1.1 has no negative PUBACK: the broker drops the connection
      assert.equal((await stored('impostor')).status, 404);
    } finally {
      await client.endAsync(true);
    }
  });

  test('MQTT over WebSocket carries JSON batches and protobuf EventBatch', async () => {
    const client = await mqtt.connectAsync(`${node.url.replace('http', 'ws')}/mqtt`, { username: PLUGIN, password: key, reconnectPeriod: 0 });
    try {
      await client.publishAsync(TOPIC, JSON.stringify([speedingEvent({ event_id: 'ws-1' }), speedingEvent({ event_id: 'ws-2' })]), { qos: 1 });
      await client.publishAsync(`${TOPIC}/batch`, Buffer.from(encodeProtobufEvents([speedingEvent({ event_id: 'ws-pb' })], 'batch')), { qos: 1 });
    } finally {
      await client.endAsync();
    }
    for (const id of ['ws-1', 'ws-2', 'ws-pb']) assert.equal((await stored(id)).status, 200, id);
  });
});
