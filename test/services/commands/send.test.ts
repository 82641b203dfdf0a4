import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../src/db/client.ts';
import { CommandStateError, NotFoundError, RateLimitedError, ValidationError } from '../../../src/domain/errors.ts';
import { COMMANDS_METRIC } from '../../../src/services/commands/index.ts';
import { modeName, openTestDatabase } from '../../support/harness.ts';
import { commandsFixture, operator } from './fixture.ts';

let db: Database;
let closeDatabase: (() => Promise<void>) | undefined;
beforeAll(async () => {
  ({ db, close: closeDatabase } = await openTestDatabase());
});
afterAll(async () => {
  await closeDatabase?.();
});

describe(`sending and canceling commands (${modeName})`, () => {
  it('refuses a command its model does not allow with every issue, and stores and audits nothing', async () => {
    const f = commandsFixture(db);
    const model = await f.createModel();
    const device = await f.createDevice(model.id);
    const refused = f.service.send(operator, { deviceId: device.deviceId, name: 'toast', params: { power: 101, extra: 1 }, ttlMs: 0, idempotencyKey: '' });
    await expect(refused).rejects.toBeInstanceOf(ValidationError);
    const issues = ((await refused.catch((e: unknown) => e)) as ValidationError).issues;
    // The request's own issues, then every way the params break the model's schema.
    expect(issues.slice(0, 2).map((i) => [i.path.join('.'), i.code])).toEqual([
      ['input.ttlMs', 'OUT_OF_RANGE'],
      ['input.idempotencyKey', 'INVALID_LENGTH'],
    ]);
    expect(issues.length).toBeGreaterThan(2);
    expect(issues.slice(2).every((i) => i.path[1] === 'params')).toBe(true);
    await expect(f.service.send(operator, { deviceId: device.deviceId, name: 'fly' })).rejects.toMatchObject({
      issues: [{ path: ['input', 'name'], code: 'UNKNOWN_COMMAND' }],
    });
    await expect(f.service.send(operator, { deviceId: device.deviceId, name: 'toast', params: [1] })).rejects.toMatchObject({
      issues: [{ path: ['input', 'params'], code: 'INVALID_TYPE' }],
    });

    expect(await f.commandsOf(device.uuid)).toEqual([]);
    expect(await db.prisma.auditEvent.count({ where: { details: { path: ['deviceId'], equals: device.deviceId } } })).toBe(0);
    expect(f.metrics.get(COMMANDS_METRIC, { kind: 'invalid' })).toBe(3);
    expect(f.outbox.delivered).toEqual([]);
  });

  it('refuses unknown devices and devices of another tenant', async () => {
    const f = commandsFixture(db);
    const device = await f.createDevice(null);
    await expect(f.service.send({ ...operator, tenantId: 'other' }, { deviceId: device.deviceId, name: 'toast' })).rejects.toBeInstanceOf(NotFoundError);
    await expect(f.service.send(operator, { deviceId: 'no-such-device', name: 'toast' })).rejects.toBeInstanceOf(NotFoundError);
    await expect(f.service.send(operator, { deviceId: device.deviceId, name: 'toast' })).rejects.toMatchObject({
      issues: [{ path: ['input', 'name'], code: 'UNKNOWN_COMMAND', message: 'the device has no model, so it accepts no commands' }],
    });
  });

  it('stores a valid command PENDING with its requester, announces it, and audits it as the actor', async () => {
    const f = commandsFixture(db);
    const model = await f.createModel();
    const device = await f.createDevice(model.id);
    const sent = await f.service.send(operator, { deviceId: device.deviceId, name: 'toast', params: { power: 7 } });
    expect(sent.created).toBe(true);

    const row = await f.command(sent.id);
    expect(row).toMatchObject({
      status: 'PENDING',
      name: 'toast',
      params: { power: 7 },
      requestedBy: 'ops',
      requestedById: operator.actor.slice('token:'.length),
      timeoutMs: 60_000,
      expiresAt: null,
    });
    expect(f.updates).toContainEqual(
      expect.objectContaining({ commandId: sent.id, deviceId: device.deviceId, from: null, status: 'PENDING', fleetCommandId: null }),
    );
    const [audit, ...more] = await f.auditOf(`command:${sent.id}`);
    expect(more).toEqual([]);
    expect(audit).toMatchObject({
      tenantId: 'default',
      actor: operator.actor,
      actorName: 'ops',
      action: 'command.send',
      details: { deviceId: device.deviceId, name: 'toast', params: { power: 7 } },
    });
    // Offline: nothing leaves until it comes online.
    expect(f.outbox.to(device.deviceId)).toEqual([]);
  });

  it('answers a repeated idempotency key with the first command, stores one, and audits each request', async () => {
    const f = commandsFixture(db);
    const model = await f.createModel();
    const device = await f.createDevice(model.id);
    const input = { deviceId: device.deviceId, name: 'toast', params: { power: 1 }, idempotencyKey: 'k-1' };
    const [a, b, c] = await Promise.all([f.service.send(operator, input), f.service.send(operator, input), f.service.send(operator, input)]);
    expect(new Set([a!.id, b!.id, c!.id]).size).toBe(1);
    expect([a, b, c].filter((s) => s!.created)).toHaveLength(1);
    expect(await f.commandsOf(device.uuid)).toHaveLength(1);
    expect(f.metrics.get(COMMANDS_METRIC, { kind: 'idempotent_replay' })).toBe(2);
    expect(await f.auditOf(`command:${a!.id}`)).toHaveLength(3);
  });

  it('rate-limits single commands per device, counting replays as nothing', async () => {
    const f = commandsFixture(db, { config: { rateLimit: 2, rateWindowMs: 60_000 } });
    const model = await f.createModel();
    const device = await f.createDevice(model.id);
    await f.service.send(operator, { deviceId: device.deviceId, name: 'eject', idempotencyKey: 'once' });
    await f.service.send(operator, { deviceId: device.deviceId, name: 'eject' });
    await f.service.send(operator, { deviceId: device.deviceId, name: 'eject', idempotencyKey: 'once' });
    const limited = await f.service.send(operator, { deviceId: device.deviceId, name: 'eject' }).catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(RateLimitedError);
    expect(limited).toMatchObject({ code: 'RATE_LIMITED', limit: 2, windowMs: 60_000 });
    expect(await f.commandsOf(device.uuid)).toHaveLength(2);
  });

  it('cancels an undelivered command (again: unchanged), audited each time, and refuses a delivered one', async () => {
    const f = commandsFixture(db);
    const model = await f.createModel();
    const device = await f.createDevice(model.id);
    const { id } = await f.service.send(operator, { deviceId: device.deviceId, name: 'eject' });
    expect(await f.service.cancel(operator, id)).toBe(id);
    expect(await f.service.cancel(operator, id)).toBe(id);
    expect(await f.command(id)).toMatchObject({ status: 'CANCELED', canceledBy: `ops (${operator.actor.slice('token:'.length)})` });
    expect((await f.auditOf(`command:${id}`)).map((e) => e.action)).toEqual(['command.send', 'command.cancel', 'command.cancel']);

    await expect(f.service.cancel({ ...operator, tenantId: 'other' }, id)).rejects.toBeInstanceOf(NotFoundError);
    await expect(f.service.cancel(operator, 'not-a-uuid')).rejects.toBeInstanceOf(NotFoundError);

    const online = await f.createDevice(model.id, { online: true });
    const delivered = await f.service.send(operator, { deviceId: online.deviceId, name: 'eject' });
    await f.waitForStatus(delivered.id, 'SENT');
    await expect(f.service.cancel(operator, delivered.id)).rejects.toMatchObject({ code: 'ILLEGAL_COMMAND_STATE', status: 'SENT' });
    await expect(f.service.cancel(operator, delivered.id)).rejects.toBeInstanceOf(CommandStateError);
    expect((await f.auditOf(`command:${delivered.id}`)).map((e) => e.action)).toEqual(['command.send']);
    await f.service.stop();
  });
});
