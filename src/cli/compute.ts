import { readFile, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import pino from 'pino';
import { EXECUTOR_DEFAULTS, ExecutorAgent } from '../compute/executor.js';
import { discoverBroker } from '../compute/discovery.js';
import { nodeClientOptions, nodeToken, type NodeClientFlags } from './node-client.js';

interface ExecutorFlags {
  broker?: string;
  key?: string;
  name?: string;
  data: string;
  maxCpu: string;
  maxMemory: string;
  maxStorage: string;
  concurrency: string;
  dedicated?: boolean;
  logLevel: string;
}

interface SubmitFlags extends NodeClientFlags {
  kind?: string;
  wasm?: string;
  input?: string;
  inputRef?: string;
  cpu?: string;
  memory?: string;
  gpu?: boolean;
  priority?: string;
  deadline?: string;
  timeout?: string;
  fanOut?: string;
  wait?: boolean;
  output?: string;
}

/** `city executor` (issue 7 §1) and `city submit` (§3): the two ends of the compute network a person runs. */
export function registerCompute(program: Command): void {
  program
    .command('executor')
    .description("offer this machine's spare CPU, memory and storage to a broker and run its jobs")
    .option('--broker <url>', "the broker node's URL (default CITY_BROKER_URL, else the first broker announcing _resourcepool._tcp on the local network)")
    .option('--key <key>', 'the executor key an admin issued (POST /api/v1/pool/executors); default CITY_EXECUTOR_KEY')
    .option('--name <name>', 'the name the pool shows (default: the host name)')
    .option('--data <dir>', "where the executor keeps its signing key", process.env.CITY_EXECUTOR_DATA ?? './executor')
    .option('--max-cpu <share>', 'share of the CPU the pool may use (0–1)', String(EXECUTOR_DEFAULTS.limits.max_cpu_share))
    .option('--max-memory <share>', 'share of the memory the pool may use (0–1)', String(EXECUTOR_DEFAULTS.limits.max_memory_share))
    .option('--max-storage <share>', 'share of the free disk the pool may use (0–1)', String(EXECUTOR_DEFAULTS.limits.max_storage_share))
    .option('--concurrency <n>', 'jobs run at once', String(EXECUTOR_DEFAULTS.concurrency))
    .option('--dedicated', 'a machine for pool work only (a server): offer its share whatever its load')
    .option('--log-level <level>', 'fatal | error | warn | info | debug', 'info')
    .action(async (flags: ExecutorFlags) => {
      const key = flags.key ?? process.env.CITY_EXECUTOR_KEY;
      if (!key) fail('executor', 'no key: pass --key ek_… or set CITY_EXECUTOR_KEY (an admin issues one with POST /api/v1/pool/executors)');
      const share = (v: string, name: string) => {
        const n = Number(v);
        if (!(n >= 0 && n <= 1)) fail('executor', `${name} must be a share between 0 and 1, not ${v}`);
        return n;
      };
      const concurrency = Number(flags.concurrency);
      if (!Number.isInteger(concurrency) || concurrency < 1) fail('executor', `--concurrency must be a whole number of at least 1, not ${flags.concurrency}`);
      const log = pino({ level: flags.logLevel });
      let brokerUrl = flags.broker ?? process.env.CITY_BROKER_URL;
      if (!brokerUrl) {
        process.stdout.write('looking for a broker on the local network (mDNS _resourcepool._tcp) …\n');
        try {
          const found = await discoverBroker();
          brokerUrl = found.url;
          process.stdout.write(`found broker ${found.node ?? found.service} at ${found.url}\n`);
        } catch (err) {
          fail('executor', (err as Error).message);
        }
      }
      const agent = await ExecutorAgent.start({
        brokerUrl,
        key,
        name: flags.name,
        dataDir: flags.data,
        limits: { max_cpu_share: share(flags.maxCpu, '--max-cpu'), max_memory_share: share(flags.maxMemory, '--max-memory'), max_storage_share: share(flags.maxStorage, '--max-storage'), dedicated: flags.dedicated === true },
        concurrency,
        log,
      });
      agent.onState((state) => process.stdout.write(`executor ${state} (broker ${brokerUrl})\n`));
      const stop = async () => {
        await agent.close();
        process.exit(0);
      };
      process.on('SIGINT', () => void stop());
      process.on('SIGTERM', () => void stop());
    });

  nodeClientOptions(program.command('submit').description('submit a job to a broker: a task kind or a WebAssembly module, with its input; --wait follows it to its result'))
    .option('--kind <kind>', 'flood_simulation | route_optimisation | anomaly_scoring')
    .option('--wasm <file>', 'a WebAssembly module to run instead of a kind')
    .option('--input <file>', 'the input file (JSON for a kind, any bytes for a module)')
    .option('--input-ref <ref>', 'input already in the data store (sha256:…)')
    .option('--cpu <cores>', 'CPU cores it needs')
    .option('--memory <mb>', 'memory it needs, MB')
    .option('--gpu', 'it needs a GPU')
    .option('--priority <p>', 'critical | high | normal | low')
    .option('--deadline <seconds>', 'fail if not placed within this long')
    .option('--timeout <seconds>', 'time limit of one run')
    .option('--fan-out <n>', 'split over up to n executors and merge the results')
    .option('--wait', 'follow the job, showing progress, and print its result')
    .option('--output <file>', 'with --wait: write the result here instead of printing it')
    .action(async (flags: SubmitFlags) => {
      const token = await nodeToken(flags);
      if (!token) fail('submit', 'no token: pass --token, set CITY_ADMIN_TOKEN, or point --data at the node\'s data folder');
      const base = flags.url.replace(/\/+$/, '');
      const auth = { authorization: `Bearer ${token}` };
      const call = async (path: string, init: RequestInit = {}): Promise<Response> => {
        try {
          return await fetch(base + path, { ...init, headers: { ...auth, ...(init.headers as Record<string, string>) } });
        } catch (err) {
          fail('submit', `cannot reach ${base}: ${(err as Error).message} — is the node running?`);
        }
      };
      const upload = async (file: string, type: string): Promise<string> => {
        const bytes = await readFile(file).catch((err: Error) => fail('submit', `cannot read ${file}: ${err.message}`));
        const res = await call('/api/v1/blobs', { method: 'POST', headers: { 'content-type': type }, body: bytes });
        if (!res.ok) fail('submit', `upload of ${file} refused: ${await res.text()}`);
        return ((await res.json()) as { ref: string }).ref;
      };
      const body: Record<string, unknown> = {};
      if (flags.kind) body.kind = flags.kind;
      if (flags.wasm) body.wasm_ref = await upload(flags.wasm, 'application/wasm');
      if (flags.input) body.input_ref = await upload(flags.input, flags.kind ? 'application/json' : 'application/octet-stream');
      if (flags.inputRef) body.input_ref = flags.inputRef;
      const needs: Record<string, unknown> = {};
      if (flags.cpu) needs.cpu_cores = Number(flags.cpu);
      if (flags.memory) needs.memory_mb = Number(flags.memory);
      if (flags.gpu) needs.gpu = true;
      if (Object.keys(needs).length > 0) body.needs = needs;
      if (flags.priority) body.priority = flags.priority;
      if (flags.deadline) body.deadline_s = Number(flags.deadline);
      if (flags.timeout) body.timeout_s = Number(flags.timeout);
      if (flags.fanOut) body.fan_out = Number(flags.fanOut);
      const res = await call('/api/v1/jobs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const submitted = (await res.json()) as { job_id?: string; error?: { message: string } };
      if (!res.ok) fail('submit', submitted.error?.message ?? `HTTP ${res.status}`);
      if (!flags.wait) {
        process.stdout.write(`${JSON.stringify(submitted, null, 2)}\n`);
        return;
      }
      const jobId = submitted.job_id!;
      for (;;) {
        const job = (await (await call(`/api/v1/jobs/${jobId}`)).json()) as { status: string; progress: number; executor_id: string | null; error: string | null; attempts: number };
        const bar = '█'.repeat(Math.round(job.progress * 30)).padEnd(30, '░');
        process.stderr.write(`\r${jobId} ${job.status.padEnd(9)} ${bar} ${Math.round(job.progress * 100)}%${job.executor_id ? ` on ${job.executor_id}` : ''}${job.attempts > 1 ? ` (attempt ${job.attempts})` : ''}   `);
        if (job.status === 'succeeded') break;
        if (job.status === 'failed' || job.status === 'cancelled') {
          process.stderr.write('\n');
          fail('submit', `job ${jobId} ${job.status}: ${job.error ?? 'no reason given'}`);
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      process.stderr.write('\n');
      const result = await call(`/api/v1/jobs/${jobId}/result`);
      const bytes = Buffer.from(await result.arrayBuffer());
      if (flags.output) {
        await writeFile(flags.output, bytes);
        process.stdout.write(`result written to ${flags.output} (${bytes.length} bytes; signature ${result.headers.get('x-result-signature')})\n`);
      } else process.stdout.write(`${bytes.toString('utf8')}\n`);
    });
}

function fail(command: string, message: string): never {
  process.stderr.write(`city ${command}: ${message}\n`);
  process.exit(1);
}
