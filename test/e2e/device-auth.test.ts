import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type mqtt from 'mqtt';
import { connackCode, embeddedBroker, messageWaiter, startTestServer, storedPoints, uniqueDeviceId, type TestServer } from '../support/harness.ts';

// Device authentication and topic ACLs are enforced by the embedded broker. With an external broker
// they are the broker's job (Mosquitto dynamic security: test/e2e/dynsec.test.ts; HTTP auth endpoints:
// test/e2e/broker-auth.test.ts), so this suite runs on the embedded defaults only.
const suite = embeddedBroker ? describe : describe.skip;

let t: TestServer;
beforeAll(async () => {
  // A small payload limit so the oversize test needs no megabytes.
  if (embeddedBroker) t = await startTestServer({ MQTT_MAX_PAYLOAD_BYTES: '4096' });
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
  return connackCode(t.mqttUrl, username, password);
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
    for (const filter of [
      '#',
      'devices/#',
      '$SYS/#',
      `devices/${b.deviceId}/twin/#`,
      'devices/+/twin/delta',
      `devices/${a.deviceId}/telemetry`,
      `devices/${b.deviceId}/telemetry/accepted`,
      'devices/+/telemetry/accepted',
      `devices/${a.deviceId}/telemetry/#`,
    ]) {
      const granted = await client.subscribeAsync(filter, { qos: 1 }).then(
        (g) => g[0]?.qos,
        (error: { packet?: { granted?: number[] } }) => error.packet?.granted?.[0],
      );
      expect(granted, filter).toBe(128);
    }
    const own = await client.subscribeAsync([`devices/${a.deviceId}/twin/#`, `devices/${a.deviceId}/commands/#`, `devices/${a.deviceId}/telemetry/accepted`], {
      qos: 1,
    });
    expect(own.map((g) => g.qos)).toEqual([1, 1, 1]);
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

const ROTATE = `mutation R($id: String!, $grace: Int) {
  rotateDeviceCredentials(deviceId: $id, gracePeriodSeconds: $grace) {
    __typename
    ... on DeviceWithCredentials { credentials { password } device { previousSecretExpiresAt credentialsRevoked } }
    ... on ValidationError { fieldErrors { path message } }
  }
}`;

async function rotate(deviceId: string, grace?: number): Promise<string> {
  const result = await t.gql(ROTATE, { id: deviceId, grace });
  const payload = (result.data as { rotateDeviceCredentials: { credentials: { password: string } } }).rotateDeviceCredentials;
  return payload.credentials.password;
}

function closedPromise(client: mqtt.MqttClient): Promise<void> {
  return new Promise<void>((resolve) => client.once('close', () => resolve()));
}

function metric(name: string): number {
  return t.running.metrics.get(name);
}

suite('device credentials: grace periods, revocation, disabling (embedded broker)', () => {
  it('a rotation with a grace period keeps the old secret working until it ends, then closes its sessions', async () => {
    const { deviceId, password: old } = await register();
    const before = await t.mqtt({ username: deviceId, password: old, clientId: `${deviceId}-before` });
    let beforeClosed = false;
    before.once('close', () => (beforeClosed = true));

    const result = await t.gql(ROTATE, { id: deviceId, grace: 3600 });
    const payload = (result.data as { rotateDeviceCredentials: { credentials: { password: string }; device: { previousSecretExpiresAt: string } } })
      .rotateDeviceCredentials;
    expect(new Date(payload.device.previousSecretExpiresAt).getTime()).toBeGreaterThan(Date.now());
    const fresh = payload.credentials.password;
    expect(await connectCode(deviceId, old)).toBe(0); // inside the grace period
    expect(await connectCode(deviceId, fresh)).toBe(0);
    expect(beforeClosed).toBe(false); // the session opened with the old secret stays up during the grace period

    // The grace period ends (moved into the past rather than waited for): the old secret is refused.
    await t.database.prisma.device.update({ where: { deviceId }, data: { previousSecretExpiresAt: new Date(Date.now() - 1000) } });
    expect(await connectCode(deviceId, old)).toBe(4);
    expect(await connectCode(deviceId, fresh)).toBe(0);
  });

  it('sessions opened with the old secret are closed when the grace period ends; sessions with the new one stay', async () => {
    const { deviceId, password: old } = await register();
    const before = await t.mqtt({ username: deviceId, password: old, clientId: `${deviceId}-old1` });
    const oldClosed = closedPromise(before);
    const fresh = await rotate(deviceId, 1);
    const withNew = await t.mqtt({ username: deviceId, password: fresh, clientId: `${deviceId}-new` });
    let newClosed = false;
    withNew.once('close', () => (newClosed = true));
    await oldClosed; // closed by the broker when the 1 s grace period ends
    await withNew.subscribeAsync(`devices/${deviceId}/twin/#`, { qos: 1 }); // a round trip on the new session
    expect(newClosed).toBe(false);
    expect(await connectCode(deviceId, old)).toBe(4);
  });

  it("a second rotation ends the first one's grace period, and a grace period is validated", async () => {
    const { deviceId, password: first } = await register();
    const second = await rotate(deviceId, 3600);
    const third = await rotate(deviceId, 3600);
    expect(await connectCode(deviceId, first)).toBe(4);
    expect(await connectCode(deviceId, second)).toBe(0);
    expect(await connectCode(deviceId, third)).toBe(0);
    for (const grace of [-1, 7 * 24 * 3600 + 1]) {
      const result = await t.gql(ROTATE, { id: deviceId, grace });
      const payload = (result.data as { rotateDeviceCredentials: { __typename: string; fieldErrors: Array<{ path: string[] }> } }).rotateDeviceCredentials;
      expect(payload.__typename).toBe('ValidationError');
      expect(payload.fieldErrors[0]!.path).toEqual(['gracePeriodSeconds']);
    }
    expect(await connectCode(deviceId, third)).toBe(0); // a refused rotation changed nothing
  });

  it('a disabled device is disconnected at once and refused until it is enabled', async () => {
    const { deviceId, password } = await register();
    const client = await t.mqtt({ username: deviceId, password, clientId: `${deviceId}-dis` });
    const closed = closedPromise(client);
    const failuresBefore = metric('doppel_mqtt_auth_failures_total');
    const disabled = await t.gql(`mutation D($id: String!) { disableDevice(deviceId: $id) { __typename ... on Device { disabled } } }`, { id: deviceId });
    expect(disabled.data).toEqual({ disableDevice: { __typename: 'Device', disabled: true } });
    await closed;
    expect(await connectCode(deviceId, password)).toBe(4);
    expect(metric('doppel_mqtt_auth_failures_total')).toBe(failuresBefore + 1);
    // Rotating does not re-enable it.
    const fresh = await rotate(deviceId);
    expect(await connectCode(deviceId, fresh)).toBe(4);
    const enabled = await t.gql(`mutation E($id: String!) { enableDevice(deviceId: $id) { __typename ... on Device { disabled } } }`, { id: deviceId });
    expect(enabled.data).toEqual({ enableDevice: { __typename: 'Device', disabled: false } });
    expect(await connectCode(deviceId, fresh)).toBe(0);
  });

  it('revoked credentials: the session is closed at once, no secret works (not even one in its grace period) until a rotation', async () => {
    const { deviceId, password: old } = await register();
    const current = await rotate(deviceId, 3600);
    const client = await t.mqtt({ username: deviceId, password: current, clientId: `${deviceId}-rev` });
    const closed = closedPromise(client);
    const revoked = await t.gql(`mutation V($id: String!) { revokeDeviceCredentials(deviceId: $id) { __typename ... on Device { credentialsRevoked } } }`, {
      id: deviceId,
    });
    expect(revoked.data).toEqual({ revokeDeviceCredentials: { __typename: 'Device', credentialsRevoked: true } });
    await closed;
    expect(await connectCode(deviceId, current)).toBe(4);
    expect(await connectCode(deviceId, old)).toBe(4);
    // Enabling does not lift a revocation; only a rotation does (and its grace cannot revive a revoked secret).
    await t.gql(`mutation E($id: String!) { enableDevice(deviceId: $id) { __typename } }`, { id: deviceId });
    expect(await connectCode(deviceId, current)).toBe(4);
    const fresh = await rotate(deviceId, 3600);
    expect(await connectCode(deviceId, current)).toBe(4);
    expect(await connectCode(deviceId, fresh)).toBe(0);
  });

  it('unknown devices get NotFound from every credential mutation', async () => {
    for (const m of ['revokeDeviceCredentials', 'disableDevice', 'enableDevice', 'rotateDeviceCredentials']) {
      const result = await t.gql(`mutation M($id: String!) { ${m}(deviceId: $id) { __typename } }`, { id: uniqueDeviceId('ghost') });
      expect((result.data as Record<string, { __typename: string }>)[m]!.__typename, m).toBe('NotFound');
    }
  });
});

suite('topic ACL and limits on the embedded broker (issue 5)', () => {
  it('cross-device subscribe and publish, #, devices/# and $SYS/# are refused and counted; nothing is written', async () => {
    const a = await register();
    const b = await register();
    const deniedBefore = metric('doppel_mqtt_acl_denials_total');
    const client = await t.mqtt({ username: a.deviceId, password: a.password, clientId: `${a.deviceId}-acl` });
    const filters = ['#', 'devices/#', '$SYS/#', `devices/${b.deviceId}/commands/#`, `devices/${b.deviceId}/twin/delta`, '+/+/twin/#'];
    const granted = await client.subscribeAsync(filters, { qos: 1 }).then(
      (g) => g.map((x) => x.qos),
      (error: { packet?: { granted?: number[] } }) => error.packet?.granted,
    );
    expect(granted).toEqual(filters.map(() => 128));
    expect(metric('doppel_mqtt_acl_denials_total')).toBe(deniedBefore + filters.length);

    for (const topic of [`devices/${b.deviceId}/telemetry`, `devices/${b.deviceId}/status`, '$SYS/broker/uptime', `devices/${a.deviceId}/twin/delta`]) {
      const c = await t.mqtt({ username: a.deviceId, password: a.password, clientId: `${a.deviceId}-p` });
      const closed = closedPromise(c);
      c.publish(topic, JSON.stringify({ values: { x: 1 }, state: { x: 1 } }), { qos: 1 });
      await closed;
    }
    expect(await twinVersion(b.deviceId)).toBe(0);
    expect(await storedPoints(t.database, b.deviceId)).toBe(0);
  });

  it('an oversize payload closes the connection, is counted and writes nothing', async () => {
    const { deviceId, password } = await register();
    const before = metric('doppel_mqtt_oversize_total');
    const client = await t.mqtt({ username: deviceId, password, clientId: `${deviceId}-big` });
    const closed = closedPromise(client);
    client.publish(`devices/${deviceId}/twin/reported`, JSON.stringify({ state: { blob: 'x'.repeat(8192) } }), { qos: 1 });
    await closed;
    expect(metric('doppel_mqtt_oversize_total')).toBe(before + 1);
    expect(await twinVersion(deviceId)).toBe(0);
    // The device is not punished beyond the connection: it can come back and report normally.
    const again = await t.mqtt({ username: deviceId, password, clientId: `${deviceId}-big2` });
    const messages = messageWaiter(again);
    await again.subscribeAsync(`devices/${deviceId}/twin/reported/accepted`, { qos: 1 });
    again.publish(`devices/${deviceId}/twin/reported`, JSON.stringify({ state: { ok: true } }), { qos: 1 });
    await messages.next(`devices/${deviceId}/twin/reported/accepted`);
    expect(await twinVersion(deviceId)).toBe(1);
  });
});
