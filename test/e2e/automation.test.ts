/**
 * Rules, the outbox and webhooks together, end to end (docs/rules.md, docs/webhooks.md), through the
 * public APIs only: rules and endpoints are created with GraphQL, devices are mqtt.js clients, and the
 * webhook receiver is a real HTTP server that verifies every signature. A soil sensor's telemetry
 * raises an alarm; its action opens a valve (another device) with a validated command delivered over
 * MQTT; the alarm and the twin changes reach the receiver, signed, in order per device.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandDevice, createModel, registerDevice, until } from '../support/commands.ts';
import { modeName, startTestServer, subscribe, uniqueDeviceId, type TestServer } from '../support/harness.ts';
import { startReceiver, type Receiver } from '../support/webhook-receiver.ts';

let t: TestServer;
let receiver: Receiver;

beforeAll(async () => {
  t = await startTestServer({
    WEBHOOKS_ALLOW_HTTP: 'true',
    WEBHOOKS_ALLOWED_NETWORKS: '127.0.0.1/32',
    WEBHOOK_POLL_INTERVAL_MS: '100',
    RULES_SWEEP_INTERVAL_MS: '50',
    COMMAND_SWEEP_INTERVAL_MS: '100',
  });
  receiver = await startReceiver([]);
}, 120_000);
afterAll(async () => {
  await receiver?.close();
  await t?.stop();
});

const CREATE_ENDPOINT = `mutation E($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) { __typename ... on CreatedWebhookEndpoint { secret endpoint { id } } ... on Error { code message } }
}`;
const CREATE_RULE = `mutation R($input: RuleInput!) {
  createRule(input: $input) { __typename ... on Rule { ruleId } ... on ValidationError { fieldErrors { path code message } } ... on Error { code message } }
}`;
const ALARMS = `query A($d: String!) { alarms(filter: { deviceId: $d }, first: 5) { totalCount edges { node {
  alarmId status raisedValue actions { status attempts lastError data } } } } }`;

interface AlarmNode {
  alarmId: string;
  status: string;
  raisedValue: unknown;
  actions: Array<{ status: string; attempts: number; lastError: string | null; data: { action: { command?: string; params?: unknown } } }>;
}

async function createEndpoint(input: Record<string, unknown>): Promise<string> {
  const r = await t.gql<{ createWebhookEndpoint: { __typename: string; secret: string; endpoint: { id: string } } }, unknown>(CREATE_ENDPOINT, { input });
  const created = r.data?.createWebhookEndpoint;
  if (created?.__typename !== 'CreatedWebhookEndpoint') throw new Error(`createWebhookEndpoint: ${JSON.stringify(r)}`);
  receiver.secrets.push(created.secret);
  return created.endpoint.id;
}

async function alarmsOf(deviceId: string): Promise<AlarmNode[]> {
  const r = await t.gql<{ alarms: { edges: Array<{ node: AlarmNode }> } }, unknown>(ALARMS, { d: deviceId });
  if (r.errors) throw new Error(JSON.stringify(r.errors));
  return r.data!.alarms.edges.map((e) => e.node);
}

/** The envelopes the receiver accepted, parsed, in arrival order. */
function received(type: string): Array<{ id: string; type: string; tenant: string; data: Record<string, unknown> }> {
  return receiver.requests
    .filter((r) => r.status === 200)
    .map((r) => JSON.parse(r.body) as { id: string; type: string; tenant: string; data: Record<string, unknown> })
    .filter((e) => e.type === type);
}

describe(`automation: rules, actions and webhooks together (${modeName})`, () => {
  it("device A's telemetry raises one alarm, its action opens valve B over MQTT, and the alarm reaches a signed webhook", async () => {
    const valveModel = uniqueDeviceId('valve');
    await createModel(t, {
      name: valveModel,
      commands: [
        {
          name: 'open',
          params: { type: 'object', properties: { minutes: { type: 'integer', minimum: 1, maximum: 60 }, bed: { type: 'string' } }, required: ['minutes'] },
        },
      ],
    });
    const valve = await registerDevice(t, valveModel, uniqueDeviceId('valve'));
    const valveDevice = await commandDevice(t, valve, { autoAck: { status: 'SUCCEEDED' } });
    const sensor = await registerDevice(t, null, uniqueDeviceId('soil'));
    const sensorClient = await t.mqtt({ username: sensor.username, password: sensor.password, clientId: sensor.deviceId });

    const endpointId = await createEndpoint({ url: receiver.url, eventTypes: ['alarm.changed'], filter: { deviceIds: [sensor.deviceId] } });
    const rule = await t.gql<{ createRule: { __typename: string; ruleId: string } }, unknown>(CREATE_RULE, {
      input: {
        name: uniqueDeviceId('dry soil'),
        scope: { deviceIds: [sensor.deviceId] },
        source: { type: 'TELEMETRY', metric: 'moisture' },
        raise: { op: 'LT', value: 20 },
        clear: { op: 'GTE', value: 35 },
        severity: 'WARNING',
        onRaise: [
          { type: 'SEND_COMMAND', deviceId: valve.deviceId, command: 'open', params: { minutes: 10, bed: '{{deviceId}}' } },
          { type: 'NOTIFY_WEBHOOK', endpointId },
        ],
      },
    });
    expect(rule.data?.createRule.__typename, JSON.stringify(rule)).toBe('Rule');

    const changes = subscribe<{ alarmChanged: { deviceId: string; status: string } }>(
      t.ws(),
      `subscription S($f: AlarmChangedFilter) { alarmChanged(filter: $f) { deviceId status } }`,
      { f: { deviceId: sensor.deviceId } },
    );
    await t.waitForSubscriptions(1);
    const base = Date.now() - 60_000;
    // Two dry readings in one message and the same message again: one alarm, one command.
    const dry = JSON.stringify([
      { ts: base, values: { moisture: 12 } },
      { ts: base + 1000, values: { moisture: 11 } },
    ]);
    await sensorClient.publishAsync(`devices/${sensor.deviceId}/telemetry`, dry, { qos: 1 });
    await sensorClient.publishAsync(`devices/${sensor.deviceId}/telemetry`, dry, { qos: 1 });

    const live = await changes.next();
    expect(live.data?.alarmChanged).toMatchObject({ deviceId: sensor.deviceId, status: 'ACTIVE' });

    const commands = await valveDevice.waitFor(1);
    expect(commands[0]!.body).toMatchObject({ name: 'open', params: { minutes: 10, bed: sensor.deviceId } });
    await until(async () => (await alarmsOf(sensor.deviceId))[0]?.actions[0]?.status === 'DELIVERED', 'the action row to be done');
    const [alarm] = await alarmsOf(sensor.deviceId);
    expect(alarm).toMatchObject({ status: 'ACTIVE', raisedValue: 12 });
    expect(alarm!.actions).toHaveLength(1);
    expect(alarm!.actions[0]).toMatchObject({
      status: 'DELIVERED',
      attempts: 1,
      data: { action: { command: 'open', params: { minutes: 10, bed: sensor.deviceId } } },
    });

    await until(() => received('alarm.changed').length >= 1, 'alarm.changed to reach the receiver');
    const [event] = received('alarm.changed');
    expect(event).toMatchObject({ type: 'alarm.changed', tenant: 'default', data: { deviceId: sensor.deviceId, alarmId: alarm!.alarmId, to: 'ACTIVE' } });
    expect(receiver.requests.every((r) => r.verified)).toBe(true);

    // The soil is wet again: the alarm latches (cleared, not acknowledged), and that is sent too.
    await sensorClient.publishAsync(`devices/${sensor.deviceId}/telemetry`, JSON.stringify([{ ts: base + 2000, values: { moisture: 40 } }]), { qos: 1 });
    await until(async () => (await alarmsOf(sensor.deviceId))[0]?.status === 'LATCHED', 'the alarm to latch');
    await until(() => received('alarm.changed').some((e) => e.data.to === 'LATCHED'), 'the LATCHED change to reach the receiver');
    // No second command: the replayed dry message raised nothing new.
    expect(valveDevice.received).toHaveLength(1);
    expect((await alarmsOf(sensor.deviceId)).length).toBe(1);

    changes.unsubscribe();
    await sensorClient.endAsync();
    await valveDevice.client.endAsync();
  });

  it('twin reports and connections reach an endpoint in order per device, signed, with one id per event', { timeout: 120_000 }, async () => {
    const a = await registerDevice(t, null, uniqueDeviceId('twin-a'));
    const b = await registerDevice(t, null, uniqueDeviceId('twin-b'));
    await createEndpoint({ url: receiver.url, eventTypes: ['twin.changed', 'device.connected'], filter: { deviceIds: [a.deviceId, b.deviceId] } });

    const clients = await Promise.all([a, b].map((d) => t.mqtt({ username: d.username, password: d.password, clientId: d.deviceId })));
    // Connected, as the device contract says: `online` on the status topic (what an external broker relays).
    await Promise.all([a, b].map((d, k) => clients[k]!.publishAsync(`devices/${d.deviceId}/status`, 'online', { qos: 1, retain: true })));
    const REPORTS = 20;
    const base = Date.now() - 60_000;
    for (let i = 1; i <= REPORTS; i++) {
      await Promise.all(
        // With `ts`, every report is newer than the one before, whatever the receive times (docs/device-contract.md).
        [a, b].map((d, k) => clients[k]!.publishAsync(`devices/${d.deviceId}/twin/reported`, JSON.stringify({ state: { n: i }, ts: base + i }), { qos: 1 })),
      );
    }
    const twinEvents = (deviceId: string) => received('twin.changed').filter((e) => e.data.deviceId === deviceId);
    await until(() => twinEvents(a.deviceId).length >= REPORTS && twinEvents(b.deviceId).length >= REPORTS, 'every twin change to be delivered', 60_000);
    for (const d of [a, b]) {
      const events = twinEvents(d.deviceId);
      // At least once: a repeat carries the same id; per device, the versions arrive in order.
      const firstSeen = events.filter((e, i) => events.findIndex((x) => x.id === e.id) === i);
      expect(firstSeen.map((e) => e.data.version)).toEqual(Array.from({ length: REPORTS }, (_, i) => i + 1));
      expect(firstSeen.map((e) => (e.data.patch as { n: number }).n)).toEqual(Array.from({ length: REPORTS }, (_, i) => i + 1));
    }
    await until(() => received('device.connected').filter((e) => e.data.deviceId === a.deviceId || e.data.deviceId === b.deviceId).length >= 2, 'connections');
    expect(receiver.requests.every((r) => r.verified)).toBe(true);
    await Promise.all(clients.map((c) => c.endAsync()));
  });
});
