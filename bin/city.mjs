#!/usr/bin/env node
// Runs the TypeScript sources through tsx's loader, so `city` works from a checkout without a build.
import v8 from 'node:v8';
import { register } from 'tsx/esm/api';

// Ingest allocates many short-lived objects (parsed events, COPY text); a 64 MiB young
// generation cut GC from ~21% of the main thread and raised acknowledged events/s by ~1/3 in
// `npm run bench:ingest`. Set here so `city` gets it without NODE_OPTIONS; an explicit
// --max-semi-space-size in NODE_OPTIONS still wins.
if (!/--max-semi-space-size/.test(process.env.NODE_OPTIONS ?? '')) v8.setFlagsFromString('--max-semi-space-size=64');

register();
await import('../src/cli/main.ts');
