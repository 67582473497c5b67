/**
 * Where a job runs (seed 003 "Resource Allocation Algorithm", issue 7 §2). Pure functions over a
 * snapshot of what the executors offer: the broker keeps the snapshot fresh and dispatches; these
 * only decide. Nothing here mutates its inputs.
 *
 * The availability score that orders executors (seed 003 phase 1, "sort by availability"):
 *
 *   score = free cores / most free cores among the candidates
 *         + free memory / most free memory
 *         + storageWeight × free storage / most free storage
 *         − runningJobPenalty × jobs running there now
 *
 * "Free" is after the owner's per-job limits, so a 16-core desktop whose owner lends 2 cores a job
 * counts as 2. Normalising by the best candidate puts cores and megabytes on one scale without a
 * hand-picked exchange rate. When the job needs a GPU, executors with one come first whatever
 * their score. Ties go to the smaller device_id, so a plan is reproducible.
 */
export const ALLOCATION_DEFAULTS = {
  /**
   * Score lost per job already running on an executor. 0.5 makes the executor with the most free
   * cores and one job running tie with one that has half those cores and nothing running: a busy
   * machine's free cores are shared with its running jobs' memory bandwidth and caches.
   */
  runningJobPenalty: 0.5,
  /**
   * Weight of free storage in the score. Jobs need scratch space, but it is seldom what runs out
   * first on desktops and laptops, so it only breaks near-ties between CPU and memory.
   */
  storageWeight: 0.25,
  /**
   * A remaining need below this counts as met: fractional cores subtracted in floating point leave
   * remainders like 4.4e-16, which must not turn a fulfilled plan into a shortfall.
   */
  epsilon: 1e-9,
} as const;

/** What an executor offers now (after its owner's limits). */
export interface DeviceResources {
  device_id: string;
  online: boolean;
  /** May be fractional (e.g. 2.5 idle cores). */
  cpu_cores_available: number;
  memory_mb_available: number;
  storage_mb_available: number;
  gpu: { name: string } | null;
  /** Jobs running there now, for load balancing. */
  running: number;
  /** Owner's caps per job (max CPU/memory/storage share), absolute units. */
  limits: { cpu_cores: number; memory_mb: number; storage_mb: number };
}

export interface ResourceNeeds {
  cpu_cores: number;
  memory_mb: number;
  storage_mb: number;
  gpu: boolean;
}

export interface Allocation {
  device_id: string;
  cpu_cores: number;
  memory_mb: number;
  storage_mb: number;
  gpu: boolean;
}

export interface AllocationPlan {
  fulfilled: boolean;
  /** One entry per device used, in the order allocated. */
  allocations: Allocation[];
  /** What is still missing when not fulfilled, e.g. `{ cpu_cores: 1.5, gpu: true }`; `{}` when fulfilled. */
  shortfall: Partial<ResourceNeeds>;
  /** Why the plan is not fulfilled, in a sentence; null when it is. */
  reason: string | null;
}

export interface AllocateOptions {
  /** Devices never to use: the requester's own (seed 003 phase 1, "exclude requesting device"). */
  exclude?: readonly string[];
  /**
   * At most this many devices in the plan (default: as many as it takes, the seed's pooling).
   * 1 is the common case: a job that runs in one process on one executor.
   */
  maxDevices?: number;
}

type Dim = 'cpu_cores' | 'memory_mb' | 'storage_mb';
const DIMS: readonly Dim[] = ['cpu_cores', 'memory_mb', 'storage_mb'];

/** A device as phase 1 leaves it: what it can give one job, and its place in the order. */
interface Candidate {
  device: DeviceResources;
  offer: Record<Dim, number>;
  /** Which dimensions the owner's limit (not the free amount) decided. */
  capped: Record<Dim, boolean>;
  gpu: boolean;
  score: number;
}

/** Who is online and not excluded, and who of those offers anything: for the reasons. */
interface Discovery {
  candidates: Candidate[];
  online: number;
  onlineExcluded: number;
}

/**
 * Plans where a job's needs are met, in the seed's three phases: (1) the online executors other
 * than the excluded ones that offer anything, each offer capped by its owner's per-job limits,
 * sorted by the availability score (module comment); (2) from each in turn
 * min(available, still required, limit) of every resource, the GPU on the first GPU executor used;
 * (3) fulfilled when nothing is still required and a GPU, if needed, was allocated.
 *
 * With `maxDevices: 1` the job must run on one executor: the plan is the best-scoring executor that
 * meets the whole need, or, when none does, not fulfilled with the closest one as a partial plan
 * (the one covering the largest share of the need) and the reason. With a larger `maxDevices` the
 * seed's greedy loop stops after that many executors.
 *
 * A job that asks for nothing still gets one executor to run on (the seed's loop would use none
 * and call that fulfilled, which no broker can dispatch).
 *
 * Availability below 0 or NaN counts as 0; a limit may be Infinity (no cap).
 *
 * @example
 *   allocate({ cpu_cores: 4, memory_mb: 8192, storage_mb: 0, gpu: false }, devices, { maxDevices: 1, exclude: ['laptop-requester'] });
 *   // → { fulfilled: false, allocations: [{ device_id: 'exec-2', cpu_cores: 2.5, memory_mb: 8192, … }],
 *   //     shortfall: { cpu_cores: 1.5 }, reason: 'no online executor offers 4 cores (the most free: exec-2 with 2.5)' }
 * @throws RangeError when a need is negative or not a number, `maxDevices` is not a whole number ≥ 1, or a device_id repeats
 */
export function allocate(needs: ResourceNeeds, devices: readonly DeviceResources[], options: AllocateOptions = {}): AllocationPlan {
  checkNeeds(needs);
  const maxDevices = options.maxDevices ?? Infinity;
  if (!(maxDevices === Infinity || (Number.isInteger(maxDevices) && maxDevices >= 1))) {
    throw new RangeError(`maxDevices must be a whole number ≥ 1, not ${maxDevices}`);
  }
  const found = discover(needs, devices, new Set(options.exclude ?? []));
  if (found.candidates.length === 0) {
    return notFulfilled([], fullShortfall(needs), nobodyReason(found));
  }
  return maxDevices === 1 ? allocateSingle(needs, found) : allocatePooled(needs, found, maxDevices);
}

/** Seed 003 phase 1: online, not the requester, something available, limits applied, sorted. */
function discover(needs: ResourceNeeds, devices: readonly DeviceResources[], exclude: ReadonlySet<string>): Discovery {
  const ids = new Set<string>();
  const candidates: Candidate[] = [];
  let online = 0;
  let onlineExcluded = 0;
  for (const device of devices) {
    if (ids.has(device.device_id)) throw new RangeError(`device ${JSON.stringify(device.device_id)} is given twice`);
    ids.add(device.device_id);
    if (!device.online) continue;
    if (exclude.has(device.device_id)) {
      onlineExcluded++;
      continue;
    }
    online++;
    const offer = {
      cpu_cores: offered(device.cpu_cores_available, device.limits.cpu_cores),
      memory_mb: offered(device.memory_mb_available, device.limits.memory_mb),
      storage_mb: offered(device.storage_mb_available, device.limits.storage_mb),
    };
    const capped = {
      cpu_cores: device.limits.cpu_cores < device.cpu_cores_available,
      memory_mb: device.limits.memory_mb < device.memory_mb_available,
      storage_mb: device.limits.storage_mb < device.storage_mb_available,
    };
    const gpu = device.gpu !== null;
    if (offer.cpu_cores > 0 || offer.memory_mb > 0 || offer.storage_mb > 0 || gpu) {
      candidates.push({ device, offer, capped, gpu, score: 0 });
    }
  }
  let maxCpu = 0;
  let maxMemory = 0;
  let maxStorage = 0;
  for (const c of candidates) {
    maxCpu = Math.max(maxCpu, c.offer.cpu_cores);
    maxMemory = Math.max(maxMemory, c.offer.memory_mb);
    maxStorage = Math.max(maxStorage, c.offer.storage_mb);
  }
  const { storageWeight, runningJobPenalty } = ALLOCATION_DEFAULTS;
  for (const c of candidates) {
    c.score =
      share(c.offer.cpu_cores, maxCpu) +
      share(c.offer.memory_mb, maxMemory) +
      storageWeight * share(c.offer.storage_mb, maxStorage) -
      runningJobPenalty * Math.max(0, c.device.running || 0);
  }
  candidates.sort(
    (a, b) =>
      (needs.gpu ? Number(b.gpu) - Number(a.gpu) : 0) ||
      b.score - a.score ||
      (a.device.device_id < b.device.device_id ? -1 : a.device.device_id > b.device.device_id ? 1 : 0),
  );
  return { candidates, online, onlineExcluded };
}

/** One executor for the whole job: the first (best-scoring) that covers it, else the closest. */
function allocateSingle(needs: ResourceNeeds, found: Discovery): AllocationPlan {
  const { candidates } = found;
  const fits = candidates.find((c) => covers(c, needs));
  if (fits) {
    const allocation = { device_id: fits.device.device_id, cpu_cores: needs.cpu_cores, memory_mb: needs.memory_mb, storage_mb: needs.storage_mb, gpu: needs.gpu };
    return { fulfilled: true, allocations: [allocation], shortfall: {}, reason: null };
  }
  let best = candidates[0]!;
  let bestCoverage = coverage(best, needs);
  for (let i = 1; i < candidates.length; i++) {
    const cover = coverage(candidates[i]!, needs);
    if (cover > bestCoverage) (best = candidates[i]!), (bestCoverage = cover);
  }
  const partial = take(best, needs, needs.gpu);
  return notFulfilled([partial], shortfallOf(needs, [partial]), singleReason(needs, found, best, partial));
}

/** Seed 003 phase 2 as written: take from each executor in order until the need is met. */
function allocatePooled(needs: ResourceNeeds, found: Discovery, maxDevices: number): AllocationPlan {
  const remaining = { cpu_cores: needs.cpu_cores, memory_mb: needs.memory_mb, storage_mb: needs.storage_mb };
  const allocations: Allocation[] = [];
  let gpuAllocated = false;
  for (const c of found.candidates) {
    if (allocations.length >= maxDevices || met(remaining, needs.gpu && !gpuAllocated)) break;
    // "a GPU is allocated on the first GPU device used" (brief), not on every one as the seed's loop has it.
    const a = take(c, remaining, needs.gpu && !gpuAllocated);
    if (a.cpu_cores <= 0 && a.memory_mb <= 0 && a.storage_mb <= 0 && !a.gpu) continue;
    allocations.push(a);
    gpuAllocated ||= a.gpu;
    for (const dim of DIMS) remaining[dim] -= a[dim];
  }
  if (allocations.length === 0 && met(remaining, needs.gpu)) {
    const first = found.candidates[0]!;
    allocations.push({ device_id: first.device.device_id, cpu_cores: 0, memory_mb: 0, storage_mb: 0, gpu: false });
  }
  // Seed 003 phase 3: fulfilled = every requirement ≤ 0 and (no GPU required or one allocated).
  if (met(remaining, needs.gpu && !gpuAllocated)) return { fulfilled: true, allocations, shortfall: {}, reason: null };
  const capReached = allocations.length >= maxDevices && allocations.length < found.candidates.length;
  return notFulfilled(allocations, shortfallOf(needs, allocations), pooledReason(needs, found, allocations, capReached ? maxDevices : null));
}

/** min(available, required, limit) of each resource (the limit is already in `offer`). */
function take(c: Candidate, required: Record<Dim, number>, wantGpu: boolean): Allocation {
  return {
    device_id: c.device.device_id,
    cpu_cores: Math.min(c.offer.cpu_cores, Math.max(0, required.cpu_cores)),
    memory_mb: Math.min(c.offer.memory_mb, Math.max(0, required.memory_mb)),
    storage_mb: Math.min(c.offer.storage_mb, Math.max(0, required.storage_mb)),
    gpu: c.gpu && wantGpu,
  };
}

function covers(c: Candidate, needs: ResourceNeeds): boolean {
  return (
    c.offer.cpu_cores >= needs.cpu_cores &&
    c.offer.memory_mb >= needs.memory_mb &&
    c.offer.storage_mb >= needs.storage_mb &&
    (!needs.gpu || c.gpu)
  );
}

/** The mean share of each requested resource (and the GPU) an executor covers, 0–1. */
function coverage(c: Candidate, needs: ResourceNeeds): number {
  let sum = 0;
  let n = 0;
  for (const dim of DIMS) {
    if (needs[dim] <= 0) continue;
    sum += Math.min(1, c.offer[dim] / needs[dim]);
    n++;
  }
  if (needs.gpu) (sum += c.gpu ? 1 : 0), n++;
  return n === 0 ? 1 : sum / n;
}

function met(remaining: Record<Dim, number>, gpuMissing: boolean): boolean {
  const { epsilon } = ALLOCATION_DEFAULTS;
  return remaining.cpu_cores <= epsilon && remaining.memory_mb <= epsilon && remaining.storage_mb <= epsilon && !gpuMissing;
}

function shortfallOf(needs: ResourceNeeds, allocations: readonly Allocation[]): Partial<ResourceNeeds> {
  const shortfall: Partial<ResourceNeeds> = {};
  for (const dim of DIMS) {
    let got = 0;
    for (const a of allocations) got += a[dim];
    const missing = round6(needs[dim] - got);
    if (missing > ALLOCATION_DEFAULTS.epsilon) shortfall[dim] = missing;
  }
  if (needs.gpu && !allocations.some((a) => a.gpu)) shortfall.gpu = true;
  return shortfall;
}

function fullShortfall(needs: ResourceNeeds): Partial<ResourceNeeds> {
  return shortfallOf(needs, []);
}

function notFulfilled(allocations: Allocation[], shortfall: Partial<ResourceNeeds>, reason: string): AllocationPlan {
  return { fulfilled: false, allocations, shortfall, reason };
}

// ---- reasons, in words a person reading the queue can act on ----

function nobodyReason(found: Discovery): string {
  if (found.online === 0) return found.onlineExcluded > 0 ? 'no executor is online apart from the requester' : 'no executor is online';
  return found.online === 1 ? 'the only online executor has nothing free' : `none of the ${found.online} online executors has anything free`;
}

function gpuReason(found: Discovery): string {
  return found.online === 1 ? 'needs a GPU; the only online executor has none' : `needs a GPU; none of the ${found.online} online executors has one`;
}

function singleReason(needs: ResourceNeeds, found: Discovery, closest: Candidate, partial: Allocation): string {
  const parts: string[] = [];
  if (needs.gpu && !found.candidates.some((c) => c.gpu)) parts.push(gpuReason(found));
  for (const dim of DIMS) {
    let most = found.candidates[0]!;
    for (const c of found.candidates) if (c.offer[dim] > most.offer[dim]) most = c;
    if (most.offer[dim] >= needs[dim]) continue;
    const cap = most.capped[dim] ? ', capped by its owner' : '';
    parts.push(`no online executor offers ${amount(dim, needs[dim])} (the most free: ${most.device.device_id} with ${bare(dim, most.offer[dim])}${cap})`);
  }
  if (parts.length > 0) return parts.join('; ');
  // Each resource is somewhere, just not all on one executor.
  const wanted = DIMS.filter((d) => needs[d] > 0).map((d) => amount(d, needs[d]));
  if (needs.gpu) wanted.push('a GPU');
  const short = DIMS.filter((d) => needs[d] - partial[d] > ALLOCATION_DEFAULTS.epsilon).map((d) => amount(d, needs[d] - partial[d]));
  if (needs.gpu && !partial.gpu) short.push('a GPU');
  return `no single online executor offers ${list(wanted)} together (the closest: ${closest.device.device_id}, short of ${list(short)})`;
}

function pooledReason(needs: ResourceNeeds, found: Discovery, allocations: readonly Allocation[], cap: number | null): string {
  const parts: string[] = [];
  if (needs.gpu && !allocations.some((a) => a.gpu)) parts.push(gpuReason(found));
  const who = cap === null ? 'together the online executors offer' : `the ${cap} executors allowed (maxDevices) offer`;
  for (const dim of DIMS) {
    let got = 0;
    for (const a of allocations) got += a[dim];
    if (needs[dim] - got > ALLOCATION_DEFAULTS.epsilon) parts.push(`${who} ${bare(dim, got)} of the ${amount(dim, needs[dim])} needed`);
  }
  return parts.join('; ');
}

function amount(dim: Dim, n: number): string {
  if (dim === 'cpu_cores') return `${num(n)} core${n === 1 ? '' : 's'}`;
  return `${num(n)} MB of ${dim === 'memory_mb' ? 'memory' : 'storage'}`;
}

/** The brief's "exec-2 with 2.5": cores bare, megabytes with their unit. */
function bare(dim: Dim, n: number): string {
  return dim === 'cpu_cores' ? num(n) : `${num(n)} MB`;
}

function list(items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

function num(n: number): string {
  return String(Number(n.toFixed(2)));
}

function round6(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}

function offered(available: number, limit: number): number {
  const v = Math.min(available, limit);
  return Number.isNaN(v) || v < 0 ? 0 : v;
}

/** A value as a share of the candidates' largest; an unlimited offer (Infinity) counts as the whole. */
function share(value: number, max: number): number {
  if (max === Infinity) return value === Infinity ? 1 : 0;
  return max > 0 ? value / max : 0;
}

function checkNeeds(needs: ResourceNeeds): void {
  for (const dim of DIMS) {
    const v = needs[dim];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new RangeError(`needs.${dim} must be a finite number ≥ 0, not ${String(v)}`);
  }
  if (typeof needs.gpu !== 'boolean') throw new RangeError(`needs.gpu must be true or false, not ${String(needs.gpu)}`);
}

// ---- the queue ----

export interface QueuedJob {
  job_id: string;
  priority: 'critical' | 'high' | 'normal' | 'low';
  deadline_ms: number | null;
  submitted_ms: number;
  needs: ResourceNeeds;
  /** Must run on one executor (`maxDevices: 1`); false lets the seed's pooling spread it. */
  single: boolean;
}

export interface SchedulePass {
  assign: Array<{ job_id: string; plan: AllocationPlan }>;
  waiting: Array<{ job_id: string; reason: string }>;
  expired: Array<{ job_id: string; reason: string }>;
}

const PRIORITY_RANK: Readonly<Record<QueuedJob['priority'], number>> = { critical: 0, high: 1, normal: 2, low: 3 };

/**
 * One scheduling pass over the queue: jobs by priority, then earliest deadline (jobs without one
 * after those with one), then submission time (then job_id, so a pass is reproducible). Each job
 * placed takes its resources out of a copy of the devices, so the next job in the pass sees what is
 * left: its cores, memory and storage, one more running job, and its GPU (a GPU serves one job at
 * a time). A job whose deadline is before `nowMs` goes to `expired`, with why it could not be placed.
 *
 * A job that cannot be placed does not hold up smaller ones behind it (they take what it could not
 * use anyway). There is no reservation, so a stream of small jobs can keep a big one waiting; its
 * priority puts it first again in every pass.
 *
 * @example
 *   schedule([{ job_id: 'j1', priority: 'high', deadline_ms: null, submitted_ms: 0, needs, single: true }], devices, Date.now());
 *   // → { assign: [{ job_id: 'j1', plan: { fulfilled: true, … } }], waiting: [], expired: [] }
 * @throws RangeError for an unknown priority, or as {@link allocate} for a job's needs or the devices
 */
export function schedule(queue: readonly QueuedJob[], devices: readonly DeviceResources[], nowMs: number): SchedulePass {
  for (const job of queue) {
    if (!(job.priority in PRIORITY_RANK)) throw new RangeError(`job ${JSON.stringify(job.job_id)}: priority must be critical, high, normal or low, not ${JSON.stringify(job.priority)}`);
  }
  const order = [...queue].sort(
    (a, b) =>
      PRIORITY_RANK[a.priority] - PRIORITY_RANK[b.priority] ||
      (a.deadline_ms ?? Infinity) - (b.deadline_ms ?? Infinity) ||
      a.submitted_ms - b.submitted_ms ||
      (a.job_id < b.job_id ? -1 : a.job_id > b.job_id ? 1 : 0),
  );
  const pool = devices.map((d) => ({ ...d, gpu: d.gpu ? { ...d.gpu } : null, limits: { ...d.limits } }));
  const byId = new Map(pool.map((d) => [d.device_id, d]));
  const pass: SchedulePass = { assign: [], waiting: [], expired: [] };
  // The pool only shrinks during a pass, so needs that could not be met once cannot be met by a
  // later job either: with many jobs of one shape queued behind full executors (the usual
  // backlog), each costs a lookup instead of an allocation and its reasons.
  const unmet = new Map<string, AllocationPlan>();
  for (const job of order) {
    const shape = `${job.needs.cpu_cores}|${job.needs.memory_mb}|${job.needs.storage_mb}|${job.needs.gpu}|${job.single}`;
    const plan = unmet.get(shape) ?? allocate(job.needs, pool, job.single ? { maxDevices: 1 } : {});
    if (!plan.fulfilled) unmet.set(shape, plan);
    if (job.deadline_ms !== null && job.deadline_ms < nowMs) {
      const late = `its deadline ${new Date(job.deadline_ms).toISOString()} passed ${num((nowMs - job.deadline_ms) / 1000)} s ago`;
      pass.expired.push({ job_id: job.job_id, reason: plan.fulfilled ? `${late}, before an executor was free for it` : `${late}; ${plan.reason}` });
      continue;
    }
    if (!plan.fulfilled) {
      pass.waiting.push({ job_id: job.job_id, reason: plan.reason ?? 'not placed' });
      continue;
    }
    pass.assign.push({ job_id: job.job_id, plan });
    for (const a of plan.allocations) {
      const d = byId.get(a.device_id)!;
      // Clamped: fractional cores can leave -4e-16, which would read as "nothing free" anyway.
      d.cpu_cores_available = Math.max(0, d.cpu_cores_available - a.cpu_cores);
      d.memory_mb_available = Math.max(0, d.memory_mb_available - a.memory_mb);
      d.storage_mb_available = Math.max(0, d.storage_mb_available - a.storage_mb);
      d.running = (d.running || 0) + 1;
      if (a.gpu) d.gpu = null;
    }
  }
  return pass;
}
