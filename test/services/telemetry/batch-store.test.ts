/** One batch's write: the one statement, what became of each point, stale device knowledge, retries. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../src/db/client.ts';
import type { DevicePoint } from '../../../src/domain/telemetry/batcher.ts';
import { UnavailableError } from '../../../src/domain/faults.ts';
import { createLogger } from '../../../src/logger.ts';
import { Metrics } from '../../../src/metrics.ts';
import { createStoreRetry, STORE_RETRIES_METRIC } from '../../../src/services/store-retry.ts';
import { createBatchStore } from '../../../src/services/telemetry/batch-store.ts';
import { createDeviceResolver } from '../../../src/services/telemetry/device-resolver.ts';
import { createTelemetryWriter } from '../../../src/services/telemetry/writer.ts';
import { modeName, openTestDatabase, uniqueDeviceId } from '../../support/harness.ts';
import { countPoints, createDevice, instrumented } from './fixtures.ts';

let db: Database;
let closeDatabase: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ db, close: closeDatabase } = await openTestDatabase());
});
afterAll(async () => {
  await closeDatabase?.();
});

const point = (device: string, metric: string, ts: number, value: number): DevicePoint => ({ device, metric, ts, value, isBool: false });

function batchStore(io: ReturnType<typeof instrumented>) {
  const resolver = createDeviceResolver(io.sql);
  const metrics = new Metrics();
  const retry = createStoreRetry({ kind: 'telemetry', logger: createLogger('silent'), metrics, backoff: { initialMs: 2, maxMs: 20 } });
  const store = createBatchStore({ resolver, writer: createTelemetryWriter(io.sql), retry, now: () => 42 });
  return { resolver, store, retry, metrics };
}

describe(`batch store (${modeName})`, () => {
  it('writes a batch in one statement and tells stored points from replays and unknown devices', async () => {
    const io = instrumented(db);
    const { store } = batchStore(io);
    const a = await createDevice(db);
    const b = await createDevice(db);
    const nobody = uniqueDeviceId('nobody');
    expect((await store.store([point(a.deviceId, 'x', 1000, 1)])).stored).toBe(1);
    expect(io.writes()).toBe(1);

    const result = await store.store([
      point(a.deviceId, 'x', 1000, 1),
      point(a.deviceId, 'x', 2000, 2),
      point(b.deviceId, 'y', 1000, 3),
      point(nobody, 'x', 1000, 4),
    ]);
    expect(io.writes()).toBe(2);
    expect(result).toMatchObject({ at: 42, stored: 2, duplicates: 1, dropped: 1, missing: new Set([nobody]) });
    expect(result.events).toEqual([
      { deviceId: a.deviceId, deviceUuid: a.uuid, tenantId: 'default', at: 42, points: [{ metric: 'x', ts: 2000, value: 2, isBool: false }] },
      { deviceId: b.deviceId, deviceUuid: b.uuid, tenantId: 'default', at: 42, points: [{ metric: 'y', ts: 1000, value: 3, isBool: false }] },
    ]);

    const replay = await store.store([point(a.deviceId, 'x', 1000, 1)]);
    expect(replay).toMatchObject({ stored: 0, duplicates: 1, dropped: 0, events: [] });
  });

  it('writes again, under the new uuid, the points of a device registered again since it was cached', async () => {
    const io = instrumented(db);
    const { store } = batchStore(io);
    const moved = await createDevice(db);
    const kept = await createDevice(db);
    await store.store([point(moved.deviceId, 'x', 1000, 1), point(kept.deviceId, 'x', 1000, 1)]);
    await db.prisma.device.delete({ where: { id: moved.uuid } });
    const again = await createDevice(db, moved.deviceId);
    const writes = io.writes();

    const result = await store.store([point(moved.deviceId, 'x', 2000, 2), point(kept.deviceId, 'x', 2000, 2)]);
    expect(io.writes()).toBe(writes + 2);
    expect(result).toMatchObject({ stored: 2, dropped: 0, missing: new Set() });
    expect(result.events.map((e) => e.deviceUuid).sort()).toEqual([again.uuid, kept.uuid].sort());
    expect(await countPoints(db, again.uuid)).toBe(1);
    // Known again: the next batch needs one statement.
    await store.store([point(moved.deviceId, 'x', 3000, 3)]);
    expect(io.writes()).toBe(writes + 3);
  });

  it('retries a transiently failed write with the devices resolved afresh, until it succeeds', async () => {
    const io = instrumented(db);
    const { store, metrics } = batchStore(io);
    const d = await createDevice(db);
    io.failNext(2);
    expect(await store.store([point(d.deviceId, 'x', 1000, 1)])).toMatchObject({ stored: 1 });
    expect(io.writes()).toBe(3);
    const lookups = io.statements.filter((s) => s.includes('FROM "Device" WHERE "deviceId"')).length;
    expect(lookups).toBe(3);
    expect(metrics.get(STORE_RETRIES_METRIC, { kind: 'telemetry' })).toBe(2);

    // Was: given up after maxWriteAttempts (the messages were then acknowledged and lost). Now held.
    io.failNext(12);
    expect(await store.store([point(d.deviceId, 'x', 2000, 2)])).toMatchObject({ stored: 1 });
    expect(await countPoints(db, d.uuid)).toBe(2);
  });

  it('holds a batch while the database is down and stores it as soon as it is back', async () => {
    const io = instrumented(db);
    const { store, retry } = batchStore(io);
    const d = await createDevice(db);
    io.down();
    let done = false;
    const writing = store.store([point(d.deviceId, 'x', 1000, 1)]).finally(() => (done = true));
    await new Promise((r) => setTimeout(r, 100));
    expect(done).toBe(false);
    expect(retry.holding).toBe(true);
    io.up();
    expect(await writing).toMatchObject({ stored: 1 });
    expect(retry.holding).toBe(false);
    expect(await countPoints(db, d.uuid)).toBe(1);
  });

  it('rejects with UnavailableError, storing nothing, when stopped while the database is down', async () => {
    const io = instrumented(db);
    const { store, retry } = batchStore(io);
    const d = await createDevice(db);
    io.down();
    const writing = store.store([point(d.deviceId, 'x', 1000, 1)]);
    await new Promise((r) => setTimeout(r, 30));
    retry.stop();
    await expect(writing).rejects.toBeInstanceOf(UnavailableError);
    io.up();
    expect(await countPoints(db, d.uuid)).toBe(0);
  });

  it('refuses only the device whose points fail deterministically, and stores the others', async () => {
    const io = instrumented(db);
    const { store, metrics } = batchStore(io);
    const devices = await Promise.all([1, 2, 3, 4, 5].map(() => createDevice(db)));
    const poison = devices[3]!;
    io.poison(poison.uuid);
    const result = await store.store(devices.flatMap((d, i) => [point(d.deviceId, 'x', 1000, i), point(d.deviceId, 'y', 1000, i)]));
    expect(result).toMatchObject({ stored: 8, refusedPoints: 2, dropped: 0, duplicates: 0 });
    expect([...result.refused.keys()]).toEqual([poison.deviceId]);
    expect(result.events.map((e) => e.deviceId).sort()).toEqual(
      devices
        .filter((d) => d !== poison)
        .map((d) => d.deviceId)
        .sort(),
    );
    for (const d of devices) expect(await countPoints(db, d.uuid)).toBe(d === poison ? 0 : 2);
    // Deterministic failures are not retried as if the database were down.
    expect(metrics.get(STORE_RETRIES_METRIC, { kind: 'telemetry' })).toBe(0);
  });
});
