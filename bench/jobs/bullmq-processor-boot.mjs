// BullMQ loads its sandboxed processor with import() in a worker thread of its own, and worker
// threads do not inherit the parent's module hooks (not even `--import tsx` in execArgv, on
// Node 20): this plain-JS entry registers tsx there, then loads the TypeScript processor — the
// same approach as src/compute/tasks/runner-worker-boot.mjs, which every Possible City job pays.
import { register } from 'tsx/esm/api';

register();
const { default: processJob } = await import('./bullmq-processor.ts');
export default processJob;
