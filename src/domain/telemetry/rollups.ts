/**
 * Which parts of a series query can be read from rollups (docs/telemetry.md). Pure.
 *
 * Rollups are aggregates of fixed, UTC-epoch-aligned buckets ("grains") of 15 minutes, one hour and one
 * day: the 15-minute grain is kept current by the ingest statement, the hourly and daily ones are derived
 * from it when dirty hours are settled (src/services/rollups.ts; a series settles its devices before it
 * reads them). A rollup row can stand in for its raw rows in
 * a series only if it lies wholly inside one series bucket, i.e. no bucket boundary falls strictly
 * inside it. Why these three grains:
 *
 * - 15 minutes: every UTC offset in the tz database since 1970 is a multiple of 15 minutes (India +05:30,
 *   Nepal +05:45, Chatham +12:45, Lord Howe's 30-minute DST), so every local hour, day, week and month
 *   boundary of every zone in use is 15-minute aligned in UTC. This grain serves HOUR…MONTH in any zone.
 * - hour: serves HOUR…MONTH in zones whose offsets (all of them, across the range) are whole hours —
 *   most of the world — with 4× fewer rows than 15 minutes.
 * - day: serves DAY…MONTH in UTC only (a local midnight elsewhere is not a UTC midnight).
 *
 * The planner checks the actual boundaries of the requested range rather than the zone's name, so a
 * zone that changed its offset (Kathmandu went from +05:30 to +05:45 in 1986) or a range crossing a DST
 * change is judged by what its buckets really are. MINUTE and 5-MINUTE buckets never align with a grain
 * and read raw rows.
 *
 * `from`/`to` rarely fall on bucket boundaries (a dashboard asks for "the last 90 days"), so a plan
 * splits the range: the whole buckets in the middle come from the coarsest grain aligned with all their
 * boundaries; the partial buckets at either end come from the finest grain where it aligns with `from`
 * and `to`, and raw rows only for the sub-15-minute fragments. Every instant of `[from, to)` is in exactly
 * one segment, and no segment crosses a bucket boundary, so summing a bucket's parts gives its value.
 */

/** Rollup grains in seconds, finest first (the values stored in "TelemetryRollup".grain). */
export const ROLLUP_GRAINS = Object.freeze([900, 3600, 86400] as const);
export type RollupGrain = (typeof ROLLUP_GRAINS)[number];

/** Short names for logs, metrics and env vars. */
export const GRAIN_NAMES: Readonly<Record<RollupGrain, string>> = Object.freeze({ 900: '15m', 3600: '1h', 86400: '1d' });

/** A part of a query range `[from, to)` (epoch ms) and where it is read from. */
export type Segment = { source: 'raw'; from: number; to: number } | { source: 'rollup'; grain: RollupGrain; from: number; to: number };

export interface PlanInput {
  /** Query range, epoch ms: `[from, to)`. */
  from: number;
  to: number;
  /** Starts of the buckets overlapping `[from, to)`, ascending (the first may start before `from`). */
  starts: readonly number[];
  /** End of the last bucket. */
  end: number;
  /**
   * Grains that may be read, each with the earliest instant its rows are still complete from
   * (retention deletes older ones); `-Infinity` when kept forever. Grains left out are not used.
   */
  grains: ReadonlyArray<{ grain: RollupGrain; completeFrom: number }>;
}

const aligned = (ts: number, grain: RollupGrain): boolean => ts % (grain * 1000) === 0;

/**
 * Splits `[from, to)` into segments read from rollups where they can be, else raw rows. Returns one
 * raw segment when no rollup grain helps (short intervals, unusable grains, tiny ranges).
 */
export function planSegments(input: PlanInput): Segment[] {
  const { from, to, starts, end } = input;
  const raw: Segment[] = [{ source: 'raw', from, to }];
  if (to <= from || starts.length === 0) return raw;
  // Bucket boundaries inside [from, to]: a = the first at or after `from`, b = the last at or before `to`.
  const boundaries = [...starts.filter((s) => s >= from && s <= to), ...(end <= to ? [end] : [])];
  if (boundaries.length === 0) return raw;
  const a = boundaries[0]!;
  const b = boundaries[boundaries.length - 1]!;

  const usable = input.grains
    .filter((g) => g.completeFrom <= from)
    .map((g) => g.grain)
    .sort((x, y) => x - y);
  if (usable.length === 0) return raw;
  const finest = usable[0]!;
  // Every boundary must be aligned with the grain, or some rollup row would straddle two buckets.
  if (!boundaries.every((t) => aligned(t, finest))) return raw;
  const middle = [...usable].reverse().find((g) => boundaries.every((t) => aligned(t, g)))!;

  const g = finest * 1000;
  const segments: Segment[] = [];
  const push = (s: Segment) => {
    if (s.to > s.from) segments.push(s);
  };
  // Head: [from, a) lies inside the first bucket. Raw up to the next finest-grain edge, rollups after.
  const h = Math.min(Math.ceil(from / g) * g, a);
  push({ source: 'raw', from, to: h });
  push({ source: 'rollup', grain: finest, from: h, to: a });
  push({ source: 'rollup', grain: middle, from: a, to: b });
  // Tail: [b, to) lies inside the last bucket.
  const t = Math.max(Math.floor(to / g) * g, b);
  push({ source: 'rollup', grain: finest, from: b, to: t });
  push({ source: 'raw', from: t, to });
  return segments;
}

/** Whether a plan reads any rollups. */
export const usesRollups = (segments: readonly Segment[]): boolean => segments.some((s) => s.source === 'rollup');
