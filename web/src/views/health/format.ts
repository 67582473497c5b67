/** Number formats of the health view: rates, durations, counts and byte sizes in words people read. */

const whole = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const short = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const fine = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });

/** 1234.5 → "1,235"; 2.25 → "2.3"; 0.333 → "0.33". */
export function formatRate(perSecond: number): string {
  return (perSecond >= 100 ? whole : perSecond >= 10 ? short : fine).format(perSecond);
}

export function formatCount(n: number): string {
  return whole.format(n);
}

/** Seconds as "0.8 ms", "12 ms", "1.2 s". */
export function formatSeconds(seconds: number): string {
  const ms = seconds * 1000;
  if (ms >= 1000) return `${fine.format(seconds)} s`;
  return `${(ms >= 10 ? whole : short).format(ms)} ms`;
}

export function formatBytes(bytes: number): string {
  const mib = bytes / (1024 * 1024);
  return mib >= 1024 ? `${short.format(mib / 1024)} GiB` : `${whole.format(mib)} MiB`;
}

/** An error code as the node writes it (CITY_ERR_EVENT_INVALID) without the common prefix. */
export function reasonName(code: string): string {
  return code.replace(/^CITY_ERR_/, '') || 'unknown';
}

/** Series colours after the theme's own; series also differ by dash. */
export const PALETTE = ['var(--danger)', 'var(--warn)', 'var(--accent)', '#c3a6ff', 'var(--ok)', '#ff9f43'];
export const DASHES: Array<number[] | undefined> = [undefined, [8, 4], [2, 3], [12, 4, 2, 4]];
