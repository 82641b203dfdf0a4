/**
 * Upkeep that PGlite does not do for itself. PostgreSQL has a checkpointer and autovacuum; PGlite runs
 * one backend in this process and neither of them:
 *
 * - **Checkpoints.** Once the WAL written since the last checkpoint nears `max_wal_size` (≈ 550 MB with
 *   PGlite 0.4's 1 GB), PostgreSQL asks the checkpointer process for one — which PGlite does not have —
 *   and PGlite 0.4 then sleeps in that request (a loop of `pg_usleep` under XLogFlush) on every commit:
 *   the process sits at 100 % CPU and the server stops answering. Found by `bench:ingest` (a 60 s
 *   sustained step stalled after ≈ 550 MB of WAL) and reproduced with plain PGlite inserts; a CHECKPOINT
 *   issued by us resets the distance and lets the WAL segments be recycled (they live in memory for
 *   `memory://`). So: a CHECKPOINT whenever `checkpointWalBytes` of WAL were written since the last one.
 * - **Vacuum and statistics.** Without autovacuum, rows updated in place (latest values, rollups, twins,
 *   dirty marks) leave dead versions behind forever, and the planner never gets statistics. A periodic
 *   `VACUUM (ANALYZE)` of those tables bounds both.
 *
 * Each statement blocks the event loop while PGlite runs it (it is synchronous WASM): a checkpoint of
 * 64 MB of WAL takes tens of milliseconds, a vacuum of the hot tables about as long.
 */
import type { EmbeddedMaintenanceConfig } from '../config.ts';
import type { SqlExecutor } from './client.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { periodic } from '../periodic.ts';

export const EMBEDDED_CHECKPOINTS_METRIC = 'doppel_embedded_checkpoints_total';
export const EMBEDDED_VACUUMS_METRIC = 'doppel_embedded_vacuums_total';
export const EMBEDDED_MAINTENANCE_FAILURES_METRIC = 'doppel_embedded_maintenance_failures_total';

/** Tables updated in place on the hot paths. */
const HOT_TABLES = ['"TelemetryLatest"', '"TelemetryRollup"', '"TelemetryRollupDirty"', '"Twin"', '"Device"', '"Command"'];

export interface EmbeddedMaintenanceOptions {
  sql: SqlExecutor;
  logger: Logger;
  metrics: Metrics;
  config: EmbeddedMaintenanceConfig;
  now?: () => number;
}

export function createEmbeddedMaintenance(options: EmbeddedMaintenanceOptions) {
  const { sql, logger, metrics, config } = options;
  const now = options.now ?? Date.now;
  metrics.describe(EMBEDDED_CHECKPOINTS_METRIC, 'CHECKPOINTs the server ran on its embedded database (PGlite has no checkpointer).');
  metrics.describe(EMBEDDED_VACUUMS_METRIC, 'VACUUM (ANALYZE) passes over the hot tables of the embedded database (PGlite has no autovacuum).');
  metrics.describe(EMBEDDED_MAINTENANCE_FAILURES_METRIC, 'Embedded database upkeep that failed (retried on the next tick).');
  let lastVacuum = now();

  /** WAL bytes written since the last checkpoint began. */
  async function walSinceCheckpoint(): Promise<number> {
    const rows = await sql.query<{ bytes: number }>(`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), redo_lsn)::float8 AS bytes FROM pg_control_checkpoint()`);
    return Number(rows[0]?.bytes ?? 0);
  }

  /** One round: a checkpoint if the WAL distance calls for one, a vacuum if it is due. */
  async function tick(): Promise<{ checkpoint: boolean; vacuum: boolean }> {
    const done = { checkpoint: false, vacuum: false };
    if ((await walSinceCheckpoint()) >= config.checkpointWalBytes) {
      await sql.query('CHECKPOINT');
      metrics.inc(EMBEDDED_CHECKPOINTS_METRIC);
      done.checkpoint = true;
    }
    if (config.vacuumIntervalMs > 0 && now() - lastVacuum >= config.vacuumIntervalMs) {
      lastVacuum = now();
      const started = now();
      await sql.query(`VACUUM (ANALYZE) ${HOT_TABLES.join(', ')}`);
      metrics.inc(EMBEDDED_VACUUMS_METRIC);
      logger.debug({ ms: now() - started }, 'vacuumed the hot tables of the embedded database');
      done.vacuum = true;
    }
    return done;
  }

  const job = periodic({
    intervalMs: config.checkIntervalMs,
    run: tick,
    onError: (error) => {
      metrics.inc(EMBEDDED_MAINTENANCE_FAILURES_METRIC);
      logger.warn({ err: error }, 'embedded database upkeep failed; retrying on the next tick');
    },
  });

  return {
    tick,
    walSinceCheckpoint,
    start: job.start,
    /** Stops the timer and waits for the round in flight. */
    stop: job.stop,
  };
}

export type EmbeddedMaintenance = ReturnType<typeof createEmbeddedMaintenance>;
