/**
 * The hot reads (src/services/device-reads.ts): `device(deviceId)` and a page of devices with their
 * twins are one SQL statement each, scoped by tenant, see every accepted change at once, answer
 * exactly what the Prisma path answers, and keep errors masked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { messageWaiter, modeName, startTestServer, uniqueDeviceId, type TestServer } from '../support/harness.ts';

let t: TestServer;
/** The tag of this file's devices, so pages count only them (an external database is shared). */
const TAG = uniqueDeviceId('reads');

beforeAll(async () => {
  t = await startTestServer();
}, 240_000);
afterAll(async () => {
  await t?.stop();
});

interface Credentials {
  deviceId: string;
  username: string;
  password: string;
}

async function register(deviceId: string, as?: string, extra: { tags?: string[]; model?: string } = {}): Promise<Credentials> {
  const result = await t.gql(
    `mutation($input: RegisterDeviceInput!) { registerDevice(input: $input) { __typename ... on DeviceWithCredentials { credentials { username password } } } }`,
    { input: { deviceId, ...extra } },
    as,
  );
  const payload = (result.data as { registerDevice?: { __typename: string; credentials: { username: string; password: string } } } | undefined)?.registerDevice;
  if (payload?.__typename !== 'DeviceWithCredentials') throw new Error(`register failed: ${JSON.stringify(result)}`);
  return { deviceId, ...payload.credentials };
}

/**
 * The device and twin reads one request made: the reader's statements and any Prisma read of a device
 * or a twin (a per-row fallback would show here). Background work (sweeps, rules) is left out.
 */
const DEVICE_OR_TWIN_READ = /FROM "Device" d LEFT JOIN "Twin"|FROM "Twin" t JOIN "Device"|^SELECT .* FROM "public"\."(Device|Twin)"/s;

async function statementsOf(query: string, variables?: Record<string, unknown>, as?: string) {
  t.queries.length = 0;
  t.rawQueries.length = 0;
  const result = await t.gql(query, variables, as);
  const reads = [...t.queries, ...t.rawQueries].filter((sql) => DEVICE_OR_TWIN_READ.test(sql));
  return { result, reads };
}

type Page = { devices: { edges: Array<{ node: { deviceId: string; twin: { version: number; reported: unknown } } }>; pageInfo: { endCursor: string | null } } };

describe(`hot device reads (${modeName})`, () => {
  const devices: string[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 12; i++) {
      const deviceId = uniqueDeviceId('rd');
      await register(deviceId, undefined, { tags: [TAG, i % 2 === 0 ? 'even' : 'odd'], ...(i % 3 === 0 ? { model: `${TAG}-m` } : {}) });
      devices.push(deviceId);
    }
  }, 120_000);

  it('reads a page of devices with their twins in one statement, not one per device', async () => {
    const { result, reads } = await statementsOf(
      `query($tag: String) { devices(first: 100, filter: { tag: $tag }) { edges { node { deviceId connected twin { version reported desired delta } } } } }`,
      { tag: TAG },
    );
    expect(result.errors).toBeUndefined();
    expect((result.data as Page).devices.edges).toHaveLength(12);
    expect(reads).toHaveLength(1);
  });

  it('reads one device with its twin in one statement, and the aliased reads of a request in one batch', async () => {
    const one = await statementsOf(`query($id: String!) { device(deviceId: $id) { connected twin { version reported desired delta } } }`, { id: devices[0] });
    expect(one.result.errors).toBeUndefined();
    expect(one.reads).toHaveLength(1);
    const three = await statementsOf(
      `query($a: String!, $b: String!, $c: String!) { a: device(deviceId: $a) { twin { version } } b: device(deviceId: $b) { twin { version } } c: device(deviceId: $c) { twin { version } } }`,
      { a: devices[0], b: devices[1], c: devices[2] },
    );
    expect(three.result.errors).toBeUndefined();
    expect(three.reads).toHaveLength(1);
  });

  it('loads twin metadata for a whole page in one more statement', async () => {
    const { result, reads } = await statementsOf(
      `query($tag: String) { devices(first: 100, filter: { tag: $tag }) { edges { node { twin { metadata } } } } }`,
      {
        tag: TAG,
      },
    );
    expect(result.errors).toBeUndefined();
    expect(reads).toHaveLength(2);
  });

  it('pages exactly as the Prisma path does: first/after, last/before, every filter', async () => {
    // Asking for the model sends the same page through Prisma (the reader answers only device + twin).
    const page = (extra: string) => `query($first: Int, $after: String, $last: Int, $before: String, $filter: DeviceFilter) {
        devices(first: $first, after: $after, last: $last, before: $before, filter: $filter) {
          edges { cursor node { deviceId twin { version } ${extra} } }
          pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        } }`;
    const ids = (r: { data?: unknown }) => (r.data as Page).devices.edges.map((e) => e.node.deviceId);
    const first = await t.gql(page(''), { first: 5, filter: { tag: TAG } });
    const after = (first.data as Page).devices.pageInfo.endCursor;
    const cases: Array<Record<string, unknown>> = [
      { first: 5, filter: { tag: TAG } },
      { first: 5, after, filter: { tag: TAG } },
      { last: 4, filter: { tag: TAG } },
      { last: 3, before: after, filter: { tag: TAG } },
      { first: 100, filter: { tags: [TAG, 'even'] } },
      { first: 100, filter: { tag: TAG, connected: false } },
      { first: 100, filter: { tag: TAG, model: `${TAG}-m` } },
      { first: 0, filter: { tag: TAG } },
    ];
    for (const variables of cases) {
      const fast = await t.gql(page(''), variables);
      const planned = await t.gql(page('model { name }'), variables);
      expect(fast.errors, JSON.stringify(variables)).toBeUndefined();
      expect(ids(fast), JSON.stringify(variables)).toEqual(ids(planned));
      expect((fast.data as Page).devices.pageInfo, JSON.stringify(variables)).toEqual((planned.data as Page).devices.pageInfo);
    }
    expect(ids(await t.gql(page(''), { first: 100, filter: { tag: TAG, model: `${TAG}-m` } }))).toHaveLength(4);
  });

  it('never shows another tenant a device, by device id, in a page or in one batch with its own', async () => {
    const otherAdmin = await t.createToken('admin', `other-${TAG}`);
    const theirs = uniqueDeviceId('rd-other');
    await register(theirs, otherAdmin, { tags: [TAG] });
    const query = `query($mine: String!, $theirs: String!, $tag: String) {
        mine: device(deviceId: $mine) { deviceId twin { version } }
        theirs: device(deviceId: $theirs) { deviceId twin { version metadata } }
        devices(first: 100, filter: { tag: $tag }) { edges { node { deviceId twin { metadata } } } } }`;
    // As the default tenant: its own device, not the other's (same batch, same statement).
    const asDefault = await t.gql(query, { mine: devices[0], theirs, tag: TAG });
    expect(asDefault.errors).toBeUndefined();
    const data = asDefault.data as { mine: unknown; theirs: unknown; devices: Page['devices'] };
    expect(data.mine).toMatchObject({ deviceId: devices[0] });
    expect(data.theirs).toBeNull();
    expect(data.devices.edges.map((e) => e.node.deviceId)).not.toContain(theirs);
    expect(data.devices.edges).toHaveLength(12);
    // As the other tenant: only its own.
    const asOther = await t.gql(query, { mine: devices[0], theirs, tag: TAG }, otherAdmin);
    expect(asOther.errors).toBeUndefined();
    const other = asOther.data as { mine: unknown; theirs: unknown; devices: Page['devices'] };
    expect(other.mine).toBeNull();
    expect(other.theirs).toMatchObject({ deviceId: theirs, twin: { version: 0, metadata: { reported: {}, desired: {} } } });
    expect(other.devices.edges.map((e) => e.node.deviceId)).toEqual([theirs]);
  });

  it('sees a desired change made through GraphQL in the very next read', async () => {
    const deviceId = devices[3]!;
    for (let i = 1; i <= 3; i++) {
      const update = await t.gql(
        `mutation($id: String!, $patch: JSON!) { updateDesired(deviceId: $id, patch: $patch) { __typename ... on UpdateDesiredPayload { version } } }`,
        { id: deviceId, patch: { setpoint: i } },
      );
      const version = (update.data as { updateDesired: { version: number } }).updateDesired.version;
      const read = await t.gql(`query($id: String!) { device(deviceId: $id) { twin { version desired delta } } }`, { id: deviceId });
      expect(read.data).toEqual({ device: { twin: { version, desired: { setpoint: i }, delta: { setpoint: i } } } });
      const page = await t.gql(`query($tag: String) { devices(first: 100, filter: { tag: $tag }) { edges { node { deviceId twin { version desired } } } } }`, {
        tag: TAG,
      });
      const node = (page.data as { devices: { edges: Array<{ node: { deviceId: string; twin: unknown } }> } }).devices.edges.find(
        (e) => e.node.deviceId === deviceId,
      );
      expect(node?.node.twin).toEqual({ version, desired: { setpoint: i } });
    }
  });

  it('sees a state a device reported over MQTT as soon as the report is accepted', async () => {
    const creds = await register(uniqueDeviceId('rd-mqtt'), undefined, { tags: [TAG] });
    const client = await t.mqtt({ username: creds.username, password: creds.password, clientId: `${creds.username}-${Date.now()}` });
    const messages = messageWaiter(client);
    await client.subscribeAsync(`devices/${creds.deviceId}/twin/#`, { qos: 1 });
    for (let i = 1; i <= 3; i++) {
      await client.publishAsync(`devices/${creds.deviceId}/twin/reported`, JSON.stringify({ state: { temp: 20 + i }, clientToken: `c${i}` }), { qos: 1 });
      const accepted = await messages.next(`devices/${creds.deviceId}/twin/reported/accepted`);
      const version = (accepted.json as { version: number }).version;
      const read = await t.gql(`query($id: String!) { device(deviceId: $id) { connected twin { version reported metadata } } }`, { id: creds.deviceId });
      expect(read.errors).toBeUndefined();
      const device = (
        read.data as { device: { connected: boolean; twin: { version: number; reported: unknown; metadata: { reported: { temp: { ts: number } } } } } }
      ).device;
      expect(device.twin.version).toBe(version);
      expect(device.twin.reported).toEqual({ temp: 20 + i });
      expect(device.twin.metadata.reported.temp.ts).toBeGreaterThan(0);
    }
  });

  it('keeps unexpected failures masked: a device whose twin row is gone answers "Unexpected error."', async () => {
    const deviceId = uniqueDeviceId('rd-broken');
    await register(deviceId);
    await t.database.sql.query(`DELETE FROM "Twin" WHERE "deviceId" = (SELECT id FROM "Device" WHERE "deviceId" = $1)`, [deviceId]);
    const read = await t.gql(`query($id: String!) { device(deviceId: $id) { deviceId twin { version } } }`, { id: deviceId });
    expect(read.status).toBe(200);
    expect(read.data).toEqual({ device: null });
    expect(read.errors).toEqual([expect.objectContaining({ message: 'Unexpected error.', path: ['device', 'twin'] })]);
    expect(JSON.stringify(read.errors)).not.toMatch(/Twin|twin row|SELECT/);
  });
});
