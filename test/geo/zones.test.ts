import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CityError } from '../../src/errors.js';
import { loadZoneFile, parseZoneFile } from '../../src/geo/zone-file.js';
import { ZONE_LEVELS, ZoneTree, type Zone, type ZoneLevel } from '../../src/geo/zones.js';

const CHENNAI = new URL('../../examples/cities/chennai/city.geojson', import.meta.url).pathname;

const SQUARE = { type: 'Polygon' as const, coordinates: [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]] };

function zone(id: string, level: ZoneLevel, parentId: string | null = null): Zone {
  return { id, name: id.toUpperCase(), level, parentId, geometry: null, properties: {} };
}

const SAMPLE = [
  zone('in', 'nation'),
  zone('in-tn', 'state', 'in'),
  zone('chennai', 'city', 'in-tn'),
  zone('z1', 'district', 'chennai'),
  zone('w1', 'neighbourhood', 'z1'),
  zone('w2', 'neighbourhood', 'z1'),
  zone('z2', 'district', 'chennai'),
];

/** Asserts that `fn` throws the given CityError code with a message matching `message`. */
function throwsCity(fn: () => unknown, code: string, message: RegExp | string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof CityError, `expected a CityError, got ${String(err)}`);
    assert.equal(err.code, code);
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

function collection(features: unknown[]): string {
  return JSON.stringify({ type: 'FeatureCollection', features });
}

function feature(properties: Record<string, unknown>, geometry: unknown = null): unknown {
  return { type: 'Feature', properties, geometry };
}

describe('ZoneTree', () => {
  const tree = new ZoneTree(SAMPLE);

  it('orders levels from neighbourhood up to nation', () => {
    assert.deepEqual([...ZONE_LEVELS], ['neighbourhood', 'district', 'city', 'state', 'nation']);
  });

  it('answers navigation questions', () => {
    assert.equal(tree.size, 7);
    assert.equal(tree.get('w1').name, 'W1');
    assert.equal(tree.has('w1'), true);
    assert.equal(tree.has('w9'), false);
    assert.deepEqual(tree.children('z1').map((z) => z.id), ['w1', 'w2']);
    assert.deepEqual(tree.children('w1'), []);
    assert.deepEqual(tree.ancestors('w2').map((z) => z.id), ['z1', 'chennai', 'in-tn', 'in']);
    assert.deepEqual(tree.ancestors('in'), []);
    assert.deepEqual(tree.subtreeIds('chennai'), new Set(['chennai', 'z1', 'w1', 'w2', 'z2']));
    assert.deepEqual(tree.subtreeIds('w1'), new Set(['w1']));
    assert.deepEqual(tree.roots().map((z) => z.id), ['in']);
    assert.deepEqual(tree.all().map((z) => z.id), SAMPLE.map((z) => z.id));
  });

  it('isWithin counts a zone as within itself and not within its children or siblings', () => {
    assert.equal(tree.isWithin('w1', 'in'), true);
    assert.equal(tree.isWithin('w1', 'w1'), true);
    assert.equal(tree.isWithin('z1', 'w1'), false);
    assert.equal(tree.isWithin('w1', 'z2'), false);
  });

  it('accepts parents listed after their children, and several roots', () => {
    const t = new ZoneTree([zone('w', 'neighbourhood', 'd'), zone('d', 'district'), zone('other', 'city')]);
    assert.deepEqual(t.roots().map((z) => z.id), ['d', 'other']);
    assert.deepEqual(t.ancestors('w').map((z) => z.id), ['d']);
  });

  it('allows a level to be skipped (a neighbourhood straight under a city)', () => {
    const t = new ZoneTree([zone('c', 'city'), zone('n', 'neighbourhood', 'c')]);
    assert.deepEqual(t.children('c').map((z) => z.id), ['n']);
  });

  it('throws ZONE_NOT_FOUND for unknown ids', () => {
    for (const call of [() => tree.get('x'), () => tree.children('x'), () => tree.ancestors('x'), () => tree.subtreeIds('x'), () => tree.isWithin('w1', 'x')]) {
      throwsCity(call, 'CITY_ERR_ZONE_NOT_FOUND', 'zone x does not exist');
    }
  });

  it('rejects a duplicate id', () => {
    throwsCity(
      () => new ZoneTree([zone('a', 'city'), zone('b', 'city'), zone('a', 'district', 'b')]),
      'CITY_ERR_ZONE_FILE_INVALID',
      'zone file is invalid: zone 2 (id "a"): id "a" is also the id of zone 0',
    );
  });

  it('rejects an unknown parent', () => {
    throwsCity(
      () => new ZoneTree([zone('a', 'city'), zone('b', 'district', 'nowhere')]),
      'CITY_ERR_ZONE_FILE_INVALID',
      'zone file is invalid: zone 1 (id "b"): parentId "nowhere" is not the id of any zone',
    );
  });

  it('rejects a child whose level is not below its parent', () => {
    throwsCity(
      () => new ZoneTree([zone('a', 'district'), zone('b', 'district', 'a')]),
      'CITY_ERR_ZONE_FILE_INVALID',
      /zone 1 \(id "b"\): level "district" must be below the level "district" of its parent "a" \(neighbourhood < district < city < state < nation\)$/,
    );
    throwsCity(() => new ZoneTree([zone('a', 'district'), zone('b', 'city', 'a')]), 'CITY_ERR_ZONE_FILE_INVALID', /level "city" must be below the level "district"/);
  });

  it('rejects a zone that is its own parent', () => {
    throwsCity(() => new ZoneTree([zone('a', 'city', 'a')]), 'CITY_ERR_ZONE_FILE_INVALID', /zone 0 \(id "a"\): parentId names the zone itself/);
  });

  it('rejects ids that cannot go into an MQTT topic', () => {
    for (const id of ['Chennai', 'a/b', 'a+', '#', '', '-a', 'a b', 'x'.repeat(65)]) {
      throwsCity(() => new ZoneTree([zone(id, 'city')]), 'CITY_ERR_ZONE_FILE_INVALID', /id .* must be 1 to 64 characters of a-z, 0-9, "_" or "-", starting with a letter or digit/);
    }
    assert.equal(new ZoneTree([zone('x'.repeat(64), 'city'), zone('0_a-b', 'city')]).size, 2);
  });

  it('rejects an unknown level', () => {
    throwsCity(() => new ZoneTree([zone('a', 'ward' as ZoneLevel)]), 'CITY_ERR_ZONE_FILE_INVALID', /zone 0 \(id "a"\): level must be one of neighbourhood, district, city, state, nation/);
  });

  it('writes the zone file format, filtered by level, that parseZoneFile reads back', () => {
    const zones = [
      { ...zone('c', 'city'), geometry: SQUARE, properties: { population: 7 } },
      zone('d', 'district', 'c'),
    ];
    const fc = new ZoneTree(zones).toFeatureCollection();
    assert.deepEqual(fc.features[0]!.properties, { zone_id: 'c', name: 'C', level: 'city', parent_id: null, population: 7 });
    assert.deepEqual(parseZoneFile(JSON.stringify(fc)), zones);
    const districts = new ZoneTree(zones).toFeatureCollection({ level: 'district' });
    assert.deepEqual(districts.features.map((f) => f.properties.zone_id), ['d']);
  });
});

describe('parseZoneFile', () => {
  it('reads zones, keeping other properties and dropping the reserved ones from them', () => {
    const zones = parseZoneFile(
      collection([
        feature({ zone_id: 'c', name: 'City', level: 'city', Ward_No: 3 }, SQUARE),
        feature({ zone_id: 'd', name: 'District', level: 'district', parent_id: 'c' }),
      ]),
    );
    assert.deepEqual(zones, [
      { id: 'c', name: 'City', level: 'city', parentId: null, geometry: SQUARE, properties: { Ward_No: 3 } },
      { id: 'd', name: 'District', level: 'district', parentId: 'c', geometry: null, properties: {} },
    ]);
  });

  it('reports invalid JSON with its position, line and column', () => {
    throwsCity(() => parseZoneFile('{\n  "type": "FeatureCollection",\n  oops\n}'), 'CITY_ERR_ZONE_FILE_INVALID', /it is not valid JSON: .*position 35.*line 3, column 3/);
  });

  it('reports a top level that is not a FeatureCollection', () => {
    throwsCity(() => parseZoneFile('[]'), 'CITY_ERR_ZONE_FILE_INVALID', /the top level must be a GeoJSON FeatureCollection/);
    throwsCity(() => parseZoneFile('{"type":"FeatureCollection"}'), 'CITY_ERR_ZONE_FILE_INVALID', /the top level must be a GeoJSON FeatureCollection/);
  });

  it('names the feature and property that is wrong', () => {
    const cases: [unknown, string | RegExp][] = [
      ['x', 'feature 1 must be an object with "type": "Feature"'],
      [{ type: 'Feature', geometry: null }, 'feature 1: "properties" must be an object holding zone_id, name, level and parent_id'],
      [feature({ name: 'N', level: 'city' }), 'feature 1: property "zone_id" must be a string'],
      [feature({ zone_id: 'b', name: ' ', level: 'city' }), 'feature 1 (zone_id "b"): property "name" must be a non-empty string'],
      [feature({ zone_id: 'chennai-w119', name: 'N', level: 'ward' }), 'feature 1 (zone_id "chennai-w119"): property "level" must be one of neighbourhood, district, city, state, nation'],
      [feature({ zone_id: 'b', name: 'N', level: 'city', parent_id: 5 }), 'feature 1 (zone_id "b"): property "parent_id" must be a zone_id string, or null for a root'],
      [feature({ zone_id: 'b', name: 'N', level: 'city' }, { type: 'Point', coordinates: [0, 0] }), 'feature 1 (zone_id "b"): geometry must be a Polygon, a MultiPolygon or null'],
      [feature({ zone_id: 'b', name: 'N', level: 'city' }, { type: 'Polygon', coordinates: [[[0, 0], [1, 0], [0, 0]]] }), 'feature 1 (zone_id "b"): geometry.coordinates[0] must be a ring of at least 4 positions'],
      [feature({ zone_id: 'b', name: 'N', level: 'city' }, { type: 'Polygon', coordinates: [[[0, 0], [1, 0], [1, 1], [0, 1]]] }), 'feature 1 (zone_id "b"): geometry.coordinates[0] is not closed: its first and last positions differ'],
      [feature({ zone_id: 'b', name: 'N', level: 'city' }, { type: 'MultiPolygon', coordinates: [[[[0, 0], [1, 0], [1, 91], [0, 0]]]] }), 'feature 1 (zone_id "b"): geometry.coordinates[0][0][2] latitude must be a number from -90 to 90'],
      [feature({ zone_id: 'b', name: 'N', level: 'city' }, { type: 'Polygon', coordinates: [[[0, 0], ['1', 0], [1, 1], [0, 0]]] }), 'feature 1 (zone_id "b"): geometry.coordinates[0][1] longitude must be a number from -180 to 180'],
      [feature({ zone_id: 'B', name: 'N', level: 'city' }), /^zone file is invalid: feature 1 \(zone_id "B"\): property "zone_id" is "B" but must be 1 to 64 characters/],
      [feature({ zone_id: 'a', name: 'N', level: 'city' }), 'feature 1 (zone_id "a"): property "zone_id" "a" is also the id of feature 0'],
      [feature({ zone_id: 'b', name: 'N', level: 'district', parent_id: 'x' }), 'feature 1 (zone_id "b"): property "parent_id" "x" is not the id of any zone'],
      [feature({ zone_id: 'b', name: 'N', level: 'nation', parent_id: 'a' }), /^zone file is invalid: feature 1 \(zone_id "b"\): property "level" "nation" must be below the level "city" of its parent "a"/],
    ];
    for (const [bad, message] of cases) {
      const text = collection([feature({ zone_id: 'a', name: 'A', level: 'city' }), bad]);
      throwsCity(() => parseZoneFile(text), 'CITY_ERR_ZONE_FILE_INVALID', typeof message === 'string' ? `zone file is invalid: ${message}` : message);
    }
  });

  it('names the source when given one', () => {
    throwsCity(() => parseZoneFile('nope', 'cities/x.geojson'), 'CITY_ERR_ZONE_FILE_INVALID', /^zone file is invalid: cities\/x\.geojson: it is not valid JSON/);
  });

  it('loadZoneFile reports a missing file by its path', async () => {
    await assert.rejects(loadZoneFile('/nonexistent/zones.geojson'), (err: unknown) => {
      assert.ok(err instanceof CityError);
      assert.equal(err.code, 'CITY_ERR_ZONE_FILE_INVALID');
      assert.match(err.message, /\/nonexistent\/zones\.geojson could not be read: ENOENT/);
      return true;
    });
  });
});

describe('the Chennai demo city', async () => {
  const tree = new ZoneTree(await loadZoneFile(CHENNAI));

  it('has 1 nation, 1 state, 1 city, 16 districts and 201 neighbourhoods', () => {
    const count = (level: ZoneLevel) => tree.all().filter((z) => z.level === level).length;
    assert.deepEqual(
      ZONE_LEVELS.map((l) => [l, count(l)]),
      [['neighbourhood', 201], ['district', 16], ['city', 1], ['state', 1], ['nation', 1]],
    );
    assert.equal(tree.size, 220);
    assert.deepEqual(tree.roots().map((z) => z.id), ['in']);
  });

  it('places ward 119 in Teynampet (zone IX) in the metropolitan area in Tamil Nadu in India', () => {
    const ward = tree.get('chennai-w119');
    assert.equal(ward.name, 'Ward 119');
    assert.deepEqual(ward.properties, { Ward_No: 119, Zone_No: 'IX', Zone_Name: 'TEYNAMPET' });
    assert.deepEqual(
      tree.ancestors('chennai-w119').map((z) => [z.id, z.level, z.name]),
      [
        ['chennai-z09', 'district', 'Teynampet'],
        ['chennai', 'city', 'Chennai Metropolitan Area'],
        ['in-tn', 'state', 'Tamil Nadu'],
        ['in', 'nation', 'India'],
      ],
    );
  });

  it('gives every district its wards and St. Thomas Mount its own id', () => {
    const districts = tree.children('chennai');
    assert.deepEqual(districts.map((z) => z.id), [...Array.from({ length: 15 }, (_, i) => `chennai-z${String(i + 1).padStart(2, '0')}`), 'chennai-zstm']);
    assert.ok(districts.every((d) => tree.children(d.id).length > 0 && d.geometry !== null));
    assert.deepEqual(tree.children('chennai-zstm').map((z) => z.id), ['chennai-w000']);
    assert.equal(tree.children('chennai-z09').length, 18);
  });
});
