import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spawnCity } from '../helpers/process.js';
import { testDatabase } from '../helpers/store.js';
import { CHENNAI_ZONES, speedingEvent } from '../helpers/fixtures.js';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/node/paths.js';

const PLUGIN = 'traffic-violation-detector-v2';

test('every acknowledged event survives SIGKILL of the node', { timeout: 180_000 }, async (t) => {
  const db = await testDatabase(t);
  const env = { DATABASE_URL: db.databaseUrl };
  const args = ['--data', db.dataDir, '--port', '0', '--mqtt-port', '0', '--zones', CHENNAI_ZONES, '--plugins', join(PROJECT_ROOT, 'examples/plugins')];
  const first = await spawnCity(args, env);
  t.after(() => void first.child.kill('SIGKILL'));
  const key = first.pluginKeys[PLUGIN];
  assert.ok(key, `the banner shows the plugin key:\n${first.output()}`);

  // Writers post batches until killed; an id counts only once its 202 has been read.
  const acked: string[] = [];
  let killed = false;
  let sequence = 0;
  const writer = async (w: number) => {
    while (!killed) {
      const batch = Array.from({ length: 100 }, () => speedingEvent({ event_id: `w${w}-${sequence++}` }));
      try {
        const res = await fetch(`${first.url}/webhook/${PLUGIN}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-api-key': key! },
          body: JSON.stringify(batch),
        });
        if (res.status !== 202) throw new Error(`status ${res.status}: ${await res.text()}`);
        await res.json();
        if (!killed) for (const e of batch) acked.push(e.event_id);
      } catch (err) {
        if (!killed) throw err;
      }
    }
  };
  const writers = Array.from({ length: 8 }, (_, w) => writer(w));
  while (acked.length < 5_000) await new Promise((r) => setTimeout(r, 5));
  // Kill while requests are in flight: what was acknowledged must be there, the rest may not.
  first.child.kill('SIGKILL');
  killed = true;
  const ackedAtKill = acked.slice();
  await first.exited;
  await Promise.all(writers);

  const second = await spawnCity(args, env);
  t.after(() => void second.child.kill('SIGKILL'));
  const found = new Set<string>();
  let cursor: string | null = null;
  do {
    const res = await fetch(`${second.url}/api/v1/events?plugin=${PLUGIN}&limit=1000${cursor ? `&cursor=${cursor}` : ''}`, {
      headers: { authorization: `Bearer ${second.adminToken}` },
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { events: Array<{ event_id: string }>; next_cursor: string | null };
    for (const e of body.events) found.add(e.event_id);
    cursor = body.next_cursor;
  } while (cursor);
  const lost = ackedAtKill.filter((id) => !found.has(id));
  assert.equal(lost.length, 0, `${lost.length} of ${ackedAtKill.length} acknowledged events were lost, e.g. ${lost.slice(0, 5).join(', ')}`);
  assert.ok(found.size >= ackedAtKill.length);
  t.diagnostic(`acknowledged before the kill: ${ackedAtKill.length}; stored after restart: ${found.size}`);
  second.child.kill('SIGTERM');
  assert.equal(await second.exited, 0, 'a graceful stop exits 0');
});
