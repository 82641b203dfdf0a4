/** One batch's write: the one statement, what became of each point, stale device knowledge, retries. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../src/db/client.ts';
import type { DevicePoint } from '../../../src/domain/telemetry/batcher.ts';
import { createLogger } from '../../../src/logger.ts';
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

function batchStore(io: ReturnType<typeof instrumented>, maxWriteAttempts = 5) {
  const resolver = createDeviceResolver(io.sql);
  const store = createBatchStore({ resolver, writer: createTelemetryWriter(io.sql), logger: createLogger('silent'), now: () => 42, maxWriteAttempts });
  return { resolver, store };
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

  it('retries a failed write with the devices resolved afresh, and gives up after maxWriteAttempts', async () => {
    const io = instrumented(db);
    const { store } = batchStore(io, 3);
    const d = await createDevice(db);
    io.failNext(2);
    expect(await store.store([point(d.deviceId, 'x', 1000, 1)])).toMatchObject({ stored: 1 });
    expect(io.writes()).toBe(3);
    const lookups = io.statements.filter((s) => s.includes('FROM "Device" WHERE "deviceId"')).length;
    expect(lookups).toBe(3);

    io.failNext(3);
    await expect(store.store([point(d.deviceId, 'x', 2000, 2)])).rejects.toThrow(/simulated/);
    expect(await countPoints(db, d.uuid)).toBe(1);
  });
});
