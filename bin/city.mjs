#!/usr/bin/env -S node --max-semi-space-size=64
// Runs the TypeScript sources through tsx's loader, so `city` works from a checkout without a build.
//
// --max-semi-space-size=64: ingest allocates many short-lived objects (parsed events, COPY
// text); a 64 MiB young generation cut GC from ~21% of the main thread and raised acknowledged
// events/s by about a third in `npm run bench:ingest`. It must be a command-line flag (set at
// run time, V8 keeps the default new-space size), so the shebang, `npm start` and the
// benchmark's spawn all pass it.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
