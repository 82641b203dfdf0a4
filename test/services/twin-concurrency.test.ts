import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/client.ts';
import { modeName, openTestDatabase, uniqueDeviceId } from '../support/harness.ts';
import { testTwinService } from './twins/support.ts';

// Two twin services on one database stand for two Doppel instances handling the same device (shared
// subscriptions hand each message to one of them). Whatever the interleaving, nothing is lost.
let db: Database;
let closeDatabase: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ db, close: closeDatabase } = await openTestDatabase());
});
afterAll(async () => {
  await closeDatabase?.();
});

describe(`twin writes from two instances converge (${modeName})`, () => {
  it('interleaved patches to one device from two services lose nothing and version each change once', async () => {
    const a = testTwinService(db, { maxBatch: 7 }).twins;
    const b = testTwinService(db, { maxBatch: 5 }).twins;
    const deviceId = uniqueDeviceId();
    await db.prisma.device.create({ data: { deviceId, secretHash: 'x', twin: { create: {} } } });

    const base = Date.now() - 100_000;
    const writes = [];
    for (let i = 0; i < 60; i++) {
      const service = i % 2 === 0 ? a : b;
      // Distinct keys per write, and a shared key whose newest timestamp must win.
      writes.push(service.applyPatch({ deviceId, section: 'reported', patch: { [`k${i}`]: i, shared: i }, ts: base + i, source: 'device' }));
    }
    const outcomes = await Promise.all(writes);
    expect(outcomes.every((o) => o.ok)).toBe(true);

    const twin = await db.prisma.twin.findFirstOrThrow({ where: { device: { deviceId } } });
    const reported = twin.reported as Record<string, number>;
    for (let i = 0; i < 60; i++) expect(reported[`k${i}`]).toBe(i);
    expect(reported.shared).toBe(59);
    // Every write changed something (a new key), so each got its own version, exactly once.
    expect(twin.version).toBe(60);
    const versions = (await db.prisma.twinChange.findMany({ where: { deviceId: twin.deviceId }, select: { version: true } }))
      .map((c) => c.version)
      .sort((x, y) => x - y);
    expect(versions).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
  });
});
