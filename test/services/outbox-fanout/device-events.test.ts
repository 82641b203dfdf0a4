/**
 * device.registered / device.deleted (registry transaction) and device.connected / device.disconnected
 * (the connection statement, only when `connected` flips and never for stale events).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../src/db/client.ts';
import { Metrics } from '../../../src/metrics.ts';
import { createDeviceService } from '../../../src/services/devices/index.ts';
import { createEventBus } from '../../../src/events/bus.ts';
import { createLogger } from '../../../src/logger.ts';
import { createAuditLog } from '../../../src/services/audit.ts';
import { OUTBOX_EVENTS_WRITTEN_METRIC } from '../../../src/services/outbox/fanout.ts';
import { modeName, openTestDatabase, uniqueDeviceId } from '../../support/harness.ts';
import { recordingSessions, testActor } from '../devices/support.ts';
import { createDevice, createEndpoint, endpointsOf, outboxRows } from './support.ts';

describe(`device events (${modeName})`, () => {
  let db: Database;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ db, close } = await openTestDatabase());
  }, 60_000);
  afterAll(() => close());

  function service() {
    const logger = createLogger('silent');
    const metrics = new Metrics();
    const devices = createDeviceService({
      db,
      bus: createEventBus(),
      logger,
      sessions: recordingSessions(),
      audit: createAuditLog({ prisma: db.prisma, logger }),
      metrics,
    });
    return { devices, metrics };
  }

  it('registration and deletion write their events, with the device as it was, to matching endpoints only', async () => {
    const { devices, metrics } = service();
    const tag = uniqueDeviceId('tag');
    const deviceId = uniqueDeviceId();
    const both = await createEndpoint(db, { eventTypes: ['device.registered', 'device.deleted'], filterTags: [tag], filterModel: 'meter' });
    const registeredOnly = await createEndpoint(db, { eventTypes: ['device.registered'], filterDeviceIds: [deviceId] });
    await createEndpoint(db, { eventTypes: ['device.registered', 'device.deleted'], filterModel: 'other-model' });
    await createEndpoint(db, { eventTypes: ['device.registered', 'device.deleted'], filterTags: [tag], enabled: false });
    await createEndpoint(db, { eventTypes: ['device.registered', 'device.deleted'], filterTags: [tag], tenantId: 'other-tenant' });
    await createEndpoint(db, { eventTypes: ['twin.changed'], filterDeviceIds: [deviceId] });

    const { device } = await devices.register(testActor(), { deviceId, name: 'Meter 1', tags: [tag, 'floor:2'], modelName: 'meter' });
    const registered = await outboxRows(db, device.id, 'device.registered');
    expect(endpointsOf(registered)).toEqual([both, registeredOnly].sort());
    expect(new Set(registered.map((r) => r.eventId)).size).toBe(1);
    const data = { deviceId, name: 'Meter 1', tags: [tag, 'floor:2'], model: 'meter' };
    for (const row of registered) {
      expect(row).toMatchObject({ kind: 'WEBHOOK', tenantId: 'default', deviceKey: device.id, data });
      expect(row.occurredAt.getTime()).toBe(device.createdAt.getTime());
    }

    await devices.remove(testActor(), deviceId);
    const deleted = await outboxRows(db, device.id, 'device.deleted');
    // The filter saw the tags and model the device had: the event outlives the device.
    expect(deleted.map((r) => [r.endpointId, r.data])).toEqual([[both, data]]);
    expect(await db.prisma.device.count({ where: { deviceId } })).toBe(0);
    expect(metrics.get(OUTBOX_EVENTS_WRITTEN_METRIC, { type: 'device.registered' })).toBe(2);
    expect(metrics.get(OUTBOX_EVENTS_WRITTEN_METRIC, { type: 'device.deleted' })).toBe(1);
  });

  it('a registration that fails (the id is taken) writes no event', async () => {
    const { devices } = service();
    const deviceId = uniqueDeviceId();
    await createEndpoint(db, { eventTypes: ['device.registered'], filterDeviceIds: [deviceId] });
    // Two concurrent registrations: one loses the unique index inside its transaction.
    const results = await Promise.allSettled([devices.register(testActor(), { deviceId }), devices.register(testActor(), { deviceId })]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const uuid = (await db.prisma.device.findUniqueOrThrow({ where: { deviceId } })).id;
    const rows = await db.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM "Outbox" WHERE data->>'deviceId' = $1`, [deviceId]);
    expect(rows[0]!.n).toBe(1);
    expect(await outboxRows(db, uuid, 'device.registered')).toHaveLength(1);
  });

  it('connection events only when `connected` flips, never for stale events', async () => {
    const { devices, metrics } = service();
    const deviceId = uniqueDeviceId();
    const uuid = await createDevice(db, deviceId, { tags: ['x'] });
    const a = await createEndpoint(db, { eventTypes: ['device.connected', 'device.disconnected'], filterDeviceIds: [deviceId] });
    const b = await createEndpoint(db, { eventTypes: ['device.connected'], filterTags: ['x'], filterDeviceIds: [deviceId] });
    await createEndpoint(db, { eventTypes: ['device.connected', 'device.disconnected'], filterDeviceIds: [deviceId], enabled: false });
    await createEndpoint(db, { eventTypes: ['device.connected', 'device.disconnected'], filterDeviceIds: [deviceId], tenantId: 'other-tenant' });

    const t = Date.parse('2026-12-02T04:00:00.000Z');
    await devices.setConnection(deviceId, 'connected', t);
    await devices.setConnection(deviceId, 'ready', t + 1); // still connected: no event
    await devices.setConnection(deviceId, 'disconnected', t - 1000); // stale: ignored, no event
    await devices.setConnection(deviceId, 'disconnected', t + 2);
    await devices.setConnection(deviceId, 'disconnected', t + 3); // already disconnected: no event

    const rows = await outboxRows(db, uuid);
    const connected = rows.filter((r) => r.type === 'device.connected');
    expect(endpointsOf(connected)).toEqual([a, b].sort());
    expect(new Set(connected.map((r) => r.eventId)).size).toBe(1);
    expect(connected[0]!.data).toEqual({ deviceId, at: '2026-12-02T04:00:00.000Z' });
    expect(connected[0]!.occurredAt.getTime()).toBe(t);
    const disconnected = rows.filter((r) => r.type === 'device.disconnected');
    expect(disconnected.map((r) => [r.endpointId, r.data])).toEqual([[a, { deviceId, at: '2026-12-02T04:00:00.002Z' }]]);
    expect(rows).toHaveLength(3);
    // Within endpoint a's stream, the connect comes before the disconnect.
    expect(rows.filter((r) => r.endpointId === a).map((r) => r.type)).toEqual(['device.connected', 'device.disconnected']);
    expect(metrics.get(OUTBOX_EVENTS_WRITTEN_METRIC, { type: 'device.connected' })).toBe(2);
    expect(metrics.get(OUTBOX_EVENTS_WRITTEN_METRIC, { type: 'device.disconnected' })).toBe(1);
  });
});
