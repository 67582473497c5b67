import { Bonjour, type Service } from 'bonjour-service';
import { platform } from 'node:os';
import { VERSION } from '../node/paths.js';

/** Seed 003 "Discovery Service": the service type brokers announce on the local network. */
export const SERVICE_TYPE = 'resourcepool';

/**
 * Announces this node's broker on the local network as `_resourcepool._tcp` (seed 003), with
 * its version and platform, and the scheme the executor should use. Returns the stop function.
 * Multicast DNS stays on the local link: a city's offices and depots, not the internet.
 *
 * @example
 *   const stop = announceBroker({ nodeId: 'local-1', port: 8080, tls: false });
 *   await stop();
 */
export function announceBroker(o: { nodeId: string; port: number; tls: boolean; bonjour?: Bonjour }): () => Promise<void> {
  const bonjour = o.bonjour ?? new Bonjour();
  const service = bonjour.publish({ name: `possible-city-${o.nodeId}`, type: SERVICE_TYPE, protocol: 'tcp', port: o.port, txt: { version: VERSION, platform: platform(), node: o.nodeId, scheme: o.tls ? 'https' : 'http' } });
  return () =>
    new Promise<void>((resolve) => {
      service.stop?.(() => {
        bonjour.destroy();
        resolve();
      });
    });
}

/**
 * Finds a broker announced on the local network (the first to answer), as the URL `city executor`
 * connects to. @throws Error naming the timeout when none answers, saying to pass --broker.
 */
export function discoverBroker(timeoutMs = 10_000, bonjour: Bonjour = new Bonjour()): Promise<{ url: string; node: string | null; service: string }> {
  return new Promise((resolve, reject) => {
    const browser = bonjour.find({ type: SERVICE_TYPE, protocol: 'tcp' }, (service: Service) => {
      const address = service.addresses?.find((a) => /^\d+\.\d+\.\d+\.\d+$/.test(a)) ?? service.referer?.address ?? service.host;
      const txt = (service.txt ?? {}) as Record<string, string>;
      clearTimeout(timer);
      browser.stop();
      bonjour.destroy();
      resolve({ url: `${txt.scheme === 'https' ? 'https' : 'http'}://${address}:${service.port}`, node: txt.node ?? null, service: service.name });
    });
    const timer = setTimeout(() => {
      browser.stop();
      bonjour.destroy();
      reject(new Error(`no broker announced _${SERVICE_TYPE}._tcp on the local network within ${timeoutMs} ms; pass --broker <url>`));
    }, timeoutMs);
  });
}
