import { lazy, Suspense, useMemo, useRef, useState } from 'react';
import { useSession } from '../../api/session';
import { errorText } from '../../api/client';
import { useMapData } from './use-map-data';
import { ALL_FILTERS, passes, pointCollection, resourceCollection, zoneNames, type MapFilters } from './geojson';
import type { MapItem } from './items';
import type { MapFocus } from './IncidentMap';
import { Filters } from './Filters';
import { Legend } from './Legend';
import { LatestList } from './LatestList';
import { DetailsPanel, type Selection } from './DetailsPanel';
import './map.css';

/**
 * maplibre-gl is 1 MB of script: loaded in its own chunk while the view's data is already on its
 * way (profiled: loading it first delayed the API requests by ~300 ms on a cold page load).
 */
const IncidentMap = lazy(() => import('./IncidentMap').then((m) => ({ default: m.IncidentMap })));

/** map.css: below this width the list is under the map and the details are a bottom sheet. */
const PHONE_LAYOUT = '(max-width: 899px)';

/**
 * The live incident map (issue 6, item 2): zones, roads, resources and the newest events and
 * decisions coloured by severity, clustered when zoomed out, updated from the live stream; a
 * list of the newest beside it for keyboards and screen readers; details of whatever is clicked.
 */
export default function MapView() {
  const session = useSession();
  const data = useMapData();
  const [filters, setFilters] = useState<MapFilters>(ALL_FILTERS);
  const [selection, setSelection] = useState<Selection | null>(null);
  const [focus, setFocus] = useState<MapFocus | null>(null);
  const mapRegion = useRef<HTMLDivElement>(null);

  const zones = useMemo(() => zoneNames(data.zones), [data.zones]);
  const listed = useMemo(() => data.items.filter((i) => passes(i, filters)), [data.items, filters]);
  const points = useMemo(() => pointCollection(data.items, filters), [data.items, filters]);
  const resources = useMemo(() => resourceCollection(data.resources?.items ?? [], filters), [data.resources, filters]);

  // The panel shows the newest version of what was picked (live action updates land in it).
  const current: Selection | null =
    selection === null
      ? null
      : selection.kind === 'item'
        ? { kind: 'item', item: data.lookup(selection.item.key) ?? selection.item }
        : { kind: 'resource', resource: data.resources?.items.find((r) => r.resource_id === selection.resource.resource_id) ?? selection.resource };
  const selectedKey = current === null ? null : current.kind === 'item' ? current.item.key : `r:${current.resource.resource_id}`;

  /** From the list or the panel: show it and fly there. */
  const open = (item: MapItem) => {
    setSelection({ kind: 'item', item });
    if (!item.location) return;
    const phone = window.matchMedia(PHONE_LAYOUT).matches;
    setFocus({ lngLat: [item.location.longitude, item.location.latitude], n: Date.now(), aboveSheet: phone });
    // On a phone the list is under the map: bring the map back so the point shows above the sheet.
    if (phone) mapRegion.current?.scrollIntoView({ block: 'start' });
  };
  /** From a click on the map: the point is already in view. */
  const pick = (key: string) => {
    if (key.startsWith('r:')) {
      const resource = data.resources?.items.find((r) => `r:${r.resource_id}` === key);
      if (resource) setSelection({ kind: 'resource', resource });
      return;
    }
    const item = data.lookup(key);
    if (item) setSelection({ kind: 'item', item });
  };

  return (
    <div className="map-view">
      <div className="map-toolbar">
        <h2 className="sr-only">Live map</h2>
        <Filters value={filters} onChange={setFilters} />
        {data.errors.map(([what, err]) => (
          <p key={what} className="error map-load-error" role="alert">
            The {what} could not be loaded: {errorText(err)}. The map keeps what it has; reload the page to try again.
          </p>
        ))}
      </div>
      <Suspense fallback={<div className="map-region map-region-loading" role="status">Loading the map…</div>}>
      <IncidentMap
        zones={data.zones}
        roads={data.roads}
        points={points}
        resources={resources}
        initialLoaded={data.initialLoaded}
        scopeZoneId={session.me?.scope_zone_id ?? null}
        selectedKey={selectedKey}
        focus={focus}
        onSelect={pick}
        regionRef={mapRegion}
        zoneLabel={zones.label}
      />
      </Suspense>
      <div className="map-side">
        <Legend resources={data.resources} />
        <LatestList items={listed} unplaced={listed.length - points.features.length} selectedKey={selectedKey} zoneName={zones.name} onOpen={open} />
        {current && <DetailsPanel key={selectedKey} selection={current} zoneName={zones.name} onOpen={open} onClose={() => setSelection(null)} />}
      </div>
    </div>
  );
}
