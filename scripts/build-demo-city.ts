/**
 * Derives the demo city's zone file, examples/cities/chennai/city.geojson, from the unchanged
 * datameet files in examples/cities/chennai/source/ (CC BY-SA 2.5 India).
 *
 *   npx tsx scripts/build-demo-city.ts
 *
 * Tree: in (India) → in-tn (Tamil Nadu) → chennai (CMA polygon) → 16 zones as districts
 * (chennai-z01 … chennai-z15, chennai-zstm) → 201 wards as neighbourhoods (chennai-w000 …
 * chennai-w200, numbered by Ward_No).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Feature, FeatureCollection, Position, Ring, ZoneGeometry } from '../src/geo/geojson.js';
import { parseZoneFile } from '../src/geo/zone-file.js';
import { ZoneTree } from '../src/geo/zones.js';

const dir = fileURLToPath(new URL('../examples/cities/chennai/', import.meta.url));
const OUTPUT = `${dir}city.geojson`;

type Source = FeatureCollection<ZoneGeometry, Record<string, unknown>>;
const read = (name: string): Source => JSON.parse(readFileSync(`${dir}source/${name}`, 'utf8')) as Source;

const ROMAN: Record<string, number> = { I: 1, V: 5, X: 10 };
function romanToNumber(text: string): number {
  let total = 0;
  for (let i = 0; i < text.length; i++) {
    const value = ROMAN[text[i]!];
    const next = ROMAN[text[i + 1] ?? ''] ?? 0;
    if (value === undefined) throw new Error(`"${text}" is not a roman numeral`);
    total += value < next ? -value : value;
  }
  return total;
}

/** Zone_No "-" is St. Thomas Mount (a cantonment, not a corporation zone), so it gets a name. */
function districtId(zoneNo: unknown): string {
  if (zoneNo === '-') return 'chennai-zstm';
  return `chennai-z${String(romanToNumber(String(zoneNo))).padStart(2, '0')}`;
}

/** "THIRU-VI-KA-NAGAR" → "Thiru-Vi-Ka-Nagar"; already mixed-case names are kept. */
function titleCase(name: string): string {
  if (name !== name.toUpperCase()) return name;
  return name.toLowerCase().replace(/(^|[\s\-.])([a-z])/g, (_, sep: string, c: string) => sep + c.toUpperCase());
}

/** 6 decimals is ~0.1 m: well below the source's digitising error, and the file halves. */
function roundRing(ring: Ring): Ring {
  const out: Position[] = [];
  for (const [lng, lat] of ring) {
    const p = [Math.round(lng! * 1e6) / 1e6, Math.round(lat! * 1e6) / 1e6];
    const prev = out[out.length - 1];
    if (!prev || prev[0] !== p[0] || prev[1] !== p[1]) out.push(p);
  }
  if (out.length < 4) throw new Error('a ring collapsed when rounded to 6 decimals');
  return out;
}

function roundGeometry(g: ZoneGeometry): ZoneGeometry {
  return g.type === 'Polygon'
    ? { type: 'Polygon', coordinates: g.coordinates.map(roundRing) }
    : { type: 'MultiPolygon', coordinates: g.coordinates.map((p) => p.map(roundRing)) };
}

function zone(id: string, name: string, level: string, parent: string | null, geometry: ZoneGeometry | null, extra = {}): Feature {
  return {
    type: 'Feature',
    properties: { zone_id: id, name, level, parent_id: parent, ...extra }, // first, so a line reads as what zone it is
    geometry: geometry && roundGeometry(geometry),
  };
}

const wards = read('Wards.geojson').features;
const zones = read('Zones.geojson').features;
const cma = read('CMA.geojson').features;
if (cma.length !== 1) throw new Error(`CMA.geojson should hold 1 feature, found ${cma.length}`);

// Zones.geojson names zones "Zone 9"; the wards carry the real name ("TEYNAMPET").
const zoneNames = new Map<string, string>();
for (const { properties: p } of wards) {
  const id = districtId(p.Zone_No);
  const name = titleCase(String(p.Zone_Name));
  if (zoneNames.has(id) && zoneNames.get(id) !== name) throw new Error(`${id} is named both ${zoneNames.get(id)} and ${name}`);
  zoneNames.set(id, name);
}

const districts = zones
  .map((f) => ({ f, id: districtId(f.properties.Zone_No) }))
  .sort((a, b) => a.id.localeCompare(b.id));
const missing = [...zoneNames.keys()].filter((id) => !districts.some((d) => d.id === id));
if (missing.length || districts.length !== zoneNames.size) throw new Error(`zones and wards disagree: ${missing.join(', ')}`);

const features: Feature[] = [
  zone('in', 'India', 'nation', null, null),
  zone('in-tn', 'Tamil Nadu', 'state', 'in', null),
  zone('chennai', 'Chennai Metropolitan Area', 'city', 'in-tn', cma[0]!.geometry),
  ...districts.map(({ f, id }) =>
    zone(id, zoneNames.get(id)!, 'district', 'chennai', f.geometry, { Zone_No: f.properties.Zone_No, 'Zone Name': f.properties['Zone Name'] }),
  ),
  ...[...wards]
    .sort((a, b) => Number(a.properties.Ward_No) - Number(b.properties.Ward_No))
    .map(({ properties: p, geometry }) => {
      const n = Number(p.Ward_No);
      // Ward_No 0 is not a corporation ward but the whole St. Thomas Mount cantonment.
      const name = n === 0 ? titleCase(String(p.Zone_Name)) : `Ward ${n}`;
      return zone(`chennai-w${String(n).padStart(3, '0')}`, name, 'neighbourhood', districtId(p.Zone_No), geometry, {
        Ward_No: n,
        Zone_No: p.Zone_No,
        Zone_Name: p.Zone_Name,
      });
    }),
];

const header = {
  type: 'FeatureCollection',
  name: 'Chennai demo city',
  attribution: 'Derived from datameet/Municipal_Spatial_Data (Chennai), data by the Transparent Chennai team',
  license: 'CC BY-SA 2.5 India',
};
// One feature per line: small, and a change to one zone is a one-line diff.
const text = `${JSON.stringify(header).slice(0, -1)},"features":[\n${features.map((f) => JSON.stringify(f)).join(',\n')}\n]}\n`;
const tree = new ZoneTree(parseZoneFile(text, OUTPUT));
writeFileSync(OUTPUT, text);
const count = (level: string) => tree.all().filter((z) => z.level === level).length;
console.log(
  `wrote ${OUTPUT}: ${tree.size} zones (${['nation', 'state', 'city', 'district', 'neighbourhood'].map((l) => `${count(l)} ${l}`).join(', ')}), ${text.length} bytes`,
);
