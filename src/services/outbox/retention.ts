/**
 * Outbox retention (docs/outbox.md "Retention"): deletes DELIVERED rows (their attempts go with them,
 * ON DELETE CASCADE) once older than WEBHOOK_RETENTION_DAYS, in bounded batches through the partial
 * index "Outbox_delivered_idx", repeating until none is left. PENDING and FAILED rows are never
 * touched: the status is checked on the row itself, not only in the batch's sub-select, so a row
 * redelivered meanwhile stays. Two instances may sweep at once; a row picked by both is deleted once.
 */
import type { SqlExecutor } from '../../db/client.ts';
import type { Logger } from '../../logger.ts';
import type { Metrics } from '../../metrics.ts';
import { periodic, type PeriodicJob } from '../../periodic.ts';

export const OUTBOX_PRUNED_METRIC = 'doppel_outbox_pruned_total';
export const OUTBOX_RETENTION_FAILURES_METRIC = 'doppel_outbox_retention_failures_total';

export interface OutboxRetentionOptions {
  sql: SqlExecutor;
  logger: Logger;
  metrics: Metrics;
  retentionDays: number;
  /** Rows per DELETE. */
  batchRows?: number;
  intervalMs?: number;
}

export interface OutboxRetention extends PeriodicJob {
  /** One sweep now; resolves with the rows deleted. */
  sweep(): Promise<number>;
}

export const DEFAULT_OUTBOX_RETENTION_BATCH = 2000;
const HOUR = 3_600_000;

export function createOutboxRetention(options: OutboxRetentionOptions): OutboxRetention {
  const { sql, logger, metrics } = options;
  const batchRows = options.batchRows ?? DEFAULT_OUTBOX_RETENTION_BATCH;
  metrics.describe(OUTBOX_PRUNED_METRIC, 'DELIVERED outbox rows deleted by retention.');
  metrics.describe(OUTBOX_RETENTION_FAILURES_METRIC, 'Outbox retention sweeps that failed (retried on the next tick).');

  async function sweep(): Promise<number> {
    let total = 0;
    for (;;) {
      const [row] = await sql.query<{ n: number }>(
        `WITH d AS (
           DELETE FROM "Outbox"
            WHERE id IN (SELECT id FROM "Outbox"
                          WHERE status = 'DELIVERED' AND "deliveredAt" < now() - $1::int * interval '1 day'
                          LIMIT $2::int)
              AND status = 'DELIVERED'
           RETURNING 1)
         SELECT count(*)::int AS n FROM d`,
        [options.retentionDays, batchRows],
      );
      const deleted = Number(row?.n ?? 0);
      total += deleted;
      if (deleted > 0) metrics.inc(OUTBOX_PRUNED_METRIC, {}, deleted);
      if (deleted < batchRows) return total;
    }
  }

  const job = periodic({
    intervalMs: options.intervalMs ?? HOUR,
    firstDelayMs: 60_000,
    run: sweep,
    onError: (error) => {
      metrics.inc(OUTBOX_RETENTION_FAILURES_METRIC);
      logger.warn({ err: error }, 'outbox retention failed; retrying on the next tick');
    },
  });
  return { ...job, sweep };
}
