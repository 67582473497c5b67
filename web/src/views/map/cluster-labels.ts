import type { Map as MapLibre } from 'maplibre-gl';

interface Label {
  el: HTMLSpanElement;
  lngLat: [number, number];
}

/**
 * Cluster counts as DOM text over the map: the style has no glyphs (it loads nothing from
 * elsewhere), so symbol layers cannot write numbers. Labels are rebuilt when the map is idle
 * (clusters change with zoom and data), moved with the map on every frame in between, and hidden
 * while zooming, when the clusters they name are being regrouped. The numbers are decoration for
 * sighted users (aria-hidden): the list beside the map says the same to everyone.
 */
export class ClusterLabels {
  readonly #map: MapLibre;
  readonly #layer: string;
  readonly #box: HTMLDivElement;
  #labels: Label[] = [];

  constructor(map: MapLibre, layer: string) {
    this.#map = map;
    this.#layer = layer;
    this.#box = document.createElement('div');
    this.#box.className = 'map-cluster-labels';
    this.#box.setAttribute('aria-hidden', 'true');
    map.getCanvasContainer().appendChild(this.#box);
    map.on('idle', this.#rebuild);
    map.on('move', this.#place);
    map.on('zoomstart', this.#hide);
  }

  remove(): void {
    this.#map.off('idle', this.#rebuild);
    this.#map.off('move', this.#place);
    this.#map.off('zoomstart', this.#hide);
    this.#box.remove();
  }

  readonly #rebuild = () => {
    if (!this.#map.getLayer(this.#layer)) return;
    const seen = new Set<number>();
    const next: Label[] = [];
    for (const f of this.#map.queryRenderedFeatures({ layers: [this.#layer] })) {
      const id = f.properties.cluster_id as number;
      // A cluster on a tile edge is returned once per tile.
      if (seen.has(id) || f.geometry.type !== 'Point') continue;
      seen.add(id);
      const el = this.#labels.pop()?.el ?? document.createElement('span');
      el.textContent = String(f.properties.point_count_abbreviated ?? f.properties.point_count);
      next.push({ el, lngLat: f.geometry.coordinates as [number, number] });
    }
    for (const old of this.#labels) old.el.remove();
    this.#labels = next;
    this.#box.replaceChildren(...next.map((l) => l.el));
    this.#box.hidden = false;
    this.#place();
  };

  readonly #place = () => {
    for (const l of this.#labels) {
      const p = this.#map.project(l.lngLat);
      l.el.style.transform = `translate(${p.x}px, ${p.y}px) translate(-50%, -50%)`;
    }
  };

  readonly #hide = () => {
    this.#box.hidden = true;
  };
}
