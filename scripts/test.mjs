#!/usr/bin/env node
// `npm test`: every test on the embedded store (PGlite), then — when PostgreSQL's server
// binaries are installed — the storage-touching tests again against a throwaway PostgreSQL
// cluster on loopback (DESIGN.md: one test suite, run over every backend).
//
//   npm test                 both passes (the PostgreSQL pass is skipped, loudly, without binaries)
//   npm test -- --pg-only    only the PostgreSQL pass
//   npm test -- test/geo     only the files under the given paths, both passes
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, chmodSync, chownSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const args = process.argv.slice(2);
const pgOnly = args.includes('--pg-only');
const roots = args.filter((a) => !a.startsWith('--'));
const files = (roots.length ? roots : ['test']).flatMap((r) => (statSync(r).isDirectory() ? walk(r) : [r])).sort();

/** Files that open a store (directly or through a node) run on both backends. */
const storeFiles = files.filter((f) => /helpers\/(store|node)\.js|startNode|openStore|bin\/city\.mjs/.test(readFileSync(f, 'utf8')));

let failed = false;
if (!pgOnly) failed = (await runTests('PGlite', files, {})) || failed;

const pgBin = findPostgresBin();
if (!pgBin) {
  console.log('\n# PostgreSQL pass skipped: no PostgreSQL server binaries (apt-get install postgresql); .ci/run installs them.');
  if (pgOnly) failed = true;
} else if (storeFiles.length > 0) {
  const cluster = await startCluster(pgBin);
  try {
    failed = (await runTests('PostgreSQL', storeFiles, { DATABASE_URL: cluster.url })) || failed;
  } finally {
    cluster.stop();
  }
}
process.exit(failed ? 1 : 0);

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'helpers' ? [] : walk(p);
    return e.name.endsWith('.test.ts') ? [p] : [];
  });
}

function runTests(label, list, env) {
  console.log(`\n# ${label} pass: ${list.length} test files`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--test', ...list], {
      stdio: 'inherit',
      env: { ...process.env, ...env },
    });
    child.on('exit', (code) => resolve(code !== 0));
  });
}

function findPostgresBin() {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return null;
  for (const v of readdirSync(base).sort().reverse()) {
    const bin = join(base, v, 'bin');
    if (existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'pg_ctl'))) return bin;
  }
  return null;
}

async function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** initdb + pg_ctl start on 127.0.0.1, as the `postgres` user when we are root (PostgreSQL refuses root). */
async function startCluster(bin) {
  const dir = mkdtempSync(join(tmpdir(), 'city-pg-'));
  const port = await freePort();
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const ids = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const gids = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    chownSync(dir, Number(ids.stdout), Number(gids.stdout));
    chmodSync(dir, 0o700);
  }
  const run = (cmd, cmdArgs) => {
    const full = asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, cmd), ...cmdArgs]] : [join(bin, cmd), cmdArgs];
    const r = spawnSync(full[0], full[1], { encoding: 'utf8', cwd: tmpdir() });
    if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr || r.stdout}`);
  };
  const data = join(dir, 'data');
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  run('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=200`, '-w', 'start']);
  console.log(`\n# PostgreSQL cluster on 127.0.0.1:${port} (${relative(process.cwd(), dir) || dir})`);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop() {
      try {
        run('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
