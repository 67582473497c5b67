import net from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { Aedes, type AuthenticateError, type Client, type PublishPacket, type Subscription } from 'aedes';
import type { Logger } from 'pino';
import { CityError, cityError } from '../errors.js';
import { verifyApiKey } from '../auth/api-keys.js';
import { sniffFormat } from '../brain/decode.js';
import type { IngestPipeline } from '../brain/ingest.js';
import type { InputSource } from '../brain/dead-letters.js';
import type { NodeMetrics } from '../ops/metrics.js';
import type { PluginRegistry } from '../plugins/registry.js';

export interface MqttOptions {
  host: string;
  port: number;
  maxPayloadBytes: number;
  maxBatchItems: number;
}

export interface MqttDeps {
  pipeline: IngestPipeline;
  registry: PluginRegistry;
  metrics: NodeMetrics;
  adminTokenHash: string;
  log: Logger;
}

/** `city/{zone}/events/{plugin_id}` and `…/batch` (protobuf EventBatch). */
const EVENTS_TOPIC = /^city\/([^/]+)\/events\/([^/]+)(\/batch)?$/;

type Identity = { kind: 'admin' } | { kind: 'plugin'; pluginId: string };
const identities = new WeakMap<Client, Identity>();

/**
 * The embedded MQTT 3.1.1 broker (aedes) on TCP and over WebSocket. A plugin connects with its
 * model id as username and its API key as password, and publishes its events to
 * `city/{zone}/events/{plugin_id}`. For QoS 1 the PUBACK is sent only after the events are
 * committed (ingest runs inside authorizePublish, which aedes completes before acking).
 * MQTT 3.1.1 has no negative acknowledgement, so an event that fails validation is still
 * acknowledged — it is durably kept in the dead-letter table — and the refusal is published
 * to `city/{zone}/rejected/{plugin_id}` for the plugin to read.
 */
export class MqttBroker {
  readonly #aedes: Aedes;
  readonly #server: net.Server;
  #port = 0;

  private constructor(aedes: Aedes, private readonly options: MqttOptions, private readonly deps: MqttDeps) {
    this.#aedes = aedes;
    this.#server = net.createServer((socket) => aedes.handle(socket));
  }

  static async start(options: MqttOptions, deps: MqttDeps): Promise<MqttBroker> {
    const aedes = await Aedes.createBroker({ id: 'possible-city', maxClientsIdLength: 128, connectTimeout: 30_000 });
    const broker = new MqttBroker(aedes, options, deps);
    aedes.authenticate = (client, username, password, done) => broker.#authenticate(client, username, password, done);
    aedes.authorizePublish = (client, packet, done) => {
      broker.#authorizePublish(client, packet).then(() => done(null), (err: Error) => done(err));
    };
    aedes.authorizeSubscribe = (client, sub, done) => broker.#authorizeSubscribe(client, sub, done);
    aedes.on('client', () => deps.metrics.mqttClients.inc());
    aedes.on('clientDisconnect', () => deps.metrics.mqttClients.dec());
    await new Promise<void>((resolve, reject) => {
      broker.#server.once('error', reject);
      broker.#server.listen(options.port, options.host, () => resolve());
    });
    broker.#port = (broker.#server.address() as net.AddressInfo).port;
    return broker;
  }

  get port(): number {
    return this.#port;
  }

  /** Serves MQTT over a WebSocket stream (the HTTP server's upgrade route calls this). */
  handleStream(stream: Duplex, request: IncomingMessage): void {
    this.#aedes.handle(stream, request);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    await new Promise<void>((resolve) => this.#aedes.close(() => resolve()));
  }

  #source(client: Client | null): InputSource {
    const conn = client?.conn as (Duplex & { remoteAddress?: string }) | undefined;
    const remote = conn?.remoteAddress ?? client?.req?.socket?.remoteAddress ?? null;
    return { transport: 'mqtt', remote, contentType: null };
  }

  #authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: (error: AuthenticateError | null, success: boolean | null) => void,
  ): void {
    const key = password?.toString('utf8') ?? '';
    if (username === 'admin' && verifyApiKey(key, this.deps.adminTokenHash)) {
      identities.set(client, { kind: 'admin' });
      return done(null, true);
    }
    if (username && this.deps.registry.verifyKey(username, key)) {
      identities.set(client, { kind: 'plugin', pluginId: username });
      return done(null, true);
    }
    // MQTT-3.2.2-5 / return code 4: bad user name or password. Kept as a refusal, without payload.
    const err = username ? cityError('AUTH_KEY_INVALID', { pluginId: username }) : cityError('AUTH_KEY_MISSING');
    void this.deps.pipeline.reject(this.#source(client), username && this.deps.registry.has(username) ? username : null, err, null).catch(() => {});
    const refusal = Object.assign(new Error(err.message), { returnCode: 4 }) as AuthenticateError;
    done(refusal, false);
  }

  async #authorizePublish(client: Client | null, packet: PublishPacket): Promise<void> {
    if (client === null) return; // the broker's own publications (rejection notices)
    const identity = identities.get(client);
    const match = EVENTS_TOPIC.exec(packet.topic);
    if (identity?.kind === 'admin' && !match) return;
    if (!match) {
      throw new Error(`publishing to ${packet.topic} is not allowed; plugins publish to city/{zone}/events/{plugin_id}`);
    }
    const [, zone, pluginId, batchSuffix] = match as unknown as [string, string, string, string | undefined];
    if (identity?.kind === 'plugin' && identity.pluginId !== pluginId) {
      throw new Error(`client ${identity.pluginId} may not publish events of plugin ${pluginId}`);
    }
    const started = performance.now();
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    const source = this.#source(client);
    try {
      const plugin = this.deps.registry.forIngest(pluginId);
      if (payload.length > this.options.maxPayloadBytes) {
        throw cityError('PAYLOAD_TOO_LARGE', { size: payload.length, limit: this.options.maxPayloadBytes });
      }
      const format = sniffFormat(payload, batchSuffix !== undefined);
      const { results } = await this.deps.pipeline.ingest(plugin, payload, format, this.options.maxBatchItems, { source, zoneHint: zone, receivedAtMs: Date.now() });
      const refused = results.filter((r) => r.status === 'rejected');
      if (refused.length > 0) this.#notice(zone, pluginId, { rejected: refused.length, results: refused });
    } catch (err) {
      if (err instanceof CityError && err.status < 500) {
        await this.deps.pipeline.reject(source, this.deps.registry.has(pluginId) ? pluginId : null, err, payload);
        this.#notice(zone, pluginId, { error: err.toJSON() });
        return; // kept and explained; acknowledging stops the client from resending it forever
      }
      throw err; // the node's own trouble: no PUBACK, the client will resend
    } finally {
      this.deps.metrics.ingestLatency.observe({ transport: 'mqtt' }, (performance.now() - started) / 1000);
    }
  }

  /**
   * Publishes from the node itself (actuator commands, src/actions). Resolves once the broker
   * has handed the message to its subscribers' queues; subscribing to command topics is for
   * the admin now and for device keys when devices get their own identities.
   */
  publish(topic: string, payload: Buffer, qos: 0 | 1): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#aedes.publish({ cmd: 'publish', topic, payload, qos, retain: false, dup: false }, (err?: Error | null) => (err ? reject(err) : resolve()));
    });
  }

  #notice(zone: string, pluginId: string, body: unknown): void {
    this.#aedes.publish(
      { cmd: 'publish', topic: `city/${zone}/rejected/${pluginId}`, payload: Buffer.from(JSON.stringify(body)), qos: 0, retain: false, dup: false },
      () => {},
    );
  }

  #authorizeSubscribe(client: Client, sub: Subscription, done: (err: Error | null, sub?: Subscription | null) => void): void {
    const identity = identities.get(client);
    if (identity?.kind === 'admin') return done(null, sub);
    // A plugin may follow the refusals of its own events, nothing else: raw events carry
    // personal data that only leaves the pipeline tokenized.
    const m = /^city\/([^/]+)\/rejected\/([^/]+)$/.exec(sub.topic);
    if (identity?.kind === 'plugin' && m && m[2] === identity.pluginId) return done(null, sub);
    done(null, null); // MQTT-3.9.3: SUBACK failure (0x80) for this subscription
  }
}
