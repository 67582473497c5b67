import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { TaskFailedError, TaskInputError } from '../../src/compute/tasks/kinds.js';
import { TaskRunner } from '../../src/compute/tasks/runner.js';
import { runWasm } from '../../src/compute/tasks/wasm.js';

// --- a tiny WebAssembly assembler: just the binary format these tests need (all values i32) ---

const I32 = 0x7f;
function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}
function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) return [...out, b];
    out.push(b | 0x80);
  }
}
const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];
const str = (s: string) => vec([...Buffer.from(s)].map((b) => [b]));
const section = (id: number, content: number[]) => [id, ...uleb(content.length), ...content];

/** Instructions, named as in the text format. */
const op = {
  unreachable: [0x00],
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  if: [0x04, 0x40],
  end: [0x0b],
  br: (depth: number) => [0x0c, ...uleb(depth)],
  br_if: (depth: number) => [0x0d, ...uleb(depth)],
  get: (i: number) => [0x20, ...uleb(i)],
  set: (i: number) => [0x21, ...uleb(i)],
  const: (n: number) => [0x41, ...sleb(n)],
  load8_u: [0x2d, 0, 0],
  store: [0x36, 0, 0],
  store8: [0x3a, 0, 0],
  memory_size: [0x3f, 0],
  memory_grow: [0x40, 0],
  eq: [0x46],
  ne: [0x47],
  gt_u: [0x4b],
  le_u: [0x4d],
  ge_u: [0x4f],
  add: [0x6a],
  sub: [0x6b],
  shl: [0x74],
  shr_u: [0x76],
};

interface Func {
  export?: string;
  params: number;
  results: number;
  locals?: number;
  body: number[];
}

interface ModuleSpec {
  imports?: Array<{ module: string; name: string; params: number; results: number }>;
  memory?: { min: number; max?: number };
  funcs: Func[];
}

/** Sections in their required order: type, import, function, memory, export, code. */
function wasmModule(spec: ModuleSpec): Uint8Array {
  const imports = spec.imports ?? [];
  const fnType = (f: { params: number; results: number }) => [0x60, ...vec(Array(f.params).fill([I32])), ...vec(Array(f.results).fill([I32]))];
  const bytes = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  bytes.push(...section(1, vec([...imports, ...spec.funcs].map(fnType))));
  if (imports.length > 0) bytes.push(...section(2, vec(imports.map((im, k) => [...str(im.module), ...str(im.name), 0x00, ...uleb(k)]))));
  bytes.push(...section(3, vec(spec.funcs.map((_, k) => uleb(imports.length + k)))));
  const { memory } = spec;
  if (memory) bytes.push(...section(5, vec([memory.max === undefined ? [0, ...uleb(memory.min)] : [1, ...uleb(memory.min), ...uleb(memory.max)]])));
  const exports = spec.funcs.flatMap((f, k) => (f.export ? [[...str(f.export), 0x00, ...uleb(imports.length + k)]] : []));
  if (memory) exports.unshift([...str('memory'), 0x02, 0]);
  bytes.push(...section(7, vec(exports)));
  const code = spec.funcs.map((f) => {
    const body = [...vec(f.locals ? [[...uleb(f.locals), I32]] : []), ...f.body, ...op.end];
    return [...uleb(body.length), ...body];
  });
  bytes.push(...section(10, vec(code)));
  return Uint8Array.from(bytes);
}

/** alloc(size): the input goes at 8, and the output (4 + size bytes) after it; grows memory to fit, traps if it cannot. */
const GROWING_ALLOC: Func = {
  export: 'alloc',
  params: 1,
  results: 1,
  locals: 1,
  body: [
    ...op.get(0), ...op.const(1), ...op.shl, ...op.const(16), ...op.add, ...op.set(1), // need = 2·size + 16
    ...op.get(1), ...op.memory_size, ...op.const(16), ...op.shl, ...op.gt_u, ...op.if, // need > pages · 64 KiB?
    ...op.get(1), ...op.memory_size, ...op.const(16), ...op.shl, ...op.sub, ...op.const(65535), ...op.add, ...op.const(16), ...op.shr_u,
    ...op.memory_grow, ...op.const(-1), ...op.eq, ...op.if, ...op.unreachable, ...op.end,
    ...op.end,
    ...op.const(8),
  ],
};
const FIXED_ALLOC: Func = { export: 'alloc', params: 1, results: 1, body: op.const(8) };

/** run(ptr, len): ASCII a–z to A–Z, a real loop over the input; output right after the input. */
const UPPERCASE: Func = {
  export: 'run',
  params: 2,
  results: 1,
  locals: 3, // 2 out, 3 i, 4 c
  body: [
    ...op.get(0), ...op.get(1), ...op.add, ...op.set(2),
    ...op.get(2), ...op.get(1), ...op.store, // length prefix
    ...op.const(0), ...op.set(3),
    ...op.block, ...op.loop,
    ...op.get(3), ...op.get(1), ...op.ge_u, ...op.br_if(1),
    ...op.get(0), ...op.get(3), ...op.add, ...op.load8_u, ...op.set(4),
    ...op.get(4), ...op.const(97), ...op.sub, ...op.const(25), ...op.le_u, ...op.if, // 'a' ≤ c ≤ 'z'
    ...op.get(4), ...op.const(32), ...op.sub, ...op.set(4),
    ...op.end,
    ...op.get(2), ...op.const(4), ...op.add, ...op.get(3), ...op.add, ...op.get(4), ...op.store8,
    ...op.get(3), ...op.const(1), ...op.add, ...op.set(3),
    ...op.br(0),
    ...op.end, ...op.end,
    ...op.get(2),
  ],
};
const run = (body: number[], locals = 0): Func => ({ export: 'run', params: 2, results: 1, locals, body });
const uppercase = wasmModule({ memory: { min: 1 }, funcs: [GROWING_ALLOC, UPPERCASE] });

/** run(): output [4][memory.grow(pages)] at address 0 — what the module saw when it asked for more. */
const growRun = (pages: number) => run([...op.const(0), ...op.const(4), ...op.store, ...op.const(4), ...op.const(pages), ...op.memory_grow, ...op.store, ...op.const(0)]);
const grower = (pages: number, max?: number) => wasmModule({ memory: max === undefined ? { min: 1 } : { min: 1, max }, funcs: [FIXED_ALLOC, growRun(pages)] });

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const bytesOf = (s: string) => new TextEncoder().encode(s);
const MB = 1024 * 1024;
const LIMIT = { maxMemoryBytes: 4 * MB };
const inputError = (text: string) => (err: unknown) => err instanceof TaskInputError && err.field === 'wasm' && err.message.includes(text);
const failed = (reason: string, text: string) => (err: unknown) => err instanceof TaskFailedError && err.reason === reason && err.message.includes(text);

test('a module that uppercases its input runs, on small and large inputs', () => {
  assert.equal(text(runWasm(uppercase, bytesOf('{"ward":"chennai-w119","note":"Flooding near Teynampet"}'), LIMIT)), '{"WARD":"CHENNAI-W119","NOTE":"FLOODING NEAR TEYNAMPET"}');
  assert.equal(runWasm(uppercase, new Uint8Array(0), LIMIT).length, 0);
  // 300 kB in and out: alloc has to grow the memory from its one page.
  const big = 'abcxyz{}09'.repeat(30_000);
  assert.equal(text(runWasm(uppercase, bytesOf(big), LIMIT)), big.toUpperCase());
});

test('a module with any import is refused before instantiation', () => {
  const imports = [{ module: 'env', name: 'log', params: 1, results: 0 }, { module: 'wasi_snapshot_preview1', name: 'fd_write', params: 4, results: 1 }];
  assert.throws(
    () => runWasm(wasmModule({ imports, memory: { min: 1 }, funcs: [FIXED_ALLOC, UPPERCASE] }), bytesOf('x'), LIMIT),
    inputError('imports env.log (function), wasi_snapshot_preview1.fd_write (function): modules get no host access beyond their input and output'),
  );
});

test('broken modules: garbage, missing exports, traps and wild pointers each fail with a clear message', () => {
  const garbage = bytesOf('#!/bin/sh\nrm -rf /\n');
  let compileError = '';
  try {
    new (globalThis as unknown as { WebAssembly: { Module: new (b: Uint8Array) => unknown } }).WebAssembly.Module(garbage);
  } catch (err) {
    compileError = (err as Error).message;
  }
  assert.ok(compileError.length > 0, 'V8 refuses the garbage too');
  assert.throws(() => runWasm(garbage, bytesOf(''), LIMIT), inputError(`is not a valid WebAssembly module: ${compileError}`));
  assert.throws(() => runWasm(uppercase.subarray(0, uppercase.length - 5), bytesOf(''), LIMIT), inputError('is not a valid WebAssembly module'));

  assert.throws(() => runWasm(wasmModule({ memory: { min: 1 }, funcs: [FIXED_ALLOC] }), bytesOf('x'), LIMIT), inputError('does not export run (function): the ABI needs memory'));
  assert.throws(() => runWasm(wasmModule({ funcs: [FIXED_ALLOC, run(op.const(0))] }), bytesOf('x'), LIMIT), inputError('does not export memory (memory)'));

  const trap = wasmModule({ memory: { min: 1 }, funcs: [FIXED_ALLOC, run(op.unreachable)] });
  assert.throws(() => runWasm(trap, bytesOf('x'), LIMIT), failed('failed', 'the module trapped in run: unreachable'));
  const wild = wasmModule({ memory: { min: 1 }, funcs: [FIXED_ALLOC, run(op.const(-4))] });
  assert.throws(() => runWasm(wild, bytesOf('x'), LIMIT), failed('failed', 'run returned 4294967292, outside the module'));
});

test('memory is capped: a minimum over the limit is refused, growth past it fails inside the module', () => {
  const huge = wasmModule({ memory: { min: 100 }, funcs: [FIXED_ALLOC, UPPERCASE] });
  assert.throws(() => runWasm(huge, bytesOf('x'), LIMIT), inputError('memory 0 starts at 100 pages (6553600 bytes), over the limit of 4194304 bytes'));
  const answer = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset).getInt32(0, true);
  // 4 MB is 64 pages; the module starts with 1 and declares no maximum of its own.
  assert.equal(answer(runWasm(grower(63), new Uint8Array(0), LIMIT)), 1, 'up to the limit: memory.grow returns the old size');
  assert.equal(answer(runWasm(grower(64), new Uint8Array(0), LIMIT)), -1, 'past it: memory.grow says no');
  // A maximum the module declares above the limit is lowered to it, one below is kept.
  assert.equal(answer(runWasm(grower(10, 65_536), new Uint8Array(0), { maxMemoryBytes: 8 * 65_536 })), -1, 'declared 4 GiB, capped at 8 pages');
  assert.equal(answer(runWasm(grower(10, 5), new Uint8Array(0), LIMIT)), -1, 'its own maximum of 5 pages holds');
  assert.equal(answer(runWasm(grower(10, 11), new Uint8Array(0), LIMIT)), 1, 'and 11 pages fit');
  assert.throws(() => runWasm(uppercase, bytesOf('x'), { maxMemoryBytes: 1000 }), RangeError);
});

// --- through the sandboxed runner ------------------------------------------------------------

const runner = new TaskRunner({ keepIdle: 2 });
after(() => runner.close());

test('runner: a module runs in a worker and its output bytes come back', async () => {
  const { output, cpu_ms, wall_ms } = await runner.run({ wasm: uppercase, input: bytesOf('ambulance to ward 119') }, { timeoutMs: 10_000, maxMemoryMb: 32 });
  assert.ok(output instanceof Uint8Array, 'bytes out');
  assert.equal(text(output), 'AMBULANCE TO WARD 119');
  assert.ok(cpu_ms >= 0 && wall_ms > 0, `cpu ${cpu_ms} ms, wall ${wall_ms} ms`);
  await assert.rejects(runner.run({ wasm: bytesOf('nope'), input: bytesOf('') }, { timeoutMs: 10_000, maxMemoryMb: 32 }), inputError('is not a valid WebAssembly module'));
});

test('runner: an endless loop is terminated at the time limit', async () => {
  const spin = wasmModule({ memory: { min: 1 }, funcs: [FIXED_ALLOC, run([...op.loop, ...op.br(0), ...op.end, ...op.unreachable])] });
  const started = performance.now();
  await assert.rejects(runner.run({ wasm: spin, input: bytesOf('') }, { timeoutMs: 300, maxMemoryMb: 32 }), failed('timeout', 'exceeded its time limit of 300 ms'));
  assert.ok(performance.now() - started < 5_000, 'terminated, not run to completion');
});

test('runner: a module that grows memory until refused fails cleanly within the cap', async () => {
  // Grows a page at a time until memory.grow returns −1, then traps: the cap is the runner's 32 MB.
  const bomb = wasmModule({
    memory: { min: 1 },
    funcs: [FIXED_ALLOC, run([...op.loop, ...op.const(1), ...op.memory_grow, ...op.const(-1), ...op.ne, ...op.br_if(0), ...op.end, ...op.unreachable])],
  });
  await assert.rejects(runner.run({ wasm: bomb, input: bytesOf('') }, { timeoutMs: 10_000, maxMemoryMb: 32 }), failed('failed', 'the module trapped in run: unreachable'));
  const huge = wasmModule({ memory: { min: 1024 }, funcs: [FIXED_ALLOC, UPPERCASE] });
  await assert.rejects(runner.run({ wasm: huge, input: bytesOf('') }, { timeoutMs: 10_000, maxMemoryMb: 32 }), inputError('over the limit of 33554432 bytes'));
});
