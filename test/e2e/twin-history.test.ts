/**
 * `Device.twinHistory` (src/schema/twin-history.ts): the change log through GraphQL, oldest first,
 * filtered by version and section, paged, and read-your-writes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { messageWaiter, modeName, startTestServer, uniqueDeviceId, type TestServer } from '../support/harness.ts';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.stop();
});

const HISTORY = `query H($d: String!, $from: Int, $section: TwinSection, $first: Int, $after: String) {
  device(deviceId: $d) { twinHistory(fromVersion: $from, section: $section, first: $first, after: $after) {
    edges { cursor node { deviceId version section patch source actor } }
    pageInfo { hasNextPage endCursor }
  } }
}`;

interface Page {
  edges: Array<{ cursor: string; node: { deviceId: string; version: number; section: string; patch: unknown; source: string; actor: string | null } }>;
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

async function history(deviceId: string, vars: Record<string, unknown> = {}): Promise<Page> {
  const r = await t.gql(HISTORY, { d: deviceId, ...vars });
  expect(r.errors).toBeUndefined();
  return (r.data as { device: { twinHistory: Page } }).device.twinHistory;
}

describe(`Device.twinHistory (${modeName})`, () => {
  it('lists reported changes from the device and desired changes from the API, oldest first, filtered and paged', async () => {
    const deviceId = uniqueDeviceId('hist');
    const reg = await t.gql(
      `mutation R($id: String!) { registerDevice(input: {deviceId: $id}) { ... on DeviceWithCredentials { credentials { password } } } }`,
      { id: deviceId },
    );
    const password = (reg.data as { registerDevice: { credentials: { password: string } } }).registerDevice.credentials.password;
    const device = await t.mqtt({ username: deviceId, password, clientId: `${deviceId}-c` });
    const messages = messageWaiter(device);
    await device.subscribeAsync(`devices/${deviceId}/twin/#`, { qos: 1 });
    for (const [i, state] of [{ mode: 'heat' }, { mode: 'cool', fan: 'on' }].entries()) {
      device.publish(`devices/${deviceId}/twin/reported`, JSON.stringify({ state, clientToken: `r${i}` }), { qos: 1 });
      await messages.next(`devices/${deviceId}/twin/reported/accepted`);
    }
    const desired = await t.gql(
      `mutation D($d: String!) { updateDesired(deviceId: $d, patch: {target: 21}) { __typename ... on UpdateDesiredPayload { version } } }`,
      { d: deviceId },
    );
    expect(desired.data).toEqual({ updateDesired: { __typename: 'UpdateDesiredPayload', version: 3 } });

    // Read-your-writes: the change just accepted is in the log of the very next read.
    const all = await history(deviceId);
    expect(all.edges.map((e) => [e.node.version, e.node.section, e.node.patch, e.node.source])).toEqual([
      [1, 'reported', { mode: 'heat' }, 'device'],
      [2, 'reported', { mode: 'cool', fan: 'on' }, 'device'],
      [3, 'desired', { target: 21 }, 'api'],
    ]);
    expect(all.edges.every((e) => e.node.deviceId === deviceId)).toBe(true);
    expect(all.pageInfo.hasNextPage).toBe(false);

    expect((await history(deviceId, { from: 2 })).edges.map((e) => e.node.version)).toEqual([2, 3]);
    expect((await history(deviceId, { section: 'desired' })).edges.map((e) => e.node.version)).toEqual([3]);

    const first = await history(deviceId, { first: 2 });
    expect(first.edges.map((e) => e.node.version)).toEqual([1, 2]);
    expect(first.pageInfo.hasNextPage).toBe(true);
    const second = await history(deviceId, { first: 2, after: first.pageInfo.endCursor });
    expect(second.edges.map((e) => e.node.version)).toEqual([3]);
    expect(second.pageInfo.hasNextPage).toBe(false);
  });

  it('refuses bad paging arguments with a clear message', async () => {
    const deviceId = uniqueDeviceId('histbad');
    await t.gql(`mutation R($id: String!) { registerDevice(input: {deviceId: $id}) { __typename } }`, { id: deviceId });
    for (const [vars, message] of [
      [{ first: 501 }, 'first must be between 0 and 500'],
      [{ after: 'nope' }, 'after is not a cursor of this connection'],
    ] as const) {
      const r = await t.gql(HISTORY, { d: deviceId, ...vars });
      expect(r.errors?.[0]).toMatchObject({ message, extensions: { code: 'BAD_USER_INPUT' } });
    }
  });
});
