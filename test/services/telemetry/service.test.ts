import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TelemetryConfig } from '../../../src/config.ts';
import type { Database, SqlExecutor } from '../../../src/db/client.ts';
import { testActor, testDeviceService } from '../devices/support.ts';
import { TELEMETRY_BACKPRESSURE_METRIC, TELEMETRY_POINTS_METRIC } from '../../../src/services/telemetry/index.ts';
import { modeName, openTestDatabase } from '../../support/harness.ts';
import { body, countPoints, createDevice as createDeviceIn, instrumented as instrumentedOn, service as serviceOn } from './fixtures.ts';

let db: Database;
let closeDatabase: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ db, close: closeDatabase } = await openTestDatabase());
});
afterAll(async () => {
  await closeDatabase?.();
});

const instrumented = () => instrumentedOn(db);
const service = (config: Partial<TelemetryConfig>, sql: SqlExecutor = db.sql) => serviceOn(db, config, sql);
const createDevice = (deviceId?: string) => createDeviceIn(db, deviceId);
const count = (uuid: string) => countPoints(db, uuid);

describe(`telemetry service (${modeName})`, () => {
  it('writes the messages of many devices in one statement per batch', async () => {
    const io = instrumented();
    const { telemetry, events } = service({ batchMaxAgeMs: 50 }, io.sql);
    const devices = await Promise.all(Array.from({ length: 5 }, () => createDevice()));
    const outcomes = await Promise.all(devices.map((d, i) => telemetry.ingest(d.deviceId, body({ a: i, b: true }), Date.now())));
    expect(outcomes.every((o) => o.ok)).toBe(true);
    expect(io.writes()).toBe(1);
    for (const d of devices) expect(await count(d.uuid)).toBe(2);
    expect(events.map((e) => e.deviceId).sort()).toEqual(devices.map((d) => d.deviceId).sort());
    await telemetry.drain();
  });

  it("drops a deleted device's points with a counted reason, and stores the rest of the batch", async () => {
    const { telemetry, metrics } = service({ batchMaxAgeMs: 50 });
    const gone = await createDevice();
    const kept = await createDevice();
    // Warm the device cache, then delete one device behind the service's back.
    expect((await telemetry.ingest(gone.deviceId, body({ a: 1 }, 1000), Date.now())).ok).toBe(true);
    await db.prisma.device.delete({ where: { id: gone.uuid } });
    const [a, b] = await Promise.all([
      telemetry.ingest(gone.deviceId, body({ a: 2 }, 2000), Date.now()),
      telemetry.ingest(kept.deviceId, body({ a: 3 }, 2000), Date.now()),
    ]);
    expect(a).toMatchObject({ ok: false, error: { code: 'DEVICE_NOT_FOUND' } });
    expect(b).toEqual({ ok: true, points: 1 });
    expect(await count(kept.uuid)).toBe(1);
    expect(metrics.get(TELEMETRY_POINTS_METRIC, { result: 'dropped' })).toBe(1);

    // Registered again under the same device id (a new uuid): found again, not dropped.
    const again = await createDevice(gone.deviceId);
    expect(await telemetry.ingest(gone.deviceId, body({ a: 4 }, 3000), Date.now())).toEqual({ ok: true, points: 1 });
    expect(await count(again.uuid)).toBe(1);
    await telemetry.drain();
  });

  it('deleting a device deletes its points, also when its telemetry is being written at that moment', async () => {
    const { telemetry } = service({ batchMaxAgeMs: 0 });
    const { devices } = testDeviceService(db);
    const created = await Promise.all(Array.from({ length: 12 }, () => createDevice()));
    for (const d of created) expect((await telemetry.ingest(d.deviceId, body({ a: 1 }, 1000), Date.now())).ok).toBe(true);
    // Each device: a batch of its telemetry racing its deletion (on PostgreSQL truly concurrent).
    const outcomes = await Promise.all(
      created.map(async (d, i) => {
        const writes = Array.from({ length: 5 }, (_, k) => telemetry.ingest(d.deviceId, body({ a: k }, 2000 + k), Date.now()));
        await new Promise((r) => setTimeout(r, i % 4));
        await devices.remove(testActor(), d.deviceId);
        return Promise.all(writes);
      }),
    );
    for (const o of outcomes.flat()) expect(o.ok || o.error.code === 'DEVICE_NOT_FOUND').toBe(true);
    const orphans = await db.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM "TelemetryPoint" WHERE "deviceId" = ANY($1::uuid[])`, [
      created.map((d) => d.uuid),
    ]);
    expect(orphans[0]!.n).toBe(0);
    await telemetry.drain();
  });

  it('holds publishers back when full, refuses as OVERLOADED after the bound, and recovers', async () => {
    const io = instrumented();
    const { telemetry, metrics } = service(
      { batchMaxPoints: 5, maxPendingPoints: 10, batchMaxAgeMs: 0, backpressureTimeoutMs: 200, maxValuesPerMessage: 5 },
      io.sql,
    );
    const { deviceId, uuid } = await createDevice();
    const five = (ts: number) => body({ a: 1, b: 2, c: 3, d: 4, e: 5 }, ts);
    io.hold();
    const first = telemetry.ingest(deviceId, five(1000), Date.now()); // being written (held)
    await new Promise((r) => setTimeout(r, 20));
    const second = telemetry.ingest(deviceId, five(2000), Date.now()); // waits in memory: 5 + 5 = 10
    const refused = await telemetry.ingest(deviceId, body({ x: 1 }, 3000), Date.now());
    expect(refused).toMatchObject({ ok: false, error: { code: 'OVERLOADED' } });
    expect(metrics.get(TELEMETRY_BACKPRESSURE_METRIC)).toBe(1);
    expect(telemetry.pendingPoints).toBe(10);

    const waiting = telemetry.ingest(deviceId, body({ x: 1 }, 4000), Date.now());
    await new Promise((r) => setTimeout(r, 20));
    io.release();
    expect(await Promise.all([first, second, waiting])).toEqual([
      { ok: true, points: 5 },
      { ok: true, points: 5 },
      { ok: true, points: 1 },
    ]);
    expect(await count(uuid)).toBe(11);
    await telemetry.drain();
  });

  it('retries a failed write, then stores the batch once', async () => {
    const io = instrumented();
    const { telemetry } = service({ batchMaxAgeMs: 0 }, io.sql);
    const { deviceId, uuid } = await createDevice();
    io.failNext(2);
    expect(await telemetry.ingest(deviceId, body({ a: 1 }), Date.now())).toEqual({ ok: true, points: 1 });
    expect(io.writes()).toBe(3);
    expect(await count(uuid)).toBe(1);
    await telemetry.drain();
  });

  it('drain() writes what is waiting without waiting for its age, then refuses new messages', async () => {
    const { telemetry } = service({ batchMaxAgeMs: 60_000 });
    const { deviceId, uuid } = await createDevice();
    const pending = telemetry.ingest(deviceId, body({ a: 1 }), Date.now());
    await new Promise((r) => setTimeout(r, 20));
    expect(await count(uuid)).toBe(0);
    await telemetry.drain();
    expect(await pending).toEqual({ ok: true, points: 1 });
    expect(await count(uuid)).toBe(1);
    expect(await telemetry.ingest(deviceId, body({ a: 2 }), Date.now())).toMatchObject({ ok: false, error: { code: 'SHUTTING_DOWN' } });
  });

  it('moves latest values only forward, across batches and within one', async () => {
    const { telemetry } = service({ batchMaxAgeMs: 50 });
    const { deviceId, uuid } = await createDevice();
    await Promise.all([
      telemetry.ingest(deviceId, body({ t: 2 }, 2000), Date.now()),
      telemetry.ingest(deviceId, body({ t: 3 }, 3000), Date.now()),
      telemetry.ingest(deviceId, body({ t: 1 }, 1000), Date.now()),
    ]);
    await telemetry.ingest(deviceId, body({ t: 0 }, 500), Date.now());
    const latest = await db.prisma.telemetryLatest.findMany({ where: { deviceId: uuid } });
    expect(latest.map((l) => [l.metric, l.ts.getTime(), l.value])).toEqual([['t', 3000, 3]]);
    expect(await count(uuid)).toBe(4);
    await telemetry.drain();
  });
});
