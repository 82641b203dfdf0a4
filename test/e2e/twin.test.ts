import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/gql.ts';
import { Register, TwinQuery } from '../support/twin.ts';
import { messageWaiter, modeName, startTestServer, subscribe, uniqueDeviceId, type TestServer } from '../support/harness.ts';

const UpdateDesired = graphql(`
  mutation UpdateDesired($deviceId: String!, $patch: JSON!, $ifVersion: Int) {
    updateDesired(deviceId: $deviceId, patch: $patch, ifVersion: $ifVersion) {
      __typename
      ... on UpdateDesiredPayload { changed version twin { version desired delta } }
      ... on VersionConflict { code expectedVersion currentVersion }
      ... on ValidationError { code fieldErrors { path code message } }
      ... on NotFound { code }
    }
  }
`);

const TWIN_CHANGED = /* GraphQL */ `
  subscription TwinChanged($deviceId: String) {
    twinChanged(deviceId: $deviceId) { deviceId version section patch source twin { version reported } }
  }
`;

let t: TestServer;

beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.stop();
});

async function register(deviceId = uniqueDeviceId(), extra: { tags?: string[]; model?: string } = {}) {
  const result = await t.gql(Register, { input: { deviceId, name: `Device ${deviceId}`, ...extra } });
  const payload = result.data?.registerDevice;
  if (payload?.__typename !== 'DeviceWithCredentials') throw new Error(`register failed: ${JSON.stringify(result)}`);
  return { deviceId, ...payload.credentials };
}

async function connectDevice(creds: { username: string; password: string }, options: Record<string, unknown> = {}) {
  const client = await t.mqtt({ username: creds.username, password: creds.password, clientId: `${creds.username}-${Math.random()}`, ...options });
  return { client, messages: messageWaiter(client) };
}

describe(`device twin end to end (${modeName})`, () => {
  it('accepts a reported patch, answers accepted with the version, and streams twinChanged', async () => {
    const creds = await register();
    const sub = subscribe<{ twinChanged: { deviceId: string; version: number; section: string; patch: unknown; source: string; twin: { reported: unknown } } }>(
      t.ws(),
      TWIN_CHANGED,
      { deviceId: creds.deviceId },
    );
    await t.waitForSubscriptions(1);
    const { client, messages } = await connectDevice(creds);
    await client.subscribeAsync(`devices/${creds.deviceId}/twin/#`, { qos: 1 });

    await client.publishAsync(`devices/${creds.deviceId}/twin/reported`, JSON.stringify({ state: { temp: 21.5, fw: { version: '1.0' } }, clientToken: 'c1' }), {
      qos: 1,
    });
    const accepted = await messages.next(`devices/${creds.deviceId}/twin/reported/accepted`);
    expect(accepted.json).toEqual({ clientToken: 'c1', version: 1 });

    const event = await sub.next();
    expect(event.data?.twinChanged).toMatchObject({
      deviceId: creds.deviceId,
      version: 1,
      section: 'reported',
      source: 'device',
      patch: { temp: 21.5, fw: { version: '1.0' } },
      twin: { reported: { temp: 21.5, fw: { version: '1.0' } } },
    });

    const read = await t.gql(TwinQuery, { deviceId: creds.deviceId });
    expect(read.data?.device?.twin).toMatchObject({ version: 1, reported: { temp: 21.5, fw: { version: '1.0' } }, desired: {}, delta: {} });
    const metadata = read.data?.device?.twin.metadata as { reported: { temp: { ts: number } } };
    expect(typeof metadata.reported.temp.ts).toBe('number');
    sub.unsubscribe();
  });

  it('uses the device timestamp: an older report does not overwrite a newer leaf, a replay changes nothing', async () => {
    const creds = await register();
    const { client, messages } = await connectDevice(creds);
    await client.subscribeAsync(`devices/${creds.deviceId}/twin/reported/+`, { qos: 1 });
    const report = async (body: unknown) => {
      await client.publishAsync(`devices/${creds.deviceId}/twin/reported`, JSON.stringify(body), { qos: 1 });
      return (await messages.next(`devices/${creds.deviceId}/twin/reported/accepted`)).json as { version: number };
    };
    const base = Date.now() - 60_000;
    expect(await report({ state: { mode: 'eco' }, ts: base })).toEqual({ version: 1 });
    // Older ts (ISO form): the stored leaf is newer, so nothing changes and the version stays.
    expect(await report({ state: { mode: 'boost' }, ts: new Date(base - 1000).toISOString() })).toEqual({ version: 1 });
    // Exact replay: accepted, version unchanged.
    expect(await report({ state: { mode: 'eco' }, ts: base })).toEqual({ version: 1 });
    // Newer: applies; null deletes.
    expect(await report({ state: { mode: null, power: 3 }, ts: base + 1 })).toEqual({ version: 2 });
    const read = await t.gql(TwinQuery, { deviceId: creds.deviceId });
    expect(read.data?.device?.twin.reported).toEqual({ power: 3 });
  });

  it('publishes the delta (retained) on desired changes; the device follows and the delta empties', async () => {
    const creds = await register();
    const updated = await t.gql(UpdateDesired, { deviceId: creds.deviceId, patch: { target: 22, led: { color: 'red' } } });
    expect(updated.data?.updateDesired).toMatchObject({
      __typename: 'UpdateDesiredPayload',
      changed: true,
      version: 1,
      twin: { delta: { target: 22, led: { color: 'red' } } },
    });

    // The device connects after the change: the retained delta is handed over on subscribe.
    const { client, messages } = await connectDevice(creds);
    await client.subscribeAsync(`devices/${creds.deviceId}/twin/delta`, { qos: 1 });
    const delta = await messages.next(`devices/${creds.deviceId}/twin/delta`);
    expect(delta.json).toEqual({ version: 1, delta: { target: 22, led: { color: 'red' } } });

    await client.subscribeAsync(`devices/${creds.deviceId}/twin/reported/accepted`, { qos: 1 });
    await client.publishAsync(`devices/${creds.deviceId}/twin/reported`, JSON.stringify({ state: { target: 22, led: { color: 'red' } } }), { qos: 1 });
    await messages.next(`devices/${creds.deviceId}/twin/reported/accepted`);
    // Skip any copies of the earlier delta (the connect hand-over may repeat it).
    let next = await messages.next(`devices/${creds.deviceId}/twin/delta`);
    while ((next.json as { version: number }).version === 1) next = await messages.next(`devices/${creds.deviceId}/twin/delta`);
    expect(next.json).toEqual({ version: 2, delta: {} });
  });

  it('refuses a stale ifVersion with a typed VersionConflict carrying the current version', async () => {
    const creds = await register();
    const first = await t.gql(UpdateDesired, { deviceId: creds.deviceId, patch: { a: 1 }, ifVersion: 0 });
    expect(first.data?.updateDesired).toMatchObject({ __typename: 'UpdateDesiredPayload', version: 1 });
    const stale = await t.gql(UpdateDesired, { deviceId: creds.deviceId, patch: { a: 2 }, ifVersion: 0 });
    expect(stale.data?.updateDesired).toEqual({ __typename: 'VersionConflict', code: 'VERSION_CONFLICT', expectedVersion: 0, currentVersion: 1 });
    const read = await t.gql(TwinQuery, { deviceId: creds.deviceId });
    expect(read.data?.device?.twin.desired).toEqual({ a: 1 });
  });

  it('refuses invalid desired patches with field paths and writes nothing', async () => {
    const creds = await register();
    const bad = await t.gql(UpdateDesired, { deviceId: creds.deviceId, patch: { ok: 1, nested: { $bad: 1 } } });
    expect(bad.data?.updateDesired).toMatchObject({
      __typename: 'ValidationError',
      code: 'VALIDATION_FAILED',
      fieldErrors: [{ path: ['patch', 'nested', '$bad'], code: 'INVALID_KEY' }],
    });
    const notObject = await t.gql(UpdateDesired, { deviceId: creds.deviceId, patch: [1, 2] });
    expect(notObject.data?.updateDesired).toMatchObject({ __typename: 'ValidationError', fieldErrors: [{ code: 'NOT_AN_OBJECT' }] });
    const missing = await t.gql(UpdateDesired, { deviceId: 'no-such-device', patch: { a: 1 } });
    expect(missing.data?.updateDesired).toMatchObject({ __typename: 'NotFound', code: 'NOT_FOUND' });
    const read = await t.gql(TwinQuery, { deviceId: creds.deviceId });
    expect(read.data?.device?.twin).toMatchObject({ version: 0, desired: {} });
  });

  it('answers twin/get with the whole twin and the client token', async () => {
    const creds = await register();
    await t.gql(UpdateDesired, { deviceId: creds.deviceId, patch: { speed: 3 } });
    const { client, messages } = await connectDevice(creds);
    await client.subscribeAsync(`devices/${creds.deviceId}/twin/get/accepted`, { qos: 1 });
    await client.publishAsync(`devices/${creds.deviceId}/twin/get`, JSON.stringify({ clientToken: 'g1' }), { qos: 1 });
    const reply = await messages.next(`devices/${creds.deviceId}/twin/get/accepted`);
    expect(reply.json).toEqual({ clientToken: 'g1', version: 1, reported: {}, desired: { speed: 3 }, delta: { speed: 3 } });
  });

  it('tracks connection through status and Last Will, and streams deviceConnection', async () => {
    const creds = await register();
    const sub = subscribe<{ deviceConnection: { deviceId: string; connected: boolean } }>(
      t.ws(),
      `subscription C($d: String) { deviceConnection(deviceId: $d) { deviceId connected at } }`,
      { d: creds.deviceId },
    );
    await t.waitForSubscriptions(1);
    const { client } = await connectDevice(creds, {
      will: { topic: `devices/${creds.deviceId}/status`, payload: Buffer.from('offline'), qos: 1, retain: true },
    });
    await client.publishAsync(`devices/${creds.deviceId}/status`, 'online', { qos: 1, retain: true });
    let event = await sub.next();
    while (!event.data?.deviceConnection.connected) event = await sub.next();
    expect(event.data.deviceConnection).toMatchObject({ deviceId: creds.deviceId, connected: true });
    const online = await t.gql(TwinQuery, { deviceId: creds.deviceId });
    expect(online.data?.device).toMatchObject({ connected: true });
    expect(online.data?.device?.lastSeenAt).toBeTruthy();

    // An abrupt drop fires the Last Will ("offline").
    client.stream.destroy();
    event = await sub.next();
    while (event.data?.deviceConnection.connected) event = await sub.next();
    expect(event.data?.deviceConnection).toMatchObject({ deviceId: creds.deviceId, connected: false });
    const offline = await t.gql(TwinQuery, { deviceId: creds.deviceId });
    expect(offline.data?.device).toMatchObject({ connected: false });
    sub.unsubscribe();
  });
});
