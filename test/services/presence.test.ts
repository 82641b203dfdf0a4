/** lastSeenAt through a database outage: a batch that failed transiently is written by the next flush. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database, SqlExecutor } from '../../src/db/client.ts';
import { createLogger } from '../../src/logger.ts';
import { createLastSeenTracker } from '../../src/services/presence.ts';
import { modeName, openTestDatabase, uniqueDeviceId } from '../support/harness.ts';

let db: Database;
let closeDatabase: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ db, close: closeDatabase } = await openTestDatabase());
});
afterAll(async () => {
  await closeDatabase?.();
});

describe(`lastSeenAt tracker (${modeName})`, () => {
  it('keeps a batch the database was unavailable for and writes it, with newer times, once it is back', async () => {
    let down = false;
    const sql: SqlExecutor = {
      query(text, params) {
        if (down)
          return Promise.reject(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED', errno: -111, syscall: 'connect' }));
        return db.sql.query(text, params);
      },
    };
    const tracker = createLastSeenTracker(sql, createLogger('silent'), 60_000);
    const [a, b] = [uniqueDeviceId('seen'), uniqueDeviceId('seen')];
    for (const deviceId of [a, b]) await db.prisma.device.create({ data: { deviceId, secretHash: 'x' } });
    const lastSeen = async (deviceId: string) => (await db.prisma.device.findUniqueOrThrow({ where: { deviceId } })).lastSeenAt?.getTime();

    down = true;
    tracker.touch(a, 1_000_000);
    tracker.touch(b, 2_000_000);
    await tracker.flush();
    tracker.touch(a, 3_000_000); // seen again during the outage
    down = false;
    await tracker.flush();
    expect(await lastSeen(a)).toBe(3_000_000);
    expect(await lastSeen(b)).toBe(2_000_000);
    await tracker.stop();
  });
});
