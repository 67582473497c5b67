import type { Command } from 'commander';
import pino from 'pino';
import { loadConfig } from '../config/config.js';
import { CityError } from '../errors.js';
import { startNode } from '../node/node.js';
import { startSimulator } from '../demo/simulator.js';

interface StartFlags {
  config?: string;
  data?: string;
  host?: string;
  port?: string;
  mqttPort?: string;
  mqttHost?: string;
  mqtt: boolean;
  zones?: string;
  roads?: string;
  plugins?: string;
  rules?: string;
  demo?: boolean;
  simulate?: string;
  role?: string;
  nodeId?: string;
  zone?: string;
  parent?: string;
  enrolToken?: string;
  advertise?: string;
  logLevel?: string;
}

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('run a node: a Local Brain on embedded defaults (PGlite in ./data, MQTT on 1883, HTTP on 8080)')
    .option('-c, --config <file>', 'config file (YAML or JSON)')
    .option('--data <dir>', 'data folder for the embedded store and secrets', undefined)
    .option('--host <host>', 'HTTP listen address')
    .option('-p, --port <port>', 'HTTP port (0: any free port)')
    .option('--mqtt-host <host>', 'MQTT listen address')
    .option('--mqtt-port <port>', 'MQTT TCP port (0: any free port)')
    .option('--no-mqtt', 'do not start the embedded MQTT broker')
    .option('--zones <file>', 'zone file (GeoJSON FeatureCollection) to load')
    .option('--roads <file>', 'road file (GeoJSON FeatureCollection of LineStrings) to route on')
    .option('--plugins <dir>', 'folder of plugin registration documents to register')
    .option('--rules <dir>', 'folder of correlation rule files (YAML), watched for changes')
    .option('--demo', 'load the Chennai demo city and example plugins, and run the event simulator')
    .option('--simulate <eventsPerSecond>', 'simulator rate in demo mode', '20')
    .option('--role <role>', 'local | district | city | state | national')
    .option('--node-id <id>', 'this node\'s id')
    .option('--zone <zoneId>', 'the zone this node serves (a ward for a local, a district, a city …)')
    .option('--parent <url>', 'the parent node\'s URL (enrolment needs --enrol-token the first time)')
    .option('--enrol-token <token>', 'one-time token from the parent (POST /api/v1/layer/enrolments there)')
    .option('--advertise <url>', 'the URL the parent and peers reach this node at (default: its listen address)')
    .option('--log-level <level>', 'fatal | error | warn | info | debug | trace | silent')
    .addHelpText('after', '\nEnvironment: DATABASE_URL (use PostgreSQL), CITY_DATA_DIR, CITY_HTTP_PORT, CITY_MQTT_PORT, CITY_ADMIN_TOKEN, …')
    .action(async (flags: StartFlags) => {
      await runStart(flags);
    });
}

async function runStart(flags: StartFlags): Promise<void> {
  let config;
  try {
    config = await loadConfig({
      file: flags.config,
      env: process.env,
      flags: {
        dataDir: flags.data,
        'http.host': flags.host,
        'http.port': flags.port,
        'mqtt.host': flags.mqttHost,
        'mqtt.port': flags.mqttPort,
        'mqtt.enabled': flags.mqtt === false ? false : undefined,
        zonesFile: flags.zones,
        roadsFile: flags.roads,
        pluginsDir: flags.plugins,
        rulesDir: flags.rules,
        demo: flags.demo,
        role: flags.role,
        nodeId: flags.nodeId,
        'hierarchy.zoneId': flags.zone,
        'hierarchy.parentUrl': flags.parent,
        'hierarchy.enrolToken': flags.enrolToken,
        'hierarchy.advertiseUrl': flags.advertise,
        logLevel: flags.logLevel,
      },
    });
  } catch (err) {
    fail(err);
  }
  const log = pino({ level: config.logLevel, base: { node: config.nodeId } });
  let node;
  try {
    node = await startNode(config, log);
  } catch (err) {
    fail(err);
  }
  const simulator =
    config.demo && Object.keys(node.pluginKeys).length > 0
      ? await startSimulator({ url: node.url, mqttUrl: node.mqttUrl, keys: node.pluginKeys, tree: node.zones.tree, eventsPerSecond: Number(flags.simulate ?? 20), log })
      : null;

  printBanner(node, simulator !== null);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping: finishing in-flight requests and committing what is queued');
    await simulator?.stop();
    await node.close();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

function printBanner(node: Awaited<ReturnType<typeof startNode>>, simulating: boolean): void {
  const lines = [
    '',
    `  Possible City node "${node.config.nodeId}" (${node.config.role}) is running — store: ${node.store.kind}`,
    '',
    `  HTTP API      ${node.url}/api/v1      docs ${node.url}/docs   OpenAPI ${node.url}/openapi.json`,
    `  Webhook       POST ${node.url}/webhook/{plugin_id}   (X-API-Key: <plugin key>)`,
    node.mqttUrl ? `  MQTT          ${node.mqttUrl}   topic city/{zone}/events/{plugin_id}   (user: plugin id, password: key)` : '  MQTT          off',
    node.mqttUrl && node.config.mqtt.wsPath ? `  MQTT over WS  ${node.url.replace('http', 'ws')}${node.config.mqtt.wsPath}` : '',
    `  Health        ${node.url}/healthz   ${node.url}/readyz   metrics ${node.url}/metrics`,
    `  Zones         ${node.zones.tree.size} zones   ${node.url}/api/v1/zones`,
    `  Rules         ${node.rules.list().length} correlation rules   ${node.url}/api/v1/rules`,
    `  Decisions     ${node.url}/api/v1/decisions   state ${node.url}/api/v1/state   reports ${node.url}/api/v1/reports`,
    `  Live stream   ${node.url.replace('http', 'ws')}/api/v1/stream?access_token=<access token or admin token>`,
    '',
    node.adminToken ? `  Admin token   ${node.adminToken}   (kept in ${node.adminTokenFile})` : `  Admin token   set by configuration`,
  ];
  const keys = Object.entries(node.pluginKeys);
  if (keys.length > 0) {
    lines.push('', '  Plugin keys (shown once):');
    for (const [id, key] of keys) lines.push(`    ${id.padEnd(32)} ${key}`);
  }
  if (node.demoUsers) {
    lines.push('', `  Demo users    sign in at POST ${node.url}/api/v1/auth/login (passwords in ${node.demoUsers.file})`);
    for (const u of node.demoUsers.users) lines.push(`    ${u.username.padEnd(24)} ${u.role}${u.level ? ` L${u.level}` : ''}${u.scope_zone_id ? ` in ${u.scope_zone_id}` : ''}`);
  }
  if (simulating) lines.push('', `  Simulator     posting demo events; try: curl -H "Authorization: Bearer <admin token>" ${node.url}/api/v1/decisions?limit=5`);
  lines.push('');
  process.stdout.write(lines.filter((l) => l !== '' || true).join('\n') + '\n');
}

function fail(err: unknown): never {
  if (err instanceof CityError) {
    process.stderr.write(`city: ${err.message} [${err.code}]\n`);
  } else {
    process.stderr.write(`city: ${(err as Error).stack ?? String(err)}\n`);
  }
  process.exit(1);
}
