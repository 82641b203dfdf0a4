/**
 * The charts' data logic, free of the DOM and of uPlot so it has unit tests (test/console/charts-logic.test.ts):
 * series buckets → uPlot's aligned arrays, the live chart's rolling window, time zone names, range presets.
 * uPlot wants x in seconds since the epoch and one array per series, all of the x array's length.
 */

/** uPlot's aligned data: x (epoch seconds) first, then one column per series (null: no value there). */
export type AlignedColumns = [number[], ...Array<Array<number | null>>];

export type BucketAggregate = 'avg' | 'min' | 'max' | 'last' | 'sum' | 'count';

export interface BucketLike {
  start: string;
  avg?: number | null;
  min?: number | null;
  max?: number | null;
  last?: number | null;
  sum?: number | null;
  count?: number | null;
}

export interface SeriesLike {
  metric: string;
  buckets: readonly BucketLike[];
}

/**
 * The server's buckets as uPlot columns. The x values are the buckets' own starts: the server computed
 * them in the chosen zone (a DST day is 23 or 25 hours, a repeated local hour two buckets), so the chart
 * never re-buckets. Metrics whose buckets differ are joined on the union of starts, with null for a gap.
 */
export function bucketsToColumns(series: readonly SeriesLike[], aggregate: BucketAggregate = 'avg'): AlignedColumns {
  const starts = new Set<number>();
  for (const s of series) for (const b of s.buckets) starts.add(Date.parse(b.start) / 1000);
  const xs = [...starts].filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const columns = series.map((s) => {
    const column: Array<number | null> = new Array<number | null>(xs.length).fill(null);
    for (const b of s.buckets) {
      const at = index.get(Date.parse(b.start) / 1000);
      const value = b[aggregate];
      if (at !== undefined && typeof value === 'number' && Number.isFinite(value)) column[at] = value;
    }
    return column;
  });
  return [xs, ...columns];
}

export interface LivePoint {
  metric: string;
  /** ISO time the value was measured. */
  ts: string;
  value: number;
}

/** The live chart's points: one row per distinct timestamp, one column per metric seen. */
export interface LiveWindow {
  /** Epoch ms, ascending. */
  readonly times: readonly number[];
  /** Metrics in the order they were first seen. */
  readonly metrics: readonly string[];
  /** metric → values aligned with `times`. */
  readonly values: Readonly<Record<string, ReadonlyArray<number | null>>>;
}

export const emptyWindow: LiveWindow = { times: [], metrics: [], values: {} };

/**
 * Adds points and drops those older than `windowMs` before the newest time. Points usually arrive in
 * order (appended), but a device catching up may send older ones: they are inserted in place, and ones
 * already outside the window are ignored. A metric never seen before becomes a new column. Returns a
 * new window (the old one is left as it was, which is what Preact state wants).
 */
export function appendToWindow(window: LiveWindow, points: readonly LivePoint[], windowMs: number): LiveWindow {
  const times = [...window.times];
  const metrics = [...window.metrics];
  const values: Record<string, Array<number | null>> = {};
  for (const m of metrics) values[m] = [...(window.values[m] ?? [])];
  for (const point of points) {
    const t = Date.parse(point.ts);
    if (!Number.isFinite(t) || !Number.isFinite(point.value)) continue;
    if (!(point.metric in values)) {
      metrics.push(point.metric);
      values[point.metric] = new Array<number | null>(times.length).fill(null);
    }
    let at = times.length;
    while (at > 0 && times[at - 1]! > t) at--;
    if (at > 0 && times[at - 1] === t) {
      values[point.metric]![at - 1] = point.value;
      continue;
    }
    times.splice(at, 0, t);
    for (const m of metrics) values[m]!.splice(at, 0, m === point.metric ? point.value : null);
  }
  const newest = times.length ? times[times.length - 1]! : 0;
  let drop = 0;
  while (drop < times.length && times[drop]! < newest - windowMs) drop++;
  if (drop > 0) {
    times.splice(0, drop);
    for (const m of metrics) values[m]!.splice(0, drop);
  }
  return { times, metrics, values };
}

/** The window as uPlot columns for the chosen metrics (x in seconds). */
export function windowToColumns(window: LiveWindow, metrics: readonly string[]): AlignedColumns {
  return [window.times.map((t) => t / 1000), ...metrics.map((m) => [...(window.values[m] ?? window.times.map(() => null))])];
}

/** The newest value of a metric in the window (for the legend's "now" figure), or null. */
export function latestValue(window: LiveWindow, metric: string): number | null {
  const column = window.values[metric];
  if (!column) return null;
  for (let i = column.length - 1; i >= 0; i--) if (column[i] !== null && column[i] !== undefined) return column[i]!;
  return null;
}

export type ZoneCheck = { ok: true; zone: string } | { ok: false; problem: string };

/**
 * A time zone a person typed, checked by the browser's own tz database (Intl): the canonical IANA name
 * ("europe/berlin" → "Europe/Berlin"), or why it is not one. The server checks again; this only spares a
 * round trip and shows the mistake next to the field.
 */
export function checkTimeZone(typed: string): ZoneCheck {
  const name = typed.trim();
  if (!name) return { ok: false, problem: 'Type a time zone, e.g. Europe/Berlin or UTC.' };
  try {
    const zone = new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
    return { ok: true, zone };
  } catch {
    return { ok: false, problem: `“${name}” is not a time zone this browser knows (IANA names look like America/New_York).` };
  }
}

/** The browser's own zone, falling back to UTC where Intl does not say. */
export function browserTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

export type HistoryInterval = 'MINUTE' | 'FIVE_MINUTES' | 'HOUR' | 'DAY';

export const INTERVALS: ReadonlyArray<{ value: HistoryInterval; label: string; ms: number }> = [
  { value: 'MINUTE', label: '1 min', ms: 60_000 },
  { value: 'FIVE_MINUTES', label: '5 min', ms: 300_000 },
  { value: 'HOUR', label: '1 h', ms: 3_600_000 },
  { value: 'DAY', label: '1 day', ms: 86_400_000 },
];

export const RANGE_PRESETS: ReadonlyArray<{ key: string; label: string; ms: number }> = [
  { key: '1h', label: 'last hour', ms: 3_600_000 },
  { key: '6h', label: 'last 6 hours', ms: 6 * 3_600_000 },
  { key: '24h', label: 'last 24 hours', ms: 24 * 3_600_000 },
  { key: '7d', label: 'last 7 days', ms: 7 * 86_400_000 },
  { key: '30d', label: 'last 30 days', ms: 30 * 86_400_000 },
];

/** Most buckets a history chart asks for: more would not fit the chart's width in pixels anyway. */
export const MAX_BUCKETS = 2_000;

export type RangeCheck = { ok: true; from: string; to: string } | { ok: false; problem: string };

/**
 * The [from, to) a preset means at `now`, refused when the interval would cut it into more than
 * MAX_BUCKETS buckets (a 30-day range by minute is 43,200 points: pick a coarser interval).
 */
export function rangeOf(presetKey: string, interval: HistoryInterval, now: number): RangeCheck {
  const preset = RANGE_PRESETS.find((p) => p.key === presetKey);
  if (!preset) return { ok: false, problem: `unknown range ${presetKey}` };
  const step = INTERVALS.find((i) => i.value === interval)?.ms ?? 60_000;
  const buckets = Math.ceil(preset.ms / step);
  if (buckets > MAX_BUCKETS)
    return { ok: false, problem: `${preset.label} by ${INTERVALS.find((i) => i.value === interval)?.label} is ${buckets} buckets; pick a coarser interval.` };
  return { ok: true, from: new Date(now - preset.ms).toISOString(), to: new Date(now + 1).toISOString() };
}
