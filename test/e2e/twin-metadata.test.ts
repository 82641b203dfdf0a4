/**
 * Bounded twin metadata over MQTT: a report that would grow a section's metadata beyond
 * TWIN_MAX_METADATA_ENTRIES is answered on `…/twin/reported/rejected` with METADATA_TOO_LARGE and
 * stores nothing; once the deletions are older than TWIN_TOMBSTONE_TTL_MS, there is room again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { messageWaiter, modeName, startTestServer, uniqueDeviceId, type TestServer } from '../support/harness.ts';
import { Register, TwinQuery } from '../support/twin.ts';

const WINDOW_MS = 600_000;
let t: TestServer;

beforeAll(async () => {
  t = await startTestServer({ TWIN_MAX_METADATA_ENTRIES: '16', TWIN_TOMBSTONE_TTL_MS: String(WINDOW_MS) });
});
afterAll(async () => {
  await t?.stop();
});

describe(`bounded twin metadata end to end (${modeName})`, () => {
  it('refuses growth beyond the cap on twin/reported/rejected, stores nothing, and accepts again once deletions are forgotten', async () => {
    const deviceId = uniqueDeviceId();
    const registered = await t.gql(Register, { input: { deviceId, name: deviceId } });
    const payload = registered.data?.registerDevice;
    if (payload?.__typename !== 'DeviceWithCredentials') throw new Error(`register failed: ${JSON.stringify(registered)}`);
    const { username, password } = payload.credentials;
    const client = await t.mqtt({ username, password, clientId: `${username}-${Math.random()}` });
    const messages = messageWaiter(client);
    await client.subscribeAsync(`devices/${deviceId}/twin/reported/+`, { qos: 1 });
    const report = async (body: unknown) => {
      await client.publishAsync(`devices/${deviceId}/twin/reported`, JSON.stringify(body), { qos: 1 });
      const reply = await messages.nextOf([`devices/${deviceId}/twin/reported/accepted`, `devices/${deviceId}/twin/reported/rejected`]);
      return { outcome: reply.topic.endsWith('/accepted') ? 'accepted' : 'rejected', ...(reply.json as object) };
    };

    const base = Date.now() - 2 * WINDOW_MS;
    const sixteen = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, i]));
    expect(await report({ state: sixteen, ts: base })).toEqual({ outcome: 'accepted', version: 1 });

    expect(await report({ state: { extra: 1 }, ts: base + 1, clientToken: 'grow' })).toEqual({
      outcome: 'rejected',
      clientToken: 'grow',
      code: 'METADATA_TOO_LARGE',
      message: `state would keep 17 metadata entries (its keys, objects and the deletions remembered for ${WINDOW_MS} ms); the limit is 16: add and delete fewer distinct keys`,
      path: ['state'],
    });
    const read = await t.gql(TwinQuery, { deviceId });
    expect(read.data?.device?.twin).toMatchObject({ version: 1, reported: sixteen });

    // A deletion does not grow the metadata; its tombstone takes the room until the window has passed.
    expect(await report({ state: { k0: null }, ts: base + 2 })).toEqual({ outcome: 'accepted', version: 2 });
    expect(await report({ state: { extra: 1 }, ts: base + 2 + WINDOW_MS })).toMatchObject({ outcome: 'rejected', code: 'METADATA_TOO_LARGE' });
    expect(await report({ state: { extra: 1 }, ts: base + 3 + WINDOW_MS })).toEqual({ outcome: 'accepted', version: 3 });
    const after = await t.gql(TwinQuery, { deviceId });
    const { k0: _deleted, ...rest } = sixteen;
    expect(after.data?.device?.twin.reported).toEqual({ ...rest, extra: 1 });
    await client.endAsync();
  });
});
