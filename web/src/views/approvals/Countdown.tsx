import { useNow } from '../../components/time';

/** Under this the countdown turns red (and says "soon"): time to answer before the fail-safe does. */
const URGENT_MS = 2 * 60_000;

/** 754 s → "12:34"; 3 h → "3:00:00". */
export function clock(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mm = String(m).padStart(h > 0 ? 2 : 1, '0');
  return `${h > 0 ? `${h}:` : ''}${mm}:${String(s).padStart(2, '0')}`;
}

/**
 * The time left before the fail-safe runs, ticking each second. `deadlineMs` is on this
 * browser's clock (the fetch time plus the node's seconds_to_deadline), so a skewed clock here
 * does not move the countdown. role="timer" is not announced on every tick; its label is read
 * when a screen reader reaches it.
 */
export function Countdown({ deadlineMs }: { deadlineMs: number | null }) {
  const now = useNow(1000);
  if (deadlineMs === null) return <span className="approvals-timer">no fail-safe</span>;
  const left = deadlineMs - now;
  if (left <= 0) {
    return (
      <span role="timer" aria-label="Fail-safe due" className="approvals-timer approvals-timer-urgent">
        fail-safe due
      </span>
    );
  }
  const text = clock(left);
  const urgent = left < URGENT_MS;
  return (
    <span role="timer" aria-label={`Fail-safe in ${text}`} className={`approvals-timer${urgent ? ' approvals-timer-urgent' : ''}`}>
      <span aria-hidden="true">
        Fail-safe in {text}
        {urgent ? ' — soon' : ''}
      </span>
    </span>
  );
}
