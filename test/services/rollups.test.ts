/**
 * Rollups are kept by the ingest statement (15-minute grain) and by settling (hourly and daily, derived
 * from the 15-minute rows of the hours the ingest statement marked dirty): on random data sent the way devices send it — single
 * messages and catch-up arrays, shuffled out of time order, replayed, with conflicting duplicates, and
 * from two service instances at once, settled while batches are still being written — every rollup row must equal the aggregate of the raw rows that
 * were actually stored, computed by `aggregate()` (the plain-TypeScript reference in
 * src/domain/telemetry/buckets.ts) over UTC buckets of the grain.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import type { Database } from '../../src/db/client.ts';
import { aggregate, AGGREGATE_FUNCTIONS, type BucketInterval } from '../../src/domain/telemetry/buckets.ts';
import { ROLLUP_GRAINS, type RollupGrain } from '../../src/domain/telemetry/rollups.ts';
import { createEventBus } from '../../src/events/bus.ts';
import { createLogger } from '../../src/logger.ts';
import { Metrics } from '../../src/metrics.ts';
import { rebuildRollups, settleRollups } from '../../src/services/rollups.ts';
import { createTelemetryService } from '../../src/services/telemetry/index.ts';
import { createDomainHooks } from '../../src/services/hooks.ts';
import { modeName, openTestDatabase, uniqueDeviceId } from '../support/harness.ts';
import { rng } from '../support/series.ts';

let db: Database;
let closeDatabase: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ db, close: closeDatabase } = await openTestDatabase());
});
afterAll(async () => {
  await closeDatabase?.();
});

const INTERVAL: Record<RollupGrain, BucketInterval> = { 900: '15 minutes', 3600: 'hour', 86400: 'day' };
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function service(batchMaxPoints: number, writeConcurrency = 2) {
  return createTelemetryService({
    sql: db.sql,
    bus: createEventBus(),
    hooks: createDomainHooks({ logger: createLogger('silent'), metrics: new Metrics() }),
    metrics: new Metrics(),
    logger: createLogger('silent'),
    config: { ...loadConfig({}).telemetry, batchMaxPoints, batchMaxAgeMs: 5, writeConcurrency },
    maxPayloadBytes: 1024 * 1024,
  });
}

async function createDevice() {
  const deviceId = uniqueDeviceId('rollup');
  const d = await db.prisma.device.create({ data: { deviceId, secretHash: 'x', twin: { create: {} } } });
  return { deviceId, uuid: d.id };
}

type Entry = { ts: number; values: Record<string, number | boolean> };

/**
 * Random catch-up data for one device: entries over a few days crossing UTC midnights, values that are
 * eighths (so every sum is exact in float64, whatever the order), booleans, then cut into single
 * messages and arrays, with some entries replayed (same values) and some conflicting (same ts, other
 * values: the first stored wins), all shuffled.
 */
function randomMessages(seed: number): string[] {
  const random = rng(seed);
  const start = Date.parse('2024-03-30T20:00:00Z') + Math.floor(random() * DAY);
  const entries: Entry[] = [];
  const n = 300 + Math.floor(random() * 500);
  for (let i = 0; i < n; i++) {
    const ts = start + Math.floor(random() * 3 * DAY);
    const values: Record<string, number | boolean> = { temp: Math.round((random() - 0.5) * 8000) / 8 };
    if (random() < 0.5) values.hum = Math.round(random() * 800) / 8;
    if (random() < 0.3) values.open = random() < 0.5;
    entries.push({ ts, values });
    if (random() < 0.1) entries.push({ ts, values: { ...values } }); // replay
    if (random() < 0.05) entries.push({ ts, values: { temp: 12345 } }); // conflicting duplicate
  }
  entries.sort(() => random() - 0.5);
  const messages: string[] = [];
  for (let i = 0; i < entries.length;) {
    const size = random() < 0.4 ? 1 : 1 + Math.floor(random() * 120);
    const chunk = entries.slice(i, i + size);
    messages.push(JSON.stringify(chunk.length === 1 && random() < 0.5 ? chunk[0] : chunk));
    i += size;
  }
  // Whole messages replayed, as a broker redelivers them.
  for (let k = 0; k < 5; k++) messages.push(messages[Math.floor(random() * messages.length)]!);
  return messages;
}

interface RollupRow {
  metric: string;
  grain: number;
  bucket: number;
  count: number;
  sum: number;
  min: number;
  max: number;
  firstTs: number;
  first: number;
  lastTs: number;
  last: number;
}

/** Every grain's rows, after settling what is dirty (hourly and daily rows lag until then). */
async function rollupRows(uuid: string): Promise<RollupRow[]> {
  await settleRollups(db);
  const rows = await db.sql.query<Record<string, unknown>>(
    `SELECT metric, grain, (extract(epoch FROM bucket) * 1000)::float8 AS bucket, count, sum, min, max,
            (extract(epoch FROM "firstTs") * 1000)::float8 AS "firstTs", first, (extract(epoch FROM "lastTs") * 1000)::float8 AS "lastTs", last
       FROM "TelemetryRollup" WHERE "deviceId" = $1::uuid ORDER BY metric, grain, bucket`,
    [uuid],
  );
  return rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, k === 'metric' ? v : Number(v)])) as unknown as RollupRow);
}

/** What the rollups must be: the reference aggregate of the stored raw rows, per metric and grain. */
async function expectedRows(uuid: string): Promise<RollupRow[]> {
  const raw = await db.sql.query<{ metric: string; ts: number; value: number }>(
    `SELECT metric, (extract(epoch FROM ts) * 1000)::float8 AS ts, value FROM "TelemetryPoint" WHERE "deviceId" = $1::uuid`,
    [uuid],
  );
  const byMetric = new Map<string, Array<{ ts: number; value: number }>>();
  for (const r of raw) {
    const list = byMetric.get(r.metric) ?? [];
    list.push({ ts: Number(r.ts), value: Number(r.value) });
    byMetric.set(r.metric, list);
  }
  const out: RollupRow[] = [];
  for (const metric of [...byMetric.keys()].sort()) {
    const points = byMetric.get(metric)!;
    for (const grain of ROLLUP_GRAINS) {
      for (const b of aggregate(points, { interval: INTERVAL[grain], timeZone: 'UTC', aggregates: AGGREGATE_FUNCTIONS })) {
        const inside = points.filter((p) => p.ts >= b.start && p.ts < b.end).map((p) => p.ts);
        out.push({
          metric,
          grain,
          bucket: b.start,
          count: b.values.count!,
          sum: b.values.sum!,
          min: b.values.min!,
          max: b.values.max!,
          firstTs: Math.min(...inside),
          first: b.values.first!,
          lastTs: Math.max(...inside),
          last: b.values.last!,
        });
      }
    }
  }
  return out;
}

describe(`telemetry rollups (${modeName})`, () => {
  it.each([1, 2, 3, 4, 5, 6])(
    'equal the reference aggregates of the stored rows: shuffled catch-up arrays, replays, conflicting duplicates (seed %i)',
    async (seed) => {
      const device = await createDevice();
      const telemetry = service(seed % 2 === 0 ? 50 : 5000);
      const outcomes = await Promise.all(randomMessages(seed).map((m) => telemetry.ingest(device.deviceId, m, Date.now())));
      expect(outcomes.every((o) => o.ok)).toBe(true);
      await telemetry.drain();
      const expected = await expectedRows(device.uuid);
      expect(expected.length).toBeGreaterThan(100);
      expect(await rollupRows(device.uuid)).toEqual(expected);
    },
  );

  it('stay correct when two instances write the same device at once', async () => {
    const device = await createDevice();
    const [a, b] = [service(40), service(40)];
    const messages = randomMessages(99);
    // Every message goes to both instances (the worst case of a redelivery), in different orders.
    const outcomes = await Promise.all([
      ...messages.map((m) => a.ingest(device.deviceId, m, Date.now())),
      ...[...messages].reverse().map((m) => b.ingest(device.deviceId, m, Date.now())),
    ]);
    expect(outcomes.every((o) => o.ok)).toBe(true);
    await Promise.all([a.drain(), b.drain()]);
    expect(await rollupRows(device.uuid)).toEqual(await expectedRows(device.uuid));
  });

  it('stay correct when settled again and again while batches are being written, from two instances', async () => {
    const device = await createDevice();
    const [a, b] = [service(30, 3), service(30, 3)];
    const messages = randomMessages(42);
    let writing = true;
    const settler = (async () => {
      let rounds = 0;
      while (writing || rounds === 0) {
        await settleRollups(db, { deviceUuids: [device.uuid] });
        rounds++;
        await new Promise((r) => setTimeout(r, 1));
      }
      return rounds;
    })();
    const outcomes = await Promise.all([
      ...messages.map((m) => a.ingest(device.deviceId, m, Date.now())),
      ...[...messages].reverse().map((m) => b.ingest(device.deviceId, m, Date.now())),
    ]);
    await Promise.all([a.drain(), b.drain()]);
    writing = false;
    expect(await settler).toBeGreaterThan(0);
    expect(outcomes.every((o) => o.ok)).toBe(true);
    expect(await rollupRows(device.uuid)).toEqual(await expectedRows(device.uuid));
  });

  it('are rebuilt from raw rows by the same fold, identical to the incremental ones', async () => {
    const device = await createDevice();
    const telemetry = service(100);
    await Promise.all(randomMessages(7).map((m) => telemetry.ingest(device.deviceId, m, Date.now())));
    await telemetry.drain();
    const incremental = await rollupRows(device.uuid);
    await db.sql.query(`DELETE FROM "TelemetryRollup" WHERE "deviceId" = $1::uuid`, [device.uuid]);
    const written = await rebuildRollups(db, { from: Date.parse('2024-03-29T00:00:00Z'), to: Date.parse('2024-04-05T00:00:00Z'), deviceUuids: [device.uuid] });
    expect(written).toBe(incremental.length);
    expect(await rollupRows(device.uuid)).toEqual(incremental);
  });
});
