import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { extname, join, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import { brotliCompress, constants as zlib, gzip } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { requires } from '../auth/policy.js';

export interface WebAppOptions {
  /** The dashboard's build output (web/dist). */
  distDir: string;
}

interface Asset {
  type: string;
  etag: string;
  /** Hashed file names (Vite's assets/) never change: cached for a year. */
  immutable: boolean;
  identity: Buffer;
  compressible: boolean;
  /** Made at the first request that accepts them, then kept (see {@link encoded}). */
  gzip?: Promise<Buffer>;
  br?: Promise<Buffer>;
}

const gzipAsync = promisify(gzip);
const brotliAsync = promisify(brotliCompress);

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  // DESIGN.md: module scripts must be served as text/javascript (maplibre-gl ships .mjs).
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};
/** Below this, compressing costs more than it saves. */
const COMPRESS_MIN_BYTES = 1024;

/**
 * The Authority Command Dashboard (web/, built by Vite) at `/`: every file of the build is read
 * once at start and kept in memory, its gzip and brotli forms made at the first request that
 * asks for them and kept too, so a page load is a handful of memory copies (the dashboard must
 * load in under 2 s: bench/dashboard.ts) and a node start compresses nothing (the tests start
 * dozens of nodes; compressing the whole build took ~300 ms of CPU each). Everything here
 * is public: the app itself holds no data; every API call it makes is authorized on its own.
 *
 * A node whose dashboard was not built answers `/` with how to build it, rather than a 404.
 */
export async function webAppRoutes(app: FastifyInstance, opts: WebAppOptions): Promise<void> {
  const assets = existsSync(join(opts.distDir, 'index.html')) ? await loadAssets(opts.distDir) : null;
  const serve = (path: string) => async (request: FastifyRequest, reply: FastifyReply) => send(request, reply, assets?.get(path));

  app.get('/', { schema: { hide: true }, config: requires('public') }, async (request, reply) => {
    if (assets === null) {
      return reply
        .status(503)
        .type('text/html; charset=utf-8')
        .send('<!doctype html><title>Possible City</title><h1>The dashboard is not built</h1><p>Run <code>npm run build:web</code> (or <code>npm ci</code>) and restart the node. The API is at <a href="/docs">/docs</a>.</p>');
    }
    return serve('index.html')(request, reply);
  });
  if (assets === null) return;
  // One route per top-level file (favicon, manifest) and one for the hashed bundle: nothing
  // else under / is the dashboard's, so unknown paths still get the API's JSON 404.
  for (const path of assets.keys()) {
    if (path === 'index.html' || path.startsWith('assets/')) continue;
    app.get(`/${path}`, { schema: { hide: true }, config: requires('public') }, serve(path));
  }
  app.get<{ Params: { '*': string } }>('/assets/*', { schema: { hide: true }, config: requires('public') }, async (request, reply) =>
    send(request, reply, assets.get(`assets/${request.params['*']}`)),
  );
}

async function send(request: FastifyRequest, reply: FastifyReply, asset: Asset | undefined): Promise<FastifyReply> {
  if (!asset) return reply.callNotFound() as unknown as FastifyReply;
  void reply.header('etag', asset.etag).header('vary', 'accept-encoding').type(asset.type);
  // index.html must be revalidated so a new build's asset names are picked up at once.
  void reply.header('cache-control', asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
  if (request.headers['if-none-match'] === asset.etag) return reply.status(304).send();
  const accepts = String(request.headers['accept-encoding'] ?? '');
  const encoding = !asset.compressible ? null : /\bbr\b/.test(accepts) ? 'br' : /\bgzip\b/.test(accepts) ? 'gzip' : null;
  if (encoding === null) return reply.send(asset.identity);
  return reply.header('content-encoding', encoding).send(await encoded(asset, encoding));
}

function encoded(asset: Asset, encoding: 'br' | 'gzip'): Promise<Buffer> {
  if (encoding === 'gzip') return (asset.gzip ??= gzipAsync(asset.identity, { level: 9 }));
  // Quality 9 rather than 11: within a few per cent of the size at a tenth of the time.
  return (asset.br ??= brotliAsync(asset.identity, { params: { [zlib.BROTLI_PARAM_QUALITY]: 9 } }));
}

async function loadAssets(distDir: string): Promise<Map<string, Asset>> {
  const assets = new Map<string, Asset>();
  for (const file of await listFiles(distDir)) {
    const path = relative(distDir, file).split(sep).join('/');
    const identity = await readFile(file);
    const type = TYPES[extname(file)] ?? 'application/octet-stream';
    assets.set(path, {
      type,
      etag: `"${createHash('sha256').update(identity).digest('base64url').slice(0, 22)}"`,
      immutable: path.startsWith('assets/'),
      identity,
      compressible: identity.length >= COMPRESS_MIN_BYTES && !/^image\/png|^font\//.test(type),
    });
  }
  return assets;
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(entries.map((e) => (e.isDirectory() ? listFiles(join(dir, e.name)) : Promise.resolve([join(dir, e.name)]))));
  return nested.flat();
}
