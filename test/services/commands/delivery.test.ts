import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../src/db/client.ts';
import { TRANSITIONS_METRIC } from '../../../src/services/commands/index.ts';
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

const toast = (deviceId: string, power: number) => ({ deviceId, name: 'toast', params: { power } });

describe(`command delivery (${modeName})`, () => {
  it('hands a command for an online device to the outbox at once, as data, and marks it SENT', async () => {
    const f = commandsFixture(db);
    const model = await f.createModel();
    const device = await f.createDevice(model.id, { online: true });
    const { id } = await f.service.send(operator, { deviceId: device.deviceId, name: 'eject' });
    await until(() => f.outbox.to(device.deviceId).length === 1, 'the delivery');
    const [delivered] = f.outbox.to(device.deviceId);
    const row = await f.command(id);
    expect(delivered).toEqual({ deviceId: device.deviceId, commandId: id, name: 'eject', params: {}, expiresAt: row.expiresAt!.getTime() });
    await f.waitForStatus(id, 'SENT');
    expect(f.updates).toContainEqual(expect.objectContaining({ commandId: id, from: 'PENDING', status: 'SENT' }));
    await f.service.stop();
  });

  it('keeps commands for an offline device, and delivers them in creation order when it comes online', async () => {
    const f = commandsFixture(db);
    const model = await f.createModel();
    const device = await f.createDevice(model.id);
    const ids: string[] = [];
    for (const power of [1, 2, 3, 4, 5]) ids.push((await f.service.send(operator, toast(device.deviceId, power))).id);
    await f.service.sweep();
    expect(f.outbox.to(device.deviceId)).toEqual([]);

    await f.comeOnline(device.deviceId);
    await until(() => f.outbox.to(device.deviceId).length === 5, 'five deliveries');
    expect(f.outbox.to(device.deviceId).map((c) => c.commandId)).toEqual(ids);
    expect(f.outbox.to(device.deviceId).map((c) => c.params.power)).toEqual([1, 2, 3, 4, 5]);
    for (const id of ids) await f.waitForStatus(id, 'SENT');
    await f.service.stop();
  });

  it('publishes nothing to a device that connected but has not announced online', async () => {
    const f = commandsFixture(db);
    const model = await f.createModel();
    const device = await f.createDevice(model.id);
    await db.prisma.device.update({ where: { deviceId: device.deviceId }, data: { connected: true } });
    const { id } = await f.service.send(operator, toast(device.deviceId, 1));
    await f.service.sweep();
    await f.service.stop();
    expect(f.outbox.to(device.deviceId)).toEqual([]);
    expect((await f.command(id)).status).toBe('PENDING');
  });

  it('redelivers SENT commands on reconnect, before newer ones, and never a command acked meanwhile', async () => {
    const f = commandsFixture(db);
    const model = await f.createModel();
    const device = await f.createDevice(model.id, { online: true });
    const first = (await f.service.send(operator, toast(device.deviceId, 1))).id;
    const second = (await f.service.send(operator, toast(device.deviceId, 2))).id;
    const done = (await f.service.send(operator, toast(device.deviceId, 3))).id;
    await until(() => f.outbox.to(device.deviceId).length === 3, 'three deliveries');
    expect(await f.service.handleAck(device.deviceId, done, { status: 'SUCCEEDED' }, Date.now())).toEqual({ ok: true, status: 'SUCCEEDED' });

    await f.goOffline(device.deviceId);
    const third = (await f.service.send(operator, toast(device.deviceId, 4))).id;
    // The broker may have lost what it had for the earlier session: SENT goes out again, then PENDING.
    await f.comeOnline(device.deviceId);
    await until(() => f.outbox.to(device.deviceId).length === 6, 'the redeliveries and the new command');
    expect(f.outbox.to(device.deviceId).map((c) => c.commandId)).toEqual([first, second, done, first, second, third]);
    await f.service.stop();
  });

  it('releases claims whose hand-over failed, holds later commands back, and delivers them in order on the next sweep', async () => {
    const f = commandsFixture(db);
    const model = await f.createModel();
    const device = await f.createDevice(model.id, { online: true });
    f.outbox.failFor(device.deviceId);
    const ids = [(await f.service.send(operator, toast(device.deviceId, 1))).id, (await f.service.send(operator, toast(device.deviceId, 2))).id];
    await until(() => f.updates.some((u) => u.commandId === ids[0] && u.from === 'SENT' && u.status === 'PENDING'), 'the release');
    await f.service.stop();
    expect((await f.commandsOf(device.uuid)).map((c) => [c.status, c.sentAt])).toEqual([
      ['PENDING', null],
      ['PENDING', null],
    ]);
    expect(f.metrics.get(TRANSITIONS_METRIC, { status: 'PENDING' })).toBeGreaterThanOrEqual(1);

    f.outbox.recover(device.deviceId);
    await f.service.sweep();
    await until(() => f.outbox.to(device.deviceId).length === 2, 'both deliveries');
    expect(f.outbox.to(device.deviceId).map((c) => c.commandId)).toEqual(ids);
    await f.service.stop();
  });
});
