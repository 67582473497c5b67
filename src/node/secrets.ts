import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { hashApiKey, newApiKey } from '../auth/api-keys.js';
import type { Database } from '../store/schema.js';

/**
 * The node's own secrets, created at first start and kept in the store so that every restart
 * (and every process sharing a PostgreSQL database) agrees on them.
 */
export async function personalDataKey(db: Kysely<Database>): Promise<Buffer> {
  return storedKey(db, 'personal_data_key');
}

/** The HMAC key of the node's access tokens (src/auth/access-tokens.ts). */
export async function jwtSigningKey(db: Kysely<Database>): Promise<Buffer> {
  return storedKey(db, 'jwt_signing_key');
}

/** 32 random bytes created once under `name` (the first writer wins when processes race). */
async function storedKey(db: Kysely<Database>, name: string): Promise<Buffer> {
  await db
    .insertInto('node_secrets')
    .values({ name, value: randomBytes(32).toString('hex') })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
  const row = await db.selectFrom('node_secrets').select('value').where('name', '=', name).executeTakeFirstOrThrow();
  return Buffer.from(row.value, 'hex');
}

/**
 * The HMAC key one-time sign-in codes are hashed with (src/auth/otp.ts): a six-digit code
 * hashed without a secret could be found from a leaked row in a million tries.
 */
export async function otpCodeKey(db: Kysely<Database>): Promise<Buffer> {
  return storedKey(db, 'otp_code_key');
}

export interface AdminToken {
  /** The token itself when this process knows it (configured, or read from the data folder). */
  token: string | null;
  hash: string;
  /** Where the token was found or written. */
  origin: 'config' | 'file' | 'generated';
  file: string;
}

/**
 * The administrator token. Configured (`adminToken` / CITY_ADMIN_TOKEN) wins; otherwise it is
 * read from `<dataDir>/admin-token`, or generated there (mode 0600) at first start — like a
 * database's initial superuser password. Only its hash goes into the store.
 */
export async function adminToken(db: Kysely<Database>, dataDir: string, configured: string | undefined): Promise<AdminToken> {
  const file = join(dataDir, 'admin-token');
  let token: string;
  let origin: AdminToken['origin'];
  if (configured) {
    token = configured;
    origin = 'config';
  } else {
    const existing = await readFile(file, 'utf8').then((t) => t.trim(), () => null);
    if (existing) {
      token = existing;
      origin = 'file';
    } else {
      token = newApiKey('adm').key;
      await mkdir(dataDir, { recursive: true });
      await writeFile(file, token + '\n', { mode: 0o600 });
      await chmod(file, 0o600);
      origin = 'generated';
    }
  }
  const hash = hashApiKey(token);
  await db
    .insertInto('node_secrets')
    .values({ name: 'admin_token_hash', value: hash })
    .onConflict((oc) => oc.column('name').doUpdateSet({ value: hash }))
    .execute();
  return { token, hash, origin, file };
}
