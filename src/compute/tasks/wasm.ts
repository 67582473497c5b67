import { TaskFailedError, TaskInputError } from './task.js';

/**
 * WebAssembly tasks (issue 7 §4): a job may carry its own code as a WebAssembly module instead
 * of naming a task kind. The module is someone else's code running on a citizen's laptop, so it
 * gets its input bytes, memory and CPU — and nothing else.
 *
 * ABI (what a module must look like):
 *   - exports `memory` (its own linear memory; an imported memory is an import, refused below);
 *   - exports `alloc(size: i32) -> i32`: returns a pointer to `size` free bytes, where the host
 *     writes the input;
 *   - exports `run(ptr: i32, len: i32) -> i32`: computes from the input at [ptr, ptr + len) and
 *     returns a pointer to the output: a u32 little-endian byte count, then that many bytes;
 *   - imports nothing at all: no WASI, no host functions, no clock, no randomness (so a run is
 *     deterministic and can be checked by running it again elsewhere). A module that declares
 *     any import is refused before instantiation.
 * Input and output are bytes; the broker passes JSON as UTF-8, but the runner does not care.
 *
 * Memory is capped twice: a module whose memory minimum is over the limit is refused, and a
 * memory with no maximum or a larger one is given the limit as its maximum (the memory section
 * is rewritten before compiling), so `memory.grow` past it returns −1 inside the module — the
 * ordinary out-of-memory signal its allocator already handles — instead of taking the
 * executor's RAM. Time is not capped here: `runWasm` is synchronous, and the runner (runner.ts)
 * runs it in a worker it can terminate.
 */

/** The parts of the WebAssembly JS API used here (the project's TypeScript libs do not include it). */
interface WasmApi {
  Module: {
    new (bytes: Uint8Array): WasmModule;
    imports(module: WasmModule): Array<{ module: string; name: string; kind: string }>;
    exports(module: WasmModule): Array<{ name: string; kind: string }>;
  };
  Instance: new (module: WasmModule, imports: object) => { exports: Record<string, unknown> };
}
type WasmModule = { readonly __wasmModule: unique symbol };
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}

const WASM = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
const PAGE_BYTES = 65_536;
const MEMORY_SECTION = 5;

export interface WasmLimits {
  /** Linear memory the module may have, in bytes (whole 64 KiB pages count; at least one page). */
  maxMemoryBytes: number;
}

/**
 * Runs a module's `run` on the input and returns its output bytes. Throws TaskInputError for a
 * module that breaks the rules or the ABI (not worth a retry) and TaskFailedError when it traps
 * or returns something unreadable.
 *
 * @example
 *   const out = runWasm(moduleBytes, new TextEncoder().encode('{"n":3}'), { maxMemoryBytes: 16 << 20 });
 *   JSON.parse(new TextDecoder().decode(out));
 */
export function runWasm(module: Uint8Array, input: Uint8Array, limits: WasmLimits): Uint8Array {
  const maxPages = Math.floor(limits.maxMemoryBytes / PAGE_BYTES);
  if (!Number.isFinite(limits.maxMemoryBytes) || maxPages < 1 || maxPages > 65_536) {
    throw new RangeError(`maxMemoryBytes must be between one 64 KiB page and 4 GiB, not ${limits.maxMemoryBytes}`);
  }
  const compiled = compile(capMemory(module, maxPages, limits.maxMemoryBytes));

  const imports = WASM.Module.imports(compiled);
  if (imports.length > 0) {
    const list = imports.map((i) => `${i.module}.${i.name} (${i.kind})`).join(', ');
    throw new TaskInputError('wasm', `imports ${list}: modules get no host access beyond their input and output`);
  }
  const exported = new Map(WASM.Module.exports(compiled).map((e) => [e.name, e.kind]));
  const missing = (
    [
      ['memory', 'memory'],
      ['alloc', 'function'],
      ['run', 'function'],
    ] as const
  ).filter(([name, kind]) => exported.get(name) !== kind);
  if (missing.length > 0) {
    const list = missing.map(([name, kind]) => `${name} (${kind})`).join(', ');
    throw new TaskInputError('wasm', `does not export ${list}: the ABI needs memory, alloc(size) -> ptr and run(ptr, len) -> ptr`);
  }

  const exports = trapping('starting', () => new WASM.Instance(compiled, {}).exports);
  const memory = exports.memory as WasmMemory;
  const alloc = exports.alloc as (size: number) => unknown;
  const run = exports.run as (ptr: number, len: number) => unknown;

  const inPtr = pointer('alloc', trapping('alloc', () => alloc(input.byteLength)));
  if (inPtr + input.byteLength > memory.buffer.byteLength) {
    throw new TaskFailedError('failed', `alloc(${input.byteLength}) returned ${inPtr}, outside the module's ${memory.buffer.byteLength}-byte memory`);
  }
  new Uint8Array(memory.buffer, inPtr, input.byteLength).set(input);

  const outPtr = pointer('run', trapping('run', () => run(inPtr, input.byteLength)));
  // Read the buffer after run: a memory.grow inside it replaced the old one.
  const buffer = memory.buffer;
  if (buffer.byteLength > limits.maxMemoryBytes) {
    // Unreachable with the rewritten maximum; kept so a change there cannot lift the cap silently.
    throw new TaskFailedError('memory', `the module grew its memory to ${buffer.byteLength} bytes, over the limit of ${limits.maxMemoryBytes}`);
  }
  if (outPtr + 4 > buffer.byteLength) throw new TaskFailedError('failed', `run returned ${outPtr}, outside the module's ${buffer.byteLength}-byte memory`);
  const length = new DataView(buffer).getUint32(outPtr, true);
  if (outPtr + 4 + length > buffer.byteLength) {
    throw new TaskFailedError('failed', `run's output at ${outPtr} claims ${length} bytes, past the end of the module's ${buffer.byteLength}-byte memory`);
  }
  // A copy: the module's memory is dropped with the instance.
  return new Uint8Array(buffer.slice(outPtr + 4, outPtr + 4 + length));
}

function compile(bytes: Uint8Array): WasmModule {
  try {
    return new WASM.Module(bytes);
  } catch (err) {
    throw new TaskInputError('wasm', `is not a valid WebAssembly module: ${(err as Error).message}`, { cause: err });
  }
}

/** Calls into the module; a trap (or a stack overflow) becomes a TaskFailedError naming where. */
function trapping<T>(where: string, call: () => T): T {
  try {
    return call();
  } catch (err) {
    throw new TaskFailedError('failed', `the module trapped in ${where}: ${(err as Error).message}`, { cause: err });
  }
}

function pointer(fn: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new TaskFailedError('failed', `${fn} must return an i32 pointer, not ${typeof value}`);
  return value >>> 0; // i32 comes back signed; addresses above 2 GiB are negative
}

/**
 * The module with every memory's maximum at most `maxPages`, after refusing memories that
 * start above it. Only section headers and the memory section are read; anything the reader
 * cannot make sense of is left for the compiler, whose CompileError says precisely what is wrong.
 */
function capMemory(bytes: Uint8Array, maxPages: number, maxBytes: number): Uint8Array {
  const section = findSection(bytes, MEMORY_SECTION);
  if (section === null) return bytes;
  const r = { at: section.start };
  const limits: Array<{ min: number; max: number }> = [];
  let count: number;
  try {
    count = readU32(bytes, r);
    for (let k = 0; k < count; k++) {
      const flags = bytes[r.at++];
      if (flags === undefined) throw new Malformed();
      if (flags > 1) {
      // 2–3: shared memory (threads), 4–7: 64-bit memory. Neither is part of this ABI.
        throw new TaskInputError('wasm', `memory ${k} is shared or 64-bit (limits flags ${flags}); only a plain 32-bit memory is allowed`);
      }
      const min = readU32(bytes, r);
      const max = flags === 1 ? readU32(bytes, r) : Infinity;
      if (min > maxPages) {
        throw new TaskInputError('wasm', `memory ${k} starts at ${min} pages (${min * PAGE_BYTES} bytes), over the limit of ${maxBytes} bytes`);
      }
      limits.push({ min, max: Math.min(max, maxPages) });
    }
    if (r.at !== section.end) throw new Malformed();
  } catch (err) {
    if (err instanceof Malformed) return bytes; // the compiler will say precisely what is wrong
    throw err;
  }
  const body = [...leb(count), ...limits.flatMap((l) => [1, ...leb(l.min), ...leb(l.max)])];
  const out = new Uint8Array(section.headerStart + 1 + leb(body.length).length + body.length + (bytes.length - section.end));
  out.set(bytes.subarray(0, section.headerStart));
  out.set([MEMORY_SECTION, ...leb(body.length), ...body], section.headerStart);
  out.set(bytes.subarray(section.end), section.headerStart + 1 + leb(body.length).length + body.length);
  return out;
}

/** The section's id byte offset and its contents' [start, end), or null (also for a malformed module). */
function findSection(bytes: Uint8Array, id: number): { headerStart: number; start: number; end: number } | null {
  // "\0asm", version 1
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) return null;
  const r = { at: 8 };
  try {
    while (r.at < bytes.length) {
      const headerStart = r.at;
      const sectionId = bytes[r.at++];
      const size = readU32(bytes, r);
      const end = r.at + size;
      if (end > bytes.length) return null;
      if (sectionId === id) return { headerStart, start: r.at, end };
      r.at = end;
    }
  } catch (err) {
    if (err instanceof Malformed) return null;
    throw err;
  }
  return null;
}

/** Bytes the reader could not follow; never escapes this file. */
class Malformed extends Error {}

/** Unsigned LEB128, at most 5 bytes (a u32). */
function readU32(bytes: Uint8Array, r: { at: number }): number {
  let value = 0;
  for (let shift = 0; shift < 35; shift += 7) {
    const b = bytes[r.at++];
    if (b === undefined) throw new Malformed();
    value += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return value;
  }
  throw new Malformed();
}

function leb(value: number): number[] {
  const out: number[] = [];
  do {
    let b = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) b |= 0x80;
    out.push(b);
  } while (value > 0);
  return out;
}
