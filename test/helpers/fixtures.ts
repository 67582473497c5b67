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

/** The seed's correlation rule (seed 001 §3.3) as shipped in examples/rules, with the seed's own comments. */
export function seedFloodRule(): string {
  return readFileSync(join(PROJECT_ROOT, 'examples/rules/flood-traffic-coordination.yaml'), 'utf8');
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

/**
 * The seed's speeding violation with every envelope field set (seed 001 §2.2, §10.1), in the JSON
 * shape a client posts; it survives a protobuf round trip unchanged. For codec and decoding tests.
 */
export function envelopeSpeedingEvent(): Record<string, any> {
  return {
    event_id: '3f1c2a4e-8b7d-4c6a-9e2f-1a2b3c4d5e6f',
    model_id: 'traffic-violation-detector-v2',
    timestamp: '2025-01-15T08:30:00.000Z',
    event_type: 'violation_event',
    location: { latitude: 13.0827, longitude: 80.2707, address: 'Anna Salai, Chennai' },
    violation_type: 'speeding',
    vehicle_data: { license_plate: 'TN01AB1234', vehicle_type: 'car', speed_kmh: 85 },
    evidence: {
      image_urls: ['https://evidence.example.org/cam-17/2025-01-15T08-30-00.jpg'],
      video_url: 'https://evidence.example.org/cam-17/2025-01-15T08-30-00.mp4',
    },
    severity: 'medium',
    confidence_score: 0.92,
    metadata: { camera_id: 'cam-17', speed_limit_kmh: '60' },
  };
}
