/**
 * Runs against a real broker only when DOPPEL_TEST_MQTT_URL is set, e.g. a local Mosquitto 2:
 *   listener 18830 127.0.0.1 / allow_anonymous true / max_queued_messages 100000 / persistence false
 *   DOPPEL_TEST_MQTT_URL=mqtt://127.0.0.1:18830 npx vitest run test/mqtt/external-client.test.ts
 */
import { randomUUID } from 'node:crypto';
import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createExternalTransport, type ExternalTransport, type ExternalTransportOptions } from '../../src/mqtt/external-client.ts';
import { topics } from '../../src/mqtt/topics.ts';
import type { InboundMessage } from '../../src/mqtt/transport.ts';

const url = process.env.DOPPEL_TEST_MQTT_URL;
const logger = pino({ level: 'silent' });

const transports: ExternalTransport[] = [];
const devices: MqttClient[] = [];

afterEach(async () => {
  await Promise.all(transports.splice(0).map((t) => t.stop()));
  await Promise.all(devices.splice(0).map((d) => d.endAsync(true)));
});

function transport(group: string, handler: (msg: InboundMessage) => Promise<void>, extra: Partial<ExternalTransportOptions> = {}): ExternalTransport {
  const t = createExternalTransport({ url: url!, group, logger, startTimeoutMs: 5000, ...extra });
  // The broker is shared with other suites, and Mosquitto hands retained `status` messages of their
  // devices to a new shared subscription: only this file's devices concern these tests.
  t.setMessageHandler((msg) => (ownDevices.has(msg.deviceId) ? handler(msg) : Promise.resolve()));
  transports.push(t);
  return t;
}

async function device(): Promise<MqttClient> {
  // The test broker is anonymous; a real deployment authenticates devices and enforces acl.ts' rules.
  const d = await mqtt.connectAsync(url!, { reconnectPeriod: 0 });
  devices.push(d);
  return d;
}

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for condition');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const group = () => `t${randomUUID().slice(0, 8)}`;
const ownDevices = new Set<string>();
/** A fixed, readable id that this file owns. */
const ownId = (id: string) => {
  ownDevices.add(id);
  return id;
};
const deviceId = () => {
  const id = `d-${randomUUID().slice(0, 8)}`;
  ownDevices.add(id);
  return id;
};

describe.skipIf(!url)('external MQTT transport (real broker)', { timeout: 20_000 }, () => {
  it('connects, subscribes and delivers parsed device messages', async () => {
    const got: InboundMessage[] = [];
    const t = transport(group(), async (m) => void got.push(m));
    expect(t.isReady()).toBe(false);
    await t.start();
    expect(t.isReady()).toBe(true);
    expect(t.port).toBeUndefined();

    const id = deviceId();
    const d = await device();
    await d.publishAsync(topics.telemetry(id), '{"values":{"temp":20}}', { qos: 1 });
    await d.publishAsync(topics.twinReported(id), '{"state":{"a":1}}', { qos: 1 });
    await d.publishAsync(topics.twinGet(id), '{}', { qos: 0 });
    await d.publishAsync(topics.commandAck(id, 'c-1'), '{"status":"SUCCEEDED"}', { qos: 1 });
    await d.publishAsync(topics.status(id), 'online', { qos: 1 });
    await waitFor(() => got.length === 5);
    expect(got.map((m) => m.topic.kind).sort()).toEqual(['commandAck', 'status', 'telemetry', 'twinGet', 'twinReported']);
    expect(got.every((m) => m.deviceId === id)).toBe(true);
    expect(got.find((m) => m.topic.kind === 'commandAck')?.topic).toEqual({ deviceId: id, kind: 'commandAck', commandId: 'c-1' });
    expect(got.find((m) => m.topic.kind === 'telemetry')?.payload.toString()).toBe('{"values":{"temp":20}}');
  });

  it('shares messages between two transports of one group: each message to exactly one', async () => {
    const g = group();
    const seen = new Map<string, number>();
    const counts = [0, 0];
    const make = (i: number) =>
      transport(g, async (m) => {
        counts[i]!++;
        const key = m.payload.toString();
        seen.set(key, (seen.get(key) ?? 0) + 1);
      });
    const a = make(0);
    const b = make(1);
    await Promise.all([a.start(), b.start()]);

    const d = await device();
    const n = 200;
    const ids = Array.from({ length: 7 }, () => deviceId());
    for (let i = 0; i < n; i++) await d.publishAsync(topics.telemetry(ids[i % 7]!), `m${i}`, { qos: 1 });
    await waitFor(() => seen.size === n);
    await new Promise((r) => setTimeout(r, 200));
    expect([...seen.values()].every((v) => v === 1)).toBe(true);
    expect(counts[0]! + counts[1]!).toBe(n);
    expect(counts[0]).toBeGreaterThan(0);
    expect(counts[1]).toBeGreaterThan(0);
  });

  it('publishes to devices, retained delta included', async () => {
    const t = transport(group(), async () => undefined);
    await t.start();
    const id = deviceId();
    await t.publish(topics.delta(id), '{"version":2,"delta":{"x":1}}', { qos: 1, retain: true });
    const d = await device();
    const message = new Promise<[string, Buffer, IPublishPacket]>((resolve) => d.once('message', (...args) => resolve(args)));
    await d.subscribeAsync(topics.twinFilter(id), { qos: 1 });
    const [topic, payload, packet] = await message;
    expect(topic).toBe(topics.delta(id));
    expect(payload.toString()).toBe('{"version":2,"delta":{"x":1}}');
    expect(packet.retain).toBe(true);
    await t.publish(topics.delta(id), '', { qos: 1, retain: true }); // clear the retained message

    const command = new Promise<[string, Buffer, IPublishPacket]>((resolve) => d.once('message', (...args) => resolve(args)));
    await t.publish(topics.command(id, 'c-5'), '{"name":"reboot"}', { qos: 1 });
    await d.subscribeAsync(topics.commandsFilter(id), { qos: 1 });
    // (subscribed to twin/# already; publish a command after subscribing to commands/#)
    await t.publish(topics.command(id, 'c-6'), '{"name":"reboot"}', { qos: 1 });
    const [commandTopic, , commandPacket] = await command;
    expect(commandTopic).toBe(topics.command(id, 'c-6'));
    expect(commandPacket.qos).toBe(1);
  });

  it('processes up to maxInFlight messages at once and no more', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let done = 0;
    const t = transport(
      group(),
      async () => {
        await gate;
        done++;
      },
      { maxInFlight: 4 },
    );
    await t.start();
    const d = await device();
    for (let i = 0; i < 10; i++) await d.publishAsync(topics.telemetry(ownId('dev-x')), `m${i}`, { qos: 1 });
    await waitFor(() => t.stats().inFlight === 4);
    await new Promise((r) => setTimeout(r, 200));
    expect(t.stats().inFlight).toBe(4);
    release();
    await waitFor(() => done === 10);
  });

  it('acknowledges only after the handler settled: an unfinished message is redelivered to the same session', async () => {
    const g = group();
    const clientId = `doppel-test-${randomUUID().slice(0, 8)}`;
    const first: string[] = [];
    const t1 = transport(
      g,
      async (m) => {
        first.push(m.payload.toString());
        await new Promise(() => undefined); // never finishes
      },
      { clientId, closeTimeoutMs: 200, sessionExpirySeconds: 30 },
    );
    await t1.start();
    const d = await device();
    await d.publishAsync(topics.telemetry(ownId('dev-r')), 'unfinished', { qos: 1 });
    await waitFor(() => first.length === 1);
    await t1.stop();

    const second: InboundMessage[] = [];
    const t2 = transport(g, async (m) => void second.push(m), { clientId, sessionExpirySeconds: 0 });
    await t2.start();
    await waitFor(() => second.length === 1);
    expect(second[0]!.payload.toString()).toBe('unfinished');
  });

  it('ignores and counts topics outside the contract that the filters still match', async () => {
    const got: InboundMessage[] = [];
    const t = transport(group(), async (m) => void got.push(m));
    await t.start();
    const d = await device();
    await d.publishAsync('devices/not a valid id/telemetry', '{}', { qos: 1 });
    await d.publishAsync(topics.telemetry(ownId('ok')), '{}', { qos: 1 });
    await waitFor(() => got.length === 1 && t.stats().ignored === 1);
  });

  it('survives a throwing handler and acknowledges the message', async () => {
    let calls = 0;
    const t = transport(group(), async () => {
      calls++;
      throw new Error('boom');
    });
    await t.start();
    const d = await device();
    await d.publishAsync(topics.telemetry(ownId('dev-t')), '{}', { qos: 1 });
    await d.publishAsync(topics.telemetry(ownId('dev-t')), '{}', { qos: 1 });
    await waitFor(() => t.stats().handlerErrors === 2);
    expect(calls).toBe(2);
    expect(t.stats().inFlight).toBe(0);
    expect(t.isReady()).toBe(true);
  });

  it('stops gracefully: a running handler can still publish its reply', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let started = false;
    const id = deviceId();
    const t: ExternalTransport = transport(group(), async (m) => {
      started = true;
      await gate;
      await t.publish(topics.reportedAccepted(m.deviceId), '{"version":1}', { qos: 1 });
    });
    await t.start();
    const d = await device();
    await d.subscribeAsync(topics.twinFilter(id), { qos: 1 });
    const reply = new Promise<string>((resolve) => d.on('message', (topic) => topic.endsWith('/accepted') && resolve(topic)));
    await d.publishAsync(topics.twinReported(id), '{"state":{}}', { qos: 1 });
    await waitFor(() => started);
    const stopped = t.stop();
    await new Promise((r) => setTimeout(r, 50));
    expect(t.isReady()).toBe(false);
    release();
    expect(await reply).toBe(topics.reportedAccepted(id));
    await stopped;
    await expect(t.publish(topics.delta(id), '{}', { qos: 0 })).rejects.toThrow();
  });

  it('fails start() on a refused connection instead of hanging', async () => {
    const t = createExternalTransport({ url: 'mqtt://127.0.0.1:1', group: 'g', logger, startTimeoutMs: 1500 });
    await expect(t.start()).rejects.toThrow();
    expect(t.isReady()).toBe(false);
    await t.stop();
  });
});
