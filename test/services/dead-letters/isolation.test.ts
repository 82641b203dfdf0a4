/**
 * Only a deterministic failure of one message is poison: a batched write whose statement fails because
 * of one device's row is narrowed down to that device's op (src/services/poison.ts), and every other op
 * of the batch is stored. The store refusal is real: a trigger this test adds to its scratch database
 * rejects one device's rows, as a constraint or a bug would.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../src/db/client.ts';
import { classifyFailure } from '../../../src/domain/faults.ts';
import { modeName, openTestDatabase, uniqueDeviceId } from '../../support/harness.ts';
import { commandsFixture, operator } from '../commands/fixture.ts';
import { createTwinDevice, testTwinService } from '../twins/support.ts';

let db: Database;
let closeDatabase: (() => Promise<void>) | undefined;
beforeAll(async () => {
  ({ db, close: closeDatabase } = await openTestDatabase());
});
afterAll(async () => {
  await closeDatabase?.();
});

/** Makes every write of `table` rows whose `column` is `value` fail with a deterministic error (SQLSTATE P0001). */
async function refuseRows(table: string, column: string, value: string): Promise<() => Promise<void>> {
  const name = `refuse_${Math.random().toString(36).slice(2, 10)}`;
  await db.sql.query(
    `CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       IF NEW."${column}"::text = '${value}' THEN RAISE EXCEPTION 'poison row refused by test trigger'; END IF;
       RETURN NEW;
     END $$`,
  );
  await db.sql.query(`CREATE TRIGGER ${name} BEFORE INSERT OR UPDATE ON "${table}" FOR EACH ROW EXECUTE FUNCTION ${name}()`);
  return async () => {
    await db.sql.query(`DROP TRIGGER ${name} ON "${table}"`);
    await db.sql.query(`DROP FUNCTION ${name}()`);
  };
}

describe(`poison isolation in batched writes (${modeName})`, () => {
  it('twin reports: the op of the device whose row is refused fails alone, every other op of the batch is stored', async () => {
    const ids = Array.from({ length: 7 }, () => uniqueDeviceId('iso'));
    const uuids = await Promise.all(ids.map((id) => createTwinDevice(db, id)));
    const poison = 3;
    const lift = await refuseRows('Twin', 'deviceId', uuids[poison]!);
    const { twins, stored } = testTwinService(db);
    // Submitted in one tick: one batch (twin ops are batched by arrival).
    const results = await Promise.allSettled(
      ids.flatMap((deviceId, i) => [
        twins.applyPatch({ deviceId, section: 'reported', patch: { n: i }, source: 'device', actor: `device:${deviceId}` }),
        twins.applyPatch({ deviceId, section: 'reported', patch: { m: i }, source: 'device', actor: `device:${deviceId}` }),
      ]),
    );
    results.forEach((r, k) => {
      const device = Math.floor(k / 2);
      if (device === poison) {
        expect(r.status).toBe('rejected');
        const reason = (r as PromiseRejectedResult).reason as Error;
        expect(reason.message).toMatch(/poison row refused/);
        expect(classifyFailure(reason)).toBe('deterministic');
      } else {
        expect(r).toMatchObject({ status: 'fulfilled', value: { ok: true } });
      }
    });
    for (const [i, deviceId] of ids.entries()) {
      const twin = await twins.get(deviceId);
      if (!twin.ok) throw new Error('twin not found');
      expect(twin.twin.reported).toEqual(i === poison ? {} : { n: i, m: i });
    }
    // Each stored change announced once.
    const announced = stored.flatMap((b) => b.changes.map((c) => c.deviceId));
    expect(announced.filter((d) => d === ids[0]).length).toBe(2);
    expect(announced).not.toContain(ids[poison]);

    // Once the cause is gone, the same op succeeds.
    await lift();
    const again = await twins.applyPatch({ deviceId: ids[poison]!, section: 'reported', patch: { n: poison }, source: 'device', actor: 'device:x' });
    expect(again).toMatchObject({ ok: true });
    await twins.drain();
  });

  it('command acks: the ack the store refuses fails alone, the other acks of the batch are stored', async () => {
    const f = commandsFixture(db);
    const model = await f.createModel();
    const devices = await Promise.all(Array.from({ length: 5 }, () => f.createDevice(model.id, { online: true })));
    const commands: string[] = [];
    for (const device of devices) {
      const { id } = await f.service.send(operator, { deviceId: device.deviceId, name: 'toast', params: { power: 5 } });
      await f.waitForStatus(id, 'SENT');
      commands.push(id);
    }
    const poison = 2;
    const lift = await refuseRows('Command', 'id', commands[poison]!);
    const t = Date.now();
    const results = await Promise.allSettled(devices.map((d, i) => f.service.handleAck(d.deviceId, commands[i]!, { status: 'ACCEPTED' }, t)));
    results.forEach((r, i) => {
      if (i === poison) {
        expect(r.status).toBe('rejected');
        expect(classifyFailure((r as PromiseRejectedResult).reason)).toBe('deterministic');
      } else expect(r).toEqual({ status: 'fulfilled', value: { ok: true, status: 'ACCEPTED' } });
    });
    for (const [i, id] of commands.entries()) expect(await f.command(id)).toMatchObject({ status: i === poison ? 'SENT' : 'ACCEPTED' });
    await lift();
    expect(await f.service.handleAck(devices[poison]!.deviceId, commands[poison]!, { status: 'ACCEPTED' }, t)).toEqual({ ok: true, status: 'ACCEPTED' });
    await f.service.stop();
  });
});
