#!/usr/bin/env node
// `npm test`: every test on the embedded store (PGlite), then — when PostgreSQL's server
// binaries are installed — the storage-touching tests again against a throwaway PostgreSQL
// cluster on loopback (DESIGN.md: one test suite, run over every backend).
//
//   npm test                 both passes (the PostgreSQL pass is skipped, loudly, without binaries)
//   npm test -- --pg-only    only the PostgreSQL pass
//   npm test -- test/geo     only the files under the given paths, both passes
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { findPostgresBin, startCluster } from './pg-cluster.mjs';

const args = process.argv.slice(2);
const pgOnly = args.includes('--pg-only');
const roots = args.filter((a) => !a.startsWith('--'));
const files = (roots.length ? roots : ['test']).flatMap((r) => (statSync(r).isDirectory() ? walk(r) : [r])).sort();

/**
 * Files that open a store (directly or through a node) run on both backends, except those that
 * say `@pglite-only` (they start a node for something else: the browser tests, static files).
 */
const storeFiles = files.filter((f) => {
  const text = readFileSync(f, 'utf8');
  return /helpers\/(store|node)\.js|startNode|openStore|bin\/city\.mjs/.test(text) && !text.includes('@pglite-only');
});

let failed = false;
// The browser tests drive the dashboard the node serves: build it if its sources changed.
if (!pgOnly && spawnSync(process.execPath, ['scripts/build-web.mjs'], { stdio: 'inherit' }).status !== 0) failed = true;
if (!pgOnly && roots.length === 0) {
  // The whole suite starts with the type check: strict types are part of what a test run proves.
  console.log('# typecheck: tsc --noEmit (the node), tsc --noEmit -p web (the dashboard)');
  for (const project of [[], ['-p', 'web']]) {
    const tsc = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '--noEmit', ...project], { stdio: 'inherit' });
    if (tsc.status !== 0) {
      console.log('# typecheck failed');
      failed = true;
    }
  }
}
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
