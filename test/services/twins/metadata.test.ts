/**
 * Bounded twin metadata through the real twin service on a database: deletions older than the window
 * leave the stored metadata, and growth beyond the cap is refused with its code, storing nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../src/db/client.ts';
import { ValidationError } from '../../../src/domain/errors.ts';
import { modeName, openTestDatabase, uniqueDeviceId } from '../../support/harness.ts';
import { createTwinDevice, testTwinService } from './support.ts';

let db: Database;
let closeDatabase: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ db, close: closeDatabase } = await openTestDatabase());
});
afterAll(async () => {
  await closeDatabase?.();
});

async function storedTwin(deviceUuid: string) {
  return db.prisma.twin.findUniqueOrThrow({ where: { deviceId: deviceUuid } });
}

describe(`bounded twin metadata on a database (${modeName})`, () => {
  it('forgets deletions older than the window: a device churning keys keeps a small stored metadata', async () => {
    const { twins } = testTwinService(db, { limits: { tombstoneTtlMs: 100, maxMetadataEntries: 50 } });
    const deviceId = uniqueDeviceId();
    const deviceUuid = await createTwinDevice(db, deviceId);
    const t0 = Date.now() - 1_000_000;
    for (let i = 0; i < 200; i++) {
      const ts = t0 + i * 20;
      const added = await twins.applyPatch({ deviceId, section: 'reported', patch: { [`k${i}`]: i }, ts, source: 'device' });
      const deleted = await twins.applyPatch({ deviceId, section: 'reported', patch: { [`k${i}`]: null }, ts: ts + 10, source: 'device' });
      // Every one accepted: 200 pairs of distinct keys never reach a cap of 50 entries.
      expect([added.ok, deleted.ok]).toEqual([true, true]);
    }
    const row = await storedTwin(deviceUuid);
    expect(row.reported).toEqual({});
    expect(row.version).toBe(400);
    // Only the deletions of the last 100 ms remain (5 pairs, 20 ms apart).
    const kept = Object.keys(row.reportedMeta as object);
    expect(kept.length).toBeLessThanOrEqual(6);
    expect(kept).toContain('["k199"]');
    expect(kept).not.toContain('["k0"]');

    // The replay of a forgotten key's write cannot bring it back.
    const replay = await twins.applyPatch({ deviceId, section: 'reported', patch: { k0: 0 }, ts: t0, source: 'device' });
    expect(replay).toMatchObject({ ok: true, changed: false, version: 400 });
    expect((await storedTwin(deviceUuid)).reported).toEqual({});
  });

  it('refuses growth beyond the cap with METADATA_TOO_LARGE and writes nothing', async () => {
    const { twins, stored, published } = testTwinService(db, { limits: { maxMetadataEntries: 4 } });
    const deviceId = uniqueDeviceId();
    const deviceUuid = await createTwinDevice(db, deviceId);
    expect(await twins.applyPatch({ deviceId, section: 'reported', patch: { a: 1, b: { c: 1 } }, source: 'device' })).toMatchObject({ ok: true, version: 1 });
    const before = await storedTwin(deviceUuid);
    const batchesBefore = stored.length;
    const eventsBefore = published.length;

    const refused = await twins.applyPatch({ deviceId, section: 'reported', patch: { d: 1, e: 1 }, source: 'device' });
    expect(refused.ok).toBe(false);
    if (refused.ok) return;
    expect(refused.error).toBeInstanceOf(ValidationError);
    const error = refused.error as ValidationError;
    expect(error.issues).toEqual([
      {
        path: [],
        code: 'METADATA_TOO_LARGE',
        message:
          'state would keep 5 metadata entries (its keys, objects and the deletions remembered for 86400000 ms); the limit is 4: add and delete fewer distinct keys',
      },
    ]);
    const after = await storedTwin(deviceUuid);
    expect(after).toEqual(before);
    expect(await db.prisma.twinChange.count({ where: { deviceId: deviceUuid } })).toBe(1);
    expect([stored.length, published.length]).toEqual([batchesBefore, eventsBefore]);

    // An update within the cap is still accepted.
    expect(await twins.applyPatch({ deviceId, section: 'reported', patch: { a: 2 }, source: 'device' })).toMatchObject({ ok: true, version: 2 });
  });
});
