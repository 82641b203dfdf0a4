/**
 * Bucketed aggregates of telemetry (docs/telemetry.md), computed in SQL over "TelemetryPoint" and matched
 * exactly to the calendar buckets of src/domain/telemetry/buckets.ts.
 *
 * One statement answers many devices and metrics at once. It groups rows by a bucket key computed in
 * SQL — the local wall-clock label `date_trunc(unit, ts AT TIME ZONE tz)` (5/15 minutes by floor
 * arithmetic on the local minute), plus the UTC offset for intervals below a day — which is exactly the
 * key buckets.ts defines. Each group's `min(ts)` is then mapped to its bucket's exact start and end here,
 * in TypeScript, through the query's bucket range (the same instants as `bucketStart`/`bucketEnd`, found
 * by binary search): PostgreSQL's own reading of a truncated local time is wrong at DST gaps and overlaps.
 * `first`/`last` are the values at the group's `min(ts)`/`max(ts)`, read back by primary key ((device,
 * metric, ts) is unique; see `firstLast`); the groups come back packed, one text value per device and metric; `sum` adds in ts order so it equals the reference to the last bit, and `avg`
 * is `sum / count`, as the reference defines it. Fill modes are applied here, as `aggregate` does.
 *
 * Long ranges read rollups (src/services/rollups.ts) for the parts of the range where their grain lines
 * up with every bucket boundary (`seriesPlan`), and raw rows for the rest, in the same one statement.
 * Counts, min, max, first and last are then identical to the raw answer; sums (hence averages) are too
 * whenever the values' partial sums are exact in float8, and otherwise differ at most by rounding.
 */
import {
  bucketEnd,
  bucketRange,
  bucketStart,
  fixedBucketMs,
  type AggregateFunction,
  type BucketInterval,
  type FillMode,
  type SeriesBucket,
} from '../domain/telemetry/buckets.ts';
import { planSegments, ROLLUP_GRAINS, type RollupGrain, type Segment } from '../domain/telemetry/rollups.ts';

export interface SeriesKey {
  /** Distinct metric names, already validated. */
  metrics: string[];
  /** Inclusive, epoch ms. */
  from: number;
  /** Exclusive, epoch ms. */
  to: number;
  interval: BucketInterval;
  /** Distinct aggregates. */
  aggregates: AggregateFunction[];
  /** A zone both `Intl` and PostgreSQL know. */
  timeZone: string;
  fill: FillMode;
}

/** One metric's buckets for one device. */
export interface MetricSeries {
  metric: string;
  buckets: SeriesBucket[];
}

/** Runs one SQL statement with positional parameters (Prisma's `$queryRawUnsafe`, or a test double). */
export type RawQuery = <T>(sql: string, ...params: unknown[]) => Promise<T[]>;

interface GroupRow {
  device: string;
  metric: string;
  t0: number;
  t1: number;
  count: number;
  sum: number | null;
  min: number | null;
  max: number | null;
  first: number | null;
  last: number | null;
}

/** The SQL bucket key of the instant `ts` (a column); `tz` is the time zone parameter. Mirrors `label` and `offsetInKey` in buckets.ts. */
function bucketKeySql(interval: BucketInterval, ts: string, tz: string): string {
  const local = `(${ts} AT TIME ZONE ${tz}::text)`;
  const offset = `(${local} - (${ts} AT TIME ZONE 'UTC'))`;
  switch (interval) {
    case 'day':
    case 'week': // PostgreSQL's weeks are ISO weeks (Monday), as in buckets.ts
    case 'month':
      return `date_trunc('${interval}', ${local})`;
    case 'minute':
    case 'hour':
      return `date_trunc('${interval}', ${local}), ${offset}`;
    case '5 minutes':
    case '15 minutes': {
      const n = interval === '5 minutes' ? 5 : 15;
      return `date_trunc('hour', ${local}) + floor(extract(minute FROM ${local}) / ${n})::int * interval '${n} minutes', ${offset}`;
    }
  }
}

/**
 * The value at a group's first or last ts, by primary key. A correlated subquery, not a join: joined,
 * the planner (without statistics, which PGlite never gathers on its own) estimated one group, matched
 * only (device, metric) in the index and filtered ts row by row — quadratic, 15 s for 8,000 rows.
 */
const firstLast = (ts: string) => `(SELECT x.value FROM "TelemetryPoint" x WHERE x."deviceId" = g.device_id AND x.metric = g.metric AND x.ts = ${ts})`;

/** Where a series may read rollups; see `seriesPlan`. */
export interface RollupPolicy {
  /** False: always read raw rows (TELEMETRY_SERIES_ROLLUPS=false). */
  enabled: boolean;
  /** Days each grain is kept (0: forever). A grain is read only for ranges its retention still covers. */
  retentionDays: Readonly<Record<RollupGrain, number>>;
}

const DAY_MS = 86_400_000;

/**
 * Which parts of the query read which rollup grain, and which read raw rows (planSegments in
 * src/domain/telemetry/rollups.ts). Computed once per argument set.
 */
export function seriesPlan(key: Pick<SeriesKey, 'from' | 'to'>, range: SeriesRange, policy: RollupPolicy, now: number): Segment[] {
  if (!policy.enabled || range.starts.length === 0) return [{ source: 'raw', from: key.from, to: key.to }];
  const last = range.starts[range.starts.length - 1]!;
  const grains = ROLLUP_GRAINS.map((grain) => {
    const days = policy.retentionDays[grain];
    // Retention deletes buckets that ended before now − days; a day's margin covers a run in progress.
    return { grain, completeFrom: days > 0 ? now - (days - 1) * DAY_MS : -Infinity };
  });
  return planSegments({ from: key.from, to: key.to, starts: range.starts, end: range.endOf(last), grains });
}

/**
 * The buckets each device has, per metric: one SQL statement for all `deviceUuids`. The result is in
 * the order of `deviceUuids`, each with one entry per metric in `key.metrics` order.
 *
 * With a plan that reads rollups, the statement returns partial groups — one from raw rows and one from
 * rollups per bucket at most — which are merged here: counts and sums add (in time order), min/max take
 * the extreme, first/last come from the part with the earliest/latest point. A bucket read wholly from
 * raw rows is one part and passes through unchanged.
 *
 * @param range the buckets of `[from, to)`, from `seriesRange` (computed once per argument set).
 * @param plan from `seriesPlan`; default: raw rows only.
 */
export async function loadSeries(
  query: RawQuery,
  deviceUuids: readonly string[],
  key: SeriesKey,
  range: SeriesRange,
  plan: readonly Segment[] = [{ source: 'raw', from: key.from, to: key.to }],
): Promise<MetricSeries[][]> {
  const want = new Set(key.aggregates);
  const needSum = want.has('sum') || want.has('avg');
  const params: unknown[] = [deviceUuids.join(','), key.metrics.join(',')];
  const param = (value: unknown): string => `$${params.push(value)}`;
  const iso = (ts: number) => param(new Date(ts).toISOString());
  const raw = plan.filter((s) => s.source === 'raw');
  const rollup = plan.filter((s) => s.source === 'rollup');

  // Group bounds go out as integer epoch ms: date_part's float8 seconds × 1000, rounded by the int8 cast
  // (exact for millisecond timestamps: the float error is ~1e-3 ms). extract() computes in numeric, and
  // float8 prints slower than int8: together a quarter of the statement on PGlite (bench:series).
  // Aggregates nobody asked for are not computed (NULL), on rollups as on raw rows.
  const parts: string[] = [];
  const ctes: string[] = [];
  if (raw.length > 0) {
    const where = raw.map((s) => `(p.ts >= ${iso(s.from)}::timestamptz AND p.ts < ${iso(s.to)}::timestamptz)`).join(' OR ');
    ctes.push(`g AS (
       SELECT p."deviceId" AS device_id, p.metric, min(p.ts) AS t0, max(p.ts) AS t1, count(*)::int AS count
              ${needSum ? ', sum(p.value ORDER BY p.ts) AS sum' : ', NULL::float8 AS sum'}
              ${want.has('min') ? ', min(p.value) AS min' : ', NULL::float8 AS min'}
              ${want.has('max') ? ', max(p.value) AS max' : ', NULL::float8 AS max'}
         FROM "TelemetryPoint" p
        WHERE p."deviceId" = ANY(string_to_array($1, ',')::uuid[])
          AND p.metric = ANY(string_to_array($2, ',')::text[])
          AND (${where})
        GROUP BY p."deviceId", p.metric, ${bucketKeySql(key.interval, 'p.ts', param(key.timeZone))}
     )`);
    parts.push(`SELECT g.device_id::text AS device, g.metric, (date_part('epoch', g.t0) * 1000)::int8 AS t0, (date_part('epoch', g.t1) * 1000)::int8 AS t1,
            g.count, g.sum, g.min, g.max,
            ${want.has('first') ? firstLast('g.t0') : 'NULL::float8'} AS first, ${want.has('last') ? firstLast('g.t1') : 'NULL::float8'} AS last
       FROM g`);
  }
  // A rollup row lies inside one bucket (the plan guarantees it). Where a row IS a bucket (its grain
  // equals the bucket length: hourly rows for HOUR buckets, daily rows for UTC DAY buckets), it goes out
  // as it is. Where several rows make a bucket (15-minute rows for HOUR buckets in Kathmandu, hourly
  // rows for DAY buckets), they are grouped here: a row is grouped by the bucket its start falls in,
  // found by width_bucket's binary search over the bucket starts — no time-zone arithmetic per row, and
  // float8 epoch arithmetic (date_part), exact for whole-second bucket starts and ≈ 15 % faster on
  // PGlite than extract()'s numeric.
  // Rows of a bucket never overlap in time, so ordering them by start orders their points too: one
  // presorted input serves sum, first and last. Measured on PGlite (bench:series, Kathmandu): sending
  // the rows of multi-row buckets instead of grouping them (71 ms), or first/last as min/max of
  // (ts, value) arrays instead of ordered aggregates (71 ms), were slower than this (58 ms).
  const rollupWhere = (segments: Segment[]) =>
    segments
      .map(
        (s) =>
          `(r.grain = ${param((s as Extract<Segment, { source: 'rollup' }>).grain)}::int AND r.bucket >= ${iso(s.from)}::timestamptz AND r.bucket < ${iso(s.to)}::timestamptz)`,
      )
      .join(' OR ');
  const bucketMs = fixedBucketMs(key.interval) ?? (key.interval === 'day' ? DAY_MS : undefined);
  const whole = rollup.filter((s) => s.source === 'rollup' && s.grain * 1000 === bucketMs);
  const grouped = rollup.filter((s) => !whole.includes(s));
  if (whole.length > 0) {
    parts.push(`SELECT r."deviceId"::text AS device, r.metric,
            (date_part('epoch', r."firstTs") * 1000)::int8 AS t0, (date_part('epoch', r."lastTs") * 1000)::int8 AS t1,
            r.count, r.sum, r.min, r.max, r.first, r.last
       FROM "TelemetryRollup" r
      WHERE r."deviceId" = ANY(string_to_array($1, ',')::uuid[])
        AND r.metric = ANY(string_to_array($2, ',')::text[])
        AND (${rollupWhere(whole)})`);
  }
  if (grouped.length > 0) {
    const starts = param(range.starts.join(','));
    ctes.push(`th AS (SELECT string_to_array(${starts}, ',')::float8[] AS starts)`);
    parts.push(`SELECT r."deviceId"::text AS device, r.metric,
            (date_part('epoch', min(r."firstTs")) * 1000)::int8 AS t0, (date_part('epoch', max(r."lastTs")) * 1000)::int8 AS t1,
            sum(r.count)::int AS count,
            ${needSum ? 'sum(r.sum ORDER BY r.bucket)' : 'NULL::float8'} AS sum,
            ${want.has('min') ? 'min(r.min)' : 'NULL::float8'} AS min, ${want.has('max') ? 'max(r.max)' : 'NULL::float8'} AS max,
            ${want.has('first') ? '(array_agg(r.first ORDER BY r.bucket))[1]' : 'NULL::float8'} AS first,
            ${want.has('last') ? '(array_agg(r.last ORDER BY r.bucket))[count(*)]' : 'NULL::float8'} AS last
       FROM "TelemetryRollup" r CROSS JOIN th
      WHERE r."deviceId" = ANY(string_to_array($1, ',')::uuid[])
        AND r.metric = ANY(string_to_array($2, ',')::text[])
        AND (${rollupWhere(grouped)})
      GROUP BY r."deviceId", r.metric, width_bucket(date_part('epoch', r.bucket) * 1000, th.starts)`);
  }
  // One row per device and metric, its groups packed into one text value: a result row per group costs
  // more to decode than the statement takes to run (PGlite decodes every field in JS), and a series has
  // thousands of groups. float8 prints the shortest text that reads back as the same double.
  const field = (c: string) => `coalesce(u.${c}::text, 'n')`;
  const packed =
    parts.length === 0
      ? []
      : await query<{ device: string; metric: string; packed: string }>(
          `${ctes.length > 0 ? `WITH ${ctes.join(', ')} ` : ''}
           SELECT u.device, u.metric, string_agg(concat_ws(' ', ${['t0', 't1', 'count', 'sum', 'min', 'max', 'first', 'last'].map(field).join(', ')}), ',') AS packed
             FROM (${parts.join(' UNION ALL ')}) u
            GROUP BY u.device, u.metric`,
          ...params,
        );
  const num = (text: string): number | null => (text === 'n' ? null : Number(text));
  const rows: GroupRow[] = [];
  for (const { device, metric, packed: text } of packed) {
    for (const group of text.split(',')) {
      const [t0, t1, count, sum, min, max, first, last] = group.split(' ');
      rows.push({
        device,
        metric,
        t0: Number(t0),
        t1: Number(t1),
        count: Number(count),
        sum: num(sum!),
        min: num(min!),
        max: num(max!),
        first: num(first!),
        last: num(last!),
      });
    }
  }

  // device → metric → bucket start → its parts
  const groups = new Map<string, Map<string, Map<number, GroupRow[]>>>();
  for (const row of rows) {
    let byMetric = groups.get(row.device);
    if (!byMetric) groups.set(row.device, (byMetric = new Map<string, Map<number, GroupRow[]>>()));
    let byStart = byMetric.get(row.metric);
    if (!byStart) byMetric.set(row.metric, (byStart = new Map<number, GroupRow[]>()));
    const start = range.startOf(Number(row.t0));
    const list = byStart.get(start);
    if (list) list.push(row);
    else byStart.set(start, [row]);
  }

  return deviceUuids.map((uuid) =>
    key.metrics.map((metric) => {
      const byStart = groups.get(uuid)?.get(metric) ?? new Map<number, GroupRow[]>();
      const values = new Map<number, SeriesBucket['values']>();
      for (const [start, list] of byStart) values.set(start, bucketValues(list, key.aggregates));
      return { metric, buckets: assemble(values, key, range) };
    }),
  );
}

/** One bucket's values from its parts (raw rows, rollups), merged in time order. */
function bucketValues(list: GroupRow[], aggregates: readonly AggregateFunction[]): SeriesBucket['values'] {
  const parts = list.length === 1 ? list : [...list].sort((a, b) => Number(a.t0) - Number(b.t0));
  let count = 0;
  let sum: number | null = null;
  let min: number | null = null;
  let max: number | null = null;
  for (const p of parts) {
    count += Number(p.count);
    if (p.sum !== null) sum = sum === null ? Number(p.sum) : sum + Number(p.sum);
    if (p.min !== null && (min === null || Number(p.min) < min)) min = Number(p.min);
    if (p.max !== null && (max === null || Number(p.max) > max)) max = Number(p.max);
  }
  const firstPart = parts[0]!;
  let lastPart = parts[0]!;
  for (const p of parts) if (Number(p.t1) > Number(lastPart.t1)) lastPart = p;
  const values: SeriesBucket['values'] = {};
  for (const a of aggregates) {
    if (a === 'count') values.count = count;
    else if (a === 'avg') values.avg = sum! / count;
    else if (a === 'sum') values.sum = sum;
    else if (a === 'min') values.min = min;
    else if (a === 'max') values.max = max;
    else if (a === 'first') values.first = firstPart.first === null ? null : Number(firstPart.first);
    else values.last = lastPart.last === null ? null : Number(lastPart.last);
  }
  return values;
}

/** Buckets with points, plus the empty ones the fill mode asks for — exactly as `aggregate` in buckets.ts. */
function assemble(groups: Map<number, SeriesBucket['values']>, key: SeriesKey, range: SeriesRange): SeriesBucket[] {
  const { aggregates, fill } = key;
  const starts = fill === 'none' ? [...groups.keys()].sort((a, b) => a - b) : range.starts;
  const out: SeriesBucket[] = [];
  let previous: SeriesBucket['values'] | undefined;
  for (const start of starts) {
    const values = groups.get(start);
    const bucket: SeriesBucket = { start, end: range.endOf(start), filled: values === undefined, values: values ?? {} };
    if (values === undefined) {
      for (const a of aggregates) {
        if (a === 'count') bucket.values[a] = 0;
        else bucket.values[a] = fill === 'previous' && previous !== undefined ? (previous[a] ?? null) : null;
      }
    }
    if (values !== undefined || fill === 'previous') previous = bucket.values;
    out.push(bucket);
  }
  return out;
}

/** The buckets of one query's `[from, to)`, with O(log n) lookups (bucketStart/bucketEnd cost ~25 µs a call). */
export interface SeriesRange {
  /** Starts of the buckets overlapping `[from, to)`, ascending. */
  starts: number[];
  /** The start of the bucket holding `ts`, for `from ≤ ts < to`. */
  startOf(ts: number): number;
  /** The end of the bucket starting at `start`, one of `starts`. */
  endOf(start: number): number;
}

/**
 * The buckets of `[from, to)`; throws RangeError beyond `maxBuckets`. Buckets partition time, so the
 * bucket of an instant in the range is the last start at or before it, and a bucket ends where the
 * next one starts.
 */
export function seriesRange(key: Pick<SeriesKey, 'from' | 'to' | 'interval' | 'timeZone'>, maxBuckets: number): SeriesRange {
  const starts = bucketRange(key.from, key.to, key.interval, key.timeZone, { maxBuckets });
  const last = starts.length === 0 ? undefined : bucketEnd(starts[starts.length - 1]!, key.interval, key.timeZone);
  const indexOf = (ts: number): number => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= ts) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  return {
    starts,
    startOf(ts) {
      if (starts.length === 0 || ts < starts[0]! || ts >= last!) return bucketStart(ts, key.interval, key.timeZone);
      return starts[indexOf(ts)]!;
    },
    endOf(start) {
      const i = indexOf(start);
      if (starts[i] !== start) return bucketEnd(start, key.interval, key.timeZone);
      return i + 1 < starts.length ? starts[i + 1]! : last!;
    },
  };
}
