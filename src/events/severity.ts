/**
 * The one severity scale (seed 001 §2.2 output_schema, §10.1 Severity): low < medium < high <
 * critical. Rule conditions compare by it, the decision engine orders matches by it, and the
 * state store and live stream filter by it.
 */
export const SEVERITY_LEVELS = ['low', 'medium', 'high', 'critical'] as const;
export type SeverityLevel = (typeof SEVERITY_LEVELS)[number];

/** CAP 1.2's Minor/Moderate/Severe/Extreme count as synonyms, for alerts that arrive in CAP terms. */
const SEVERITY_RANK = new Map<string, number>([
  ['low', 1], ['minor', 1], ['medium', 2], ['moderate', 2], ['high', 3], ['severe', 3], ['critical', 4], ['extreme', 4],
]);

/** Every word the scale knows, CAP synonyms included (for SQL that ranks severities, src/approvals/queue.ts). */
export const SEVERITY_WORDS: readonly string[] = [...SEVERITY_RANK.keys()];

/**
 * 1–4 along the scale; 0 for no or an unknown severity, so a `min_severity` filter leaves those
 * out and ordering puts them last.
 *
 * @example
 *   severityRank('HIGH') >= severityRank('medium'); // → true
 */
export function severityRank(severity: string | null | undefined): number {
  if (!severity) return 0;
  return SEVERITY_RANK.get(severity) ?? SEVERITY_RANK.get(severity.toLowerCase()) ?? 0;
}
