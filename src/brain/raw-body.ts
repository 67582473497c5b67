import type { FastifyInstance, FastifyRequest } from 'fastify';

/** A request body read as bytes, with the overflow kept apart so it can still be dead-lettered. */
export interface RawBody {
  bytes: Buffer;
  /** Total bytes the client sent (may exceed `bytes.length` when over the limit). */
  size: number;
  overLimit: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    rawBody?: RawBody;
  }
}

/**
 * Reads every body as raw bytes up to `limitBytes`. Past the limit it keeps reading (and
 * discarding, up to 8× the limit) so the client gets a clean 413 answer and the dead-letter
 * table keeps the first `limitBytes` of what was refused, instead of fastify closing the socket.
 * Decoding by content type happens in the route, where a failure can be recorded.
 */
export function registerRawBodyParser(app: FastifyInstance, limitBytes: number): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (request: FastifyRequest, payload, done) => {
    const chunks: Buffer[] = [];
    let kept = 0;
    let size = 0;
    payload.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (kept < limitBytes) {
        const take = Math.min(chunk.length, limitBytes - kept);
        chunks.push(take === chunk.length ? chunk : chunk.subarray(0, take));
        kept += take;
      }
      if (size > limitBytes * 8) payload.destroy();
    });
    payload.on('error', (err) => done(err, undefined));
    payload.on('end', () => {
      const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, kept);
      request.rawBody = { bytes, size, overLimit: size > limitBytes };
      done(null, undefined);
    });
  });
}

