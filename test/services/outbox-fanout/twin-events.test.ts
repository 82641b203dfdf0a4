/**
 * twin.changed: written by the twin batch statement, one event per change row, to the matching
 * endpoints only; a twin that lost its revision guard writes neither its changes nor its events.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../src/db/client.ts';
import { createTwinWriter } from '../../../src/services/twins/writer.ts';
import { emptySection } from '../../../src/domain/twin.ts';
import type { WorkingTwin } from '../../../src/services/twins/types.ts';
import { Metrics } from '../../../src/metrics.ts';
import { eventsWrittenCounter, OUTBOX_EVENTS_WRITTEN_METRIC } from '../../../src/services/outbox/fanout.ts';
import { modeName, openTestDatabase, uniqueDeviceId } from '../../support/harness.ts';
import { testTwinService } from '../twins/support.ts';
import { createDevice, createEndpoint, endpointsOf, outboxRows } from './support.ts';

/** A twin at version 0 (revision 0) about to be written at version 1 with reported `{a: 1}`. */
function workingTwin(uuid: string, deviceId: string): WorkingTwin {
  return {
    deviceUuid: uuid,
    deviceId,
    tenantId: 'default',
    revision: '0',
    version: 1,
    reported: { doc: { a: 1 }, meta: {} },
    desired: emptySection(),
    delta: {},
    deltaBefore: '{}',
    updatedAt: new Date(0),
    dirty: true,
    modelId: null,
    modelVersion: null,
  };
}

/** The change row of `workingTwin`'s write: reported `{a: 1}` at version 1, from the device. */
function reportedChange(uuid: string, deviceId: string) {
  return {
    deviceUuid: uuid,
    deviceId,
    tenantId: 'default',
    version: 1,
    section: 'reported' as const,
    patch: { a: 1 },
    source: 'device' as const,
    actor: null,
  };
}

describe(`twin.changed events (${modeName})`, () => {
  let db: Database;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ db, close } = await openTestDatabase());
  }, 60_000);
  afterAll(() => close());

  it('writes one event per change row to each matching endpoint, with one event id across endpoints', async () => {
    const tag = uniqueDeviceId('tag');
    const deviceId = uniqueDeviceId();
    const uuid = await createDevice(db, deviceId, { tags: [tag, 'site:a'], model: 'fridge' });
    const other = uniqueDeviceId();
    await createDevice(db, other, { tags: ['site:b'] });

    const everything = await createEndpoint(db, { eventTypes: ['twin.changed'], filterDeviceIds: [deviceId, other] });
    const byTag = await createEndpoint(db, { eventTypes: ['twin.changed', 'device.connected'], filterTags: [tag], filterModel: 'fridge' });
    // None of these may receive anything.
    await createEndpoint(db, { eventTypes: ['twin.changed'], filterTags: [tag, 'missing'] });
    await createEndpoint(db, { eventTypes: ['twin.changed'], filterModel: 'toaster', filterDeviceIds: [deviceId] });
    await createEndpoint(db, { eventTypes: ['twin.changed'], filterDeviceIds: [other] });
    await createEndpoint(db, { eventTypes: ['twin.changed'], filterDeviceIds: [deviceId], enabled: false });
    await createEndpoint(db, { eventTypes: ['twin.changed'], filterDeviceIds: [deviceId], tenantId: 'other-tenant' });
    await createEndpoint(db, { eventTypes: ['device.connected', 'command.updated'], filterDeviceIds: [deviceId] });

    const { twins, metrics } = testTwinService(db);
    const before = Date.now();
    const outcomes = await Promise.all([
      twins.applyPatch({ deviceId, section: 'reported', patch: { door: 'open' }, source: 'device' }),
      twins.applyPatch({ deviceId, section: 'reported', patch: { temp: 4 }, source: 'device' }),
    ]);
    expect(outcomes.every((o) => o.ok)).toBe(true);
    await twins.drain();

    const rows = await outboxRows(db, uuid, 'twin.changed');
    expect(endpointsOf(rows)).toEqual([everything, byTag].sort());
    const changes = await db.prisma.twinChange.findMany({ where: { deviceId: uuid }, orderBy: { version: 'asc' } });
    expect(changes).toHaveLength(2);
    const events = new Map<string, typeof rows>();
    for (const row of rows) events.set(row.eventId, [...(events.get(row.eventId) ?? []), row]);
    // One event per change row, each shared by both endpoints.
    expect(events.size).toBe(2);
    for (const same of events.values()) expect(endpointsOf(same)).toEqual([everything, byTag].sort());
    const datas = [...events.values()].map((same) => same[0]!.data).sort((a, b) => Number(a.version) - Number(b.version));
    expect(datas).toEqual(
      changes.map((c) => ({ deviceId, version: c.version, section: 'reported', patch: c.patch, source: 'device', actor: c.actor ?? null })),
    );
    for (const row of rows) {
      expect(row).toMatchObject({ kind: 'WEBHOOK', tenantId: 'default', deviceKey: uuid, status: 'PENDING', actionKey: null });
      expect(row.occurredAt.getTime()).toBe(changes[0]!.createdAt.getTime());
      expect(row.occurredAt.getTime()).toBeGreaterThanOrEqual(before - 1000);
    }
    // Within each stream, seq follows the versions.
    for (const endpoint of [everything, byTag]) {
      expect(rows.filter((r) => r.endpointId === endpoint).map((r) => r.data.version)).toEqual(changes.map((c) => c.version));
    }
    expect(metrics.get(OUTBOX_EVENTS_WRITTEN_METRIC, { type: 'twin.changed' })).toBe(4);
    // The other device matched only the device-id endpoint: nothing was written for it here.
    expect(await outboxRows(db, await uuidOf(db, other))).toEqual([]);
  });

  it('a twin that lost its revision guard writes neither change rows nor events; the other twin of the batch does', async () => {
    const lost = uniqueDeviceId();
    const won = uniqueDeviceId();
    const lostUuid = await createDevice(db, lost);
    const wonUuid = await createDevice(db, won);
    await createEndpoint(db, { eventTypes: ['twin.changed'], filterDeviceIds: [lost, won] });
    // Another writer moved `lost`'s revision after it was loaded at 0.
    await db.sql.query(`UPDATE "Twin" SET revision = revision + 1 WHERE "deviceId" = $1`, [lostUuid]);

    const metrics = new Metrics();
    const writer = createTwinWriter(db.sql, eventsWrittenCounter(metrics));
    const written = await writer.write(
      [workingTwin(lostUuid, lost), workingTwin(wonUuid, won)],
      [reportedChange(lostUuid, lost), reportedChange(wonUuid, won)],
      new Date(),
    );

    expect([...written]).toEqual([wonUuid]);
    expect(await outboxRows(db, lostUuid)).toEqual([]);
    expect(await db.prisma.twinChange.count({ where: { deviceId: lostUuid } })).toBe(0);
    expect((await outboxRows(db, wonUuid)).map((r) => r.data)).toEqual([
      { deviceId: won, version: 1, section: 'reported', patch: { a: 1 }, source: 'device', actor: null },
    ]);
    expect(metrics.get(OUTBOX_EVENTS_WRITTEN_METRIC, { type: 'twin.changed' })).toBe(1);
  });

  it('a statement that fails writes no event', async () => {
    const deviceId = uniqueDeviceId();
    const uuid = await createDevice(db, deviceId);
    await createEndpoint(db, { eventTypes: ['twin.changed'], filterDeviceIds: [deviceId] });
    const writer = createTwinWriter(db.sql);
    // The same change row twice violates TwinChange's unique key: the whole statement fails, events included.
    const change = reportedChange(uuid, deviceId);
    await expect(writer.write([workingTwin(uuid, deviceId)], [change, change], new Date())).rejects.toThrow();
    expect(await outboxRows(db, uuid)).toEqual([]);
    expect((await db.prisma.twin.findUnique({ where: { deviceId: uuid } }))!.version).toBe(0);
  });
});

async function uuidOf(db: Database, deviceId: string): Promise<string> {
  return (await db.prisma.device.findUniqueOrThrow({ where: { deviceId }, select: { id: true } })).id;
}
