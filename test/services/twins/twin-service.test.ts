import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../src/db/client.ts';
import { NotFoundError, ValidationError, VersionConflictError } from '../../../src/domain/errors.ts';
import { systemActor } from '../../../src/domain/principal.ts';
import type { JsonObject } from '../../../src/domain/twin.ts';
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

const operator = systemActor('default', 'test');

async function auditRows(target: string) {
  return db.prisma.auditEvent.findMany({ where: { target }, orderBy: { id: 'asc' } });
}

describe(`the twin service on a database (${modeName})`, () => {
  it('stores a reported patch, answers get in order with it, and hands the delta over', async () => {
    const { twins } = testTwinService(db);
    const deviceId = uniqueDeviceId();
    const deviceUuid = await createTwinDevice(db, deviceId);

    const deltas: Array<{ deviceId: string; version: number; delta: JsonObject }> = [];
    twins.onDeltaChanged((id, version, delta) => deltas.push({ deviceId: id, version, delta }));

    const [reported, read] = await Promise.all([
      twins.applyPatch({ deviceId, section: 'reported', patch: { temp: 20, mode: 'eco' }, source: 'device', actor: `device:${deviceId}` }),
      twins.get(deviceId),
    ]);
    expect(reported).toMatchObject({ ok: true, version: 1, changed: true });
    // Submitted after the patch: the read sees it.
    expect(read.ok && read.twin).toMatchObject({
      deviceUuid,
      deviceId,
      tenantId: 'default',
      version: 1,
      reported: { temp: 20, mode: 'eco' },
      desired: {},
      delta: {},
    });
    expect(await twins.readDelta(deviceId)).toEqual({ version: 1, delta: {} });

    const desired = await twins.updateDesired(operator, { deviceId, patch: { temp: 22, mode: 'eco' } });
    expect(desired).toEqual({ ok: true, deviceUuid, changed: true, version: 2 });
    expect(await twins.readDelta(deviceId)).toEqual({ version: 2, delta: { temp: 22 } });
    expect(deltas).toEqual([{ deviceId, version: 2, delta: { temp: 22 } }]);

    const stored = await db.prisma.twin.findUniqueOrThrow({ where: { deviceId: deviceUuid } });
    expect(stored).toMatchObject({ version: 2, reported: { temp: 20, mode: 'eco' }, desired: { temp: 22, mode: 'eco' }, delta: { temp: 22 } });
    const log = await db.prisma.twinChange.findMany({ where: { deviceId: deviceUuid }, orderBy: { version: 'asc' } });
    expect(log.map((c) => [c.version, c.section, c.source, c.actor])).toEqual([
      [1, 'reported', 'device', `device:${deviceId}`],
      [2, 'desired', 'api', 'system'],
    ]);
    await twins.drain();
  });

  it('refuses unknown devices, stale versions and bad patches as Failed values, leaving the twin alone', async () => {
    const { twins } = testTwinService(db);
    const deviceId = uniqueDeviceId();
    await createTwinDevice(db, deviceId);
    expect(await twins.readDelta('no-such-device')).toBeNull();

    const unknown = await twins.get('no-such-device');
    expect(unknown.ok === false && unknown.error).toBeInstanceOf(NotFoundError);
    const stale = await twins.applyPatch({ deviceId, section: 'reported', patch: { a: 1 }, source: 'device', ifVersion: 3 });
    expect(stale.ok === false && stale.error).toBeInstanceOf(VersionConflictError);
    const bad = await twins.applyPatch({ deviceId, section: 'reported', patch: { $bad: 1 }, source: 'device' });
    expect(bad.ok === false && bad.error).toBeInstanceOf(ValidationError);
    expect(bad.ok === false && bad.error.code).toBe('VALIDATION_FAILED');

    const twin = await twins.get(deviceId);
    expect(twin.ok && twin.twin.version).toBe(0);
    await twins.drain();
  });

  it('updateDesired writes only devices of the actor tenant, audits what it accepted, and nothing else', async () => {
    const { twins } = testTwinService(db);
    const deviceId = uniqueDeviceId();
    const deviceUuid = await createTwinDevice(db, deviceId);
    const target = `device:${deviceId}`;

    const foreign = await twins.updateDesired(systemActor('other-tenant', 'test'), { deviceId, patch: { a: 1 } });
    expect(foreign.ok === false && foreign.error).toBeInstanceOf(NotFoundError);

    const invalid = await twins.updateDesired(operator, { deviceId, patch: { a: { $b: 1 } } });
    expect(invalid.ok).toBe(false);
    if (!invalid.ok) {
      expect(invalid.error).toBeInstanceOf(ValidationError);
      // Issue paths name the `patch` argument, as the API reports them.
      expect((invalid.error as ValidationError).issues[0]!.path).toEqual(['patch', 'a', '$b']);
    }
    const conflict = await twins.updateDesired(operator, { deviceId, patch: { a: 1 }, ifVersion: 5 });
    expect(conflict.ok === false && conflict.error).toBeInstanceOf(VersionConflictError);
    expect(await auditRows(target)).toEqual([]);

    expect(await twins.updateDesired(operator, { deviceId, patch: { a: 1 }, ifVersion: 0 })).toEqual({ ok: true, deviceUuid, changed: true, version: 1 });
    // The same patch again changes nothing, and is audited as such.
    expect(await twins.updateDesired(operator, { deviceId, patch: { a: 1 } })).toEqual({ ok: true, deviceUuid, changed: false, version: 1 });
    const rows = await auditRows(target);
    expect(rows.map((r) => ({ tenantId: r.tenantId, actor: r.actor, actorName: r.actorName, action: r.action, details: r.details }))).toEqual([
      {
        tenantId: 'default',
        actor: 'system',
        actorName: 'test',
        action: 'twin.updateDesired',
        details: { patch: { a: 1 }, changed: true, version: 1, ifVersion: 0 },
      },
      { tenantId: 'default', actor: 'system', actorName: 'test', action: 'twin.updateDesired', details: { patch: { a: 1 }, changed: false, version: 1 } },
    ]);
    await twins.drain();
  });

  it('announces each stored change once on the hook and the bus, and no-op patches not at all', async () => {
    const { twins, stored, published } = testTwinService(db);
    const deviceId = uniqueDeviceId();
    await createTwinDevice(db, deviceId);

    const outcomes = await Promise.all([
      twins.applyPatch({ deviceId, section: 'reported', patch: { a: 1 }, source: 'device' }),
      twins.applyPatch({ deviceId, section: 'reported', patch: { b: 2 }, source: 'device' }),
      twins.applyPatch({ deviceId, section: 'reported', patch: { a: 1 }, source: 'device' }),
    ]);
    expect(outcomes.map((o) => o.ok && o.changed)).toEqual([true, true, false]);
    await twins.applyPatch({ deviceId, section: 'reported', patch: { b: 2 }, source: 'device' });
    await twins.drain();

    const changes = stored.flatMap((batch) => batch.changes);
    expect(changes.map((c) => [c.deviceId, c.version, c.patch])).toEqual([
      [deviceId, 1, { a: 1 }],
      [deviceId, 2, { b: 2 }],
    ]);
    for (const batch of stored) {
      expect(batch.changes.length).toBeGreaterThan(0);
      for (const change of batch.changes) expect(change.at).toBe(batch.at);
    }
    expect(published).toEqual(changes);
  });

  it('orders reports by seq before ts and stores `s` only on entries written with one (contract v1.1)', async () => {
    const { twins } = testTwinService(db);
    const deviceId = uniqueDeviceId();
    const deviceUuid = await createTwinDevice(db, deviceId);

    await twins.applyPatch({ deviceId, section: 'reported', patch: { legacy: 1 }, ts: 5_000, source: 'device' });
    await twins.applyPatch({ deviceId, section: 'reported', patch: { r1: 9 }, ts: 1_000, seq: 9, source: 'device' });
    // Seq 8 arrives last and with a newer ts (another instance's receive time): it still ranks below 9.
    const late = await twins.applyPatch({ deviceId, section: 'reported', patch: { r1: 8 }, ts: 2_000, seq: 8, source: 'device' });
    expect(late).toMatchObject({ ok: true, changed: false });
    const read = await twins.get(deviceId);
    expect(read.ok && read.twin.reported).toEqual({ legacy: 1, r1: 9 });

    const stored = await db.prisma.twin.findUniqueOrThrow({ where: { deviceId: deviceUuid } });
    expect(stored.reportedMeta).toEqual({ '["legacy"]': { t: 5_000, k: 'v', v: 1 }, '["r1"]': { t: 1_000, s: 9, k: 'v', v: 9 } });
    await twins.drain();
  });
});
