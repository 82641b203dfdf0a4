/**
 * Embedded-database upkeep (src/db/maintenance.ts): PGlite has no checkpointer, and wedges once the WAL
 * since the last checkpoint nears max_wal_size. The upkeep checkpoints by WAL distance and vacuums the
 * hot tables. PGlite only: PostgreSQL does both itself.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/client.ts';
import { createEmbeddedMaintenance, EMBEDDED_CHECKPOINTS_METRIC, EMBEDDED_VACUUMS_METRIC } from '../../src/db/maintenance.ts';
import { createLogger } from '../../src/logger.ts';
import { Metrics } from '../../src/metrics.ts';
import { externalDatabaseUrl, openTestDatabase } from '../support/harness.ts';

let db: Database;
let close: (() => Promise<void>) | undefined;
beforeAll(async () => {
  if (!externalDatabaseUrl) ({ db, close } = await openTestDatabase());
});
afterAll(async () => {
  await close?.();
});

/** Upkeep on the test database with a clock the test moves. */
function upkeepWith(config: { checkpointWalBytes: number; vacuumIntervalMs: number }) {
  const metrics = new Metrics();
  const clock = { now: 0 };
  const upkeep = createEmbeddedMaintenance({
    sql: db.sql,
    logger: createLogger('silent'),
    metrics,
    config: { ...config, checkIntervalMs: 1000 },
    now: () => clock.now,
  });
  return { upkeep, metrics, clock };
}

describe.skipIf(Boolean(externalDatabaseUrl))('embedded database upkeep (pglite)', () => {
  it('checkpoints once the WAL since the last checkpoint passes the threshold, and not before', async () => {
    const { upkeep, metrics } = upkeepWith({ checkpointWalBytes: 4 * 1024 * 1024, vacuumIntervalMs: 0 });
    await db.sql.query('CHECKPOINT');
    expect((await upkeep.tick()).checkpoint).toBe(false);
    await db.sql.query(`CREATE TABLE upkeep_wal AS SELECT g, repeat('x', 100) AS pad FROM generate_series(1, 50000) g`);
    expect(await upkeep.walSinceCheckpoint()).toBeGreaterThan(4 * 1024 * 1024);
    expect((await upkeep.tick()).checkpoint).toBe(true);
    expect(await upkeep.walSinceCheckpoint()).toBeLessThan(64 * 1024);
    expect(metrics.get(EMBEDDED_CHECKPOINTS_METRIC)).toBe(1);
    expect((await upkeep.tick()).checkpoint).toBe(false);
  });

  it('vacuums and analyzes the hot tables when due', async () => {
    const { upkeep, metrics, clock } = upkeepWith({ checkpointWalBytes: 1024 * 1024 * 1024, vacuumIntervalMs: 60_000 });
    expect((await upkeep.tick()).vacuum).toBe(false);
    clock.now += 60_000;
    expect((await upkeep.tick()).vacuum).toBe(true);
    expect(metrics.get(EMBEDDED_VACUUMS_METRIC)).toBe(1);
    // ANALYZE ran: the planner has statistics for a hot table now.
    const analyzed = await db.sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_user_tables WHERE relname = 'TelemetryLatest' AND last_analyze IS NOT NULL`,
    );
    expect(analyzed[0]!.n).toBe(1);
  });
});
