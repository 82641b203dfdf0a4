import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { MAX_SAMPLE_INTERVAL_MS } from '../../src/domain/telemetry/sampling.ts';
import { modeName, startTestServer, subscribe, uniqueDeviceId, type TestServer } from '../support/harness.ts';

const LIVE = /* GraphQL */ `
  subscription Live($deviceId: String, $metrics: [String!], $sampleIntervalMs: Int) {
    telemetry(deviceId: $deviceId, metrics: $metrics, sampleIntervalMs: $sampleIntervalMs) { deviceId at points { metric ts value } }
  }
`;

interface Live {
  telemetry: { deviceId: string; at: string; points: Array<{ metric: string; ts: string; value: number }> };
}

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.stop();
});

async function device(): Promise<{ deviceId: string; client: MqttClient }> {
  const deviceId = uniqueDeviceId('live');
  const result = await t.gql(
    `mutation R($id: String!) { registerDevice(input: {deviceId: $id}) { ... on DeviceWithCredentials { credentials { password } } } }`,
    { id: deviceId },
  );
  const { password } = (result.data as { registerDevice: { credentials: { password: string } } }).registerDevice.credentials;
  return { deviceId, client: await t.mqtt({ username: deviceId, password, clientId: `${deviceId}-live` }) };
}

function publish(client: MqttClient, deviceId: string, body: unknown) {
  return client.publishAsync(`devices/${deviceId}/telemetry`, JSON.stringify(body), { qos: 1 });
}

type Sub = ReturnType<typeof subscribe<Live>>;

/** Reads events until one carries `metric` at `ts`; returns all read. */
async function until(sub: Sub, metric: string, ts: number): Promise<Live['telemetry'][]> {
  const seen: Live['telemetry'][] = [];
  for (;;) {
    const e = await sub.next();
    expect(e.errors).toBeUndefined();
    seen.push(e.data!.telemetry);
    if (e.data!.telemetry.points.some((p) => p.metric === metric && Date.parse(p.ts) === ts)) return seen;
  }
}

describe(`live telemetry (${modeName})`, () => {
  it('samples per subscriber: leading edge at once, at most one update per interval, newest values only, and the latest value always arrives', async () => {
    const { deviceId, client } = await device();
    const ws = t.ws();
    const every = subscribe<Live>(ws, LIVE, { deviceId });
    const hourly = subscribe<Live>(ws, LIVE, { deviceId, sampleIntervalMs: MAX_SAMPLE_INTERVAL_MS });
    const interval = 500;
    const sampled = subscribe<Live>(ws, LIVE, { deviceId, sampleIntervalMs: interval });
    await t.waitForSubscriptions(3);

    const ts0 = Date.now() - 60_000;
    const started = performance.now();
    await publish(client, deviceId, { ts: ts0, values: { temp: 0 } });
    // The first update of a quiet device is not held back, whatever the interval.
    for (const sub of [every, hourly, sampled]) expect((await sub.next()).data!.telemetry.points).toMatchObject([{ metric: 'temp', value: 0 }]);

    // Then a burst, far faster than either interval: values 1..40, and a second metric once, early.
    const n = 40;
    await Promise.all(
      Array.from({ length: n }, (_, i) => publish(client, deviceId, { ts: ts0 + i + 1, values: i === 0 ? { temp: 1, hum: 50 } : { temp: i + 1 } })),
    );

    // Without sampling, every value arrives, in order.
    const all = (await until(every, 'temp', ts0 + n)).flatMap((e) => e.points.filter((p) => p.metric === 'temp').map((p) => p.value));
    expect(all).toEqual(Array.from({ length: n }, (_, i) => i + 1));

    // Sampled: the trailing edge brings the latest value; values only move forward; few updates.
    const got = await until(sampled, 'temp', ts0 + n);
    const elapsed = performance.now() - started;
    const temps = got.flatMap((e) => e.points.filter((p) => p.metric === 'temp').map((p) => Date.parse(p.ts)));
    expect(temps).toEqual([...temps].sort((a, b) => a - b));
    expect(new Set(temps).size).toBe(temps.length);
    expect(got.flatMap((e) => e.points).filter((p) => p.metric === 'hum')).toEqual([expect.objectContaining({ value: 50 })]);
    for (const e of got) expect(new Set(e.points.map((p) => p.metric)).size).toBe(e.points.length); // one point per metric per update
    // Updates go out at least `interval` apart on the server, so the whole run bounds how many there can be
    // (counting the leading-edge update read above).
    expect(got.length + 1).toBeLessThanOrEqual(1 + Math.floor(elapsed / interval));
    expect(got.at(-1)!.points.find((p) => p.metric === 'temp')!.value).toBe(n);

    // The hourly subscriber got the leading edge and is now inside its interval: nothing more.
    await expect(hourly.next(300)).rejects.toThrow(/no subscription event/);
  });

  it('filters metrics before sampling, and keeps devices apart', async () => {
    const a = await device();
    const b = await device();
    const sub = subscribe<Live>(t.ws(), LIVE, { metrics: ['temp'], sampleIntervalMs: 200 });
    await t.waitForSubscriptions(1);
    const ts = Date.now() - 1000;
    await publish(a.client, a.deviceId, { ts, values: { hum: 1 } }); // no wanted metric: nothing
    await publish(a.client, a.deviceId, { ts: ts + 1, values: { temp: 1, hum: 2 } });
    await publish(b.client, b.deviceId, { ts: ts + 1, values: { temp: 2 } });
    const events = [(await sub.next()).data!.telemetry, (await sub.next()).data!.telemetry];
    expect(events.map((e) => [e.deviceId, e.points.map((p) => [p.metric, p.value])]).sort()).toEqual(
      [
        [a.deviceId, [['temp', 1]]],
        [b.deviceId, [['temp', 2]]],
      ].sort(),
    );
  });

  it.each([0, 5, MAX_SAMPLE_INTERVAL_MS + 1])('refuses sampleIntervalMs %i with BAD_USER_INPUT', async (ms) => {
    const sub = subscribe<Live>(t.ws(), LIVE, { sampleIntervalMs: ms });
    const result = await sub.next();
    expect(result.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(result.errors?.[0]?.message).toMatch(/sampleIntervalMs must be an integer between 10 and 3600000/);
  });
});
