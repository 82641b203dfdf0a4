/**
 * Bounds the `DeadLetter` table in the background, like telemetry retention (../retention.ts): rows
 * received longer ago than `retentionDays` are deleted, resolved or not, and each tenant keeps at most
 * `maxPerTenant` rows, its oldest going first (rows of no tenant — messages of unknown devices — are
 * capped as one more group). Each DELETE removes at most BATCH_ROWS rows so it never holds locks long.
 * Two instances may sweep at once: a row deleted by one is simply not counted by the other.
 */
import type { DeadLettersConfig } from '../../config.ts';
import type { SqlExecutor } from '../../db/client.ts';
import type { Logger } from '../../logger.ts';
import type { Metrics } from '../../metrics.ts';
import { periodic } from '../../periodic.ts';

export const DEAD_LETTER_SWEPT_METRIC = 'doppel_dead_letters_swept_total';

const DAY = 86_400_000;
/** Rows one DELETE removes at most. */
export const BATCH_ROWS = 5000;

export interface DeadLetterRetentionOptions {
  sql: SqlExecutor;
  logger: Logger;
  metrics: Metrics;
  config: DeadLettersConfig;
  now: () => number;
}

/** Rows one sweep deleted: too old, and beyond a tenant's cap. */
export interface DeadLetterSweep {
  expired: number;
  overCap: number;
}

export interface DeadLetterRetention {
  /** Sweeps every `sweepIntervalMs` (a first sweep soon after start). */
  start(): void;
  /** One sweep now (or the one already running). */
  runOnce(): Promise<DeadLetterSweep>;
  /** Stops the timer and waits for the sweep in flight. */
  stop(): Promise<void>;
}

export function createDeadLetterRetention(options: DeadLetterRetentionOptions): DeadLetterRetention {
  const { sql, logger, metrics, config, now } = options;
  metrics.describe(DEAD_LETTER_SWEPT_METRIC, 'Dead letters deleted by the retention sweep, by reason (expired, over_cap).');

  const deleteCount = async (text: string, params: unknown[]): Promise<number> => {
    const rows = await sql.query<{ n: number }>(`WITH d AS (${text} RETURNING 1) SELECT count(*)::int AS n FROM d`, params);
    return Number(rows[0]?.n ?? 0);
  };

  async function untilFewer(deleteBatch: () => Promise<number>): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await deleteBatch();
      total += n;
      if (n < BATCH_ROWS || stopped) return total;
      await new Promise((r) => setImmediate(r));
    }
  }

  let stopped = false;
  let running: Promise<DeadLetterSweep> | undefined;

  async function sweep(): Promise<DeadLetterSweep> {
    const cutoff = new Date(now() - config.retentionDays * DAY).toISOString();
    const expired = await untilFewer(() =>
      deleteCount(`DELETE FROM "DeadLetter" WHERE id IN (SELECT id FROM "DeadLetter" WHERE "receivedAt" < $1::timestamptz LIMIT $2::int)`, [
        cutoff,
        BATCH_ROWS,
      ]),
    );
    const overCap = await untilFewer(() =>
      deleteCount(
        `DELETE FROM "DeadLetter" WHERE id IN (
           SELECT id FROM (
             SELECT id, row_number() OVER (PARTITION BY "tenantId" ORDER BY "receivedAt" DESC, id DESC) AS rank FROM "DeadLetter"
           ) ranked WHERE rank > $1::int LIMIT $2::int)`,
        [config.maxPerTenant, BATCH_ROWS],
      ),
    );
    if (expired > 0) metrics.inc(DEAD_LETTER_SWEPT_METRIC, { reason: 'expired' }, expired);
    if (overCap > 0) metrics.inc(DEAD_LETTER_SWEPT_METRIC, { reason: 'over_cap' }, overCap);
    if (expired + overCap > 0) logger.info({ expired, overCap }, 'dead-letter retention sweep');
    return { expired, overCap };
  }

  function runOnce(): Promise<DeadLetterSweep> {
    running ??= sweep().finally(() => {
      running = undefined;
    });
    return running;
  }

  const job = periodic({
    intervalMs: config.sweepIntervalMs,
    firstDelayMs: Math.min(5_000, config.sweepIntervalMs),
    run: runOnce,
    onError: (error) => logger.warn({ err: error }, 'dead-letter retention sweep failed; retrying on the next tick'),
  });

  return {
    start: () => job.start(),
    runOnce,
    async stop() {
      stopped = true;
      await job.stop();
      await running?.catch(() => {});
    },
  };
}
