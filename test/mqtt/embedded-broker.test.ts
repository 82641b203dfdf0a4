import { once } from 'node:events';
import net from 'node:net';
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { UnavailableError } from '../../src/domain/faults.ts';
import { createEmbeddedTransport, FrameScanner, type EmbeddedTransport } from '../../src/mqtt/embedded/index.ts';
import { topics } from '../../src/mqtt/topics.ts';
import type { ConnectionEvent, DeviceAuthenticator, InboundMessage } from '../../src/mqtt/transport.ts';

const MAX_PAYLOAD = 4096;
const secrets = new Map([
  ['dev-1', 's3cret-1'],
  ['dev-2', 's3cret-2'],
  ['dev-3', 's3cret-3'],
  ['dev-4', 's3cret-4'],
]);
/** In-memory authenticator: the real one checks hashed secrets in the database. */
const authenticator: DeviceAuthenticator = {
  async authenticate(deviceId, password) {
    if (deviceId === 'boom') throw new Error('database down');
    return password !== undefined && secrets.get(deviceId) === password.toString('utf8');
  },
};

let transport: EmbeddedTransport;
let url: string;
/** The transport takes exactly one handler; tests swap what it delegates to. */
let onMessage: (msg: InboundMessage) => Promise<void>;
const received: InboundMessage[] = [];
const connectionEvents: ConnectionEvent[] = [];
const clients: MqttClient[] = [];

function defaultHandler(msg: InboundMessage): Promise<void> {
  received.push(msg);
  return Promise.resolve();
}

beforeAll(async () => {
  transport = createEmbeddedTransport({ port: 0, host: '127.0.0.1', authenticator, logger: pino({ level: 'silent' }), maxPayloadBytes: MAX_PAYLOAD });
  transport.setMessageHandler((msg) => onMessage(msg));
  transport.setConnectionHandler((ev) => connectionEvents.push(ev));
  await transport.start();
  url = `mqtt://127.0.0.1:${transport.port}`;
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
  // let the broker notice the closed sockets before the next test looks at events
  await sleep(20);
  received.length = 0;
  connectionEvents.length = 0;
  onMessage = defaultHandler;
});

afterAll(async () => {
  await transport.stop();
});

onMessage = defaultHandler;

async function connect(username: string | undefined, password: string | undefined, extra: IClientOptions = {}): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, { username, password, reconnectPeriod: 0, connectTimeout: 2000, ...extra });
  client.on('error', () => undefined); // refusals show up as 'close'; the tests assert on that
  clients.push(client);
  return client;
}

async function connectFails(username: string | undefined, password: string | undefined, extra: IClientOptions = {}): Promise<number | undefined> {
  try {
    const client = await connect(username, password, extra);
    await client.endAsync(true);
  } catch (err) {
    return (err as { code?: number }).code;
  }
  throw new Error('connect unexpectedly succeeded');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for condition');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function nextMessage(client: MqttClient): Promise<[string, Buffer, IPublishPacket]> {
  return new Promise((resolve) => client.once('message', (topic, payload, packet) => resolve([topic, payload, packet])));
}

function closed(client: MqttClient): Promise<void> {
  return new Promise((resolve) => client.once('close', () => resolve()));
}

describe('embedded broker: authentication', () => {
  it('accepts a device with the right secret', async () => {
    const before = transport.stats().authFailures;
    const client = await connect('dev-1', 's3cret-1');
    expect(client.connected).toBe(true);
    expect(transport.isReady()).toBe(true);
    expect(transport.stats().authFailures).toBe(before);
  });

  it('refuses a wrong password with CONNACK 4 and counts it', async () => {
    const before = transport.stats().authFailures;
    expect(await connectFails('dev-1', 'wrong')).toBe(4);
    expect(transport.stats().authFailures).toBe(before + 1);
  });

  it('refuses an unknown device', async () => {
    expect(await connectFails('dev-404', 's3cret-1')).toBe(4);
  });

  it('refuses a missing username or password', async () => {
    expect(await connectFails(undefined, undefined)).toBe(4);
    expect(await connectFails('dev-1', undefined)).toBe(4);
  });

  it.each(['dev/1', '+', '#', 'x'.repeat(65), 'dev 1'])('refuses the invalid device id %j as username', async (username) => {
    expect(await connectFails(username, 's3cret-1')).toBe(4);
  });

  it('answers "server unavailable" when the authenticator fails', async () => {
    expect(await connectFails('boom', 'x')).toBe(3);
  });

  it("refuses a Last Will on another device's topic with CONNACK 5", async () => {
    const before = transport.stats().aclDenials;
    expect(await connectFails('dev-1', 's3cret-1', { will: { topic: 'devices/dev-2/status', payload: Buffer.from('offline'), qos: 1, retain: true } })).toBe(5);
    expect(transport.stats().aclDenials).toBe(before + 1);
  });

  it("does not let one device take over another device's client id", async () => {
    const victim = await connect('dev-1', 's3cret-1', { clientId: 'shared-id' });
    await connect('dev-2', 's3cret-2', { clientId: 'shared-id' });
    await sleep(50);
    expect(victim.connected).toBe(true);
  });
});

describe('embedded broker: publish ACL', () => {
  it('delivers its own telemetry to the handler with the authenticated device id', async () => {
    const client = await connect('dev-1', 's3cret-1');
    await client.publishAsync(topics.telemetry('dev-1'), JSON.stringify({ values: { temp: 21.5 } }), { qos: 1 });
    expect(received).toHaveLength(1);
    expect(received[0]!.deviceId).toBe('dev-1');
    expect(received[0]!.topic).toEqual({ deviceId: 'dev-1', kind: 'telemetry' });
    expect(JSON.parse(received[0]!.payload.toString('utf8'))).toEqual({ values: { temp: 21.5 } });
    expect(received[0]!.receivedAt).toBeGreaterThan(Date.now() - 5000);
  });

  it('parses command acks and status', async () => {
    const client = await connect('dev-1', 's3cret-1');
    await client.publishAsync(topics.commandAck('dev-1', 'cmd-7'), '{"status":"SUCCEEDED"}', { qos: 1 });
    await client.publishAsync(topics.status('dev-1'), 'online', { qos: 1, retain: true });
    expect(received.map((m) => m.topic)).toEqual([
      { deviceId: 'dev-1', kind: 'commandAck', commandId: 'cmd-7' },
      { deviceId: 'dev-1', kind: 'status' },
    ]);
  });

  it.each([
    ['devices/dev-2/telemetry', 1],
    ['devices/dev-2/twin/reported', 1],
    ['devices/dev-1/twin/delta', 1],
    ['devices/dev-1/commands/c1', 0],
    ['other/topic', 0],
  ] as const)('drops a publish to %s (QoS %d) and disconnects the device; the handler never sees it', async (topic, qos) => {
    const before = transport.stats().aclDenials;
    const client = await connect('dev-1', 's3cret-1');
    const gone = closed(client);
    client.publish(topic, '{"state":{}}', { qos });
    await gone;
    expect(transport.stats().aclDenials).toBe(before + 1);
    // A legitimate publish from another device still flows, and is the only one the handler saw.
    const other = await connect('dev-2', 's3cret-2');
    await other.publishAsync(topics.telemetry('dev-2'), '{"values":{}}', { qos: 1 });
    expect(received.map((m) => m.deviceId)).toEqual(['dev-2']);
  });

  it('refuses a payload over maxPayloadBytes by disconnecting, and counts it', async () => {
    const before = transport.stats().oversize;
    const client = await connect('dev-1', 's3cret-1');
    const gone = closed(client);
    client.publish(topics.telemetry('dev-1'), Buffer.alloc(MAX_PAYLOAD + 1, 0x20), { qos: 1 });
    await gone;
    expect(received).toHaveLength(0);
    expect(transport.stats().oversize).toBe(before + 1);
  });

  it('accepts a payload of exactly maxPayloadBytes', async () => {
    const client = await connect('dev-1', 's3cret-1');
    await client.publishAsync(topics.telemetry('dev-1'), Buffer.alloc(MAX_PAYLOAD, 0x20), { qos: 1 });
    expect(received).toHaveLength(1);
  });

  it('cuts off a huge packet while it arrives, before it is buffered', async () => {
    const before = transport.stats().oversize;
    const client = await connect('dev-1', 's3cret-1');
    const gone = closed(client);
    client.publish(topics.telemetry('dev-1'), Buffer.alloc(8 * 1024 * 1024, 0x20), { qos: 0 });
    await gone;
    expect(received).toHaveLength(0);
    expect(transport.stats().oversize).toBe(before + 1);
  });

  it('cuts off an unauthenticated connection that declares a huge packet', async () => {
    const socket = net.connect(transport.port!, '127.0.0.1');
    await once(socket, 'connect');
    // CONNECT (0x10) with a declared remaining length of 200 MB, and nothing behind it.
    socket.write(Buffer.from([0x10, 0x80, 0x80, 0x80, 0x64]));
    await once(socket, 'close');
  });
});

describe('embedded broker: subscribe ACL', () => {
  it.each(['#', 'devices/#', 'devices/+/twin/#', '$SYS/#', 'devices/dev-2/twin/#', 'devices/dev-1/#', '$share/g/devices/dev-1/twin/#'])(
    'refuses %s with SUBACK 0x80 and keeps the connection',
    async (filter) => {
      const before = transport.stats().aclDenials;
      const client = await connect('dev-1', 's3cret-1');
      await expect(client.subscribeAsync(filter, { qos: 1 })).rejects.toMatchObject({ packet: { granted: [128] } });
      expect(transport.stats().aclDenials).toBe(before + 1);
      expect(client.connected).toBe(true);
    },
  );

  it('grants its own twin/# and hands it the retained delta published before it subscribed', async () => {
    await transport.publish(topics.delta('dev-1'), JSON.stringify({ version: 3, delta: { fan: 'on' } }), { qos: 1, retain: true });
    const client = await connect('dev-1', 's3cret-1');
    const message = nextMessage(client);
    const granted = await client.subscribeAsync(topics.twinFilter('dev-1'), { qos: 1 });
    expect(granted).toEqual([{ topic: 'devices/dev-1/twin/#', qos: 1 }]);
    const [topic, payload, packet] = await message;
    expect(topic).toBe('devices/dev-1/twin/delta');
    expect(JSON.parse(payload.toString())).toEqual({ version: 3, delta: { fan: 'on' } });
    expect(packet.retain).toBe(true);
    // clean up the retained message for other tests
    await transport.publish(topics.delta('dev-1'), '', { qos: 0, retain: true });
  });

  it('grants the allowed filters of a mixed SUBSCRIBE and refuses the rest', async () => {
    const client = await connect('dev-2', 's3cret-2');
    await expect(client.subscribeAsync({ 'devices/dev-2/commands/+': { qos: 1 }, '#': { qos: 1 } })).rejects.toMatchObject({
      packet: { granted: [1, 128] },
    });
    const message = nextMessage(client);
    await transport.publish(topics.command('dev-2', 'c-9'), '{"name":"reboot","params":{}}', { qos: 1 });
    const [topic] = await message;
    expect(topic).toBe('devices/dev-2/commands/c-9');
  });

  it('receives QoS 1 commands and does not see its own device → server messages echoed back', async () => {
    const client = await connect('dev-3', 's3cret-3');
    const seen: string[] = [];
    client.on('message', (topic) => seen.push(topic));
    await client.subscribeAsync([topics.twinFilter('dev-3'), topics.commandsFilter('dev-3')], { qos: 1 });
    await client.publishAsync(topics.twinReported('dev-3'), '{"state":{"a":1}}', { qos: 1 });
    await client.publishAsync(topics.commandAck('dev-3', 'c1'), '{"status":"ACCEPTED"}', { qos: 1 });
    await transport.publish(topics.reportedAccepted('dev-3'), '{"version":1}', { qos: 1 });
    await transport.publish(topics.command('dev-3', 'c2'), '{"name":"x"}', { qos: 1 });
    await waitFor(() => seen.length >= 2);
    await sleep(50);
    expect(seen.sort()).toEqual(['devices/dev-3/commands/c2', 'devices/dev-3/twin/reported/accepted']);
  });
});

describe('embedded broker: acknowledgement after processing', () => {
  it('sends the QoS 1 PUBACK only after the handler settles', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let handlerStarted = false;
    onMessage = async (msg) => {
      handlerStarted = true;
      await gate;
      received.push(msg);
    };
    const client = await connect('dev-1', 's3cret-1');
    let acked = false;
    const ack = new Promise<void>((resolve, reject) =>
      client.publish(topics.twinReported('dev-1'), '{"state":{"t":1}}', { qos: 1 }, (err) => {
        acked = true;
        if (err) reject(err);
        else resolve();
      }),
    );
    await waitFor(() => handlerStarted);
    await sleep(100);
    expect(acked).toBe(false);
    release();
    await ack;
    expect(received).toHaveLength(1);
  });

  it('survives a throwing handler: logs, acknowledges, keeps serving', async () => {
    const before = transport.stats().handlerErrors;
    onMessage = async (msg) => {
      if (msg.payload.toString() === 'poison') throw new Error('boom');
      received.push(msg);
    };
    const client = await connect('dev-1', 's3cret-1');
    await client.publishAsync(topics.telemetry('dev-1'), 'poison', { qos: 1 });
    await client.publishAsync(topics.telemetry('dev-1'), '{"values":{"a":1}}', { qos: 1 });
    expect(client.connected).toBe(true);
    expect(received).toHaveLength(1);
    expect(transport.stats().handlerErrors).toBe(before + 1);
    // a synchronous throw too
    onMessage = () => {
      throw new Error('sync boom');
    };
    await client.publishAsync(topics.telemetry('dev-1'), '{}', { qos: 1 });
    const fresh = await connect('dev-2', 's3cret-2');
    expect(fresh.connected).toBe(true);
  });
  it('leaves a message unacknowledged when the store was unavailable; the device resends it on reconnect', async () => {
    let unavailable = true;
    onMessage = async (msg) => {
      if (unavailable) throw new UnavailableError('database unavailable (test)');
      received.push(msg);
    };
    const client = await connect('dev-1', 's3cret-1', { clean: false, clientId: 'dev-1', reconnectPeriod: 50 });
    let acked = false;
    const ack = client.publishAsync(topics.telemetry('dev-1'), '{"values":{"a":1}}', { qos: 1 }).then(() => (acked = true));
    await closed(client);
    expect(acked).toBe(false);
    expect(received).toHaveLength(0);
    unavailable = false;
    await ack; // MQTT.js resends its unacknowledged QoS 1 message after reconnecting
    expect(received.map((m) => m.payload.toString())).toEqual(['{"values":{"a":1}}']);
  });
});

describe('embedded broker: connections', () => {
  it('reports connects and disconnects of devices', async () => {
    const client = await connect('dev-4', 's3cret-4');
    await waitFor(() => connectionEvents.length === 1);
    expect(connectionEvents[0]).toMatchObject({ deviceId: 'dev-4', connected: true });
    await client.endAsync();
    await waitFor(() => connectionEvents.length === 2);
    expect(connectionEvents[1]).toMatchObject({ deviceId: 'dev-4', connected: false });
  });

  it('does not report refused connections', async () => {
    await connectFails('dev-1', 'wrong');
    await sleep(20);
    expect(connectionEvents).toEqual([]);
  });

  it('counts a device with two connections as connected until the last one ends', async () => {
    const a = await connect('dev-4', 's3cret-4', { clientId: 'a' });
    const b = await connect('dev-4', 's3cret-4', { clientId: 'b' });
    await a.endAsync();
    await sleep(30);
    expect(connectionEvents.map((e) => e.connected)).toEqual([true]);
    await b.endAsync();
    await waitFor(() => connectionEvents.length === 2);
    expect(connectionEvents[1]).toMatchObject({ deviceId: 'dev-4', connected: false });
  });

  it('publishes the Last Will of a device that vanishes to the handler', async () => {
    const client = await connect('dev-2', 's3cret-2', { will: { topic: topics.status('dev-2'), payload: Buffer.from('offline'), qos: 1, retain: true } });
    client.stream.destroy();
    await waitFor(() => received.length === 1);
    expect(received[0]!.topic).toEqual({ deviceId: 'dev-2', kind: 'status' });
    expect(received[0]!.payload.toString()).toBe('offline');
  });

  it('kicks a device off with disconnect', async () => {
    const client = await connect('dev-3', 's3cret-3');
    const gone = closed(client);
    expect(await transport.disconnect('dev-3')).toBe(true);
    await gone;
    expect(await transport.disconnect('dev-3')).toBe(false);
  });
});

describe('embedded broker: lifecycle', () => {
  it('rejects publishes to invalid topics', async () => {
    await expect(transport.publish('devices/+/twin/delta', '{}', { qos: 0 })).rejects.toThrow(TypeError);
  });

  it('stops promptly with connected clients and a handler stuck forever', async () => {
    const t = createEmbeddedTransport({
      port: 0,
      host: '127.0.0.1',
      authenticator,
      logger: pino({ level: 'silent' }),
      maxPayloadBytes: MAX_PAYLOAD,
      closeTimeoutMs: 200,
    });
    let stuck = false;
    t.setMessageHandler(() => {
      stuck = true;
      return new Promise(() => undefined);
    });
    await t.start();
    expect(t.isReady()).toBe(true);
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${t.port}`, { username: 'dev-1', password: 's3cret-1', reconnectPeriod: 0 });
    clients.push(client);
    client.publish(topics.telemetry('dev-1'), '{}', { qos: 1 });
    await waitFor(() => stuck);
    const started = Date.now();
    await t.stop();
    expect(Date.now() - started).toBeLessThan(2000);
    expect(t.isReady()).toBe(false);
    await t.stop(); // idempotent
    await expect(t.publish(topics.delta('dev-1'), '{}', { qos: 0 })).rejects.toThrow();
  });
});

describe('embedded broker: graceful stop', () => {
  it('lets a running handler finish, publish its reply and acknowledge before closing', async () => {
    const t = createEmbeddedTransport({ port: 0, host: '127.0.0.1', authenticator, logger: pino({ level: 'silent' }), maxPayloadBytes: MAX_PAYLOAD });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let started = false;
    t.setMessageHandler(async (msg) => {
      started = true;
      await gate;
      await t.publish(topics.reportedAccepted(msg.deviceId), '{"version":1}', { qos: 1 });
    });
    const events: ConnectionEvent[] = [];
    t.setConnectionHandler((ev) => events.push(ev));
    await t.start();
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${t.port}`, { username: 'dev-1', password: 's3cret-1', reconnectPeriod: 0 });
    client.on('error', () => undefined);
    clients.push(client);
    await client.subscribeAsync(topics.twinFilter('dev-1'), { qos: 1 });
    const reply = nextMessage(client);
    const acked = client.publishAsync(topics.twinReported('dev-1'), '{"state":{}}', { qos: 1 });
    await waitFor(() => started);
    const stopped = t.stop();
    await sleep(50);
    expect(t.isReady()).toBe(false);
    release();
    await acked;
    const [topic] = await reply;
    expect(topic).toBe(topics.reportedAccepted('dev-1'));
    await stopped;
    await waitFor(() => events.length === 2);
    expect(events.map((e) => e.connected)).toEqual([true, false]);
  });
});

describe('FrameScanner', () => {
  it('follows packets split across chunks', () => {
    const s = new FrameScanner(10);
    // PINGREQ (no body), then a packet of 10 bytes split, then another
    expect(s.feed(Buffer.from([0xc0, 0x00, 0x30, 0x0a, 1, 2, 3]))).toBe(true);
    expect(s.feed(Buffer.from([4, 5, 6, 7, 8, 9, 10, 0x30]))).toBe(true);
    expect(s.feed(Buffer.from([0x05, 1, 2, 3, 4, 5]))).toBe(true);
    expect(s.feed(Buffer.from([0x30, 0x0b]))).toBe(false);
    expect(s.feed(Buffer.from([0xc0, 0x00]))).toBe(false);
  });

  it('reads multi-byte lengths and refuses malformed ones', () => {
    expect(new FrameScanner(200).feed(Buffer.from([0x30, 0xc8, 0x01]))).toBe(true); // 200
    expect(new FrameScanner(199).feed(Buffer.from([0x30, 0xc8, 0x01]))).toBe(false);
    expect(new FrameScanner(Number.MAX_SAFE_INTEGER).feed(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]))).toBe(false);
  });
});
