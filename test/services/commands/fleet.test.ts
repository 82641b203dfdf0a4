import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../src/db/client.ts';
import { ValidationError } from '../../../src/domain/errors.ts';
import { EMPTY_FLEET_FILTER } from '../../../src/domain/fleet-filter.ts';
import { COMMANDS_METRIC } from '../../../src/services/commands/index.ts';
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

describe(`fleet commands (${modeName})`, () => {
  it('creates one command per device, delivers to those online, publishes progress until every member is final, and audits the fleet', async () => {
    const f = commandsFixture(db);
    const model = await f.createModel();
    const online = await Promise.all([f.createDevice(model.id, { online: true }), f.createDevice(model.id, { online: true })]);
    const offline = await f.createDevice(model.id);
    const deviceIds = [...online, offline].map((d) => d.deviceId);
    const fleetId = await f.service.sendFleet(operator, { name: 'toast', params: { power: 3 } }, { deviceIds });

    const members = await db.prisma.command.findMany({ where: { fleetCommandId: fleetId }, include: { device: { select: { deviceId: true } } } });
    expect(members.map((m) => m.device.deviceId).sort()).toEqual([...deviceIds].sort());
    expect(members.every((m) => m.requestedBy === 'ops' && m.timeoutMs === 60_000)).toBe(true);
    expect(f.metrics.get(COMMANDS_METRIC, { kind: 'fleet' })).toBe(3);
    expect(await db.prisma.fleetCommand.findUniqueOrThrow({ where: { id: fleetId } })).toMatchObject({
      name: 'toast',
      requestedBy: 'ops',
      tenantId: 'default',
    });
    expect(await f.auditOf(`fleetCommand:${fleetId}`)).toEqual([
      expect.objectContaining({
        action: 'command.send',
        actor: operator.actor,
        actorName: 'ops',
        details: { name: 'toast', params: { power: 3 }, devices: 3 },
      }),
    ]);

    await until(() => f.outbox.delivered.filter((c) => members.some((m) => m.id === c.commandId)).length === 2, 'the online members to be delivered');
    expect(await f.service.progressOf(fleetId)).toMatchObject({ total: 3, done: 0, finished: false, counts: { SENT: 2, PENDING: 1 } });

    for (const d of online) {
      const member = members.find((m) => m.device.deviceId === d.deviceId)!;
      expect(await f.service.handleAck(d.deviceId, member.id, { status: 'SUCCEEDED' }, Date.now())).toMatchObject({ ok: true });
    }
    const last = members.find((m) => m.device.deviceId === offline.deviceId)!;
    await f.service.cancel(operator, last.id);

    await until(() => f.progress.some((p) => p.fleetCommandId === fleetId && p.progress.finished), 'the finished progress event');
    const events = f.progress.filter((p) => p.fleetCommandId === fleetId);
    expect(events.every((e) => e.tenantId === 'default')).toBe(true);
    expect(events.at(-1)!.progress).toMatchObject({ total: 3, done: 3, finished: true, counts: { SUCCEEDED: 2, CANCELED: 1 } });
    expect(await f.service.progressOf(fleetId)).toEqual(events.at(-1)!.progress);
    await f.service.stop();
  });

  it('selects by filter within the caller tenant, and refuses the whole fleet when any member cannot take the command', async () => {
    const f = commandsFixture(db);
    const toaster = await f.createModel();
    const lamp = await f.createModel([{ name: 'blink', params: {} }]);
    const a = await f.createDevice(toaster.id);
    const b = await f.createDevice(lamp.id);
    const bare = await f.createDevice(null);

    const refused = await f.service
      .sendFleet(operator, { name: 'toast', params: { power: 1 } }, { deviceIds: [a.deviceId, b.deviceId, bare.deviceId] })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ValidationError);
    const issues = (refused as ValidationError).issues;
    expect(issues.map((i) => [i.path.join('.'), i.code])).toEqual([
      ['input.deviceIds', 'UNKNOWN_COMMAND'],
      ['input.name', 'UNKNOWN_COMMAND'],
    ]);
    expect(issues[1]!.message).toContain(`model ${JSON.stringify(lamp.name)} v1 (1 device(s))`);

    const missing = await f.service.sendFleet(operator, { name: 'toast' }, { deviceIds: [a.deviceId, 'nope'] }).catch((e: unknown) => e);
    expect((missing as ValidationError).issues).toEqual([{ path: ['input', 'deviceIds', '1'], code: 'NOT_FOUND', message: 'device "nope" not found' }]);
    const foreign = await f.service
      .sendFleet({ ...operator, tenantId: 'other' }, { name: 'toast' }, { filter: { ...EMPTY_FLEET_FILTER, model: toaster.name } })
      .catch((e: unknown) => e);
    expect((foreign as ValidationError).issues).toEqual([{ path: ['input', 'filter'], code: 'NO_DEVICES', message: 'the fleet command targets no device' }]);

    expect(await db.prisma.command.count({ where: { deviceId: { in: [a.uuid, b.uuid, bare.uuid] } } })).toBe(0);
    expect(f.metrics.get(COMMANDS_METRIC, { kind: 'invalid_fleet' })).toBe(2);

    const fleetId = await f.service.sendFleet(operator, { name: 'toast', params: { power: 2 } }, { filter: { ...EMPTY_FLEET_FILTER, model: toaster.name } });
    expect(await db.prisma.command.findMany({ where: { fleetCommandId: fleetId }, select: { deviceId: true } })).toEqual([{ deviceId: a.uuid }]);
    await f.service.stop();
  });
});
