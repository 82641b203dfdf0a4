/** Twin reports through a database outage: held, not failed; stored once the database answers; failed as unavailable at shutdown. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database, SqlExecutor } from '../../../src/db/client.ts';
import { STORE_RETRIES_METRIC } from '../../../src/services/store-retry.ts';
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

/** A SqlExecutor that fails every statement as a PostgreSQL shutting down does (57P01) while `down`. */
function outage(db: Database) {
  let down = false;
  const sql: SqlExecutor = {
    query(text, params) {
      if (down)
        return Promise.reject(
          Object.assign(new Error('terminating connection due to administrator command (simulated)'), { code: '57P01', severity: 'FATAL' }),
        );
      return db.sql.query(text, params);
    },
  };
  return { sql, down: () => void (down = true), up: () => void (down = false) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe(`twins through a database outage (${modeName})`, () => {
  it('holds every queued report while the database is down and stores them all when it is back', async () => {
    const io = outage(db);
    const { twins, metrics } = testTwinService(db, { sql: io.sql });
    const deviceId = uniqueDeviceId('outage');
    await createTwinDevice(db, deviceId);
    io.down();
    let answered = 0;
    const reports = Array.from({ length: 10 }, (_, i) =>
      twins.applyPatch({ deviceId, section: 'reported', patch: { [`k${i}`]: i }, source: 'device' }).finally(() => answered++),
    );
    await sleep(150);
    expect(answered).toBe(0);
    expect(metrics.get(STORE_RETRIES_METRIC, { kind: 'twins' })).toBeGreaterThan(1);
    io.up();
    const outcomes = await Promise.all(reports);
    expect(outcomes.every((o) => o.ok)).toBe(true);
    const got = await twins.get(deviceId);
    expect(got).toMatchObject({ ok: true, twin: { reported: Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, i])) } });
    await twins.drain();
  });

  it('at shutdown with the database down, fails the held reports as UNAVAILABLE', async () => {
    const io = outage(db);
    const { twins, stored } = testTwinService(db, { sql: io.sql });
    const deviceId = uniqueDeviceId('outage');
    await createTwinDevice(db, deviceId);
    io.down();
    const held = twins.applyPatch({ deviceId, section: 'reported', patch: { a: 1 }, source: 'device' });
    await sleep(50);
    await twins.drain();
    await expect(held).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(stored).toEqual([]);
  });
});
