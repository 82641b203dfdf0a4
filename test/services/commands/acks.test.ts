import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../src/db/client.ts';
import { DoppelError } from '../../../src/domain/errors.ts';
import { ACKS_IGNORED_METRIC, AckRefusedError, TRANSITIONS_METRIC } from '../../../src/services/commands/index.ts';
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

/** A fixture with one online device that has been sent one `toast`. */
async function sentToast() {
  const f = commandsFixture(db);
  const model = await f.createModel();
  const device = await f.createDevice(model.id, { online: true });
  const { id } = await f.service.send(operator, { deviceId: device.deviceId, name: 'toast', params: { power: 5 } });
  await f.waitForStatus(id, 'SENT');
  return { f, device, id };
}

describe(`command acks (${modeName})`, () => {
  it('moves a command SENT → ACCEPTED → SUCCEEDED, storing the result, the times and the events', async () => {
    const { f, device, id } = await sentToast();
    const t = Date.now();
    expect(await f.service.handleAck(device.deviceId, id, { status: 'ACCEPTED' }, t)).toEqual({ ok: true, status: 'ACCEPTED' });
    expect(await f.service.handleAck(device.deviceId, id, { status: 'SUCCEEDED', result: { crumbs: 3 } }, t + 10)).toEqual({ ok: true, status: 'SUCCEEDED' });
    const row = await f.command(id);
    expect(row).toMatchObject({ status: 'SUCCEEDED', result: { crumbs: 3 }, acceptedAt: new Date(t), completedAt: new Date(t + 10), deadlineAt: null });
    expect(f.updates.filter((u) => u.commandId === id).map((u) => `${u.from}→${u.status}`)).toEqual([
      'null→PENDING',
      'PENDING→SENT',
      'SENT→ACCEPTED',
      'ACCEPTED→SUCCEEDED',
    ]);
    expect(f.metrics.get(TRANSITIONS_METRIC, { status: 'SUCCEEDED' })).toBe(1);
    await f.service.stop();
  });

  it('chains acks for one command in arrival order', async () => {
    const { f, device, id } = await sentToast();
    const t = Date.now();
    const outcomes = await Promise.all([
      f.service.handleAck(device.deviceId, id, { status: 'ACCEPTED' }, t),
      f.service.handleAck(device.deviceId, id, { status: 'FAILED', error: 'jammed' }, t + 1),
    ]);
    expect(outcomes).toEqual([
      { ok: true, status: 'ACCEPTED' },
      { ok: true, status: 'FAILED' },
    ]);
    expect(await f.command(id)).toMatchObject({ status: 'FAILED', error: 'jammed' });
    await f.service.stop();
  });

  it('takes an ack that overtakes the SENT mark: the ack proves delivery', async () => {
    const f = commandsFixture(db);
    const model = await f.createModel();
    const device = await f.createDevice(model.id);
    const { id } = await f.service.send(operator, { deviceId: device.deviceId, name: 'eject' });
    expect(await f.service.handleAck(device.deviceId, id, { status: 'SUCCEEDED' }, Date.now())).toEqual({ ok: true, status: 'SUCCEEDED' });
    expect((await f.command(id)).sentAt).not.toBeNull();
    await f.service.stop();
  });

  it('refuses duplicate, illegal, unknown and foreign acks as failures with stable codes, records them on the command and counts them', async () => {
    const { f, device, id } = await sentToast();
    const other = await f.createDevice(null);
    const t = Date.now();
    expect(await f.service.handleAck(device.deviceId, id, { status: 'SUCCEEDED' }, t)).toEqual({ ok: true, status: 'SUCCEEDED' });

    const duplicate = await f.service.handleAck(device.deviceId, id, { status: 'SUCCEEDED' }, t + 1);
    const illegal = await f.service.handleAck(device.deviceId, id, { status: 'FAILED' }, t + 2);
    const unknown = await f.service.handleAck(device.deviceId, '00000000-0000-4000-8000-00000000dead', { status: 'ACCEPTED' }, t);
    const notAUuid = await f.service.handleAck(device.deviceId, 'cmd-1', { status: 'ACCEPTED' }, t);
    const foreign = await f.service.handleAck(other.deviceId, id, { status: 'SUCCEEDED' }, t);
    const codes = [duplicate, illegal, unknown, notAUuid, foreign].map((o) => (o.ok ? 'ok' : o.error.code));
    expect(codes).toEqual(['DUPLICATE', 'ILLEGAL_TRANSITION', 'UNKNOWN_COMMAND', 'UNKNOWN_COMMAND', 'OTHER_DEVICE']);
    for (const o of [duplicate, illegal, unknown, notAUuid, foreign]) {
      expect(o.ok).toBe(false);
      if (!o.ok) {
        expect(o.error).toBeInstanceOf(AckRefusedError);
        expect(o.error).toBeInstanceOf(DoppelError);
        expect(o.error.message).not.toBe('');
      }
    }
    expect(foreign).toEqual({ ok: false, error: expect.objectContaining({ code: 'OTHER_DEVICE', message: 'the command belongs to another device' }) });

    // Refusals of a known command of this device are kept on it; the command itself does not move.
    const row = await f.command(id);
    expect(row.status).toBe('SUCCEEDED');
    expect((row.refusals as Array<{ reason: string; from: string }>).map((r) => [r.reason, r.from])).toEqual([
      ['DUPLICATE', 'SUCCEEDED'],
      ['ILLEGAL_TRANSITION', 'SUCCEEDED'],
    ]);
    for (const reason of ['DUPLICATE', 'ILLEGAL_TRANSITION', 'OTHER_DEVICE']) expect(f.metrics.get(ACKS_IGNORED_METRIC, { reason })).toBe(1);
    expect(f.metrics.get(ACKS_IGNORED_METRIC, { reason: 'UNKNOWN_COMMAND' })).toBe(2);
    await f.service.stop();
  });

  it('answers every ack of a large concurrent batch', async () => {
    const f = commandsFixture(db, { config: { rateLimit: 1000 } });
    const model = await f.createModel();
    const device = await f.createDevice(model.id, { online: true });
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push((await f.service.send(operator, { deviceId: device.deviceId, name: 'eject' })).id);
    await until(() => f.outbox.to(device.deviceId).length === 20, 'twenty deliveries');
    const outcomes = await Promise.all(ids.map((id) => f.service.handleAck(device.deviceId, id, { status: 'SUCCEEDED' }, Date.now())));
    expect(outcomes.every((o) => o.ok && o.status === 'SUCCEEDED')).toBe(true);
    expect(await db.prisma.command.count({ where: { id: { in: ids }, status: 'SUCCEEDED' } })).toBe(20);
    await f.service.stop();
  });
});

describe(`command acks through a database outage (${modeName})`, () => {
  it('holds an ack while the database is down and stores it once it is back', async () => {
    const { device, id } = await sentToast();
    let down = false;
    const sql: Database['sql'] = {
      query(text, params) {
        if (down)
          return Promise.reject(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED', errno: -111, syscall: 'connect' }));
        return db.sql.query(text, params);
      },
    };
    const during = commandsFixture(Object.assign(Object.create(db) as Database, { sql }));
    down = true;
    let answered = false;
    const ack = during.service.handleAck(device.deviceId, id, { status: 'SUCCEEDED' }, Date.now()).finally(() => (answered = true));
    await new Promise((r) => setTimeout(r, 200));
    expect(answered).toBe(false);
    down = false;
    expect(await ack).toEqual({ ok: true, status: 'SUCCEEDED' });
    expect(await db.prisma.command.findUniqueOrThrow({ where: { id } })).toMatchObject({ status: 'SUCCEEDED' });
  });
});
