import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database, SqlExecutor } from '../../../src/db/client.ts';
import type { TwinChangedEvent } from '../../../src/events/bus.ts';
import { modeName, openTestDatabase, uniqueDeviceId } from '../../support/harness.ts';
import { createTwinDevice, testTwinService } from './support.ts';

// Two twin services on one database stand for two instances handling the same device. A write that
// loses the revision race is re-merged and written again: its changes must reach `twinsStored` once,
// from the attempt that stored them, and never from the attempt that lost.
let db: Database;
let closeDatabase: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ db, close: closeDatabase } = await openTestDatabase());
});
afterAll(async () => {
  await closeDatabase?.();
});

const key = (c: TwinChangedEvent) => `${c.deviceId}@${c.version}`;

describe(`twinsStored under write conflicts (${modeName})`, () => {
  it('a write that lost the race is announced once, by the retry that stored it', async () => {
    const deviceId = uniqueDeviceId();
    await createTwinDevice(db, deviceId);
    const b = testTwinService(db);

    // A's first write statement waits until B has stored a change to the same twin: A's revision is
    // then stale, its write touches nothing, and A must reload and write again.
    let writes = 0;
    const racingSql: SqlExecutor = {
      async query<T>(text: string, params?: readonly unknown[]) {
        if (text.includes('UPDATE "Twin"') && writes++ === 0) {
          const outcome = await b.twins.applyPatch({ deviceId, section: 'reported', patch: { fromB: 1 }, source: 'device' });
          expect(outcome.ok).toBe(true);
        }
        return db.sql.query<T>(text, params);
      },
    };
    const a = testTwinService(db, { sql: racingSql });

    const outcome = await a.twins.applyPatch({ deviceId, section: 'reported', patch: { fromA: 1 }, source: 'device' });
    expect(outcome).toMatchObject({ ok: true, version: 2, changed: true });
    expect(writes).toBe(2);
    await Promise.all([a.twins.drain(), b.twins.drain()]);

    expect(b.stored.flatMap((s) => s.changes).map((c) => [c.version, c.patch])).toEqual([[1, { fromB: 1 }]]);
    expect(a.stored.flatMap((s) => s.changes).map((c) => [c.version, c.patch])).toEqual([[2, { fromA: 1 }]]);
    expect(a.published.map(key)).toEqual([`${deviceId}@2`]);
  });

  it('interleaved writes from two services: every stored change is announced exactly once', async () => {
    const deviceId = uniqueDeviceId();
    const deviceUuid = await createTwinDevice(db, deviceId);
    const a = testTwinService(db, { maxBatch: 7 });
    const b = testTwinService(db, { maxBatch: 5 });

    const base = Date.now() - 100_000;
    const writes = [];
    for (let i = 0; i < 60; i++) {
      const service = i % 2 === 0 ? a : b;
      writes.push(service.twins.applyPatch({ deviceId, section: 'reported', patch: { [`k${i}`]: i }, ts: base + i, source: 'device' }));
    }
    expect((await Promise.all(writes)).every((o) => o.ok && o.changed)).toBe(true);
    await Promise.all([a.twins.drain(), b.twins.drain()]);

    const announced = [...a.stored, ...b.stored].flatMap((s) => s.changes);
    const logged = await db.prisma.twinChange.findMany({ where: { deviceId: deviceUuid }, select: { version: true } });
    expect(announced.map((c) => c.version).sort((x, y) => x - y)).toEqual(logged.map((c) => c.version).sort((x, y) => x - y));
    expect(new Set(announced.map(key)).size).toBe(60);
    // Each service announced exactly the writes it was given, once.
    expect(
      a.stored
        .flatMap((s) => s.changes)
        .map((c) => Object.keys(c.patch)[0])
        .sort(),
    ).toEqual(Array.from({ length: 30 }, (_, i) => `k${2 * i}`).sort());
    expect([...a.published, ...b.published].map(key).sort()).toEqual(announced.map(key).sort());
  });
});
