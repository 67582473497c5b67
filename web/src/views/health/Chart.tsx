import { useEffect, useRef, type ReactNode } from 'react';
import uPlot, { type AlignedData, type Options } from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface ChartSeries {
  label: string;
  /** A CSS colour or `var(--name)`, resolved when the chart is built. */
  colour: string;
  /** Line dash pattern: series differ by dash as well as colour (colour is never the only cue). */
  dash?: number[];
}

export interface ChartProps {
  /** The figure's caption and accessible name. */
  title: string;
  series: ChartSeries[];
  /** [times in s, …one array per series]. */
  data: AlignedData;
  /** Tick and legend text for a y value. */
  format: (value: number) => string;
  /** The latest values in words, beside the chart: a canvas says nothing to a screen reader. */
  summary: ReactNode;
  height?: number;
}

/** Resolves `var(--x)` against the page's theme, so the canvas matches the CSS. */
function cssColour(value: string): string {
  const m = /^var\((--[\w-]+)\)$/.exec(value);
  return m ? getComputedStyle(document.documentElement).getPropertyValue(m[1]!).trim() || '#888' : value;
}

/**
 * A live line chart (uPlot) in a <figure>: its width follows the container (ResizeObserver),
 * its axes use the theme's colours, its legend names each series, and a text summary stands
 * beside it. The plot is rebuilt only when the set of series changes; new points are drawn
 * with setData.
 */
export function Chart({ title, series, data, format, summary, height = 180 }: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const latest = useRef({ data, format });
  latest.current = { data, format };
  const seriesKey = series.map((s) => `${s.label}|${s.colour}|${s.dash?.join(',') ?? ''}`).join(';');

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const muted = cssColour('var(--muted)');
    const grid = cssColour('var(--border)');
    const axis = { stroke: muted, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, font: '12px system-ui, sans-serif' };
    const fmt = (v: number) => latest.current.format(v);
    const options: Options = {
      width: Math.max(200, el.clientWidth),
      height,
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: cssColour(s.colour), width: 2, dash: s.dash, spanGaps: false, value: (_u: uPlot, v: number | null) => (v === null ? '—' : fmt(v)) }))],
      axes: [axis, { ...axis, size: 64, values: (_u, ticks) => ticks.map(fmt) }],
      scales: { y: { range: (_u, min, max) => [Math.min(0, min ?? 0), Math.max(max ?? 1, min === max ? (max ?? 0) + 1 : 0)] } },
      legend: { live: false },
      cursor: { drag: { x: false, y: false } },
    };
    const u = new uPlot(options, latest.current.data, el);
    plot.current = u;
    const resize = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
      plot.current = null;
    };
    // Rebuilt only when the series change (seriesKey); data arrives through setData below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [seriesKey, height]);

  useEffect(() => {
    plot.current?.setData(data);
  }, [data]);

  return (
    <figure className="health-chart card">
      <figcaption className="health-chart-title">{title}</figcaption>
      <p className="health-chart-summary" aria-live="off">
        {summary}
      </p>
      <div className="health-chart-plot" ref={box} aria-hidden="true" />
    </figure>
  );
}
