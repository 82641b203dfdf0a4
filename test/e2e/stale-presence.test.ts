/**
 * Presence after a crash of the embedded broker (src/services/stale-presence.ts): a real server process
 * is killed with SIGKILL while two devices are connected and started again on the same database and
 * ports. The device that reconnects within MQTT_PRESENCE_GRACE_S stays connected; the one that does not
 * is marked offline once the window has passed, with the live `deviceConnection` event. Runs on
 * PGlite (a data directory) in the embedded pass and on a scratch PostgreSQL database in the external
 * pass; the broker is the embedded one either way, since an external broker keeps its sessions.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createClient, type Client as WsClient } from 'graphql-ws';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { topics } from '../../src/mqtt/topics.ts';
import { externalDatabaseUrl, migratedScratchDatabase, subscribe, uniqueDeviceId } from '../support/harness.ts';
import { processGql, spawnServer, type ServerProcess } from '../support/process.ts';
import { freePort } from '../support/services.ts';

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'doppel-stale-presence-'));
const servers: ServerProcess[] = [];
const clients: MqttClient[] = [];
let ws: WsClient | undefined;
let env: Record<string, string>;
let dropScratch: (() => Promise<void>) | undefined;

beforeAll(async () => {
  let databaseUrl = '';
  if (externalDatabaseUrl) {
    const scratch = await migratedScratchDatabase(externalDatabaseUrl);
    databaseUrl = scratch.url;
    dropScratch = scratch.drop;
  }
  env = {
    DOPPEL_DATA_DIR: dataDir,
    DATABASE_URL: databaseUrl,
    MQTT_URL: '',
    HOST: '127.0.0.1',
    MQTT_HOST: '127.0.0.1',
    PORT: String(await freePort()),
    // The devices must find the restarted broker where they left it.
    MQTT_PORT: String(await freePort()),
    MQTT_TLS_PORT: '0',
    MQTT_TLS_HOST: '127.0.0.1',
    // Long enough that the subscription below is live before the sweep runs, even on a loaded machine.
    MQTT_PRESENCE_GRACE_S: '30',
    LOG_LEVEL: 'info',
  };
}, 120_000);

afterAll(async () => {
  await ws?.dispose();
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
  for (const server of servers) server.child.kill('SIGKILL');
  await dropScratch?.();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function start(): Promise<ServerProcess> {
  const server = await spawnServer(env, 120_000);
  servers.push(server);
  return server;
}

async function connectDevice(server: ServerProcess, deviceId: string, password: string): Promise<MqttClient> {
  const client = await mqtt.connectAsync(server.mqttUrl, { username: deviceId, password, clientId: `${deviceId}-c`, reconnectPeriod: 0 });
  clients.push(client);
  await client.subscribeAsync(topics.commandsFilter(deviceId), { qos: 1 });
  await client.publishAsync(topics.status(deviceId), 'online', { qos: 1, retain: true });
  return client;
}

async function connectedOf(server: ServerProcess, token: string, ids: string[]): Promise<Record<string, boolean>> {
  const out: Record<string, boolean> = {};
  for (const id of ids)
    out[id] = (
      await processGql<{ device: { connected: boolean } }>(server, token, 'query ($id: String!) { device(deviceId: $id) { connected } }', { id })
    ).device.connected;
  return out;
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('presence after a crash of the embedded broker', () => {
  it('marks offline the devices that do not reconnect within the grace window, and only those', async () => {
    const first = await start();
    const token = fs.readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim();
    const gone = uniqueDeviceId('gone');
    const back = uniqueDeviceId('back');
    const registered = await processGql<{ registerDevices: { results: Array<{ deviceId: string; password: string }> } }>(
      first,
      token,
      'mutation ($inputs: [RegisterDeviceInput!]!) { registerDevices(inputs: $inputs) { ... on RegisterDevicesPayload { results { deviceId password } } } }',
      { inputs: [{ deviceId: gone }, { deviceId: back }] },
    );
    const passwords = Object.fromEntries(registered.registerDevices.results.map((r) => [r.deviceId, r.password]));
    await connectDevice(first, gone, passwords[gone]!);
    await connectDevice(first, back, passwords[back]!);
    expect(
      await until(
        () => connectedOf(first, token, [gone, back]),
        (c) => c[gone]! && c[back]!,
      ),
    ).toEqual({ [gone]: true, [back]: true });

    // A crash: no Last Will is published, no disconnect is stored.
    first.child.kill('SIGKILL');
    await first.exited;
    for (const client of clients.splice(0)) await client.endAsync(true).catch(() => undefined);

    const second = await start();
    ws = createClient({
      url: second.graphql.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      connectionParams: { authorization: `Bearer ${token}` },
    });
    const events = subscribe<{ deviceConnection: { deviceId: string; connected: boolean } }>(
      ws,
      'subscription ($id: String!) { deviceConnection(deviceId: $id) { deviceId connected } }',
      { id: gone },
    );
    // The device that comes back within the window is connected for real.
    await connectDevice(second, back, passwords[back]!);

    const event = await events.next(60_000);
    expect(event.data?.deviceConnection).toEqual({ deviceId: gone, connected: false });
    expect(await connectedOf(second, token, [gone, back])).toEqual({ [gone]: false, [back]: true });
    expect(second.lines.join('\n')).toMatch(/"cleared":1[,}]/);
  }, 300_000); // two cold starts of a real process, one on a fresh embedded database: slow on a loaded machine
});
