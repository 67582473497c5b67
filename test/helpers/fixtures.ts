import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/node/paths.js';

/** The seed's registration example (seed 001 §2.2), exactly as shipped in examples/plugins. */
export function seedRegistration(): Record<string, any> {
  return JSON.parse(readFileSync(join(PROJECT_ROOT, 'examples/plugins/traffic-violation-detector-v2.json'), 'utf8'));
}

export function examplePlugin(file: string): Record<string, any> {
  return JSON.parse(readFileSync(join(PROJECT_ROOT, 'examples/plugins', file), 'utf8'));
}

export const CHENNAI_ZONES = join(PROJECT_ROOT, 'examples/cities/chennai/city.geojson');

/** A point inside Ward 119 (Teynampet zone) of Chennai. */
export const TEYNAMPET = { latitude: 13.046, longitude: 80.264 };

/** The seed's speeding event (seed 001 §2.2 output_schema): 85 km/h, high severity, 0.9 confidence. */
export function speedingEvent(overrides: Record<string, unknown> = {}): Record<string, any> {
  return {
    timestamp: '2026-11-22T08:30:00Z',
    location: { ...TEYNAMPET, address: 'Anna Salai near Teynampet signal' },
    violation_type: 'speeding',
    vehicle_data: { license_plate: 'TN09AB1234', vehicle_type: 'car', speed_kmh: 85 },
    evidence: { image_urls: ['https://evidence.example/cam/17/frame-0001.jpg'], video_url: 'https://evidence.example/cam/17/clip.mp4' },
    severity: 'high',
    confidence_score: 0.9,
    ...overrides,
  };
}
