// Worker threads do not inherit the main thread's module hooks; this plain-JS entry registers
// tsx's loader in the worker, then loads the TypeScript worker itself.
import { register } from 'tsx/esm/api';

register();
await import('./ingest-worker.ts');
