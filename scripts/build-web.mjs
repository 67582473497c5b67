#!/usr/bin/env node
// Builds the dashboard (web/, Vite) when its build is missing or older than its sources, so
// `npm ci`, `npm start` and `npm test` always serve the dashboard of the code checked out.
//
//   node scripts/build-web.mjs           build if stale
//   node scripts/build-web.mjs --force   build anyway
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = fileURLToPath(new URL('../web/', import.meta.url));
const built = join(web, 'dist/index.html');
const sources = ['src', 'public', 'index.html', 'vite.config.ts', 'package.json'].map((p) => join(web, p));

function newest(path) {
  if (!existsSync(path)) return 0;
  const s = statSync(path);
  if (!s.isDirectory()) return s.mtimeMs;
  return Math.max(s.mtimeMs, ...readdirSync(path).map((e) => newest(join(path, e))));
}

const force = process.argv.includes('--force');
if (!force && existsSync(built) && statSync(built).mtimeMs >= Math.max(...sources.map(newest))) process.exit(0);

console.log('# building the dashboard (web/, vite build)');
const vite = join(web, '../node_modules/vite/bin/vite.js');
const result = spawnSync(process.execPath, [vite, 'build', '--logLevel', 'warn'], { cwd: web, stdio: 'inherit' });
if (result.status !== 0) {
  console.error('the dashboard did not build: see the errors above (web/src)');
  process.exit(result.status ?? 1);
}
