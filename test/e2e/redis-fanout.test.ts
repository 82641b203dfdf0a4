import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiToken } from '../../src/auth/tokens.ts';
import { createEventBus, type TelemetryEvent } from '../../src/events/bus.ts';
import { createRedisFanout, type FanoutBus } from '../../src/events/redis-fanout.ts';
import { createLogger } from '../../src/logger.ts';
import { Metrics } from '../../src/metrics.ts';
import { WS_ACTIVE_METRIC } from '../../src/http/graphql.ts';
import { HANDLED_METRIC } from '../../src/mqtt/bridge.ts';
import { externalRedisUrl, modeName, scaleOutPossible, startTestServer, subscribe, uniqueDeviceId, type TestServer } from '../support/harness.ts';

// Live events across instances through Redis (docs/operations.md, REDIS_URL). First one server and "another
// instance" that is only a fan-out on the same channel (both modes); then two real servers sharing
// PostgreSQL, a Mosquitto shared subscription and Redis.
const suite = externalRedisUrl ? describe : describe.skip;
const scaleOutSuite = externalRedisUrl && scaleOutPossible ? describe : describe.skip;

const LIVE = /* GraphQL */ `
  subscription FanOutLive($deviceId: String) { telemetry(deviceId: $deviceId) { deviceId points { metric ts value } } }
`;
interface Live {
  telemetry: { deviceId: string; points: Array<{ metric: string; ts: string; value: number }> };
}

async function register(t: TestServer): Promise<{ deviceId: string; uuid: string; password: string }> {
  const deviceId = uniqueDeviceId('fan');
  const result = await t.gql(
    `mutation R($id: String!) { registerDevice(input: {deviceId: $id}) { ... on DeviceWithCredentials { credentials { password } } } }`,
    { id: deviceId },
  );
  const { password } = (result.data as { registerDevice: { credentials: { password: string } } }).registerDevice.credentials;
  const { id: uuid } = await t.database.prisma.device.findFirstOrThrow({ where: { deviceId }, select: { id: true } });
  return { deviceId, uuid, password };
}

suite(`live events through Redis, one server and another instance (${modeName})`, () => {
  const channel = `doppel:test:${randomBytes(4).toString('hex')}`;
  let t: TestServer;
  let other: FanoutBus;
  beforeAll(async () => {
    t = await startTestServer({ REDIS_URL: externalRedisUrl!, REDIS_EVENTS_CHANNEL: channel });
    other = await createRedisFanout(createEventBus(), { url: externalRedisUrl!, channel, logger: createLogger('silent'), metrics: new Metrics() });
  });
  afterAll(async () => {
    await other?.close();
    await t?.stop();
  });

  it('telemetry a device sends to this server reaches the other instance', async () => {
    const d = await register(t);
    const seen = other.subscribe('telemetry', (e) => e.deviceId === d.deviceId);
    const client = await t.mqtt({ username: d.deviceId, password: d.password, clientId: `${d.deviceId}-c` });
    await client.publishAsync(`devices/${d.deviceId}/telemetry`, JSON.stringify({ ts: 1_700_000_000_000, values: { temp: 21.5 } }), { qos: 1 });
    const event = (await seen.next()).value as TelemetryEvent;
    expect(event).toMatchObject({
      deviceId: d.deviceId,
      deviceUuid: d.uuid,
      tenantId: 'default',
      points: [{ metric: 'temp', ts: 1_700_000_000_000, value: 21.5 }],
    });
    await seen.return?.();
  });

  it("telemetry the other instance stored reaches this server's subscribers", async () => {
    const d = await register(t);
    const active = t.running.metrics.get(WS_ACTIVE_METRIC);
    const sub = subscribe<Live>(t.ws(), LIVE, { deviceId: d.deviceId });
    await t.waitForSubscriptions(active + 1);
    other.publish('telemetry', {
      deviceUuid: d.uuid,
      deviceId: d.deviceId,
      tenantId: 'default',
      points: [{ metric: 'rpm', ts: 1_700_000_000_500, value: 900, isBool: false }],
      at: Date.now(),
    });
    const event = await sub.next();
    expect(event.data?.telemetry).toEqual({ deviceId: d.deviceId, points: [{ metric: 'rpm', ts: new Date(1_700_000_000_500).toISOString(), value: 900 }] });
    sub.unsubscribe();
  });

  it('a token revoked through the other instance ends its connections here at once', async () => {
    const d = await register(t);
    const { id, token } = await createApiToken(t.database.prisma, { name: 'fan-out victim', role: 'viewer', tenantId: 'default' });
    const client = t.ws(token);
    const closed = new Promise<number>((resolve) => client.on('closed', (event) => resolve((event as { code: number }).code)));
    const sub = subscribe<Live>(client, LIVE, { deviceId: d.deviceId });
    // Streaming (an event from the other instance arrives), so the connection is watched.
    let streaming = false;
    void sub.next().then(() => (streaming = true));
    while (!streaming) {
      other.publish('telemetry', {
        deviceUuid: d.uuid,
        deviceId: d.deviceId,
        tenantId: 'default',
        points: [{ metric: 'x', ts: 1_700_000_000_000, value: 1, isBool: false }],
        at: Date.now(),
      });
      await new Promise((r) => setTimeout(r, 100));
    }
    // What the instance that revoked it publishes after storing the revocation.
    other.publish('tokenRevoked', { tokenId: id, tenantId: 'default', at: Date.now() });
    expect(await closed).toBe(4403);
  });
});

scaleOutSuite('two servers, one shared subscription, one Redis', () => {
  const channel = `doppel:test:${randomBytes(4).toString('hex')}`;
  let a: TestServer;
  let b: TestServer;
  beforeAll(async () => {
    a = await startTestServer({ REDIS_URL: externalRedisUrl!, REDIS_EVENTS_CHANNEL: channel });
    b = await startTestServer({ REDIS_URL: externalRedisUrl!, REDIS_EVENTS_CHANNEL: channel }, { peer: a });
  });
  afterAll(async () => {
    await b?.stop();
    await a?.stop();
  });

  it('a subscriber on either server gets every message, whichever instance the broker gave it to', async () => {
    const d = await register(a);
    const atA = subscribe<Live>(a.ws(), LIVE, { deviceId: d.deviceId });
    const atB = subscribe<Live>(b.ws(), LIVE, { deviceId: d.deviceId });
    await a.waitForSubscriptions(1);
    await b.waitForSubscriptions(1);
    const handled = () => [a, b].map((s) => s.running.metrics.get(HANDLED_METRIC, { kind: 'telemetry' }));
    const before = handled();
    const client = await a.mqtt({ username: d.deviceId, password: d.password, clientId: `${d.deviceId}-c` });
    const n = 40;
    const base = 1_700_000_100_000;
    for (let i = 0; i < n; i++) await client.publishAsync(`devices/${d.deviceId}/telemetry`, JSON.stringify({ ts: base + i, values: { v: i } }), { qos: 1 });

    for (const sub of [atA, atB]) {
      const values = new Set<number>();
      while (values.size < n) for (const p of (await sub.next()).data!.telemetry.points) values.add(p.value);
      expect([...values].sort((x, y) => x - y)).toEqual(Array.from({ length: n }, (_, i) => i));
    }
    // The broker split the messages: without the fan-out each subscriber would have missed some.
    const after = handled();
    expect(after[0]! - before[0]!).toBeGreaterThan(0);
    expect(after[1]! - before[1]!).toBeGreaterThan(0);
  });
});
