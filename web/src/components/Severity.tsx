import { SEVERITIES, severityRank } from '../api/types';

/** Severity colours used by every view and the map (contrast ≥ 4.5:1 on the dark surface). */
export const SEVERITY_COLOURS: Record<string, string> = {
  critical: '#ff5c5c',
  high: '#ff9f43',
  medium: '#ffd84d',
  low: '#5cc8ff',
  none: '#a0aec0',
};

/** Index = severityRank: 0 for none or unknown, then low … critical. */
const CANONICAL = ['none', ...SEVERITIES] as const;

/** 'severe' → 'high', 'Extreme' → 'critical': the word the colours, badges and the legend use. */
export function canonicalSeverity(severity: string | null | undefined): (typeof CANONICAL)[number] {
  return CANONICAL[severityRank(severity)] ?? 'none';
}

export function severityColour(severity: string | null | undefined): string {
  return SEVERITY_COLOURS[canonicalSeverity(severity)]!;
}

/** A severity as a coloured badge; the word is always shown, colour is never the only cue. */
export function SeverityBadge({ severity }: { severity: string | null | undefined }) {
  const s = canonicalSeverity(severity);
  return (
    <span className="badge severity" style={{ borderColor: severityColour(s), color: severityColour(s) }}>
      {s}
    </span>
  );
}
