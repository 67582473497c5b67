import mqtt from 'mqtt';
import type { Logger } from 'pino';
import { ZoneIndex } from '../geo/zone-index.js';
import type { ZoneTree } from '../geo/zones.js';
import { DEMO_GENERATORS, floodPrediction, near, resourceStatus, sampleSpots, seededRandom, trafficStatus, violationEvent, type Spot } from './generators.js';

export interface SimulatorOptions {
  url: string;
  mqttUrl: string | null;
  keys: Record<string, string>;
  tree: ZoneTree;
  eventsPerSecond: number;
  log: Logger;
}

/**
 * The demo's event source: plugins posting to their webhooks (batches of a few events) and one
 * flood sensor network publishing over MQTT, as real vendors would. Every so often it sends a
 * bad event on purpose, so the dead-letter table has something to show.
 */
export async function startSimulator(opts: SimulatorOptions): Promise<{ stop(): Promise<void>; stats: { sent: number; accepted: number; rejected: number } }> {
  const random = seededRandom(2026);
  const spots: Spot[] = sampleSpots(opts.tree, new ZoneIndex(opts.tree), 400, random);
  const stats = { sent: 0, accepted: 0, rejected: 0 };
  const plugins = Object.keys(opts.keys).filter((id) => DEMO_GENERATORS[id]);
  const floodKey = opts.keys['flood-level-monitor-v1'];
  const client = opts.mqttUrl && floodKey ? await mqtt.connectAsync(opts.mqttUrl, { username: 'flood-level-monitor-v1', password: floodKey, reconnectPeriod: 1000 }) : null;

  const send = (pluginId: string, events: Array<Record<string, unknown>>): void => {
    const key = opts.keys[pluginId];
    if (!key || events.length === 0) return;
    stats.sent += events.length;
    fetch(`${opts.url}/webhook/${pluginId}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': key }, body: JSON.stringify(events) })
      .then(async (res) => {
        const body = (await res.json()) as { accepted?: number; rejected?: number; status?: string };
        stats.accepted += body.accepted ?? (body.status === 'accepted' ? 1 : 0);
        stats.rejected += body.rejected ?? (body.status === 'rejected' ? 1 : 0);
      })
      .catch((err: Error) => opts.log.warn({ err: err.message }, 'simulator could not post'));
  };
  const scenes = new Scenes(spots, random, send);
  for (const [id, type] of FLEET) send('emergency-fleet-tracker', [resourceStatus(spots[Math.floor(random() * spots.length)]!, id, type, 'available')]);

  const tickMs = 500;
  const perTick = Math.max(1, Math.round((opts.eventsPerSecond * tickMs) / 1000));
  let tick = 0;
  const timer = setInterval(() => {
    tick++;
    scenes.tick(tick);
    for (const pluginId of plugins) {
      const generate = DEMO_GENERATORS[pluginId]!;
      const events = Array.from({ length: Math.max(1, Math.round(perTick / plugins.length)) }, () => generate(spots[Math.floor(random() * spots.length)]!, random));
      if (tick % 20 === 0 && pluginId === 'traffic-violation-detector-v2') events.push({ ...events[0], confidence_score: 1.7 }); // out of range on purpose
      if (client && pluginId === 'flood-level-monitor-v1') {
        const spot = spots[Math.floor(random() * spots.length)]!;
        for (const e of events) void client.publishAsync(`city/${spot.zoneId}/events/${pluginId}`, JSON.stringify(e), { qos: 1 }).then(() => stats.sent++);
        continue;
      }
      stats.sent += events.length;
      fetch(`${opts.url}/webhook/${pluginId}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': opts.keys[pluginId]! }, body: JSON.stringify(events) })
        .then(async (res) => {
          const body = (await res.json()) as { accepted?: number; rejected?: number };
          stats.accepted += body.accepted ?? 0;
          stats.rejected += body.rejected ?? 0;
        })
        .catch((err: Error) => opts.log.warn({ err: err.message }, 'simulator could not post'));
    }
  }, tickMs);

  return {
    stats,
    async stop() {
      clearInterval(timer);
      scenes.stop();
      await client?.endAsync();
    },
  };
}

/** The demo fleet: ambulances and fire trucks whose status the state store shows. */
const FLEET: Array<[string, string]> = [
  ['AMB-01', 'ambulance'], ['AMB-02', 'ambulance'], ['AMB-03', 'ambulance'], ['AMB-04', 'ambulance'], ['AMB-05', 'ambulance'],
  ['FT-01', 'fire_truck'], ['FT-02', 'fire_truck'], ['FT-03', 'fire_truck'],
];

/**
 * Situations that make the demo's correlation rules fire (examples/rules): a flood warning with
 * traffic data near it, congestion turning into gridlock on one road, a speeding hotspot, and
 * ambulances dispatched that mostly — not always — report on scene.
 */
class Scenes {
  readonly #timeouts = new Set<NodeJS.Timeout>();
  constructor(
    private readonly spots: Spot[],
    private readonly random: () => number,
    private readonly send: (pluginId: string, events: Array<Record<string, unknown>>) => void,
  ) {}

  tick(tick: number): void {
    const spot = (): Spot => this.spots[Math.floor(this.random() * this.spots.length)]!;
    const r = this.random;
    if (tick % 40 === 10) {
      const at = spot();
      this.send('flood_prediction_model', [floodPrediction(at, r, Date.now(), 35 + Math.round(r() * 35))]);
      this.later(3_000, () => this.send('traffic_monitoring', [trafficStatus(near(at, 150 + r() * 250, r), r, Date.now(), 'heavy')]));
    }
    if (tick % 40 === 20) {
      const at = spot();
      const road = 'Anna Salai';
      this.send('traffic_monitoring', [trafficStatus(at, r, Date.now(), 'heavy', road)]);
      this.later(4_000, () => this.send('traffic_monitoring', [trafficStatus(near(at, 200, r), r, Date.now(), 'gridlock', road)]));
    }
    if (tick % 60 === 30) {
      const at = spot();
      const events = Array.from({ length: 5 }, () => ({ ...violationEvent(near(at, r() * 120, r), r), violation_type: 'speeding', severity: 'high' }));
      this.send('traffic-violation-detector-v2', events);
    }
    if (tick % 50 === 40) {
      const [id] = FLEET[Math.floor(r() * 5)]!;
      const at = spot();
      this.send('emergency-fleet-tracker', [resourceStatus(at, id, 'ambulance', 'dispatched')]);
      if (r() < 0.8) {
        this.later(8_000, () => this.send('emergency-fleet-tracker', [resourceStatus(at, id, 'ambulance', 'on_scene')]));
        this.later(20_000, () => this.send('emergency-fleet-tracker', [resourceStatus(at, id, 'ambulance', 'available')]));
      }
    }
  }

  later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.#timeouts.delete(t);
      fn();
    }, ms);
    this.#timeouts.add(t);
  }

  stop(): void {
    for (const t of this.#timeouts) clearTimeout(t);
  }
}
