/**
 * Delay before retry `attempt + 1` after attempt `attempt` failed: exponential from `baseDelayMs`,
 * capped at `maxDelayMs`, with "equal jitter" (half fixed, half random) so that many actions
 * failing together against one actuator do not come back in lockstep, yet never retry at once.
 *
 * A receiver's `Retry-After` wins over the computed delay, still capped at `maxDelayMs`
 * (RFC 9110 §10.2.3): a receiver cannot park an action for an hour.
 *
 * @example
 *   backoffMs(1, { baseDelayMs: 1000, maxDelayMs: 60_000 }) // 500..1000
 *   backoffMs(3, { baseDelayMs: 1000, maxDelayMs: 60_000 }) // 2000..4000
 */
export function backoffMs(
  attempt: number,
  options: { baseDelayMs: number; maxDelayMs: number },
  retryAfterMs: number | null = null,
  random: () => number = Math.random,
): number {
  if (retryAfterMs !== null) return Math.min(Math.max(0, retryAfterMs), options.maxDelayMs);
  const exp = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** Math.min(30, Math.max(0, attempt - 1)));
  return Math.round(exp / 2 + random() * (exp / 2));
}

/** `Retry-After` as delay-seconds or an HTTP-date (RFC 9110 §10.2.3), in ms from `nowMs`; null when absent or unreadable. */
export function parseRetryAfter(value: string | null, nowMs: number): number | null {
  if (value === null) return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? null : Math.max(0, at - nowMs);
}
