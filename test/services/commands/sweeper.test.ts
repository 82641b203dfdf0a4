import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../src/db/client.ts';
import { modeName, openTestDatabase } from '../../support/harness.ts';
import { commandsFixture, operator, until } from './fixture.ts';

let db: Database;
let closeDatabase: (() => Promise<void>) | undefined;
beforeAll(async () => {
  ({ db, close: closeDatabase } = await openTestDatabase());
});
afterAll(async () => {
  await closeDatabase?.();
});

// Each test's clock starts later than the previous one's ended, so a sweep never judges another test's
// commands by an earlier clock.
let epoch = Date.now();
const clockAfter = (ms: number) => ({ now: (epoch += ms) });

describe(`the command sweeper (${modeName})`, () => {
  it('expires an undelivered command once its TTL has passed, not a millisecond earlier, and never delivers it', async () => {
    const clock = clockAfter(0);
    const f = commandsFixture(db, { clock });
    const model = await f.createModel();
    const device = await f.createDevice(model.id);
    // `eject` has a 5 s TTL by default; this one is given 2 s.
    const short = (await f.service.send(operator, { deviceId: device.deviceId, name: 'eject', ttlMs: 2000 })).id;
    const long = (await f.service.send(operator, { deviceId: device.deviceId, name: 'eject' })).id;

    clock.now += 1999;
    await f.service.sweep();
    expect((await f.command(short)).status).toBe('PENDING');

    clock.now += 1;
    await f.service.sweep();
    expect(await f.command(short)).toMatchObject({ status: 'EXPIRED', completedAt: new Date(clock.now), deadlineAt: null });
    expect((await f.command(long)).status).toBe('PENDING');

    await f.comeOnline(device.deviceId);
    await until(() => f.outbox.to(device.deviceId).length === 1, 'the delivery of the live command');
    await f.service.stop();
    expect(f.outbox.to(device.deviceId).map((c) => c.commandId)).toEqual([long]);
    expect(f.updates).toContainEqual(expect.objectContaining({ commandId: short, from: 'PENDING', status: 'EXPIRED' }));
    epoch = clock.now;
  });

  it('times out a delivered command without a final ack, counted from when it was sent', async () => {
    const clock = clockAfter(10_000);
    const f = commandsFixture(db, { clock });
    const model = await f.createModel();
    const device = await f.createDevice(model.id, { online: true });
    const { id } = await f.service.send(operator, { deviceId: device.deviceId, name: 'toast', params: { power: 1 } });
    await f.waitForStatus(id, 'SENT');
    // Accepted, but the final ack never comes: `toast` times out 60 s after it was sent.
    expect(await f.service.handleAck(device.deviceId, id, { status: 'ACCEPTED' }, clock.now + 1000)).toMatchObject({ ok: true });

    clock.now += 59_999;
    await f.service.sweep();
    expect((await f.command(id)).status).toBe('ACCEPTED');

    clock.now += 1;
    await f.service.sweep();
    expect(await f.command(id)).toMatchObject({ status: 'TIMED_OUT', deadlineAt: null });
    // The device's answer after the timeout is refused: the outcome stays "unknown".
    const late = await f.service.handleAck(device.deviceId, id, { status: 'SUCCEEDED' }, clock.now + 1);
    expect(late).toMatchObject({ ok: false, error: { code: 'ILLEGAL_TRANSITION' } });
    await f.service.stop();
    epoch = clock.now;
  });

  it('once started, sweeps periodically: expiries, and commands waiting for a connected device; no more once stopped', async () => {
    const f = commandsFixture(db, { config: { sweepIntervalMs: 100 } });
    const model = await f.createModel();
    const device = await f.createDevice(model.id);
    const expiring = (await f.service.send(operator, { deviceId: device.deviceId, name: 'eject', ttlMs: 1 })).id;
    const waiting = (await f.service.send(operator, { deviceId: device.deviceId, name: 'toast', params: { power: 1 } })).id;
    // Connected and subscribed with nobody telling the service: as a server restarted behind an
    // external broker finds its devices.
    await db.prisma.device.update({ where: { deviceId: device.deviceId }, data: { connected: true, commandsReadyAt: new Date() } });
    await new Promise((r) => setTimeout(r, 5));
    expect(f.outbox.delivered).toEqual([]);

    f.service.start();
    await f.waitForStatus(expiring, 'EXPIRED');
    await until(() => f.outbox.delivered.some((c) => c.commandId === waiting), 'a sweep to deliver the waiting command');

    await f.service.stop();
    await f.goOffline(device.deviceId);
    const after = (await f.service.send(operator, { deviceId: device.deviceId, name: 'eject', ttlMs: 1 })).id;
    await new Promise((r) => setTimeout(r, 300));
    expect((await f.command(after)).status).toBe('PENDING');
  });
});
