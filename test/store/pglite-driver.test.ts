import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PgliteWorkerClient } from '../../src/store/pglite-driver.js';

test('a PGlite worker that dies fails pending and later queries instead of hanging', async () => {
  const client = new PgliteWorkerClient(null);
  await client.ready;
  assert.deepEqual((await client.query('select 1 as one', [])).rows, [{ one: 1 }]);
  const pending = client.query('select pg_sleep(2)', []);
  await client.kill();
  await assert.rejects(pending, /PGlite worker exited/);
  await assert.rejects(client.query('select 1', []), /PGlite worker exited with code \d+; restart the node/);
  await client.close(); // closing a dead client is harmless
});

test('a SQL error comes back with its SQLSTATE code and the statement', async () => {
  const client = new PgliteWorkerClient(null);
  await client.ready;
  try {
    await assert.rejects(client.query('select * from no_such_table', []), (err: any) => {
      assert.equal(err.code, '42P01');
      assert.match(err.message, /no_such_table.*in: select \* from no_such_table/);
      return true;
    });
    assert.deepEqual((await client.query('select $1::int + 1 as n', [41])).rows, [{ n: 42 }], 'the worker keeps answering after an error');
  } finally {
    await client.close();
  }
});
