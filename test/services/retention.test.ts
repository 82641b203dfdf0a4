import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type TelemetryConfig } from '../../src/config.ts';
import type { Database, SqlExecutor } from '../../src/db/client.ts';
import { createLogger } from '../../src/logger.ts';
import { Metrics } from '../../src/metrics.ts';
import { createTelemetryRetention, RETENTION_BATCHES_METRIC, RETENTION_DELETED_METRIC } from '../../src/services/retention.ts';
import { rebuildRollups } from '../../src/services/rollups.ts';
import { modeName, openTestDatabase, uniqueDeviceId } from '../support/harness.ts';

let db: Database;
let closeDatabase: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ db, close: closeDatabase } = await openTestDatabase());
});
afterAll(async () => {
  await closeDatabase?.();
});

const DAY = 86_400_000;
const NOW = Date.parse('2024-06-30T12:00:00Z');

/** One device with a point every hour for the 40 days before NOW, and its rollups. */
async function seed() {
  const d = await db.prisma.device.create({ data: { deviceId: uniqueDeviceId('ret'), secretHash: 'x', twin: { create: {} } } });
  const from = NOW - 40 * DAY;
  await db.sql.query(
    `INSERT INTO "TelemetryPoint" ("deviceId", metric, ts, value)
     SELECT $1::uuid, 'temp', t, 1 FROM generate_series($2::timestamptz, $3::timestamptz - interval '1 hour', interval '1 hour') AS t`,
    [d.id, new Date(from).toISOString(), new Date(NOW).toISOString()],
  );
  await rebuildRollups(db, { from, to: NOW, deviceUuids: [d.id] });
  return d.id;
}

const counts = async (uuid: string) => {
  const [row] = await db.sql.query<{ raw: number; oldest: string | Date; r15: number; r1h: number; r1d: number }>(
    `SELECT (SELECT count(*)::int FROM "TelemetryPoint" WHERE "deviceId" = $1::uuid) AS raw,
            (SELECT min(ts) FROM "TelemetryPoint" WHERE "deviceId" = $1::uuid) AS oldest,
            (SELECT count(*)::int FROM "TelemetryRollup" WHERE "deviceId" = $1::uuid AND grain = 900) AS r15,
            (SELECT count(*)::int FROM "TelemetryRollup" WHERE "deviceId" = $1::uuid AND grain = 3600) AS r1h,
            (SELECT count(*)::int FROM "TelemetryRollup" WHERE "deviceId" = $1::uuid AND grain = 86400) AS r1d`,
    [uuid],
  );
  return { ...row!, oldest: new Date(row!.oldest).toISOString() };
};

function retention(config: Partial<TelemetryConfig>, sql: SqlExecutor = db.sql) {
  const metrics = new Metrics();
  const r = createTelemetryRetention({ sql, metrics, logger: createLogger('silent'), config: { ...loadConfig({}).telemetry, ...config }, now: () => NOW });
  return { r, metrics };
}

describe(`telemetry retention (${modeName})`, () => {
  it('deletes raw rows older than their age in bounded batches and keeps every rollup', async () => {
    // Other tests' devices share the database: count only this device's rows.
    const uuid = await seed();
    expect(await counts(uuid)).toMatchObject({ raw: 960, r15: 960, r1h: 960, r1d: 41 });
    const statements: string[] = [];
    const sql: SqlExecutor = { query: (text, params) => (statements.push(text), db.sql.query(text, params)) };
    const { r, metrics } = retention({ rawRetentionDays: 30, retentionBatchRows: 100 }, sql);
    const result = await r.runOnce();
    // 10 days of hourly points are older than 30 days.
    expect(await counts(uuid)).toEqual({ raw: 720, oldest: new Date(NOW - 30 * DAY).toISOString(), r15: 960, r1h: 960, r1d: 41 });
    expect(result.raw).toBeGreaterThanOrEqual(240);
    const deleted = result.raw!;
    expect(metrics.get(RETENTION_DELETED_METRIC, { table: 'raw' })).toBe(deleted);
    // Batches of at most 100 rows: one statement per batch, the last one short.
    const batches = Math.floor(deleted / 100) + 1;
    expect(metrics.get(RETENTION_BATCHES_METRIC, { table: 'raw' })).toBe(batches);
    expect(statements.filter((s) => s.includes('DELETE FROM "TelemetryPoint"'))).toHaveLength(batches);
    expect(statements.some((s) => s.includes('DELETE FROM "TelemetryRollup"'))).toBe(false);
    // A second sweep finds nothing more.
    expect((await r.runOnce()).raw).toBe(0);
  });

  it('deletes each rollup grain by its own age, whole buckets only', async () => {
    const uuid = await seed();
    const before = await counts(uuid);
    const { r, metrics } = retention({ rawRetentionDays: 5, rollupRetentionDays: { 900: 10, 3600: 20, 86400: 0 }, retentionBatchRows: 50 });
    await r.runOnce();
    const after = await counts(uuid);
    expect(after.raw).toBe(5 * 24);
    // 15-minute buckets that ended before NOW − 10 days are gone (one point an hour: one bucket per hour).
    expect(after.r15).toBe(10 * 24);
    expect(after.r1h).toBe(20 * 24);
    expect(after.r1d).toBe(before.r1d);
    expect(metrics.get(RETENTION_BATCHES_METRIC, { table: 'rollup_15m' })).toBeGreaterThanOrEqual(Math.ceil((960 - 240) / 50));
    expect(metrics.get(RETENTION_DELETED_METRIC, { table: 'rollup_1d' })).toBe(0);
  });

  it('does nothing when nothing has an age, and stops cleanly', async () => {
    const { r } = retention({});
    expect(r.enabled).toBe(false);
    r.start();
    await r.stop();
    const { r: timed } = retention({ rawRetentionDays: 1000, retentionIntervalMs: 1000 });
    expect(timed.enabled).toBe(true);
    timed.start();
    await timed.stop();
  });
});
