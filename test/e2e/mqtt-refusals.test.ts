import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { REJECTED_METRIC } from '../../src/mqtt/bridge.ts';
import { embeddedBroker, messageWaiter, modeName, startTestServer, uniqueDeviceId, type TestServer } from '../support/harness.ts';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.stop();
});

async function registerAndConnect() {
  const deviceId = uniqueDeviceId();
  const result = await t.gql(
    `mutation R($id: String!) { registerDevice(input: {deviceId: $id}) { ... on DeviceWithCredentials { credentials { username password } } } }`,
    { id: deviceId },
  );
  const { password } = (result.data as { registerDevice: { credentials: { password: string } } }).registerDevice.credentials;
  const client = await t.mqtt({ username: deviceId, password, clientId: `${deviceId}-main` });
  const messages = messageWaiter(client);
  await client.subscribeAsync(`devices/${deviceId}/twin/#`, { qos: 1 });
  return { deviceId, password, client, messages };
}

/** The twin and its change log are untouched: nothing was half-written. */
async function expectUntouched(deviceId: string) {
  const device = await t.database.prisma.device.findUniqueOrThrow({ where: { deviceId }, include: { twin: true } });
  expect(device.twin).toMatchObject({ version: 0, reported: {}, reportedMeta: {} });
  expect(await t.database.prisma.twinChange.count({ where: { deviceId: device.id } })).toBe(0);
}

async function publishRejected(client: MqttClient, messages: ReturnType<typeof messageWaiter>, deviceId: string, payload: string | Buffer) {
  await client.publishAsync(`devices/${deviceId}/twin/reported`, payload, { qos: 1 });
  return (await messages.next(`devices/${deviceId}/twin/reported/rejected`)).json as { code: string; message: string; clientToken?: string; path?: string[] };
}

describe(`refused device messages write nothing (${modeName})`, () => {
  it('malformed JSON', async () => {
    const { deviceId, client, messages } = await registerAndConnect();
    const before = t.running.metrics.get(REJECTED_METRIC, { kind: 'twinReported', code: 'MALFORMED_JSON' });
    const reply = await publishRejected(client, messages, deviceId, '{"state": {"temp": 21,}');
    expect(reply.code).toBe('MALFORMED_JSON');
    expect(reply.message).toMatch(/JSON/);
    expect(t.running.metrics.get(REJECTED_METRIC, { kind: 'twinReported', code: 'MALFORMED_JSON' })).toBe(before + 1);
    await expectUntouched(deviceId);
  });

  it('a non-object state, a missing state, and a non-object message', async () => {
    const { deviceId, client, messages } = await registerAndConnect();
    expect(await publishRejected(client, messages, deviceId, JSON.stringify({ state: [1, 2], clientToken: 'x' }))).toMatchObject({
      code: 'NOT_AN_OBJECT',
      clientToken: 'x',
      path: ['state'],
    });
    expect(await publishRejected(client, messages, deviceId, JSON.stringify({ state: 'on' }))).toMatchObject({ code: 'NOT_AN_OBJECT' });
    expect(await publishRejected(client, messages, deviceId, JSON.stringify({ temp: 1 }))).toMatchObject({ code: 'MISSING_STATE' });
    expect(await publishRejected(client, messages, deviceId, '42')).toMatchObject({ code: 'NOT_AN_OBJECT' });
    await expectUntouched(deviceId);
  });

  it('keys starting with $, empty keys and over-long keys, with the exact path', async () => {
    const { deviceId, client, messages } = await registerAndConnect();
    const dollar = await publishRejected(client, messages, deviceId, JSON.stringify({ state: { ok: 1, cfg: { $where: 'x' } } }));
    expect(dollar).toMatchObject({ code: 'INVALID_KEY', path: ['state', 'cfg', '$where'] });
    expect(await publishRejected(client, messages, deviceId, JSON.stringify({ state: { '': 1 } }))).toMatchObject({ code: 'INVALID_KEY' });
    expect(await publishRejected(client, messages, deviceId, JSON.stringify({ state: { ['k'.repeat(129)]: 1 } }))).toMatchObject({ code: 'INVALID_KEY' });
    await expectUntouched(deviceId);
  });

  it('too deep: depth 11, and a 100,000-deep payload that must not blow the stack', async () => {
    const { deviceId, client, messages } = await registerAndConnect();
    let deep: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 10; i++) deep = { n: deep };
    expect(await publishRejected(client, messages, deviceId, JSON.stringify({ state: deep }))).toMatchObject({ code: 'TOO_DEEP' });
    const hostile = `{"state":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    expect(await publishRejected(client, messages, deviceId, hostile)).toMatchObject({ code: 'TOO_DEEP' });
    await expectUntouched(deviceId);
  });

  it('oversize: a section over 32 KiB is refused whole, never truncated', async () => {
    const { deviceId, client, messages } = await registerAndConnect();
    const reply = await publishRejected(client, messages, deviceId, JSON.stringify({ state: { blob: 'x'.repeat(40 * 1024), small: 1 } }));
    expect(reply.code).toBe('TOO_LARGE');
    expect(reply.message).toMatch(/32768|32 ?KiB/);
    await expectUntouched(deviceId);
  });

  it('bad timestamps and client tokens', async () => {
    const { deviceId, client, messages } = await registerAndConnect();
    expect(await publishRejected(client, messages, deviceId, JSON.stringify({ state: { a: 1 }, ts: 'yesterday' }))).toMatchObject({
      code: 'INVALID_TIMESTAMP',
    });
    expect(await publishRejected(client, messages, deviceId, JSON.stringify({ state: { a: 1 }, ts: Date.now() + 3_600_000 }))).toMatchObject({
      code: 'INVALID_TIMESTAMP',
    });
    expect(await publishRejected(client, messages, deviceId, JSON.stringify({ state: { a: 1 }, clientToken: 'x'.repeat(65) }))).toMatchObject({
      code: 'INVALID_CLIENT_TOKEN',
    });
    await expectUntouched(deviceId);
  });

  it('a malformed twin/get is answered on get/rejected; an invalid status word is counted', async () => {
    const { deviceId, client, messages } = await registerAndConnect();
    await client.publishAsync(`devices/${deviceId}/twin/get`, '{nope', { qos: 1 });
    expect((await messages.next(`devices/${deviceId}/twin/get/rejected`)).json).toMatchObject({ code: 'MALFORMED_JSON' });
    const before = t.running.metrics.get(REJECTED_METRIC, { kind: 'status', code: 'INVALID_STATUS' });
    await client.publishAsync(`devices/${deviceId}/status`, '{"online":true}', { qos: 1 });
    await expect.poll(() => t.running.metrics.get(REJECTED_METRIC, { kind: 'status', code: 'INVALID_STATUS' })).toBe(before + 1);
    const device = await t.database.prisma.device.findUniqueOrThrow({ where: { deviceId } });
    expect(device.connected).toBe(embeddedBroker); // the broker connection itself counts in embedded mode
  });

  it('the server keeps answering after a burst of garbage', async () => {
    const { deviceId, client, messages } = await registerAndConnect();
    for (let i = 0; i < 50; i++) {
      await client.publishAsync(`devices/${deviceId}/twin/reported`, Buffer.from([0xff, 0xfe, i, 0x00]), { qos: 1 });
    }
    await client.publishAsync(`devices/${deviceId}/twin/reported`, JSON.stringify({ state: { alive: true }, clientToken: 'after' }), { qos: 1 });
    const accepted = await messages.next(`devices/${deviceId}/twin/reported/accepted`);
    expect(accepted.json).toEqual({ clientToken: 'after', version: 1 });
  });
});
