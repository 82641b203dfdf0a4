/**
 * The broker's side of a connect storm, set-based (src/services/devices/broker.ts, src/services/twins/loader.ts):
 * CONNECTs that arrive together are authenticated with one lookup, connection changes are written with
 * one statement, delta hand-overs read with one; every caller still gets its own answer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../src/db/client.ts';
import { createLogger } from '../../../src/logger.ts';
import { createEventBus } from '../../../src/events/bus.ts';
import { createAuditLog } from '../../../src/services/audit.ts';
import { createDeviceService } from '../../../src/services/devices/index.ts';
import { ConnectAbandonedError, layers } from '../../../src/services/devices/broker.ts';
import { createTwinLoader } from '../../../src/services/twins/loader.ts';
import { modeName, openTestDatabase, uniqueDeviceId } from '../../support/harness.ts';
import { recordingSessions, testActor } from './support.ts';

let db: Database;
let closeDatabase: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ db, close: closeDatabase } = await openTestDatabase());
});
afterAll(async () => {
  await closeDatabase?.();
});

const admin = testActor();

/** The database with its raw statements counted by their first words. */
function counted(database: Database) {
  const statements: string[] = [];
  const sql = {
    query<T>(text: string, params?: readonly unknown[]): Promise<T[]> {
      statements.push(text.replace(/\s+/g, ' ').trim().slice(0, 40));
      return database.sql.query<T>(text, params);
    },
  };
  return { db: { ...database, sql } as Database, statements };
}

function servicesOn(database: Database) {
  const logger = createLogger('silent');
  const bus = createEventBus();
  const devices = createDeviceService({ db: database, bus, logger, sessions: recordingSessions(), audit: createAuditLog({ prisma: database.prisma, logger }) });
  return { devices, bus };
}

async function registerMany(n: number): Promise<Array<{ deviceId: string; password: string }>> {
  const { devices } = servicesOn(db);
  const out = [];
  for (let i = 0; i < n; i++) {
    const deviceId = uniqueDeviceId();
    const { credentials } = await devices.register(admin, { deviceId });
    out.push({ deviceId, password: credentials.password });
  }
  return out;
}

describe(`connect storms, set-based (${modeName})`, () => {
  it('authenticates CONNECTs that arrive together with one lookup, each with its own answer', async () => {
    const registered = await registerMany(12);
    const { devices: admin_ } = servicesOn(db);
    await admin_.disable(admin, registered[10]!.deviceId);
    await admin_.revokeCredentials(admin, registered[11]!.deviceId);
    const { db: countedDb, statements } = counted(db);
    const { devices } = servicesOn(countedDb);

    const asks = [
      ...registered.slice(0, 8).map((d) => ({ deviceId: d.deviceId, password: d.password, expected: true })),
      { deviceId: registered[8]!.deviceId, password: 'wrong', expected: false },
      // The same device twice in one batch, once right and once wrong.
      { deviceId: registered[9]!.deviceId, password: registered[9]!.password, expected: true },
      { deviceId: registered[9]!.deviceId, password: registered[8]!.password, expected: false },
      { deviceId: registered[10]!.deviceId, password: registered[10]!.password, expected: false }, // disabled
      { deviceId: registered[11]!.deviceId, password: registered[11]!.password, expected: false }, // revoked
      { deviceId: uniqueDeviceId(), password: 'whatever', expected: false }, // unknown
    ];
    const decisions = await Promise.all(asks.map((a) => devices.authenticate(a.deviceId, Buffer.from(a.password))));
    expect(decisions).toEqual(asks.map((a) => a.expected));
    // An invalid id or a missing password never reaches the database.
    expect(await devices.authenticate('no spaces', Buffer.from('x'))).toBe(false);
    expect(await devices.authenticate(registered[0]!.deviceId, undefined)).toBe(false);
    expect(statements.filter((s) => s.startsWith('SELECT "deviceId" AS device_id'))).toHaveLength(1);
  });

  it('leaves CONNECTs abandoned by their clients out of the lookup, and a batch of only those costs no statement', async () => {
    const registered = await registerMany(3);
    const { db: countedDb, statements } = counted(db);
    const { devices } = servicesOn(countedDb);
    const gone = { abandoned: () => true };
    const live = { abandoned: () => false };
    const [first, second, third] = registered as [(typeof registered)[0], (typeof registered)[0], (typeof registered)[0]];
    const outcomes = await Promise.allSettled([
      devices.authenticate(first.deviceId, Buffer.from(first.password), live),
      devices.authenticate(second.deviceId, Buffer.from(second.password), gone),
      devices.authenticate(third.deviceId, Buffer.from(third.password)),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((outcomes[1] as PromiseRejectedResult).reason).toBeInstanceOf(ConnectAbandonedError);
    expect(outcomes.filter((o) => o.status === 'fulfilled').map((o) => o.value)).toEqual([true, true]);

    // Whether a client is gone is asked when its batch is looked up, not when it was queued.
    let leaves = false;
    const leaving = devices.authenticate(second.deviceId, Buffer.from(second.password), { abandoned: () => leaves });
    leaves = true;
    await expect(leaving).rejects.toBeInstanceOf(ConnectAbandonedError);
    const lookups = statements.filter((s) => s.startsWith('SELECT "deviceId" AS device_id'));
    expect(lookups).toHaveLength(1);
  });

  it('accepts the previous secret of a batch member inside its grace period, until then only', async () => {
    const [device] = await registerMany(1);
    const { devices } = servicesOn(db);
    const rotated = await devices.rotateCredentials(admin, device!.deviceId, 60);
    const [current, previous] = await Promise.all([
      devices.authenticate(device!.deviceId, Buffer.from(rotated.credentials.password)),
      devices.authenticate(device!.deviceId, Buffer.from(device!.password)),
    ]);
    expect(current).toBe(true);
    expect(previous).toMatchObject({ expiresAt: expect.any(Number) });
    expect((previous as { expiresAt: number }).expiresAt).toBeGreaterThan(Date.now());
  });

  it('writes the connection changes of a storm in one statement, a device changing twice in order', async () => {
    const registered = await registerMany(6);
    const { db: countedDb, statements } = counted(db);
    const { devices, bus } = servicesOn(countedDb);
    const live = bus.subscribe('deviceConnection', (e) => registered.some((d) => d.deviceId === e.deviceId));
    const t = Date.now();
    await Promise.all([
      ...registered.map((d) => devices.setConnection(d.deviceId, 'connected', t)),
      // The first device goes away again in the same batch: its second change goes into a second statement.
      devices.setConnection(registered[0]!.deviceId, 'disconnected', t + 1),
      // A stale change (older than the last seen) is ignored, in a batch as alone.
      devices.setConnection(registered[1]!.deviceId, 'disconnected', t - 1000),
    ]);
    expect(statements.filter((s) => s.startsWith('WITH input AS'))).toHaveLength(2);
    const rows = await db.prisma.device.findMany({ where: { deviceId: { in: registered.map((d) => d.deviceId) } }, orderBy: { deviceId: 'asc' } });
    const connected = Object.fromEntries(rows.map((r) => [r.deviceId, r.connected]));
    expect(connected).toEqual(Object.fromEntries(registered.map((d, i) => [d.deviceId, i !== 0])));

    const events = [];
    for await (const event of live) {
      events.push(event);
      if (events.length === registered.length + 1) break;
    }
    expect(events.filter((e) => e.deviceId === registered[0]!.deviceId).map((e) => e.connected)).toEqual([true, false]);
    expect(events.filter((e) => e.deviceId !== registered[0]!.deviceId).every((e) => e.connected)).toBe(true);
  });

  it('reads the deltas of devices handed over together with one statement', async () => {
    const registered = await registerMany(3);
    const { db: countedDb, statements } = counted(db);
    const loader = createTwinLoader({ sql: countedDb.sql });
    const unknown = uniqueDeviceId();
    const deltas = await Promise.all([
      ...registered.map((d) => loader.readDelta(d.deviceId)),
      loader.readDelta(unknown),
      loader.readDelta(registered[0]!.deviceId),
    ]);
    expect(deltas.slice(0, 3)).toEqual(registered.map(() => ({ version: expect.any(Number), delta: {} })));
    expect(deltas[3]).toBeNull();
    expect(deltas[4]).toEqual(deltas[0]);
    expect(statements).toHaveLength(1);
  });
});

describe('layers of a batch of connection changes', () => {
  it('keeps each device at most once per layer and its changes in order', () => {
    const changes = ['a', 'b', 'a', 'c', 'a', 'b'].map((deviceId, n) => ({ deviceId, n }));
    expect(layers(changes).map((layer) => layer.map(({ item }) => `${item.deviceId}${item.n}`))).toEqual([['a0', 'b1', 'c3'], ['a2', 'b5'], ['a4']]);
    expect(layers([])).toEqual([]);
  });
});
