import type { ActionView, DecisionView, EventView } from '../../api/types';

/**
 * History's filters live in the address (`#/history?tab=decisions&severity=high&from=…`), so a
 * reload or a shared link shows the same list. Each tab sends only the filters its route
 * supports (src/brain/query-routes.ts, src/decisions/routes.ts); the form shows only those.
 */
export type Tab = 'events' | 'decisions' | 'actions';
export const TABS: ReadonlyArray<{ id: Tab; label: string }> = [
  { id: 'events', label: 'Events' },
  { id: 'decisions', label: 'Decisions' },
  { id: 'actions', label: 'Actions' },
];

export interface Filters {
  /** ISO 8601; '' = no bound. */
  from: string;
  to: string;
  zone: string;
  /** Event type (events), rule name or id (decisions), action type (actions). */
  type: string;
  severity: string;
  /** Approval status (decisions) or action status (actions). */
  status: string;
  /** Decisions this event took part in. */
  event: string;
}
export type FilterName = keyof Filters;

/** Every filter cleared (`from` empty: any time). */
export const NO_FILTERS: Filters = { from: '', to: '', zone: '', type: '', severity: '', status: '', event: '' };

export const SUPPORTED: Record<Tab, ReadonlySet<FilterName>> = {
  events: new Set(['from', 'to', 'zone', 'type', 'severity']),
  decisions: new Set(['from', 'to', 'zone', 'type', 'severity', 'status', 'event']),
  // GET /api/v1/actions filters by status, type and target only, newest first, without paging.
  actions: new Set(['type', 'status']),
};

export const DAY_MS = 86_400_000;

export function readTab(params: URLSearchParams): Tab {
  const t = params.get('tab');
  return t === 'decisions' || t === 'actions' ? t : 'events';
}

/** `from` absent means the default (the last 24 h); `from=` (empty) means no lower bound. */
export function readFilters(params: URLSearchParams, defaultFrom: string): Filters {
  const get = (k: string) => params.get(k) ?? '';
  return { from: params.has('from') ? get('from') : defaultFrom, to: get('to'), zone: get('zone'), type: get('type'), severity: get('severity'), status: get('status'), event: get('event') };
}

/** The hash params of a tab with these filters (the ones it does not support are left out). */
export function hashParams(tab: Tab, f: Filters, extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = { tab };
  for (const k of Object.keys(f) as FilterName[]) {
    // `from` is kept even when empty: empty means "any time", absent means the default.
    if (SUPPORTED[tab].has(k) && (f[k] !== '' || k === 'from')) out[k] = f[k];
  }
  return { ...out, ...extra };
}

/** The list route's query parameters for these filters. */
export function apiQuery(tab: Tab, f: Filters): Record<string, string | undefined> {
  const v = (s: string) => s || undefined;
  if (tab === 'events') return { from: v(f.from), to: v(f.to), zone: v(f.zone), type: v(f.type), severity: v(f.severity) };
  if (tab === 'decisions') return { from: v(f.from), to: v(f.to), zone: v(f.zone), rule: v(f.type), severity: v(f.severity), approval_status: v(f.status), event_id: v(f.event) };
  return { type: v(f.type), status: v(f.status) };
}

/** "from Nov 22, 2026, 12:59 AM · severity critical": the filters in force, for the collapsed filter box. */
export function filterSummary(tab: Tab, f: Filters, format: (iso: string) => string): string {
  const parts: string[] = [];
  const has = (k: FilterName) => SUPPORTED[tab].has(k) && f[k] !== '';
  if (has('from')) parts.push(`from ${format(f.from)}`);
  if (has('to')) parts.push(`to ${format(f.to)}`);
  for (const k of ['zone', 'type', 'severity', 'status', 'event'] as const) if (has(k)) parts.push(`${k} ${f[k]}`);
  return parts.length > 0 ? parts.join(' · ') : 'none';
}

/** ISO → the value of a datetime-local input, in this browser's time zone. */
export function toLocalInput(iso: string): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

/** A datetime-local value (local time) → ISO; '' stays ''. */
export function fromLocalInput(value: string): string {
  if (!value) return '';
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

/**
 * Whether a live message belongs in the list as filtered: the same tests the route makes, so
 * "N new" counts only what a refetch would show. `inZone` answers for the zone filter's subtree.
 */
export interface LiveMatch {
  inZone(zoneId: string | null): boolean;
}

function inTime(ms: number, f: Filters): boolean {
  return (!f.from || ms >= Date.parse(f.from)) && (!f.to || ms < Date.parse(f.to));
}
function inList(value: string | null, list: string, norm: (s: string) => string): boolean {
  if (!list) return true;
  return value !== null && list.split(',').map((s) => norm(s.trim())).includes(norm(value));
}
const lower = (s: string) => s.toLowerCase();
const upper = (s: string) => s.toUpperCase();

export function decisionMatches(d: DecisionView, f: Filters, m: LiveMatch): boolean {
  return (
    inTime(d.decision_time_ms, f) &&
    (!f.zone || m.inZone(d.zone_id)) &&
    (!f.type || d.rule.id === f.type || d.rule.name === f.type) &&
    inList(d.severity, f.severity, lower) &&
    inList(d.approval_status, f.status, upper) &&
    (!f.event || d.event_id === f.event || d.event_ids.includes(f.event))
  );
}

export function eventMatches(e: EventView, f: Filters, m: LiveMatch): boolean {
  return inTime(e.ts_ms, f) && (!f.zone || m.inZone(e.zone_id)) && (!f.type || e.event_type === f.type) && inList(e.severity, f.severity, lower);
}

export function actionMatches(a: ActionView, f: Filters): boolean {
  return (!f.type || a.type === f.type) && inList(a.status, f.status, upper);
}
