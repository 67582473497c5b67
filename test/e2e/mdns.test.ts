import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { PROJECT_ROOT } from '../../src/node/paths.js';

/**
 * Issue 7 §1 and "Show": an executor with no --broker finds the broker by mDNS
 * (`_resourcepool._tcp`, seed 003). The whole exchange runs inside a network namespace this test
 * creates (`unshare --net`: only a loopback interface, multicast routed to it), so nothing is
 * ever multicast on the host's network. Needs root (CI runs as root) and iproute2.
 */
const run = promisify(execFile);
const SETUP = 'ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo';

describe('broker discovery over mDNS, in a network namespace of its own', () => {
  it('finds the broker announced as _resourcepool._tcp and joins it', { skip: process.getuid?.() !== 0 ? 'needs root to create a network namespace (CI runs as root)' : false, timeout: 90_000 }, async () => {
    const driver = join(PROJECT_ROOT, 'test/e2e/mdns-driver.ts');
    const { stdout } = await run('unshare', ['--net', 'sh', '-c', `${SETUP} && exec "${process.execPath}" --import tsx "${driver}"`], { cwd: PROJECT_ROOT, timeout: 80_000 }).catch((err: { stdout?: string; stderr?: string; message: string }) => {
      throw new Error(`the driver failed: ${err.message}\n${err.stdout ?? ''}\n${err.stderr ?? ''}`);
    });
    const result = JSON.parse(stdout.trim().split('\n').pop()!) as { joined: boolean; devices: string[]; executor_output: string; broker_url: string };
    assert.equal(result.joined, true, result.executor_output);
    assert.match(result.executor_output, /found broker broker-mdns at http:\/\/127\.0\.0\.1:\d+/);
    assert.deepEqual(result.devices, ['exec-mdns']);
  });
});
