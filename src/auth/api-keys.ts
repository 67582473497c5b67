import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * API keys for plugins (`pk_…`) and devices (`dk_…`). Keys are 32 random bytes, so a fast
 * SHA-256 at rest is enough (argon2 is for low-entropy passwords and would cost ~50 ms on every
 * MQTT connect).
 * Only the hash and a short display prefix are stored; the key is shown once.
 *
 * @example
 *   const { key, hash, prefix } = newApiKey('pk');   // key: 'pk_3q2…', shown to the vendor once
 *   verifyApiKey(key, hash) // true
 */
export function newApiKey(kind: 'pk' | 'dk' | 'adm' | 'ek'): { key: string; hash: string; prefix: string } {
  const key = `${kind}_${randomBytes(32).toString('base64url')}`;
  return { key, hash: hashApiKey(key), prefix: key.slice(0, kind.length + 7) };
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** Constant-time comparison against a stored hash. */
export function verifyApiKey(key: string, storedHash: string): boolean {
  return sameHash(hashApiKey(key), storedHash);
}

/** Constant-time comparison of two hex digests (a key's hash, already computed, against a stored one). */
export function sameHash(hashHex: string, storedHash: string): boolean {
  const a = Buffer.from(hashHex, 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Reads a key from `X-API-Key` or `Authorization: Bearer …`. */
export function keyFromHeaders(headers: Record<string, string | string[] | undefined>): string | null {
  const direct = headers['x-api-key'];
  if (typeof direct === 'string' && direct.length > 0) return direct;
  const auth = headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(\S+)$/i.exec(auth);
    if (m) return m[1]!;
  }
  return null;
}
