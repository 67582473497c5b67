import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import websocket from '@fastify/websocket';
import { createWebSocketStream } from 'ws';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { CityError, cityError } from '../errors.js';
import { installPolicy, type KeyOwner, type PolicyDeps, type RouteEntry } from '../auth/policy.js';
import { AccessTokens } from '../auth/access-tokens.js';
import { AuditLog } from '../auth/audit.js';
import { auditRoutes } from '../auth/audit-routes.js';
import { ApprovalService } from '../approvals/service.js';
import { approvalRoutes } from '../approvals/routes.js';
import { Identity, type DemoUsersResult, type Sessions, type Users } from '../auth/identity.js';
import { installHardening } from '../http/hardening.js';
import { webAppRoutes } from '../http/web-app.js';
import { DeadLetterStore } from '../brain/dead-letters.js';
import { EVENT_COLUMNS, IngestPipeline, type BatchPreparer } from '../brain/ingest.js';
import { WorkerPreparer } from '../brain/worker-preparer.js';
import { InlinePreparer } from '../brain/inline-preparer.js';
import { queryRoutes } from '../brain/query-routes.js';
import { webhookRoutes } from '../brain/routes.js';
import { loadZoneFile } from '../geo/zone-file.js';
import { zoneRoutes } from '../geo/routes.js';
import { ZoneService } from '../geo/zone-service.js';
import { readRoadFile } from '../geo/road-file.js';
import { roadRoutes } from '../geo/road-routes.js';
import { RoadService } from '../geo/road-service.js';
import { createHttpApp, type CityApp } from '../http/app.js';
import { MqttBroker } from '../mqtt/broker.js';
import { NodeMetrics } from '../ops/metrics.js';
import { opsRoutes } from '../ops/routes.js';
import { makeTokenizer } from '../plugins/personal-fields.js';
import { PluginRegistry } from '../plugins/registry.js';
import { pluginRoutes } from '../plugins/routes.js';
import { GroupCommitter } from '../store/group-commit.js';
import { openStore, pingStore, type Store } from '../store/store.js';
import { adminToken, jwtSigningKey, otpCodeKey, personalDataKey } from './secrets.js';
import { PROJECT_ROOT, VERSION } from './paths.js';
import { ActionDispatcher } from '../actions/dispatcher.js';
import { actionTargetRoutes } from '../actions/routes.js';
import { ActionTargets } from '../actions/targets.js';
import { CepEngine } from '../brain/cep/engine.js';
import { AggregationReporter } from '../brain/aggregation.js';
import { LiveStreamHub, liveStreamRoutes } from '../brain/live-stream.js';
import { StateStore } from '../brain/state-store.js';
import { stateRoutes } from '../brain/state-routes.js';
import { LocalBrain } from '../decisions/brain.js';
import { BrainBus } from '../decisions/bus.js';
import { DecisionWriter } from '../decisions/decision-writer.js';
import { decisionRoutes } from '../decisions/routes.js';
import { decisionView } from '../decisions/views.js';
import { FailSafeTimers } from '../decisions/timers.js';
import { RuleRegistry } from '../rules/rule-registry.js';
import { ruleRoutes } from '../rules/routes.js';
import { Devices } from '../auth/devices.js';
import { deviceRoutes } from '../auth/device-routes.js';
import { overrideRoutes } from '../overrides/routes.js';
import { SuspensionIndex } from '../overrides/suspension-index.js';
import { Suspensions } from '../overrides/suspensions.js';
import { topologyRoutes } from '../hierarchy/topology.js';
import { Hierarchy } from '../hierarchy/hierarchy.js';
import { LinkAuth } from '../hierarchy/link-auth.js';
import { linkFetch } from '../hierarchy/link-http.js';
import { layerRoutes } from '../hierarchy/layer-routes.js';
import { layerFunctionRoutes } from '../hierarchy/layer-function-routes.js';
import { Broker } from '../compute/broker.js';
import { FolderBlobStore } from '../compute/blob-store.js';
import { DbBlobStore } from '../compute/db-blob-store.js';
import { S3BlobStore } from '../compute/s3-blob-store.js';
import { TieredBlobStore } from '../compute/tiered-blob-store.js';
import { ExecutorKeys } from '../compute/executor-keys.js';
import { computeRoutes } from '../compute/routes.js';
import { announceBroker } from '../compute/discovery.js';
import { Backhaul, brokerSigningKey } from '../compute/backhaul.js';

/** The seed's deciding_layer names (seed 001 §10.1 "LOCAL, DISTRICT, CITY, etc."). */
const LAYER_NAMES = { local: 'LOCAL', district: 'DISTRICT', city: 'CITY', state: 'STATE', national: 'NATIONAL' } as const;

export const DEMO_ZONES_FILE = join(PROJECT_ROOT, 'examples/cities/chennai/city.geojson');
export const DEMO_PLUGINS_DIR = join(PROJECT_ROOT, 'examples/plugins');
export const DEMO_RULES_DIR = join(PROJECT_ROOT, 'examples/rules');
/** The dashboard's build (web/, `npm run build:web`), served at `/`. */
export const WEB_DIST_DIR = join(PROJECT_ROOT, 'web/dist');

/** A running node: what its callers (CLI, tests, benchmark) need to reach and stop it. */
export interface CityNode {
  readonly config: Config;
  readonly url: string;
  readonly mqttUrl: string | null;
  readonly mqttPort: number | null;
  readonly adminToken: string | null;
  readonly adminTokenFile: string;
  /** Keys of plugins registered from `pluginsDir` at this start (shown once). */
  readonly pluginKeys: Record<string, string>;
  readonly store: Store;
  readonly registry: PluginRegistry;
  readonly zones: ZoneService;
  readonly metrics: NodeMetrics;
  readonly app: CityApp;
  readonly rules: RuleRegistry;
  readonly bus: BrainBus;
  readonly brain: LocalBrain;
  readonly decisions: DecisionWriter;
  readonly dispatcher: ActionDispatcher;
  readonly timers: FailSafeTimers;
  readonly state: StateStore;
  readonly reporter: AggregationReporter;
  readonly audit: AuditLog;
  readonly accessTokens: AccessTokens;
  /** Every HTTP route with the permission it declares (the authorization matrix test reads it). */
  readonly routes: readonly RouteEntry[];
  readonly users: Users;
  readonly sessions: Sessions;
  /** Demo mode: the demo accounts and the file keeping their passwords. */
  readonly demoUsers: DemoUsersResult | null;
  /** Answers to approval requests (seed 001 §8.2): the authority API's service. */
  readonly approvals: ApprovalService;
  readonly devices: Devices;
  readonly suspensions: Suspensions;
  readonly roads: RoadService;
  /** The node's links and what flows over them (parent, children, peers). */
  readonly hierarchy: Hierarchy;
  /** The compute network's broker (issue 7). */
  readonly broker: Broker;
  /** Links to other brokers this one shares its executors with. */
  readonly backhauls: readonly Backhaul[];
  close(): Promise<void>;
}

/**
 * The composition root: config → store → zones, plugins → ingest pipeline → HTTP, WebSocket and
 * MQTT transports. Everything is built here and handed down; no module-level singletons.
 */
export async function startNode(config: Config, log: Logger): Promise<CityNode> {
  const dataDir = resolve(config.dataDir);
  const store = await openStore({ databaseUrl: config.databaseUrl, dataDir, poolSize: config.databasePoolSize });
  const closers: Array<() => Promise<void>> = [() => store.close()];
  try {
    return await assemble(config, log, store, dataDir, closers);
  } catch (err) {
    for (const close of closers.reverse()) await close().catch(() => {});
    throw err;
  }
}

async function assemble(config: Config, log: Logger, store: Store, dataDir: string, closers: Array<() => Promise<void>>): Promise<CityNode> {
  const { db } = store;
  const metrics = new NodeMetrics();
  const audit = new AuditLog(db, config.tenantId, log);
  const tokenizerKey = await personalDataKey(db);
  const tokenizer = makeTokenizer(tokenizerKey);
  const admin = await adminToken(db, dataDir, config.adminToken);

  const zones = await ZoneService.load(db, config.tenantId);
  // A node with no zones yet starts with the demo city (DESIGN.md: embedded defaults), so that
  // zone lookup, the map and the hierarchy work out of the box; --zones replaces it.
  const zonesFile = config.zonesFile ?? (config.demo || zones.tree.size === 0 ? DEMO_ZONES_FILE : undefined);
  if (zonesFile) {
    await zones.replace(await loadZoneFile(zonesFile));
    log.info({ zones: zones.tree.size, file: zonesFile }, config.zonesFile ? 'zones loaded' : 'no zones configured: loaded the Chennai demo city (use --zones for your own)');
  }
  const hierarchyZone = config.hierarchy.zoneId ?? null;
  if (hierarchyZone !== null && !zones.tree.has(hierarchyZone)) {
    throw cityError('CONFIG_INVALID', { setting: 'hierarchy.zoneId', reason: `zone ${hierarchyZone} is not in the zone tree (${zones.tree.size} zones; list them at GET /api/v1/zones)` });
  }
  // Roads after zones: their edges are tagged with zones, and without a road file they are derived from the wards.
  const roads = await RoadService.load(db, config.tenantId, zones, log, config.roadsFile ? { doc: await readRoadFile(config.roadsFile), source: config.roadsFile } : undefined);

  const registry = await PluginRegistry.load(db, config.tenantId, tokenizer);
  const devices = await Devices.load({ db, tenantId: config.tenantId, audit, zones: () => zones.tree, pluginExists: (id) => registry.has(id) });
  const pluginKeys = await registerPluginsFromDir(registry, config.pluginsDir ?? (config.demo ? DEMO_PLUGINS_DIR : undefined), config.demo, log);

  const committer = new GroupCommitter(
    store,
    {
      table: 'events',
      columns: EVENT_COLUMNS,
      maxRows: config.ingest.groupCommitMaxRows,
      delayMs: config.ingest.groupCommitDelayMs,
      maxPendingRows: config.ingest.maxPendingRows,
      maxConcurrentFlushes: store.kind === 'postgres' ? 2 : 1,
    },
    metrics,
  );
  const deadLetters = new DeadLetterStore(db, config.tenantId, config.ingest.deadLetterMaxBytes);

  // The decision side (seed 001 §3.2–§3.4): rules, CEP windows, decisions, actions, state.
  const bus = new BrainBus((err) => log.warn({ err }, 'a live update listener failed'));
  const rules = await RuleRegistry.load(db, config.tenantId, log);
  closers.push(async () => rules.close());
  const rulesDir = config.rulesDir ?? (config.demo ? DEMO_RULES_DIR : undefined);
  if (rulesDir) await rules.loadFolder(resolve(rulesDir), true);
  const cep = new CepEngine(rules.specs(), { maxEntriesPerRole: config.brain.maxWindowEntries });
  const targets = await ActionTargets.load(db, config.tenantId);
  await targets.seed(config.actions.targets);
  let mqtt: MqttBroker | null = null;
  /** Set once the decision writer exists (the hierarchy submits its decisions through it). */
  let hierarchy: Hierarchy | undefined;
  // Suspensions (manual override) are known before the dispatcher starts: at start it resumes
  // pending actions, and those of a suspended rule, plugin or zone must keep waiting.
  const suspensionIndex = await SuspensionIndex.load(db, config.tenantId, () => zones.tree);
  const dispatcher = new ActionDispatcher({
    holds: suspensionIndex,
    db,
    tenantId: config.tenantId,
    nodeId: config.nodeId,
    targets,
    publishMqtt: config.mqtt.enabled ? (topic, payload, qos) => (mqtt ? mqtt.publish(topic, payload, qos) : Promise.reject(new Error('the MQTT broker is not running yet'))) : null,
    onUpdate: (action, zoneId) => {
      if (action.status === 'COMPLETED' || action.status === 'FAILED' || action.status === 'CANCELLED') {
        metrics.actionsFinished.inc({ type: action.type, status: action.status });
        hierarchy?.actionChanged(action.decision_id);
      }
      bus.publish({ kind: 'action', action, zone_id: zoneId });
    },
    log,
    options: { concurrency: config.actions.concurrency, baseDelayMs: config.actions.retryBaseDelayMs, maxDelayMs: config.actions.retryMaxDelayMs },
  });
  const state = new StateStore({ db, tenantId: config.tenantId, nodeId: config.nodeId, zones, bus, windowMs: config.brain.reportWindowMs, log });
  await state.load();
  closers.push(() => state.close());
  const live = new LiveStreamHub({ bus, zones, nodeId: config.nodeId, metrics });
  const timers = new FailSafeTimers({
    db,
    tenantId: config.tenantId,
    nodeId: config.nodeId,
    log,
    approvals: config.approvals,
    audit,
    onFired: (fired) => {
      void dispatcher.enqueue(fired.released);
      void publishDecision(fired.decisionId);
    },
  });
  const decisions = new DecisionWriter({
    store,
    context: { tenantId: config.tenantId, nodeId: config.nodeId, layer: LAYER_NAMES[config.role], maxAttempts: (target) => targets.get(target).maxAttempts, approvals: config.approvals },
    onDecided: (view, dispatch, firstTimerAtMs) => {
      metrics.decisionsMade.inc({ kind: view.rule.kind, severity: view.severity ?? 'none' });
      if (view.latency_ms !== null) metrics.decisionLatency.observe(view.latency_ms / 1000);
      bus.publish({ kind: 'decision', decision: view });
      hierarchy?.decided(view);
      if (dispatch.length > 0) void dispatcher.enqueue(dispatch);
      if (firstTimerAtMs !== null) timers.poke(firstTimerAtMs);
    },
    log,
  });
  const brain = new LocalBrain({
    db,
    tenantId: config.tenantId,
    registry,
    rules,
    cep,
    writer: decisions,
    bus,
    state,
    wantsEvents: () => live.wantsEvents(),
    log,
  });
  const reporter = new AggregationReporter({ db, tenantId: config.tenantId, nodeId: config.nodeId, state, windowMs: config.brain.reportWindowMs, settleMs: config.brain.reportSettleMs, log });
  // The hierarchy (issue 5): links to the parent, children and peers. Built here because
  // decisions and actions report to it; started once the HTTP server listens (its URL is
  // what the parent and peers are told).
  const links = await LinkAuth.load({ db, tenantId: config.tenantId, nodeId: config.nodeId });
  let listenUrl = '';
  const { link } = config.hierarchy;
  hierarchy = new Hierarchy({
    db,
    tenantId: config.tenantId,
    nodeId: config.nodeId,
    role: config.role,
    zoneId: hierarchyZone,
    zones,
    links,
    parentUrl: config.hierarchy.parentUrl ?? null,
    enrolToken: config.hierarchy.enrolToken ?? null,
    advertiseUrl: () => config.hierarchy.advertiseUrl ?? listenUrl,
    fetch: linkFetch(config.hierarchy.caFile ? await readFile(config.hierarchy.caFile) : null),
    sender: { batchSize: link.batchSize, requestTimeoutMs: link.requestTimeoutMs, idlePollMs: link.idlePollMs, backoff: { baseMs: link.backoffBaseMs, maxMs: link.backoffMaxMs, jitter: true } },
    windowMs: config.brain.reportWindowMs,
    reportGraceMs: config.hierarchy.reportGraceMs,
    escalation: { forwardSeverity: config.hierarchy.forwardSeverity },
    submit: (matches) => decisions.submit(matches),
    log,
  });
  /** Publishes a decision again after it changed outside the writer (a fail-safe fired). */
  const publishDecision = async (decisionId: string): Promise<void> => {
    const row = await db.selectFrom('decisions').selectAll().where('decision_id', '=', decisionId).executeTakeFirst();
    if (!row) return;
    const actions = await db.selectFrom('actions').selectAll().where('decision_id', '=', decisionId).orderBy('position').execute();
    bus.publish({ kind: 'decision', decision: decisionView(row, actions) });
  };

  const workerCount = config.ingest.workers === -1 ? Math.min(4, availableParallelism() - 1) : config.ingest.workers;
  const preparer: BatchPreparer =
    workerCount > 0
      ? new WorkerPreparer(workerCount, { tenantId: config.tenantId, tokenizerKeyHex: tokenizerKey.toString('hex') }, registry, zones, rules)
      : new InlinePreparer(config.tenantId, zones, rules);
  closers.push(() => preparer.close());
  const pipeline = new IngestPipeline(preparer, committer, deadLetters, metrics, brain);

  // Before any input: rebuild the windows and make the decisions a crash may have lost, then
  // start the clocks and the action dispatcher (which resumes interrupted actions).
  await brain.replay();
  brain.start();
  await dispatcher.start();
  closers.push(() => dispatcher.close());
  await timers.start();
  closers.push(() => timers.close());
  // The reporter's catch-up (windows missed while the node was down, counted from the store)
  // can scan many events; it runs beside the node rather than delaying its start. close() waits for it.
  // A higher layer's window report is the merge of its children's (the LayerReporter); a Local
  // Brain's is built from its events. One report per window goes up, never both.
  if (config.role === 'local') void reporter.start().catch((err) => log.error({ err }, 'aggregation reports could not start'));
  closers.push(() => reporter.close());
  let accepting = true;

  // Who may do what (src/auth/policy.ts): sessions for the access tokens, keys of plugins and devices.
  const identity = await Identity.start({ db, config, zones: () => zones.tree, audit, log, otpKey: await otpCodeKey(db) });
  // The compute network (issue 7): executors' keys, the data store, the broker and its job table.
  const executorKeys = await ExecutorKeys.load(db, config.tenantId);
  const smallBlobs = new DbBlobStore(db, { maxBlobBytes: Math.max(1, config.compute.smallBlobMaxBytes) });
  const { s3, maxBlobBytes } = config.compute;
  const bulkBlobs = s3 ? new S3BlobStore({ ...s3, maxBlobBytes }) : new FolderBlobStore(join(dataDir, 'blobs'), { maxBlobBytes });
  const blobs = new TieredBlobStore(smallBlobs, bulkBlobs, config.compute.smallBlobMaxBytes);
  const broker = new Broker({
    db,
    tenantId: config.tenantId,
    blobs,
    keys: executorKeys,
    log,
    options: { maxOpenJobsPerClient: config.compute.maxOpenJobsPerClient, maxAttempts: config.compute.maxAttempts, heartbeatTimeoutMs: config.compute.heartbeatTimeoutMs },
  });
  broker.onUpdate((update) => bus.publish({ kind: 'pool', update }));
  await broker.start();
  closers.push(async () => {
    await broker.close();
    await smallBlobs.flush();
  });
  // Retention (issue 7 §2): data no open job needs and nobody used for `blobRetentionMs` goes, hourly.
  const blobSweep = setInterval(() => {
    blobs.sweep(config.compute.blobRetentionMs, broker.pinnedRefs()).then(
      (swept) => swept.removed > 0 && log.info(swept, 'data store: expired blobs removed'),
      (err) => log.warn({ err }, 'data store sweep failed'),
    );
  }, 3_600_000);
  blobSweep.unref();
  closers.push(async () => clearInterval(blobSweep));
  const keyOwner = (keyHash: string): KeyOwner | null => registry.ownerOfKeyHash(keyHash) ?? devices.ownerOfKeyHash(keyHash) ?? executorKeys.ownerOfKeyHash(keyHash);
  const accessTokens = new AccessTokens({
    key: await jwtSigningKey(db),
    issuer: `possible-city:${config.tenantId}`,
    ttlS: config.auth.accessTokenTtlS,
    isSessionRevoked: identity.isSessionRevoked,
  });
  const policy: PolicyDeps = {
    nodeTenant: config.tenantId,
    adminTokenHash: admin.hash,
    keyOwner,
    accessTokens,
    zones: () => zones.tree,
    links,
  };

  let routes: RouteEntry[] = [];
  const tls = config.http.tls ? { cert: await readFile(config.http.tls.certFile), key: await readFile(config.http.tls.keyFile) } : undefined;
  const app = await createHttpApp({ logger: log, jsonBodyLimitBytes: 4 * 1024 * 1024, version: VERSION, https: tls, beforeRoutes: (bare) => (routes = installPolicy(bare, policy)) });
  await installHardening(app, config.http);
  await app.register(opsRoutes, {
    metrics,
    info: () => ({ node_id: config.nodeId, role: config.role, zone_id: hierarchyZone, version: VERSION, store: store.kind, uplink: hierarchy!.uplinkStatus() }),
    readiness: async () => {
      if (!accepting) return 'shutting down';
      try {
        await pingStore(store);
      } catch (err) {
        return `store unavailable: ${(err as Error).message}`;
      }
      return null;
    },
  });
  await app.register(pluginRoutes, {
    registry,
    onChange: (what, modelId, request) => {
      log.info({ what, modelId }, 'plugin changed');
      audit.recordSoon({ actor: request.principal, action: what, target: { kind: 'plugin', id: modelId }, remote: request.ip });
    },
  });
  await app.register(webhookRoutes, {
    pipeline,
    registry,
    metrics,
    maxBodyBytes: config.ingest.maxBodyBytes,
    maxBatchItems: config.ingest.maxBatchItems,
    accepting: () => accepting,
  });
  await app.register(queryRoutes, { db, tenantId: config.tenantId, zones });
  await app.register(zoneRoutes, { zones, audit, maxZoneFileBytes: 64 * 1024 * 1024 });
  await app.register(ruleRoutes, { rules, registry, audit });
  await app.register(decisionRoutes, { db, tenantId: config.tenantId, zones });
  await app.register(actionTargetRoutes, {
    targets,
    onChange: (what, name, request) => audit.recordSoon({ actor: request.principal, action: what, target: { kind: 'action_target', id: name }, remote: request.ip }),
  });
  await app.register(stateRoutes, { state, reporter: hierarchy.reporter ?? reporter, zones });
  await app.register(auditRoutes, { db, tenantId: config.tenantId });
  await app.register(websocket, { options: { maxPayload: config.ingest.maxBodyBytes } });
  await app.register(liveStreamRoutes, { hub: live });

  if (config.mqtt.enabled) {
    mqtt = await MqttBroker.start(
      { host: config.mqtt.host, port: config.mqtt.port, maxPayloadBytes: config.ingest.maxBodyBytes, maxBatchItems: config.ingest.maxBatchItems },
      { pipeline, registry, metrics, policy, log },
    );
    closers.push(() => mqtt!.close());
    if (config.mqtt.wsPath) {
      const broker = mqtt;
      // The WebSocket is only a transport: the broker authenticates the MQTT CONNECT itself.
      const transportOnly = { policy: { permission: 'public' as const } };
      app.get(config.mqtt.wsPath, { websocket: true, schema: { summary: 'MQTT 3.1.1 over WebSocket (subprotocol "mqtt")', tags: ['ingest'] }, config: transportOnly }, (socket, request) => {
        broker.handleStream(createWebSocketStream(socket), request.raw);
      });
    }
  }

  const demoUsers = await identity.register(app, { accessTokens, dataDir });
  const approvals = new ApprovalService({
    db,
    tenantId: config.tenantId,
    nodeId: config.nodeId,
    approvals: config.approvals,
    audit,
    log,
    // After the commit: released external actions run, a new level's timer is armed, watchers see the change.
    onChanged: (result) => {
      if (result.released.dispatch.length > 0) void dispatcher.enqueue(result.released.dispatch);
      if (result.timerAtMs !== null) timers.poke(result.timerAtMs);
      void publishDecision(result.decisionId);
    },
  });
  await app.register(approvalRoutes, { db, tenantId: config.tenantId, service: approvals });
  await app.register(deviceRoutes, { devices, registry, audit });
  const suspensions = new Suspensions({ db, tenantId: config.tenantId, index: suspensionIndex, dispatcher, audit, zones: () => zones.tree });
  await app.register(overrideRoutes, { suspensions, zones: () => zones.tree, rules, registry });
  // Roads (the map's layer and routing), the node tree, and the dashboard's own files at `/`.
  await app.register(roadRoutes, { roads: () => roads.network, replace: (doc) => roads.replace(doc), zones: () => zones.tree, audit, maxRoadFileBytes: 64 * 1024 * 1024 });
  await app.register(topologyRoutes, { db, tenantId: config.tenantId, nodeId: config.nodeId, role: config.role, zoneId: hierarchyZone, version: VERSION, store: store.kind, startedAt: new Date(), zones: () => zones.tree, hierarchy });
  await app.register(layerRoutes, { hierarchy, db, tenantId: config.tenantId, nodeId: config.nodeId, audit });
  await app.register(layerFunctionRoutes, { hierarchy, db, tenantId: config.tenantId, nodeId: config.nodeId, role: config.role, zoneId: hierarchyZone, zones, roads: () => roads.network, audit, log });
  await app.register(computeRoutes, { broker, blobs, keys: executorKeys, audit, maxBlobBytes: config.compute.maxBlobBytes });
  await app.register(webAppRoutes, { distDir: config.http.dashboardDir ? resolve(config.http.dashboardDir) : WEB_DIST_DIR });

  await app.listen({ host: config.http.host, port: config.http.port });
  closers.push(() => app.close());
  const address = app.server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `${tls ? 'https' : 'http'}://${host}:${address.port}`;
  listenUrl = url;
  const stopAnnouncing = config.compute.mdns ? announceBroker({ nodeId: config.nodeId, port: address.port, tls: tls !== undefined }) : null;
  if (stopAnnouncing) closers.push(stopAnnouncing);
  // Backhauls to other brokers (issue 7 §6): this broker offers its executors to each.
  const backhaulKey = config.compute.backhaul.length > 0 ? await brokerSigningKey(db) : null;
  const backhauls = config.compute.backhaul.map((target) => new Backhaul({ target, nodeId: config.nodeId, broker, blobs, signingKey: backhaulKey!.signingKey, publicJwk: backhaulKey!.publicJwk, log }));
  for (const b of backhauls) b.start();
  closers.push(async () => backhauls.forEach((b) => b.close()));
  await hierarchy.start();
  closers.push(() => hierarchy!.close());

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      accepting = false;
      live.close(); // clients see 1001 "going away" rather than the server's abrupt close
      // Order matters: stop taking input, let in-flight requests finish (each awaits its
      // commit), commit whatever is queued, then close the store.
      await Promise.race([app.close(), sleep(config.shutdownTimeoutMs)]);
      if (mqtt) await Promise.race([mqtt.close(), sleep(config.shutdownTimeoutMs)]);
      await committer.close();
      await hierarchy!.close();
      clearInterval(blobSweep);
      await stopAnnouncing?.();
      for (const b of backhauls) b.close();
      await broker.close();
      await brain.close();
      await dispatcher.close();
      await timers.close();
      await reporter.close();
      await state.close();
      live.close();
      rules.close();
      await preparer.close();
      await store.close();
    })();
    return closing;
  };

  return {
    config,
    url,
    mqttUrl: mqtt ? `mqtt://${config.mqtt.host}:${mqtt.port}` : null,
    mqttPort: mqtt?.port ?? null,
    adminToken: admin.token,
    adminTokenFile: admin.file,
    pluginKeys,
    store,
    registry,
    zones,
    metrics,
    app,
    rules,
    bus,
    brain,
    decisions,
    dispatcher,
    timers,
    state,
    reporter,
    audit,
    accessTokens,
    routes,
    users: identity.users,
    sessions: identity.sessions,
    demoUsers,
    approvals,
    devices,
    suspensions,
    roads,
    hierarchy,
    broker,
    backhauls,
    close,
  };
}

/**
 * Registers every `*.json` registration document in `dir` that is not registered yet. In demo
 * mode a plugin registered at an earlier start gets a fresh key, so the simulator can use it.
 */
async function registerPluginsFromDir(registry: PluginRegistry, dir: string | undefined, demo: boolean, log: Logger): Promise<Record<string, string>> {
  const keys: Record<string, string> = {};
  if (!dir) return keys;
  const files = (await readdir(dir)).filter((f) => f.endsWith('.json')).sort();
  for (const file of files) {
    const body = JSON.parse(await readFile(join(dir, file), 'utf8')) as { plugin_manifest?: { model_id?: string } };
    try {
      const outcome = await registry.register(body);
      if (outcome.api_key) keys[outcome.plugin.model_id] = outcome.api_key;
      else if (demo) keys[outcome.plugin.model_id] = (await registry.rotateKey(outcome.plugin.model_id)).api_key;
      log.info({ plugin: outcome.plugin.model_id, status: outcome.status, file }, 'plugin registered from folder');
    } catch (err) {
      if (err instanceof CityError) throw new Error(`${join(dir, file)}: ${err.message}`, { cause: err });
      throw err;
    }
  }
  return keys;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
