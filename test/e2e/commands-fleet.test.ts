/** Fleet commands: one mutation, one Command per device, validated per model, with aggregated progress. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modeName, startTestServer, subscribe, uniqueDeviceId, type TestServer } from '../support/harness.ts';
import { commandDevice, createModel, createToaster, registerDevice, type Creds } from '../support/commands.ts';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ COMMAND_SWEEP_INTERVAL_MS: '100' });
});
afterAll(async () => {
  await t?.stop();
});

const SEND_FLEET = /* GraphQL */ `
  mutation Fleet($input: SendFleetCommandInput!) {
    sendFleetCommand(input: $input) {
      __typename
      ... on FleetCommand { fleetCommandId name params requestedBy progress { total done finished counts { status count } } }
      ... on ValidationError { fieldErrors { path code message } }
    }
  }
`;

type Progress = { total: number; done: number; finished: boolean; succeeded: number; pending: number; counts: Array<{ status: string; count: number }> };

function autoAckDevice(creds: Creds) {
  return commandDevice(t, creds, { autoAck: { status: 'SUCCEEDED', result: { ok: true } } });
}

describe(`fleet commands (${modeName})`, () => {
  it('creates one command per device of a filter, and reports progress until every member is final', async () => {
    const model = await createToaster(t);
    const tag = uniqueDeviceId('batch');
    const creds: Creds[] = [];
    for (let i = 0; i < 8; i++) {
      const deviceId = uniqueDeviceId('fleet');
      const r = await t.gql<{ registerDevice: { credentials: { username: string; password: string } } }, unknown>(
        `mutation($i: RegisterDeviceInput!) { registerDevice(input: $i) { ... on DeviceWithCredentials { credentials { username password } } } }`,
        { i: { deviceId, model, tags: [tag] } },
      );
      creds.push({ deviceId, ...r.data!.registerDevice.credentials });
    }
    // Six are online now; two come online later.
    for (const c of creds.slice(0, 6)) await autoAckDevice(c);

    const r = await t.gql<{ sendFleetCommand: Record<string, unknown> & { progress: Progress } }, unknown>(SEND_FLEET, {
      input: { filter: { tag }, name: 'toast', params: { power: 55 } },
    });
    const fleet = r.data!.sendFleetCommand;
    expect(fleet).toMatchObject({ __typename: 'FleetCommand', name: 'toast', params: { power: 55 }, requestedBy: 'test admin' });
    expect(fleet.progress.total).toBe(8);

    const sub = subscribe<{ fleetCommandProgress: Progress }>(
      t.ws(),
      `subscription($id: String!) { fleetCommandProgress(id: $id) { total done finished succeeded pending counts { status count } } }`,
      { id: fleet.fleetCommandId },
    );
    let p = (await sub.next()).data!.fleetCommandProgress;
    while (p.succeeded < 6) p = (await sub.next()).data!.fleetCommandProgress;
    expect(p).toMatchObject({ total: 8, done: 6, finished: false, succeeded: 6, pending: 2 });

    for (const c of creds.slice(6)) await autoAckDevice(c);
    while (!p.finished) p = (await sub.next()).data!.fleetCommandProgress;
    expect(p).toMatchObject({ total: 8, done: 8, finished: true, succeeded: 8, pending: 0 });

    const q = await t.gql<{ fleetCommand: { progress: Progress; commands: { edges: Array<{ node: { status: string; result: unknown } }> } } }, unknown>(
      `query($id: String!) { fleetCommand(id: $id) { progress { total finished succeeded } commands(first: 20) { edges { node { status result } } } } }`,
      { id: fleet.fleetCommandId },
    );
    expect(q.data!.fleetCommand.progress).toMatchObject({ total: 8, finished: true, succeeded: 8 });
    expect(q.data!.fleetCommand.commands.edges.map((e) => e.node)).toEqual(Array(8).fill({ status: 'SUCCEEDED', result: { ok: true } }));
  });

  it('validates per device model, all or nothing, and names unknown devices', async () => {
    const toaster = await createToaster(t);
    const kettle = uniqueDeviceId('kettle');
    await createModel(t, { name: kettle, commands: [{ name: 'boil', params: {} }] });
    const a = await registerDevice(t, toaster);
    const b = await registerDevice(t, kettle);
    const send = async (input: Record<string, unknown>) =>
      (
        await t.gql<{ sendFleetCommand: Record<string, unknown> & { fieldErrors: Array<{ path: string[]; code: string; message: string }> } }, unknown>(
          SEND_FLEET,
          { input },
        )
      ).data!.sendFleetCommand;

    const mixed = await send({ deviceIds: [a.deviceId, b.deviceId], name: 'toast', params: { power: 9000 } });
    expect(mixed.__typename).toBe('ValidationError');
    expect(mixed.fieldErrors.map((e) => [e.path.join('.'), e.code])).toEqual(
      expect.arrayContaining([
        ['input.params.power', 'OUT_OF_RANGE'],
        ['input.name', 'UNKNOWN_COMMAND'],
      ]),
    );
    expect(mixed.fieldErrors.find((e) => e.code === 'UNKNOWN_COMMAND')!.message).toContain(kettle);

    const unknown = await send({ deviceIds: [a.deviceId, 'no-such-device'], name: 'toast', params: { power: 1 } });
    expect(unknown.fieldErrors).toEqual([{ path: ['input', 'deviceIds', '1'], code: 'NOT_FOUND', message: 'device "no-such-device" not found' }]);
    const both = await send({ deviceIds: [a.deviceId], filter: { tag: 'x' }, name: 'toast' });
    expect(both.fieldErrors[0]!.code).toBe('INVALID_TARGET');
    const none = await send({ filter: { tag: uniqueDeviceId('none') }, name: 'toast', params: { power: 1 } });
    expect(none.fieldErrors[0]!.code).toBe('NO_DEVICES');

    const counts = await t.gql<{ device: { commands: { totalCount: number } } }, unknown>(
      `query($d: String!) { device(deviceId: $d) { commands { totalCount } } }`,
      { d: a.deviceId },
    );
    expect(counts.data!.device.commands.totalCount).toBe(0);
  });
});
