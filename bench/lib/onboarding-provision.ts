/**
 * bench:onboarding's provisioning phase (docs/onboarding.md "Provisioning"): `devices` devices
 * provisioned over MQTT through each mode, end to end as a device's first boot goes, `concurrency`
 * devices at once, each with its own connections:
 *
 *   claim token   connect as `provision` with the claim token, subscribe to the replies, request the
 *                 id, receive the credentials, disconnect, reconnect as the device with them (CONNACK)
 *   allow-list    the same with a policy whose list holds every id (each claimed once)
 *   group key     connect as the device with its derived key: the first connect registers it (CONNACK)
 *
 * devices/s = devices provisioned ÷ wall time of the phase. Target: claim token ≥ 500 devices/s.
 * Each phase checks that every device got in; a refusal fails the run.
 */
import { createHmac, randomBytes } from 'node:crypto';
import mqtt from 'mqtt';

export interface ProvisionPhase {
  name: string;
  devices: number;
  ms: number;
  /** CPU (user + system) of this process — the bench's own MQTT clients, on the same cores as the server — during the phase, in ms. */
  clientCpuMs: number;
  /** What the server spent on the phase, when the caller measures it (`measure`). */
  server?: PhaseCost;
}

/** The server's cost of one phase: robust to a noisy machine, unlike devices/s. */
export interface PhaseCost {
  /** Raw SQL statements the server ran (its SQL trace), in all and by kind. */
  statements: number;
  byStatement: Array<{ statement: string; calls: number; meanBatch: number }>;
  /** Server process CPU (user + system), in ms. */
  cpuMs: number;
}

export interface ProvisionBenchOptions {
  /** GraphQL endpoint and an admin token: the policies are created there. */
  graphqlUrl: string;
  token: string;
  mqttUrl: string;
  devices: number;
  /** Devices provisioning at the same moment. Default 64. */
  concurrency?: number;
  /** Device ids are `<prefix>-<mode>-<n>`. */
  prefix: string;
  /** Marks the server before a phase and reads its cost after (bench/onboarding.ts: SQL trace, CPU, optional profile). */
  measure?: { before(phase: string): Promise<void>; after(phase: string): Promise<PhaseCost> };
}

const CREATE = `mutation C($input: CreateProvisioningPolicyInput!) {
  createProvisioningPolicy(input: $input) { __typename ... on CreateProvisioningPolicyPayload { claimToken groupKey } ... on Error { message } }
}`;

async function createPolicy(o: ProvisionBenchOptions, input: Record<string, unknown>): Promise<{ claimToken: string | null; groupKey: string | null }> {
  const response = await fetch(o.graphqlUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${o.token}` },
    body: JSON.stringify({
      query: CREATE,
      variables: { input: { name: `bench-${randomBytes(4).toString('hex')}`, tags: ['bench'], model: 'bench-sensor', ...input } },
    }),
  });
  const body = (await response.json()) as { data?: { createProvisioningPolicy: { __typename: string; claimToken: string | null; groupKey: string | null } } };
  const p = body.data?.createProvisioningPolicy;
  if (p?.__typename !== 'CreateProvisioningPolicyPayload') throw new Error(`createProvisioningPolicy failed: ${JSON.stringify(body).slice(0, 500)}`);
  return p;
}

const connect = (url: string, username: string, password: string, clientId: string) =>
  mqtt.connectAsync(url, { username, password, clientId, reconnectPeriod: 0, connectTimeout: 30_000, protocolVersion: 4 });

/** One device's claim: ask as `provision`, then log in with the answer. */
async function claim(o: ProvisionBenchOptions, claimToken: string, deviceId: string): Promise<void> {
  const clientId = `bench-${randomBytes(6).toString('hex')}`;
  const client = await connect(o.mqttUrl, 'provision', claimToken, clientId);
  let credentials: { username: string; password: string };
  try {
    const answer = new Promise<{ username: string; password: string }>((resolve, reject) => {
      client.on('message', (topic, payload) => {
        if (topic === `provision/${clientId}/accepted`) resolve(JSON.parse(payload.toString()) as { username: string; password: string });
        else if (topic === `provision/${clientId}/rejected`) reject(new Error(`${deviceId} refused: ${payload.toString()}`));
      });
    });
    await client.subscribeAsync(`provision/${clientId}/+`, { qos: 1 });
    await client.publishAsync(`provision/${clientId}/request`, JSON.stringify({ deviceId, claimToken }), { qos: 1 });
    credentials = await answer;
  } finally {
    await client.endAsync(true);
  }
  const device = await connect(o.mqttUrl, credentials.username, credentials.password, `${deviceId}-boot`);
  await device.endAsync(true);
}

async function firstConnect(o: ProvisionBenchOptions, groupKey: string, deviceId: string): Promise<void> {
  const key = createHmac('sha256', Buffer.from(groupKey, 'utf8')).update(deviceId, 'utf8').digest('base64');
  const device = await connect(o.mqttUrl, deviceId, key, `${deviceId}-boot`);
  await device.endAsync(true);
}

async function timed(
  o: ProvisionBenchOptions,
  phase: string,
  ids: string[],
  concurrency: number,
  one: (id: string) => Promise<void>,
): Promise<{ ms: number; clientCpuMs: number; server?: PhaseCost }> {
  await o.measure?.before(phase);
  let next = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, ids.length) }, async () => {
      while (next < ids.length) await one(ids[next++]!);
    }),
  );
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const clientCpuMs = (cpu.user + cpu.system) / 1000;
  const server = await o.measure?.after(phase);
  return server ? { ms, clientCpuMs, server } : { ms, clientCpuMs };
}

/** The three provisioning phases, one after the other, on fresh policies. */
export async function provisionPhases(o: ProvisionBenchOptions): Promise<ProvisionPhase[]> {
  const concurrency = o.concurrency ?? 64;
  const ids = (mode: string) => Array.from({ length: o.devices }, (_, i) => `${o.prefix}-${mode}-${String(i).padStart(5, '0')}`);
  const phases: ProvisionPhase[] = [];

  const claimPolicy = await createPolicy(o, { mode: 'CLAIM_TOKEN' });
  const claimIds = ids('claim');
  phases.push({
    name: `provision: claim token ×${o.devices} (${concurrency} at once, connect→request→credentials→reconnect)`,
    devices: o.devices,
    ...(await timed(o, 'claim', claimIds, concurrency, (id) => claim(o, claimPolicy.claimToken!, id))),
  });

  const listIds = ids('list');
  const listPolicy = await createPolicy(o, { mode: 'ALLOW_LIST', allowedDeviceIds: listIds });
  phases.push({
    name: `provision: allow-list ×${o.devices} (${concurrency} at once)`,
    devices: o.devices,
    ...(await timed(o, 'list', listIds, concurrency, (id) => claim(o, listPolicy.claimToken!, id))),
  });

  const groupPolicy = await createPolicy(o, { mode: 'GROUP_KEY' });
  phases.push({
    name: `provision: group key ×${o.devices} (${concurrency} at once, first connect registers)`,
    devices: o.devices,
    ...(await timed(o, 'group', ids('group'), concurrency, (id) => firstConnect(o, groupPolicy.groupKey!, id))),
  });
  return phases;
}
