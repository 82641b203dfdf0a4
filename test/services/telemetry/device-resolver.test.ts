/** The device cache of the ingest path: what it resolves, and how it notices deletes and re-registrations. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../src/db/client.ts';
import { createDeviceResolver } from '../../../src/services/telemetry/device-resolver.ts';
import { modeName, openTestDatabase, uniqueDeviceId } from '../../support/harness.ts';
import { createDevice, instrumented } from './fixtures.ts';

let db: Database;
let closeDatabase: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ db, close: closeDatabase } = await openTestDatabase());
});
afterAll(async () => {
  await closeDatabase?.();
});

describe(`device resolver (${modeName})`, () => {
  it('resolves unknown devices in one query and answers later lookups from its cache', async () => {
    const io = instrumented(db);
    const resolver = createDeviceResolver(io.sql);
    const a = await createDevice(db);
    const b = await createDevice(db);
    const nobody = uniqueDeviceId('nobody');
    await resolver.resolve([a.deviceId, b.deviceId, nobody]);
    expect(io.statements).toHaveLength(1);
    expect(resolver.lookup(a.deviceId)).toEqual({ uuid: a.uuid, tenantId: 'default' });
    expect(resolver.lookup(b.deviceId)).toEqual({ uuid: b.uuid, tenantId: 'default' });
    expect(resolver.lookup(nobody)).toBeUndefined();

    await resolver.resolve([a.deviceId, b.deviceId]);
    expect(io.statements).toHaveLength(1);
    resolver.forget([a.deviceId]);
    expect(resolver.lookup(a.deviceId)).toBeUndefined();
    await resolver.resolve([a.deviceId, b.deviceId]);
    expect(io.statements).toHaveLength(2);
    expect(resolver.lookup(a.deviceId)?.uuid).toBe(a.uuid);
  });

  it('refresh() answers the devices registered again under a new uuid, and forgets deleted ones', async () => {
    const resolver = createDeviceResolver(db.sql);
    const moved = await createDevice(db);
    const gone = await createDevice(db);
    const same = await createDevice(db);
    await resolver.resolve([moved.deviceId, gone.deviceId, same.deviceId]);
    await db.prisma.device.delete({ where: { id: moved.uuid } });
    await db.prisma.device.delete({ where: { id: gone.uuid } });
    const again = await createDevice(db, moved.deviceId);

    expect(await resolver.refresh([moved.deviceId, gone.deviceId, same.deviceId])).toEqual(new Set([moved.deviceId]));
    expect(resolver.lookup(moved.deviceId)?.uuid).toBe(again.uuid);
    expect(resolver.lookup(gone.deviceId)).toBeUndefined();
    expect(resolver.lookup(same.deviceId)?.uuid).toBe(same.uuid);
  });
});
