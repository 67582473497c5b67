// Worker threads do not inherit the main thread's module hooks (bin/city.mjs registers tsx
// with register(), not --import); this plain-JS entry registers tsx's loader in the worker,
// then loads the TypeScript worker itself. Same approach as src/brain/ingest-worker-boot.mjs.
import { register } from 'tsx/esm/api';

register();
await import('./runner-worker.ts');
