// The PGlite database runs in this worker thread so that PostgreSQL's own work (parsing,
// index maintenance, WAL) uses the second core while the main thread decodes, validates
// and enriches the next batch (DESIGN.md "Hot paths"). Plain JS so it loads without a
// TypeScript loader in the worker.
//
// Protocol (main → worker): { id, op: 'query', sql, params } | { id, op: 'copy', sql, data }
//   | { id, op: 'close' }. Worker → main: { id, ok: true, rows, affected } | { id, ok: false,
//   error: { message, code, detail, position } }. The worker runs one message at a time, in
//   order, so the main side's connection mutex is the only lock needed.
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';

// bytea (type OID 17). Written as a binary parameter: PGlite sends a Uint8Array in Bind's binary
// format as it is, where a text parameter is hex that PGlite's own writer measures and encodes a
// character at a time in JS (bench:jobs saw that take half of this thread for ~90 KB inputs; its
// default bytea serializer, a byte at a time through strings, was slower still). Read as hex
// through Buffer: PGlite's own parser goes byte by byte (~60 ms a MB against ~3 ms here).
const BYTEA = 17;
const serializers = {
  [BYTEA]: (value) => {
    if (!(value instanceof Uint8Array)) throw new Error('Invalid input for bytea type');
    return value;
  },
};
const parsers = { [BYTEA]: (text) => Buffer.from(text.slice(2), 'hex') };

const db = await PGlite.create(workerData.dataDir ?? undefined, { relaxedDurability: false, serializers, parsers });
let queue = Promise.resolve();

parentPort.on('message', (msg) => {
  queue = queue.then(() => handle(msg));
});
parentPort.postMessage({ id: 0, ok: true, ready: true });

async function handle(msg) {
  try {
    if (msg.op === 'query') {
      const res = await db.query(msg.sql, msg.params ?? []);
      parentPort.postMessage({ id: msg.id, ok: true, rows: res.rows, affected: res.affectedRows ?? 0 });
    } else if (msg.op === 'copy') {
      // COPY ... FROM '/dev/blob' is PGlite's way to stream rows in without a socket.
      const text = typeof msg.data === 'string' ? msg.data : new TextDecoder().decode(msg.data);
      const res = await db.query(msg.sql, [], { blob: new Blob([text]) });
      parentPort.postMessage({ id: msg.id, ok: true, rows: [], affected: res.affectedRows ?? 0 });
    } else if (msg.op === 'close') {
      await db.close();
      parentPort.postMessage({ id: msg.id, ok: true, rows: [], affected: 0 });
      parentPort.close();
    } else {
      parentPort.postMessage({ id: msg.id, ok: false, error: { message: `unknown op ${msg.op}` } });
    }
  } catch (err) {
    const e = /** @type {any} */ (err);
    parentPort.postMessage({
      id: msg.id,
      ok: false,
      error: { message: e?.message ?? String(err), code: e?.code, detail: e?.detail, position: e?.position },
    });
  }
}
