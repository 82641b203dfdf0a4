/**
 * Bucketed aggregates of telemetry (DESIGN.md §7), computed in SQL over "TelemetryPoint" and matched
 * exactly to the calendar buckets of src/domain/telemetry/buckets.ts.
 *
 * One statement answers many devices and metrics at once. It groups rows by a bucket key computed in
 * SQL — the local wall-clock label `date_trunc(unit, ts AT TIME ZONE tz)` (5/15 minutes by floor
 * arithmetic on the local minute), plus the UTC offset for intervals below a day — which is exactly the
 * key buckets.ts defines. Each group's `min(ts)` is then mapped to its bucket's exact start and end here,
 * in TypeScript, through the query's bucket range (the same instants as `bucketStart`/`bucketEnd`, found
 * by binary search): PostgreSQL's own reading of a truncated local time is wrong at DST gaps and overlaps.
 * `first`/`last` are the values at the group's `min(ts)`/`max(ts)`, read back by primary key ((device,
 * metric, ts) is unique); `sum` adds in ts order so it equals the reference to the last bit, and `avg`
 * is `sum / count`, as the reference defines it. Fill modes are applied here, as `aggregate` does.
 */
import {
  bucketEnd,
  bucketRange,
  bucketStart,
  type AggregateFunction,
  type BucketInterval,
  type FillMode,
  type SeriesBucket,
} from '../domain/telemetry/buckets.ts';

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
  count: number;
  sum: number | null;
  min: number | null;
  max: number | null;
  first: number | null;
  last: number | null;
}

/** The SQL bucket key for an interval; `$5` is the time zone. Mirrors `label` and `offsetInKey` in buckets.ts. */
function bucketKeySql(interval: BucketInterval): string {
  const local = `(p.ts AT TIME ZONE $5::text)`;
  const offset = `(${local} - (p.ts AT TIME ZONE 'UTC'))`;
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
 * The buckets each device has, per metric: one SQL statement for all `deviceUuids`. The result is in
 * the order of `deviceUuids`, each with one entry per metric in `key.metrics` order.
 *
 * @param range the buckets of `[from, to)`, from `seriesRange` (computed once per argument set).
 */
export async function loadSeries(query: RawQuery, deviceUuids: readonly string[], key: SeriesKey, range: SeriesRange): Promise<MetricSeries[][]> {
  const want = new Set(key.aggregates);
  const needSum = want.has('sum') || want.has('avg');
  const rows = await query<GroupRow>(
    `WITH g AS (
       SELECT p."deviceId" AS device_id, p.metric, min(p.ts) AS t0, max(p.ts) AS t1, count(*)::int AS count
              ${needSum ? ', sum(p.value ORDER BY p.ts) AS sum' : ', NULL::float8 AS sum'}
              ${want.has('min') ? ', min(p.value) AS min' : ', NULL::float8 AS min'}
              ${want.has('max') ? ', max(p.value) AS max' : ', NULL::float8 AS max'}
         FROM "TelemetryPoint" p
        WHERE p."deviceId" = ANY(string_to_array($1, ',')::uuid[])
          AND p.metric = ANY(string_to_array($2, ',')::text[])
          AND p.ts >= $3::timestamptz AND p.ts < $4::timestamptz
        GROUP BY p."deviceId", p.metric, ${bucketKeySql(key.interval)}
     )
     SELECT g.device_id::text AS device, g.metric, (extract(epoch FROM g.t0) * 1000)::float8 AS t0, g.count, g.sum, g.min, g.max,
            ${want.has('first') ? 'f.value' : 'NULL::float8'} AS first, ${want.has('last') ? 'l.value' : 'NULL::float8'} AS last
       FROM g
       ${want.has('first') ? 'JOIN "TelemetryPoint" f ON f."deviceId" = g.device_id AND f.metric = g.metric AND f.ts = g.t0' : ''}
       ${want.has('last') ? 'JOIN "TelemetryPoint" l ON l."deviceId" = g.device_id AND l.metric = g.metric AND l.ts = g.t1' : ''}`,
    deviceUuids.join(','),
    key.metrics.join(','),
    new Date(key.from).toISOString(),
    new Date(key.to).toISOString(),
    key.timeZone,
  );

  // device → metric → bucket start → values
  const groups = new Map<string, Map<string, Map<number, SeriesBucket['values']>>>();
  for (const row of rows) {
    let byMetric = groups.get(row.device);
    if (!byMetric) groups.set(row.device, (byMetric = new Map()));
    let byStart = byMetric.get(row.metric);
    if (!byStart) byMetric.set(row.metric, (byStart = new Map()));
    const count = Number(row.count);
    const sum = row.sum === null ? null : Number(row.sum);
    const values: SeriesBucket['values'] = {};
    for (const a of key.aggregates) {
      if (a === 'count') values.count = count;
      else if (a === 'avg') values.avg = sum! / count;
      else {
        const v = a === 'sum' ? sum : row[a];
        values[a] = v === null ? null : Number(v);
      }
    }
    byStart.set(range.startOf(Number(row.t0)), values);
  }

  return deviceUuids.map((uuid) =>
    key.metrics.map((metric) => ({ metric, buckets: assemble(groups.get(uuid)?.get(metric) ?? new Map(), key, range) })),
  );
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
