/**
 * Telemetry rollups in SQL: the fold that the ingest statement runs over the rows it actually inserted,
 * and a rebuild from raw rows (for data stored before rollups existed, and for the benchmark's seed).
 * What the grains are and when a series may read them: src/domain/telemetry/rollups.ts.
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
import type { Database } from '../db/client.ts';
import { ROLLUP_GRAINS } from '../domain/telemetry/rollups.ts';

/**
 * CTEs (to append after a `WITH …` list, starting with a comma) that fold the rows of the CTE `source`
 * (columns "deviceId", metric, ts, value) into "TelemetryRollup" at every grain. The finest grain is
 * computed from the rows, the coarser ones from the finest (fewer rows to sort).
 */
export function rollupFoldSql(source: string): string {
  const [finest, ...coarser] = ROLLUP_GRAINS;
  // Every ordered aggregate of a level uses the same order (ts; bucket, which orders the parts' points
  // too), so the rows are sorted once per level and the last value is the last element.
  return `, rollup_parts AS (
         SELECT "deviceId", metric, date_bin(interval '${finest} seconds', ts, timestamptz 'epoch') AS bucket,
                count(*)::int AS count, sum(value ORDER BY ts) AS sum, min(value) AS min, max(value) AS max,
                min(ts) AS first_ts, (array_agg(value ORDER BY ts))[1] AS first,
                max(ts) AS last_ts, (array_agg(value ORDER BY ts))[count(*)] AS last
           FROM ${source}
          GROUP BY 1, 2, 3
       ), rollup_rows AS (
         SELECT "deviceId", metric, ${finest} AS grain, bucket, count, sum, min, max, first_ts, first, last_ts, last FROM rollup_parts
         UNION ALL
         SELECT p."deviceId", p.metric, g.grain, date_bin(g.grain * interval '1 second', p.bucket, timestamptz 'epoch'),
                sum(p.count)::int, sum(p.sum ORDER BY p.bucket), min(p.min), max(p.max),
                min(p.first_ts), (array_agg(p.first ORDER BY p.bucket))[1],
                max(p.last_ts), (array_agg(p.last ORDER BY p.bucket))[count(*)]
           FROM rollup_parts p CROSS JOIN (VALUES ${coarser.map((g) => `(${g})`).join(', ')}) AS g(grain)
          GROUP BY 1, 2, 3, 4
       ), rollups AS (
         INSERT INTO "TelemetryRollup" AS r ("deviceId", metric, grain, bucket, count, sum, min, max, "firstTs", first, "lastTs", last)
         SELECT "deviceId", metric, grain, bucket, count, sum, min, max, first_ts, first, last_ts, last
           FROM rollup_rows
          ORDER BY "deviceId", metric, grain, bucket
         ON CONFLICT ("deviceId", metric, grain, bucket) DO UPDATE SET
           count = r.count + EXCLUDED.count,
           sum = r.sum + EXCLUDED.sum,
           min = LEAST(r.min, EXCLUDED.min),
           max = GREATEST(r.max, EXCLUDED.max),
           "firstTs" = LEAST(r."firstTs", EXCLUDED."firstTs"),
           first = CASE WHEN EXCLUDED."firstTs" < r."firstTs" THEN EXCLUDED.first ELSE r.first END,
           "lastTs" = GREATEST(r."lastTs", EXCLUDED."lastTs"),
           last = CASE WHEN EXCLUDED."lastTs" > r."lastTs" THEN EXCLUDED.last ELSE r.last END
       )`;
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
