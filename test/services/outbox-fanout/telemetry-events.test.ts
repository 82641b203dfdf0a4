/**
 * telemetry.stored: one event per device per stored batch, over the points the batch inserted (a replay
 * sends nothing), only to endpoints subscribing telemetry.stored whose filter matches; and the cached
 * "anyone subscribed?" flag that decides whether the tuned statement joins at all.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../src/db/client.ts';
import type { DevicePoint } from '../../../src/domain/telemetry/batcher.ts';
import { Metrics } from '../../../src/metrics.ts';
import { eventsWrittenCounter, OUTBOX_EVENTS_WRITTEN_METRIC } from '../../../src/services/outbox/fanout.ts';
import { createSubscriptionFlag } from '../../../src/services/outbox/fanout-subscribed.ts';
import { createTelemetryWriter } from '../../../src/services/telemetry/writer.ts';
import { modeName, openTestDatabase, uniqueDeviceId } from '../../support/harness.ts';
import { createDevice, createEndpoint, disableAllEndpoints, endpointsOf, outboxRows } from './support.ts';

describe(`telemetry.stored events (${modeName})`, () => {
  let db: Database;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ db, close } = await openTestDatabase());
  }, 60_000);
  afterAll(() => close());

  const iso = (ms: number) => new Date(ms).toISOString();

  it('one event per device per batch with its new points, to the matching endpoints; a replay sends nothing', async () => {
    const a = uniqueDeviceId();
    const b = uniqueDeviceId();
    const c = uniqueDeviceId();
    const ua = await createDevice(db, a, { tags: ['hall'], model: 'sensor' });
    const ub = await createDevice(db, b, { tags: ['hall'] });
    const uc = await createDevice(db, c, { tags: ['yard'] });
    const hallSensors = await createEndpoint(db, { eventTypes: ['telemetry.stored'], filterTags: ['hall'], filterModel: 'sensor' });
    const justB = await createEndpoint(db, { eventTypes: ['telemetry.stored', 'twin.changed'], filterDeviceIds: [a, b] });
    await createEndpoint(db, { eventTypes: ['twin.changed', 'device.connected'] });
    await createEndpoint(db, { eventTypes: ['telemetry.stored'], filterTags: ['hall'], enabled: false });
    await createEndpoint(db, { eventTypes: ['telemetry.stored'], tenantId: 'other-tenant' });

    const metrics = new Metrics();
    const writer = createTelemetryWriter(db.sql, { eventsWanted: () => Promise.resolve(true), countEvents: eventsWrittenCounter(metrics) });
    const uuidOf = (id: string) => ({ [a]: ua, [b]: ub, [c]: uc })[id]!;
    const t = Date.parse('2026-12-02T04:20:00.000Z');
    const batch: DevicePoint[] = [
      { device: a, metric: 'temp', ts: t + 1, value: 21.5, isBool: false },
      { device: a, metric: 'door', ts: t, value: 1, isBool: true },
      { device: a, metric: 'temp', ts: t, value: 21, isBool: false },
      { device: b, metric: 'temp', ts: t, value: 19, isBool: false },
      { device: c, metric: 'temp', ts: t, value: 5, isBool: false },
    ];
    await writer.write(batch, uuidOf);

    const rowsA = await outboxRows(db, ua, 'telemetry.stored');
    expect(endpointsOf(rowsA)).toEqual([hallSensors, justB].sort());
    expect(new Set(rowsA.map((r) => r.eventId)).size).toBe(1);
    expect(rowsA[0]!.data).toEqual({
      deviceId: a,
      points: [
        { metric: 'door', ts: iso(t), value: true },
        { metric: 'temp', ts: iso(t), value: 21 },
        { metric: 'temp', ts: iso(t + 1), value: 21.5 },
      ],
    });
    const rowsB = await outboxRows(db, ub, 'telemetry.stored');
    expect(rowsB.map((r) => [r.endpointId, r.data])).toEqual([[justB, { deviceId: b, points: [{ metric: 'temp', ts: iso(t), value: 19 }] }]]);
    expect(await outboxRows(db, uc)).toEqual([]);
    expect(metrics.get(OUTBOX_EVENTS_WRITTEN_METRIC, { type: 'telemetry.stored' })).toBe(3);

    // The same batch again stores nothing new and sends nothing; a batch with one new point sends just it.
    await writer.write(batch, uuidOf);
    expect(await outboxRows(db, ua, 'telemetry.stored')).toHaveLength(2);
    await writer.write([...batch, { device: a, metric: 'temp', ts: t + 2, value: 22, isBool: false }], uuidOf);
    const after = await outboxRows(db, ua, 'telemetry.stored');
    expect(after).toHaveLength(4);
    expect(after.slice(2).map((r) => r.data)).toEqual([
      { deviceId: a, points: [{ metric: 'temp', ts: iso(t + 2), value: 22 }] },
      { deviceId: a, points: [{ metric: 'temp', ts: iso(t + 2), value: 22 }] },
    ]);
  });

  it('a batch rolled back writes no event', async () => {
    const a = uniqueDeviceId();
    const ua = await createDevice(db, a);
    await createEndpoint(db, { eventTypes: ['telemetry.stored'], filterDeviceIds: [a] });
    const rolledBack = db.withSession((session) =>
      session.transaction(async (tx) => {
        const writer = createTelemetryWriter(tx, { eventsWanted: () => Promise.resolve(true) });
        await writer.write([{ device: a, metric: 'temp', ts: 1, value: 1, isBool: false }], () => ua);
        // Inside the transaction the event exists with its points...
        expect((await tx.query(`SELECT 1 FROM "Outbox" WHERE "deviceKey" = $1`, [ua])).length).toBe(1);
        throw new Error('rolled back');
      }),
    );
    await expect(rolledBack).rejects.toThrow('rolled back');
    // ...and went with them.
    expect(await outboxRows(db, ua)).toEqual([]);
    expect(await db.prisma.telemetryPoint.count({ where: { deviceId: ua } })).toBe(0);
  });

  it('without the flag the statement writes no event, and the flag follows the endpoints within its bound', async () => {
    await disableAllEndpoints(db);
    const a = uniqueDeviceId();
    const ua = await createDevice(db, a);
    const clock = { now: 0 };
    const flag = createSubscriptionFlag(db.sql, 'telemetry.stored', { maxAgeMs: 1000, now: () => clock.now });
    const writer = createTelemetryWriter(db.sql, { eventsWanted: () => flag.current() });
    expect(await flag.current()).toBe(false);

    await createEndpoint(db, { eventTypes: ['telemetry.stored'], filterDeviceIds: [a] });
    // Within the bound the cached "no" holds: this batch is stored without its event.
    clock.now = 999;
    await writer.write([{ device: a, metric: 'x', ts: 1, value: 1, isBool: false }], () => ua);
    expect(await outboxRows(db, ua)).toEqual([]);
    // Past it, the next write re-checks and joins.
    clock.now = 1000;
    await writer.write([{ device: a, metric: 'x', ts: 2, value: 2, isBool: false }], () => ua);
    expect((await outboxRows(db, ua)).map((r) => r.data)).toEqual([{ deviceId: a, points: [{ metric: 'x', ts: iso(2), value: 2 }] }]);

    await disableAllEndpoints(db);
    clock.now = 2000;
    expect(await flag.current()).toBe(false);
  });
});
