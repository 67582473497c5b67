import type { ExpressionSpecification, LayerSpecification, StyleSpecification } from 'maplibre-gl';
import type { Map as MapLibre } from 'maplibre-gl';
import type { FeatureCollection } from 'geojson';
import { SEVERITY_COLOURS } from '../../components/Severity';

/**
 * The map's style, built here and fully offline (DESIGN.md "web"): no tiles, no glyphs, no
 * sprite, nothing from another origin (the page's CSP would refuse it, and nodes run without
 * the internet). Everything drawn comes from the node's API as GeoJSON. With no glyphs there is
 * no map text: cluster counts are DOM labels (cluster-labels.ts) and resources are icons drawn
 * into canvases here.
 */
export const SOURCES = { zones: 'zones', roads: 'roads', points: 'points', resources: 'resources' } as const;

export const LAYERS = {
  zoneFill: 'zone-fill',
  cluster: 'point-cluster',
  event: 'point-event',
  decision: 'point-decision',
  selected: 'point-selected',
  resource: 'resource',
} as const;

/** Layers a click looks at, in the order it prefers them (the smallest thing on top first). */
export const CLICKABLE = [LAYERS.decision, LAYERS.event, LAYERS.resource, LAYERS.cluster] as const;

const empty = (): FeatureCollection => ({ type: 'FeatureCollection', features: [] });

export const offlineStyle: StyleSpecification = {
  version: 8,
  sources: {},
  layers: [{ id: 'background', type: 'background', paint: { 'background-color': '#0e1c29' } }],
};

const severityColour: ExpressionSpecification = [
  'match', ['get', 'severity'],
  'critical', SEVERITY_COLOURS.critical!,
  'high', SEVERITY_COLOURS.high!,
  'medium', SEVERITY_COLOURS.medium!,
  'low', SEVERITY_COLOURS.low!,
  SEVERITY_COLOURS.none!,
];
/** A cluster takes the colour of its worst member (clusterProperties.max_rank). */
const clusterColour: ExpressionSpecification = [
  'match', ['get', 'max_rank'],
  4, SEVERITY_COLOURS.critical!,
  3, SEVERITY_COLOURS.high!,
  2, SEVERITY_COLOURS.medium!,
  1, SEVERITY_COLOURS.low!,
  SEVERITY_COLOURS.none!,
];
const level = (l: string): ExpressionSpecification => ['==', ['get', 'level'], l];
const isPoint: ExpressionSpecification = ['!', ['has', 'point_count']];

/** Drawn bottom to top: zones, roads, resources, then incidents with decisions on top. */
function layers(): LayerSpecification[] {
  return [
    {
      id: LAYERS.zoneFill, type: 'fill', source: SOURCES.zones, filter: level('neighbourhood'),
      paint: { 'fill-color': '#4fd1c5', 'fill-opacity': ['case', ['boolean', ['feature-state', 'hover'], false], 0.16, 0.03] },
    },
    { id: 'zone-ward-line', type: 'line', source: SOURCES.zones, filter: level('neighbourhood'), paint: { 'line-color': '#3a5a74', 'line-width': 0.7 } },
    {
      id: 'road', type: 'line', source: SOURCES.roads, layout: { 'line-cap': 'round', 'line-join': 'round' },
      paint: {
        // Links between neighbouring wards (no road file loaded) are a sketch, not streets: fainter.
        'line-color': ['match', ['get', 'kind'], 'ward_link', '#41576a', '#6f8799'],
        'line-width': ['interpolate', ['linear'], ['zoom'], 10, ['match', ['get', 'kind'], 'ward_link', 0.5, 0.8], 15, ['match', ['get', 'kind'], 'ward_link', 1, 2.5]],
        'line-dasharray': ['match', ['get', 'kind'], 'ward_link', ['literal', [2, 2]], ['literal', [1, 0]]],
      },
    },
    { id: 'zone-district-line', type: 'line', source: SOURCES.zones, filter: level('district'), paint: { 'line-color': '#8fb3cf', 'line-width': 1.8 } },
    { id: 'zone-city-line', type: 'line', source: SOURCES.zones, filter: level('city'), paint: { 'line-color': '#c3d4e0', 'line-width': 2.4 } },
    // The signed-in user's own zone; its filter is set once the user is known (setScopeZone).
    { id: 'zone-scope-line', type: 'line', source: SOURCES.zones, filter: ['==', ['get', 'zone_id'], ''], paint: { 'line-color': '#4fd1c5', 'line-width': 3 } },
    {
      id: LAYERS.resource, type: 'symbol', source: SOURCES.resources,
      layout: { 'icon-image': ['concat', 'resource-', ['get', 'availability']], 'icon-allow-overlap': true, 'icon-ignore-placement': true },
    },
    {
      id: LAYERS.cluster, type: 'circle', source: SOURCES.points, filter: ['has', 'point_count'],
      paint: {
        'circle-color': clusterColour,
        'circle-opacity': 0.85,
        'circle-radius': ['step', ['get', 'point_count'], 13, 10, 17, 50, 21, 200, 26],
        // A ring when the cluster holds decisions, as a single decision has.
        'circle-stroke-color': ['case', ['>', ['get', 'decisions'], 0], '#ffffff', '#0b1620'],
        'circle-stroke-width': ['case', ['>', ['get', 'decisions'], 0], 2.5, 1.5],
      },
    },
    {
      id: LAYERS.event, type: 'circle', source: SOURCES.points, filter: ['all', isPoint, ['==', ['get', 'kind'], 'event']],
      paint: { 'circle-color': severityColour, 'circle-radius': 6, 'circle-stroke-color': '#0b1620', 'circle-stroke-width': 1.5 },
    },
    {
      id: LAYERS.decision, type: 'circle', source: SOURCES.points, filter: ['all', isPoint, ['==', ['get', 'kind'], 'decision']],
      paint: { 'circle-color': severityColour, 'circle-radius': 8, 'circle-stroke-color': '#ffffff', 'circle-stroke-width': 2.5 },
    },
    {
      id: LAYERS.selected, type: 'circle', source: SOURCES.points, filter: ['==', ['get', 'key'], ''],
      paint: { 'circle-color': 'rgba(0,0,0,0)', 'circle-radius': 14, 'circle-stroke-color': '#4fd1c5', 'circle-stroke-width': 3 },
    },
  ];
}

/** Adds the (empty) sources, the icons and the layers; data arrives later with setData. */
export function installLayers(map: MapLibre): void {
  map.addSource(SOURCES.zones, { type: 'geojson', data: empty(), promoteId: 'zone_id' });
  map.addSource(SOURCES.roads, { type: 'geojson', data: empty() });
  map.addSource(SOURCES.resources, { type: 'geojson', data: empty() });
  map.addSource(SOURCES.points, {
    type: 'geojson',
    data: empty(),
    cluster: true,
    clusterRadius: 40,
    // Above this every point stands alone: a decision sits exactly on its event, and must be findable.
    clusterMaxZoom: 14,
    clusterProperties: {
      max_rank: ['max', ['get', 'rank']],
      decisions: ['+', ['case', ['==', ['get', 'kind'], 'decision'], 1, 0]],
    },
  });
  for (const [name, image] of resourceIcons()) map.addImage(name, image, { pixelRatio: 2 });
  for (const layer of layers()) map.addLayer(layer);
}

export function setScopeZone(map: MapLibre, zoneId: string | null | undefined): void {
  map.setFilter('zone-scope-line', ['==', ['get', 'zone_id'], zoneId ?? '']);
}

export function setSelected(map: MapLibre, key: string | null): void {
  map.setFilter(LAYERS.selected, ['==', ['get', 'key'], key ?? '']);
}

/** Colours and shapes of resources, shared with the legend so the two always match. */
export const RESOURCE_LOOK = {
  available: { colour: '#5ee39a', shape: 'square' },
  busy: { colour: '#ffb84d', shape: 'diamond' },
  out: { colour: '#a0aec0', shape: 'square' },
} as const;

/** Resources are squares and diamonds (incidents are circles), drawn here at 2× for sharp edges. */
function resourceIcons(): Array<[string, ImageData]> {
  const size = 28;
  return Object.entries(RESOURCE_LOOK).map(([name, look]) => {
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = size;
    const g = canvas.getContext('2d')!;
    g.fillStyle = look.colour;
    g.strokeStyle = '#0b1620';
    g.lineWidth = 3;
    g.beginPath();
    if (look.shape === 'diamond') {
      g.moveTo(size / 2, 2);
      g.lineTo(size - 2, size / 2);
      g.lineTo(size / 2, size - 2);
      g.lineTo(2, size / 2);
      g.closePath();
    } else g.rect(4, 4, size - 8, size - 8);
    g.fill();
    g.stroke();
    if (name === 'out') {
      // Out of service: crossed out, so it differs from 'available' by more than its colour.
      g.beginPath();
      g.moveTo(8, 8);
      g.lineTo(size - 8, size - 8);
      g.moveTo(size - 8, 8);
      g.lineTo(8, size - 8);
      g.stroke();
    }
    return [`resource-${name}`, g.getImageData(0, 0, size, size)];
  });
}
