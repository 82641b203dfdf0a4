/**
 * The simulator against a real Doppel server (embedded broker, or the external broker named by
 * DOPPEL_TEST_MQTT_URL), run programmatically: devices register through GraphQL, speak MQTT, and
 * follow desired state set through GraphQL.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSimulator, type Simulator, type SimulatorOptions } from '../../src/simulator/simulator.ts';
import { embeddedBroker, modeName, startTestServer, subscribe, uniqueDeviceId, type TestServer } from '../support/harness.ts';
import { createModel, GET_COMMAND, SEND } from '../support/commands.ts';

// Plain strings (no graphql() tag or magic comment): codegen must not pick these up.
const DEVICE = `query SimDevice($deviceId: String!) {
  device(deviceId: $deviceId) { deviceId connected tags model { name } twin { version reported desired delta } }
}`;
const UPDATE_DESIRED = `mutation SimUpdateDesired($deviceId: String!, $patch: JSON!) {
  updateDesired(deviceId: $deviceId, patch: $patch) { __typename ... on UpdateDesiredPayload { version } }
}`;
const CONNECTION = `subscription SimConnection($deviceId: String) { deviceConnection(deviceId: $deviceId) { deviceId connected } }`;

interface DeviceView {
  deviceId: string;
  connected: boolean;
  tags: string[];
  model: { name: string } | null;
  twin: { version: number; reported: Record<string, unknown>; desired: Record<string, unknown>; delta: Record<string, unknown> };
}

let t: TestServer;
let dir: string;
const running: Simulator[] = [];

beforeAll(async () => {
  t = await startTestServer();
  dir = await mkdtemp(path.join(tmpdir(), 'doppel-sim-it-'));
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});
afterAll(async () => {
  await t?.stop();
  await rm(dir, { recursive: true, force: true });
});

function simulator(overrides: Partial<SimulatorOptions> & { prefix: string }, lines: string[] = []): Simulator {
  const sim = createSimulator(
    {
      url: t.httpUrl,
      token: t.token,
      mqttUrl: t.mqttUrl,
      devices: 2,
      model: 'thermostat',
      intervalMs: 200,
      credentialsFile: path.join(dir, 'credentials.json'),
      connectTimeoutMs: 10_000,
      ...overrides,
    },
    { log: (line) => lines.push(line) },
  );
  running.push(sim);
  return sim;
}

async function device(deviceId: string): Promise<DeviceView> {
  const result = await t.gql<{ device: DeviceView | null }, { deviceId: string }>(DEVICE, { deviceId });
  if (!result.data?.device) throw new Error(`no device ${deviceId}: ${JSON.stringify(result)}`);
  return result.data.device;
}

/** Retries `check` until it stops throwing. */
async function eventually<T>(check: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

describe(`simulator (${modeName})`, () => {
  it('registers its devices, reports their state and follows desired state', async () => {
    const prefix = uniqueDeviceId('sim');
    const [first, second] = [`${prefix}-1`, `${prefix}-2`];
    const lines: string[] = [];
    const sim = simulator({ prefix }, lines);
    await sim.start();
    expect(sim.devices.map((d) => d.deviceId)).toEqual([first, second]);

    for (const id of [first, second]) {
      const view = await eventually(async () => {
        const d = await device(id);
        expect(d.connected).toBe(true);
        expect(d.twin.reported).toMatchObject({ targetTemperature: 21, mode: 'heat', fan: 'auto', firmware: '1.0.0' });
        return d;
      });
      // The temperature is a measurement: telemetry, never the twin (which holds the settings).
      expect(view.twin.reported).not.toHaveProperty('temperature');
      // Its reports carry seq (contract v1.1), stored on every entry it wrote.
      const row = await t.database.prisma.twin.findFirstOrThrow({ where: { device: { deviceId: id } }, select: { reportedMeta: true } });
      // (The root key `[]` only remembers the section's clock; it belongs to no write.)
      const entries = Object.entries(row.reportedMeta as Record<string, { s?: number }>).flatMap(([key, entry]) => (key === '[]' ? [] : [entry]));
      expect(entries.length).toBeGreaterThan(0);
      for (const entry of entries) expect(entry.s).toBeGreaterThan(Date.parse('2020-01-01') * 1000);
      expect(view.tags).toContain('sim');
      expect(view.model?.name).toBe('thermostat');
    }

    const updated = await t.gql<{ updateDesired: { __typename: string } }, { deviceId: string; patch: unknown }>(UPDATE_DESIRED, {
      deviceId: first,
      patch: { targetTemperature: 25 },
    });
    expect(updated.data?.updateDesired.__typename).toBe('UpdateDesiredPayload');
    await eventually(async () => {
      const d = await device(first);
      expect(d.twin.delta).toEqual({});
      expect(d.twin.reported.targetTemperature).toBe(25);
    });
    expect(sim.devices[0]!.state.targetTemperature).toBe(25);
    expect((await device(second)).twin.reported.targetTemperature).toBe(21);

    // Keys the thermostat knows nothing about are followed too (a generic deep merge).
    await t.gql(UPDATE_DESIRED, { deviceId: second, patch: { display: { brightness: 40, theme: 'dark' } } });
    await eventually(async () => {
      const d = await device(second);
      expect(d.twin.delta).toEqual({});
      expect(d.twin.reported.display).toEqual({ brightness: 40, theme: 'dark' });
    });

    const label = (id: string) => id.padEnd(second.length);
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^${label(first)} ← delta v\\d+ \\{"targetTemperature":25\\}$`)));
    expect(lines).toContainEqual(
      expect.stringMatching(new RegExp(`^${label(first)} → reported v\\d+ \\{"targetTemperature":25\\} \\(applied delta v\\d+\\)$`)),
    );
    expect(lines).toContainEqual(
      expect.stringMatching(new RegExp(`^${label(first)} → reported v\\d+ \\{"targetTemperature":21,"mode":"heat",.*\\(full state\\)$`)),
    );
    expect(lines.filter((l) => l.includes('→ reported') && l.includes('"temperature"'))).toEqual([]);
    expect(lines).toContainEqual(`${label(first)} registered; secret saved to ${path.join(dir, 'credentials.json')}`);

    await sim.stop();
    expect(lines.filter((l) => l.endsWith('offline (disconnected cleanly)'))).toHaveLength(2);
    for (const id of [first, second]) await eventually(async () => expect((await device(id)).connected).toBe(false));

    if (process.env.SIM_TEST_PRINT) console.log(lines.join('\n'));
    const file = path.join(dir, 'credentials.json');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const stored = JSON.parse(await readFile(file, 'utf8')) as { devices: Record<string, { username: string; password: string }> };
    expect(stored.devices[first]).toMatchObject({ username: first, password: expect.any(String) });
  });

  it('connects over mqtts:// trusting the CA it is given', async () => {
    if (!t.mqttTlsUrl) return; // an external broker in this mode: no TLS listener of ours
    const prefix = uniqueDeviceId('simtls');
    const sim = simulator({ prefix, devices: 1, mqttUrl: t.mqttTlsUrl.replace('127.0.0.1', 'localhost'), ca: t.caPem! });
    await sim.start();
    await eventually(async () => {
      const d = await device(`${prefix}-1`);
      expect(d.connected).toBe(true);
      expect(d.twin.reported).toMatchObject({ mode: 'heat' });
    });
  });

  it('publishes telemetry with seq and counts what the receipts confirm', async () => {
    const prefix = uniqueDeviceId('simrc');
    const sim = simulator({ prefix, devices: 1, intervalMs: 100 });
    await sim.start();
    const [sd] = sim.devices;
    await eventually(async () => expect(sd!.telemetry.confirmed).toBeGreaterThanOrEqual(5), 60_000);
    await sim.stop();
    const counts = sd!.telemetry;
    expect(counts).toMatchObject({ dropped: 0, abandoned: 0 });
    expect(counts.confirmed + counts.unconfirmed).toBe(counts.sent);
    // Confirmed means stored: every confirmed seq has its point.
    const d = await t.database.prisma.device.findUniqueOrThrow({ where: { deviceId: `${prefix}-1` } });
    const rows = await t.database.prisma.telemetryPoint.findMany({ where: { deviceId: d.id, metric: 'temperature' }, select: { seq: true } });
    const seqs = new Set(rows.map((r) => Number(r.seq)));
    for (let s = 1; s <= counts.confirmed; s++) expect(seqs.has(s), `seq ${s}`).toBe(true);
  }, 120_000);

  it('reuses stored secrets and resumes from the twin; rotates a secret it does not have', async () => {
    const prefix = uniqueDeviceId('sim');
    const id = `${prefix}-1`;
    const credentialsFile = path.join(dir, `${prefix}.json`);
    const firstRun = simulator({ prefix, devices: 1, credentialsFile });
    await firstRun.start();
    await t.gql(UPDATE_DESIRED, { deviceId: id, patch: { targetTemperature: 23, mode: 'cool' } });
    await eventually(async () => expect((await device(id)).twin.reported).toMatchObject({ targetTemperature: 23, mode: 'cool' }));
    await firstRun.stop();
    const before = JSON.parse(await readFile(credentialsFile, 'utf8')) as { devices: Record<string, { password: string }> };

    const reuse: string[] = [];
    const secondRun = simulator({ prefix, devices: 1, credentialsFile }, reuse);
    await secondRun.start();
    expect(reuse).toContainEqual(expect.stringContaining(`${id} already registered; using its secret from`));
    // A restarted thermostat remembers its settings: it never reports the factory defaults over them.
    expect(reuse).toContainEqual(expect.stringMatching(new RegExp(`^${id} resumed from its twin v\\d+`)));
    expect(secondRun.devices[0]!.state).toMatchObject({ targetTemperature: 23, mode: 'cool' });
    expect(reuse.filter((l) => l.includes('← delta'))).toEqual([]);
    await secondRun.stop();

    await rm(credentialsFile);
    const rotate: string[] = [];
    const thirdRun = simulator({ prefix, devices: 1, credentialsFile }, rotate);
    await thirdRun.start();
    expect(rotate).toContainEqual(expect.stringContaining(`${id} already registered but its secret is not in`));
    const after = JSON.parse(await readFile(credentialsFile, 'utf8')) as { devices: Record<string, { password: string }> };
    expect(after.devices[id]!.password).not.toBe(before.devices[id]!.password);
    await eventually(async () => expect((await device(id)).connected).toBe(true));
  });

  it.skipIf(!embeddedBroker)('issues a new secret when the broker refuses the stored one', async () => {
    const prefix = uniqueDeviceId('sim');
    const credentialsFile = path.join(dir, `${prefix}.json`);
    const firstRun = simulator({ prefix, devices: 1, credentialsFile });
    await firstRun.start();
    await firstRun.stop();
    const id = `${prefix}-1`;
    await writeFile(credentialsFile, JSON.stringify({ version: 1, devices: { [id]: { username: id, password: 'stale-secret' } } }), { mode: 0o600 });

    const lines: string[] = [];
    const sim = simulator({ prefix, devices: 1, credentialsFile }, lines);
    await sim.start();
    expect(lines).toContainEqual(expect.stringContaining(`${id} ! the broker refused the stored secret`));
    const stored = JSON.parse(await readFile(credentialsFile, 'utf8')) as { devices: Record<string, { password: string }> };
    expect(stored.devices[id]!.password).not.toBe('stale-secret');
    await eventually(async () => expect((await device(id)).connected).toBe(true));
  });

  it('answers commands: runs what it knows and reports the change, rejects what it does not', async () => {
    const model = uniqueDeviceId('thermo');
    const created = await createModel(t, {
      name: model,
      commands: [
        { name: 'setTargetTemperature', params: { type: 'object', properties: { value: { type: 'number' } }, required: ['value'] } },
        { name: 'selfUpdate', params: { type: 'object' } },
      ],
    });
    expect(created.__typename).toBe('DeviceModel');
    const prefix = uniqueDeviceId('simcmd');
    const lines: string[] = [];
    const sim = simulator({ prefix, devices: 1, model }, lines);
    await sim.start();
    const deviceId = `${prefix}-1`;
    const send = async (name: string, params: unknown) => {
      const r = await t.gql<{ sendCommand: { __typename: string; commandId: string } }, unknown>(SEND, { input: { deviceId, name, params } });
      expect(r.data?.sendCommand.__typename).toBe('Command');
      return r.data!.sendCommand.commandId;
    };
    const settled = (commandId: string, status: string) =>
      eventually(async () => {
        const r = await t.gql<{ command: { status: string; result: unknown; error: unknown } }, unknown>(GET_COMMAND, { commandId });
        expect(r.data?.command.status).toBe(status);
        return r.data!.command;
      });

    const ok = await settled(await send('setTargetTemperature', { value: 24 }), 'SUCCEEDED');
    expect(ok.result).toEqual({ targetTemperature: 24 });
    await eventually(async () => expect((await device(deviceId)).twin.reported.targetTemperature).toBe(24));
    const refused = await settled(await send('selfUpdate', {}), 'REJECTED');
    expect(refused.error).toMatchObject({ code: 'UNKNOWN_COMMAND' });
    expect(lines.some((l) => l.includes('← command setTargetTemperature') && l.includes('SUCCEEDED'))).toBe(true);
  });

  it('flaps: drops off without a DISCONNECT (the Last Will says offline) and comes back', async () => {
    const prefix = uniqueDeviceId('sim');
    const id = `${prefix}-1`;
    const events = subscribe<{ deviceConnection: { deviceId: string; connected: boolean } }>(t.ws(), CONNECTION, { deviceId: id });
    await t.waitForSubscriptions(1);
    const lines: string[] = [];
    const sim = simulator({ prefix, devices: 1, intervalMs: 300, flap: 1, flapDowntimeMs: [1000, 1000] }, lines);
    await sim.start();

    const seen: boolean[] = [];
    while (seen.join() !== 'true,false,true') {
      const event = await events.next(10_000);
      const connected = event.data?.deviceConnection.connected;
      if (typeof connected !== 'boolean') throw new Error(`unexpected event ${JSON.stringify(event)}`);
      if (seen.at(-1) !== connected) seen.push(connected);
    }
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^${id} ↯ dropped off abruptly \\(flap\\)`)));
    // The broker may report the connection before the device has subscribed and announced itself.
    await eventually(async () => expect(lines).toContain(`${id} online again`));
    events.unsubscribe();
    if (process.env.SIM_TEST_PRINT) console.log(lines.join('\n'));
  });
});
