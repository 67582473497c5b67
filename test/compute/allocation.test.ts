import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { allocate, schedule, type DeviceResources, type QueuedJob, type ResourceNeeds } from '../../src/compute/allocation.js';

const NO_CAP = { cpu_cores: Infinity, memory_mb: Infinity, storage_mb: Infinity };

function device(id: string, over: Partial<DeviceResources> = {}): DeviceResources {
  return {
    device_id: id,
    online: true,
    cpu_cores_available: 4,
    memory_mb_available: 8192,
    storage_mb_available: 20_000,
    gpu: null,
    running: 0,
    limits: NO_CAP,
    ...over,
  };
}

const needs = (over: Partial<ResourceNeeds> = {}): ResourceNeeds => ({ cpu_cores: 0, memory_mb: 0, storage_mb: 0, gpu: false, ...over });

/**
 * A ward's pool on a weekday evening: a school's server (owner lends 6 of its 12 idle cores), a
 * gaming desktop with a GPU, two laptops (one half busy), a phone that went offline, and the
 * requester's own laptop.
 */
const WARD: readonly DeviceResources[] = [
  device('school-server', { cpu_cores_available: 12, memory_mb_available: 49_152, storage_mb_available: 500_000, limits: { cpu_cores: 6, memory_mb: 16_384, storage_mb: 100_000 } }),
  device('desktop-gpu', { cpu_cores_available: 6, memory_mb_available: 12_288, storage_mb_available: 80_000, gpu: { name: 'RTX 3060' }, running: 1 }),
  device('laptop-a', { cpu_cores_available: 2.5, memory_mb_available: 4096, storage_mb_available: 10_000 }),
  device('laptop-b', { cpu_cores_available: 1.5, memory_mb_available: 2048, storage_mb_available: 5_000, running: 2 }),
  device('phone-c', { online: false, cpu_cores_available: 8, memory_mb_available: 6144 }),
  device('requester', { cpu_cores_available: 8, memory_mb_available: 16_384 }),
];

const sum = (plan: ReturnType<typeof allocate>, key: 'cpu_cores' | 'memory_mb' | 'storage_mb'): number =>
  plan.allocations.reduce((s, a) => s + a[key], 0);

describe('allocate: the seed 003 pooling over several devices', () => {
  it('takes min(available, required, limit) from each device by availability until the need is met', () => {
    const plan = allocate(needs({ cpu_cores: 12, memory_mb: 24_576, storage_mb: 50_000 }), WARD, { exclude: ['requester'] });
    assert.equal(plan.fulfilled, true, plan.reason ?? '');
    assert.equal(plan.reason, null);
    assert.deepEqual(plan.shortfall, {});
    // The server scores highest (6 capped cores, 16 GB capped memory, idle); the desktop next (6 cores,
    // 12 GB, one job running) — it gives what is left of the need.
    assert.deepEqual(plan.allocations, [
      { device_id: 'school-server', cpu_cores: 6, memory_mb: 16_384, storage_mb: 50_000, gpu: false },
      { device_id: 'desktop-gpu', cpu_cores: 6, memory_mb: 8192, storage_mb: 0, gpu: false },
    ]);
  });

  it('spreads a need larger than any device over four, and reports the pool short when it is', () => {
    const plan = allocate(needs({ cpu_cores: 16, memory_mb: 30_000 }), WARD, { exclude: ['requester'] });
    assert.equal(plan.fulfilled, true);
    assert.deepEqual(plan.allocations.map((a) => a.device_id), ['school-server', 'desktop-gpu', 'laptop-a', 'laptop-b']);
    assert.equal(sum(plan, 'cpu_cores'), 16);
    assert.equal(sum(plan, 'memory_mb'), 30_000);
    assert.deepEqual(plan.allocations.map((a) => a.cpu_cores), [6, 6, 2.5, 1.5]);

    const short = allocate(needs({ cpu_cores: 20, memory_mb: 8192 }), WARD, { exclude: ['requester'] });
    assert.equal(short.fulfilled, false);
    assert.deepEqual(short.shortfall, { cpu_cores: 4 });
    assert.equal(sum(short, 'cpu_cores'), 16, 'the partial plan uses everything offered');
    assert.equal(short.reason, 'together the online executors offer 16 of the 20 cores needed');
  });

  it('stops after maxDevices devices and says so', () => {
    const plan = allocate(needs({ cpu_cores: 14 }), WARD, { exclude: ['requester'], maxDevices: 2 });
    assert.equal(plan.fulfilled, false);
    assert.equal(plan.allocations.length, 2);
    assert.deepEqual(plan.shortfall, { cpu_cores: 2 });
    assert.equal(plan.reason, 'the 2 executors allowed (maxDevices) offer 12 of the 14 cores needed');
  });

  it('leaves offline devices and the excluded requester out', () => {
    const plan = allocate(needs({ cpu_cores: 20 }), WARD, { exclude: ['requester'] });
    const used = plan.allocations.map((a) => a.device_id);
    assert.ok(!used.includes('phone-c') && !used.includes('requester'), used.join(', '));
    // Without the exclusion the requester's idle 8 cores are used, and they score first.
    const withRequester = allocate(needs({ cpu_cores: 20 }), WARD);
    assert.equal(withRequester.fulfilled, true);
    assert.equal(withRequester.allocations[0]!.device_id, 'requester');
  });

  it('puts the GPU on the first GPU device used, and only there', () => {
    const pool = [...WARD, device('desktop-gpu-2', { cpu_cores_available: 2, memory_mb_available: 1024, gpu: { name: 'GTX 1650' } })];
    const plan = allocate(needs({ cpu_cores: 10, memory_mb: 4096, gpu: true }), pool, { exclude: ['requester'] });
    assert.equal(plan.fulfilled, true);
    assert.equal(plan.allocations[0]!.device_id, 'desktop-gpu', 'GPU devices first when a GPU is needed');
    assert.deepEqual(plan.allocations.map((a) => a.gpu), [true, ...plan.allocations.slice(1).map(() => false)]);
  });

  it('gives a job that needs nothing one executor to run on', () => {
    const plan = allocate(needs(), WARD, { exclude: ['requester'] });
    assert.equal(plan.fulfilled, true);
    assert.equal(plan.allocations.length, 1);
    assert.equal(plan.allocations[0]!.device_id, 'school-server');
  });
});

describe('allocate: one executor (maxDevices 1)', () => {
  it('picks the best-scoring executor that meets the whole need, not the first with the most of one resource', () => {
    const plan = allocate(needs({ cpu_cores: 2, memory_mb: 4096, storage_mb: 1000 }), WARD, { exclude: ['requester'], maxDevices: 1 });
    assert.equal(plan.fulfilled, true);
    assert.deepEqual(plan.allocations, [{ device_id: 'school-server', cpu_cores: 2, memory_mb: 4096, storage_mb: 1000, gpu: false }]);

    // 5 cores and 13 GB: the desktop has 12 GB, the laptops less; the server, though its owner caps
    // a job at 6 cores and 16 GB, has both.
    const big = allocate(needs({ cpu_cores: 5, memory_mb: 13_000 }), WARD, { exclude: ['requester'], maxDevices: 1 });
    assert.equal(big.fulfilled, true);
    assert.equal(big.allocations[0]!.device_id, 'school-server');
  });

  it('falls back to the closest executor, the shortfall and the reason, when none has enough cores', () => {
    const pool = [device('exec-1', { cpu_cores_available: 1, memory_mb_available: 16_384 }), device('exec-2', { cpu_cores_available: 2.5, memory_mb_available: 16_384 }), device('exec-3', { online: false, cpu_cores_available: 8 })];
    const plan = allocate(needs({ cpu_cores: 4, memory_mb: 8192 }), pool, { maxDevices: 1 });
    assert.equal(plan.fulfilled, false);
    assert.deepEqual(plan.allocations, [{ device_id: 'exec-2', cpu_cores: 2.5, memory_mb: 8192, storage_mb: 0, gpu: false }]);
    assert.deepEqual(plan.shortfall, { cpu_cores: 1.5 });
    assert.equal(plan.reason, 'no online executor offers 4 cores (the most free: exec-2 with 2.5)');
  });

  it('says when each resource exists, but not on one executor', () => {
    const pool = [device('many-cores', { cpu_cores_available: 8, memory_mb_available: 2048 }), device('much-memory', { cpu_cores_available: 2, memory_mb_available: 32_768 })];
    const plan = allocate(needs({ cpu_cores: 4, memory_mb: 8192 }), pool, { maxDevices: 1 });
    assert.equal(plan.fulfilled, false);
    // Coverage: many-cores 1 and 0.25 → 0.625; much-memory 0.5 and 1 → 0.75.
    assert.equal(plan.allocations[0]!.device_id, 'much-memory');
    assert.deepEqual(plan.shortfall, { cpu_cores: 2 });
    assert.equal(plan.reason, 'no single online executor offers 4 cores and 8192 MB of memory together (the closest: much-memory, short of 2 cores)');
    // The pooled plan of the same need is fulfilled: 4 cores from one, the memory from both.
    assert.equal(allocate(needs({ cpu_cores: 4, memory_mb: 8192 }), pool).fulfilled, true);
  });

  it('says when the owner’s per-job cap is what falls short', () => {
    const pool = [device('lab-pc', { cpu_cores_available: 16, limits: { cpu_cores: 3, memory_mb: 4096, storage_mb: 10_000 } })];
    const plan = allocate(needs({ cpu_cores: 4, memory_mb: 2048 }), pool, { maxDevices: 1 });
    assert.equal(plan.fulfilled, false);
    assert.equal(plan.allocations[0]!.cpu_cores, 3, 'the limit caps the allocation, not the 16 free cores');
    assert.equal(plan.reason, 'no online executor offers 4 cores (the most free: lab-pc with 3, capped by its owner)');
  });

  it('needs a GPU: placed on a GPU executor when there is one, refused with the reason when there is none', () => {
    const gpuJob = needs({ cpu_cores: 2, memory_mb: 4096, gpu: true });
    const plan = allocate(gpuJob, WARD, { exclude: ['requester'], maxDevices: 1 });
    assert.equal(plan.fulfilled, true);
    assert.deepEqual(plan.allocations, [{ device_id: 'desktop-gpu', cpu_cores: 2, memory_mb: 4096, storage_mb: 0, gpu: true }]);

    const noGpu = WARD.filter((d) => d.gpu === null);
    const refused = allocate(gpuJob, noGpu, { exclude: ['requester'], maxDevices: 1 });
    assert.equal(refused.fulfilled, false);
    assert.deepEqual(refused.shortfall, { gpu: true });
    assert.equal(refused.reason, 'needs a GPU; none of the 3 online executors has one');
    const pooled = allocate(gpuJob, noGpu, { exclude: ['requester'] });
    assert.equal(pooled.fulfilled, false, 'pooling cannot make up a GPU');
    assert.deepEqual(pooled.shortfall, { gpu: true });
  });

  it('says when nobody is there to run it', () => {
    const onlyMe = [device('requester'), device('phone', { online: false })];
    assert.equal(allocate(needs({ cpu_cores: 1 }), onlyMe, { exclude: ['requester'], maxDevices: 1 }).reason, 'no executor is online apart from the requester');
    assert.equal(allocate(needs({ cpu_cores: 1 }), [], { maxDevices: 1 }).reason, 'no executor is online');
    const exhausted = [device('a', { cpu_cores_available: 0, memory_mb_available: 0, storage_mb_available: 0 })];
    const plan = allocate(needs({ cpu_cores: 1, memory_mb: 512 }), exhausted);
    assert.equal(plan.reason, 'the only online executor has nothing free');
    assert.deepEqual(plan.shortfall, { cpu_cores: 1, memory_mb: 512 });
    assert.deepEqual(plan.allocations, []);
  });

  it('prefers the idle executor of two alike, and breaks exact ties by device_id', () => {
    const pool = [device('b-busy', { running: 2 }), device('c-idle'), device('a-idle')];
    assert.equal(allocate(needs({ cpu_cores: 1 }), pool, { maxDevices: 1 }).allocations[0]!.device_id, 'a-idle');
  });

  it('refuses nonsense needs and options with a RangeError', () => {
    assert.throws(() => allocate(needs({ cpu_cores: -1 }), WARD), /needs\.cpu_cores must be a finite number ≥ 0, not -1/);
    assert.throws(() => allocate(needs({ memory_mb: Number.NaN }), WARD), RangeError);
    assert.throws(() => allocate(needs(), WARD, { maxDevices: 0 }), /maxDevices must be a whole number ≥ 1, not 0/);
    assert.throws(() => allocate(needs(), [device('x'), device('x')]), /device "x" is given twice/);
  });
});

describe('schedule', () => {
  const NOW = Date.parse('2025-03-01T18:00:00Z');
  const job = (id: string, over: Partial<QueuedJob> = {}): QueuedJob => ({
    job_id: id,
    priority: 'normal',
    deadline_ms: null,
    submitted_ms: NOW - 60_000,
    needs: needs({ cpu_cores: 2, memory_mb: 2048 }),
    single: true,
    ...over,
  });

  it('orders by priority, then earliest deadline, then submission, and each job takes from the same pass', () => {
    // One executor with 4 cores: room for two 2-core jobs of the five.
    const pool = [device('exec-1', { cpu_cores_available: 4, memory_mb_available: 16_384 })];
    const queue = [
      job('low-early', { priority: 'low', submitted_ms: NOW - 600_000 }),
      job('normal-no-deadline', { submitted_ms: NOW - 500_000 }),
      job('normal-late-deadline', { deadline_ms: NOW + 3_600_000 }),
      job('normal-soon-deadline', { deadline_ms: NOW + 60_000 }),
      job('critical-last-in', { priority: 'critical', submitted_ms: NOW - 1 }),
    ];
    const pass = schedule(queue, pool, NOW);
    assert.deepEqual(pass.assign.map((a) => a.job_id), ['critical-last-in', 'normal-soon-deadline']);
    assert.deepEqual(pass.waiting.map((w) => w.job_id), ['normal-late-deadline', 'normal-no-deadline', 'low-early']);
    assert.equal(pass.waiting[0]!.reason, 'no online executor offers 2 cores (the most free: exec-1 with 0)');
    assert.deepEqual(pass.expired, []);
  });

  it('breaks equal priority and deadline by submission time', () => {
    const pool = [device('exec-1', { cpu_cores_available: 2 })];
    const pass = schedule([job('second', { submitted_ms: NOW - 10 }), job('first', { submitted_ms: NOW - 20 })], pool, NOW);
    assert.deepEqual(pass.assign.map((a) => a.job_id), ['first']);
    assert.deepEqual(pass.waiting.map((w) => w.job_id), ['second']);
  });

  it('spreads jobs over executors as they fill, and a GPU serves one job per pass', () => {
    const pass = schedule(
      [job('render-1', { needs: needs({ cpu_cores: 1, memory_mb: 2048, gpu: true }) }), job('render-2', { needs: needs({ cpu_cores: 1, memory_mb: 2048, gpu: true }), submitted_ms: NOW }), job('crunch', { priority: 'low' })],
      WARD.filter((d) => d.device_id !== 'requester'),
      NOW,
    );
    assert.deepEqual(pass.assign.map((a) => [a.job_id, a.plan.allocations[0]!.device_id]), [['render-1', 'desktop-gpu'], ['crunch', 'school-server']]);
    assert.deepEqual(pass.waiting, [{ job_id: 'render-2', reason: 'needs a GPU; none of the 4 online executors has one' }]);
  });

  it('expires a job past its deadline with why it could not be placed', () => {
    const pool = WARD.filter((d) => d.gpu === null && d.device_id !== 'requester');
    const pass = schedule(
      [job('too-late', { deadline_ms: NOW - 12_000, needs: needs({ cpu_cores: 1, gpu: true }) }), job('late-but-free', { deadline_ms: NOW - 500 }), job('on-time', { deadline_ms: NOW + 1 })],
      pool,
      NOW,
    );
    assert.deepEqual(pass.expired, [
      { job_id: 'too-late', reason: 'its deadline 2025-03-01T17:59:48.000Z passed 12 s ago; needs a GPU; none of the 3 online executors has one' },
      { job_id: 'late-but-free', reason: 'its deadline 2025-03-01T17:59:59.500Z passed 0.5 s ago, before an executor was free for it' },
    ]);
    assert.deepEqual(pass.assign.map((a) => a.job_id), ['on-time']);
  });

  it('lets a pooled job spread while single jobs need one executor', () => {
    const pool = [device('a', { cpu_cores_available: 3 }), device('b', { cpu_cores_available: 3 })];
    const pass = schedule([job('single-5', { needs: needs({ cpu_cores: 5 }) }), job('pooled-5', { needs: needs({ cpu_cores: 5 }), single: false, submitted_ms: NOW })], pool, NOW);
    assert.deepEqual(pass.waiting.map((w) => w.job_id), ['single-5']);
    assert.deepEqual(pass.assign[0]!.plan.allocations.map((a) => [a.device_id, a.cpu_cores]), [['a', 3], ['b', 2]]);
  });

  it('never changes the queue or the devices it is given', () => {
    const devices = structuredClone(WARD) as DeviceResources[];
    const queue = [job('j1', { needs: needs({ cpu_cores: 4, memory_mb: 8192, gpu: true }) }), job('j2'), job('j3', { single: false, needs: needs({ cpu_cores: 9 }) })];
    const before = JSON.stringify({ devices, queue });
    const pass = schedule(queue, devices, NOW);
    assert.equal(pass.assign.length, 3);
    assert.equal(JSON.stringify({ devices, queue }), before);
    allocate(needs({ cpu_cores: 30, gpu: true }), devices, { exclude: ['requester'] });
    assert.equal(JSON.stringify({ devices, queue }), before);
  });

  it('refuses an unknown priority', () => {
    assert.throws(() => schedule([job('x', { priority: 'urgent' as QueuedJob['priority'] })], WARD, NOW), /priority must be critical, high, normal or low, not "urgent"/);
  });
});
