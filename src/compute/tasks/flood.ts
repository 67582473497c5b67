import { arrayAt, chunkBounds, integerAt, numberAt, objectAt, TaskInputError, type TaskKind } from './task.js';

/**
 * flood_simulation: where rain on a city's terrain collects, on a grid of cells.
 *
 * The model is a "bucket" (linear-reservoir) scheme, an explicit 2-D diffusion of water over
 * the terrain rather than full shallow-water equations — enough to rank streets and wards by
 * how deep they flood, at a cost of O(rows × cols × steps):
 *   1. rain adds the same depth to every cell;
 *   2. each cell sends water to each of its 4 neighbours whose water surface (elevation + depth)
 *      is lower, in proportion to the head difference: a share α = v·dt / cell_m of it per step,
 *      v being how fast a head difference moves water across a cell;
 *   3. drains take up to their capacity from their cell.
 * All exchanges of a step are computed from the state at its start, then applied, so each
 * one leaves one cell and enters another: mass balances exactly (rain − drained = stored, to
 * rounding). The grid's edge is a wall: simulate a catchment, or put drains on the edge cells
 * where water leaves it (an outfall).
 */
export const FLOOD_DEFAULTS = {
  /** A cell counts as flooded when its peak depth is above this (kerb height: water enters buildings). */
  floodedDepthM: 0.1,
  /** How fast a head difference moves water across a cell; sets α with the step and cell size. */
  flowVelocityMPerS: 1,
  /**
   * Stability limit of the explicit scheme: with four neighbours, a share above 1/4 lets a cell
   * give away more than it could hold level with them and the depths oscillate (the same bound
   * as the explicit 5-point heat equation, D·dt/dx² ≤ 1/4).
   */
  maxExchange: 0.25,
  /** The largest step even on coarse grids, so rain and drains stay resolved in time. */
  maxStepS: 60,
  /** 4 M cells × 4 typed arrays × 8 B = 128 MB: what a laptop executor can be asked for. */
  maxCells: 4_000_000,
} as const;

export interface FloodGrid {
  rows: number;
  cols: number;
  /** Row-major, rows × cols values. */
  elevation_m: number[];
  cell_m: number;
}

export interface FloodInput {
  grid: FloodGrid;
  /** Required unless `ensemble` is given (each member then brings its own). */
  rainfall_mm_per_h?: number;
  duration_min: number;
  drains?: Array<{ row: number; col: number; capacity_m3_per_s: number }>;
  /** The solver step; a step beyond the stability limit is shortened to it. */
  step_s?: number;
  /** Run once per member (fan-out: one part per member) instead of once with `rainfall_mm_per_h`. */
  ensemble?: Array<{ rainfall_mm_per_h: number }>;
}

export interface FloodResult {
  /** Peak depth of each cell during the storm (row-major). */
  max_depth_m: number[];
  final_depth_m: number[];
  /** Cells whose peak depth went above FLOOD_DEFAULTS.floodedDepthM. */
  flooded_cells: number;
  /** Water on the grid at the end. */
  volume_m3: number;
  rain_volume_m3: number;
  drained_volume_m3: number;
  steps: number;
  step_s: number;
}

export interface FloodEnsembleOutput {
  members: Array<FloodResult & { rainfall_mm_per_h: number }>;
  /** Cell-wise maximum over the members' peak depths: the envelope a planner maps. */
  max_depth_m: number[];
  flooded_cells: number;
}

export type FloodOutput = FloodResult | FloodEnsembleOutput;

/** @example if (isEnsembleOutput(out)) out.members.length; */
export function isEnsembleOutput(output: FloodOutput): output is FloodEnsembleOutput {
  return 'members' in output;
}

/** The step the solver takes, and how many of them cover the duration exactly. */
export function floodTimeStep(input: FloodInput): { stepS: number; steps: number; exchange: number } {
  const v = FLOOD_DEFAULTS.flowVelocityMPerS;
  const stableS = Math.min(FLOOD_DEFAULTS.maxStepS, (FLOOD_DEFAULTS.maxExchange * input.grid.cell_m) / v);
  const durationS = input.duration_min * 60;
  const steps = Math.max(1, Math.ceil(durationS / Math.min(input.step_s ?? stableS, stableS)));
  const stepS = durationS / steps;
  return { stepS, steps, exchange: Math.min(FLOOD_DEFAULTS.maxExchange, (v * stepS) / input.grid.cell_m) };
}

/**
 * One storm over the grid.
 *
 * @example
 *   simulateFlood(input, 50, () => {}).flooded_cells;
 */
export function simulateFlood(input: FloodInput, rainfallMmPerH: number, progress: (fraction: number) => void): FloodResult {
  const { rows, cols, cell_m } = input.grid;
  const n = rows * cols;
  const area = cell_m * cell_m;
  const z = Float64Array.from(input.grid.elevation_m);
  const depth = new Float64Array(n);
  const delta = new Float64Array(n);
  const peak = new Float64Array(n);
  const { stepS, steps, exchange } = floodTimeStep(input);
  const rainPerStepM = (rainfallMmPerH / 1000 / 3600) * stepS;
  const drains = input.drains ?? [];
  const drainCell = Int32Array.from(drains, (d) => d.row * cols + d.col);
  const drainPerStepM = Float64Array.from(drains, (d) => (d.capacity_m3_per_s * stepS) / area);
  // Sums of depth (m) over cells; × area at the end. Kept apart from the stored depth so the
  // balance can be checked rather than assumed.
  let rainM = 0;
  let drainedM = 0;

  for (let s = 0; s < steps; s++) {
    for (let i = 0; i < n; i++) depth[i] = depth[i]! + rainPerStepM;
    rainM += rainPerStepM * n;

    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const i = r * cols + c;
        const d = depth[i]!;
        if (d <= 0) continue;
        const h = z[i]! + d;
        const up = r > 0 ? Math.max(0, h - z[i - cols]! - depth[i - cols]!) : 0;
        const down = r < rows - 1 ? Math.max(0, h - z[i + cols]! - depth[i + cols]!) : 0;
        const left = c > 0 ? Math.max(0, h - z[i - 1]! - depth[i - 1]!) : 0;
        const right = c < cols - 1 ? Math.max(0, h - z[i + 1]! - depth[i + 1]!) : 0;
        const head = up + down + left + right;
        if (head === 0) continue;
        // A cell cannot give more water than it holds: scale all its outflows down together.
        const f = exchange * head > d ? d / head : exchange;
        delta[i] = delta[i]! - f * head;
        if (up > 0) delta[i - cols] = delta[i - cols]! + f * up;
        if (down > 0) delta[i + cols] = delta[i + cols]! + f * down;
        if (left > 0) delta[i - 1] = delta[i - 1]! + f * left;
        if (right > 0) delta[i + 1] = delta[i + 1]! + f * right;
      }
    }

    // Drains act on the water after this step's flow; several drains in one cell share it.
    for (let k = 0; k < drainCell.length; k++) {
      const i = drainCell[k]!;
      const take = Math.min(Math.max(0, depth[i]! + delta[i]!), drainPerStepM[k]!);
      delta[i] = delta[i]! - take;
      drainedM += take;
    }

    for (let i = 0; i < n; i++) {
      const d = depth[i]! + delta[i]!;
      depth[i] = d;
      delta[i] = 0;
      if (d > peak[i]!) peak[i] = d;
    }
    progress((s + 1) / steps);
  }

  let storedM = 0;
  let flooded = 0;
  for (let i = 0; i < n; i++) {
    storedM += depth[i]!;
    if (peak[i]! > FLOOD_DEFAULTS.floodedDepthM) flooded++;
  }
  return {
    max_depth_m: Array.from(peak),
    // A scaled-down outflow can leave −1e-18 m by rounding; the balance above keeps it, the map does not.
    final_depth_m: Array.from(depth, (d) => (d > 0 ? d : 0)),
    flooded_cells: flooded,
    volume_m3: storedM * area,
    rain_volume_m3: rainM * area,
    drained_volume_m3: drainedM * area,
    steps,
    step_s: stepS,
  };
}

function envelope(members: FloodEnsembleOutput['members']): FloodEnsembleOutput {
  const max = new Float64Array(members[0]?.max_depth_m.length ?? 0);
  for (const m of members) {
    for (let i = 0; i < max.length; i++) if (m.max_depth_m[i]! > max[i]!) max[i] = m.max_depth_m[i]!;
  }
  let flooded = 0;
  for (let i = 0; i < max.length; i++) if (max[i]! > FLOOD_DEFAULTS.floodedDepthM) flooded++;
  return { members, max_depth_m: Array.from(max), flooded_cells: flooded };
}

function validate(raw: unknown): FloodInput {
  const input = objectAt(raw, '');
  const g = objectAt(input.grid, 'grid');
  const rows = integerAt(g.rows, 'grid.rows', 1, FLOOD_DEFAULTS.maxCells);
  const cols = integerAt(g.cols, 'grid.cols', 1, FLOOD_DEFAULTS.maxCells);
  if (rows * cols > FLOOD_DEFAULTS.maxCells) throw new TaskInputError('grid', `has ${rows * cols} cells; at most ${FLOOD_DEFAULTS.maxCells}`);
  const elevation = arrayAt(g.elevation_m, 'grid.elevation_m');
  if (elevation.length !== rows * cols) throw new TaskInputError('grid.elevation_m', `must have rows × cols = ${rows * cols} values, not ${elevation.length}`);
  for (let i = 0; i < elevation.length; i++) numberAt(elevation[i], `grid.elevation_m[${i}]`, -1_000, 10_000);
  const grid: FloodGrid = { rows, cols, elevation_m: elevation as number[], cell_m: numberAt(g.cell_m, 'grid.cell_m', 0.1, 100_000) };

  // 1,000 mm/h is over three times the heaviest hour ever measured: anything above is a unit mistake.
  const rain = (v: unknown, field: string) => numberAt(v, field, 0, 1_000);
  const out: FloodInput = { grid, duration_min: numberAt(input.duration_min, 'duration_min', 1 / 60, 7 * 24 * 60) };
  if (input.ensemble !== undefined) {
    const members = arrayAt(input.ensemble, 'ensemble');
    if (members.length === 0) throw new TaskInputError('ensemble', 'must have at least one member');
    out.ensemble = members.map((m, k) => ({ rainfall_mm_per_h: rain(objectAt(m, `ensemble[${k}]`).rainfall_mm_per_h, `ensemble[${k}].rainfall_mm_per_h`) }));
  }
  if (input.rainfall_mm_per_h !== undefined || out.ensemble === undefined) out.rainfall_mm_per_h = rain(input.rainfall_mm_per_h, 'rainfall_mm_per_h');
  if (input.step_s !== undefined) out.step_s = numberAt(input.step_s, 'step_s', 0.001, 3_600);
  if (input.drains !== undefined) {
    out.drains = arrayAt(input.drains, 'drains').map((raw, k) => {
      const d = objectAt(raw, `drains[${k}]`);
      return {
        row: integerAt(d.row, `drains[${k}].row`, 0, rows - 1),
        col: integerAt(d.col, `drains[${k}].col`, 0, cols - 1),
        capacity_m3_per_s: numberAt(d.capacity_m3_per_s, `drains[${k}].capacity_m3_per_s`, 0, 10_000),
      };
    });
  }
  return out;
}

/**
 * @example
 *   floodSimulation.run(floodSimulation.validate(body), (f) => report(f));
 */
export const floodSimulation: TaskKind<FloodInput, FloodOutput> = {
  name: 'flood_simulation',
  description: 'Water depth per grid cell under a rain storm (bucket-flow model over the terrain, with drains); ensembles fan out one member per part.',
  validate,
  run(input, progress) {
    const members = input.ensemble;
    if (members === undefined) return simulateFlood(input, input.rainfall_mm_per_h ?? 0, progress);
    return envelope(
      members.map((m, k) => ({
        rainfall_mm_per_h: m.rainfall_mm_per_h,
        ...simulateFlood(input, m.rainfall_mm_per_h, (f) => progress((k + f) / members.length)),
      })),
    );
  },
  split(input, n) {
    const members = input.ensemble;
    if (members === undefined) return [input];
    return chunkBounds(members.length, n).map(([a, b]) => ({ ...input, ensemble: members.slice(a, b) }));
  },
  merge(outputs, input) {
    if (input.ensemble === undefined) {
      if (outputs.length !== 1) throw new RangeError(`a flood run without an ensemble has one part, not ${outputs.length}`);
      return outputs[0]!;
    }
    return envelope(outputs.flatMap((o) => (isEnsembleOutput(o) ? o.members : [])));
  },
};
