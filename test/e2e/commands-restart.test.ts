/**
 * A restart mid-flight loses and duplicates nothing: one server stores and delivers, stops; another
 * starts on the same database (PGlite directory, or the same PostgreSQL database) and finishes the
 * work from what is stored — pending commands delivered once, expiries driven from the database,
 * acks for commands the first server sent taken by the second.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createScratchDatabase, externalDatabaseUrl, modeName, startTestServer, type TestServer } from '../support/harness.ts';
import { commandDevice, commandOf, createToaster, registerDevice, send, until, waitForStatus } from '../support/commands.ts';

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

/** A database two servers can open one after the other. */
async function sharedDatabase(): Promise<string> {
  if (!externalDatabaseUrl) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'doppel-restart-'));
    cleanups.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
    return `pglite:${dir}`;
  }
  const scratch = await createScratchDatabase(externalDatabaseUrl);
  cleanups.push(scratch.drop);
  return scratch.url;
}

async function connected(t: TestServer, deviceId: string): Promise<boolean> {
  const r = await t.gql<{ device: { connected: boolean } }, unknown>(`query($d: String!) { device(deviceId: $d) { connected } }`, { d: deviceId });
  return r.data!.device.connected;
}

describe(`commands across a server restart (${modeName})`, () => {
  it('delivers what was pending once, expires from the database, and takes acks for commands the first server sent', async () => {
    const env = { DATABASE_URL: await sharedDatabase(), COMMAND_SWEEP_INTERVAL_MS: '50' };
    const a = await startTestServer(env);
    cleanups.push(() => a.stop());
    const model = await createToaster(a);
    const creds = await registerDevice(a, model);

    const device = await commandDevice(a, creds);
    const c1 = (await send(a, { deviceId: creds.deviceId, name: 'toast', params: { power: 10 } })).commandId as string;
    await device.waitFor(1);
    await device.ack(c1, { status: 'ACCEPTED' });
    await waitForStatus(a, c1, 'ACCEPTED');
    await device.offline();
    await until(async () => !(await connected(a, creds.deviceId)), 'the device to be offline');

    const c2 = (await send(a, { deviceId: creds.deviceId, name: 'toast', params: { power: 20 } })).commandId as string;
    const c3 = (await send(a, { deviceId: creds.deviceId, name: 'toast', params: { power: 30 }, ttlMs: 200 })).commandId as string;
    expect((await commandOf(a, c2))!.status).toBe('PENDING');
    await a.stop();

    const b = await startTestServer(env);
    cleanups.push(() => b.stop());
    // c3's TTL runs out while nobody is connected; the new server's sweeper finds it in the database.
    await waitForStatus(b, c3, 'EXPIRED');

    const again = await commandDevice(b, creds);
    const [received] = await again.waitFor(1);
    expect(received!.commandId).toBe(c2);
    await again.ack(c2, { status: 'SUCCEEDED' });
    await again.ack(c1, { status: 'SUCCEEDED', result: { done: true } });
    await waitForStatus(b, c2, 'SUCCEEDED');
    expect(await waitForStatus(b, c1, 'SUCCEEDED')).toMatchObject({ result: { done: true } });

    // Nothing duplicated: three commands stored, c2 delivered once, c1 (ACCEPTED) and c3 (EXPIRED) not at all.
    const page = await b.gql<{ device: { commands: { totalCount: number } } }, unknown>(
      `query($d: String!) { device(deviceId: $d) { commands { totalCount } } }`,
      { d: creds.deviceId },
    );
    expect(page.data!.device.commands.totalCount).toBe(3);
    // A sweep after the acks must not deliver anything more.
    await until(async () => (await commandOf(b, c3))!.status === 'EXPIRED', 'c3 to stay expired');
    expect(again.received.map((r) => r.commandId)).toEqual([c2]);
  }, 120_000); // two servers on a fresh embedded database directory, one after the other: slow on a loaded machine
});
