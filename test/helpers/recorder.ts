import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Recorder {
  /** `http://127.0.0.1:<port><path>` */
  url: string;
  /** Every JSON body posted to it, in order. */
  received: any[];
  close(): Promise<void>;
}

/**
 * A real HTTP server on 127.0.0.1:0 standing in for an outside system (an actuator, a fines
 * system): it answers 200 with `answer` and keeps every JSON body it got.
 */
export async function recorder(path: string, answer = 'ok'): Promise<Recorder> {
  const received: any[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push(JSON.parse(body));
      res.writeHead(200, { 'content-type': 'text/plain' }).end(answer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A port nothing listens on (the system just handed it out and took it back): an unreachable system. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
