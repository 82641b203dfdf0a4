/**
 * Mosquitto dynamic security kept in step with Doppel (src/mqtt/dynsec/), against a real Mosquitto 2
 * with the plugin: .ci/run starts one (scripts/dynsec-mosquitto.sh) and exports
 * DOPPEL_TEST_DYNSEC_URL, DOPPEL_TEST_DYNSEC_ADMIN_USER and DOPPEL_TEST_DYNSEC_ADMIN_PASSWORD.
 * The database is PGlite, or PostgreSQL when DOPPEL_TEST_DATABASE_URL is set.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { connackCode, messageWaiter, startTestServer, storedPoints, uniqueDeviceId, type TestServer } from '../support/harness.ts';
import { createDynsecSync, deviceRole, DYNSEC_RESPONSE_TOPIC, DYNSEC_TOPIC } from '../../src/mqtt/dynsec/index.ts';
import { createLogger } from '../../src/logger.ts';
import { openSecret, sealSecret } from '../../src/security/secrets.ts';

const dynsecUrl = process.env.DOPPEL_TEST_DYNSEC_URL || undefined;
const adminUser = process.env.DOPPEL_TEST_DYNSEC_ADMIN_USER || 'admin';
const adminPassword = process.env.DOPPEL_TEST_DYNSEC_ADMIN_PASSWORD || '';

if (!dynsecUrl) {
  console.warn('test/e2e/dynsec.test.ts skipped: DOPPEL_TEST_DYNSEC_URL is not set (start one with scripts/dynsec-mosquitto.sh, or run bash .ci/run)');
}
const suite = dynsecUrl ? describe : describe.skip;

let t: TestServer;
/** A separate admin connection of the test, to look at and tamper with Mosquitto behind Doppel's back. */
let admin: MqttClient;
const clients: MqttClient[] = [];
const serviceUser = `doppel-test-${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  if (!dynsecUrl) return;
  t = await startTestServer({
    MQTT_URL: dynsecUrl,
    MQTT_SHARED_GROUP: `dynsec${randomBytes(4).toString('hex')}`,
    MQTT_USERNAME: serviceUser,
    MQTT_PASSWORD: randomBytes(16).toString('hex'),
    MQTT_DYNSEC: '1',
    MQTT_DYNSEC_USERNAME: adminUser,
    MQTT_DYNSEC_PASSWORD: adminPassword,
    MQTT_DYNSEC_SECRET_KEY: randomBytes(32).toString('hex'),
    MQTT_DYNSEC_RECONCILE_S: '0',
  });
  admin = await mqtt.connectAsync(dynsecUrl, { username: adminUser, password: adminPassword, clientId: `test-admin-${randomBytes(4).toString('hex')}` });
  await admin.subscribeAsync(DYNSEC_RESPONSE_TOPIC);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
  await admin?.endAsync(true);
  await t?.stop();
  if (dynsecUrl) await cleanupBroker();
});

/** Sends dynsec commands from the test's own admin connection. */
async function control(commands: Array<Record<string, unknown>>): Promise<Array<{ command: string; error?: string; data?: unknown }>> {
  const id = randomBytes(6).toString('hex');
  const response = new Promise<Array<{ command: string; error?: string; data?: unknown; correlationData?: string }>>((resolve) => {
    const onMessage = (_topic: string, payload: Buffer) => {
      const body = JSON.parse(payload.toString()) as { responses: Array<{ command: string; correlationData?: string }> };
      if (body.responses[0]?.correlationData !== id) return;
      admin.off('message', onMessage);
      resolve(body.responses);
    };
    admin.on('message', onMessage);
  });
  await admin.publishAsync(DYNSEC_TOPIC, JSON.stringify({ commands: commands.map((c) => ({ ...c, correlationData: id })) }));
  return response;
}

/** Removes what this file left in the shared Mosquitto (clients and roles of its devices, the service user). */
async function cleanupBroker(): Promise<void> {
  const c = await mqtt.connectAsync(dynsecUrl!, { username: adminUser, password: adminPassword });
  await c.publishAsync(
    DYNSEC_TOPIC,
    JSON.stringify({
      commands: [
        { command: 'deleteClient', username: serviceUser },
        ...created.flatMap((id) => [
          { command: 'deleteClient', username: id },
          { command: 'deleteRole', rolename: deviceRole(id) },
        ]),
      ],
    }),
  );
  await c.endAsync();
}

const created: string[] = [];
async function register(deviceId = uniqueDeviceId('ds')) {
  const result = await t.gql(
    `mutation R($id: String!) { registerDevice(input: {deviceId: $id}) { ... on DeviceWithCredentials { credentials { username password } } } }`,
    { id: deviceId },
  );
  created.push(deviceId);
  const { password } = (result.data as { registerDevice: { credentials: { password: string } } }).registerDevice.credentials;
  return { deviceId, password };
}

async function mutate(name: string, deviceId: string, extra = '') {
  const fragment = name === 'rotateDeviceCredentials' ? '... on DeviceWithCredentials { credentials { password } }' : '';
  const result = await t.gql(`mutation M($id: String!) { ${name}(deviceId: $id${extra}) { __typename ${fragment} } }`, { id: deviceId });
  return (result.data as Record<string, { __typename: string; credentials?: { password: string } }>)[name]!;
}

/** Tries to connect; resolves with the CONNACK refusal code, or 0 when accepted. */
function connectCode(username: string, password: string): Promise<number> {
  return connackCode(dynsecUrl!, username, password);
}

async function device(username: string, password: string): Promise<MqttClient> {
  const c = await mqtt.connectAsync(dynsecUrl!, { username, password, reconnectPeriod: 0, clientId: `${username}-${randomBytes(3).toString('hex')}` });
  clients.push(c);
  return c;
}

function closed(c: MqttClient): Promise<void> {
  return new Promise((resolve) => c.once('close', () => resolve()));
}

async function twinVersion(deviceId: string): Promise<number> {
  const d = await t.database.prisma.device.findUniqueOrThrow({ where: { deviceId }, include: { twin: true } });
  return d.twin!.version;
}

/** Mosquitto refuses bad credentials with CONNACK 5 "not authorized" (MQTT 3.1.1). */
const REFUSED = 5;

suite('Mosquitto dynamic security follows Doppel', () => {
  it('a registered device connects with its secret and talks to Doppel; a wrong password and an unknown device are refused', async () => {
    const { deviceId, password } = await register();
    expect(await connectCode(deviceId, `${password}x`)).toBe(REFUSED);
    expect(await connectCode(uniqueDeviceId('ghost'), password)).toBe(REFUSED);
    const c = await device(deviceId, password);
    const messages = messageWaiter(c);
    await c.subscribeAsync(`devices/${deviceId}/twin/#`, { qos: 1 });
    c.publish(`devices/${deviceId}/twin/reported`, JSON.stringify({ state: { on: true }, clientToken: 'a' }), { qos: 1 });
    const accepted = await messages.next(`devices/${deviceId}/twin/reported/accepted`);
    expect(accepted.json).toMatchObject({ clientToken: 'a', version: 1 });
  });

  it('devices registered in bulk (registerDevices) get their Mosquitto clients in batches and connect', async () => {
    const prefix = uniqueDeviceId('dsbulk');
    const inputs = Array.from({ length: 25 }, (_, i) => ({ deviceId: `${prefix}-${i}` }));
    const result = await t.gql(
      `mutation R($inputs: [RegisterDeviceInput!]!) { registerDevices(inputs: $inputs) { ... on RegisterDevicesPayload { created results { username password } } } }`,
      { inputs },
    );
    const payload = (result.data as { registerDevices: { created: number; results: Array<{ username: string; password: string }> } }).registerDevices;
    created.push(...inputs.map((i) => i.deviceId));
    expect(payload.created).toBe(25);
    for (const row of [payload.results[0]!, payload.results[12]!, payload.results[24]!]) {
      expect(await connectCode(row.username, row.password)).toBe(0);
      expect(await connectCode(row.username, `${row.password}x`)).toBe(REFUSED);
    }
  });

  it('rotation: the old secret is refused and its session kicked, the new one works (Mosquitto holds one password: no grace period)', async () => {
    const { deviceId, password } = await register();
    const c = await device(deviceId, password);
    const kicked = closed(c);
    const fresh = (await mutate('rotateDeviceCredentials', deviceId)).credentials!.password;
    await kicked;
    expect(await connectCode(deviceId, password)).toBe(REFUSED);
    expect(await connectCode(deviceId, fresh)).toBe(0);

    // With a grace period the new secret still takes over in Mosquitto at once (documented limitation).
    const graced = (await mutate('rotateDeviceCredentials', deviceId, ', gracePeriodSeconds: 3600')).credentials!.password;
    expect(await connectCode(deviceId, fresh)).toBe(REFUSED);
    expect(await connectCode(deviceId, graced)).toBe(0);
  });

  it('a disabled device is kicked and refused until enabled; revoked credentials likewise until a rotation', async () => {
    const { deviceId, password } = await register();
    const c = await device(deviceId, password);
    const kicked = closed(c);
    expect((await mutate('disableDevice', deviceId)).__typename).toBe('Device');
    await kicked;
    expect(await connectCode(deviceId, password)).toBe(REFUSED);
    await mutate('enableDevice', deviceId);
    expect(await connectCode(deviceId, password)).toBe(0);

    const again = await device(deviceId, password);
    const kickedAgain = closed(again);
    await mutate('revokeDeviceCredentials', deviceId);
    await kickedAgain;
    expect(await connectCode(deviceId, password)).toBe(REFUSED);
    await mutate('enableDevice', deviceId); // does not lift a revocation
    expect(await connectCode(deviceId, password)).toBe(REFUSED);
    const fresh = (await mutate('rotateDeviceCredentials', deviceId)).credentials!.password;
    expect(await connectCode(deviceId, fresh)).toBe(0);
  });

  it('a deleted device is kicked and refused, and its client and role are gone', async () => {
    const { deviceId, password } = await register();
    const c = await device(deviceId, password);
    const kicked = closed(c);
    await t.gql(`mutation D($id: String!) { deleteDevice(deviceId: $id) { __typename } }`, { id: deviceId });
    await kicked;
    expect(await connectCode(deviceId, password)).toBe(REFUSED);
    const [client, role] = await control([
      { command: 'getClient', username: deviceId },
      { command: 'getRole', rolename: deviceRole(deviceId) },
    ]);
    expect(client!.error).toMatch(/not found/i);
    expect(role!.error).toMatch(/not found/i);
  });

  it('cross-device publish and subscribe, #, devices/# and $SYS/# are denied', async () => {
    const a = await register();
    const b = await register();
    const c = await device(a.deviceId, a.password);
    const filters = [
      '#',
      'devices/#',
      '$SYS/#',
      `devices/${b.deviceId}/twin/#`,
      `devices/${b.deviceId}/commands/#`,
      'devices/+/twin/delta',
      `devices/${b.deviceId}/telemetry/accepted`,
      `devices/${a.deviceId}/telemetry/#`,
    ];
    const granted = await c.subscribeAsync(filters, { qos: 1 }).then(
      (g) => g.map((x) => x.qos),
      (error: { packet?: { granted?: number[] } }) => error.packet?.granted,
    );
    expect(granted).toEqual(filters.map(() => 128));
    const ownGrants = await c.subscribeAsync([`devices/${a.deviceId}/twin/#`, `devices/${a.deviceId}/commands/#`, `devices/${a.deviceId}/telemetry/accepted`], {
      qos: 1,
    });
    expect(ownGrants.map((g) => g.qos)).toEqual([1, 1, 1]);

    // Mosquitto 2.0.11 drops a denied publish (it acknowledges a QoS 1 one under MQTT 3.1.1) and closes
    // the connection. Each attempt gets its own connection; then the device's own report goes through a
    // fresh one and is processed, so Doppel was listening all along.
    for (const [topic, body] of [
      [`devices/${b.deviceId}/twin/reported`, { state: { hijacked: true } }],
      [`devices/${b.deviceId}/telemetry`, { values: { x: 1 } }],
      [`devices/${a.deviceId}/twin/delta`, { version: 99, delta: {} }],
      ['$SYS/broker/hijack', { x: 1 }],
    ] as const) {
      const p = await device(a.deviceId, a.password);
      const gone = closed(p);
      await Promise.race([gone, p.publishAsync(topic, JSON.stringify(body), { qos: 1 }).catch(() => undefined)]);
    }
    const own = await device(a.deviceId, a.password);
    const messages = messageWaiter(own);
    await own.subscribeAsync(`devices/${a.deviceId}/twin/#`, { qos: 1 });
    await own.publishAsync(`devices/${a.deviceId}/twin/reported`, JSON.stringify({ state: { mine: true }, clientToken: 'own' }), { qos: 1 });
    await messages.next(`devices/${a.deviceId}/twin/reported/accepted`);
    // Its own telemetry receipts reach it (subscribePattern + publishClientReceive of its role).
    await own.subscribeAsync(`devices/${a.deviceId}/telemetry/accepted`, { qos: 1 });
    await own.publishAsync(`devices/${a.deviceId}/telemetry`, JSON.stringify({ seq: 1, values: { x: 1 } }), { qos: 1 });
    expect((await messages.next(`devices/${a.deviceId}/telemetry/accepted`, 30_000)).json).toEqual({ seq: 1 });
    expect(await twinVersion(b.deviceId)).toBe(0);
    expect(await storedPoints(t.database, b.deviceId)).toBe(0);
    expect(messages.seen.some((m) => m.topic.endsWith('/twin/delta') && m.payload.toString().includes('99'))).toBe(false);
  });

  it('reconcile heals a client deleted behind our back, a disabled state changed behind our back, and removes clients of devices Doppel forgot', async () => {
    const healed = await register();
    const disabled = await register();
    const forgotten = await register();
    await mutate('disableDevice', disabled.deviceId);
    await control([
      { command: 'deleteClient', username: healed.deviceId },
      { command: 'deleteRole', rolename: deviceRole(healed.deviceId) },
      { command: 'enableClient', username: disabled.deviceId },
    ]);
    // The device row goes away without Doppel's sync hearing of it (as if deleted while it was down).
    await t.database.prisma.device.delete({ where: { deviceId: forgotten.deviceId } });
    expect(await connectCode(healed.deviceId, healed.password)).toBe(REFUSED);
    expect(await connectCode(disabled.deviceId, disabled.password)).toBe(0);
    expect(await connectCode(forgotten.deviceId, forgotten.password)).toBe(0);

    const report = await t.running.dynsec!.reconcile();
    expect(report.failures).toBe(0);
    expect(report.createdClients).toBeGreaterThanOrEqual(1);

    expect(await connectCode(healed.deviceId, healed.password)).toBe(0);
    expect(await connectCode(disabled.deviceId, disabled.password)).toBe(REFUSED);
    expect(await connectCode(forgotten.deviceId, forgotten.password)).toBe(REFUSED);
    // The healed client got its ACL back too: still only its own topics.
    const c = await device(healed.deviceId, healed.password);
    const granted = await c.subscribeAsync(['#', `devices/${healed.deviceId}/twin/#`], { qos: 1 }).then(
      (g) => g.map((x) => x.qos),
      (error: { packet?: { granted?: number[] } }) => error.packet?.granted,
    );
    expect(granted).toEqual([128, 1]);

    // A second reconcile finds nothing to do.
    const again = await t.running.dynsec!.reconcile();
    expect(again).toMatchObject({ createdClients: 0, createdRoles: 0, updatedClients: 0, deletedClients: 0, deletedRoles: 0, failures: 0 });
  });

  it('start-up fails clearly with wrong admin credentials or an unreachable broker, instead of running unsynced', async () => {
    const base = {
      username: adminUser,
      password: adminPassword,
      logger: createLogger('silent'),
      batchSize: 10,
      timeoutMs: 5000,
      reconcileIntervalSeconds: 0,
      listDevices: async () => [],
      openSecret: () => undefined,
    };
    const wrong = createDynsecSync({ ...base, url: dynsecUrl!, password: `${adminPassword}-wrong` });
    await expect(wrong.start()).rejects.toThrow(/not authorized/i);
    await wrong.stop();
    const unreachable = createDynsecSync({ ...base, url: 'mqtt://127.0.0.1:1' });
    await expect(unreachable.start()).rejects.toThrow();
    await unreachable.stop();
  });

  // Last in this file: a second sync with its own device list treats every other Doppel device client
  // on this broker as an orphan and deletes it.
  it('reconcile works in bounded pages and batches: many devices with a page/batch size of 3', async () => {
    const key = randomBytes(32);
    const ids = Array.from({ length: 8 }, (_, i) => `${uniqueDeviceId('page')}-${i}`).sort();
    created.push(...ids);
    const passwords = new Map(ids.map((id) => [id, randomBytes(16).toString('hex')]));
    const pages: Array<[string | null, number]> = [];
    let list = ids;
    const sync = createDynsecSync({
      url: dynsecUrl!,
      username: adminUser,
      password: adminPassword,
      logger: createLogger('silent'),
      batchSize: 3,
      timeoutMs: 10_000,
      reconcileIntervalSeconds: 0,
      listDevices: async (after, limit) => {
        pages.push([after, limit]);
        return list
          .filter((id) => after === null || id > after)
          .slice(0, limit)
          .map((deviceId) => ({
            deviceId,
            active: true,
            brokerSecret: sealSecret(passwords.get(deviceId)!, key, deviceId),
          }));
      },
      openSecret: (deviceId, sealed) => openSecret(sealed, key, deviceId),
    });
    await sync.start(); // reconciles: creates all eight
    try {
      expect(pages.every(([, limit]) => limit === 3)).toBe(true);
      expect(pages.length).toBe(4); // 3 + 3 + 2, then an empty page
      for (const id of [ids[0]!, ids[7]!]) expect(await connectCode(id, passwords.get(id)!)).toBe(0);
      expect(await sync.reconcile()).toMatchObject({ createdClients: 0, createdRoles: 0, updatedClients: 0, failures: 0 });
      list = ids.slice(0, 2);
      const report = await sync.reconcile();
      expect(report.deletedClients).toBeGreaterThanOrEqual(6);
      expect(await connectCode(ids[7]!, passwords.get(ids[7]!)!)).toBe(REFUSED);
      expect(await connectCode(ids[1]!, passwords.get(ids[1]!)!)).toBe(0);
    } finally {
      await sync.stop();
    }
  });
});
