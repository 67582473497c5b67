import net from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { Aedes, type AedesPublishPacket, type AuthenticateError, type Client, type PublishPacket, type Subscription } from 'aedes';
import type { Logger } from 'pino';
import { CityError, cityError } from '../errors.js';
import { authenticateMqtt, authorizeMqttPublish, authorizeMqttSubscribe, EVENTS_TOPIC, type MqttPolicyContext } from '../auth/mqtt-policy.js';
import { hashApiKey } from '../auth/api-keys.js';
import { AccessTokens } from '../auth/access-tokens.js';
import type { PolicyDeps } from '../auth/policy.js';
import { actorId, ANONYMOUS, type Principal } from '../auth/principal.js';
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

/** Where a client was refused. */
export type MqttRefusalStage = 'connect' | 'publish' | 'subscribe' | 'forward';

export interface MqttDeps {
  pipeline: IngestPipeline;
  registry: Pick<PluginRegistry, 'forIngest' | 'has'>;
  metrics: NodeMetrics;
  /** The node's one authorization policy (src/auth/policy.ts), applied through src/auth/mqtt-policy.ts. */
  policy: PolicyDeps;
  log: Logger;
}

/**
 * Who a connected client is. A key's owner is looked up again by `keyHash` at every PUBLISH,
 * SUBSCRIBE and message forwarded to it (one map lookup), so rotating or revoking a key, or
 * re-binding a device to another zone or plugin, applies to connections and subscriptions already
 * open; a user's access `token` is verified again at each SUBSCRIBE, and its session and expiry
 * are checked at each message forwarded, so signing out does too.
 */
interface Session {
  principal: Principal;
  keyHash: string | null;
  token: string | null;
  tokenExpiresAtMs: number | null;
}
const sessions = new WeakMap<Client, Session>();

/**
 * The embedded MQTT 3.1.1 broker (aedes) on TCP and over WebSocket, under the node's one
 * authorization policy: CONNECT takes a plugin or device key, the admin token or a user's access
 * token as password (src/auth/mqtt-policy.ts `authenticateMqtt`); every PUBLISH and SUBSCRIBE is
 * decided by `authorizeMqttPublish` / `authorizeMqttSubscribe`. Refusals are explicit and
 * counted: CONNACK return code 4 or 5 (kept as a dead letter, like a refused webhook), the
 * connection closed for a refused PUBLISH (MQTT 3.1.1 has no negative PUBACK), SUBACK 0x80 for a
 * refused subscription (MQTT-3.9.3).
 *
 * Plugins and devices publish events to `city/{zone}/events/{plugin_id}`. For QoS 1 the PUBACK
 * is sent only after the events are committed (ingest runs inside authorizePublish, which aedes
 * completes before acking). An event that fails validation is still acknowledged — it is durably
 * kept in the dead-letter table — and the refusal is published to `city/{zone}/rejected/{plugin_id}`.
 * Devices receive their actuator commands on `city/{zone}/commands/{device_id}` ({@link publish}).
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
    aedes.authorizeForward = (client, packet) => broker.#authorizeForward(client, packet);
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

  #context(): MqttPolicyContext {
    return { nodeTenant: this.deps.policy.nodeTenant, zones: this.deps.policy.zones() };
  }

  /** The client's principal now (see {@link Session}), or why its key no longer counts. */
  #current(session: Session | undefined): Principal | CityError {
    if (session === undefined) return ANONYMOUS;
    if (session.keyHash === null) return session.principal;
    const owner = this.deps.policy.keyOwner(session.keyHash);
    return owner?.principal ?? cityError('AUTH_KEY_INVALID', { pluginId: actorId(session.principal) });
  }

  #refused(stage: MqttRefusalStage, error: CityError, principal: Principal, topic: string | null): void {
    this.deps.metrics.mqttRefused.inc({ stage, code: error.code });
    this.deps.log.debug({ stage, code: error.code, actor: actorId(principal), topic }, error.message);
  }

  #authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: (error: AuthenticateError | null, success: boolean | null) => void,
  ): void {
    const source = this.#source(client);
    authenticateMqtt(this.deps.policy, username, password, source.remote).then(
      (principal) => {
        const secret = password!.toString('utf8');
        const byKey = principal.kind === 'plugin' || principal.kind === 'device';
        const token = principal.kind === 'user' ? secret : null;
        sessions.set(client, { principal, keyHash: byKey ? hashApiKey(secret) : null, token, tokenExpiresAtMs: token ? AccessTokens.expiresAtMs(token) : null });
        done(null, true);
      },
      (err: unknown) => {
        const error = err instanceof CityError ? err : cityError('INTERNAL', { reason: err instanceof Error ? err.message : String(err) }, err);
        this.#refused('connect', error, ANONYMOUS, null);
        // Kept as a refusal, without payload, like a refused webhook request.
        void this.deps.pipeline.reject(source, username && this.deps.registry.has(username) ? username : null, error, null).catch(() => {});
        // MQTT-3.2.2-5 CONNACK return codes: 4 bad user name or password (401s), 5 not authorized
        // (a good credential from a source outside its allow-list, another tenant's, …).
        const refusal = Object.assign(new Error(error.message), { returnCode: error.status === 401 ? 4 : 5 }) as AuthenticateError;
        done(refusal, false);
      },
    );
  }

  async #authorizePublish(client: Client | null, packet: PublishPacket): Promise<void> {
    if (client === null) return; // the broker's own publications (commands, rejection notices)
    const current = this.#current(sessions.get(client));
    const principal = current instanceof CityError ? ANONYMOUS : current;
    const verdict = current instanceof CityError ? { allow: false as const, error: current } : authorizeMqttPublish(principal, packet.topic, this.#context());
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    const source = this.#source(client);
    if (!verdict.allow) {
      this.#refused('publish', verdict.error, principal, packet.topic);
      const pluginId = EVENTS_TOPIC.exec(packet.topic)?.[2] ?? null;
      await this.deps.pipeline.reject(source, pluginId !== null && this.deps.registry.has(pluginId) ? pluginId : null, verdict.error, payload).catch(() => {});
      throw verdict.error; // aedes closes the connection: MQTT 3.1.1 has no negative PUBACK
    }
    if (verdict.events === null) return; // the super admin's publication to another topic, passed through
    const { zone, pluginId, batch } = verdict.events;
    const started = performance.now();
    try {
      const plugin = this.deps.registry.forIngest(pluginId);
      if (payload.length > this.options.maxPayloadBytes) {
        throw cityError('PAYLOAD_TOO_LARGE', { size: payload.length, limit: this.options.maxPayloadBytes });
      }
      const format = sniffFormat(payload, batch);
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
   * has handed the message to its subscribers' queues: the device subscribed to
   * `city/{zone}/commands/{device_id}`, and users monitoring that zone.
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

  /**
   * Every message the broker is about to deliver to a subscriber, decided again as if subscribed
   * now (synchronously: aedes asks per delivery): a revoked device or a signed-out user stops
   * receiving commands on subscriptions made before.
   */
  #authorizeForward(client: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
    const session = sessions.get(client);
    const current = this.#current(session);
    let verdict: { allow: true } | { allow: false; error: CityError };
    if (current instanceof CityError) verdict = { allow: false, error: current };
    else if (current.kind === 'user' && this.deps.policy.accessTokens.isSessionRevoked(current.sessionId)) verdict = { allow: false, error: cityError('AUTH_TOKEN_INVALID', { reason: 'the session was signed out or revoked' }) };
    else if (session?.tokenExpiresAtMs != null && session.tokenExpiresAtMs <= Date.now()) verdict = { allow: false, error: cityError('AUTH_TOKEN_INVALID', { reason: 'it has expired' }) };
    else verdict = authorizeMqttSubscribe(current, packet.topic, this.#context());
    if (verdict.allow) return packet;
    this.#refused('forward', verdict.error, current instanceof CityError ? ANONYMOUS : current, packet.topic);
    return null;
  }

  #authorizeSubscribe(client: Client, sub: Subscription, done: (err: Error | null, sub?: Subscription | null) => void): void {
    const session = sessions.get(client);
    const current = this.#current(session);
    const principal = current instanceof CityError ? ANONYMOUS : current;
    const decideNow = async () => {
      if (current instanceof CityError) return { allow: false as const, error: current };
      if (session?.token) {
        const checked = await this.deps.policy.accessTokens.verify(session.token);
        if ('reason' in checked) return { allow: false as const, error: cityError('AUTH_TOKEN_INVALID', { reason: checked.reason }) };
      }
      return authorizeMqttSubscribe(principal, sub.topic, this.#context());
    };
    decideNow().then(
      (verdict) => {
        if (verdict.allow) return done(null, sub);
        this.#refused('subscribe', verdict.error, principal, sub.topic);
        done(null, null); // MQTT-3.9.3: SUBACK failure (0x80) for this subscription
      },
      (err: unknown) => {
        this.#refused('subscribe', cityError('INTERNAL', { reason: String(err) }, err), principal, sub.topic);
        done(null, null);
      },
    );
  }
}
