import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** s3rver's one account (hard-wired in it); it rejects any other access key id. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

/**
 * s3rver runs as a child process, not in this one: its ListObjectsV2 continuation tokens are
 * DES-encrypted, which OpenSSL 3 (Node ≥ 17) only offers with --openssl-legacy-provider, so
 * in-process every listing of more than one page fails with a 500.
 */
export interface S3rver {
  child: ChildProcess;
  /** `http://127.0.0.1:<port>`. */
  endpoint: string;
  /** The temporary folder it keeps buckets in (`<directory>/<bucket>/<key>._S3rver_object`). */
  directory: string;
  /** Stops the server, waits for it to exit and removes its folder. */
  stop(): Promise<void>;
}

/** An s3rver with `bucket` in a fresh temporary folder, on 127.0.0.1 and a free port. */
export async function startS3rver(bucket: string): Promise<S3rver> {
  const directory = await mkdtemp(join(tmpdir(), 'city-s3rver-'));
  const cli = join(dirname(createRequire(import.meta.url).resolve('s3rver/package.json')), 'bin', 's3rver.js');
  const child = spawn(process.execPath, ['--openssl-legacy-provider', cli, '--directory', directory, '--address', '127.0.0.1', '--port', '0', '--silent', '--configure-bucket', bucket], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    const onData = (data: Buffer): void => {
      output += data.toString();
      const listening = /S3rver listening on [\d.]+:(\d+)/.exec(output);
      if (listening) resolve(Number(listening[1]));
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`s3rver exited (${code}) before listening: ${output}`)));
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    await rm(directory, { recursive: true, force: true });
  };
  return { child, endpoint: `http://127.0.0.1:${port}`, directory, stop };
}

