import { useEffect, useRef, useState, type Ref } from 'react';
import { Map as MapLibre, NavigationControl, setWorkerUrl, type GeoJSONSource, type MapMouseEvent } from 'maplibre-gl';
import 'maplibre-gl/dist/maplibre-gl.css';
// maplibre-gl 6 finds its worker beside its own module, which a bundle moves: Vite copies the
// (self-contained) worker to assets/ and tells us where.
import workerUrl from 'maplibre-gl/dist/maplibre-gl-worker.mjs?url';
import type { FeatureCollection } from 'geojson';
import { CLICKABLE, LAYERS, SOURCES, installLayers, offlineStyle, setScopeZone, setSelected } from './map-style';
import { ClusterLabels } from './cluster-labels';
import { drawableZones, zoneBounds } from './geojson';

setWorkerUrl(workerUrl);

export interface MapFocus {
  lngLat: [number, number];
  /** Changes on every request, so asking for the same place twice flies there twice. */
  n: number;
  /** Place it in the upper part of the map: the details panel covers the lower part. */
  aboveSheet?: boolean;
}

export interface IncidentMapProps {
  zones: FeatureCollection | undefined;
  roads: FeatureCollection | undefined;
  points: FeatureCollection;
  resources: FeatureCollection;
  /** True once `points` holds the first pages of the API (for data-ready). */
  initialLoaded: boolean;
  scopeZoneId: string | null;
  selectedKey: string | null;
  focus: MapFocus | null;
  onSelect(key: string): void;
  zoneLabel(zoneId: string): string;
  /** The region element, for scrolling it into view. */
  regionRef?: Ref<HTMLDivElement>;
}

/** Chennai's centre, until the zones say where the user's scope is. */
const START = { center: [80.24, 13.05] as [number, number], zoom: 10 };
/** Flying to an item: past the clusters (map-style.ts clusterMaxZoom), with the streets around. */
const FOCUS_ZOOM = 15;
/** The fastest the incidents are redrawn during a burst of live messages. */
const MIN_REDRAW_MS = 250;
/** Pixels around a tap that still count as touching a point (fingers are wide). */
const HIT_PX = 6;

/**
 * The maplibre-gl map: zones, roads, resources and clustered incidents from the props, clicks
 * turned into `onSelect(key)`. The region carries `data-ready="true"` once zones and the first
 * pages are drawn and the map has gone idle (the page-load benchmark waits for it) and
 * `data-points`, the number of incidents in its source.
 */
export function IncidentMap(props: IncidentMapProps) {
  const box = useRef<HTMLDivElement>(null);
  const [map, setMap] = useState<MapLibre | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [zonesDrawn, setZonesDrawn] = useState(false);
  const [pointsDrawn, setPointsDrawn] = useState(false);
  const [ready, setReady] = useState(false);
  const [zoneText, setZoneText] = useState('');
  const [drawnCount, setDrawnCount] = useState(0);
  const propsNow = useRef(props);
  propsNow.current = props;

  useEffect(() => {
    let m: MapLibre;
    try {
      m = new MapLibre({ container: box.current!, style: offlineStyle, attributionControl: false, dragRotate: false, pitchWithRotate: false, maxZoom: 18, fadeDuration: 0, ...START });
    } catch (err) {
      setFailure(`This browser cannot draw the map (${err instanceof Error ? err.message : String(err)}); the list beside it shows the same items.`);
      return;
    }
    m.touchZoomRotate.disableRotation();
    m.keyboard.disableRotation();
    m.addControl(new NavigationControl({ showCompass: false }), 'top-right');
    // With a listener here maplibre does not print its errors; they are shown instead.
    m.on('error', (e) => setFailure(`The map failed: ${e.error?.message ?? 'unknown error'}`));
    let labels: ClusterLabels | null = null;
    m.on('load', () => {
      installLayers(m);
      labels = new ClusterLabels(m, LAYERS.cluster);
      setMap(m);
    });
    let hovered: string | number | null = null;
    const hoverZone = (id: string | number | null) => {
      if (id === hovered) return;
      if (hovered !== null) m.setFeatureState({ source: SOURCES.zones, id: hovered }, { hover: false });
      if (id !== null) m.setFeatureState({ source: SOURCES.zones, id }, { hover: true });
      hovered = id;
      setZoneText(id === null ? '' : propsNow.current.zoneLabel(String(id)));
    };
    const around = (e: MapMouseEvent) => [[e.point.x - HIT_PX, e.point.y - HIT_PX], [e.point.x + HIT_PX, e.point.y + HIT_PX]] as [[number, number], [number, number]];
    m.on('mousemove', (e) => {
      if (!m.getLayer(LAYERS.zoneFill)) return;
      const onPoint = m.queryRenderedFeatures(around(e), { layers: [...CLICKABLE] }).length > 0;
      m.getCanvas().style.cursor = onPoint ? 'pointer' : '';
      hoverZone(m.queryRenderedFeatures(e.point, { layers: [LAYERS.zoneFill] })[0]?.id ?? null);
    });
    m.on('mouseout', () => hoverZone(null));
    m.on('click', (e) => {
      if (!m.getLayer(LAYERS.zoneFill)) return;
      const hits = m.queryRenderedFeatures(around(e), { layers: [...CLICKABLE] });
      for (const layer of CLICKABLE) {
        const hit = hits.find((h) => h.layer.id === layer);
        if (!hit) continue;
        if (layer === LAYERS.cluster) {
          const source = m.getSource<GeoJSONSource>(SOURCES.points)!;
          const centre = hit.geometry.type === 'Point' ? (hit.geometry.coordinates as [number, number]) : e.lngLat.toArray();
          void source.getClusterExpansionZoom(hit.properties.cluster_id as number).then((zoom) => m.easeTo({ center: centre, zoom }), () => undefined);
        } else propsNow.current.onSelect(String(hit.properties.key));
        return;
      }
      // A tap on the map itself names the zone (touch screens have no hover).
      hoverZone(m.queryRenderedFeatures(e.point, { layers: [LAYERS.zoneFill] })[0]?.id ?? null);
    });
    return () => {
      labels?.remove();
      m.remove();
    };
  }, []);

  const { zones, roads, points, resources, initialLoaded, scopeZoneId, selectedKey, focus } = props;
  const failed = (err: unknown) => {
    // A newer setData may cancel an older one still on its way to the worker: not a failure.
    if (err instanceof Error && err.name === 'AbortError') return;
    setFailure(`The map could not take its data: ${err instanceof Error ? err.message : String(err)}`);
  };

  useEffect(() => {
    if (!map || !zones) return;
    setScopeZone(map, scopeZoneId);
    map.getSource<GeoJSONSource>(SOURCES.zones)!.setData(drawableZones(zones)).then(() => setZonesDrawn(true), failed);
    const bounds = zoneBounds(zones, scopeZoneId);
    if (bounds) map.fitBounds(bounds, { padding: 24, animate: false });
  }, [map, zones, scopeZoneId]); // eslint-disable-line react-hooks/exhaustive-deps

  useEffect(() => {
    if (map && roads) map.getSource<GeoJSONSource>(SOURCES.roads)!.setData(roads).catch(failed);
  }, [map, roads]); // eslint-disable-line react-hooks/exhaustive-deps

  // Incidents are redrawn at most every MIN_REDRAW_MS (the newest set wins): re-clustering
  // thousands of points on every animation frame of a burst would starve the map's own frames.
  const pending = useRef<{ timer: number | null; last: number }>({ timer: null, last: 0 });
  useEffect(() => {
    if (!map) return;
    const draw = () => {
      pending.current = { timer: null, last: performance.now() };
      const { points: now, initialLoaded: complete } = propsNow.current;
      setDrawnCount(now.features.length);
      map.getSource<GeoJSONSource>(SOURCES.points)!.setData(now).then(() => complete && setPointsDrawn(true), failed);
    };
    const wait = pending.current.last + MIN_REDRAW_MS - performance.now();
    if (wait <= 0) draw();
    else pending.current.timer ??= window.setTimeout(draw, wait);
  }, [map, points, initialLoaded]); // eslint-disable-line react-hooks/exhaustive-deps
  useEffect(() => () => void (pending.current.timer !== null && clearTimeout(pending.current.timer)), []);

  useEffect(() => {
    if (map) map.getSource<GeoJSONSource>(SOURCES.resources)!.setData(resources).catch(failed);
  }, [map, resources]); // eslint-disable-line react-hooks/exhaustive-deps

  useEffect(() => {
    if (map) setSelected(map, selectedKey);
  }, [map, selectedKey]);

  useEffect(() => {
    if (!map || !focus) return;
    // With the details as a bottom sheet (phones), the point goes in the upper part of the map.
    const offsetY = focus.aboveSheet ? -map.getContainer().clientHeight / 4 : 0;
    map.flyTo({ center: focus.lngLat, zoom: Math.max(map.getZoom(), FOCUS_ZOOM), offset: [0, offsetY] });
  }, [map, focus]);

  useEffect(() => {
    if (ready || !map || !zonesDrawn || !pointsDrawn) return;
    const done = () => setReady(true);
    map.once('idle', done);
    map.triggerRepaint();
    return () => void map.off('idle', done);
  }, [map, zonesDrawn, pointsDrawn, ready]);

  return (
    <div ref={props.regionRef} className="map-region" role="region" aria-label="Incident map" data-ready={ready ? 'true' : 'false'} data-points={drawnCount}>
      <div ref={box} className="map-canvas" />
      <p className="map-zone-name" role="status" aria-live="polite" hidden={zoneText === ''}>
        {zoneText}
      </p>
      {failure && (
        <p className="map-failure error" role="alert">
          {failure}
        </p>
      )}
    </div>
  );
}
