/** The `telemetryStored` hook: once per committed batch, only new points, never for a failed write. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../src/db/client.ts';
import type { TelemetryStored } from '../../../src/services/hooks.ts';
import { modeName, openTestDatabase } from '../../support/harness.ts';
import { body, createDevice, instrumented, service } from './fixtures.ts';

let db: Database;
let closeDatabase: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ db, close: closeDatabase } = await openTestDatabase());
});
afterAll(async () => {
  await closeDatabase?.();
});

/** Every point the listener saw, as "deviceId metric ts value". */
function seen(stored: TelemetryStored[]): string[] {
  return stored.flatMap((batch) => batch.devices.flatMap((d) => d.points.map((p) => `${d.deviceId} ${p.metric} ${p.ts} ${p.value}`)));
}

describe(`telemetryStored hook (${modeName})`, () => {
  it('sees each stored point exactly once across replays and duplicates, and nothing for a batch that stored nothing', async () => {
    const io = instrumented(db);
    const { telemetry, stored, events } = service(db, { batchMaxAgeMs: 20 }, io.sql);
    const a = await createDevice(db);
    const b = await createDevice(db);
    // One batch: a message, its duplicate, and another device.
    await Promise.all([
      telemetry.ingest(a.deviceId, body({ t: 1, u: 2 }, 1000), Date.now()),
      telemetry.ingest(a.deviceId, body({ t: 1, u: 2 }, 1000), Date.now()),
      telemetry.ingest(b.deviceId, body({ t: 5 }, 1000), Date.now()),
    ]);
    // Replays, one partly new.
    await telemetry.ingest(a.deviceId, body({ t: 1, u: 2 }, 1000), Date.now());
    await telemetry.ingest(
      a.deviceId,
      JSON.stringify([
        { ts: 1000, values: { t: 1 } },
        { ts: 2000, values: { t: 3 } },
      ]),
      Date.now(),
    );
    const writesBefore = io.writes();
    await telemetry.ingest(b.deviceId, body({ t: 5 }, 1000), Date.now()); // a batch of replays only
    expect(io.writes()).toBe(writesBefore + 1);
    await telemetry.drain();

    expect(seen(stored).sort()).toEqual([`${a.deviceId} t 1000 1`, `${a.deviceId} t 2000 3`, `${a.deviceId} u 1000 2`, `${b.deviceId} t 1000 5`].sort());
    expect(stored).toHaveLength(2);
    for (const batch of stored) for (const d of batch.devices) expect(d.at).toBe(batch.at);
    // The live bus carried the same events.
    await expect.poll(() => events.flatMap((e) => e.points.map((p) => `${e.deviceId} ${p.metric} ${p.ts} ${p.value}`)).sort()).toEqual(seen(stored).sort());
    const [first] = stored;
    expect(
      first!.devices
        .map((d) => ({ deviceId: d.deviceId, deviceUuid: d.deviceUuid, tenantId: d.tenantId }))
        .sort((x, y) => x.deviceId.localeCompare(y.deviceId)),
    ).toEqual(
      [
        { deviceId: a.deviceId, deviceUuid: a.uuid, tenantId: 'default' },
        { deviceId: b.deviceId, deviceUuid: b.uuid, tenantId: 'default' },
      ].sort((x, y) => x.deviceId.localeCompare(y.deviceId)),
    );
  });

  it('is emitted once for a write that succeeded after retries, and never for one that failed', async () => {
    const io = instrumented(db);
    const { telemetry, stored } = service(db, { batchMaxAgeMs: 0 }, io.sql);
    const { deviceId } = await createDevice(db);
    io.failNext(2);
    expect(await telemetry.ingest(deviceId, body({ a: 1 }, 1000), Date.now())).toEqual({ ok: true, points: 1 });
    expect(io.writes()).toBe(3);
    await telemetry.drain();
    expect(seen(stored)).toEqual([`${deviceId} a 1000 1`]);

    // A write that never succeeds: the database is down until shutdown, which leaves the message unacknowledged.
    const failing = instrumented(db);
    const gaveUp = service(db, { batchMaxAgeMs: 0 }, failing.sql);
    failing.down();
    const held = gaveUp.telemetry.ingest(deviceId, body({ a: 2 }, 2000), Date.now());
    await new Promise((r) => setTimeout(r, 50));
    await gaveUp.telemetry.drain();
    await expect(held).rejects.toThrow(/unavailable/);
    expect(gaveUp.stored).toEqual([]);
  });

  it('leaves out points of a deleted device', async () => {
    const { telemetry, stored } = service(db, { batchMaxAgeMs: 20 });
    const gone = await createDevice(db);
    const kept = await createDevice(db);
    await telemetry.ingest(gone.deviceId, body({ a: 1 }, 1000), Date.now());
    await db.prisma.device.delete({ where: { id: gone.uuid } });
    stored.length = 0;
    await Promise.all([telemetry.ingest(gone.deviceId, body({ a: 2 }, 2000), Date.now()), telemetry.ingest(kept.deviceId, body({ a: 3 }, 2000), Date.now())]);
    await telemetry.drain();
    expect(seen(stored)).toEqual([`${kept.deviceId} a 2000 3`]);
  });

  it('drain() waits for the listeners to see every stored batch; the MQTT answer does not', async () => {
    const { telemetry, hooks } = service(db, { batchMaxAgeMs: 0 });
    const { deviceId } = await createDevice(db);
    let release = () => {};
    const slow = new Promise<void>((resolve) => (release = resolve));
    const handled: number[] = [];
    hooks.telemetryStored.subscribe(async (batch) => {
      await slow;
      handled.push(batch.devices.length);
    });
    expect(await telemetry.ingest(deviceId, body({ a: 1 }, 1000), Date.now())).toEqual({ ok: true, points: 1 });
    let drained = false;
    const draining = telemetry.drain().then(() => (drained = true));
    await new Promise((r) => setTimeout(r, 30));
    expect(drained).toBe(false);
    release();
    await draining;
    expect(handled).toEqual([1]);
  });
});
