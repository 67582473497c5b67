/**
 * The columns every stored event has, read from a plugin's event whatever its schema:
 * the seed's names first (seed 001 §2.2 output_schema, §10.1 Event), common aliases after.
 * Compiled nothing: a handful of property reads per event.
 */
export interface Envelope {
  eventId: string | null;
  eventType: string | null;
  severity: string | null;
  confidence: number | null;
  /** Event time in ms since the epoch, or null when the event carries none (or an unparseable one). */
  timeMs: number | null;
  lat: number | null;
  lng: number | null;
  /** Zone named by the event itself (`location.zone_id` / `zone_id`), if any. */
  zoneHint: string | null;
}

type Obj = Record<string, unknown>;

/** ECMAScript's Date range (±8.64e15 ms); beyond it `toISOString` throws. */
const MAX_DATE_MS = 8.64e15;

export function readEnvelope(event: Obj): Envelope {
  const loc = (event.location ?? null) as Obj | null;
  let lat: unknown = null;
  let lng: unknown = null;
  let zoneHint: unknown = event.zone_id ?? null;
  if (loc !== null && typeof loc === 'object') {
    lat = loc.latitude ?? loc.lat ?? null;
    lng = loc.longitude ?? loc.lng ?? loc.lon ?? null;
    zoneHint = loc.zone_id ?? zoneHint;
  } else {
    lat = event.latitude ?? null;
    lng = event.longitude ?? null;
  }
  const ts = event.timestamp ?? event.timestamp_ms ?? null;
  let timeMs: number | null = null;
  if (typeof ts === 'string') {
    const parsed = Date.parse(ts);
    timeMs = Number.isNaN(parsed) ? null : parsed;
  } else if (typeof ts === 'number' && Math.abs(ts) <= MAX_DATE_MS) {
    timeMs = ts;
  }
  const id = event.event_id;
  const type = event.event_type ?? event.type;
  const severity = event.severity;
  const confidence = event.confidence_score ?? event.confidence;
  return {
    eventId: typeof id === 'string' && id.length > 0 ? id : null,
    eventType: typeof type === 'string' && type.length > 0 ? type : null,
    severity: typeof severity === 'string' ? severity.toLowerCase() : null,
    confidence: typeof confidence === 'number' && Number.isFinite(confidence) ? confidence : null,
    timeMs,
    lat: isLatitude(lat) ? lat : null,
    lng: isLongitude(lng) ? lng : null,
    zoneHint: typeof zoneHint === 'string' && zoneHint.length > 0 ? zoneHint : null,
  };
}

function isLatitude(v: unknown): v is number {
  return typeof v === 'number' && v >= -90 && v <= 90;
}
function isLongitude(v: unknown): v is number {
  return typeof v === 'number' && v >= -180 && v <= 180;
}
