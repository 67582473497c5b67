/**
 * Turning the events of a rule's match into a RuleMatch (src/decisions/types.ts): who played
 * which role, the conditions and the values they read, the severity, and one sentence for people.
 */
import type { EventSummary, RuleMatch } from '../../decisions/types.js';
import type { CorrelationRuleSpec, RoleSpec } from '../../rules/correlation-types.js';
import { SEVERITY_LEVELS } from '../../events/severity.js';
import { distanceM } from './geo.js';
import type { Entry } from './window.js';

export interface Part {
  entry: Entry;
  role: RoleSpec;
}

/** A match; `parts[0]` is the trigger (the first event), the one the decision refers to. */
export function buildMatch(spec: CorrelationRuleSpec, parts: readonly Part[], dedupKey: string, explanation: string, matchedAtMs: number): RuleMatch {
  const first = parts[0]!.entry.ev;
  const events: Array<EventSummary & { role: string }> = [];
  const conditions: RuleMatch['conditions'] = [];
  let rank = -1;
  for (const { entry, role } of parts) {
    const e = entry.ev;
    events.push({
      eventId: e.eventId,
      pluginId: e.pluginId,
      pluginVersion: e.pluginVersion,
      eventType: e.eventType,
      severity: e.severity,
      confidence: e.confidence,
      tsMs: e.tsMs,
      receivedAtMs: e.receivedAtMs,
      zoneId: e.zoneId,
      lat: e.lat,
      lng: e.lng,
      role: role.name,
    });
    if (role.condition !== null) conditions.push({ role: role.name, source: role.condition, values: { ...entry.values } });
    if (e.severity !== null) rank = Math.max(rank, (SEVERITY_LEVELS as readonly string[]).indexOf(e.severity));
  }
  return {
    kind: spec.kind,
    ruleId: spec.name,
    ruleName: spec.name,
    rulePriority: spec.priority,
    dedupKey,
    triggerEventId: first.eventId,
    events,
    conditions,
    severity: spec.severity ?? (rank < 0 ? null : SEVERITY_LEVELS[rank]!),
    zoneId: first.zoneId,
    lat: first.lat,
    lng: first.lng,
    actions: spec.actions,
    escalationRules: [],
    explanation,
    matchedAtMs,
  };
}

/** "flood_warning from flood_prediction_model (water_level_cm=42)" */
export function describeEvent(entry: Entry): string {
  const e = entry.ev;
  const values = formatValues(entry.values);
  return `${e.eventType} from ${e.pluginId}${values === '' ? '' : ` (${values})`}`;
}

/** What a role waits for: "traffic_status from traffic_monitoring where speed < 10". */
export function describeRole(role: RoleSpec): string {
  const what = role.eventType ?? 'an event';
  const from = role.source === null ? '' : ` from ${role.source}`;
  const where = role.condition === null ? '' : ` where ${role.condition}`;
  return `${what}${from}${where}`;
}

function formatValues(values: Record<string, unknown>): string {
  let out = '';
  for (const k in values) {
    if (!Object.hasOwn(values, k)) continue;
    const v = values[k];
    const text = v === undefined ? 'missing' : v === null || typeof v !== 'object' ? String(v) : JSON.stringify(v);
    out += `${out === '' ? '' : ', '}${k}=${text.length > 60 ? `${text.slice(0, 57)}...` : text}`;
  }
  return out;
}

/** "180 m away" / "in the same zone" / '' when the two events cannot be placed. */
export function describePlace(a: Entry, b: Entry): string {
  const x = a.ev;
  const y = b.ev;
  if (x.lat !== null && x.lng !== null && y.lat !== null && y.lng !== null) return `${formatDistance(distanceM(x.lat, x.lng, y.lat, y.lng))} away`;
  if (x.zoneId !== null && x.zoneId === y.zoneId) return `in the same zone`;
  return '';
}

export function formatDistance(m: number): string {
  return m < 1000 ? `${Math.round(m)} m` : `${trim((m / 1000).toFixed(1))} km`;
}

/** "2 min", "45 s", "1.5 h", "0 s". */
export function formatDuration(ms: number): string {
  const a = Math.abs(ms);
  if (a < 1000) return `${Math.round(a)} ms`;
  if (a < 60_000) return `${Math.round(a / 1000)} s`;
  if (a < 3_600_000) return `${trim((a / 60_000).toFixed(1))} min`;
  return `${trim((a / 3_600_000).toFixed(1))} h`;
}

function trim(fixed: string): string {
  return fixed.endsWith('.0') ? fixed.slice(0, -2) : fixed;
}

/**
 * A stable key for a set of events: the sorted ids joined, or — when that would be long (a count
 * of hundreds) — the count, first and last id and a 53-bit hash of them all.
 */
export function eventSetKey(ids: string[]): string {
  ids.sort();
  const joined = ids.join(',');
  if (joined.length <= 400) return joined;
  return `${ids.length}:${ids[0]}..${ids[ids.length - 1]}:${hash53(joined).toString(36)}`;
}

/** cyrb53-style string hash: two 32-bit multiply-xorshift lanes combined into 53 bits. */
function hash53(text: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}
