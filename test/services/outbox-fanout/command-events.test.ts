/**
 * command.updated: written by the command insert (single and fleet: null → PENDING) and by the guarded
 * transition statement (from → to); a transition lost to a concurrent writer has no event, and
 * releaseClaims (SENT back to PENDING after a failed publish) writes none.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../src/db/client.ts';
import { Metrics } from '../../../src/metrics.ts';
import { createCommandStore } from '../../../src/services/commands/store.ts';
import { eventsWrittenCounter, OUTBOX_EVENTS_WRITTEN_METRIC } from '../../../src/services/outbox/fanout.ts';
import { modeName, openTestDatabase } from '../../support/harness.ts';
import { commandsFixture, operator, until } from '../commands/fixture.ts';
import { createEndpoint, endpointsOf, outboxRows, type OutboxRow } from './support.ts';

describe(`command.updated events (${modeName})`, () => {
  let db: Database;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ db, close } = await openTestDatabase());
  }, 60_000);
  afterAll(() => close());

  const transitionsOf = (rows: OutboxRow[]) => rows.map((r) => `${String(r.data.from)}→${String(r.data.to)}`);

  it('every stored transition of a command has its event, shared by the matching endpoints, in order', async () => {
    const f = commandsFixture(db);
    const model = await f.createModel();
    const device = await f.createDevice(model.id, { online: true });
    const byModel = await createEndpoint(db, { eventTypes: ['command.updated'], filterModel: model.name });
    const byId = await createEndpoint(db, { eventTypes: ['command.updated', 'twin.changed'], filterDeviceIds: [device.deviceId] });
    await createEndpoint(db, { eventTypes: ['command.updated'], filterModel: model.name, enabled: false });
    await createEndpoint(db, { eventTypes: ['command.updated'], filterModel: model.name, tenantId: 'other-tenant' });
    await createEndpoint(db, { eventTypes: ['twin.changed', 'device.connected'], filterDeviceIds: [device.deviceId] });

    const { id } = await f.service.send(operator, { deviceId: device.deviceId, name: 'toast', params: { power: 5 } });
    await f.waitForStatus(id, 'SENT');
    const t = Date.now();
    expect(await f.service.handleAck(device.deviceId, id, { status: 'ACCEPTED' }, t)).toEqual({ ok: true, status: 'ACCEPTED' });
    expect(await f.service.handleAck(device.deviceId, id, { status: 'SUCCEEDED', result: {} }, t + 10)).toEqual({ ok: true, status: 'SUCCEEDED' });

    const rows = await outboxRows(db, device.uuid, 'command.updated');
    expect(endpointsOf(rows)).toEqual([byModel, byId].sort());
    for (const endpoint of [byModel, byId]) {
      expect(transitionsOf(rows.filter((r) => r.endpointId === endpoint))).toEqual(['null→PENDING', 'PENDING→SENT', 'SENT→ACCEPTED', 'ACCEPTED→SUCCEEDED']);
    }
    const events = new Map<string, OutboxRow[]>();
    for (const row of rows) events.set(row.eventId, [...(events.get(row.eventId) ?? []), row]);
    expect(events.size).toBe(4);
    for (const same of events.values()) expect(endpointsOf(same)).toEqual([byModel, byId].sort());

    const created = (await f.command(id)).createdAt;
    const first = rows.find((r) => r.data.from === null)!;
    expect(first.data).toEqual({ deviceId: device.deviceId, commandId: id, name: 'toast', from: null, to: 'PENDING', at: created.toISOString() });
    expect(first.occurredAt.getTime()).toBe(created.getTime());
    // A transition's time is the one the state machine stored for it (acceptedAt here).
    const acceptedAt = (await f.command(id)).acceptedAt!;
    const accepted = rows.find((r) => r.data.to === 'ACCEPTED')!;
    expect(accepted.data).toEqual({ deviceId: device.deviceId, commandId: id, name: 'toast', from: 'SENT', to: 'ACCEPTED', at: acceptedAt.toISOString() });
    expect(accepted.occurredAt.getTime()).toBe(acceptedAt.getTime());
    expect(f.metrics.get(OUTBOX_EVENTS_WRITTEN_METRIC, { type: 'command.updated' })).toBe(8);
    await f.service.stop();
  });

  it('a fleet command writes one creation event per member, to the endpoints each member matches', async () => {
    const f = commandsFixture(db);
    const model = await f.createModel();
    const a = await f.createDevice(model.id);
    const b = await f.createDevice(model.id);
    const onlyA = await createEndpoint(db, { eventTypes: ['command.updated'], filterDeviceIds: [a.deviceId] });
    const both = await createEndpoint(db, { eventTypes: ['command.updated'], filterModel: model.name });

    const fleetId = await f.service.sendFleet(operator, { name: 'toast', params: { power: 3 } }, { deviceIds: [a.deviceId, b.deviceId] });
    const rowsA = await outboxRows(db, a.uuid, 'command.updated');
    const rowsB = await outboxRows(db, b.uuid, 'command.updated');
    expect(endpointsOf(rowsA)).toEqual([onlyA, both].sort());
    expect(endpointsOf(rowsB)).toEqual([both]);
    expect(new Set(rowsA.map((r) => r.eventId)).size).toBe(1);
    expect(rowsA[0]!.eventId).not.toBe(rowsB[0]!.eventId);
    const [commandB] = await f.commandsOf(b.uuid);
    expect(commandB!.fleetCommandId).toBe(fleetId);
    expect(rowsB[0]!.data).toEqual({
      deviceId: b.deviceId,
      commandId: commandB!.id,
      name: 'toast',
      from: null,
      to: 'PENDING',
      at: commandB!.createdAt.toISOString(),
    });
    await f.service.stop();
  });

  it('a transition lost to a concurrent writer, and a released claim, write no event', async () => {
    const f = commandsFixture(db);
    const model = await f.createModel();
    const device = await f.createDevice(model.id);
    await createEndpoint(db, { eventTypes: ['command.updated'], filterDeviceIds: [device.deviceId] });
    const { id } = await f.service.send(operator, { deviceId: device.deviceId, name: 'toast', params: { power: 1 } });
    await f.service.stop();

    const metrics = new Metrics();
    const store = createCommandStore(db, eventsWrittenCounter(metrics));
    const [loaded] = await store.loadByIds([id]);
    // Another writer canceled it after it was loaded PENDING: the guarded SENT write loses.
    await db.sql.query(`UPDATE "Command" SET status = 'CANCELED' WHERE id = $1`, [id]);
    const sent = { ...loaded!, status: 'SENT' as const, stateTimes: { ...loaded!.stateTimes, SENT: Date.now() } };
    expect(await store.writeTransitions([{ from: loaded!, to: sent }])).toEqual(new Set());
    expect(transitionsOf(await outboxRows(db, device.uuid, 'command.updated'))).toEqual(['null→PENDING']);
    expect(metrics.get(OUTBOX_EVENTS_WRITTEN_METRIC, { type: 'command.updated' })).toBe(0);

    // SENT back to PENDING after a failed publish is internal: no event.
    await db.sql.query(`UPDATE "Command" SET status = 'SENT' WHERE id = $1`, [id]);
    expect(await store.releaseClaims([sent])).toEqual(new Set([id]));
    expect(transitionsOf(await outboxRows(db, device.uuid, 'command.updated'))).toEqual(['null→PENDING']);
  });

  it('a failed publish that releases the claim writes no event for the release', async () => {
    const f = commandsFixture(db);
    const model = await f.createModel();
    const device = await f.createDevice(model.id, { online: true });
    await createEndpoint(db, { eventTypes: ['command.updated'], filterDeviceIds: [device.deviceId] });
    f.outbox.failFor(device.deviceId);
    const { id } = await f.service.send(operator, { deviceId: device.deviceId, name: 'toast', params: { power: 2 } });
    // The claim (PENDING → SENT) is stored, the publish fails and the claim goes back to PENDING.
    await until(async () => (await f.command(id)).status === 'PENDING' && f.updates.some((u) => u.commandId === id && u.status === 'SENT'), 'a released claim');
    f.outbox.recover(device.deviceId);
    const transitions = transitionsOf(await outboxRows(db, device.uuid, 'command.updated'));
    expect(transitions.filter((t) => t === 'SENT→PENDING')).toEqual([]);
    await f.service.stop();
  });
});
