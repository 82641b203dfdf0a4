import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../src/db/client.ts';
import { AlreadyExistsError, NotFoundError, ValidationError } from '../../../src/domain/errors.ts';
import { modeName, openTestDatabase, uniqueDeviceId } from '../../support/harness.ts';
import { testActor, testDeviceService } from './support.ts';

let db: Database;
let closeDatabase: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ db, close: closeDatabase } = await openTestDatabase());
});
afterAll(async () => {
  await closeDatabase?.();
});

const admin = testActor();

async function audited(deviceId: string) {
  const rows = await db.prisma.auditEvent.findMany({ where: { target: `device:${deviceId}` }, orderBy: { id: 'asc' } });
  return rows.map((r) => ({ tenantId: r.tenantId, actor: r.actor, actorName: r.actorName, action: r.action, details: r.details }));
}

function password(secret: string): Buffer {
  return Buffer.from(secret, 'utf8');
}

describe(`the device registry on a database (${modeName})`, () => {
  it('registers a device whose credentials then authenticate, and audits it', async () => {
    const { devices, securityEvents } = testDeviceService(db);
    const deviceId = uniqueDeviceId();
    const { device, credentials } = await devices.register(admin, { deviceId, name: 'Boiler', tags: ['b', 'a', 'b'], modelName: 'heater' });
    expect(device).toMatchObject({ deviceId, tenantId: 'default', name: 'Boiler', tags: ['b', 'a'] });
    expect(credentials.username).toBe(deviceId);

    expect(await devices.authenticate(deviceId, password(credentials.password))).toBe(true);
    expect(await devices.authenticate(deviceId, password('wrong'))).toBe(false);
    expect(await devices.authenticate(deviceId, undefined)).toBe(false);
    expect(securityEvents).toEqual([{ type: 'registered', deviceId, password: credentials.password }]);
    expect(await db.prisma.twin.count({ where: { deviceId: device.id } })).toBe(1);
    expect(await audited(deviceId)).toEqual([
      { tenantId: 'default', actor: 'system', actorName: 'test', action: 'device.register', details: { name: 'Boiler', tags: ['b', 'a'], model: 'heater' } },
    ]);
  });

  it('refuses invalid and duplicate registrations without auditing them', async () => {
    const { devices } = testDeviceService(db);
    const deviceId = uniqueDeviceId();
    await expect(devices.register(admin, { deviceId: 'no spaces' })).rejects.toBeInstanceOf(ValidationError);
    await devices.register(admin, { deviceId });
    // Device ids are global (they are MQTT usernames): another tenant cannot take one either.
    await expect(devices.register(testActor('other'), { deviceId })).rejects.toBeInstanceOf(AlreadyExistsError);
    expect((await audited(deviceId)).map((a) => a.action)).toEqual(['device.register']);
  });

  it('rotates with a grace period: both secrets work until it ends, then the old sessions are retired', async () => {
    const { devices, sessions } = testDeviceService(db);
    const deviceId = uniqueDeviceId();
    const first = await devices.register(admin, { deviceId });
    const before = Date.now();
    const rotated = await devices.rotateCredentials(admin, deviceId, 60);

    expect(await devices.authenticate(deviceId, password(rotated.credentials.password))).toBe(true);
    const old = await devices.authenticate(deviceId, password(first.credentials.password));
    expect(old).toEqual({ expiresAt: expect.any(Number) });
    const { expiresAt } = old as { expiresAt: number };
    expect(expiresAt).toBeGreaterThanOrEqual(before + 60_000);
    expect(sessions.calls).toEqual([{ call: 'retireSessions', deviceId, at: expiresAt }]);

    // Without a grace period the old secret stops working at once and open sessions are closed.
    await devices.rotateCredentials(admin, deviceId);
    expect(await devices.authenticate(deviceId, password(rotated.credentials.password))).toBe(false);
    expect(sessions.calls.at(-1)).toEqual({ call: 'disconnect', deviceId });

    await expect(devices.rotateCredentials(admin, deviceId, -1)).rejects.toBeInstanceOf(ValidationError);
    await expect(devices.rotateCredentials(testActor('other'), deviceId)).rejects.toBeInstanceOf(NotFoundError);
    expect((await audited(deviceId)).map((a) => [a.action, a.details])).toEqual([
      ['device.register', { name: null, tags: [], model: null }],
      ['device.rotateCredentials', { gracePeriodSeconds: 60 }],
      ['device.rotateCredentials', { gracePeriodSeconds: 0 }],
    ]);
  });

  it('revokes, disables and enables: refused while blocked, kicked when blocked, each change audited', async () => {
    const { devices, sessions, securityEvents } = testDeviceService(db);
    const deviceId = uniqueDeviceId();
    const { credentials } = await devices.register(admin, { deviceId });
    const secret = password(credentials.password);

    expect(await devices.revokeCredentials(admin, deviceId)).toMatchObject({ deviceId, credentialsRevokedAt: expect.any(Date) });
    expect(await devices.authenticate(deviceId, secret)).toBe(false);
    const renewed = await devices.rotateCredentials(admin, deviceId, 30);
    expect(await devices.authenticate(deviceId, password(renewed.credentials.password))).toBe(true);
    // A revoked secret is not given a grace period by the rotation that replaces it.
    expect(await devices.authenticate(deviceId, secret)).toBe(false);

    expect(await devices.disable(admin, deviceId)).toMatchObject({ disabledAt: expect.any(Date) });
    expect(await devices.authenticate(deviceId, password(renewed.credentials.password))).toBe(false);
    expect(await devices.enable(admin, deviceId)).toMatchObject({ disabledAt: null });
    expect(await devices.authenticate(deviceId, password(renewed.credentials.password))).toBe(true);

    expect(sessions.calls.map((c) => c.call)).toEqual(['disconnect', 'retireSessions', 'disconnect']);
    expect(securityEvents.map((e) => e.type)).toEqual(['registered', 'revoked', 'rotated', 'disabled', 'enabled']);
    expect((await audited(deviceId)).map((a) => a.action)).toEqual([
      'device.register',
      'device.revokeCredentials',
      'device.rotateCredentials',
      'device.disable',
      'device.enable',
    ]);
    await expect(devices.disable(testActor('other'), deviceId)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('deletes a device: its sessions are closed, what was retained for it cleared, and the deletion audited', async () => {
    const { devices, sessions, securityEvents } = testDeviceService(db);
    const deviceId = uniqueDeviceId();
    const { device } = await devices.register(admin, { deviceId });

    await expect(devices.remove(testActor('other'), deviceId)).rejects.toBeInstanceOf(NotFoundError);
    expect(sessions.calls).toEqual([]);

    expect(await devices.remove(admin, deviceId)).toBe(device.id);
    expect(await db.prisma.device.count({ where: { id: device.id } })).toBe(0);
    expect(await db.prisma.twin.count({ where: { deviceId: device.id } })).toBe(0);
    expect(sessions.calls).toEqual([
      { call: 'disconnect', deviceId },
      { call: 'clearRetained', deviceId },
    ]);
    expect(securityEvents.at(-1)).toEqual({ type: 'deleted', deviceId });
    expect((await audited(deviceId)).map((a) => a.action)).toEqual(['device.register', 'device.delete']);
    await expect(devices.remove(admin, deviceId)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('lists devices for the broker mirror page by page, with their state and sealed secret', async () => {
    const { devices } = testDeviceService(db, { sealSecret: (deviceId, secret) => `sealed:${deviceId}:${secret.length}` });
    const prefix = uniqueDeviceId('sync');
    const ids = [`${prefix}-a`, `${prefix}-b`, `${prefix}-c`];
    for (const deviceId of ids) await devices.register(admin, { deviceId });
    await devices.disable(admin, ids[1]!);
    await devices.revokeCredentials(admin, ids[2]!);

    const seen = [];
    let after: string | null = `${prefix}-`;
    for (;;) {
      const page = await devices.listForBrokerSync(after, 2);
      seen.push(...page.filter((r) => r.deviceId.startsWith(prefix)));
      if (page.length < 2 || !page.at(-1)!.deviceId.startsWith(prefix)) break;
      after = page.at(-1)!.deviceId;
    }
    expect(seen.map((r) => [r.deviceId, r.active, r.brokerSecret?.startsWith(`sealed:${r.deviceId}:`) ?? null])).toEqual([
      [ids[0], true, true],
      [ids[1], false, true],
      // Revocation drops the sealed secret: nothing to hand the broker until the next rotation.
      [ids[2], false, null],
    ]);
  });

  it('records connection changes, ignoring ones older than the last seen', async () => {
    const { devices } = testDeviceService(db);
    const deviceId = uniqueDeviceId();
    await devices.register(admin, { deviceId });
    const now = Date.now();
    await devices.setConnection(deviceId, 'ready', now);
    await devices.setConnection(deviceId, 'disconnected', now - 1000);
    expect(await db.prisma.device.findUniqueOrThrow({ where: { deviceId } })).toMatchObject({ connected: true, commandsReadyAt: new Date(now) });
    await devices.setConnection(deviceId, 'disconnected', now + 1);
    expect(await db.prisma.device.findUniqueOrThrow({ where: { deviceId } })).toMatchObject({ connected: false, commandsReadyAt: null });
  });
});
