import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hash } from '@node-rs/argon2';
import { CityError } from '../../src/errors.js';
import { assertPasswordAcceptable, hashPassword, MIN_PASSWORD_LENGTH, passwordProblem, verifyPassword } from '../../src/auth/passwords.js';

describe('hashPassword', () => {
  it('makes an argon2id PHC string with the OWASP parameters (m=19456 KiB, t=2, p=1) and a fresh salt', async () => {
    const a = await hashPassword('correct horse battery');
    const b = await hashPassword('correct horse battery');
    assert.match(a, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    assert.notEqual(a, b, 'each hash has its own salt');
  });
});

describe('verifyPassword', () => {
  it('accepts the password and refuses any other', async () => {
    const stored = await hashPassword('correct horse battery');
    assert.equal(await verifyPassword(stored, 'correct horse battery'), true);
    assert.equal(await verifyPassword(stored, 'correct horse batterY'), false);
    assert.equal(await verifyPassword(stored, ''), false);
  });

  it('verifies hashes made with other argon2 parameters (they are read from the PHC string)', async () => {
    const older = await hash('correct horse battery', { algorithm: 2, memoryCost: 4096, timeCost: 3, parallelism: 1 });
    assert.equal(await verifyPassword(older, 'correct horse battery'), true);
  });

  it('never signs in with a malformed stored hash', async () => {
    assert.equal(await verifyPassword('not a hash', 'not a hash'), false);
    assert.equal(await verifyPassword('', ''), false);
  });

  it('with no stored hash (unknown user) answers false after doing the same work as a real check', async () => {
    const stored = await hashPassword('correct horse battery');
    await verifyPassword(null, 'warm up'); // the dummy hash is made on first use
    const time = async (fn: () => Promise<unknown>) => {
      const samples: number[] = [];
      for (let i = 0; i < 5; i++) {
        const start = process.hrtime.bigint();
        await fn();
        samples.push(Number(process.hrtime.bigint() - start) / 1e6);
      }
      return samples.sort((x, y) => x - y)[2]!;
    };
    const real = await time(() => verifyPassword(stored, 'a wrong password'));
    const dummy = await time(async () => assert.equal(await verifyPassword(null, 'a wrong password'), false));
    // Same algorithm and parameters: the medians agree within noise; a skipped check would be ~0 ms.
    assert.ok(dummy > real * 0.5 && dummy < real * 2, `dummy ${dummy.toFixed(1)} ms vs real ${real.toFixed(1)} ms`);
  });

  it('refuses an overlong password without hashing it at length', async () => {
    const stored = await hashPassword('correct horse battery');
    assert.equal(await verifyPassword(stored, 'x'.repeat(100_000)), false);
  });
});

describe('password rules', () => {
  it(`needs at least ${MIN_PASSWORD_LENGTH} characters and says how many it has`, () => {
    assert.equal(passwordProblem('short pass'), 'it must have at least 12 characters (it has 10)');
    assert.equal(passwordProblem('twelve chars'), null);
  });

  it('counts characters, not UTF-16 units (a Tamil passphrase is judged by its letters)', () => {
    const tamil = 'கடவுச்சொல்'; // 11 code points
    assert.equal([...tamil].length < 12, true);
    assert.match(passwordProblem(tamil)!, /at least 12 characters/);
  });

  it('refuses one repeated character, the user name inside it, and absurd lengths', () => {
    assert.equal(passwordProblem('aaaaaaaaaaaaaaaa'), 'it must not repeat one character');
    assert.equal(passwordProblem('my-Officer.Raja-2026', { username: 'officer.raja' }), 'it must not contain the user name');
    assert.match(passwordProblem('x'.repeat(300) + 'y')!, /at most 256 characters/);
  });

  it('assertPasswordAcceptable throws CITY_ERR_PASSWORD_INVALID naming the rule', () => {
    assert.throws(
      () => assertPasswordAcceptable('too short'),
      (err: unknown) => err instanceof CityError && err.code === 'CITY_ERR_PASSWORD_INVALID' && err.status === 422 && /at least 12 characters/.test(err.message),
    );
    assert.doesNotThrow(() => assertPasswordAcceptable('a perfectly long passphrase'));
  });
});
