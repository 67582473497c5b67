/**
 * The dashboard's one way to call the node's API: bearer token, JSON in and out, the node's
 * error shape (`{ error: { code, message, details } }`) turned into ApiError, and one silent
 * refresh when the access token has expired.
 */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown = undefined,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  expires_in: number;
}

export interface TokenStore {
  access(): string | null;
  /** Trades the refresh token for a new pair; resolves false when the session is over. */
  refresh(): Promise<boolean>;
  /** The session ended (refresh refused): the app shows the sign-in form. */
  expired(): void;
}

let tokens: TokenStore | null = null;
const NO_REFRESH = new Set(['/api/v1/auth/login', '/api/v1/auth/refresh']);

/** Set by the session provider; requests made before sign-in go without a token. */
export function useTokenStore(store: TokenStore | null): void {
  tokens = store;
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  body?: unknown;
  /** Query parameters; undefined and empty values are left out. */
  query?: Record<string, string | number | boolean | undefined | null>;
  signal?: AbortSignal;
}

/** `api<T>('/api/v1/decisions', { query: { zone } })` — throws ApiError on any non-2xx answer. */
export async function api<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const first = await send(path, options);
  // Not for sign-in and refresh themselves: a refused refresh answers 401 too, and retrying it
  // would wait on the very refresh in progress.
  if (first.status === 401 && tokens?.access() && !NO_REFRESH.has(path)) {
    // An expired access token: refresh once and retry; a refused refresh ends the session.
    if (await tokens.refresh()) return parse<T>(await send(path, options));
    tokens.expired();
  }
  return parse<T>(first);
}

export function withQuery(path: string, query: RequestOptions['query']): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

function send(path: string, options: RequestOptions): Promise<Response> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const token = tokens?.access();
  if (token) headers.authorization = `Bearer ${token}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.body);
  }
  return fetch(withQuery(path, options.query), { method: options.method ?? 'GET', headers, body, signal: options.signal });
}

async function parse<T>(response: Response): Promise<T> {
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let json: unknown = undefined;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    // Not JSON (a proxy's error page): reported below with the status.
  }
  if (!response.ok) {
    const error = (json as { error?: { code?: string; message?: string; details?: unknown } } | undefined)?.error;
    throw new ApiError(response.status, error?.code ?? `HTTP_${response.status}`, error?.message ?? `the node answered ${response.status} ${response.statusText}`, error?.details);
  }
  return json as T;
}

/** A message for people: the node's own message, or what went wrong on the way. */
export function errorText(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  if (err instanceof TypeError) return 'the node cannot be reached: check that it is running and your network';
  return err instanceof Error ? err.message : String(err);
}
