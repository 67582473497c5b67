/** Severity colours used by every view and the map (contrast ≥ 4.5:1 on the dark surface). */
export const SEVERITY_COLOURS: Record<string, string> = {
  critical: '#ff5c5c',
  high: '#ff9f43',
  medium: '#ffd84d',
  low: '#5cc8ff',
  none: '#a0aec0',
};

export function severityColour(severity: string | null | undefined): string {
  return SEVERITY_COLOURS[severity ?? 'none'] ?? SEVERITY_COLOURS.none!;
}

/** A severity as a coloured badge; the word is always shown, colour is never the only cue. */
export function SeverityBadge({ severity }: { severity: string | null | undefined }) {
  const s = severity ?? 'none';
  return (
    <span className="badge severity" style={{ borderColor: severityColour(s), color: severityColour(s) }}>
      {s}
    </span>
  );
}
