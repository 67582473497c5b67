import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_CONFIG, loadConfig, type ConfigSources } from '../../src/config/config.js';
import { CityError } from '../../src/errors.js';

let dir = '';
let fileCount = 0;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'city-config-'));
});
after(() => rm(dir, { recursive: true, force: true }));

/** Writes `text` to a fresh file in the temp folder and returns its path. */
async function configFile(ext: 'yaml' | 'json', text: string): Promise<string> {
  const path = join(dir, `config-${++fileCount}.${ext}`);
  await writeFile(path, text);
  return path;
}

/** Asserts that loading `sources` fails with CITY_ERR_CONFIG_INVALID and returns the error. */
async function rejects(sources: ConfigSources): Promise<CityError> {
  let caught: unknown;
  try {
    await loadConfig(sources);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof CityError, `expected a CityError, got ${String(caught)}`);
  assert.equal(caught.code, 'CITY_ERR_CONFIG_INVALID');
  assert.equal(caught.status, 500);
  return caught;
}

describe('loadConfig defaults', () => {
  it('gives DEFAULT_CONFIG when there are no sources', async () => {
    assert.deepEqual(await loadConfig(), DEFAULT_CONFIG);
    assert.deepEqual(await loadConfig({}), DEFAULT_CONFIG);
    assert.deepEqual(await loadConfig({ file: undefined, env: {}, flags: {} }), DEFAULT_CONFIG);
  });

  it('returns a copy: changing the result leaves DEFAULT_CONFIG alone', async () => {
    const config = await loadConfig();
    config.http.port = 1;
    config.ingest.maxBatchItems = 2;
    assert.equal(DEFAULT_CONFIG.http.port, 8080);
    assert.equal(DEFAULT_CONFIG.ingest.maxBatchItems, 100_000);
  });

  it('ignores environment variables it does not know', async () => {
    assert.deepEqual(await loadConfig({ env: { HOME: '/root', CITY_NOT_A_SETTING: '1', PORT: '1' } }), DEFAULT_CONFIG);
  });

  it('treats an empty environment variable as unset', async () => {
    const config = await loadConfig({ env: { CITY_HTTP_PORT: '', DATABASE_URL: '', CITY_ROLE: '' } });
    assert.equal(config.http.port, DEFAULT_CONFIG.http.port);
    assert.equal(config.databaseUrl, undefined);
    assert.equal(config.role, 'local');
  });

  it('takes an empty config file as no settings', async () => {
    assert.deepEqual(await loadConfig({ file: await configFile('yaml', '') }), DEFAULT_CONFIG);
    assert.deepEqual(await loadConfig({ file: await configFile('yaml', '# only a comment\n') }), DEFAULT_CONFIG);
  });
});

describe('loadConfig precedence: defaults < file < environment < flags', () => {
  it('a YAML file overrides defaults and keeps the defaults it does not name (deep merge)', async () => {
    const file = await configFile('yaml', 'nodeId: node-a\nrole: district\nhttp:\n  port: 9000\nmqtt:\n  enabled: false\n');
    const config = await loadConfig({ file });
    assert.equal(config.nodeId, 'node-a');
    assert.equal(config.role, 'district');
    assert.deepEqual(config.http, { ...DEFAULT_CONFIG.http, port: 9000 });
    assert.deepEqual(config.mqtt, { ...DEFAULT_CONFIG.mqtt, enabled: false });
    assert.deepEqual(config.ingest, DEFAULT_CONFIG.ingest);
  });

  it('a JSON file is read the same way', async () => {
    const file = await configFile('json', JSON.stringify({ tenantId: 'chennai', http: { host: '0.0.0.0' }, ingest: { maxBatchItems: 500 } }));
    const config = await loadConfig({ file });
    assert.equal(config.tenantId, 'chennai');
    assert.deepEqual(config.http, { ...DEFAULT_CONFIG.http, host: '0.0.0.0' });
    assert.deepEqual(config.ingest, { ...DEFAULT_CONFIG.ingest, maxBatchItems: 500 });
  });

  it('the environment overrides the file', async () => {
    const file = await configFile('yaml', 'http:\n  host: 10.0.0.1\n  port: 9000\ndatabaseUrl: postgres://file/db\n');
    const config = await loadConfig({ file, env: { CITY_HTTP_PORT: '9100', DATABASE_URL: 'postgresql://env/db' } });
    assert.equal(config.http.port, 9100);
    assert.equal(config.http.host, '10.0.0.1', 'a setting the environment does not name stays as the file says');
    assert.equal(config.databaseUrl, 'postgresql://env/db');
  });

  it('flags override the environment and the file', async () => {
    const file = await configFile('yaml', 'http:\n  port: 9000\n');
    const config = await loadConfig({ file, env: { CITY_HTTP_PORT: '9100' }, flags: { 'http.port': '0' } });
    assert.equal(config.http.port, 0);
  });

  it('each level wins only for the settings it names', async () => {
    const file = await configFile('yaml', 'nodeId: from-file\ntenantId: from-file\ndataDir: /from/file\nhttp:\n  port: 1001\n');
    const config = await loadConfig({
      file,
      env: { CITY_TENANT: 'from-env', CITY_DATA_DIR: '/from/env', CITY_HTTP_PORT: '1002' },
      flags: { dataDir: '/from/flags', 'http.port': '1003' },
    });
    assert.equal(config.role, DEFAULT_CONFIG.role);
    assert.equal(config.nodeId, 'from-file');
    assert.equal(config.tenantId, 'from-env');
    assert.equal(config.dataDir, '/from/flags');
    assert.equal(config.http.port, 1003);
  });

  it('skips flags given as undefined', async () => {
    const config = await loadConfig({ env: { CITY_HTTP_PORT: '9100' }, flags: { 'http.port': undefined } });
    assert.equal(config.http.port, 9100);
  });
});

describe('loadConfig coercion of text from environment and flags', () => {
  it('turns numeric text into numbers', async () => {
    const config = await loadConfig({
      env: { CITY_HTTP_PORT: '8081', CITY_MQTT_PORT: '0', CITY_MAX_BODY_BYTES: '2048' },
      flags: { databasePoolSize: '25', 'ingest.groupCommitDelayMs': '0.5', 'ingest.groupCommitMaxRows': '100' },
    });
    assert.equal(config.http.port, 8081);
    assert.equal(config.mqtt.port, 0);
    assert.equal(config.ingest.maxBodyBytes, 2048);
    assert.equal(config.databasePoolSize, 25);
    assert.equal(config.ingest.groupCommitDelayMs, 0.5);
    assert.equal(config.ingest.groupCommitMaxRows, 100);
  });

  for (const [text, value] of [
    ['true', true], ['TRUE', true], ['1', true], ['yes', true], ['on', true],
    ['false', false], ['False', false], ['0', false], ['no', false], ['off', false],
  ] as const) {
    it(`turns boolean text '${text}' into ${value}`, async () => {
      assert.equal((await loadConfig({ env: { CITY_MQTT_ENABLED: text } })).mqtt.enabled, value);
      assert.equal((await loadConfig({ flags: { demo: text } })).demo, value);
    });
  }

  it('leaves numeric-looking text as text for string settings', async () => {
    const config = await loadConfig({ env: { CITY_NODE_ID: '42', CITY_TENANT: '7', CITY_ADMIN_TOKEN: '1234567890123456' } });
    assert.equal(config.nodeId, '42');
    assert.equal(config.tenantId, '7');
    assert.equal(config.adminToken, '1234567890123456');
  });

  it('passes flag values that are not text through unchanged', async () => {
    const config = await loadConfig({ flags: { 'http.port': 4321, demo: true } });
    assert.equal(config.http.port, 4321);
    assert.equal(config.demo, true);
  });
});

describe('loadConfig errors name the setting and where its value came from', () => {
  it('http.port 70000 from CITY_HTTP_PORT', async () => {
    const err = await rejects({ env: { CITY_HTTP_PORT: '70000' } });
    assert.equal(err.details.setting, 'http.port');
    assert.match(err.message, /^configuration setting http\.port is invalid: /);
    assert.match(err.message, /65535/);
    assert.match(err.message, /\(from environment CITY_HTTP_PORT\)/);
  });

  it('http.port that is not a number, from CITY_HTTP_PORT', async () => {
    const err = await rejects({ env: { CITY_HTTP_PORT: 'eighty' } });
    assert.equal(err.details.setting, 'http.port');
    assert.match(err.message, /integer/);
    assert.match(err.message, /environment CITY_HTTP_PORT/);
  });

  it('whitespace-only text is not read as 0', async () => {
    const err = await rejects({ env: { CITY_HTTP_PORT: '   ' } });
    assert.equal(err.details.setting, 'http.port');
  });

  it('mqtt.port from a YAML file names the file', async () => {
    const file = await configFile('yaml', 'mqtt:\n  port: 99999\n');
    const err = await rejects({ file });
    assert.equal(err.details.setting, 'mqtt.port');
    assert.match(err.message, /^configuration setting mqtt\.port is invalid: /);
    assert.ok(err.message.includes(`(from file ${file})`), err.message);
  });

  it('a number written as text in a file is not coerced, and the error names the file', async () => {
    const file = await configFile('json', '{"http": {"port": "8081"}}');
    const err = await rejects({ file });
    assert.equal(err.details.setting, 'http.port');
    assert.ok(err.message.includes(`file ${file}`), err.message);
  });

  it('a section given as a scalar in a file', async () => {
    const file = await configFile('yaml', 'http: 8080\n');
    const err = await rejects({ file });
    assert.equal(err.details.setting, 'http');
    assert.ok(err.message.includes(`file ${file}`), err.message);
  });

  it('a bad flag says it came from the command line', async () => {
    const err = await rejects({ env: { CITY_HTTP_PORT: '9000' }, flags: { 'http.port': '-1' } });
    assert.equal(err.details.setting, 'http.port');
    assert.match(err.message, /\(from command line\)/);
  });

  it('a boolean setting with text that is not a boolean', async () => {
    const err = await rejects({ env: { CITY_MQTT_ENABLED: 'maybe' } });
    assert.equal(err.details.setting, 'mqtt.enabled');
    assert.match(err.message, /environment CITY_MQTT_ENABLED/);
  });

  it('DATABASE_URL that is not a postgres:// URL', async () => {
    const err = await rejects({ env: { DATABASE_URL: 'mysql://db/city' } });
    assert.equal(err.details.setting, 'databaseUrl');
    assert.match(err.message, /environment DATABASE_URL/);
  });

  it('a role outside the hierarchy', async () => {
    const err = await rejects({ env: { CITY_ROLE: 'mayor' } });
    assert.equal(err.details.setting, 'role');
    assert.match(err.message, /environment CITY_ROLE/);
  });

  it('a node id that breaks the pattern, from a flag', async () => {
    const err = await rejects({ flags: { nodeId: 'Has Spaces' } });
    assert.equal(err.details.setting, 'nodeId');
    assert.match(err.message, /command line/);
  });

  it('an S3 store given piecewise names the field that is missing, not just "union"', async () => {
    const err = await rejects({ env: { CITY_S3_ENDPOINT: 'http://127.0.0.1:9000', CITY_S3_BUCKET: 'city-blobs' } });
    assert.equal(err.details.setting, 'compute.s3.accessKeyId');
    assert.match(err.message, /missing: it is required \(from environment CITY_S3_/);
    const bad = await rejects({ env: { CITY_S3_ENDPOINT: 'ftp://store', CITY_S3_BUCKET: 'city-blobs', CITY_S3_ACCESS_KEY_ID: 'city', CITY_S3_SECRET_ACCESS_KEY: 's3cret' } });
    assert.equal(bad.details.setting, 'compute.s3.endpoint');
    assert.match(bad.message, /from environment CITY_S3_ENDPOINT/);
    const ok = await loadConfig({ env: { CITY_S3_ENDPOINT: 'http://127.0.0.1:9000', CITY_S3_BUCKET: 'city-blobs', CITY_S3_ACCESS_KEY_ID: 'city', CITY_S3_SECRET_ACCESS_KEY: 's3cret' } });
    assert.deepEqual(ok.compute.s3, { endpoint: 'http://127.0.0.1:9000', bucket: 'city-blobs', accessKeyId: 'city', secretAccessKey: 's3cret' });
    assert.equal((await loadConfig({})).compute.s3, null, 'the folder by default');
  });
});

describe('loadConfig file problems', () => {
  it('an unknown top-level setting in a file is named', async () => {
    const file = await configFile('yaml', 'nodeId: a\ncolour: blue\n');
    const err = await rejects({ file });
    assert.equal(err.details.setting, 'colour');
    assert.match(err.message, /^configuration setting colour is invalid: unknown setting/);
  });

  it('an unknown nested setting in a file is named, not ignored', async () => {
    for (const [text, setting] of [
      ['http:\n  prot: 9000\n', 'http.prot'],
      ['mqtt:\n  enable: false\n', 'mqtt.enable'],
      ['ingest:\n  maxBatchItem: 5\n', 'ingest.maxBatchItem'],
    ] as const) {
      const err = await rejects({ file: await configFile('yaml', text) });
      assert.equal(err.details.setting, setting);
      assert.match(err.message, /unknown setting/);
    }
  });

  it('an unknown nested setting from a flag is named', async () => {
    const err = await rejects({ flags: { 'http.prot': '9000' } });
    assert.equal(err.details.setting, 'http.prot');
    assert.match(err.message, /unknown setting/);
  });

  it('a file that holds a list rather than a mapping', async () => {
    const file = await configFile('yaml', '- http\n- mqtt\n');
    const err = await rejects({ file });
    assert.ok(err.message.includes(file), err.message);
    assert.match(err.message, /mapping/);
  });

  it('invalid YAML names the file', async () => {
    const file = await configFile('yaml', 'http:\n  port: [9000\nmqtt: {\n');
    const err = await rejects({ file });
    assert.equal(err.details.setting, file);
    assert.ok(err.message.startsWith(`configuration setting ${file} is invalid: `), err.message);
    assert.match(err.message, /line \d+/, 'the parser says where in the file');
  });

  it('invalid JSON names the file', async () => {
    const file = await configFile('json', '{"http": {"port": 9000}');
    const err = await rejects({ file });
    assert.ok(err.message.includes(file), err.message);
  });

  it('a missing file names the file and the reason', async () => {
    const file = join(dir, 'no-such-config.yaml');
    const err = await rejects({ file });
    assert.equal(err.details.setting, '--config');
    assert.ok(err.message.includes(`cannot read ${file}`), err.message);
    assert.match(err.message, /ENOENT/);
  });

  it('an unreadable path (a folder) names the file and the reason', async () => {
    const folder = join(dir, 'a-folder.yaml');
    await mkdir(folder);
    const err = await rejects({ file: folder });
    assert.ok(err.message.includes(`cannot read ${folder}`), err.message);
    assert.match(err.message, /EISDIR/);
  });
});

it('the example config file in examples/ loads as it is shipped', async () => {
  const config = await loadConfig({ file: new URL('../../examples/city.yaml', import.meta.url).pathname });
  assert.equal(config.nodeId, 'chennai-w119-brain');
  assert.equal(config.ingest.groupCommitMaxRows, 20000);
  assert.equal(config.mqtt.wsPath, '/mqtt');
  assert.equal(config.rulesDir, 'examples/rules');
  assert.equal(config.brain.reportWindowMs, 15 * 60_000);
  assert.equal(config.actions.targets.traffic_control_system?.kind, 'webhook');
});
