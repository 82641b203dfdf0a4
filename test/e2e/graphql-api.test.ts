import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/gql.ts';
import type { DevicesPageQuery, DevicesPageQueryVariables } from '../generated/graphql.ts';
import { modeName, startTestServer, uniqueDeviceId, type TestServer } from '../support/harness.ts';

const RegisterDevice = graphql(`
  mutation RegisterDevice($input: RegisterDeviceInput!) {
    registerDevice(input: $input) {
      __typename
      ... on DeviceWithCredentials { device { id deviceId tags model { name } } credentials { username password } }
      ... on Error { code message }
      ... on ValidationError { fieldErrors { path code message } }
      ... on AlreadyExists { resource key }
    }
  }
`);

const DevicesPage = graphql(`
  query DevicesPage($first: Int, $after: String, $filter: DeviceFilter) {
    devices(first: $first, after: $after, filter: $filter) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { cursor node { id deviceId tags connected model { id name } twin { version reported desired delta metadata } } }
    }
  }
`);

const NodeLookup = graphql(`
  query NodeLookup($id: ID!) {
    node(id: $id) { __typename id ... on Device { deviceId } }
  }
`);

const DeleteDevice = graphql(`
  mutation DeleteDevice($deviceId: String!) {
    deleteDevice(deviceId: $deviceId) { __typename ... on DeleteDevicePayload { deviceId id } ... on NotFound { code resource key } }
  }
`);

const Rotate = graphql(`
  mutation Rotate($deviceId: String!) {
    rotateDeviceCredentials(deviceId: $deviceId) {
      __typename
      ... on DeviceWithCredentials { credentials { username password } }
      ... on NotFound { code }
    }
  }
`);

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.stop();
});

describe(`GraphQL API (${modeName})`, () => {
  it('refuses operations without a valid bearer token, over HTTP and WebSocket', async () => {
    const anonymous = await t.gql(`{ devices { totalCount } }`, {}, null);
    expect(anonymous.status).toBe(401);
    expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(anonymous.data ?? null).toBeNull();

    const forged = await t.gql(`{ devices { totalCount } }`, {}, 'dpl_not-a-real-token');
    expect(forged.status).toBe(401);

    // graphql-ws: a bad token in connection_init closes the socket with 4403.
    const client = t.ws('dpl_forged');
    const closed = await new Promise<{ code: number }>((resolve) => {
      client.on('closed', (event) => resolve(event as { code: number }));
      client.subscribe({ query: 'subscription { twinChanged { deviceId } }' }, { next: () => undefined, error: () => undefined, complete: () => undefined });
    });
    expect(closed.code).toBe(4403);
  });

  it('registers a device, returns its credentials once, and stores only a hash', async () => {
    const deviceId = uniqueDeviceId();
    const result = await t.gql(RegisterDevice, { input: { deviceId, tags: ['floor-1', 'hvac'], model: 'thermostat' } });
    const payload = result.data?.registerDevice;
    expect(payload?.__typename).toBe('DeviceWithCredentials');
    if (payload?.__typename !== 'DeviceWithCredentials') return;
    expect(payload.credentials.username).toBe(deviceId);
    expect(payload.credentials.password.length).toBeGreaterThanOrEqual(43); // 256 random bits, base64url
    expect(payload.device).toMatchObject({ deviceId, tags: ['floor-1', 'hvac'], model: { name: 'thermostat' } });
    const stored = await t.database.prisma.device.findUniqueOrThrow({ where: { deviceId } });
    expect(stored.secretHash).not.toContain(payload.credentials.password);
    expect(stored.secretHash).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('refuses invalid registrations with every failing field, and duplicates with AlreadyExists', async () => {
    const invalid = await t.gql(RegisterDevice, { input: { deviceId: 'bad id/#', tags: ['ok', 'not ok!'] } });
    expect(invalid.data?.registerDevice).toMatchObject({
      __typename: 'ValidationError',
      code: 'VALIDATION_FAILED',
      fieldErrors: [
        { path: ['input', 'deviceId'], code: 'INVALID_DEVICE_ID' },
        { path: ['input', 'tags', '1'], code: 'INVALID_TAG' },
      ],
    });
    expect(await t.database.prisma.device.count({ where: { deviceId: 'bad id/#' } })).toBe(0);

    const deviceId = uniqueDeviceId();
    await t.gql(RegisterDevice, { input: { deviceId } });
    const again = await t.gql(RegisterDevice, { input: { deviceId } });
    expect(again.data?.registerDevice).toMatchObject({ __typename: 'AlreadyExists', code: 'ALREADY_EXISTS', resource: 'Device', key: deviceId });
  });

  it('registers devices concurrently that name the same new model', async () => {
    const model = `model-${uniqueDeviceId('m')}`;
    const results = await Promise.all(Array.from({ length: 6 }, () => t.gql(RegisterDevice, { input: { deviceId: uniqueDeviceId('cc'), model } })));
    expect(results.map((r) => r.data?.registerDevice.__typename)).toEqual(Array(6).fill('DeviceWithCredentials'));
    expect(await t.database.prisma.deviceModel.count({ where: { name: model } })).toBe(1);
  });

  it('pages devices with a Relay connection, filters by tag, model and connected, and counts them', async () => {
    const tag = `page-${uniqueDeviceId('t')}`;
    const ids = [];
    for (let i = 0; i < 5; i++) {
      const deviceId = uniqueDeviceId('pg');
      ids.push(deviceId);
      await t.gql(RegisterDevice, { input: { deviceId, tags: [tag, i % 2 ? 'odd' : 'even'], model: i < 2 ? 'pump' : 'valve' } });
    }
    const seen: string[] = [];
    let after: string | null = null;
    for (;;) {
      const page: Awaited<ReturnType<typeof t.gql<DevicesPageQuery, DevicesPageQueryVariables>>> = await t.gql(DevicesPage, {
        first: 2,
        after,
        filter: { tag },
      });
      const connection = page.data!.devices;
      expect(connection.totalCount).toBe(5);
      seen.push(...connection.edges.map((e) => e.node.deviceId));
      if (!connection.pageInfo.hasNextPage) break;
      after = connection.pageInfo.endCursor ?? null;
    }
    expect(seen.sort()).toEqual([...ids].sort());

    const odd = await t.gql(DevicesPage, { first: 10, filter: { tags: [tag, 'odd'] } });
    expect(odd.data?.devices.totalCount).toBe(2);
    const pumps = await t.gql(DevicesPage, { first: 10, filter: { tag, model: 'pump' } });
    expect(pumps.data?.devices.edges.map((e) => e.node.model?.name)).toEqual(['pump', 'pump']);
    const connected = await t.gql(DevicesPage, { first: 10, filter: { tag, connected: true } });
    expect(connected.data?.devices.totalCount).toBe(0);
  });

  it('reads a devices page with twins and models in a constant number of SQL queries', async () => {
    const tag = `count-${uniqueDeviceId('t')}`;
    for (let i = 0; i < 12; i++) {
      await t.gql(RegisterDevice, { input: { deviceId: uniqueDeviceId('qc'), tags: [tag], model: `m${i % 3}` } });
    }
    const countFor = async (first: number) => {
      t.queries.length = 0;
      const page = await t.gql(DevicesPage, { first, filter: { tag } });
      expect(page.errors).toBeUndefined();
      expect(page.data?.devices.edges).toHaveLength(first);
      // Token lookup is per request, not per device; everything counts.
      return t.queries.length;
    };
    const small = await countFor(2);
    const large = await countFor(12);
    expect(large).toBe(small);
    expect(large).toBeLessThanOrEqual(6);
  });

  it('resolves node(id) for devices and models, and not across tenants', async () => {
    const deviceId = uniqueDeviceId();
    const created = await t.gql(RegisterDevice, { input: { deviceId, model: 'lamp' } });
    const device = created.data?.registerDevice;
    if (device?.__typename !== 'DeviceWithCredentials') throw new Error('register failed');
    const found = await t.gql(NodeLookup, { id: device.device.id });
    expect(found.data?.node).toMatchObject({ __typename: 'Device', deviceId });

    const otherTenant = await t.createToken('admin', 'other-tenant');
    const hidden = await t.gql(NodeLookup, { id: device.device.id }, otherTenant);
    expect(hidden.data?.node ?? null).toBeNull();
    const listed = await t.gql(DevicesPage, { first: 50 }, otherTenant);
    expect(listed.data?.devices.totalCount).toBe(0);
  });

  it('rotates credentials and deletes devices; unknown ids are typed NotFound', async () => {
    const deviceId = uniqueDeviceId();
    const created = await t.gql(RegisterDevice, { input: { deviceId } });
    if (created.data?.registerDevice.__typename !== 'DeviceWithCredentials') throw new Error('register failed');
    const oldPassword = created.data.registerDevice.credentials.password;
    const rotated = await t.gql(Rotate, { deviceId });
    expect(rotated.data?.rotateDeviceCredentials.__typename).toBe('DeviceWithCredentials');
    if (rotated.data?.rotateDeviceCredentials.__typename === 'DeviceWithCredentials') {
      expect(rotated.data.rotateDeviceCredentials.credentials.password).not.toBe(oldPassword);
    }
    expect((await t.gql(Rotate, { deviceId: 'nope' })).data?.rotateDeviceCredentials).toMatchObject({ __typename: 'NotFound', code: 'NOT_FOUND' });

    const deleted = await t.gql(DeleteDevice, { deviceId });
    expect(deleted.data?.deleteDevice).toMatchObject({ __typename: 'DeleteDevicePayload', deviceId });
    expect(await t.database.prisma.device.count({ where: { deviceId } })).toBe(0);
    expect((await t.gql(DeleteDevice, { deviceId })).data?.deleteDevice).toMatchObject({ __typename: 'NotFound', resource: 'Device', key: deviceId });
  });

  it('masks unexpected errors and rejects invalid GraphQL input with a clear message', async () => {
    const bad = await t.gql(`mutation { updateDesired(deviceId: 1, patch: {}) { __typename } }`);
    expect(bad.errors?.[0]?.message).toMatch(/String/);
    const unknownField = await t.gql(`{ devices { nope } }`);
    expect(unknownField.errors?.[0]?.message).toMatch(/Cannot query field "nope"/);
  });

  it('serves /healthz, /readyz and /metrics', async () => {
    const base = t.running.url;
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { database: true, mqtt: true } });
    expect(await (await fetch(`${base}/metrics`)).text()).toMatch(/# TYPE doppel_/);
  });

  it('refuses request bodies over the size limit', async () => {
    const response = await fetch(t.httpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${t.token}` },
      body: JSON.stringify({ query: '{ __typename }', variables: { pad: 'x'.repeat(2 * 1024 * 1024) } }),
    });
    expect(response.status).toBe(413);
  });
});

describe(`GraphQL input errors (${modeName})`, () => {
  it('says what is wrong with a bad DateTime variable instead of masking it', async () => {
    const result = await t.gql(
      `query Q($id: String!, $from: DateTime) { device(deviceId: $id) { telemetry(metric: "temp", from: $from) { edges { cursor } } } }`,
      { id: 'x', from: 'last tuesday' },
    );
    expect(result.errors?.[0]?.message).toMatch(/DateTime must be an ISO-8601 string or epoch milliseconds/);
  });
});
