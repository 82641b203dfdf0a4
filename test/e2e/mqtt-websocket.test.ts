/**
 * MQTT over WebSocket at /mqtt on the HTTP server (src/mqtt/embedded/websocket.ts): a device speaks the
 * whole contract through it (reported state, telemetry, delta, a command and its ack), with the
 * authentication and ACL of TCP; a non-MQTT WebSocket client is closed with 1002; graphql-ws at /graphql
 * shares the server (src/http/upgrade.ts); MQTT 5 is refused, counted and logged with the hint
 * (src/mqtt/embedded/protocol-versions.ts). With an external broker /mqtt is not served (404).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import WebSocket from 'ws';
import { PROTOCOL_REFUSED_METRIC } from '../../src/mqtt/embedded/protocol-versions.ts';
import { MQTT_WS_REFUSED_METRIC } from '../../src/mqtt/embedded/websocket.ts';
import { BROKER_METRIC_NAMES } from '../../src/mqtt/embedded/index.ts';
import { createToaster, registerDevice, send, waitForStatus } from '../support/commands.ts';
import { embeddedBroker, messageWaiter, modeName, startTestServer, storedPoints, subscribe, type TestServer } from '../support/harness.ts';

let t: TestServer;
const clients: MqttClient[] = [];
beforeAll(async () => {
  t = await startTestServer();
}, 120_000);
afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
  await t?.stop();
});

const wsMqttUrl = () => `${t.running.url.replace(/^http/, 'ws')}/mqtt`;

/** Connects over ws://…/mqtt; resolves with the client, or rejects with the refusal. */
function connectWs(options: IClientOptions): Promise<MqttClient> {
  const client = mqtt.connect(wsMqttUrl(), { reconnectPeriod: 0, connectTimeout: 10_000, ...options });
  clients.push(client);
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client));
    client.once('error', reject);
    client.once('close', () => reject(new Error('connection closed before CONNACK')));
  });
}

describe.skipIf(!embeddedBroker)(`MQTT over WebSocket (${modeName})`, () => {
  it('carries the device contract: reported state, telemetry, its delta and a command with its ack', async () => {
    const model = await createToaster(t);
    const creds = await registerDevice(t, model);
    const device = await connectWs({ username: creds.username, password: creds.password, clientId: `${creds.deviceId}-ws` });
    const messages = messageWaiter(device);
    await device.subscribeAsync([`devices/${creds.deviceId}/twin/#`, `devices/${creds.deviceId}/commands/+`], { qos: 1 });

    await device.publishAsync(`devices/${creds.deviceId}/twin/reported`, JSON.stringify({ state: { power: 0 }, clientToken: 'w1' }), { qos: 1 });
    expect((await messages.next(`devices/${creds.deviceId}/twin/reported/accepted`)).json).toMatchObject({ clientToken: 'w1', version: 1 });

    await device.publishAsync(`devices/${creds.deviceId}/telemetry`, JSON.stringify({ values: { temp: 21.5 } }), { qos: 1 });
    // QoS 1 is acknowledged once stored (docs/device-contract.md).
    expect(await storedPoints(t.database, creds.deviceId)).toBe(1);

    const desired = await t.gql(`mutation D($id: String!) { updateDesired(deviceId: $id, patch: {power: 40}) { __typename } }`, { id: creds.deviceId });
    expect(desired.errors).toBeUndefined();
    expect((await messages.next(`devices/${creds.deviceId}/twin/delta`)).json).toMatchObject({ delta: { power: 40 } });

    // `online` is the contract's "ready for commands" signal.
    await device.publishAsync(`devices/${creds.deviceId}/status`, 'online', { qos: 1, retain: true });
    const command = await send(t, { deviceId: creds.deviceId, name: 'toast', params: { power: 40 } });
    expect(command.__typename).toBe('Command');
    const delivered = await messages.next(`devices/${creds.deviceId}/commands/${String(command.commandId)}`);
    expect(delivered.json).toMatchObject({ name: 'toast', params: { power: 40 } });
    await device.publishAsync(`devices/${creds.deviceId}/commands/${String(command.commandId)}/ack`, JSON.stringify({ status: 'SUCCEEDED' }), { qos: 1 });
    expect(await waitForStatus(t, String(command.commandId), 'SUCCEEDED')).toMatchObject({ status: 'SUCCEEDED' });
  }, 120_000);

  it('refuses a bad password with CONNACK 4, counted like TCP', async () => {
    const creds = await registerDevice(t, null);
    const before = t.running.metrics.get(BROKER_METRIC_NAMES.authFailures);
    await expect(connectWs({ username: creds.username, password: 'not-the-password', clientId: `${creds.deviceId}-bad` })).rejects.toMatchObject({
      code: 4,
    });
    expect(t.running.metrics.get(BROKER_METRIC_NAMES.authFailures)).toBe(before + 1);
  }, 60_000);

  it("refuses a publish to another device's topic (the ACL) and closes the connection", async () => {
    const creds = await registerDevice(t, null);
    const other = await registerDevice(t, null);
    const device = await connectWs({ username: creds.username, password: creds.password, clientId: `${creds.deviceId}-acl` });
    const before = t.running.metrics.get(BROKER_METRIC_NAMES.aclDenials);
    const closed = new Promise<void>((resolve) => device.once('close', () => resolve()));
    device.publish(`devices/${other.deviceId}/twin/reported`, JSON.stringify({ state: { hijacked: true } }), { qos: 1 });
    await closed;
    expect(t.running.metrics.get(BROKER_METRIC_NAMES.aclDenials)).toBe(before + 1);
    const twin = await t.database.prisma.device.findUniqueOrThrow({ where: { deviceId: other.deviceId }, include: { twin: true } });
    expect(twin.twin?.version ?? 0).toBe(0);
  }, 60_000);

  it('closes a WebSocket client that does not offer the mqtt subprotocol with 1002, and one that sends garbage', async () => {
    const before = t.running.metrics.get(MQTT_WS_REFUSED_METRIC, { reason: 'subprotocol' });
    const plain = new WebSocket(wsMqttUrl());
    const [code, reason] = await new Promise<[number, string]>((resolve, reject) => {
      plain.once('close', (c, r) => resolve([c, r.toString()]));
      plain.once('error', reject);
    });
    expect(code).toBe(1002);
    expect(reason).toMatch(/subprotocol "mqtt"/);
    expect(t.running.metrics.get(MQTT_WS_REFUSED_METRIC, { reason: 'subprotocol' })).toBe(before + 1);

    // Says mqtt, speaks nonsense: the broker's parser refuses it and the connection ends; the server lives on.
    const liar = new WebSocket(wsMqttUrl(), 'mqtt');
    await new Promise<void>((resolve, reject) => {
      liar.once('open', () => liar.send(Buffer.from('GET / HTTP/1.1\r\n\r\n')));
      liar.once('close', () => resolve());
      liar.once('error', () => resolve());
      setTimeout(() => reject(new Error('the garbage connection was not closed')), 30_000).unref();
    });
    expect((await fetch(`${t.running.url}/healthz`)).status).toBe(200);
  }, 60_000);

  it('graphql-ws at /graphql still works beside /mqtt, and another path is 404', async () => {
    const creds = await registerDevice(t, null);
    const client = t.ws();
    const events = subscribe<{ twinChanged: { version: number } }>(client, `subscription S($id: String!) { twinChanged(deviceId: $id) { version } }`, {
      id: creds.deviceId,
    });
    await t.waitForSubscriptions(1);
    const device = await connectWs({ username: creds.username, password: creds.password, clientId: `${creds.deviceId}-gq` });
    await device.publishAsync(`devices/${creds.deviceId}/twin/reported`, JSON.stringify({ state: { on: true } }), { qos: 1 });
    const first = await events.next();
    expect(first.data?.twinChanged.version).toBe(1);
    events.unsubscribe();

    const stray = new WebSocket(`${t.running.url.replace(/^http/, 'ws')}/elsewhere`);
    const status = await new Promise<number>((resolve) => stray.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
    expect(status).toBe(404);
  }, 60_000);

  it('refuses an MQTT 5 client, counts it by version and logs the hint once', async () => {
    const creds = await registerDevice(t, null);
    const before = t.running.metrics.get(PROTOCOL_REFUSED_METRIC, { version: '5' });
    for (const url of [t.mqttUrl, wsMqttUrl()]) {
      const client = mqtt.connect(url, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 10_000, username: creds.username, password: creds.password });
      clients.push(client);
      const refused = await new Promise<unknown>((resolve) => {
        client.once('connect', () => resolve('connected'));
        client.once('error', resolve);
        client.once('close', () => resolve('closed'));
      });
      expect(refused).not.toBe('connected');
    }
    expect(t.running.metrics.get(PROTOCOL_REFUSED_METRIC, { version: '5' })).toBe(before + 2);
  }, 60_000);
});

describe.skipIf(embeddedBroker)(`MQTT over WebSocket with an external broker (${modeName})`, () => {
  it('is not served: /mqtt upgrades get 404 (devices use the broker)', async () => {
    const probe = new WebSocket(`${t.running.url.replace(/^http/, 'ws')}/mqtt`, 'mqtt');
    const status = await new Promise<number>((resolve) => probe.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
    expect(status).toBe(404);
  }, 60_000);

  it('serves an MQTT 5 device through the broker end to end: reported state accepted, its delta delivered', async () => {
    const creds = await registerDevice(t, null);
    const device = await t.mqtt({ protocolVersion: 5, username: creds.username, password: creds.password, clientId: `${creds.deviceId}-v5` });
    const messages = messageWaiter(device);
    await device.subscribeAsync(`devices/${creds.deviceId}/twin/#`, { qos: 1 });
    await device.publishAsync(`devices/${creds.deviceId}/twin/reported`, JSON.stringify({ state: { power: 0 }, clientToken: 'v5' }), { qos: 1 });
    expect((await messages.next(`devices/${creds.deviceId}/twin/reported/accepted`)).json).toMatchObject({ clientToken: 'v5', version: 1 });
    await t.gql(`mutation D($id: String!) { updateDesired(deviceId: $id, patch: {power: 7}) { __typename } }`, { id: creds.deviceId });
    expect((await messages.next(`devices/${creds.deviceId}/twin/delta`)).json).toMatchObject({ delta: { power: 7 } });
  }, 60_000);
});
