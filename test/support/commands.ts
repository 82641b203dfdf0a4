/** Helpers for the command suites: models, devices that take commands, and polling for outcomes. */
// Plain strings (not /* GraphQL */ tagged): they interpolate COMMAND_FIELDS, which graphql-codegen cannot read.
import type { MqttClient } from 'mqtt';
import { uniqueDeviceId, type TestServer } from './harness.ts';

export const TOASTER_COMMANDS = [
  {
    name: 'toast',
    description: 'Toast at a power level',
    params: {
      type: 'object',
      properties: { power: { type: 'integer', minimum: 0, maximum: 100 }, mode: { enum: ['bread', 'bagel'] } },
      required: ['power'],
    },
    timeoutMs: 600_000,
  },
  { name: 'eject', params: {} },
];

export const CREATE_MODEL = `
  mutation CreateModel($input: DeviceModelInput!) {
    createDeviceModel(input: $input) {
      __typename
      ... on DeviceModel { id name version commands { name description params timeoutMs ttlMs } desiredSchema reportedSchema }
      ... on ValidationError { code fieldErrors { path code message } }
      ... on Error { code message }
    }
  }
`;

export const UPDATE_MODEL = CREATE_MODEL.replace('CreateModel', 'UpdateModel').replace('createDeviceModel', 'updateDeviceModel');

export const REGISTER = `
  mutation Register($input: RegisterDeviceInput!) {
    registerDevice(input: $input) {
      __typename
      ... on DeviceWithCredentials { credentials { username password } }
      ... on Error { code message }
    }
  }
`;

export const COMMAND_FIELDS =
  'commandId name params status result error requestedBy requestedById createdAt sentAt acceptedAt completedAt expiresAt stateTimes refusals idempotencyKey modelVersion canceledBy';

export const SEND = `
  mutation Send($input: SendCommandInput!) {
    sendCommand(input: $input) {
      __typename
      ... on Command { ${COMMAND_FIELDS} }
      ... on ValidationError { code fieldErrors { path code message } }
      ... on RateLimited { code limit windowMs retryAfterMs }
      ... on Error { code message }
    }
  }
`;

export const GET_COMMAND = `
  query Command($commandId: String!) { command(commandId: $commandId) { ${COMMAND_FIELDS} } }
`;

export interface Creds {
  deviceId: string;
  username: string;
  password: string;
}

export async function createModel(t: TestServer, input: Record<string, unknown>) {
  const r = await t.gql<{ createDeviceModel: Record<string, unknown> }, unknown>(CREATE_MODEL, { input });
  return r.data?.createDeviceModel ?? (r as never);
}

export async function createToaster(t: TestServer, extra: Record<string, unknown> = {}): Promise<string> {
  const name = uniqueDeviceId('toaster');
  const m = await createModel(t, { name, description: 'A toaster', commands: TOASTER_COMMANDS, ...extra });
  if (m.__typename !== 'DeviceModel') throw new Error(`createDeviceModel failed: ${JSON.stringify(m)}`);
  return name;
}

export async function registerDevice(t: TestServer, model: string | null, deviceId = uniqueDeviceId('cmd')): Promise<Creds> {
  const r = await t.gql<{ registerDevice: { __typename: string; credentials: { username: string; password: string } } }, unknown>(REGISTER, {
    input: { deviceId, ...(model ? { model } : {}) },
  });
  if (r.data?.registerDevice.__typename !== 'DeviceWithCredentials') throw new Error(`register failed: ${JSON.stringify(r)}`);
  return { deviceId, ...r.data.registerDevice.credentials };
}

export interface ReceivedCommand {
  commandId: string;
  body: { name: string; params: Record<string, unknown>; expiresAt: number | null };
}

/**
 * A device that subscribes to its commands, then announces `online` (the contract's "ready" signal).
 * With `autoAck`, it acks every command with that body the moment it arrives (attached before `online`:
 * a command can arrive before the PUBACK of the `online` message).
 */
/**
 * A device that subscribes to its commands and then (unless `announce: false`) publishes `online`, the
 * contract's "ready" signal.
 */
export async function commandDevice(t: TestServer, creds: Creds, options: { autoAck?: unknown; announce?: boolean } = {}) {
  const client: MqttClient = await t.mqtt({
    username: creds.username,
    password: creds.password,
    clientId: `${creds.deviceId}-${Math.random().toString(36).slice(2)}`,
  });
  const received: ReceivedCommand[] = [];
  const prefix = `devices/${creds.deviceId}/commands/`;
  client.on('message', (topic, payload) => {
    if (!topic.startsWith(prefix) || topic.endsWith('/ack')) return;
    const commandId = topic.slice(prefix.length);
    received.push({ commandId, body: JSON.parse(payload.toString()) });
    if (options.autoAck !== undefined) client.publish(`${prefix}${commandId}/ack`, JSON.stringify(options.autoAck), { qos: 1 });
  });
  await client.subscribeAsync(`${prefix}+`, { qos: 1 });
  const online = () => client.publishAsync(`devices/${creds.deviceId}/status`, 'online', { qos: 1, retain: true });
  if (options.announce !== false) await online();
  return {
    client,
    received,
    online,
    async waitFor(n: number): Promise<ReceivedCommand[]> {
      await until(() => received.length >= n, `${n} command(s) to reach ${creds.deviceId} (got ${received.length})`);
      return received;
    },
    ack(commandId: string, body: unknown) {
      return client.publishAsync(`${prefix}${commandId}/ack`, typeof body === 'string' ? body : JSON.stringify(body), { qos: 1 });
    },
    async offline(): Promise<void> {
      await client.publishAsync(`devices/${creds.deviceId}/status`, 'offline', { qos: 1, retain: true });
      await client.endAsync();
    },
  };
}

/** Polls until `check` holds; the deadline only turns a hang into a readable failure. */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function commandOf(t: TestServer, commandId: string, token?: string) {
  const r = await t.gql<{ command: Record<string, unknown> | null }, unknown>(GET_COMMAND, { commandId }, token);
  return r.data?.command ?? null;
}

export async function waitForStatus(t: TestServer, commandId: string, status: string) {
  let last: unknown;
  await until(
    async () => {
      const c = await commandOf(t, commandId);
      last = c?.status;
      return last === status;
    },
    `command ${commandId} to be ${status} (is ${String(last)})`,
  );
  return (await commandOf(t, commandId))!;
}

export async function send(t: TestServer, input: Record<string, unknown>, token?: string) {
  const r = await t.gql<{ sendCommand: Record<string, unknown> & { __typename: string } }, unknown>(SEND, { input }, token);
  if (!r.data) throw new Error(JSON.stringify(r));
  return r.data.sendCommand;
}
