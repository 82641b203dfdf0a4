import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { embeddedBroker, messageWaiter, startTestServer, uniqueDeviceId, type TestServer } from '../support/harness.ts';

// Device authentication and topic ACLs are enforced by the embedded broker. With an external broker
// they are the broker's job (Mosquitto dynamic security, a later capability), so this suite runs on
// the embedded defaults only.
const suite = embeddedBroker ? describe : describe.skip;

let t: TestServer;
beforeAll(async () => {
  if (embeddedBroker) t = await startTestServer();
});
afterAll(async () => {
  await t?.stop();
});

async function register(deviceId = uniqueDeviceId()) {
  const result = await t.gql(
    `mutation R($id: String!) { registerDevice(input: {deviceId: $id}) { ... on DeviceWithCredentials { credentials { username password } } } }`,
    { id: deviceId },
  );
  const { password } = (result.data as { registerDevice: { credentials: { password: string } } }).registerDevice.credentials;
  return { deviceId, password };
}

/** Tries to connect; resolves with the CONNACK refusal code, or 0 when accepted. */
function connectCode(username: string, password: string): Promise<number> {
  return new Promise((resolve) => {
    const client = mqtt.connect(t.mqttUrl, { username, password, reconnectPeriod: 0, connectTimeout: 5000, clientId: `${username}-probe` });
    client.once('connect', () => {
      client.end(true);
      resolve(0);
    });
    client.once('error', (error: Error & { code?: number }) => {
      client.end(true);
      resolve(error.code ?? -1);
    });
  });
}

async function twinVersion(deviceId: string): Promise<number> {
  const device = await t.database.prisma.device.findUniqueOrThrow({ where: { deviceId }, include: { twin: true } });
  return device.twin!.version;
}

suite('device authentication and topic ACLs (embedded broker)', () => {
  it('refuses a wrong password, an unknown device and an invalid id', async () => {
    const { deviceId, password } = await register();
    expect(await connectCode(deviceId, password)).toBe(0);
    expect(await connectCode(deviceId, `${password}x`)).toBe(4); // bad user name or password
    expect(await connectCode(uniqueDeviceId('ghost'), password)).toBe(4);
    expect(await connectCode('devices/#', password)).toBe(4);
    expect(await connectCode(deviceId, '')).toBe(4);
  });

  it("never applies a publish to another device's topics", async () => {
    const a = await register();
    const b = await register();
    const client = await t.mqtt({ username: a.deviceId, password: a.password, clientId: `${a.deviceId}-x` });
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.publish(`devices/${b.deviceId}/twin/reported`, JSON.stringify({ state: { hijacked: true } }), { qos: 1 });
    await closed; // the broker drops the packet and the connection
    expect(await twinVersion(b.deviceId)).toBe(0);
  });

  it('refuses subscriptions outside the device’s own twin/# and commands/#', async () => {
    const a = await register();
    const b = await register();
    const client = await t.mqtt({ username: a.deviceId, password: a.password, clientId: `${a.deviceId}-s` });
    for (const filter of ['#', 'devices/#', '$SYS/#', `devices/${b.deviceId}/twin/#`, 'devices/+/twin/delta', `devices/${a.deviceId}/telemetry`]) {
      const granted = await client.subscribeAsync(filter, { qos: 1 }).then(
        (g) => g[0]?.qos,
        (error: { packet?: { granted?: number[] } }) => error.packet?.granted?.[0],
      );
      expect(granted, filter).toBe(128);
    }
    const own = await client.subscribeAsync([`devices/${a.deviceId}/twin/#`, `devices/${a.deviceId}/commands/#`], { qos: 1 });
    expect(own.map((g) => g.qos)).toEqual([1, 1]);
  });

  it('rotating credentials disconnects the session and retires the old secret', async () => {
    const { deviceId, password } = await register();
    const client = await t.mqtt({ username: deviceId, password, clientId: `${deviceId}-r` });
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    const rotated = await t.gql(
      `mutation R($id: String!) { rotateDeviceCredentials(deviceId: $id) { ... on DeviceWithCredentials { credentials { password } } } }`,
      { id: deviceId },
    );
    const newPassword = (rotated.data as { rotateDeviceCredentials: { credentials: { password: string } } }).rotateDeviceCredentials.credentials.password;
    await closed;
    expect(await connectCode(deviceId, password)).toBe(4);
    expect(await connectCode(deviceId, newPassword)).toBe(0);
  });

  it('deleting a device disconnects it and refuses it afterwards', async () => {
    const { deviceId, password } = await register();
    const client = await t.mqtt({ username: deviceId, password, clientId: `${deviceId}-d` });
    const messages = messageWaiter(client);
    await client.subscribeAsync(`devices/${deviceId}/twin/#`, { qos: 1 });
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    await t.gql(`mutation D($id: String!) { deleteDevice(deviceId: $id) { __typename } }`, { id: deviceId });
    await closed;
    expect(await connectCode(deviceId, password)).toBe(4);
    expect(messages.seen.filter((m) => m.topic.endsWith('/accepted'))).toHaveLength(0);
  });
});
