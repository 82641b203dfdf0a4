/**
 * Telemetry rollups in SQL: the fold that the ingest statement runs over the rows it actually inserted,
 * the settling that derives hourly and daily rollups from the 15-minute ones, and a rebuild from raw rows
 * (for data stored before rollups existed, and for the benchmark's seed). What the grains are and when a
 * series may read them: src/domain/telemetry/rollups.ts.
 *
 * Why ingest folds only the 15-minute grain: folding all three grains per batch made the ingest statement
 * ≈ 1.5× slower on PostgreSQL (each batch upserts every device's hourly and daily rows again). Instead the
 * statement marks the (device, hour) pairs it touched in "TelemetryRollupDirty", and `settle` derives
 * those hours (and their days) from the 15-minute rows: in the background every
 * TELEMETRY_ROLLUP_SETTLE_INTERVAL_MS, and for the devices of a series before it reads hourly or daily
 * rollups — so a series always sees every point stored before it started (read-your-writes).
 *
 * Settling is race-free without holding locks against the ingest path, and without a multi-statement
 * transaction (PGlite 0.4 can wedge at 100 % CPU inside the COMMIT of a large explicit transaction; seen
 * in bench:ingest): the ingest statement bumps its marks' `version`; `settle` reads the marks, derives
 * their hours and days (later statements, so newer snapshots), and then deletes only the marks still at
 * the version it read. A batch stored meanwhile bumped the version and keeps its hour dirty; a crash
 * in between leaves the marks, and deriving again is idempotent (it replaces). Settles never overlap —
 * an in-process queue, plus a PostgreSQL advisory lock between instances — so an older derivation can
 * never overwrite a newer one.
 *
 * Correctness under replays, reordering and concurrency:
 * - Only rows returned by `INSERT … ON CONFLICT DO NOTHING RETURNING` are folded, so a replayed point
 *   (already stored) adds nothing.
 * - The fold is commutative: count and sum add, min/max take the extreme, and first/last keep the
 *   value with the smaller/larger ts (ts is unique per device and metric, so there are no ties). Points
 *   may therefore arrive in any order, in catch-up arrays or from two server instances at once:
 *   `INSERT … ON CONFLICT DO UPDATE` updates each rollup row atomically, and a second writer waits for
 *   the first one's row lock, then folds into its result.
 * - Rows are upserted in key order, so two batches touching the same rollup rows lock them in the same
 *   order and cannot deadlock each other on them.
 * - Sums are float8 added in arrival order. They equal the sum over raw rows exactly when every partial
 *   sum is exactly representable (integers, or values with few binary digits); otherwise they can differ
 *   in the last bits, as any re-association of floating-point addition can.
 */
import type { TelemetryConfig } from '../config.ts';
import type { Database, SqlSession } from '../db/client.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { periodic } from '../periodic.ts';
import { ROLLUP_GRAINS } from '../domain/telemetry/rollups.ts';

/** The grain ingest folds into; the coarser ones are derived from it by `settle`. */
const [FINEST, HOUR_GRAIN, DAY_GRAIN] = ROLLUP_GRAINS;

/** Upsert of rollup rows (columns as in `rollup_rows`), key-ordered; `merge` adds to, `replace` overwrites existing rows. */
function upsertRollupsSql(from: string, mode: 'merge' | 'replace'): string {
  const set =
    mode === 'merge'
      ? `count = r.count + EXCLUDED.count,
           sum = r.sum + EXCLUDED.sum,
           min = LEAST(r.min, EXCLUDED.min),
           max = GREATEST(r.max, EXCLUDED.max),
           "firstTs" = LEAST(r."firstTs", EXCLUDED."firstTs"),
           first = CASE WHEN EXCLUDED."firstTs" < r."firstTs" THEN EXCLUDED.first ELSE r.first END,
           "lastTs" = GREATEST(r."lastTs", EXCLUDED."lastTs"),
           last = CASE WHEN EXCLUDED."lastTs" > r."lastTs" THEN EXCLUDED.last ELSE r.last END`
      : `count = EXCLUDED.count, sum = EXCLUDED.sum, min = EXCLUDED.min, max = EXCLUDED.max,
           "firstTs" = EXCLUDED."firstTs", first = EXCLUDED.first, "lastTs" = EXCLUDED."lastTs", last = EXCLUDED.last`;
  return `INSERT INTO "TelemetryRollup" AS r ("deviceId", metric, grain, bucket, count, sum, min, max, "firstTs", first, "lastTs", last)
         SELECT "deviceId", metric, grain, bucket, count, sum, min, max, first_ts, first, last_ts, last
           FROM ${from}
          ORDER BY "deviceId", metric, grain, bucket
         ON CONFLICT ("deviceId", metric, grain, bucket) DO UPDATE SET
           ${set}`;
}

/** The finest grain's parts of the rows of `source` (columns "deviceId", metric, ts, value). */
function finestPartsSql(source: string): string {
  // One sort and window aggregates over whole buckets, then one row per bucket: ordered aggregates
  // (`sum(value ORDER BY ts)`, `array_agg(… ORDER BY ts)`) sorted every group on its own, which cost the
  // ingest statement ≈ 8 % more on PostgreSQL 15. Sums still add in ts order (the window is ordered).
  return `rollup_parts AS (
         SELECT DISTINCT ON ("deviceId", metric, bucket) "deviceId", metric, bucket,
                (count(*) OVER w)::int AS count, sum(value) OVER w AS sum, min(value) OVER w AS min, max(value) OVER w AS max,
                first_value(ts) OVER w AS first_ts, first_value(value) OVER w AS first,
                last_value(ts) OVER w AS last_ts, last_value(value) OVER w AS last
           FROM (SELECT "deviceId", metric, date_bin(interval '${FINEST} seconds', ts, timestamptz 'epoch') AS bucket, ts, value
                   FROM ${source}) AS s
         WINDOW w AS (PARTITION BY "deviceId", metric, bucket ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
          ORDER BY "deviceId", metric, bucket
       )`;
}

/**
 * Coarser rollups from finer ones: `parts` has the columns of a rollup row; buckets of `grain` seconds.
 * Sums add in bucket order, first/last come from the earliest/latest part.
 */
function coarserSql(parts: string, grain: string): string {
  return `SELECT p."deviceId", p.metric, ${grain} AS grain, date_bin(${grain} * interval '1 second', p.bucket, timestamptz 'epoch') AS bucket,
                sum(p.count)::int AS count, sum(p.sum ORDER BY p.bucket) AS sum, min(p.min) AS min, max(p.max) AS max,
                min(p.first_ts) AS first_ts, (array_agg(p.first ORDER BY p.bucket))[1] AS first,
                max(p.last_ts) AS last_ts, (array_agg(p.last ORDER BY p.bucket))[count(*)] AS last
           FROM ${parts} p
          GROUP BY 1, 2, 3, 4`;
}

/**
 * CTEs for the ingest statement (to append after a `WITH …` list, starting with a comma): fold the rows
 * of the CTE `source` (columns "deviceId", metric, ts, value) into the 15-minute grain, and mark the
 * hours they fall in dirty for `settle`.
 */
export function ingestRollupSql(source: string): string {
  return `, ${finestPartsSql(source)}, rollup_rows AS (
         SELECT "deviceId", metric, ${FINEST} AS grain, bucket, count, sum, min, max, first_ts, first, last_ts, last FROM rollup_parts
       ), rollups AS (
         ${upsertRollupsSql('rollup_rows', 'merge')}
       ), rollup_dirty AS (
         INSERT INTO "TelemetryRollupDirty" ("deviceId", hour)
         SELECT DISTINCT "deviceId", date_bin(interval '${HOUR_GRAIN} seconds', bucket, timestamptz 'epoch') FROM rollup_parts
          ORDER BY 1, 2
         -- A new version even when the mark exists: a settle that read the old one must not delete it.
         ON CONFLICT ("deviceId", hour) DO UPDATE SET version = "TelemetryRollupDirty".version + 1
       )`;
}

/**
 * CTEs folding the rows of `source` into every grain at once (to append after a `WITH …` list, starting
 * with a comma): the rebuild from raw rows. The coarser grains are computed from the finest (fewer rows to sort).
 */
export function rollupFoldSql(source: string): string {
  return `, ${finestPartsSql(source)}, rollup_rows AS (
         SELECT "deviceId", metric, ${FINEST} AS grain, bucket, count, sum, min, max, first_ts, first, last_ts, last FROM rollup_parts
         UNION ALL
         ${coarserSql('rollup_parts', 'g.grain').replace(
           'FROM rollup_parts p',
           `FROM rollup_parts p CROSS JOIN (VALUES (${HOUR_GRAIN}), (${DAY_GRAIN})) AS g(grain)`,
         )}
       ), rollups AS (
         ${upsertRollupsSql('rollup_rows', 'merge')}
       )`;
}

/**
 * The `grain` rollup rows inside each span of `spans` (a query with columns device, start; spans are
 * `span` seconds long), as parts for `coarserSql`. The device's metrics come from its latest values
 * (every metric ever stored has one), so each (device, metric) is one range scan of the rollup key —
 * a plain join would let a planner without statistics (PGlite never analyzes) scan the whole table.
 */
function partsOfSql(spans: string, grain: number, span: number): string {
  return `SELECT q."deviceId", q.metric, q.bucket, q.count, q.sum, q.min, q.max, q."firstTs" AS first_ts, q.first, q."lastTs" AS last_ts, q.last
               FROM (${spans}) AS t
               JOIN "TelemetryLatest" l ON l."deviceId" = t.device
               CROSS JOIN LATERAL (
                 SELECT * FROM "TelemetryRollup" r
                  WHERE r."deviceId" = t.device AND r.metric = l.metric AND r.grain = ${grain}
                    AND r.bucket >= t.start AND r.bucket < t.start + interval '${span} seconds'
               ) q`;
}

/** Marks taken per settle transaction (bounds its locks and memory). */
const SETTLE_BATCH = 5000;

export interface SettleOptions {
  /** Only these devices' marks (a series about to read them); all devices when omitted. */
  deviceUuids?: readonly string[];
  /** Hours before this (epoch ms) are not derived, only unmarked: their 15-minute rows may be gone to retention. */
  hourCutoff?: number;
  /** Days before this are not derived: their hourly rows may be gone to retention. */
  dayCutoff?: number;
}

/** Any fixed key: the PostgreSQL advisory lock that keeps settles of several instances apart. */
const SETTLE_LOCK_KEY = 0x646f7070; // 'dopp'

/** Settles of this process, one after another (PGlite has one session, so its advisory locks never exclude). */
let settleQueue: Promise<unknown> = Promise.resolve();

/**
 * Derives the hourly and daily rollups of every dirty hour (of the given devices) from its 15-minute
 * rollups, replacing what was there, and deletes the marks that did not change meanwhile. Batches of
 * `SETTLE_BATCH` marks.
 *
 * @returns the marks settled.
 */
export function settleRollups(database: Pick<Database, 'withSession'>, options: SettleOptions = {}): Promise<number> {
  const run = settleQueue.then(() => database.withSession((session) => settleLocked(session, options)));
  settleQueue = run.catch(() => undefined);
  return run;
}

async function settleLocked(session: SqlSession, options: SettleOptions): Promise<number> {
  const devices = options.deviceUuids ? [...options.deviceUuids] : null;
  const hourCutoff = new Date(options.hourCutoff ?? 0).toISOString();
  const dayCutoff = new Date(options.dayCutoff ?? 0).toISOString();
  await session.query('SELECT pg_advisory_lock($1)', [SETTLE_LOCK_KEY]);
  try {
    let settled = 0;
    let after: { deviceId: string; hour: string } | null = null;
    for (;;) {
      const marks: Array<{ deviceId: string; hour: Date | string; version: string }> = await session.query(
        `SELECT "deviceId"::text AS "deviceId", hour, version::text AS version FROM "TelemetryRollupDirty"
          WHERE ($1::uuid[] IS NULL OR "deviceId" = ANY($1::uuid[]))
            AND ($2::uuid IS NULL OR ("deviceId", hour) > ($2::uuid, $3::timestamptz))
          ORDER BY "deviceId", hour LIMIT ${SETTLE_BATCH}`,
        [devices, after?.deviceId ?? null, after?.hour ?? null],
      );
      if (marks.length === 0) return settled;
      const uuids = marks.map((m) => m.deviceId);
      const hours = marks.map((m) => new Date(m.hour).toISOString());
      await session.query(
        `WITH parts AS (${partsOfSql(`SELECT device, hour AS start FROM unnest($1::uuid[], $2::timestamptz[]) AS t(device, hour) WHERE hour >= $3::timestamptz`, FINEST, HOUR_GRAIN)}),
         hourly AS (${coarserSql('parts', String(HOUR_GRAIN))})
         ${upsertRollupsSql('hourly', 'replace')}`,
        [uuids, hours, hourCutoff],
      );
      await session.query(
        `WITH parts AS (${partsOfSql(
          `SELECT DISTINCT device, date_bin(interval '${DAY_GRAIN} seconds', hour, timestamptz 'epoch') AS start
             FROM unnest($1::uuid[], $2::timestamptz[]) AS t(device, hour)
            WHERE date_bin(interval '${DAY_GRAIN} seconds', hour, timestamptz 'epoch') >= $3::timestamptz`,
          HOUR_GRAIN,
          DAY_GRAIN,
        )}),
         daily AS (${coarserSql('parts', String(DAY_GRAIN))})
         ${upsertRollupsSql('daily', 'replace')}`,
        [uuids, hours, dayCutoff],
      );
      await session.query(
        `DELETE FROM "TelemetryRollupDirty" d
          USING unnest($1::uuid[], $2::timestamptz[], $3::bigint[]) AS m(device, hour, version)
          WHERE d."deviceId" = m.device AND d.hour = m.hour AND d.version = m.version`,
        [uuids, hours, marks.map((m) => m.version)],
      );
      settled += marks.length;
      if (marks.length < SETTLE_BATCH) return settled;
      after = { deviceId: uuids[uuids.length - 1]!, hour: hours[hours.length - 1]! };
    }
  } finally {
    await session.query('SELECT pg_advisory_unlock($1)', [SETTLE_LOCK_KEY]);
  }
}

const DAY = 86_400_000;

/**
 * Recomputes the rollups of `[from, to)` (whole UTC days, so every grain's buckets are whole) from the
 * raw rows, with the same fold the ingest statement runs: one transaction per day, deleting the day's
 * rollups and folding its rows. For data stored before this table existed, and for seeding benchmarks.
 * Rebuild only days whose raw rows are still there: a day that raw retention emptied would lose its
 * rollups.
 *
 * @returns rollup rows written.
 */
export async function rebuildRollups(
  database: Pick<Database, 'withSession'>,
  options: { from: number; to: number; deviceUuids?: readonly string[] },
): Promise<number> {
  const from = Math.floor(options.from / DAY) * DAY;
  const to = Math.ceil(options.to / DAY) * DAY;
  const devices = options.deviceUuids ? [...options.deviceUuids] : null;
  let written = 0;
  for (let day = from; day < to; day += DAY) {
    const [a, b] = [new Date(day).toISOString(), new Date(day + DAY).toISOString()];
    written += await database.withSession((session) =>
      session.transaction(async (tx) => {
        await tx.query(
          `DELETE FROM "TelemetryRollup" WHERE bucket >= $1::timestamptz AND bucket < $2::timestamptz
              AND ($3::uuid[] IS NULL OR "deviceId" = ANY($3::uuid[]))`,
          [a, b, devices],
        );
        const rows = await tx.query<{ n: number }>(
          `WITH source AS (
             SELECT "deviceId", metric, ts, value FROM "TelemetryPoint"
              WHERE ts >= $1::timestamptz AND ts < $2::timestamptz AND ($3::uuid[] IS NULL OR "deviceId" = ANY($3::uuid[]))
           ) ${rollupFoldSql('source')}
           SELECT count(*)::int AS n FROM rollup_rows`,
          [a, b, devices],
        );
        return Number(rows[0]?.n ?? 0);
      }),
    );
  }
  return written;
}

export const ROLLUP_SETTLED_METRIC = 'doppel_telemetry_rollup_hours_settled_total';
export const ROLLUP_SETTLE_FAILURES_METRIC = 'doppel_telemetry_rollup_settle_failures_total';

export interface RollupSettlerOptions {
  database: Pick<Database, 'withSession' | 'sql'>;
  logger: Logger;
  metrics: Metrics;
  config: Pick<TelemetryConfig, 'rollupSettleIntervalMs' | 'rollupRetentionDays'>;
  now?: () => number;
}

/**
 * Keeps hourly and daily rollups current: settles every dirty hour in the background, and the dirty
 * hours of given devices on demand (a series about to read hourly or daily rollups).
 */
export function createRollupSettler(options: RollupSettlerOptions) {
  const { database, logger, metrics, config } = options;
  const now = options.now ?? Date.now;
  metrics.describe(ROLLUP_SETTLED_METRIC, 'Dirty (device, hour) marks whose hourly and daily rollups were derived, by trigger (background, read).');
  metrics.describe(ROLLUP_SETTLE_FAILURES_METRIC, 'Background rollup settles that failed (retried on the next tick).');
  /** Retention of a grain, as the earliest time it still holds (0: forever). */
  const horizon = (days: number) => (days > 0 ? now() - days * DAY : 0);

  async function settle(deviceUuids?: readonly string[]): Promise<number> {
    // The common case on the read path: nothing dirty for these devices — one cheap probe, no lock.
    if (deviceUuids) {
      const dirty = await database.sql.query(`SELECT 1 FROM "TelemetryRollupDirty" WHERE "deviceId" = ANY($1::uuid[]) LIMIT 1`, [[...deviceUuids]]);
      if (dirty.length === 0) return 0;
    }
    const n = await settleRollups(database, {
      ...(deviceUuids ? { deviceUuids } : {}),
      hourCutoff: horizon(config.rollupRetentionDays[FINEST]),
      dayCutoff: horizon(config.rollupRetentionDays[HOUR_GRAIN]),
    });
    if (n > 0) metrics.inc(ROLLUP_SETTLED_METRIC, { trigger: deviceUuids ? 'read' : 'background' }, n);
    return n;
  }

  const job = periodic({
    intervalMs: config.rollupSettleIntervalMs,
    run: () => settle(),
    onError: (error) => {
      metrics.inc(ROLLUP_SETTLE_FAILURES_METRIC);
      logger.warn({ err: error }, 'settling rollups failed; retrying on the next tick');
    },
  });

  return {
    /** Derives the dirty hours of these devices (all devices when omitted) now. */
    settle,
    start: job.start,
    /** Stops the timer and waits for the settle in flight. */
    stop: job.stop,
  };
}

export type RollupSettler = ReturnType<typeof createRollupSettler>;
