import { STATUS_CODES } from 'node:http';
import { parseRetryAfter } from './backoff.js';

/**
 * The outcome of one attempt to deliver an action, as data (house style #6). `retry` says
 * whether another attempt could succeed; `interrupted` that the node was shutting down and the
 * outcome is unknown (the action stays EXECUTING and is retried at the next start).
 */
export type Delivery =
  | { ok: true; detail: string; result: string }
  | { ok: false; detail: string; retry: boolean; retryAfterMs: number | null; interrupted?: true };

/** What the node hands the dispatcher to publish MQTT commands (the embedded broker's publish). */
export type PublishMqtt = (topic: string, payload: Buffer, qos: 0 | 1) => Promise<void>;

export interface WebhookRequest {
  url: string;
  targetName: string;
  headers: Readonly<Record<string, string>>;
  timeoutMs: number;
  body: string;
  actionId: string;
  attempt: number;
  nodeId: string;
  /** Aborted when the dispatcher gives up waiting at shutdown. */
  shutdown: AbortSignal;
}

const RESULT_BODY_CHARS = 500;
const DETAIL_BODY_CHARS = 200;
/** Enough bytes for RESULT_BODY_CHARS characters of UTF-8; the rest of a body is not read. */
const READ_BODY_BYTES = 4 * RESULT_BODY_CHARS;

/**
 * POSTs an action to a webhook. Receivers get `Idempotency-Key: <action_id>` and
 * `X-City-Attempt`: delivery is at least once (a retry after a timeout, or after a restart
 * interrupted an attempt, can repeat a command the receiver already carried out), so a
 * receiver dedupes on the key.
 *
 * 2xx succeeds. 408, 429 and 5xx are retried (honouring Retry-After), as are network errors
 * and timeouts. Other 4xx are permanent: the same request would be refused again. Redirects
 * are not followed: a command is not re-sent to wherever a response points.
 */
export async function deliverWebhook(req: WebhookRequest): Promise<Delivery> {
  const timeout = AbortSignal.timeout(req.timeoutMs);
  const signal = AbortSignal.any([timeout, req.shutdown]);
  let status: number;
  let statusText: string;
  let retryAfter: string | null;
  let location: string | null;
  let text: string;
  try {
    const res = await fetch(req.url, {
      method: 'POST',
      redirect: 'manual',
      signal,
      headers: {
        ...req.headers,
        'content-type': 'application/json',
        'idempotency-key': req.actionId,
        'x-city-node': req.nodeId,
        'x-city-attempt': String(req.attempt),
      },
      body: req.body,
    });
    status = res.status;
    statusText = res.statusText || STATUS_CODES[res.status] || '';
    retryAfter = res.headers.get('retry-after');
    location = res.headers.get('location');
    text = await readPrefix(res, READ_BODY_BYTES);
  } catch (err) {
    if (req.shutdown.aborted) return { ok: false, detail: 'interrupted by node shutdown; outcome unknown', retry: true, retryAfterMs: null, interrupted: true };
    if (timeout.aborted) return { ok: false, detail: `timeout after ${req.timeoutMs} ms`, retry: true, retryAfterMs: null };
    return { ok: false, detail: describeNetworkError(err), retry: true, retryAfterMs: null };
  }

  const line = `HTTP ${status}${statusText ? ` ${statusText}` : ''}`;
  if (status >= 200 && status < 300) {
    const shown = text.slice(0, RESULT_BODY_CHARS);
    return { ok: true, detail: line, result: `HTTP ${status} from ${req.targetName}${shown ? `: ${shown}` : ''}` };
  }
  if (status >= 300 && status < 400) {
    return { ok: false, detail: `${line}: redirects are not followed${location ? ` (Location: ${location.slice(0, DETAIL_BODY_CHARS)})` : ''}`, retry: false, retryAfterMs: null };
  }
  const detail = `${line}${text ? `: ${text.slice(0, DETAIL_BODY_CHARS)}` : ''}`;
  const retry = status >= 500 || status === 408 || status === 429;
  return { ok: false, detail, retry, retryAfterMs: retry ? parseRetryAfter(retryAfter, Date.now()) : null };
}

/**
 * Publishes an action to an MQTT command topic at QoS 1. `publish` is null when the node runs
 * without MQTT: that is a permanent failure, since no retry can succeed until the node is
 * reconfigured.
 */
export async function deliverMqtt(
  publish: PublishMqtt | null,
  topic: string,
  body: string,
  timeoutMs: number,
  shutdown: AbortSignal,
): Promise<Delivery> {
  if (publish === null) {
    return { ok: false, detail: `MQTT is turned off on this node (mqtt.enabled is false), so the command for topic ${topic} cannot be published`, retry: false, retryAfterMs: null };
  }
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    await Promise.race([
      publish(topic, Buffer.from(body), 1),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new DeliveryAbort(`timeout after ${timeoutMs} ms`)), timeoutMs);
        onAbort = () => reject(new DeliveryAbort('interrupted by node shutdown; outcome unknown', true));
        if (shutdown.aborted) onAbort();
        else shutdown.addEventListener('abort', onAbort, { once: true });
      }),
    ]);
    return { ok: true, detail: `published to ${topic}`, result: `published to ${topic}` };
  } catch (err) {
    if (err instanceof DeliveryAbort && err.interrupted) return { ok: false, detail: err.message, retry: true, retryAfterMs: null, interrupted: true };
    const message = err instanceof Error ? err.message : String(err);
    return { ok: false, detail: err instanceof DeliveryAbort ? message : `publish to ${topic} failed: ${message}`, retry: true, retryAfterMs: null };
  } finally {
    clearTimeout(timer);
    if (onAbort) shutdown.removeEventListener('abort', onAbort);
  }
}

class DeliveryAbort extends Error {
  constructor(message: string, readonly interrupted = false) {
    super(message);
  }
}

/** Reads at most `maxBytes` of a response body and lets go of the rest. */
async function readPrefix(res: Response, maxBytes: number): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < maxBytes) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    // Stop the download of a long body; a short one was read to its end.
    if (size >= maxBytes) await reader.cancel().catch(() => {});
  }
  const bytes = Buffer.concat(chunks).subarray(0, maxBytes);
  return new TextDecoder().decode(bytes).trim();
}

/** `fetch failed` hides the reason in `cause`: "connect ECONNREFUSED 127.0.0.1:9", "getaddrinfo ENOTFOUND x". */
function describeNetworkError(err: unknown): string {
  let e: unknown = err;
  for (let depth = 0; depth < 4; depth++) {
    const cause = (e as { cause?: unknown } | null)?.cause;
    if (cause === undefined || cause === null) break;
    e = cause;
  }
  if (e instanceof AggregateError && e.errors.length > 0 && !e.message) e = e.errors[0];
  if (e instanceof Error) {
    const code = (e as { code?: string }).code;
    if (e.message) return e.message;
    if (code) return code;
  }
  return err instanceof Error ? err.message : String(err);
}
