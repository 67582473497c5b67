import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';

/** The flags every command that talks to a running node takes: where it is and how to sign in. */
export interface NodeClientFlags {
  url: string;
  token?: string;
  data: string;
}

/** Adds --url, --token and --data to a command that calls a node's API. */
export function nodeClientOptions(command: Command): Command {
  return command
    .option('--url <url>', "the node's HTTP address", process.env.CITY_URL ?? 'http://127.0.0.1:8080')
    .option('--token <token>', 'admin token or access token (default: CITY_ADMIN_TOKEN, else <data>/admin-token)')
    .option('--data <dir>', "the node's data folder, to read its admin token from", process.env.CITY_DATA_DIR ?? './data');
}

/** --token, else CITY_ADMIN_TOKEN, else the admin token the node keeps in its data folder; null when none. */
export async function nodeToken(flags: NodeClientFlags): Promise<string | null> {
  return flags.token ?? process.env.CITY_ADMIN_TOKEN ?? (await readFile(join(flags.data, 'admin-token'), 'utf8').then((t) => t.trim(), () => null));
}
