import { request as httpRequest } from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';

/**
 * The fetch the hierarchy's links use. Without a CA it is the global fetch. With one (the
 * hierarchy's `caFile`: a private CA that signed the nodes' certificates, as a city's IT would
 * run) it is a small fetch over node:https that trusts that CA — the global fetch cannot be
 * given a CA without an extra dependency. Only what the links need is supported: a method,
 * headers, a string body, an AbortSignal; the answer is read whole.
 *
 * @example
 *   const fetchLink = linkFetch(await readFile('ca.pem'));
 *   await fetchLink('https://district-9.city.internal:8443/api/v1/layer/messages', { method: 'POST', body, headers });
 */
export function linkFetch(ca: Buffer | null): typeof fetch {
  if (ca === null) return fetch;
  const agent = new HttpsAgent({ ca, keepAlive: true });
  return (async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    const https = url.protocol === 'https:';
    const headers = Object.fromEntries(new Headers(init.headers).entries());
    const body = typeof init.body === 'string' ? init.body : init.body == null ? null : String(init.body);
    if (body !== null) headers['content-length'] = String(Buffer.byteLength(body));
    return new Promise<Response>((resolve, reject) => {
      const req = (https ? httpsRequest : httpRequest)(url, { method: init.method ?? 'GET', headers, ...(https ? { agent } : {}) }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const answer = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) answer.set(k, Array.isArray(v) ? v.join(', ') : v);
          resolve(new Response(res.statusCode === 204 ? null : Buffer.concat(chunks), { status: res.statusCode ?? 500, headers: answer }));
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      const signal = init.signal;
      if (signal) {
        if (signal.aborted) req.destroy(signal.reason as Error);
        else signal.addEventListener('abort', () => req.destroy(signal.reason as Error), { once: true });
      }
      req.end(body ?? undefined);
    });
  }) as typeof fetch;
}
