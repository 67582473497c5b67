// @pglite-only: serving the dashboard's files touches no storage.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { startTestNode } from '../helpers/node.js';

/** A raw GET (fetch would decompress and hide the encoding). */
function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function fakeBuild(t: { after(fn: () => unknown): void }): Promise<{ dir: string; script: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'city-web-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'assets'));
  const script = `export const zones = ${JSON.stringify(Array.from({ length: 200 }, (_, i) => `chennai-w${i}`))};\n`;
  await writeFile(join(dir, 'index.html'), '<!doctype html><title>Possible City</title><script type="module" src="/assets/index-abc.js"></script>');
  await writeFile(join(dir, 'assets/index-abc.js'), script);
  await writeFile(join(dir, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  return { dir, script };
}

test('the dashboard is served at / with the strict CSP, and its hashed assets compressed and cached for good', async (t) => {
  const build = await fakeBuild(t);
  const node = await startTestNode(t, { http: { dashboardDir: build.dir } });

  const page = await get(`${node.url}/`);
  assert.equal(page.status, 200);
  assert.match(String(page.headers['content-type']), /^text\/html/);
  assert.equal(page.headers['cache-control'], 'no-cache', 'index.html is revalidated so a new build is picked up');
  assert.match(String(page.headers['content-security-policy']), /default-src 'self'/);
  assert.match(page.body.toString(), /Possible City/);

  const br = await get(`${node.url}/assets/index-abc.js`, { 'accept-encoding': 'gzip, deflate, br' });
  assert.equal(br.status, 200);
  assert.equal(br.headers['content-encoding'], 'br');
  assert.match(String(br.headers['content-type']), /^text\/javascript/);
  assert.equal(br.headers['cache-control'], 'public, max-age=31536000, immutable');
  assert.equal(brotliDecompressSync(br.body).toString(), build.script);

  const gzip = await get(`${node.url}/assets/index-abc.js`, { 'accept-encoding': 'gzip' });
  assert.equal(gzip.headers['content-encoding'], 'gzip');
  assert.equal(gunzipSync(gzip.body).toString(), build.script);

  const plain = await get(`${node.url}/assets/index-abc.js`);
  assert.equal(plain.headers['content-encoding'], undefined);
  assert.equal(plain.body.toString(), build.script);

  const again = await get(`${node.url}/assets/index-abc.js`, { 'if-none-match': String(plain.headers.etag) });
  assert.equal(again.status, 304);

  const icon = await get(`${node.url}/favicon.svg`);
  assert.equal(icon.status, 200);
  assert.equal(icon.headers['content-type'], 'image/svg+xml');
});

test('unknown paths keep the API’s JSON 404, under /assets too', async (t) => {
  const build = await fakeBuild(t);
  const node = await startTestNode(t, { http: { dashboardDir: build.dir } });
  for (const path of ['/assets/missing.js', '/nothing-here']) {
    const res = await get(`${node.url}${path}`);
    assert.equal(res.status, 404, path);
    assert.equal(JSON.parse(res.body.toString()).error.code, 'CITY_ERR_ROUTE_NOT_FOUND', path);
  }
});

test('a node whose dashboard is not built says how to build it', async (t) => {
  const empty = await mkdtemp(join(tmpdir(), 'city-web-empty-'));
  t.after(() => rm(empty, { recursive: true, force: true }));
  const node = await startTestNode(t, { http: { dashboardDir: empty } });
  const res = await get(`${node.url}/`);
  assert.equal(res.status, 503);
  assert.match(res.body.toString(), /npm run build:web/);
});
