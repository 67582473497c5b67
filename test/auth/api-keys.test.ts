import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { hashApiKey, keyFromHeaders, newApiKey, verifyApiKey } from '../../src/auth/api-keys.js';

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

describe('newApiKey', () => {
  it('makes a pk_ key of 32 random bytes in base64url, with its hash and display prefix', () => {
    const { key, hash, prefix } = newApiKey('pk');
    assert.match(key, /^pk_[A-Za-z0-9_-]{43}$/);
    assert.equal(Buffer.from(key.slice(3), 'base64url').length, 32);
    assert.equal(hash, sha256(key));
    assert.equal(prefix, key.slice(0, 9));
    assert.match(prefix, /^pk_[A-Za-z0-9_-]{6}$/);
  });

  it('makes an adm_ key the same way', () => {
    const { key, hash, prefix } = newApiKey('adm');
    assert.match(key, /^adm_[A-Za-z0-9_-]{43}$/);
    assert.equal(hash, sha256(key));
    assert.match(prefix, /^adm_[A-Za-z0-9_-]{6}$/);
    assert.ok(key.startsWith(prefix));
  });

  it('the prefix does not give the key away', () => {
    const { key, prefix } = newApiKey('pk');
    assert.ok(key.length - prefix.length >= 37, 'at least 37 base64url characters (> 200 bits) stay secret');
    assert.equal(verifyApiKey(prefix, hashApiKey(key)), false);
  });

  it('never repeats a key', () => {
    const keys = new Set<string>();
    for (let i = 0; i < 1000; i++) keys.add(newApiKey('pk').key);
    assert.equal(keys.size, 1000);
  });
});

describe('hashApiKey', () => {
  it('is SHA-256 in lower-case hex (FIPS 180-4 test vector "abc")', () => {
    assert.equal(hashApiKey('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    assert.equal(hashApiKey(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('hashes the UTF-8 bytes of the key', () => {
    assert.equal(hashApiKey('ключ-🔑'), sha256('ключ-🔑'));
  });

  it('is deterministic and tells keys apart', () => {
    const { key } = newApiKey('pk');
    assert.equal(hashApiKey(key), hashApiKey(key));
    assert.notEqual(hashApiKey(key), hashApiKey(key + 'x'));
    assert.notEqual(hashApiKey('pk_a'), hashApiKey('pk_A'));
  });
});

describe('verifyApiKey', () => {
  it('accepts the key its hash was made from', () => {
    const { key, hash } = newApiKey('pk');
    assert.equal(verifyApiKey(key, hash), true);
  });

  it('refuses another key, a changed key and the empty key', () => {
    const { key, hash } = newApiKey('pk');
    assert.equal(verifyApiKey(newApiKey('pk').key, hash), false);
    assert.equal(verifyApiKey(key.slice(0, -1), hash), false);
    assert.equal(verifyApiKey(key + ' ', hash), false);
    assert.equal(verifyApiKey(key.toUpperCase(), hash), false);
    assert.equal(verifyApiKey('', hash), false);
  });

  it('refuses, without throwing, a stored hash that is not a SHA-256 hex digest', () => {
    const { key, hash } = newApiKey('pk');
    for (const stored of ['', 'not-hex', hash.slice(0, 62), hash + '00', key]) {
      assert.equal(verifyApiKey(key, stored), false, `stored ${JSON.stringify(stored)}`);
    }
  });

  it('reads the stored hex digest case-insensitively', () => {
    const { key, hash } = newApiKey('pk');
    assert.equal(verifyApiKey(key, hash.toUpperCase()), true);
  });
});

describe('keyFromHeaders', () => {
  it('reads X-API-Key', () => {
    assert.equal(keyFromHeaders({ 'x-api-key': 'pk_abc' }), 'pk_abc');
  });

  it('reads Authorization: Bearer, the scheme in any case', () => {
    assert.equal(keyFromHeaders({ authorization: 'Bearer pk_abc' }), 'pk_abc');
    assert.equal(keyFromHeaders({ authorization: 'bearer pk_abc' }), 'pk_abc');
    assert.equal(keyFromHeaders({ authorization: 'BEARER   pk_abc' }), 'pk_abc');
    assert.equal(keyFromHeaders({ authorization: 'Bearer\tpk_abc' }), 'pk_abc');
  });

  it('prefers X-API-Key over a bearer token', () => {
    assert.equal(keyFromHeaders({ 'x-api-key': 'from-header', authorization: 'Bearer from-bearer' }), 'from-header');
  });

  it('falls back to the bearer token when X-API-Key is empty or repeated', () => {
    assert.equal(keyFromHeaders({ 'x-api-key': '', authorization: 'Bearer pk_abc' }), 'pk_abc');
    assert.equal(keyFromHeaders({ 'x-api-key': ['a', 'b'], authorization: 'Bearer pk_abc' }), 'pk_abc');
  });

  it('gives null when there is no usable key', () => {
    for (const headers of [
      {},
      { 'x-api-key': '' },
      { 'x-api-key': ['a', 'b'] },
      { 'x-api-key': undefined },
      { authorization: 'Basic dXNlcjpwYXNz' },
      { authorization: 'Bearer' },
      { authorization: 'Bearer ' },
      { authorization: 'Bearer two words' },
      { authorization: 'Bearerpk_abc' },
      { authorization: 'Token pk_abc' },
      { authorization: ['Bearer a', 'Bearer b'] },
    ]) {
      assert.equal(keyFromHeaders(headers), null, JSON.stringify(headers));
    }
  });
});
