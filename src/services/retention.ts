/**
 * Retention: telemetry (docs/telemetry.md) and the change history (docs/operations.md, "History
 * retention"). Each deletes rows older than their configured age, in the background, in bounded batches.
 *
 * Telemetry: raw points and rollup rows.
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
import type { HistoryRetentionConfig, TelemetryConfig } from '../config.ts';
import type { SqlExecutor } from '../db/client.ts';
import { FINAL_STATUSES } from '../domain/commands/state-machine.ts';
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

  const count = (text: string, params: unknown[]) => countDeleted(sql, text, params);

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

  return createSweeper({
    name: 'telemetry retention',
    targets,
    batchRows: config.retentionBatchRows,
    intervalMs: config.retentionIntervalMs,
    now,
    logger,
    metrics,
    metricNames: TELEMETRY_METRICS,
  });
}

const TELEMETRY_METRICS = { deleted: RETENTION_DELETED_METRIC, batches: RETENTION_BATCHES_METRIC, failures: RETENTION_FAILURES_METRIC };

/** Runs one DELETE and returns how many rows it removed. */
async function countDeleted(sql: SqlExecutor, text: string, params: unknown[]): Promise<number> {
  const rows = await sql.query<{ n: number }>(`WITH d AS (${text} RETURNING 1) SELECT count(*)::int AS n FROM d`, params);
  return Number(rows[0]?.n ?? 0);
}

interface SweeperOptions {
  /** For logs. */
  name: string;
  targets: Target[];
  batchRows: number;
  intervalMs: number;
  now: () => number;
  logger: Logger;
  metrics: Metrics;
  metricNames: { deleted: string; batches: string; failures: string };
}

/** Sweeps every target in batches of `batchRows` until a batch comes back short; on `periodic()`. */
function createSweeper(options: SweeperOptions) {
  const { name, targets, batchRows, logger, metrics, now, metricNames } = options;
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
        const n = await target.deleteBatch(cutoff, batchRows);
        metrics.inc(metricNames.batches, { table: target.name });
        if (n > 0) metrics.inc(metricNames.deleted, { table: target.name }, n);
        total += n;
        if (n < batchRows) break;
        // Let queued ingest and queries run between batches.
        await new Promise((r) => setImmediate(r));
      }
      result[target.name] = total;
    }
    if (Object.values(result).some((n) => n > 0)) logger.info({ deleted: result }, `${name} sweep`);
    return result;
  }

  /** One sweep now (or the one already running). */
  function runOnce(): Promise<SweepResult> {
    running ??= sweep().finally(() => {
      running = undefined;
    });
    return running;
  }

  // A first sweep soon after start, then every `intervalMs`.
  const job = periodic({
    intervalMs: options.intervalMs,
    firstDelayMs: Math.min(5_000, options.intervalMs),
    run: runOnce,
    onError: (error) => {
      metrics.inc(metricNames.failures);
      logger.warn({ err: error }, `${name} sweep failed; retrying on the next tick`);
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

export const HISTORY_RETENTION_DELETED_METRIC = 'doppel_history_retention_deleted_rows_total';
export const HISTORY_RETENTION_BATCHES_METRIC = 'doppel_history_retention_batches_total';
export const HISTORY_RETENTION_FAILURES_METRIC = 'doppel_history_retention_failures_total';

export interface HistoryRetentionOptions {
  sql: SqlExecutor;
  logger: Logger;
  metrics: Metrics;
  config: HistoryRetentionConfig;
  now?: () => number;
}

/**
 * One batch of an append-only table's rows older than the cutoff, picked by ctid through the BRIN index
 * on "createdAt" (as telemetry's raw rows are); the age is checked again on the row itself.
 */
function olderThanSql(table: string): string {
  return `DELETE FROM "${table}"
           WHERE ctid = ANY(ARRAY(SELECT ctid FROM "${table}" WHERE "createdAt" < $1::timestamptz LIMIT $2::int))
             AND "createdAt" < $1::timestamptz`;
}

/**
 * History retention (docs/operations.md, "History retention"): twin changes (TwinChange), final commands
 * and audit events older than their configured age; off by default (0 days: kept forever).
 *
 * - TwinChange: a `twinChanged` resume whose versions were deleted is answered RESYNC_REQUIRED
 *   (src/domain/twin-changed-replay.ts checks that the log holds every version it replays).
 * - Command: only final ones (a live command is never deleted, however old), aged by when they ended
 *   (`updatedAt`: a final command never changes again), and not members of a fleet command, whose progress
 *   is counted from its members. Deleting a command frees its idempotency key.
 * - AuditEvent: by `createdAt`.
 */
export function createHistoryRetention(options: HistoryRetentionOptions) {
  const { sql, logger, metrics, config } = options;
  const now = options.now ?? Date.now;
  metrics.describe(HISTORY_RETENTION_DELETED_METRIC, 'History rows deleted by retention, by table (twin_change, command, audit_event).');
  metrics.describe(HISTORY_RETENTION_BATCHES_METRIC, 'History retention DELETE statements run, by table.');
  metrics.describe(HISTORY_RETENTION_FAILURES_METRIC, 'History retention sweeps that failed (retried on the next tick).');
  const count = (text: string, params: unknown[]) => countDeleted(sql, text, params);
  const iso = (cutoff: number) => new Date(cutoff).toISOString();

  const targets = (
    [
      {
        name: 'twin_change',
        days: config.twinChangeDays,
        deleteBatch: (cutoff, limit) => count(olderThanSql('TwinChange'), [iso(cutoff), limit]),
      },
      {
        name: 'command',
        days: config.commandDays,
        // Through the (status, deviceId) index: only final commands are looked at. The conditions are checked
        // again on the row itself: the ctid list is only a way to bound the batch.
        deleteBatch: (cutoff, limit) =>
          count(
            `DELETE FROM "Command"
            WHERE ctid = ANY(ARRAY(SELECT ctid FROM "Command"
                                    WHERE status = ANY($3::text[]) AND "fleetCommandId" IS NULL AND "updatedAt" < $1::timestamptz
                                    LIMIT $2::int))
              AND status = ANY($3::text[]) AND "fleetCommandId" IS NULL AND "updatedAt" < $1::timestamptz`,
            [iso(cutoff), limit, [...FINAL_STATUSES]],
          ),
      },
      {
        name: 'audit_event',
        days: config.auditDays,
        deleteBatch: (cutoff, limit) => count(olderThanSql('AuditEvent'), [iso(cutoff), limit]),
      },
    ] satisfies Target[]
  ).filter((t) => t.days > 0);

  return createSweeper({
    name: 'history retention',
    targets,
    batchRows: config.batchRows,
    intervalMs: config.intervalMs,
    now,
    logger,
    metrics,
    metricNames: { deleted: HISTORY_RETENTION_DELETED_METRIC, batches: HISTORY_RETENTION_BATCHES_METRIC, failures: HISTORY_RETENTION_FAILURES_METRIC },
  });
}

export type HistoryRetention = ReturnType<typeof createHistoryRetention>;
