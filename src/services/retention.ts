/**
 * Telemetry retention (docs/telemetry.md): deletes raw points and rollup rows older than their configured
 * age, in the background, in bounded batches.
 *
 * Each DELETE removes at most `retentionBatchRows` rows (picked by ctid through the BRIN index on the
 * time column), so no statement holds locks or writes WAL for long, and ingest statements — which on
 * PGlite share the one connection — interleave with the sweep instead of waiting behind one huge
 * delete. Raw rows and each rollup grain have their own age: deleting raw rows never touches rollups,
 * which is what lets long series outlive the raw data. Two instances may sweep at once: a row picked by
 * both is deleted once, and the other DELETE just counts it as gone.
 *
 * Nothing runs until `start()`; `stop()` ends the timer and waits for the batch in flight.
 */
import type { TelemetryConfig } from '../config.ts';
import type { SqlExecutor } from '../db/client.ts';
import { GRAIN_NAMES, ROLLUP_GRAINS, type RollupGrain } from '../domain/telemetry/rollups.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { periodic } from '../periodic.ts';

export const RETENTION_DELETED_METRIC = 'doppel_telemetry_retention_deleted_rows_total';
export const RETENTION_BATCHES_METRIC = 'doppel_telemetry_retention_batches_total';
export const RETENTION_FAILURES_METRIC = 'doppel_telemetry_retention_failures_total';

export interface TelemetryRetentionOptions {
  sql: SqlExecutor;
  logger: Logger;
  metrics: Metrics;
  config: Pick<TelemetryConfig, 'rawRetentionDays' | 'rollupRetentionDays' | 'retentionIntervalMs' | 'retentionBatchRows'>;
  now?: () => number;
}

/** What one sweep deleted, by target (`raw`, `rollup_15m`, `rollup_1h`, `rollup_1d`). */
export type SweepResult = Record<string, number>;

const DAY = 86_400_000;

interface Target {
  name: string;
  days: number;
  /** Deletes one batch older than `cutoff`; returns the rows deleted. */
  deleteBatch(cutoff: number, limit: number): Promise<number>;
}

export function createTelemetryRetention(options: TelemetryRetentionOptions) {
  const { sql, logger, metrics, config } = options;
  const now = options.now ?? Date.now;
  metrics.describe(RETENTION_DELETED_METRIC, 'Telemetry rows deleted by retention, by table (raw, rollup_15m, rollup_1h, rollup_1d).');
  metrics.describe(RETENTION_BATCHES_METRIC, 'Retention DELETE statements run, by table.');
  metrics.describe(RETENTION_FAILURES_METRIC, 'Retention sweeps that failed (retried on the next tick).');

  const count = async (text: string, params: unknown[]): Promise<number> => {
    const rows = await sql.query<{ n: number }>(`WITH d AS (${text} RETURNING 1) SELECT count(*)::int AS n FROM d`, params);
    return Number(rows[0]?.n ?? 0);
  };

  const targets: Target[] = [
    {
      name: 'raw',
      days: config.rawRetentionDays,
      // `ts < cutoff` is checked again on the row itself: the ctid list is only a way to bound the batch.
      deleteBatch: (cutoff: number, limit: number) =>
        count(
          `DELETE FROM "TelemetryPoint"
            WHERE ctid = ANY(ARRAY(SELECT ctid FROM "TelemetryPoint" WHERE ts < $1::timestamptz LIMIT $2::int))
              AND ts < $1::timestamptz`,
          [new Date(cutoff).toISOString(), limit],
        ),
    },
    ...ROLLUP_GRAINS.map((grain: RollupGrain): Target => ({
      name: `rollup_${GRAIN_NAMES[grain]}`,
      days: config.rollupRetentionDays[grain],
      // A bucket goes once all of it is older than the cutoff.
      deleteBatch: (cutoff, limit) =>
        count(
          `DELETE FROM "TelemetryRollup"
              WHERE ctid = ANY(ARRAY(SELECT ctid FROM "TelemetryRollup" WHERE grain = $3::int AND bucket <= $1::timestamptz LIMIT $2::int))
                AND grain = $3::int AND bucket <= $1::timestamptz`,
          [new Date(cutoff - grain * 1000).toISOString(), limit, grain],
        ),
    })),
  ].filter((t) => t.days > 0);

  let running: Promise<SweepResult> | undefined;
  let stopped = false;

  async function sweep(): Promise<SweepResult> {
    const result: SweepResult = {};
    const at = now();
    for (const target of targets) {
      const cutoff = at - target.days * DAY;
      let total = 0;
      for (;;) {
        if (stopped) break;
        const n = await target.deleteBatch(cutoff, config.retentionBatchRows);
        metrics.inc(RETENTION_BATCHES_METRIC, { table: target.name });
        if (n > 0) metrics.inc(RETENTION_DELETED_METRIC, { table: target.name }, n);
        total += n;
        if (n < config.retentionBatchRows) break;
        // Let queued ingest and queries run between batches.
        await new Promise((r) => setImmediate(r));
      }
      result[target.name] = total;
    }
    if (Object.values(result).some((n) => n > 0)) logger.info({ deleted: result }, 'telemetry retention sweep');
    return result;
  }

  /** One sweep now (or the one already running). */
  function runOnce(): Promise<SweepResult> {
    running ??= sweep().finally(() => {
      running = undefined;
    });
    return running;
  }

  // A first sweep soon after start, then every `retentionIntervalMs`.
  const job = periodic({
    intervalMs: config.retentionIntervalMs,
    firstDelayMs: Math.min(5_000, config.retentionIntervalMs),
    run: runOnce,
    onError: (error) => {
      metrics.inc(RETENTION_FAILURES_METRIC);
      logger.warn({ err: error }, 'telemetry retention sweep failed; retrying on the next tick');
    },
  });

  return {
    /** Whether any retention is configured (nothing to sweep otherwise). */
    get enabled(): boolean {
      return targets.length > 0;
    },
    /** Starts sweeping in the background (nothing to do without retention). */
    start(): void {
      if (targets.length > 0) job.start();
    },
    runOnce,
    /** Stops the timer and waits for the batch in flight (the sweep ends after it). */
    async stop(): Promise<void> {
      stopped = true;
      await job.stop();
      await running?.catch(() => {});
    },
  };
}

export type TelemetryRetention = ReturnType<typeof createTelemetryRetention>;
