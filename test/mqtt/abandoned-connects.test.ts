/**
 * CONNECTs whose clients gave up (src/mqtt/embedded/abandoned.ts): real TCP clients send a CONNECT to
 * the embedded Aedes and close their socket while the server still works on it, as devices of a farm
 * do when their CONNACK timeout runs out in a storm. The credentials lookup is held (a gate in front
 * of the real device registry on the test database) so the order is certain, not raced. Each such
 * CONNECT must be counted as abandoned, cost no credentials row and leave no device marked connected,
 * in the database as in the broker.
 */
import net from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/client.ts';
import { createEventBus } from '../../src/events/bus.ts';
import { createLogger } from '../../src/logger.ts';
import { createEmbeddedTransport, type EmbeddedTransport } from '../../src/mqtt/embedded/index.ts';
import { topics } from '../../src/mqtt/topics.ts';
import type { ConnectAttempt, ConnectionEvent, InboundMessage } from '../../src/mqtt/transport.ts';
import { createAuditLog } from '../../src/services/audit.ts';
import { createDeviceService, type DeviceService } from '../../src/services/devices/index.ts';
import { modeName, openTestDatabase, uniqueDeviceId } from '../support/harness.ts';
import { recordingSessions, testActor } from '../services/devices/support.ts';

let db: Database;
let closeDatabase: (() => Promise<void>) | undefined;
let devices: DeviceService;
let transport: EmbeddedTransport;
/** Credential lookups sent to the database, with the device ids each asked for. */
const lookups: string[][] = [];
const connectionEvents: ConnectionEvent[] = [];
const statusMessages: InboundMessage[] = [];

/**
 * A gate in front of the registry's authenticate: while closed, CONNECTs wait before their lookup
 * (`before`) or after it (`after`); the test opens it once the clients it means to abandon are gone.
 */
function gate() {
  let open: () => void = () => undefined;
  let opened = new Promise<void>((resolve) => (open = resolve));
  return {
    wait: () => opened,
    open: () => open(),
    close: () => void (opened = new Promise<void>((resolve) => (open = resolve))),
  };
}
const before = gate();
const after = gate();
/** The CONNECTs waiting at a gate, by device id, with the broker's view of whether their client left. */
const waiting = new Map<string, ConnectAttempt>();

beforeAll(async () => {
  ({ db, close: closeDatabase } = await openTestDatabase());
  const sql = {
    query<T>(text: string, params?: readonly unknown[]): Promise<T[]> {
      if (text.includes('AS secret_hash')) lookups.push([...((params?.[0] as string[] | undefined) ?? [])]);
      return db.sql.query<T>(text, params);
    },
  };
  const logger = createLogger('silent');
  devices = createDeviceService({
    db: { ...db, sql } as Database,
    bus: createEventBus(),
    logger,
    sessions: recordingSessions(),
    audit: createAuditLog({ prisma: db.prisma, logger }),
  });
  transport = createEmbeddedTransport({
    port: 0,
    host: '127.0.0.1',
    logger: pino({ level: 'silent' }),
    maxPayloadBytes: 4096,
    authenticator: {
      async authenticate(deviceId, password, attempt) {
        if (attempt) waiting.set(deviceId, attempt);
        await before.wait();
        const decision = await devices.authenticate(deviceId, password, attempt);
        await after.wait();
        waiting.delete(deviceId);
        return decision;
      },
    },
  });
  // What the bridge does with a connection event: the connection write, in the database.
  transport.setConnectionHandler((event) => {
    connectionEvents.push(event);
    void devices.setConnection(event.deviceId, event.connected ? 'connected' : 'disconnected', event.at);
  });
  transport.setMessageHandler(async (msg) => void (msg.topic.kind === 'status' && statusMessages.push(msg)));
  await transport.start();
}, 60_000);

afterAll(async () => {
  await transport?.stop();
  await closeDatabase?.();
});

beforeEach(() => {
  before.open();
  after.open();
  lookups.length = 0;
  connectionEvents.length = 0;
  statusMessages.length = 0;
  waiting.clear();
});

async function registerMany(n: number): Promise<Array<{ deviceId: string; password: string }>> {
  const out = [];
  for (let i = 0; i < n; i++) {
    const deviceId = uniqueDeviceId('abandon');
    const { credentials } = await devices.register(testActor(), { deviceId });
    out.push({ deviceId, password: credentials.password });
  }
  return out;
}

/** An MQTT 3.1.1 CONNECT (clean session, username and password), encoded by hand. */
function connectPacket(clientId: string, username: string, password: string): Buffer {
  const field = (s: string) => {
    const bytes = Buffer.from(s, 'utf8');
    return Buffer.concat([Buffer.from([bytes.length >> 8, bytes.length & 0xff]), bytes]);
  };
  const body = Buffer.concat([field('MQTT'), Buffer.from([4, 0b1100_0010, 0, 60]), field(clientId), field(username), field(password)]);
  const length: number[] = [];
  let rest = body.length;
  do {
    let byte = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0) byte |= 0x80;
    length.push(byte);
  } while (rest > 0);
  return Buffer.concat([Buffer.from([0x10, ...length]), body]);
}

/** A raw TCP client that sends its CONNECT and can then hang up without waiting for the CONNACK. */
async function rawConnect(port: number, device: { deviceId: string; password: string }): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.write(connectPacket(device.deviceId, device.deviceId, device.password));
  return socket;
}

/** Polls until `condition` holds (no time limit of its own: the test's timeout is the bound). */
async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 10));
}

async function connectedInDatabase(deviceIds: string[]): Promise<string[]> {
  const rows = await db.prisma.device.findMany({ where: { deviceId: { in: deviceIds }, connected: true }, select: { deviceId: true } });
  return rows.map((row) => row.deviceId).sort();
}

function connectLive(device: { deviceId: string; password: string }): Promise<MqttClient> {
  return mqtt.connectAsync(`mqtt://127.0.0.1:${transport.port}`, {
    username: device.deviceId,
    password: device.password,
    reconnectPeriod: 0,
    connectTimeout: 60_000,
  });
}

describe(`CONNECTs abandoned by their clients (${modeName})`, () => {
  it('leaves the CONNECTs whose clients hung up while queued out of the credentials lookup, counted, with no device connected', async () => {
    const gone = await registerMany(12);
    const [stays] = await registerMany(1);
    const abandonedBefore = transport.stats().connectsAbandoned;
    before.close();

    // Twelve devices connect at once and give up before their CONNACK; one more connects and waits.
    const sockets = await Promise.all(gone.map((device) => rawConnect(transport.port!, device)));
    const live = connectLive(stays!);
    await until(() => waiting.size === gone.length + 1);
    for (const socket of sockets) socket.destroy();
    await until(() => gone.every((device) => waiting.get(device.deviceId)?.abandoned() === true));
    before.open();

    const client = await live;
    await until(() => connectionEvents.some((e) => e.deviceId === stays!.deviceId && e.connected));
    expect(transport.stats().connectsAbandoned - abandonedBefore).toBe(gone.length);
    // One lookup, for the client still there; none of the abandoned ids reached the database.
    expect(lookups).toEqual([[stays!.deviceId]]);
    expect(connectionEvents.map((e) => e.deviceId)).toEqual([stays!.deviceId]);
    expect(transport.stats().authFailures).toBe(0);
    await until(async () => (await connectedInDatabase([stays!.deviceId])).length === 1);
    expect(await connectedInDatabase([...gone, stays!].map((d) => d.deviceId))).toEqual([stays!.deviceId]);
    await client.endAsync();
  }, 60_000);

  it('drops a CONNECT whose client hung up during its lookup: no connection written, nothing left registered', async () => {
    const [device, other] = await registerMany(2);
    const abandonedBefore = transport.stats().connectsAbandoned;
    after.close();
    const socket = await rawConnect(transport.port!, device!);
    await until(() => lookups.some((ids) => ids.includes(device!.deviceId)));
    socket.destroy();
    await until(() => waiting.get(device!.deviceId)?.abandoned() === true);
    after.open();
    await until(() => transport.stats().connectsAbandoned === abandonedBefore + 1);

    // A live device connects after it: the broker holds exactly that one, the database too.
    const client = await connectLive(other!);
    await until(() => connectionEvents.some((e) => e.deviceId === other!.deviceId && e.connected));
    expect(connectionEvents.map((e) => e.deviceId)).toEqual([other!.deviceId]);
    await until(async () => (await connectedInDatabase([other!.deviceId])).length === 1);
    expect(await connectedInDatabase([device!.deviceId, other!.deviceId])).toEqual([other!.deviceId]);
    await client.endAsync();
    await until(() => connectionEvents.some((e) => e.deviceId === other!.deviceId && !e.connected));
    await until(async () => (await connectedInDatabase([other!.deviceId])).length === 0);
  }, 60_000);

  it('lets the post-connect work ask whether the device is still there, and counts it when not', async () => {
    const [device] = await registerMany(1);
    const client = await connectLive(device!);
    await client.publishAsync(topics.status(device!.deviceId), 'online', { qos: 1, retain: true });
    const connected = connectionEvents.find((e) => e.deviceId === device!.deviceId && e.connected)!;
    const online = statusMessages.find((m) => m.deviceId === device!.deviceId)!;
    // Still connected: the hand-over and the command round go ahead, nothing counted.
    const abandonedBefore = transport.stats().connectsAbandoned;
    expect(connected.dropIfGone?.()).toBe(false);
    expect(online.dropIfGone?.()).toBe(false);
    expect(transport.stats().connectsAbandoned).toBe(abandonedBefore);

    client.stream.destroy();
    await until(() => connectionEvents.some((e) => e.deviceId === device!.deviceId && !e.connected));
    expect(connected.dropIfGone?.()).toBe(true);
    expect(online.dropIfGone?.()).toBe(true);
    expect(transport.stats().connectsAbandoned).toBe(abandonedBefore + 2);
    await until(async () => (await connectedInDatabase([device!.deviceId])).length === 0);
    client.end(true);
  }, 60_000);
});
