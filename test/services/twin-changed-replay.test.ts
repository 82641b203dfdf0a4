/**
 * The resumable twinChanged stream (src/services/twin-replay/) on its own: a replay longer than a page is
 * read page by page without a hole, and retention deleting rows the replay has not reached yet ends it
 * with RESYNC_REQUIRED instead of skipping versions. (The graphql-ws behaviour is in
 * test/e2e/twin-changed-resume.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database, SqlExecutor } from '../../src/db/client.ts';
import { createEventBus } from '../../src/events/bus.ts';
import { Metrics } from '../../src/metrics.ts';
import { createTwinReplay, RESUMED_CHANGES_METRIC } from '../../src/services/twin-replay/index.ts';
import { modeName, openTestDatabase, uniqueDeviceId } from '../support/harness.ts';

let db: Database;
let closeDatabase: (() => Promise<void>) | undefined;
beforeAll(async () => {
  ({ db, close: closeDatabase } = await openTestDatabase());
});
afterAll(async () => {
  await closeDatabase?.();
});

/** A device at version `n` with its whole change log. */
async function seed(n: number) {
  const deviceId = uniqueDeviceId('replay');
  const d = await db.prisma.device.create({ data: { deviceId, secretHash: 'x', twin: { create: { version: n } } } });
  await db.sql.query(
    `INSERT INTO "TwinChange" ("deviceId", version, section, patch, source)
     SELECT $1::uuid, v, 'reported', jsonb_build_object('v', v), 'device' FROM generate_series(1, $2::int) AS v`,
    [d.id, n],
  );
  return { deviceId, uuid: d.id };
}

describe(`twin replay in pages (${modeName})`, () => {
  it('reads a long replay page by page, one statement per page, oldest first', async () => {
    const { deviceId } = await seed(7);
    const pages: string[] = [];
    const sql: SqlExecutor = { query: (text, params) => (text.includes('LIMIT $4') && pages.push(text), db.sql.query(text, params)) };
    const metrics = new Metrics();
    const stream = createTwinReplay({ sql, bus: createEventBus(), metrics, pageRows: 2 }).resume('default', deviceId, 1);
    const got: number[] = [];
    for (let i = 0; i < 6; i++) got.push(((await stream.next()).value as { version: number }).version);
    expect(got).toEqual([2, 3, 4, 5, 6, 7]);
    expect(pages).toHaveLength(3);
    expect(metrics.get(RESUMED_CHANGES_METRIC)).toBe(6);
    await stream.return!();
    expect(await stream.next()).toEqual({ value: undefined, done: true });
  });

  it('ends with RESYNC_REQUIRED when rows it has not reached yet are deleted during the replay', async () => {
    const { deviceId, uuid } = await seed(6);
    const bus = createEventBus();
    const stream = createTwinReplay({ sql: db.sql, bus, metrics: new Metrics(), pageRows: 2 }).resume('default', deviceId, 0);
    expect((await stream.next()).value).toMatchObject({ version: 1, patch: { v: 1 } });
    expect((await stream.next()).value).toMatchObject({ version: 2 });
    // Retention, between two pages, deletes versions 3 and 4.
    await db.sql.query(`DELETE FROM "TwinChange" WHERE "deviceId" = $1::uuid AND version IN (3, 4)`, [uuid]);
    await expect(stream.next()).rejects.toMatchObject({ code: 'RESYNC_REQUIRED', currentVersion: 6, oldestVersion: 5 });
    // Failing ended the live subscription too.
    expect(bus.subscriberCount('twinChanged')).toBe(0);
  });

  it('unsubscribes from the bus when the client leaves before the stream started or while it waits', async () => {
    const { deviceId } = await seed(1);
    const bus = createEventBus();
    const replay = createTwinReplay({ sql: db.sql, bus, metrics: new Metrics() });
    const never = replay.resume('default', deviceId, 1);
    await never.return!();
    expect(bus.subscriberCount('twinChanged')).toBe(0);
    const waiting = replay.resume('default', deviceId, 1);
    const pending = waiting.next();
    await new Promise((r) => setTimeout(r, 0));
    while (bus.subscriberCount('twinChanged') === 0) await new Promise((r) => setTimeout(r, 5));
    await waiting.return!();
    expect(await pending).toEqual({ value: undefined, done: true });
    expect(bus.subscriberCount('twinChanged')).toBe(0);
  });
});
