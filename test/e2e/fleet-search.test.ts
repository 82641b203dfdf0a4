/**
 * Fleet search end to end (docs/onboarding.md#fleet-search): real mqtt.js devices report their state,
 * desired state changes through GraphQL, and `devices(filter: …)` over HTTP finds exactly the devices
 * the reference meaning (src/domain/fleet-filter.ts `conditionHolds`) picks — on both page paths and
 * in totalCount, right after each accepted change, within the caller's tenant. A fleet command with a
 * twin filter targets the same devices, and every bad filter is refused with its field paths, counted,
 * never a SQL error.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { createToaster, until } from '../support/commands.ts';
import { messageWaiter, modeName, startTestServer, uniqueDeviceId, type TestServer } from '../support/harness.ts';
import { conditionHolds, FLEET_FILTER_LIMITS, parseFleetFilter, type FleetFilterInput } from '../../src/domain/fleet-filter.ts';
import { DEVICE_FILTER_REFUSED_METRIC } from '../../src/services/device-reads.ts';
import { insertRule } from '../services/rules/engine/support.ts';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ RULES_SWEEP_INTERVAL_MS: '50' });
}, 120_000);
afterAll(async () => {
  await t?.stop();
});

/** This file's devices carry this tag, so searches see only them (an external database is shared). */
const TAG = uniqueDeviceId('fleet-search');
const START = new Date(Date.now() - 1000);

/** What each device reports (the never-connected ones report nothing). */
const REPORTED: Record<string, Record<string, unknown>> = {
  r0: { fw: { version: '1.2' }, temp: 18, mode: 'heat', beta: { on: true } },
  r1: { fw: { version: '1.3' }, temp: 25.5, mode: 'cool' },
  r2: { fw: { version: '1.10' }, temp: '25', mode: 'eco', list: [1, 2] },
  r3: { fw: { version: 1.2 }, mode: 'off' },
  q0: {},
  q1: {},
};
const NAMES = Object.keys(REPORTED);
/** Short name → device id. */
const ids: Record<string, string> = {};
const clients: Record<string, { client: MqttClient; waiter: ReturnType<typeof messageWaiter> }> = {};
let model: string;

const SEARCH = `query S($f: DeviceFilter, $first: Int) { devices(filter: $f, first: $first) { totalCount edges { node { deviceId } } } }`;
const SEARCH_PRISMA_PATH = `query S($f: DeviceFilter) { devices(filter: $f, first: 100) { totalCount edges { node { deviceId model { name } } } } }`;

/** Reads of devices or twins by the API (the reader's statements, or Prisma's); background work (sweeps, rules) is left out. */
const DEVICE_OR_TWIN_READ = /FROM "Device" d LEFT JOIN "Twin"|^SELECT .* FROM "public"\."(Device|Twin)"/s;

type SearchResult = { devices: { totalCount: number; edges: Array<{ node: { deviceId: string } }> } | null };

async function search(filter: FleetFilterInput & Record<string, unknown>, token?: string, document = SEARCH) {
  const r = await t.gql<SearchResult, unknown>(document, { f: { tag: TAG, ...filter }, first: 100 }, token);
  if (r.errors) throw new Error(JSON.stringify(r.errors));
  const found = r.data!.devices!.edges.map((e) => nameOf(e.node.deviceId)).sort();
  expect(r.data!.devices!.totalCount).toBe(found.length);
  return found;
}

/**
 * Only the count: for polling while a change is being written (the page and the count are two
 * statements, so a poll may see the change in one and not yet in the other).
 */
async function totalOf(filter: FleetFilterInput & Record<string, unknown>): Promise<number> {
  const r = await t.gql<{ devices: { totalCount: number } }, unknown>(`query S($f: DeviceFilter) { devices(filter: $f) { totalCount } }`, {
    f: { tag: TAG, ...filter },
  });
  if (r.errors) throw new Error(JSON.stringify(r.errors));
  return r.data!.devices.totalCount;
}

function nameOf(deviceId: string): string {
  return Object.entries(ids).find(([, id]) => id === deviceId)?.[0] ?? deviceId;
}

/** The devices the reference meaning picks for these conditions on `reported`, given what each reported. */
function expected(conditions: FleetFilterInput['reported']): string[] {
  const parsed = parseFleetFilter({ reported: conditions });
  if (!parsed.ok) throw parsed.error;
  return NAMES.filter((name) => parsed.filter.twin.every((c) => conditionHolds(c, REPORTED[name]))).sort();
}

async function report(name: string, state: Record<string, unknown>): Promise<void> {
  const { client, waiter } = clients[name]!;
  const id = ids[name]!;
  await client.publishAsync(`devices/${id}/twin/reported`, JSON.stringify({ state, clientToken: `${name}-${Date.now()}` }), { qos: 1 });
  const reply = await waiter.nextOf([`devices/${id}/twin/reported/accepted`, `devices/${id}/twin/reported/rejected`]);
  expect(reply.topic).toBe(`devices/${id}/twin/reported/accepted`);
}

describe(`fleet search (${modeName})`, () => {
  beforeAll(async () => {
    model = await createToaster(t);
    const inputs = NAMES.map((name) => ({ deviceId: uniqueDeviceId(`fs-${name}`), tags: [TAG], ...(name === 'r0' || name === 'r1' ? { model } : {}) }));
    const r = await t.gql<{ registerDevices: { created: number; results: Array<{ deviceId: string; username: string; password: string }> } }, unknown>(
      `mutation R($inputs: [RegisterDeviceInput!]!) { registerDevices(inputs: $inputs) { ... on RegisterDevicesPayload { created results { deviceId username password } } } }`,
      { inputs },
    );
    const results = r.data?.registerDevices.results;
    if (!results || results.length !== NAMES.length) throw new Error(`registerDevices failed: ${JSON.stringify(r)}`);
    NAMES.forEach((name, i) => (ids[name] = inputs[i]!.deviceId));
    for (const name of NAMES.filter((n) => n.startsWith('r'))) {
      const creds = results.find((c) => c.deviceId === ids[name])!;
      const client = await t.mqtt({ username: creds.username, password: creds.password, clientId: ids[name] });
      const waiter = messageWaiter(client);
      await client.subscribeAsync(`devices/${ids[name]}/twin/reported/+`, { qos: 1 });
      clients[name] = { client, waiter };
      await report(name, REPORTED[name]!);
    }
  }, 120_000);

  it('finds exactly the devices the reference meaning picks, for every operator, on both page paths', async () => {
    const cases: NonNullable<FleetFilterInput['reported']>[] = [
      [{ path: ['fw', 'version'], eq: '1.2' }],
      [{ path: ['fw', 'version'], eq: 1.2 }],
      [{ path: ['fw', 'version'], ne: '1.2' }],
      [{ path: ['mode'], in: ['heat', 'cool', 'nope'] }],
      [{ path: ['temp'], lt: 20 }],
      [{ path: ['temp'], gt: 20 }],
      [{ path: ['temp'], gt: '1' }],
      [{ path: ['fw', 'version'], lt: '1.9' }],
      [{ path: ['beta', 'on'], exists: true }],
      [{ path: ['beta'], exists: false }],
      [{ path: ['list', '0'], exists: true }],
      [{ path: ['fw'], eq: '1.2' }],
      [
        { path: ['fw'], exists: true },
        { path: ['mode'], ne: 'heat' },
        { path: ['fw', 'version'], gt: '1.1' },
      ],
    ];
    for (const reported of cases) {
      const want = expected(reported);
      expect({ reported, found: await search({ reported }) }).toEqual({ reported, found: want });
      // The model is not a device column: Pothos plans a Prisma read, which pages by the same filter SQL.
      expect({ reported, found: await search({ reported }, undefined, SEARCH_PRISMA_PATH) }).toEqual({ reported, found: want });
    }
    // Sanity of the cases themselves: they tell the devices apart.
    expect(expected([{ path: ['fw', 'version'], eq: '1.2' }])).toEqual(['r0']);
    expect(expected([{ path: ['fw', 'version'], lt: '1.9' }])).toEqual(['r0', 'r1', 'r2']);
  });

  it('pages through the matches forward and backward, the same as the matches in id order', async () => {
    const reported = [{ path: ['fw'], exists: true }];
    const all = await search({ reported });
    expect(all).toEqual(['r0', 'r1', 'r2', 'r3']);
    type Page = { devices: { edges: Array<{ node: { deviceId: string } }>; pageInfo: { endCursor: string; startCursor: string; hasNextPage: boolean } } };
    const first = await t.gql<Page, unknown>(
      `query P($f: DeviceFilter) { devices(filter: $f, first: 2) { edges { node { deviceId } } pageInfo { endCursor startCursor hasNextPage } } }`,
      { f: { tag: TAG, reported } },
    );
    t.rawQueries.length = 0;
    t.queries.length = 0;
    const next = await t.gql<Page & { devices: { totalCount: number } }, unknown>(
      `query P($f: DeviceFilter, $after: String) { devices(filter: $f, first: 2, after: $after) { totalCount edges { node { deviceId } } pageInfo { endCursor startCursor hasNextPage } } }`,
      { f: { tag: TAG, reported }, after: first.data!.devices.pageInfo.endCursor },
    );
    // The page and its count in one statement (the count is of every match, not of the window), no other read of devices.
    expect(next.data!.devices.totalCount).toBe(4);
    const deviceReads = [...t.rawQueries, ...t.queries].filter((q) => DEVICE_OR_TWIN_READ.test(q));
    expect(deviceReads).toEqual([expect.stringContaining('"matchCount"')]);
    const back = await t.gql<Page, unknown>(
      `query P($f: DeviceFilter, $before: String) { devices(filter: $f, last: 2, before: $before) { edges { node { deviceId } } pageInfo { endCursor startCursor hasNextPage } } }`,
      { f: { tag: TAG, reported }, before: next.data!.devices.pageInfo.startCursor },
    );
    const pageOf = (p: Page) => p.devices.edges.map((e) => e.node.deviceId);
    expect(new Set([...pageOf(first.data!), ...pageOf(next.data!)])).toEqual(new Set(all.map((n) => ids[n])));
    expect(pageOf(back.data!)).toEqual(pageOf(first.data!));
  });

  it('reads its writes: a desired change through GraphQL is found by the very next search, hasDelta until the device reports it', async () => {
    const update = await t.gql<{ updateDesired: { __typename: string } }, unknown>(
      `mutation U($id: String!, $patch: JSON!) { updateDesired(deviceId: $id, patch: $patch) { __typename } }`,
      { id: ids.r1, patch: { target: 22 } },
    );
    expect(update.data!.updateDesired.__typename).toBe('UpdateDesiredPayload');
    expect(await search({ desired: [{ path: ['target'], eq: 22 }] })).toEqual(['r1']);
    expect(await search({ hasDelta: true })).toEqual(['r1']);
    expect(await search({ hasDelta: false })).toEqual(['q0', 'q1', 'r0', 'r2', 'r3']);

    await report('r1', { target: 22 });
    expect(await search({ reported: [{ path: ['target'], eq: 22 }] })).toEqual(['r1']);
    expect(await search({ hasDelta: true })).toEqual([]);
    expect(await search({ hasDelta: false, desired: [{ path: ['target'], gt: 21 }] })).toEqual(['r1']);
  });

  it('filters on lastSeenAt: devices seen after the start, none before it, never-seen devices in neither', async () => {
    // lastSeenAt is written by the presence tracker once a second (src/services/presence.ts).
    await until(async () => (await totalOf({ lastSeenAfter: START })) === 4, 'lastSeenAt of the four reporting devices');
    expect(await search({ lastSeenAfter: START })).toEqual(['r0', 'r1', 'r2', 'r3']);
    expect(await search({ lastSeenBefore: START })).toEqual([]);
    expect(await search({ lastSeenBefore: new Date(Date.now() + 3_600_000), reported: [{ path: ['mode'], eq: 'eco' }] })).toEqual(['r2']);
  });

  it('filters on open alarms: raised and acknowledged count, cleared does not', async () => {
    await insertRule(t.database.sql, {
      scope: { deviceIds: [ids.r0] },
      source: { type: 'telemetry', metric: 'heat' },
      raise: { op: '>', value: 30 },
      severity: 'MAJOR',
    });
    const ts = Date.now() - 60_000;
    await clients.r0!.client.publishAsync(`devices/${ids.r0}/telemetry`, JSON.stringify([{ ts, values: { heat: 35 } }]), { qos: 1 });
    await until(async () => (await totalOf({ alarmActive: true })) === 1, 'the alarm');
    expect(await search({ alarmActive: true })).toEqual(['r0']);
    expect(await search({ alarmActive: false })).toEqual(['q0', 'q1', 'r1', 'r2', 'r3']);

    const alarms = await t.gql<{ alarms: { edges: Array<{ node: { alarmId: string } }> } }, unknown>(
      `query A($d: String!) { alarms(filter: { deviceId: $d }, first: 5) { edges { node { alarmId } } } }`,
      { d: ids.r0 },
    );
    const alarmId = alarms.data!.alarms.edges[0]!.node.alarmId;
    const control = (field: string) =>
      t.gql<Record<string, { __typename: string; status: string }>, unknown>(
        `mutation M($input: AlarmControlInput!) { ${field}(input: $input) { __typename ... on Alarm { status } } }`,
        {
          input: { alarmId },
        },
      );
    expect((await control('acknowledgeAlarm')).data!.acknowledgeAlarm!.status).toBe('ACKNOWLEDGED');
    expect(await search({ alarmActive: true, reported: [{ path: ['mode'], eq: 'heat' }] })).toEqual(['r0']);
    expect((await control('clearAlarm')).data!.clearAlarm!.status).toBe('CLEARED');
    expect(await search({ alarmActive: true })).toEqual([]);
  });

  it('stays within the tenant: another tenant finds none of these devices, whatever the filter', async () => {
    const other = await t.createToken('admin', uniqueDeviceId('tenant'));
    expect(await search({ reported: [{ path: ['fw'], exists: true }] }, other)).toEqual([]);
    expect(await search({ reported: [{ path: ['fw', 'version'], ne: 'x' }] }, other)).toEqual([]);
    expect(await search({ hasDelta: false }, other)).toEqual([]);
  });

  it('sends a fleet command with a twin filter to exactly the devices the search finds', async () => {
    const filter = { tag: TAG, reported: [{ path: ['mode'], in: ['heat', 'cool'] }] };
    const found = await search(filter);
    expect(found).toEqual(['r0', 'r1']);
    const r = await t.gql<{ sendFleetCommand: { __typename: string; fleetCommandId: string; progress: { total: number } } }, unknown>(
      `mutation F($input: SendFleetCommandInput!) { sendFleetCommand(input: $input) { __typename ... on FleetCommand { fleetCommandId progress { total } } ... on Error { message } } }`,
      { input: { filter, name: 'toast', params: { power: 5 }, ttlMs: 600_000 } },
    );
    expect(r.data!.sendFleetCommand).toMatchObject({ __typename: 'FleetCommand', progress: { total: 2 } });
    const members = await t.gql<{ fleetCommand: { commands: { edges: Array<{ node: { device: { deviceId: string } } }> } } }, unknown>(
      `query C($id: String!) { fleetCommand(id: $id) { commands(first: 10) { edges { node { device { deviceId } } } } } }`,
      { id: r.data!.sendFleetCommand.fleetCommandId },
    );
    expect(members.data!.fleetCommand.commands.edges.map((e) => nameOf(e.node.device.deviceId)).sort()).toEqual(found);
  });

  describe('bad filters are refused with the paths of the fields, counted, and never reach SQL', () => {
    const deep = Array.from({ length: FLEET_FILTER_LIMITS.maxPathDepth + 1 }, (_, i) => `k${i}`);
    const many = Array.from({ length: FLEET_FILTER_LIMITS.maxInValues + 1 }, (_, i) => `v${i}`);
    const refusals: Array<[string, Record<string, unknown>, string, string]> = [
      ['an empty path', { reported: [{ path: [], eq: 1 }] }, 'filter.reported.0.path', 'INVALID_PATH'],
      ['a key no twin has', { reported: [{ path: ['fw', '$version'], eq: 1 }] }, 'filter.reported.0.path.1', 'INVALID_PATH_KEY'],
      ['a path too deep', { desired: [{ path: deep, exists: true }] }, 'filter.desired.0.path', 'PATH_TOO_DEEP'],
      ['no operator', { reported: [{ path: ['fw'] }] }, 'filter.reported.0', 'NO_OPERATOR'],
      ['two operators', { reported: [{ path: ['temp'], gt: 1, lt: 5 }] }, 'filter.reported.0', 'TOO_MANY_OPERATORS'],
      ['in with too many values', { reported: [{ path: ['mode'], in: many }] }, 'filter.reported.0.in', 'TOO_MANY_VALUES'],
      ['lt with an object', { reported: [{ path: ['temp'], lt: { v: 1 } }] }, 'filter.reported.0.lt', 'NOT_SCALAR'],
      ['gt with a list', { reported: [{ path: ['temp'], gt: [1] }] }, 'filter.reported.0.gt', 'NOT_SCALAR'],
      ['eq null', { reported: [{ path: ['temp'], eq: null }] }, 'filter.reported.0.eq', 'NULL_VALUE'],
      ['a string SQL cannot hold', { reported: [{ path: ['temp'], eq: 'a\u0000b' }] }, 'filter.reported.0.eq', 'NOT_SCALAR'],
      ['an empty lastSeen range', { lastSeenBefore: START.toISOString(), lastSeenAfter: START.toISOString() }, 'filter.lastSeenAfter', 'EMPTY_RANGE'],
    ];

    for (const [what, filter, path, code] of refusals) {
      it(`devices: ${what}`, async () => {
        const before = t.running.metrics.get(DEVICE_FILTER_REFUSED_METRIC, { code });
        const r = await t.gql<SearchResult, unknown>(SEARCH, { f: { tag: TAG, ...filter } });
        expect(r.data?.devices ?? null).toBeNull();
        expect(r.errors).toHaveLength(1);
        const error = r.errors![0]!;
        expect(error.extensions).toMatchObject({ code: 'VALIDATION_FAILED' });
        expect((error.extensions!.issues as Array<{ path: string[]; code: string }>).map((i) => [i.path.join('.'), i.code])).toEqual([[path, code]]);
        expect(error.message).toContain(path);
        expect(t.running.metrics.get(DEVICE_FILTER_REFUSED_METRIC, { code })).toBe(before + 1);
      });
    }

    it('sendFleetCommand: a bad filter is a ValidationError pointing into input.filter, and nothing is created', async () => {
      const before = await t.database.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM "FleetCommand"`);
      const r = await t.gql<{ sendFleetCommand: { __typename: string; fieldErrors: Array<{ path: string[]; code: string }> } }, unknown>(
        `mutation F($input: SendFleetCommandInput!) { sendFleetCommand(input: $input) { __typename ... on ValidationError { fieldErrors { path code } } } }`,
        { input: { filter: { tag: TAG, reported: [{ path: ['mode'], eq: 'heat', ne: 'cool' }], desired: [{ path: [], exists: true }] }, name: 'toast' } },
      );
      expect(r.data!.sendFleetCommand).toEqual({
        __typename: 'ValidationError',
        fieldErrors: [
          { path: ['input', 'filter', 'reported', '0'], code: 'TOO_MANY_OPERATORS' },
          { path: ['input', 'filter', 'desired', '0', 'path'], code: 'INVALID_PATH' },
        ],
      });
      const after = await t.database.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM "FleetCommand"`);
      expect(after[0]!.n).toBe(before[0]!.n);
    });
  });
});
