import { useEffect, useState } from 'react';

const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

export function formatTime(ms: number | string | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  return timeFormat.format(new Date(ms));
}

/**
 * "3 min ago", "in 12 s"; "just now" within 5 s either way: the node's and the browser's clocks
 * differ a little, and a ticking `now` lags the newest items by up to a tick.
 */
export function relativeTime(ms: number, now = Date.now()): string {
  if (Math.abs(ms - now) < 5000) return 'just now';
  const s = Math.round((ms - now) / 1000);
  const abs = Math.abs(s);
  const text = abs < 60 ? `${abs} s` : abs < 3600 ? `${Math.round(abs / 60)} min` : abs < 86400 ? `${Math.round(abs / 3600)} h` : `${Math.round(abs / 86400)} d`;
  return s < 0 ? `${text} ago` : `in ${text}`;
}

/** The current time, re-read every `everyMs`, so "2 min ago" and countdowns stay true. */
export function useNow(everyMs: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}
