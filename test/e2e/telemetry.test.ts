import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import type { MqttClient } from 'mqtt';
import { graphql } from '../generated/gql.ts';
import type { TelemetryRawQuery } from '../generated/graphql.ts';
import { REJECTED_METRIC } from '../../src/mqtt/bridge.ts';
import { TELEMETRY_POINTS_METRIC } from '../../src/services/telemetry/index.ts';
import { embeddedBroker, modeName, startTestServer, subscribe, uniqueDeviceId, type TestServer } from '../support/harness.ts';

const Latest = graphql(`
  query TelemetryLatest($deviceId: String!, $metrics: [String!]) {
    device(deviceId: $deviceId) { latest(metrics: $metrics) { metric ts value boolValue } }
  }
`);

const Raw = graphql(`
  query TelemetryRaw($deviceId: String!, $metric: String!, $from: DateTime, $to: DateTime, $first: Int, $after: String, $last: Int, $before: String) {
    device(deviceId: $deviceId) {
      telemetry(metric: $metric, from: $from, to: $to, first: $first, after: $after, last: $last, before: $before) {
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        edges { cursor node { metric ts value boolValue } }
      }
    }
  }
`);

const DevicesLatest = graphql(`
  query DevicesLatest($first: Int, $filter: DeviceFilter) {
    devices(first: $first, filter: $filter) { edges { node { deviceId latest { metric value } } } }
  }
`);

const DevicesRaw = graphql(`
  query DevicesRaw($first: Int, $filter: DeviceFilter) {
    devices(first: $first, filter: $filter) { edges { node { deviceId telemetry(metric: "temp", first: 2) { edges { node { ts value } } } } } }
  }
`);

const TELEMETRY_SUBSCRIPTION = /* GraphQL */ `
  subscription Telemetry($deviceId: String, $metrics: [String!]) {
    telemetry(deviceId: $deviceId, metrics: $metrics) { deviceId at points { metric ts value boolValue } }
  }
`;

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({
    TELEMETRY_MAX_MESSAGE_BYTES: '16384',
    TELEMETRY_MAX_VALUES_PER_MESSAGE: '50',
    TELEMETRY_MAX_BATCH_ENTRIES: '20',
  });
});
afterAll(async () => {
  await t?.stop();
});

async function register(tags: string[] = []) {
  const deviceId = uniqueDeviceId('tel');
  const result = await t.gql(
    `mutation R($id: String!, $tags: [String!]) { registerDevice(input: {deviceId: $id, tags: $tags}) { ... on DeviceWithCredentials { credentials { password } } } }`,
    { id: deviceId, tags },
  );
  const { password } = (result.data as { registerDevice: { credentials: { password: string } } }).registerDevice.credentials;
  return { deviceId, password };
}

async function connect(deviceId: string, password: string): Promise<MqttClient> {
  return t.mqtt({ username: deviceId, password, clientId: `${deviceId}-tel` });
}

async function device() {
  const { deviceId, password } = await register();
  return { deviceId, client: await connect(deviceId, password) };
}

async function rows(deviceId: string) {
  const d = await t.database.prisma.device.findUniqueOrThrow({ where: { deviceId } });
  return t.database.prisma.telemetryPoint.findMany({ where: { deviceId: d.id }, orderBy: [{ metric: 'asc' }, { ts: 'asc' }] });
}

/** With an external broker the device's PUBACK comes from the broker, not after our store: wait for the rows. */
async function expectRows(deviceId: string, count: number) {
  await expect.poll(async () => (await rows(deviceId)).length, { timeout: 10_000 }).toBe(count);
  return rows(deviceId);
}

function publish(client: MqttClient, deviceId: string, body: unknown) {
  return client.publishAsync(`devices/${deviceId}/telemetry`, typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body), { qos: 1 });
}

describe(`telemetry ingestion (${modeName})`, () => {
  it('stores one message; with the embedded broker the QoS 1 PUBACK comes after the store', async () => {
    const { deviceId, client } = await device();
    const ts = Date.now() - 5_000;
    await publish(client, deviceId, { ts, seq: 1, values: { temp: 21.5, open: true } });
    if (embeddedBroker) {
      // No polling: the acknowledgement itself says the rows are there.
      expect(await rows(deviceId)).toHaveLength(2);
    }
    const stored = await expectRows(deviceId, 2);
    expect(stored.map((r) => [r.metric, r.ts.getTime(), r.value, r.isBool])).toEqual([
      ['open', ts, 1, true],
      ['temp', ts, 21.5, false],
    ]);
  });

  it('stores an array (catch-up after an outage), with device ts or receive time', async () => {
    const { deviceId, client } = await device();
    const base = Date.parse('2026-01-01T00:00:00Z');
    const before = Date.now();
    await publish(client, deviceId, [
      { ts: base, values: { temp: 1 } },
      { ts: new Date(base + 1000).toISOString(), values: { temp: 2 } },
      { ts: base + 2000.7, values: { temp: 3, hum: 40 } },
      { values: { temp: 4 } },
    ]);
    const stored = await expectRows(deviceId, 5);
    const after = Date.now();
    const temps = stored.filter((r) => r.metric === 'temp');
    expect(temps.slice(0, 3).map((r) => [r.ts.getTime(), r.value])).toEqual([
      [base, 1],
      [base + 1000, 2],
      [base + 2000, 3], // fractional milliseconds are truncated
    ]);
    // No ts: the time the server received the message.
    expect(temps[3]!.ts.getTime()).toBeGreaterThanOrEqual(before - 5);
    expect(temps[3]!.ts.getTime()).toBeLessThanOrEqual(after);
  });

  it('stores nothing twice: a replayed message (and a duplicate inside one) is idempotent', async () => {
    const { deviceId, client } = await device();
    const ts = Date.now() - 60_000;
    const message = [
      { ts, values: { temp: 20, hum: 50 } },
      { ts: ts + 1, values: { temp: 21 } },
    ];
    const duplicatesBefore = t.running.metrics.get(TELEMETRY_POINTS_METRIC, { result: 'duplicate' });
    await publish(client, deviceId, message);
    await expectRows(deviceId, 3);
    await publish(client, deviceId, message);
    // With an external broker the PUBACK does not wait for the store: wait for the replay's three
    // duplicates, or the next message may share its batch, where the batcher keeps one point per key.
    await expect.poll(() => t.running.metrics.get(TELEMETRY_POINTS_METRIC, { result: 'duplicate' }), { timeout: 10_000 }).toBe(duplicatesBefore + 3);
    await publish(client, deviceId, { ts, values: { temp: 99 } }); // same key, other value: the first one stays
    await expect.poll(() => t.running.metrics.get(TELEMETRY_POINTS_METRIC, { result: 'duplicate' }), { timeout: 10_000 }).toBe(duplicatesBefore + 4);
    const stored = await rows(deviceId);
    expect(stored.map((r) => [r.metric, r.ts.getTime(), r.value])).toEqual([
      ['hum', ts, 50],
      ['temp', ts, 20],
      ['temp', ts + 1, 21],
    ]);
  });

  it('refuses every bad message whole, counts it by code, and writes nothing', async () => {
    const { deviceId, client } = await device();
    const count = (code: string) => t.running.metrics.get(REJECTED_METRIC, { kind: 'telemetry', code });
    let deep: unknown = 1;
    for (let i = 0; i < 10; i++) deep = [deep];
    const cases: Array<[string, unknown]> = [
      ['MALFORMED', '{"values": {"temp": 1,}'],
      ['MALFORMED', Buffer.from([0xff, 0xfe, 0x00])],
      ['INVALID_VALUE', { values: { temp: 1, label: 'hot' } }],
      ['INVALID_VALUE', { values: { temp: { c: 21 } } }],
      ['INVALID_VALUE', { values: { temp: null } }],
      ['INVALID_VALUE', '{"values": {"temp": 1e999}}'], // JSON has no Infinity; this is how one arrives
      ['INVALID_METRIC', { values: { 'bad metric': 1 } }],
      ['INVALID_METRIC', { values: { ['m'.repeat(65)]: 1 } }],
      ['INVALID_METRIC', { values: { 'a/b': 1 } }],
      ['TOO_MANY_VALUES', { values: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`m${i}`, i])) }],
      ['TOO_MANY_ENTRIES', Array.from({ length: 21 }, (_, i) => ({ ts: 1000 + i, values: { a: i } }))],
      ['INVALID_TIMESTAMP', { ts: Date.now() + 3_600_000, values: { temp: 1 } }],
      ['INVALID_TIMESTAMP', { ts: 'yesterday', values: { temp: 1 } }],
      ['TOO_LARGE', { values: { temp: 1 }, pad: 'x'.repeat(20_000) }],
      ['TOO_DEEP', { values: { temp: deep } }],
      ['NOT_AN_OBJECT', '42'],
      ['NO_VALUES', { ts: 1000 }],
      ['INVALID_SEQ', { seq: -1, values: { temp: 1 } }],
      // One bad entry refuses the whole array, good entries included.
      [
        'INVALID_VALUE',
        [
          { ts: 1000, values: { temp: 1 } },
          { ts: 2000, values: { temp: 'x' } },
        ],
      ],
    ];
    const expected = new Map<string, number>();
    for (const [code] of cases) expected.set(code, (expected.get(code) ?? count(code)) + 1);
    for (const [, body] of cases) await publish(client, deviceId, body as string);
    for (const [code, n] of expected) {
      await expect.poll(() => count(code), { timeout: 10_000, message: code }).toBe(n);
    }
    expect(await rows(deviceId)).toEqual([]);
    const latest = await t.gql(Latest, { deviceId });
    expect(latest.data?.device?.latest).toEqual([]);
  });

  it('keeps the latest value per metric, moving only forward in time', async () => {
    const { deviceId, client } = await device();
    const base = Date.now() - 100_000;
    await publish(client, deviceId, { ts: base + 10_000, values: { temp: 1, door: true } });
    await publish(client, deviceId, { ts: base, values: { temp: 2, door: false } }); // older: history only
    await publish(client, deviceId, { ts: base + 20_000, values: { hum: 33 } });
    await expectRows(deviceId, 5);
    const latest = await t.gql(Latest, { deviceId });
    expect(latest.data?.device?.latest).toEqual([
      { metric: 'door', ts: new Date(base + 10_000).toISOString(), value: 1, boolValue: true },
      { metric: 'hum', ts: new Date(base + 20_000).toISOString(), value: 33, boolValue: null },
      { metric: 'temp', ts: new Date(base + 10_000).toISOString(), value: 1, boolValue: null },
    ]);
    await publish(client, deviceId, { ts: base + 30_000, values: { temp: 3 } });
    await expectRows(deviceId, 6);
    const only = await t.gql(Latest, { deviceId, metrics: ['temp'] });
    expect(only.data?.device?.latest).toEqual([{ metric: 'temp', ts: new Date(base + 30_000).toISOString(), value: 3, boolValue: null }]);
  });

  it('pages raw points by ts cursor, forwards and backwards, within a range', async () => {
    const { deviceId, client } = await device();
    const base = Date.parse('2026-02-01T00:00:00Z');
    await publish(
      client,
      deviceId,
      Array.from({ length: 20 }, (_, i) => ({ ts: base + i * 1000, values: { temp: i, other: -i } })),
    );
    await expectRows(deviceId, 40);

    const seen: number[] = [];
    let after: string | null = null;
    for (let pages = 0; ; pages++) {
      const page: Awaited<ReturnType<typeof t.gql<TelemetryRawQuery, unknown>>> = await t.gql(Raw, { deviceId, metric: 'temp', first: 6, after });
      expect(page.errors).toBeUndefined();
      const connection = page.data!.device!.telemetry;
      seen.push(...connection.edges.map((e) => e.node.value));
      if (!connection.pageInfo.hasNextPage) break;
      after = connection.pageInfo.endCursor ?? null;
      expect(pages).toBeLessThan(10);
    }
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => i));

    const range = await t.gql(Raw, { deviceId, metric: 'temp', from: new Date(base + 5000).toISOString(), to: new Date(base + 9000).toISOString() });
    expect(range.data?.device?.telemetry.edges.map((e) => e.node.value)).toEqual([5, 6, 7, 8]);
    expect(range.data?.device?.telemetry.edges[0]).toMatchObject({
      cursor: String(base + 5000),
      node: { metric: 'temp', ts: new Date(base + 5000).toISOString() },
    });

    const last = await t.gql(Raw, { deviceId, metric: 'temp', last: 3 });
    expect(last.data?.device?.telemetry.edges.map((e) => e.node.value)).toEqual([17, 18, 19]);
    expect(last.data?.device?.telemetry.pageInfo.hasPreviousPage).toBe(true);
    const before = await t.gql(Raw, { deviceId, metric: 'temp', last: 3, before: last.data!.device!.telemetry.pageInfo.startCursor });
    expect(before.data?.device?.telemetry.edges.map((e) => e.node.value)).toEqual([14, 15, 16]);

    const tooBig = await t.gql(Raw, { deviceId, metric: 'temp', first: 5000 });
    expect(tooBig.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const badCursor = await t.gql(Raw, { deviceId, metric: 'temp', after: 'nope' });
    expect(badCursor.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const badMetric = await t.gql(Raw, { deviceId, metric: 'no such/metric' });
    expect(badMetric.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('streams stored points to subscribers, filtered by device, metrics and tenant', async () => {
    const { deviceId, client } = await device();
    const ws = t.ws();
    const mine = subscribe<{ telemetry: { deviceId: string; points: Array<{ metric: string; value: number; boolValue: boolean | null }> } }>(
      ws,
      TELEMETRY_SUBSCRIPTION,
      { deviceId, metrics: ['temp', 'open'] },
    );
    const otherTenant = subscribe<{ telemetry: { deviceId: string } }>(t.ws(await t.createToken('admin', 'other-tenant')), TELEMETRY_SUBSCRIPTION, {});
    await t.waitForSubscriptions(2);
    await publish(client, deviceId, { values: { hum: 10 } }); // no wanted metric: nothing sent
    await publish(client, deviceId, { values: { temp: 22.5, hum: 11, open: false } });
    const event = await mine.next();
    expect(event.data?.telemetry).toMatchObject({
      deviceId,
      points: [
        { metric: 'temp', value: 22.5, boolValue: null },
        { metric: 'open', value: 0, boolValue: false },
      ],
    });
    await expect(otherTenant.next(300)).rejects.toThrow(/no subscription event/);
  });

  it('reads latest values and raw pages of a devices page in a constant number of SQL queries', async () => {
    const tag = uniqueDeviceId('tq');
    const ts = Date.now() - 10_000;
    for (let i = 0; i < 8; i++) {
      const { deviceId, password } = await register([tag]);
      const client = await connect(deviceId, password);
      await publish(client, deviceId, [
        { ts, values: { temp: i, hum: i * 2 } },
        { ts: ts + 1, values: { temp: i + 0.5 } },
      ]);
      await expectRows(deviceId, 3);
      await client.endAsync();
    }
    const countFor = async <R, V>(document: TypedDocumentNode<R, V>, variables: V, check: (data: R) => void) => {
      t.queries.length = 0;
      const page = await t.gql(document, variables);
      expect(page.errors).toBeUndefined();
      check(page.data!);
      return t.queries.length;
    };
    const latestCount = (first: number) =>
      countFor(DevicesLatest, { first, filter: { tag } }, (data) => {
        expect(data.devices.edges).toHaveLength(first);
        for (const e of data.devices.edges) expect(e.node.latest.map((l) => l.metric)).toEqual(['hum', 'temp']);
      });
    const small = await latestCount(2);
    expect(await latestCount(8)).toBe(small);
    expect(small).toBeLessThanOrEqual(4);

    const rawCount = (first: number) =>
      countFor(DevicesRaw, { first, filter: { tag } }, (data) => {
        expect(data.devices.edges).toHaveLength(first);
        for (const e of data.devices.edges) expect(e.node.telemetry.edges).toHaveLength(2);
      });
    const rawSmall = await rawCount(2);
    expect(await rawCount(8)).toBe(rawSmall);
  });
});
