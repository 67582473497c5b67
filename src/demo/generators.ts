import { SEVERITY_LEVELS } from '../events/severity.js';
import type { ZoneTree } from '../geo/zones.js';
import type { ZoneIndex } from '../geo/zone-index.js';

/**
 * Plausible events for the three example plugins, at real points inside Chennai's wards.
 * Used by the demo simulator and the benchmark; a random source is injected so runs can repeat.
 */
export type Random = () => number;

export interface Spot {
  zoneId: string;
  latitude: number;
  longitude: number;
}

/** Points that fall inside neighbourhood zones (rejection sampling inside each ward's bbox). */
export function sampleSpots(tree: ZoneTree, index: ZoneIndex, count: number, random: Random): Spot[] {
  const wards = tree.all().filter((z) => z.level === 'neighbourhood' && z.geometry !== null);
  const spots: Spot[] = [];
  for (let attempts = 0; spots.length < count && attempts < count * 50 && wards.length > 0; attempts++) {
    const ward = wards[Math.floor(random() * wards.length)]!;
    const box = index.bbox(ward.id);
    if (!box) continue;
    const longitude = round6(box[0] + random() * (box[2] - box[0]));
    const latitude = round6(box[1] + random() * (box[3] - box[1]));
    if (index.locate(longitude, latitude) === ward.id) spots.push({ zoneId: ward.id, latitude, longitude });
  }
  return spots;
}

const SEVERITIES = SEVERITY_LEVELS;
const PLATE_STATES = ['TN01', 'TN02', 'TN07', 'TN09', 'TN10', 'TN22'];

function pick<T>(items: readonly T[], random: Random): T {
  return items[Math.floor(random() * items.length)]!;
}
function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

/** Seed 001 §2.2: a traffic violation event in the example's exact shape. */
export function violationEvent(spot: Spot, random: Random, now = Date.now()): Record<string, unknown> {
  const speed = 40 + Math.floor(random() * 70);
  const severity = speed > 95 ? 'critical' : speed > 80 ? 'high' : speed > 65 ? 'medium' : 'low';
  return {
    timestamp: new Date(now).toISOString(),
    location: { latitude: spot.latitude, longitude: spot.longitude, address: `${spot.zoneId} main road` },
    violation_type: random() < 0.7 ? 'speeding' : pick(['red_light', 'wrong_way', 'no_helmet'], random),
    vehicle_data: {
      license_plate: `${pick(PLATE_STATES, random)}${String.fromCharCode(65 + Math.floor(random() * 26))}${String.fromCharCode(65 + Math.floor(random() * 26))}${1000 + Math.floor(random() * 9000)}`,
      vehicle_type: pick(['car', 'two_wheeler', 'auto_rickshaw', 'bus', 'truck'], random),
      speed_kmh: speed,
    },
    evidence: { image_urls: [`https://evidence.example/cam/${Math.floor(random() * 900)}.jpg`] },
    severity,
    confidence_score: Math.round((0.6 + random() * 0.4) * 1000) / 1000,
  };
}

export function floodEvent(spot: Spot, random: Random, now = Date.now()): Record<string, unknown> {
  // Mostly dry drains, now and then real waterlogging: the demo's decisions stay readable.
  const level = Math.round(random() ** 4 * 80 * 10) / 10;
  return {
    timestamp: new Date(now).toISOString(),
    location: { latitude: spot.latitude, longitude: spot.longitude },
    sensor_id: `flood-${spot.zoneId}`,
    water_level_cm: level,
    rainfall_mm_per_hour: Math.round(random() ** 3 * 60 * 10) / 10,
    severity: level > 50 ? 'critical' : level > 30 ? 'high' : level > 15 ? 'medium' : 'low',
    confidence_score: Math.round((0.7 + random() * 0.3) * 1000) / 1000,
  };
}

export function airQualityEvent(spot: Spot, random: Random, now = Date.now()): Record<string, unknown> {
  const aqi = Math.floor(30 + random() ** 3 * 300);
  return {
    timestamp: new Date(now).toISOString(),
    station_id: `aq-${spot.zoneId}`,
    location: { latitude: spot.latitude, longitude: spot.longitude },
    pm2_5: Math.round(random() * 250 * 10) / 10,
    pm10: Math.round(random() * 400 * 10) / 10,
    aqi,
    severity: SEVERITIES[Math.min(3, Math.floor(aqi / 90))]!,
    confidence_score: 0.95,
  };
}

const ROADS = ['Anna Salai', 'Poonamallee High Road', 'Old Mahabalipuram Road', 'Kamarajar Salai', 'Inner Ring Road', 'GST Road', 'Arcot Road', 'Velachery Main Road'];
const CONGESTION = ['free', 'moderate', 'heavy', 'gridlock'] as const;

/** The flood prediction model of the seed's correlation rule (seed 001 §3.3, source flood_prediction_model). */
export function floodPrediction(spot: Spot, random: Random, now = Date.now(), waterLevelCm?: number): Record<string, unknown> {
  // Left to chance the prediction stays under the seed rule's 30 cm; the simulator's flood scenes pass a level.
  const level = waterLevelCm ?? Math.round(random() * 28 * 10) / 10;
  return {
    timestamp: new Date(now).toISOString(),
    location: { latitude: spot.latitude, longitude: spot.longitude },
    water_level_cm: level,
    predicted_peak_cm: Math.round(level * (1 + random()) * 10) / 10,
    horizon_minutes: 30 + Math.floor(random() * 90),
    severity: level > 50 ? 'critical' : level > 30 ? 'high' : level > 15 ? 'medium' : 'low',
    confidence_score: Math.round((0.75 + random() * 0.25) * 1000) / 1000,
  };
}

/** Road traffic from the seed's `traffic_monitoring` source. */
export function trafficStatus(spot: Spot, random: Random, now = Date.now(), congestion?: (typeof CONGESTION)[number], road?: string): Record<string, unknown> {
  const level = congestion ?? CONGESTION[Math.min(3, Math.floor(random() * random() * 4.5))]!;
  const speed = { free: 45, moderate: 25, heavy: 12, gridlock: 3 }[level] + Math.round(random() * 8);
  return {
    timestamp: new Date(now).toISOString(),
    location: { latitude: spot.latitude, longitude: spot.longitude },
    road_name: road ?? pick(ROADS, random),
    congestion_level: level,
    average_speed_kmh: speed,
    severity: level === 'gridlock' ? 'high' : level === 'heavy' ? 'medium' : 'low',
    confidence_score: Math.round((0.8 + random() * 0.2) * 1000) / 1000,
  };
}

/** Emergency vehicles reporting their status (the state store's resource picture). */
export function resourceStatus(spot: Spot, resourceId: string, resourceType: string, status: string, now = Date.now()): Record<string, unknown> {
  return {
    timestamp: new Date(now).toISOString(),
    location: { latitude: spot.latitude, longitude: spot.longitude },
    resource_id: resourceId,
    resource_type: resourceType,
    status,
  };
}

/** A point about `metres` north-east of `spot` (for events that must be near each other). */
export function near(spot: Spot, metres: number, random: Random): Spot {
  const angle = random() * 2 * Math.PI;
  const dLat = (Math.cos(angle) * metres) / 111_195;
  const dLng = (Math.sin(angle) * metres) / (111_195 * Math.cos((spot.latitude * Math.PI) / 180));
  return { zoneId: spot.zoneId, latitude: round6(spot.latitude + dLat), longitude: round6(spot.longitude + dLng) };
}

export const DEMO_GENERATORS: Record<string, (spot: Spot, random: Random, now?: number) => Record<string, unknown>> = {
  'traffic-violation-detector-v2': violationEvent,
  'flood-level-monitor-v1': floodEvent,
  'air-quality-monitor-v1': airQualityEvent,
  flood_prediction_model: floodPrediction,
  traffic_monitoring: trafficStatus,
};

/** A small deterministic PRNG (mulberry32) so benchmarks and tests can replay the same events. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
