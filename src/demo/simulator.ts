import mqtt from 'mqtt';
import type { Logger } from 'pino';
import { ZoneIndex } from '../geo/zone-index.js';
import type { ZoneTree } from '../geo/zones.js';
import { DEMO_GENERATORS, sampleSpots, seededRandom, type Spot } from './generators.js';

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

  const tickMs = 500;
  const perTick = Math.max(1, Math.round((opts.eventsPerSecond * tickMs) / 1000));
  let tick = 0;
  const timer = setInterval(() => {
    tick++;
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
      await client?.endAsync();
    },
  };
}
