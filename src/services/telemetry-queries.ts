/**
 * The telemetry read path of the API: pages of raw points and bucketed series (src/services/series.ts),
 * for one request. A page of devices asking each device for the same page or series costs one SQL
 * statement for the whole page, not one per device: calls with the same arguments in the same tick are
 * batched (DataLoader) and cached for the request.
 */
import DataLoader from 'dataloader';
import type { TelemetryConfig } from '../config.ts';
import { failed, ValidationError, type Failed } from '../domain/errors.ts';
import { ROLLUP_GRAINS } from '../domain/telemetry/rollups.ts';
import type { RollupSettler } from './rollups.ts';
import { loadSeries, seriesPlan, seriesRange, type MetricSeries, type RawQuery, type SeriesKey } from './series.ts';

/** One value as the API shows it; `ts` is epoch ms or a Date (rows read through Prisma). */
export interface TelemetryValue {
  metric: string;
  ts: number | Date;
  value: number;
  isBool: boolean;
}

/** Which raw points of one metric make a page. */
export interface PageKey {
  /** A valid metric name. */
  metric: string;
  /** Inclusive lower bound, epoch ms, or null. */
  lo: number | null;
  /** Exclusive upper bound, epoch ms, or null. */
  hi: number | null;
  limit: number;
  /** Newest first (a page before a cursor, or the last points). */
  descending: boolean;
}

export type SeriesOutcome = { ok: true; series: MetricSeries[] } | Failed<ValidationError>;

/** The reads of one request. Create one per request: it caches what it read. */
export interface TelemetryReader {
  /** Up to `key.limit` points of one device in `[lo, hi)`, in `key.descending` order. */
  page(deviceUuid: string, key: PageKey): Promise<TelemetryValue[]>;
  /**
   * A device's buckets, one entry per metric in `key.metrics` order. Reads rollups where the plan allows
   * (settling the device's hourly and daily ones first, so every point stored before is counted). Fails
   * when `[from, to)` has more than `seriesMaxBuckets` buckets.
   */
  series(deviceUuid: string, key: SeriesKey): Promise<SeriesOutcome>;
}

export interface TelemetryReaderOptions {
  /** The request's database access (Prisma's `$queryRawUnsafe`). */
  query: RawQuery;
  rollups: Pick<RollupSettler, 'settle'>;
  config: Pick<TelemetryConfig, 'seriesMaxBuckets' | 'seriesRollups' | 'rollupRetentionDays'>;
  now?: () => number;
}

interface RawRow {
  device: string;
  ts: number;
  value: number;
  is_bool: boolean;
}

export function createTelemetryReader(options: TelemetryReaderOptions): TelemetryReader {
  const { query, rollups, config } = options;
  const now = options.now ?? Date.now;
  const pageLoaders = new Map<string, DataLoader<string, TelemetryValue[]>>();
  // The bucket range is computed once per argument set too (it is the costly part in TypeScript), and so
  // is a refusal for too many buckets.
  const seriesLoaders = new Map<string, DataLoader<string, MetricSeries[]> | Failed<ValidationError>>();

  /** One statement for every device asking for this page: a LATERAL join using the (deviceId, metric, ts) key. */
  function loadPages(key: PageKey) {
    return async (uuids: readonly string[]): Promise<TelemetryValue[][]> => {
      const bound = (ms: number | null, open: string) => (ms === null ? open : new Date(ms).toISOString());
      const rows = await query<RawRow>(
        `SELECT d.id::text AS device, p.ts, p.value, p.is_bool
           FROM unnest(string_to_array($1, ',')::uuid[]) AS d(id)
           CROSS JOIN LATERAL (
             SELECT (extract(epoch FROM t.ts) * 1000)::float8 AS ts, t.value, t."isBool" AS is_bool
               FROM "TelemetryPoint" t
              WHERE t."deviceId" = d.id AND t.metric = $2 AND t.ts >= $3::timestamptz AND t.ts < $4::timestamptz
              ORDER BY t.ts ${key.descending ? 'DESC' : 'ASC'}
              LIMIT $5::int
           ) p`,
        uuids.join(','),
        key.metric,
        bound(key.lo, '-infinity'),
        bound(key.hi, 'infinity'),
        key.limit,
      );
      const grouped = new Map<string, TelemetryValue[]>(uuids.map((u) => [u, []]));
      for (const row of rows) grouped.get(row.device)?.push({ metric: key.metric, ts: Number(row.ts), value: Number(row.value), isBool: row.is_bool });
      return uuids.map((u) => grouped.get(u)!);
    };
  }

  function seriesLoader(key: SeriesKey): DataLoader<string, MetricSeries[]> | Failed<ValidationError> {
    const max = config.seriesMaxBuckets;
    try {
      const range = seriesRange(key, max);
      const plan = seriesPlan(key, range, { enabled: config.seriesRollups, retentionDays: config.rollupRetentionDays }, now());
      // Hourly and daily rollups lag the 15-minute ones until settled: settle these devices' first, so a
      // series sees every point stored before it started.
      const readsDerived = plan.some((s) => s.source === 'rollup' && s.grain !== ROLLUP_GRAINS[0]);
      return new DataLoader(async (uuids: readonly string[]) => {
        if (readsDerived) await rollups.settle(uuids);
        return loadSeries(query, uuids, key, range, plan);
      });
    } catch (error) {
      if (!(error instanceof RangeError)) throw error;
      return failed(new ValidationError(`[from, to) spans more than ${max} buckets of ${key.interval}; use a larger interval or a shorter range`, []));
    }
  }

  return {
    page(deviceUuid, key) {
      const id = JSON.stringify(key);
      let loader = pageLoaders.get(id);
      if (!loader) pageLoaders.set(id, (loader = new DataLoader(loadPages(key))));
      return loader.load(deviceUuid);
    },

    async series(deviceUuid, key) {
      const id = JSON.stringify(key);
      let loader = seriesLoaders.get(id);
      if (!loader) seriesLoaders.set(id, (loader = seriesLoader(key)));
      if (!(loader instanceof DataLoader)) return loader;
      return { ok: true, series: await loader.load(deviceUuid) };
    },
  };
}
