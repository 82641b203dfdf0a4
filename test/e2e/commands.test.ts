/**
 * Commands end to end (docs/commands.md): models and typed twins, validation, delivery to mqtt.js devices,
 * acks, idempotency, cancel, rate limit, expiry, timeout. Runs embedded and against PostgreSQL +
 * Mosquitto. The restart and fleet suites are in their own files.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACKS_IGNORED_METRIC, COMMANDS_METRIC } from '../../src/services/commands/index.ts';
import { REJECTED_METRIC } from '../../src/mqtt/bridge.ts';
import { embeddedBroker, messageWaiter, modeName, startTestServer, subscribe, uniqueDeviceId, type TestServer } from '../support/harness.ts';
import {
  commandDevice,
  commandOf,
  createModel,
  createToaster,
  registerDevice,
  send,
  TOASTER_COMMANDS,
  UPDATE_MODEL,
  until,
  waitForStatus,
} from '../support/commands.ts';

let t: TestServer;

beforeAll(async () => {
  t = await startTestServer({ COMMAND_RATE_LIMIT: '5', COMMAND_SWEEP_INTERVAL_MS: '50' });
});
afterAll(async () => {
  await t?.stop();
});

const COMMANDS_PAGE = /* GraphQL */ `
  query Commands($deviceId: String!, $status: CommandStatus, $first: Int, $after: String) {
    device(deviceId: $deviceId) {
      commands(status: $status, first: $first, after: $after) {
        totalCount
        pageInfo { hasNextPage endCursor }
        edges { node { commandId name status } }
      }
    }
  }
`;

async function commandCount(deviceId: string): Promise<number> {
  const r = await t.gql<{ device: { commands: { totalCount: number } } }, unknown>(COMMANDS_PAGE, { deviceId });
  return r.data!.device.commands.totalCount;
}

describe(`device models (${modeName})`, () => {
  it('creates a model with capabilities, and versions it on update', async () => {
    const name = uniqueDeviceId('model');
    const created = await createModel(t, { name, commands: TOASTER_COMMANDS, desiredSchema: { type: 'object' } });
    expect(created).toMatchObject({ __typename: 'DeviceModel', name, version: 1, desiredSchema: { type: 'object' }, reportedSchema: null });
    expect((created.commands as Array<{ name: string }>).map((c) => c.name)).toEqual(['toast', 'eject']);

    const updated = await t.gql<{ updateDeviceModel: Record<string, unknown> }, unknown>(UPDATE_MODEL, {
      input: { name, reportedSchema: { type: 'object', properties: { temp: { type: 'number' } } } },
    });
    expect(updated.data!.updateDeviceModel).toMatchObject({ version: 2, desiredSchema: { type: 'object' }, reportedSchema: { type: 'object' } });
    expect((updated.data!.updateDeviceModel.commands as unknown[]).length).toBe(2);
    const history = await t.gql<{ deviceModel: { versions: Array<{ version: number; reportedSchema: unknown; createdBy: string }> } }, unknown>(
      `query($n: String!) { deviceModel(name: $n) { versions { version reportedSchema createdBy } } }`,
      { n: name },
    );
    expect(history.data!.deviceModel.versions.map((v) => [v.version, v.reportedSchema === null, v.createdBy])).toEqual([
      [2, false, 'test admin'],
      [1, true, 'test admin'],
    ]);

    const again = await createModel(t, { name });
    expect(again).toMatchObject({ __typename: 'AlreadyExists', code: 'ALREADY_EXISTS' });
    const missing = await t.gql<{ updateDeviceModel: Record<string, unknown> }, unknown>(UPDATE_MODEL, { input: { name: 'no-such-model' } });
    expect(missing.data!.updateDeviceModel).toMatchObject({ __typename: 'NotFound' });
  });

  it('refuses broken schemas on save with every failing path, and stores nothing', async () => {
    const name = uniqueDeviceId('broken');
    const r = await createModel(t, {
      name,
      commands: [
        { name: 'toast', params: { type: 'object', properties: { power: { type: 'integr' } } } },
        { name: 'toast', params: { type: 'object', properties: { power: { minimun: 1 } } }, timeoutMs: 0 },
      ],
      reportedSchema: { type: 'object', required: 'temp' },
    });
    expect(r.__typename).toBe('ValidationError');
    const paths = (r.fieldErrors as Array<{ path: string[] }>).map((e) => e.path.join('.'));
    expect(paths).toEqual(
      expect.arrayContaining([
        'input.commands.0.params.properties.power.type',
        'input.commands.1.name',
        'input.commands.1.params',
        'input.commands.1.timeoutMs',
        'input.reportedSchema.required',
      ]),
    );
    const q = await t.gql<{ deviceModel: unknown }, unknown>(`query($n: String!) { deviceModel(name: $n) { name } }`, { n: name });
    expect(q.data!.deviceModel).toBeNull();
  });

  it('lets only admins manage models, and only operators send commands', async () => {
    const viewer = await t.createToken('viewer');
    const operator = await t.createToken('operator');
    const asOperator = await t.gql(
      `mutation($i: DeviceModelInput!) { createDeviceModel(input: $i) { __typename } }`,
      { i: { name: uniqueDeviceId('m') } },
      operator,
    );
    expect(asOperator.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const model = await createToaster(t);
    const dev = await registerDevice(t, model);
    const asViewer = await t.gql(
      `mutation($i: SendCommandInput!) { sendCommand(input: $i) { __typename } }`,
      { i: { deviceId: dev.deviceId, name: 'eject' } },
      viewer,
    );
    expect(asViewer.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const ok = await send(t, { deviceId: dev.deviceId, name: 'eject' }, operator);
    expect(ok).toMatchObject({ __typename: 'Command', status: 'PENDING', requestedBy: 'test operator' });
    // Viewers read.
    expect(await commandOf(t, ok.commandId as string, viewer)).toMatchObject({ name: 'eject' });
  });
});

describe(`typed twins (${modeName})`, () => {
  it('refuses a desired patch whose merged document breaks the schema, with every failing path', async () => {
    const model = await createToaster(t, {
      desiredSchema: { type: 'object', properties: { power: { type: 'integer', maximum: 100 }, mode: { enum: ['bread', 'bagel'] } } },
    });
    const dev = await registerDevice(t, model);
    const UPDATE = `mutation($d: String!, $p: JSON!) { updateDesired(deviceId: $d, patch: $p) { __typename
      ... on UpdateDesiredPayload { version } ... on ValidationError { fieldErrors { path code message } } } }`;
    const ok = await t.gql<{ updateDesired: Record<string, unknown> }, unknown>(UPDATE, { d: dev.deviceId, p: { power: 50 } });
    expect(ok.data!.updateDesired).toEqual({ __typename: 'UpdateDesiredPayload', version: 1 });
    const bad = await t.gql<{ updateDesired: Record<string, unknown> }, unknown>(UPDATE, { d: dev.deviceId, p: { power: 9000, mode: 'croissant' } });
    expect(bad.data!.updateDesired).toEqual({
      __typename: 'ValidationError',
      fieldErrors: [
        { path: ['patch', 'mode'], code: 'INVALID_ENUM', message: 'must be one of ["bread","bagel"]' },
        { path: ['patch', 'power'], code: 'OUT_OF_RANGE', message: 'must be <= 100' },
      ],
    });
    const twin = await t.gql<{ device: { twin: { version: number; desired: unknown } } }, unknown>(
      `query($d: String!) { device(deviceId: $d) { twin { version desired } } }`,
      { d: dev.deviceId },
    );
    expect(twin.data!.device.twin).toEqual({ version: 1, desired: { power: 50 } });
  });

  it('rejects a reported patch that breaks the reported schema on twin/reported/rejected with the failing paths', async () => {
    const model = await createToaster(t, { reportedSchema: { type: 'object', properties: { temp: { type: 'number' }, door: { enum: ['open', 'closed'] } } } });
    const dev = await registerDevice(t, model);
    const client = await t.mqtt({ username: dev.username, password: dev.password, clientId: `${dev.deviceId}-r` });
    const messages = messageWaiter(client);
    await client.subscribeAsync(`devices/${dev.deviceId}/twin/#`, { qos: 1 });
    await client.publishAsync(`devices/${dev.deviceId}/twin/reported`, JSON.stringify({ state: { temp: 'hot', door: 'ajar' }, clientToken: 'c1' }), { qos: 1 });
    const rejected = await messages.next(`devices/${dev.deviceId}/twin/reported/rejected`);
    expect(rejected.json).toMatchObject({
      clientToken: 'c1',
      code: 'INVALID_ENUM',
      path: ['state', 'door'],
      errors: [
        { path: ['state', 'door'], code: 'INVALID_ENUM', message: 'must be one of ["open","closed"]' },
        { path: ['state', 'temp'], code: 'INVALID_TYPE', message: 'must be number' },
      ],
    });
    await client.publishAsync(`devices/${dev.deviceId}/twin/reported`, JSON.stringify({ state: { temp: 21.5 }, clientToken: 'c2' }), { qos: 1 });
    expect((await messages.next(`devices/${dev.deviceId}/twin/reported/accepted`)).json).toEqual({ clientToken: 'c2', version: 1 });
  });
});

describe(`sendCommand validation (${modeName})`, () => {
  it('refuses MAX POWER on a toaster whose power is 0–100, with the exact path, and stores nothing', async () => {
    const dev = await registerDevice(t, await createToaster(t));
    const refusedBefore = t.running.metrics.get(COMMANDS_METRIC, { kind: 'invalid' });
    const r = await send(t, { deviceId: dev.deviceId, name: 'toast', params: { power: 9000 } });
    expect(r).toEqual({
      __typename: 'ValidationError',
      code: 'VALIDATION_FAILED',
      message: 'invalid command',
      fieldErrors: [{ path: ['input', 'params', 'power'], code: 'OUT_OF_RANGE', message: 'must be <= 100' }],
    });
    expect(await commandCount(dev.deviceId)).toBe(0);
    expect(t.running.metrics.get(COMMANDS_METRIC, { kind: 'invalid' })).toBe(refusedBefore + 1);
  });

  it('lists every failing path: wrong type, bad enum, missing and extra params', async () => {
    const dev = await registerDevice(t, await createToaster(t));
    const typed = await send(t, { deviceId: dev.deviceId, name: 'toast', params: { power: 'max', mode: 'croissant', turbo: true } });
    expect(typed.fieldErrors).toEqual([
      { path: ['input', 'params', 'mode'], code: 'INVALID_ENUM', message: 'must be one of ["bread","bagel"]' },
      { path: ['input', 'params', 'power'], code: 'INVALID_TYPE', message: 'must be integer' },
      { path: ['input', 'params', 'turbo'], code: 'UNKNOWN_FIELD', message: 'is not a known field' },
    ]);
    const missing = await send(t, { deviceId: dev.deviceId, name: 'toast', params: {} });
    expect(missing.fieldErrors).toEqual([{ path: ['input', 'params', 'power'], code: 'REQUIRED', message: 'is required' }]);
    const unknown = await send(t, { deviceId: dev.deviceId, name: 'explode', params: {} });
    expect(unknown.fieldErrors).toEqual([
      { path: ['input', 'name'], code: 'UNKNOWN_COMMAND', message: expect.stringContaining('declares no command "explode"') },
    ]);
    const notObject = await send(t, { deviceId: dev.deviceId, name: 'toast', params: [1], ttlMs: 0 });
    expect((notObject.fieldErrors as Array<{ path: string[] }>).map((e) => e.path.join('.'))).toEqual(['input.params', 'input.ttlMs']);
    const noModel = await registerDevice(t, null);
    expect((await send(t, { deviceId: noModel.deviceId, name: 'toast', params: { power: 1 } })).fieldErrors).toEqual([
      { path: ['input', 'name'], code: 'UNKNOWN_COMMAND', message: 'the device has no model, so it accepts no commands' },
    ]);
    expect(await send(t, { deviceId: 'no-such-device', name: 'toast' })).toMatchObject({ __typename: 'NotFound' });
    expect(await commandCount(dev.deviceId)).toBe(0);
  });

  it('rate-limits commands per device with a typed error', async () => {
    const dev = await registerDevice(t, await createToaster(t));
    for (let i = 0; i < 5; i++) expect((await send(t, { deviceId: dev.deviceId, name: 'eject' })).__typename).toBe('Command');
    const limited = await send(t, { deviceId: dev.deviceId, name: 'eject' });
    expect(limited).toMatchObject({ __typename: 'RateLimited', code: 'RATE_LIMITED', limit: 5, windowMs: 60_000 });
    expect(limited.retryAfterMs).toBeGreaterThan(0);
    expect(await commandCount(dev.deviceId)).toBe(5);
  });
});

describe(`delivery and acks (${modeName})`, () => {
  it('delivers to an online device, takes its acks, and streams every transition on commandUpdated', async () => {
    const dev = await registerDevice(t, await createToaster(t));
    const device = await commandDevice(t, dev);
    await until(
      async () =>
        (await t.gql<{ device: { connected: boolean } }, unknown>(`query($d: String!) { device(deviceId: $d) { connected } }`, { d: dev.deviceId })).data!
          .device.connected,
      'connected',
    );
    const sub = subscribe<{ commandUpdated: { status: string; from: string | null; commandId: string; command: { status: string } } }>(
      t.ws(),
      `subscription($d: String) { commandUpdated(deviceId: $d) { commandId from status command { status } } }`,
      { d: dev.deviceId },
    );
    await t.waitForSubscriptions(1);

    const sent = await send(t, { deviceId: dev.deviceId, name: 'toast', params: { power: 40, mode: 'bagel' } });
    expect(sent).toMatchObject({ __typename: 'Command', requestedBy: 'test admin', modelVersion: 1 });
    // Read back after the insert: delivery to an online device may already have marked it SENT.
    expect(['PENDING', 'SENT']).toContain(sent.status);
    const [received] = await device.waitFor(1);
    expect(received).toEqual({ commandId: sent.commandId, body: { name: 'toast', params: { power: 40, mode: 'bagel' }, expiresAt: null } });

    await device.ack(sent.commandId as string, { status: 'ACCEPTED' });
    await waitForStatus(t, sent.commandId as string, 'ACCEPTED');
    await device.ack(sent.commandId as string, { status: 'SUCCEEDED', result: { crumbs: 3 } });
    const done = await waitForStatus(t, sent.commandId as string, 'SUCCEEDED');
    expect(done).toMatchObject({ result: { crumbs: 3 }, error: null });
    for (const f of ['createdAt', 'sentAt', 'acceptedAt', 'completedAt']) expect(done[f]).toEqual(expect.any(String));
    expect(Object.keys(done.stateTimes as object)).toEqual(expect.arrayContaining(['PENDING', 'SENT', 'ACCEPTED', 'SUCCEEDED']));

    const statuses: string[] = [];
    while (statuses.at(-1) !== 'SUCCEEDED') statuses.push((await sub.next()).data!.commandUpdated.status);
    // SENT is its own event unless the device's ACCEPTED ack overtook the SENT mark (it then implies it).
    expect(statuses.filter((s) => s !== 'SENT')).toEqual(['PENDING', 'ACCEPTED', 'SUCCEEDED']);
    sub.unsubscribe();
  });

  it('ignores, records and counts duplicate and illegal acks, and acks for unknown or foreign commands', async () => {
    const model = await createToaster(t);
    const [a, b] = [await registerDevice(t, model), await registerDevice(t, model)];
    const devA = await commandDevice(t, a);
    const devB = await commandDevice(t, b);
    const sent = await send(t, { deviceId: a.deviceId, name: 'eject' });
    await devA.waitFor(1);
    await devA.ack(sent.commandId as string, { status: 'SUCCEEDED' });
    await waitForStatus(t, sent.commandId as string, 'SUCCEEDED');
    const m = t.running.metrics;
    const before = (reason: string) => m.get(ACKS_IGNORED_METRIC, { reason });
    const base = { dup: before('DUPLICATE'), illegal: before('ILLEGAL_TRANSITION'), unknown: before('UNKNOWN_COMMAND'), other: before('OTHER_DEVICE') };
    const badJson = m.get(REJECTED_METRIC, { kind: 'commandAck', code: 'MALFORMED_JSON' });
    const badStatus = m.get(REJECTED_METRIC, { kind: 'commandAck', code: 'INVALID_STATUS' });

    await devA.ack(sent.commandId as string, { status: 'SUCCEEDED' });
    await devA.ack(sent.commandId as string, { status: 'FAILED', error: 'too late' });
    await devA.ack('00000000-0000-4000-8000-000000000000', { status: 'SUCCEEDED' });
    // Device B acks A's command on B's own ack topic (which the ACL allows): the command is not B's.
    await devB.ack(sent.commandId as string, { status: 'FAILED' });
    await devA.ack(sent.commandId as string, '{not json');
    await devA.ack(sent.commandId as string, { status: 'DONE' });

    await until(
      () => before('DUPLICATE') > base.dup && before('ILLEGAL_TRANSITION') > base.illegal && before('UNKNOWN_COMMAND') > base.unknown,
      'refused acks to be counted',
    );
    await until(
      () =>
        m.get(REJECTED_METRIC, { kind: 'commandAck', code: 'MALFORMED_JSON' }) > badJson &&
        m.get(REJECTED_METRIC, { kind: 'commandAck', code: 'INVALID_STATUS' }) > badStatus,
      'bad ack payloads to be counted',
    );
    await until(() => before('OTHER_DEVICE') > base.other, "the other device's ack to be counted");

    const c = await commandOf(t, sent.commandId as string);
    expect(c).toMatchObject({ status: 'SUCCEEDED', error: null });
    expect((c!.refusals as Array<{ reason: string }>).map((r) => r.reason)).toEqual(['DUPLICATE', 'ILLEGAL_TRANSITION']);
  });

  it('queues commands for an offline device and delivers them in creation order on reconnect', async () => {
    const dev = await registerDevice(t, await createToaster(t));
    const ids: string[] = [];
    for (const power of [10, 20, 30]) ids.push((await send(t, { deviceId: dev.deviceId, name: 'toast', params: { power } })).commandId as string);
    expect((await commandOf(t, ids[0]!))!.status).toBe('PENDING');
    const device = await commandDevice(t, dev);
    const received = await device.waitFor(3);
    expect(received.map((r) => r.commandId)).toEqual(ids);
    expect(received.map((r) => r.body.params.power)).toEqual([10, 20, 30]);
    for (const id of ids) await waitForStatus(t, id, 'SENT');
  });

  it('publishes nothing to a connected device before it announces online, then each pending command once', async () => {
    const dev = await registerDevice(t, await createToaster(t));
    const device = await commandDevice(t, dev, { announce: false });
    // The embedded broker reports the CONNECT (an external one does not: there `online` is the first sign).
    if (embeddedBroker) {
      await until(
        async () =>
          (await t.gql<{ device: { connected: boolean } }, unknown>(`query($d: String!) { device(deviceId: $d) { connected } }`, { d: dev.deviceId })).data!
            .device.connected,
        'the device to be connected',
      );
    }
    const first = (await send(t, { deviceId: dev.deviceId, name: 'toast', params: { power: 1 } })).commandId as string;
    // Several sweeps (every 50 ms) pass; the device is connected but has not said it subscribed.
    await new Promise((r) => setTimeout(r, 400));
    expect(device.received).toEqual([]);
    expect((await commandOf(t, first))!.status).toBe('PENDING');
    await device.online();
    await device.waitFor(1);
    const second = (await send(t, { deviceId: dev.deviceId, name: 'toast', params: { power: 2 } })).commandId as string;
    await device.waitFor(2);
    await waitForStatus(t, second, 'SENT');
    // The `online` redelivery round and the sweeper both ran after `first` was claimed: still once each.
    await new Promise((r) => setTimeout(r, 300));
    expect(device.received.map((r) => r.commandId)).toEqual([first, second]);
  });

  it('expires a command whose TTL passes while the device is offline, and never delivers it', async () => {
    const dev = await registerDevice(t, await createToaster(t));
    const short = await send(t, { deviceId: dev.deviceId, name: 'toast', params: { power: 5 }, ttlMs: 100 });
    expect(short.expiresAt).toEqual(expect.any(String));
    await waitForStatus(t, short.commandId as string, 'EXPIRED');
    const later = await send(t, { deviceId: dev.deviceId, name: 'eject' });
    const device = await commandDevice(t, dev);
    const [first] = await device.waitFor(1);
    // Delivery is in creation order, so had the expired one gone out it would have come first.
    expect(first!.commandId).toBe(later.commandId);
    await waitForStatus(t, later.commandId as string, 'SENT');
    expect(device.received.map((r) => r.commandId)).not.toContain(short.commandId);
    await device.ack(short.commandId as string, { status: 'SUCCEEDED' });
    await until(async () => ((await commandOf(t, short.commandId as string))!.refusals as unknown[]).length === 1, 'the late ack to be recorded');
    expect((await commandOf(t, short.commandId as string))!.status).toBe('EXPIRED');
  });

  it('times out a delivered command without a final ack', async () => {
    const name = uniqueDeviceId('slow');
    await createModel(t, { name, commands: [{ name: 'brew', params: {}, timeoutMs: 200 }] });
    const dev = await registerDevice(t, name);
    const device = await commandDevice(t, dev);
    const sent = await send(t, { deviceId: dev.deviceId, name: 'brew' });
    await device.waitFor(1);
    await device.ack(sent.commandId as string, { status: 'ACCEPTED' });
    const c = await waitForStatus(t, sent.commandId as string, 'TIMED_OUT');
    expect(c.completedAt).toEqual(expect.any(String));
    await device.ack(sent.commandId as string, { status: 'SUCCEEDED' });
    await until(async () => ((await commandOf(t, sent.commandId as string))!.refusals as unknown[]).length === 1, 'the late ack to be recorded');
    expect((await commandOf(t, sent.commandId as string))!.status).toBe('TIMED_OUT');
  });

  it('returns the same command for the same idempotency key, even under concurrency', async () => {
    const dev = await registerDevice(t, await createToaster(t));
    const results = await Promise.all(
      Array.from({ length: 4 }, () => send(t, { deviceId: dev.deviceId, name: 'toast', params: { power: 7 }, idempotencyKey: 'k-1' })),
    );
    const ids = new Set(results.map((r) => r.commandId));
    expect(ids.size).toBe(1);
    expect(results[0]).toMatchObject({ idempotencyKey: 'k-1' });
    expect(await commandCount(dev.deviceId)).toBe(1);
    const other = await send(t, { deviceId: dev.deviceId, name: 'toast', params: { power: 7 }, idempotencyKey: 'k-2' });
    expect(ids.has(other.commandId)).toBe(false);
  });

  it('cancels a command before delivery, and refuses to cancel a delivered one', async () => {
    const dev = await registerDevice(t, await createToaster(t));
    const CANCEL = `mutation($id: String!) { cancelCommand(commandId: $id) { __typename ... on Command { status canceledBy } ... on IllegalCommandState { code status } ... on NotFound { code } } }`;
    const pending = await send(t, { deviceId: dev.deviceId, name: 'toast', params: { power: 1 } });
    const canceled = await t.gql<{ cancelCommand: Record<string, unknown> }, unknown>(CANCEL, { id: pending.commandId });
    expect(canceled.data!.cancelCommand).toMatchObject({ __typename: 'Command', status: 'CANCELED', canceledBy: expect.stringContaining('test admin') });
    const twice = await t.gql<{ cancelCommand: Record<string, unknown> }, unknown>(CANCEL, { id: pending.commandId });
    expect(twice.data!.cancelCommand).toMatchObject({ status: 'CANCELED' });

    const later = await send(t, { deviceId: dev.deviceId, name: 'eject' });
    const device = await commandDevice(t, dev);
    const [first] = await device.waitFor(1);
    expect(first!.commandId).toBe(later.commandId);
    await waitForStatus(t, later.commandId as string, 'SENT');
    const refused = await t.gql<{ cancelCommand: Record<string, unknown> }, unknown>(CANCEL, { id: later.commandId });
    expect(refused.data!.cancelCommand).toEqual({ __typename: 'IllegalCommandState', code: 'ILLEGAL_COMMAND_STATE', status: 'SENT' });
    const unknown = await t.gql<{ cancelCommand: Record<string, unknown> }, unknown>(CANCEL, { id: 'nope' });
    expect(unknown.data!.cancelCommand).toEqual({ __typename: 'NotFound', code: 'NOT_FOUND' });
  });

  it('pages Device.commands newest first and filters by status', async () => {
    const dev = await registerDevice(t, await createToaster(t));
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await send(t, { deviceId: dev.deviceId, name: 'toast', params: { power: i } })).commandId as string);
    await t.gql(`mutation($id: String!) { cancelCommand(commandId: $id) { __typename } }`, { id: ids[0] });
    type Page = {
      device: {
        commands: { totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string }; edges: Array<{ node: { commandId: string; status: string } }> };
      };
    };
    const p1 = await t.gql<Page, unknown>(COMMANDS_PAGE, { deviceId: dev.deviceId, first: 2 });
    expect(p1.data!.device.commands.edges.map((e) => e.node.commandId)).toEqual([ids[2], ids[1]]);
    expect(p1.data!.device.commands.pageInfo.hasNextPage).toBe(true);
    const p2 = await t.gql<Page, unknown>(COMMANDS_PAGE, { deviceId: dev.deviceId, first: 2, after: p1.data!.device.commands.pageInfo.endCursor });
    expect(p2.data!.device.commands.edges.map((e) => e.node.commandId)).toEqual([ids[0]]);
    const canceled = await t.gql<Page, unknown>(COMMANDS_PAGE, { deviceId: dev.deviceId, status: 'CANCELED' });
    expect(canceled.data!.device.commands.edges.map((e) => e.node.commandId)).toEqual([ids[0]]);
    expect(canceled.data!.device.commands.totalCount).toBe(1);
  });
});
