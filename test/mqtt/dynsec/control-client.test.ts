/**
 * The control client against a plain Aedes broker, with a test client standing in for the plugin:
 * it answers each control message on the response topic (or stays silent, or answers out of turn).
 */
import net from 'node:net';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDynsecControl, type DynsecControl } from '../../../src/mqtt/dynsec/control-client.ts';
import { DYNSEC_RESPONSE_TOPIC, DYNSEC_TOPIC, type DynsecCommand } from '../../../src/mqtt/dynsec/protocol.ts';

let broker: Aedes;
let server: net.Server;
let url: string;
let plugin: MqttClient;
/** How the stand-in plugin answers one command; undefined = no answer to the whole message. */
let respond: (cmd: DynsecCommand & { correlationData: string }) => Record<string, unknown> | undefined;
const messages: DynsecCommand[][] = [];

beforeAll(async () => {
  broker = new Aedes();
  await broker.listen();
  server = net.createServer((socket) => broker.handle(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `mqtt://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  plugin = await mqtt.connectAsync(url, { clientId: 'plugin' });
  await plugin.subscribeAsync(DYNSEC_TOPIC, { qos: 1 });
  plugin.on('message', (_topic, payload) => {
    const { commands } = JSON.parse(payload.toString()) as { commands: Array<DynsecCommand & { correlationData: string }> };
    messages.push(commands);
    const responses = commands.map((cmd) => respond(cmd));
    if (responses.some((r) => r === undefined)) return;
    void plugin.publishAsync(DYNSEC_RESPONSE_TOPIC, JSON.stringify({ responses }), { qos: 1 });
  });
});

afterAll(async () => {
  await plugin.endAsync(true);
  await new Promise<void>((resolve) => broker.close(() => resolve()));
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

let control: DynsecControl;
let failures: string[];

beforeEach(async () => {
  messages.length = 0;
  failures = [];
  respond = (cmd) => ({ command: cmd.command, correlationData: cmd.correlationData });
  control = createDynsecControl({
    url,
    username: 'admin',
    password: 'pw',
    log: pino({ level: 'silent' }),
    batchSize: 2,
    timeoutMs: 300,
    countFailure: (c) => failures.push(c),
  });
  await control.connect();
});

afterEach(async () => {
  await control.close();
});

const commands = (n: number): DynsecCommand[] => Array.from({ length: n }, (_, i) => ({ command: 'enableClient', username: `d${i}` }));

describe('dynsec control client', () => {
  it('sends commands in messages of batchSize and returns every response in order', async () => {
    const { responses, failures: failed } = await control.send(commands(5));
    expect(messages.map((m) => m.length)).toEqual([2, 2, 1]);
    expect(responses.map((r) => r.command)).toEqual(Array(5).fill('enableClient'));
    expect(responses.map((r) => Number(r.correlationData?.split(':')[1]))).toEqual([0, 1, 0, 1, 0]);
    expect(failed).toBe(0);
  });

  it('counts real failures by command, not harmless ones', async () => {
    respond = (cmd) => ({
      command: cmd.command,
      correlationData: cmd.correlationData,
      error: cmd.command === 'createRole' ? 'Role already exists' : 'Client not found',
    });
    const { failures: failed } = await control.send([
      { command: 'createRole', rolename: 'r' },
      { command: 'setClientPassword', username: 'd', password: 'x' },
    ]);
    expect(failed).toBe(1);
    expect(failures).toEqual(['setClientPassword']);
  });

  it('ignores responses to other admins and rejects when no answer comes in time', async () => {
    respond = () => undefined;
    await plugin.publishAsync(DYNSEC_RESPONSE_TOPIC, JSON.stringify({ responses: [{ command: 'listClients' }] }), { qos: 1 });
    await plugin.publishAsync(DYNSEC_RESPONSE_TOPIC, 'garbage', { qos: 1 });
    await expect(control.send(commands(1))).rejects.toThrow('no dynamic-security response within 300 ms');
  });

  it('rejects requests still waiting when closed, and sends nothing once closed', async () => {
    respond = () => undefined;
    const waiting = control.send(commands(1)).then(
      () => 'answered',
      (err: Error) => err.message,
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    await control.close();
    expect(await waiting).toBe('dynamic-security sync stopped');
    await expect(control.send(commands(1))).rejects.toThrow('dynamic-security sync is not started');
  });

  it('fails to connect when nothing listens', async () => {
    const unreachable = createDynsecControl({
      url: 'mqtt://127.0.0.1:1',
      username: 'a',
      password: 'b',
      log: pino({ level: 'silent' }),
      batchSize: 2,
      timeoutMs: 300,
      countFailure: () => undefined,
    });
    await expect(unreachable.connect()).rejects.toThrow();
    await unreachable.close();
  });
});
