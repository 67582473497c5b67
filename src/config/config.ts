import { readFile } from 'node:fs/promises';
import { Type, type Static } from '@sinclair/typebox';
import { Value, type ValueError } from '@sinclair/typebox/value';
import YAML from 'yaml';
import { cityError } from '../errors.js';
import { ActionTargetConfigSchema } from '../actions/targets.js';
import { ApprovalsConfigSchema } from '../approvals/types.js';

/**
 * Node configuration: one schema, one defaults object (house style #7), units in names.
 * Precedence: defaults < config file < environment < command-line flags.
 */
/** A misspelt setting is an error, not silently ignored. */
const STRICT = { additionalProperties: false } as const;

export const ConfigSchema = Type.Object(
  {
    role: Type.Union([Type.Literal('local'), Type.Literal('district'), Type.Literal('city'), Type.Literal('state'), Type.Literal('national')]),
    nodeId: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,63}$' }),
    tenantId: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,63}$' }),
    dataDir: Type.String({ minLength: 1 }),
    /** postgres://… to use PostgreSQL instead of the embedded PGlite store. */
    databaseUrl: Type.Optional(Type.String({ pattern: '^postgres(ql)?://' })),
    databasePoolSize: Type.Integer({ minimum: 1, maximum: 200 }),
    /** Zone file loaded at start (GeoJSON FeatureCollection); the demo city when `demo` is on. */
    zonesFile: Type.Optional(Type.String({ minLength: 1 })),
    /** Road file loaded at start (GeoJSON LineStrings) and kept; without one, routes follow links between neighbouring wards. */
    roadsFile: Type.Optional(Type.String({ minLength: 1 })),
    /** Folder of plugin registration documents (*.json) registered at start if missing. */
    pluginsDir: Type.Optional(Type.String({ minLength: 1 })),
    /** Folder of correlation rule files (*.yaml, *.yml, *.json), loaded at start and watched for changes; the demo rules when `demo` is on. */
    rulesDir: Type.Optional(Type.String({ minLength: 1 })),
    demo: Type.Boolean(),
    /** Admin token for management routes; generated and stored at first start when absent. */
    adminToken: Type.Optional(Type.String({ minLength: 16 })),
    logLevel: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l))),
    http: Type.Object({
      host: Type.String({ minLength: 1 }),
      port: Type.Integer({ minimum: 0, maximum: 65535 }),
      /** Browser origins allowed to call the API from other sites (CORS); empty = same origin only. */
      corsOrigins: Type.Array(Type.String({ pattern: '^https?://[^/]+$' })),
      /** The dashboard's build folder served at `/`; absent = the one built from web/ (web/dist). */
      dashboardDir: Type.Optional(Type.String({ minLength: 1 })),
      /** Serve HTTPS with this certificate and key (PEM files): links between nodes then use TLS. */
      tls: Type.Optional(Type.Object({ certFile: Type.String({ minLength: 1 }), keyFile: Type.String({ minLength: 1 }) }, STRICT)),
      /** Requests per minute, per signed-in user or key (per address when anonymous). */
      rateLimit: Type.Object({
        enabled: Type.Boolean(),
        perMinute: Type.Integer({ minimum: 1 }),
        /** Ingest requests per minute per plugin or device key (each may carry a batch of events). */
        ingestPerMinute: Type.Integer({ minimum: 1 }),
        /** Sign-in, one-time-code and refresh attempts per minute per address. */
        signInPerMinute: Type.Integer({ minimum: 1 }),
      }, STRICT),
    }, STRICT),
    mqtt: Type.Object({
      enabled: Type.Boolean(),
      host: Type.String({ minLength: 1 }),
      /** TCP port of the embedded broker; 0 picks a free one. */
      port: Type.Integer({ minimum: 0, maximum: 65535 }),
      /** MQTT over WebSocket is served on the HTTP port at this path; empty turns it off. */
      wsPath: Type.String(),
    }, STRICT),
    ingest: Type.Object({
      maxBodyBytes: Type.Integer({ minimum: 1024 }),
      maxBatchItems: Type.Integer({ minimum: 1 }),
      /** Group commit: flush when this many rows wait, or after groupCommitDelayMs. */
      groupCommitMaxRows: Type.Integer({ minimum: 1 }),
      groupCommitDelayMs: Type.Number({ minimum: 0, maximum: 1000 }),
      /** Back-pressure: above this many rows waiting to commit, new input is refused with 503. */
      maxPendingRows: Type.Integer({ minimum: 1 }),
      /** Rejected payloads bigger than this are kept truncated in the dead-letter table. */
      deadLetterMaxBytes: Type.Integer({ minimum: 0 }),
      /**
       * Threads that decode, validate and enrich events so the main thread only moves bytes;
       * 0 does that work on the main thread; -1 picks one per core beyond the first (at most 4).
       */
      workers: Type.Integer({ minimum: -1, maximum: 64 }),
    }, STRICT),
    brain: Type.Object({
      /** Aggregation report window (seed 001 §3.4: 15 minutes). */
      reportWindowMs: Type.Integer({ minimum: 1000, maximum: 86_400_000 }),
      /** Wait after a window's end before building its report (events and decisions of its last moments get in). */
      reportSettleMs: Type.Integer({ minimum: 0, maximum: 600_000 }),
      /** Correlation windows: at most this many events per rule role (oldest evicted first). */
      maxWindowEntries: Type.Integer({ minimum: 100, maximum: 10_000_000 }),
    }, STRICT),
    /** The compute network's broker on this node (issue 7; seeds 000, 003). */
    compute: Type.Object({
      /** The largest input, module or result the data store takes. */
      maxBlobBytes: Type.Integer({ minimum: 1024, maximum: 4 * 1024 * 1024 * 1024 }),
      /**
       * Blobs up to this size (most job inputs and results) are kept in the database, written in
       * group commits; larger ones are files (or S3 objects). 0 keeps every blob in the bulk store.
       */
      smallBlobMaxBytes: Type.Integer({ minimum: 0, maximum: 16 * 1024 * 1024 }),
      /**
       * The bulk data store in a bucket of an S3-compatible service (AWS S3, MinIO, Ceph RGW,
       * Garage) instead of `<dataDir>/blobs`; null: the folder. The secret is best given as
       * CITY_S3_SECRET_ACCESS_KEY rather than in a file.
       */
      s3: Type.Union([
        Type.Null(),
        Type.Object({
          endpoint: Type.String({ pattern: '^https?://' }),
          region: Type.Optional(Type.String({ minLength: 1 })),
          bucket: Type.String({ minLength: 3, maxLength: 63 }),
          prefix: Type.Optional(Type.String()),
          accessKeyId: Type.String({ minLength: 1 }),
          secretAccessKey: Type.String({ minLength: 1 }),
        }, STRICT),
      ]),
      /** Queued and running jobs one client may hold at once. */
      maxOpenJobsPerClient: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
      /** Attempts of a job whose executor is lost before it fails. */
      maxAttempts: Type.Integer({ minimum: 1, maximum: 20 }),
      /** An executor silent this long is gone (seed 003: heartbeats every 5 s). */
      heartbeatTimeoutMs: Type.Integer({ minimum: 1000, maximum: 600_000 }),
      /** Job data and results not used for this long are removed (jobs still open keep theirs). */
      blobRetentionMs: Type.Integer({ minimum: 60_000 }),
      /** Announce the broker on the local network as `_resourcepool._tcp` (seed 003), so `city executor` finds it without --broker. */
      mdns: Type.Boolean(),
      /**
       * Other brokers to share executors with (seed 000's second broker): each with the executor
       * key it issued this node (POST /api/v1/pool/executors there). Run one on each side.
       */
      backhaul: Type.Array(Type.Object({ url: Type.String({ pattern: '^(https?|wss?)://' }), key: Type.String({ minLength: 10 }) }, STRICT), { maxItems: 32 }),
    }, STRICT),
    /** The node's place in the hierarchy (issue 5; seed 001 §1, §7, §12.3). */
    hierarchy: Type.Object({
      /** The zone this node serves (a ward for a local, a district …); absent: the whole zone tree. */
      zoneId: Type.Optional(Type.String({ minLength: 1 })),
      /** The parent node's URL (`--parent`); once enrolled it is remembered. */
      parentUrl: Type.Optional(Type.String({ pattern: '^https?://' })),
      /** The one-time token the parent issued (POST /api/v1/layer/enrolments on the parent). */
      enrolToken: Type.Optional(Type.String({ minLength: 10 })),
      /** The URL the parent and peers reach this node at; default: the address it listens on. */
      advertiseUrl: Type.Optional(Type.String({ pattern: '^https?://' })),
      /** A CA certificate (PEM) that signed the other nodes' TLS certificates. */
      caFile: Type.Optional(Type.String({ minLength: 1 })),
      /** Escalations from children at or above this severity go on up at once. */
      forwardSeverity: Type.String({ minLength: 1 }),
      /** A higher layer merges a window's child reports this long after the window ends. */
      reportGraceMs: Type.Integer({ minimum: 0, maximum: 3_600_000 }),
      link: Type.Object({
        batchSize: Type.Integer({ minimum: 1, maximum: 10_000 }),
        requestTimeoutMs: Type.Integer({ minimum: 100, maximum: 600_000 }),
        /** An idle link looks at its outbox this often even without a poke. */
        idlePollMs: Type.Integer({ minimum: 10, maximum: 600_000 }),
        backoffBaseMs: Type.Integer({ minimum: 1, maximum: 600_000 }),
        backoffMaxMs: Type.Integer({ minimum: 1, maximum: 3_600_000 }),
      }, STRICT),
    }, STRICT),
    actions: Type.Object({
      /** Actuator and channel calls in flight at once. */
      concurrency: Type.Integer({ minimum: 1, maximum: 1000 }),
      /** Retries back off exponentially (with jitter) from this delay … */
      retryBaseDelayMs: Type.Integer({ minimum: 1, maximum: 3_600_000 }),
      /** … up to this one. */
      retryMaxDelayMs: Type.Integer({ minimum: 1, maximum: 86_400_000 }),
      /** Named action targets (actuators, notification channels) created or updated at start. */
      targets: Type.Record(Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,100}$' }), ActionTargetConfigSchema),
    }, STRICT),
    /** Sign-in and sessions (seed 004 §4; src/auth/). */
    auth: Type.Object({
      /** Access-token (JWT) lifetime; seed 004 §4: one hour. */
      accessTokenTtlS: Type.Integer({ minimum: 1, maximum: 86_400 }),
      /** Refresh-token lifetime; each rotation starts a new one (a session ends after this long unused). */
      refreshTokenTtlMs: Type.Integer({ minimum: 60_000, maximum: 366 * 86_400_000 }),
      /** Consecutive wrong passwords that lock an account … */
      maxFailedLogins: Type.Integer({ minimum: 1, maximum: 100 }),
      /** … for this long. */
      lockoutMs: Type.Integer({ minimum: 1000, maximum: 86_400_000 }),
      /** A one-time sign-in code is valid this long … */
      otpTtlMs: Type.Integer({ minimum: 30_000, maximum: 3_600_000 }),
      /** … for this many tries. */
      otpMaxAttempts: Type.Integer({ minimum: 1, maximum: 20 }),
      /** Codes one phone number may request in 15 minutes. */
      otpRequestsPer15Min: Type.Integer({ minimum: 1, maximum: 100 }),
      /** How codes reach citizens: the local outbox (development; read at GET /api/v1/notifications) or an SMS webhook. */
      otpChannel: Type.Union([
        Type.Object({ kind: Type.Literal('outbox') }, STRICT),
        Type.Object({
          kind: Type.Literal('webhook'),
          url: Type.String({ pattern: '^https?://' }),
          /** e.g. an Authorization header for the SMS provider. */
          headers: Type.Optional(Type.Record(Type.String({ minLength: 1 }), Type.String())),
        }, STRICT),
      ]),
    }, STRICT),
    /**
     * Approval types (seed 001 §8.2–§8.3): per notify_authority target (`traffic_officer`), the
     * level that answers first, how long each level has, and the fail-safe that runs then. A
     * plugin's own escalation_rules take precedence for its first deadline.
     */
    approvals: ApprovalsConfigSchema,
    shutdownTimeoutMs: Type.Integer({ minimum: 0 }),
  },
  STRICT,
);

export type Config = Static<typeof ConfigSchema>;

export const DEFAULT_CONFIG: Config = {
  role: 'local',
  nodeId: 'local-1',
  tenantId: 'default',
  dataDir: './data',
  databasePoolSize: 10,
  demo: false,
  logLevel: 'info',
  http: {
    host: '127.0.0.1',
    port: 8080,
    corsOrigins: [],
    rateLimit: { enabled: true, perMinute: 1200, ingestPerMinute: 60_000, signInPerMinute: 20 },
  },
  mqtt: { enabled: true, host: '127.0.0.1', port: 1883, wsPath: '/mqtt' },
  ingest: {
    maxBodyBytes: 16 * 1024 * 1024,
    maxBatchItems: 100_000,
    groupCommitMaxRows: 20_000,
    groupCommitDelayMs: 2,
    maxPendingRows: 400_000,
    deadLetterMaxBytes: 1024 * 1024,
    workers: -1,
  },
  brain: { reportWindowMs: 15 * 60_000, reportSettleMs: 5_000, maxWindowEntries: 100_000 },
  compute: { maxBlobBytes: 64 * 1024 * 1024, smallBlobMaxBytes: 256 * 1024, s3: null, maxOpenJobsPerClient: 100, maxAttempts: 3, heartbeatTimeoutMs: 15_000, blobRetentionMs: 7 * 86_400_000, mdns: false, backhaul: [] },
  hierarchy: {
    forwardSeverity: 'critical',
    reportGraceMs: 10_000,
    link: { batchSize: 100, requestTimeoutMs: 10_000, idlePollMs: 5_000, backoffBaseMs: 500, backoffMaxMs: 30_000 },
  },
  actions: { concurrency: 16, retryBaseDelayMs: 1000, retryMaxDelayMs: 60_000, targets: {} },
  auth: {
    accessTokenTtlS: 3600,
    refreshTokenTtlMs: 30 * 86_400_000,
    maxFailedLogins: 5,
    lockoutMs: 15 * 60_000,
    otpTtlMs: 5 * 60_000,
    otpMaxAttempts: 5,
    otpRequestsPer15Min: 5,
    otpChannel: { kind: 'outbox' },
  },
  approvals: {
    defaultType: { level: 1, timeoutMs: 30 * 60_000, failSafe: 'escalate' },
    // seed 001 §8.2: a traffic fine is auto-approved when no officer answers within 30 minutes.
    types: { traffic_officer: { level: 1, timeoutMs: 30 * 60_000, failSafe: 'auto_approve' } },
  },
  shutdownTimeoutMs: 10_000,
};

/** Environment variables a node reads, each mapped to a config path. */
export const ENV_SETTINGS: Record<string, string> = {
  DATABASE_URL: 'databaseUrl',
  CITY_DATA_DIR: 'dataDir',
  CITY_ROLE: 'role',
  CITY_NODE_ID: 'nodeId',
  CITY_ZONE: 'hierarchy.zoneId',
  CITY_PARENT_URL: 'hierarchy.parentUrl',
  CITY_ENROL_TOKEN: 'hierarchy.enrolToken',
  CITY_ADVERTISE_URL: 'hierarchy.advertiseUrl',
  CITY_REPORT_WINDOW_MS: 'brain.reportWindowMs',
  CITY_COMPUTE_MDNS: 'compute.mdns',
  CITY_S3_ENDPOINT: 'compute.s3.endpoint',
  CITY_S3_REGION: 'compute.s3.region',
  CITY_S3_BUCKET: 'compute.s3.bucket',
  CITY_S3_PREFIX: 'compute.s3.prefix',
  CITY_S3_ACCESS_KEY_ID: 'compute.s3.accessKeyId',
  CITY_S3_SECRET_ACCESS_KEY: 'compute.s3.secretAccessKey',
  CITY_TENANT: 'tenantId',
  CITY_ZONES_FILE: 'zonesFile',
  CITY_ROADS_FILE: 'roadsFile',
  CITY_PLUGINS_DIR: 'pluginsDir',
  CITY_RULES_DIR: 'rulesDir',
  CITY_ADMIN_TOKEN: 'adminToken',
  CITY_LOG_LEVEL: 'logLevel',
  CITY_HTTP_HOST: 'http.host',
  CITY_HTTP_PORT: 'http.port',
  CITY_MQTT_ENABLED: 'mqtt.enabled',
  CITY_MQTT_HOST: 'mqtt.host',
  CITY_MQTT_PORT: 'mqtt.port',
  CITY_MQTT_WS_PATH: 'mqtt.wsPath',
  CITY_MAX_BODY_BYTES: 'ingest.maxBodyBytes',
  CITY_INGEST_WORKERS: 'ingest.workers',
};

export interface ConfigSources {
  file?: string | undefined;
  env?: Record<string, string | undefined>;
  /** Settings from flags, by config path (e.g. `{ 'http.port': '0' }`). */
  flags?: Record<string, unknown>;
}

/**
 * Builds and validates the config; a bad setting throws CITY_ERR_CONFIG_INVALID naming the
 * setting, the reason and where the value came from.
 */
export async function loadConfig(sources: ConfigSources = {}): Promise<Config> {
  const merged: Record<string, unknown> = structuredClone(DEFAULT_CONFIG) as unknown as Record<string, unknown>;
  const origin = new Map<string, string>();
  if (sources.file) {
    const text = await readFile(sources.file, 'utf8').catch((err: Error) => {
      throw cityError('CONFIG_INVALID', { setting: '--config', reason: `cannot read ${sources.file}: ${err.message}` });
    });
    let parsed: unknown;
    try {
      parsed = YAML.parse(text, { prettyErrors: true });
    } catch (err) {
      throw cityError('CONFIG_INVALID', { setting: sources.file, reason: (err as Error).message });
    }
    if (parsed !== null && parsed !== undefined) {
      if (typeof parsed !== 'object' || Array.isArray(parsed)) {
        throw cityError('CONFIG_INVALID', { setting: sources.file, reason: 'the file must hold a mapping of settings' });
      }
      deepMerge(merged, parsed as Record<string, unknown>, '', origin, `file ${sources.file}`);
    }
  }
  for (const [name, path] of Object.entries(ENV_SETTINGS)) {
    const raw = sources.env?.[name];
    if (raw === undefined || raw === '') continue;
    setPath(merged, path, coerce(path, raw));
    origin.set(path, `environment ${name}`);
  }
  for (const [path, raw] of Object.entries(sources.flags ?? {})) {
    if (raw === undefined) continue;
    setPath(merged, path, typeof raw === 'string' ? coerce(path, raw) : raw);
    origin.set(path, 'command line');
  }
  const found = Value.Errors(ConfigSchema, merged).First();
  if (found) {
    const first = deepestError(found);
    const setting = first.path.replace(/^\//, '').replaceAll('/', '.') || '(root)';
    // A missing field of an object given piecewise (CITY_S3_BUCKET → compute.s3.bucket) names where its siblings came from.
    const parent = setting.slice(0, setting.lastIndexOf('.'));
    const sibling = [...origin].find(([path]) => path.startsWith(`${setting}.`) || (parent !== '' && path.startsWith(`${parent}.`)));
    const from = origin.get(setting) ?? (sibling ? `${sibling[1]}, which set ${sibling[0]}` : 'defaults');
    const reason =
      first.message === 'Unexpected property' ? 'unknown setting' : first.message === 'Expected required property' ? `missing: it is required (from ${from})` : `${first.message} (from ${from})`;
    throw cityError('CONFIG_INVALID', { setting, reason });
  }
  return merged as unknown as Config;
}

/**
 * For a value that matches no branch of a union (`compute.s3`: null or an object), the error of
 * the branch it came closest to — the one whose first error lies deepest — so the message names
 * the field (`compute.s3.accessKeyId`) rather than "Expected union value".
 */
function deepestError(error: ValueError): ValueError {
  let best = error;
  for (const branch of error.errors ?? []) {
    const first = branch.First();
    if (first && first.path.length > best.path.length) best = deepestError(first);
  }
  return best;
}

/** Numbers and booleans arrive as text from env and flags; coerce by the default's type. */
function coerce(path: string, raw: string): unknown {
  const current = getPath(DEFAULT_CONFIG as unknown as Record<string, unknown>, path);
  if (typeof current === 'number' || /port|Bytes|Ms|Rows|Items|Size$/.test(path)) {
    const n = Number(raw);
    return Number.isFinite(n) && raw.trim() !== '' ? n : raw;
  }
  if (typeof current === 'boolean') {
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
  }
  return raw;
}

function getPath(obj: Record<string, unknown>, path: string): unknown {
  let cur: unknown = obj;
  for (const key of path.split('.')) cur = (cur as Record<string, unknown> | undefined)?.[key];
  return cur;
}

function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let cur = obj;
  for (let i = 0; i < keys.length - 1; i++) {
    const k = keys[i]!;
    if (typeof cur[k] !== 'object' || cur[k] === null) cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[keys[keys.length - 1]!] = value;
}

function deepMerge(target: Record<string, unknown>, source: Record<string, unknown>, prefix: string, origin: Map<string, string>, from: string): void {
  for (const [key, value] of Object.entries(source)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (value && typeof value === 'object' && !Array.isArray(value) && target[key] && typeof target[key] === 'object') {
      deepMerge(target[key] as Record<string, unknown>, value as Record<string, unknown>, path, origin, from);
    } else {
      target[key] = value;
      origin.set(path, from);
    }
  }
}
