import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { authorizeMqttPublish, authorizeMqttSubscribe, type MqttPolicyContext } from '../../src/auth/mqtt-policy.js';
import type { Principal, UserPrincipal } from '../../src/auth/principal.js';
import { loadZoneFile } from '../../src/geo/zone-file.js';
import { ZoneTree } from '../../src/geo/zones.js';
import { call, startTestNode, suiteCleanup } from '../helpers/node.js';
import { CHENNAI_ZONES, seedRegistration, speedingEvent } from '../helpers/fixtures.js';
import { signIn } from '../helpers/users.js';
import { waitFor } from '../helpers/wait.js';

const TRAFFIC = 'traffic-violation-detector-v2';

const device = (zoneId: string | null, pluginId: string | null = TRAFFIC): Principal => ({ kind: 'device', tenantId: 'default', deviceId: 'pump-7', pluginId, zoneId });
const plugin: Principal = { kind: 'plugin', tenantId: 'default', pluginId: TRAFFIC };
const user = (role: UserPrincipal['role'], scopeZoneId: string | null, level: UserPrincipal['level'] = null): Principal => ({
  kind: 'user',
  userId: `u-${role}`,
  tenantId: 'default',
  role,
  level,
  scopeZoneId,
  sessionId: 's1',
  name: role,
});

describe('MQTT topic rules (pure)', () => {
  let ctx: MqttPolicyContext;
  before(async () => {
    ctx = { nodeTenant: 'default', zones: new ZoneTree(await loadZoneFile(CHENNAI_ZONES)) };
  });
  const pub = (p: Principal, topic: string) => authorizeMqttPublish(p, topic, ctx);
  const sub = (p: Principal, filter: string) => authorizeMqttSubscribe(p, filter, ctx);
  const code = (v: { allow: boolean; error?: { code: string } }) => (v.allow ? 'allow' : v.error!.code);

  test('publish: events of its own plugin only, a device only inside its zone subtree', () => {
    assert.deepEqual(pub(plugin, `city/chennai-w119/events/${TRAFFIC}/batch`), { allow: true, events: { zone: 'chennai-w119', pluginId: TRAFFIC, batch: true } });
    assert.equal(code(pub(plugin, 'city/chennai-w119/events/someone-else')), 'CITY_ERR_AUTH_FORBIDDEN');
    assert.equal(code(pub(device('chennai-z09'), `city/chennai-w119/events/${TRAFFIC}`)), 'allow', 'w119 is inside z09');
    assert.equal(code(pub(device('chennai-w119'), `city/chennai-w001/events/${TRAFFIC}`)), 'CITY_ERR_AUTH_OUT_OF_SCOPE');
    assert.equal(code(pub(device(null), `city/chennai-w001/events/${TRAFFIC}`)), 'allow', 'a device with no zone is not bound to one');
    assert.equal(code(pub(device('chennai-w119', null), `city/chennai-w119/events/${TRAFFIC}`)), 'CITY_ERR_AUTH_FORBIDDEN', 'a commands-only device publishes nothing');
    assert.equal(code(pub(user('tenant_admin', null), `city/chennai-w119/events/${TRAFFIC}`)), 'CITY_ERR_AUTH_FORBIDDEN', 'users do not ingest');
    assert.equal(code(pub(plugin, 'city/chennai-w119/commands/pump-7')), 'CITY_ERR_AUTH_TOPIC_FORBIDDEN', 'nobody but the node sends commands');
    assert.equal(code(pub({ kind: 'admin_token' }, 'city/chennai-w119/commands/pump-7')), 'allow');
    assert.equal(code(pub({ kind: 'plugin', tenantId: 'other', pluginId: TRAFFIC }, `city/chennai-w119/events/${TRAFFIC}`)), 'CITY_ERR_AUTH_WRONG_TENANT');
  });

  test('subscribe: a device to its own command topic, in its subtree; + only without a zone', () => {
    assert.equal(code(sub(device('chennai-w119'), 'city/chennai-w119/commands/pump-7')), 'allow');
    assert.equal(code(sub(device('chennai-z09'), 'city/chennai-w119/commands/pump-7')), 'allow');
    assert.equal(code(sub(device('chennai-w119'), 'city/chennai-w119/commands/pump-8')), 'CITY_ERR_AUTH_TOPIC_FORBIDDEN');
    assert.equal(code(sub(device('chennai-w119'), 'city/chennai-w119/commands/+')), 'CITY_ERR_AUTH_TOPIC_FORBIDDEN');
    assert.equal(code(sub(device('chennai-w119'), 'city/chennai-w119/commands/#')), 'CITY_ERR_AUTH_TOPIC_FORBIDDEN');
    assert.equal(code(sub(device('chennai-w119'), 'city/chennai-w001/commands/pump-7')), 'CITY_ERR_AUTH_OUT_OF_SCOPE');
    assert.equal(code(sub(device('chennai-w119'), 'city/+/commands/pump-7')), 'CITY_ERR_AUTH_TOPIC_FORBIDDEN');
    assert.equal(code(sub(device(null), 'city/+/commands/pump-7')), 'allow');
    assert.equal(code(sub(device('chennai-w119'), `city/chennai-w119/rejected/${TRAFFIC}`)), 'allow');
    assert.equal(code(sub(device('chennai-w119', null), `city/chennai-w119/rejected/${TRAFFIC}`)), 'CITY_ERR_AUTH_TOPIC_FORBIDDEN');
    assert.equal(code(sub(device(null), `city/+/events/${TRAFFIC}`)), 'CITY_ERR_AUTH_TOPIC_FORBIDDEN', 'raw events are never offered');
  });

  test("subscribe: a plugin key to its own rejections only", () => {
    assert.equal(code(sub(plugin, `city/+/rejected/${TRAFFIC}`)), 'allow');
    assert.equal(code(sub(plugin, 'city/+/rejected/someone-else')), 'CITY_ERR_AUTH_TOPIC_FORBIDDEN');
    assert.equal(code(sub(plugin, 'city/+/commands/pump-7')), 'CITY_ERR_AUTH_TOPIC_FORBIDDEN');
    assert.equal(code(sub(plugin, '#')), 'CITY_ERR_AUTH_TOPIC_FORBIDDEN');
  });

  test('subscribe: users who may monitor, to commands and rejections in their scope; + only for the whole tenant', () => {
    const officer = user('authority', 'chennai-w119', 1);
    assert.equal(code(sub(officer, 'city/chennai-w119/commands/#')), 'allow');
    assert.equal(code(sub(officer, 'city/chennai-w119/rejected/#')), 'allow');
    assert.equal(code(sub(officer, 'city/chennai-w001/commands/#')), 'CITY_ERR_AUTH_OUT_OF_SCOPE');
    assert.equal(code(sub(officer, 'city/chennai-z09/commands/#')), 'CITY_ERR_AUTH_OUT_OF_SCOPE', 'the parent zone is wider than the scope');
    assert.equal(code(sub(officer, 'city/+/commands/#')), 'CITY_ERR_AUTH_TOPIC_FORBIDDEN');
    assert.equal(code(sub(user('operator', null), 'city/+/commands/#')), 'allow');
    assert.equal(code(sub(user('tenant_admin', null), 'city/+/rejected/#')), 'allow');
    assert.equal(code(sub(user('citizen', null), 'city/chennai-w119/commands/#')), 'CITY_ERR_AUTH_FORBIDDEN');
    assert.equal(code(sub(user('operator', null), 'city/+/events/#')), 'CITY_ERR_AUTH_TOPIC_FORBIDDEN');
    assert.equal(code(sub({ kind: 'admin_token' }, '#')), 'allow');
    assert.equal(code(sub({ kind: 'anonymous' }, 'city/+/commands/#')), 'CITY_ERR_AUTH_REQUIRED');
  });
});

describe('MQTT under the policy, on a real node', () => {
  let node: Awaited<ReturnType<typeof startTestNode>>;
  let deviceKey: string;
  let pluginKey: string;
  const clients: MqttClient[] = [];
  const suite = suiteCleanup();
  after(async () => {
    for (const c of clients) await c.endAsync(true).catch(() => {});
    await suite.run();
  });

  const connect = async (username: string, password: string): Promise<MqttClient> => {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${node.mqttPort}`, { username, password, reconnectPeriod: 0 });
    clients.push(client);
    return client;
  };
  const deadLetters = async (code: string): Promise<any[]> =>
    (await call(node, 'GET', `/api/v1/dead-letters?source=mqtt&code=${code}`, { headers: node.admin })).body.dead_letters;
  const refusedSubscription = (client: MqttClient, filter: string) =>
    assert.rejects(client.subscribeAsync(filter, { qos: 1 }), (err: any) => {
      assert.deepEqual(err.packet.granted, [128], `SUBACK 0x80 for ${filter}`);
      return true;
    });

  before(async () => {
    node = await startTestNode(suite, { zonesFile: CHENNAI_ZONES });
    // The seed plugin, with an actuator command to device pump-7 on every speeding decision.
    const registration = seedRegistration();
    registration.action_definitions[0].actions = [{ type: 'actuate', target: 'pump-7', parameters: { command: 'close_gate' } }];
    const reg = await call(node, 'POST', '/api/v1/plugin/register', { headers: node.admin, body: registration });
    assert.equal(reg.status, 201, JSON.stringify(reg.body));
    pluginKey = reg.body.api_key;
    const created = await call(node, 'POST', '/api/v1/devices', { headers: node.admin, body: { device_id: 'pump-7', name: 'Gate pump 7', zone_id: 'chennai-w119', plugin_id: TRAFFIC } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    deviceKey = created.body.api_key;
  });

  test('a device publishes its events and receives the actuator command a decision sends it', async () => {
    const pump = await connect('pump-7', deviceKey);
    await pump.subscribeAsync('city/chennai-w119/commands/pump-7', { qos: 1 });
    const command = new Promise<any>((resolve) => pump.on('message', (topic, payload) => resolve({ topic, body: JSON.parse(payload.toString()) })));
    await pump.publishAsync(`city/chennai-w119/events/${TRAFFIC}`, JSON.stringify(speedingEvent({ event_id: 'mqtt-device-1' })), { qos: 1 });
    const got = await command;
    assert.equal(got.topic, 'city/chennai-w119/commands/pump-7');
    assert.equal(got.body.type, 'actuate');
    assert.deepEqual(got.body.parameters, { command: 'close_gate' });
    const decisions = (await call(node, 'GET', '/api/v1/decisions?event_id=mqtt-device-1', { headers: node.admin })).body.decisions;
    assert.equal(decisions[0].decision_id, got.body.decision_id);
  });

  test("a device may not subscribe to another device's commands, nor outside its zone, nor publish another plugin's events", async () => {
    const pump = await connect('pump-7', deviceKey);
    await refusedSubscription(pump, 'city/chennai-w119/commands/pump-8');
    await refusedSubscription(pump, 'city/chennai-w001/commands/pump-7');
    await refusedSubscription(pump, 'city/+/commands/pump-7');
    const closed = new Promise<void>((resolve) => pump.once('close', () => resolve()));
    pump.publish('city/chennai-w119/events/flood_prediction_model', JSON.stringify({ event_id: 'impostor' }), { qos: 1 });
    await closed; // MQTT 3.1.1 has no negative PUBACK: the broker drops the connection
    const letters = await deadLetters('CITY_ERR_AUTH_FORBIDDEN');
    assert.ok(letters.some((l: any) => String(l.payload).includes('impostor')), 'the refused publication is kept');
  });

  test('a plugin key follows its rejections but not commands', async () => {
    const client = await connect(TRAFFIC, pluginKey);
    await client.subscribeAsync(`city/+/rejected/${TRAFFIC}`, { qos: 0 });
    await refusedSubscription(client, 'city/chennai-w119/commands/pump-7');
  });

  test("a user's access token: commands of the ward in their scope, not another ward's, no wildcard zone", async () => {
    const operator = await signIn(node, { role: 'operator', scope: 'chennai-w119' });
    const token = operator.headers.authorization!.slice('Bearer '.length);
    const client = await connect('jwt', token);
    await client.subscribeAsync('city/chennai-w119/commands/#', { qos: 1 });
    await refusedSubscription(client, 'city/chennai-w001/commands/#');
    await refusedSubscription(client, 'city/+/commands/#');
    const command = new Promise<any>((resolve) => client.on('message', (_topic, payload) => resolve(JSON.parse(payload.toString()))));
    await call(node, 'POST', `/webhook/${TRAFFIC}`, { headers: { 'x-api-key': pluginKey }, body: speedingEvent({ event_id: 'mqtt-user-watch' }) });
    assert.equal((await command).type, 'actuate');
    // A token under another user's name is refused at CONNECT.
    await assert.rejects(mqtt.connectAsync(`mqtt://127.0.0.1:${node.mqttPort}`, { username: 'someone-else', password: token, reconnectPeriod: 0 }));
  });

  test("CONNECT checks a key's source allow-list against the client's address (CONNACK 5, not authorized)", async () => {
    const created = await call(node, 'POST', '/api/v1/devices', { headers: node.admin, body: { device_id: 'pump-10', name: 'Pump 10', allowed_sources: ['10.0.0.0/8'] } });
    await assert.rejects(mqtt.connectAsync(`mqtt://127.0.0.1:${node.mqttPort}`, { username: 'pump-10', password: created.body.api_key, reconnectPeriod: 0 }), /Not authorized/i);
    // The refusal is written beside the CONNACK, not before it.
    await waitFor('the dead letter', async () => (await deadLetters('CITY_ERR_AUTH_SOURCE_NOT_ALLOWED')).length === 1);
    await call(node, 'PATCH', '/api/v1/devices/pump-10', { headers: node.admin, body: { allowed_sources: ['127.0.0.0/8', '::1'] } });
    await connect('pump-10', created.body.api_key);
    // The admin token, under any user name, may follow everything.
    const admin = await connect('admin', node.adminToken!);
    await admin.subscribeAsync('#', { qos: 0 });
  });

  test('revoking a key stops a connection already open, and CONNECT refuses it (kept as a dead letter)', async () => {
    const created = await call(node, 'POST', '/api/v1/devices', { headers: node.admin, body: { device_id: 'pump-9', name: 'Pump 9', zone_id: 'chennai-w119', plugin_id: TRAFFIC } });
    const open = await connect('pump-9', created.body.api_key);
    await open.publishAsync(`city/chennai-w119/events/${TRAFFIC}`, JSON.stringify(speedingEvent({ event_id: 'before-revoke' })), { qos: 1 });
    assert.equal((await call(node, 'POST', '/api/v1/devices/pump-9/revoke', { headers: node.admin })).status, 200);
    const closed = new Promise<void>((resolve) => open.once('close', () => resolve()));
    open.publish(`city/chennai-w119/events/${TRAFFIC}`, JSON.stringify(speedingEvent({ event_id: 'after-revoke' })), { qos: 1 });
    await closed;
    assert.equal((await call(node, 'GET', '/api/v1/events/before-revoke', { headers: node.admin })).status, 200);
    assert.equal((await call(node, 'GET', '/api/v1/events/after-revoke', { headers: node.admin })).status, 404);
    await assert.rejects(mqtt.connectAsync(`mqtt://127.0.0.1:${node.mqttPort}`, { username: 'pump-9', password: created.body.api_key, reconnectPeriod: 0 }), /Bad username or password|Not authorized|Connection refused/i);
    await waitFor('the dead letter', async () => (await deadLetters('CITY_ERR_AUTH_KEY_INVALID')).length >= 1);
  });

  test('a revoked device and a signed-out user stop receiving on subscriptions made before', async () => {
    // Ward 118: the earlier tests' clients still follow ward 119's commands.
    const created = await call(node, 'POST', '/api/v1/devices', { headers: node.admin, body: { device_id: 'pump-11', name: 'Pump 11', zone_id: 'chennai-w118', plugin_id: TRAFFIC } });
    const pump = await connect('pump-11', created.body.api_key);
    await pump.subscribeAsync('city/chennai-w118/commands/pump-11', { qos: 1 });
    const operator = await signIn(node, { role: 'operator', scope: 'chennai-w118' });
    const watcher = await connect('jwt', operator.headers.authorization!.slice('Bearer '.length));
    await watcher.subscribeAsync('city/chennai-w118/commands/#', { qos: 1 });
    // The admin token follows everything: what it receives shows a command was sent and forwarded.
    const sentinel = await connect('admin', node.adminToken!);
    await sentinel.subscribeAsync('city/chennai-w118/commands/#', { qos: 1 });
    const received = { pump: [] as string[], watcher: [] as string[], sentinel: [] as string[] };
    pump.on('message', (_t, p) => received.pump.push(p.toString()));
    watcher.on('message', (_t, p) => received.watcher.push(p.toString()));
    sentinel.on('message', (_t, p) => received.sentinel.push(p.toString()));
    const command = async (body: string) => {
      await sentinel.publishAsync('city/chennai-w118/commands/pump-11', body, { qos: 1 });
      await waitFor(`the sentinel got ${body}`, async () => received.sentinel.includes(body));
      await new Promise((r) => setTimeout(r, 200)); // the other subscribers are served in the same pass
    };

    await command('open-valve-1');
    assert.deepEqual([received.pump, received.watcher], [['open-valve-1'], ['open-valve-1']], 'both receive while allowed');

    assert.equal((await call(node, 'POST', '/api/v1/devices/pump-11/revoke', { headers: node.admin })).status, 200);
    assert.equal((await call(node, 'POST', '/api/v1/auth/logout', { headers: operator.headers })).status, 204);
    await command('open-valve-2');
    assert.deepEqual([received.pump, received.watcher], [['open-valve-1'], ['open-valve-1']], 'neither receives after revocation and sign-out');
    const refused = await (await fetch(`${node.url}/metrics`)).text();
    assert.match(refused, /city_mqtt_refused_total\{stage="forward",code="CITY_ERR_AUTH_KEY_INVALID"\} [1-9]/);
    assert.match(refused, /city_mqtt_refused_total\{stage="forward",code="CITY_ERR_AUTH_TOKEN_INVALID"\} [1-9]/);
  });
});
