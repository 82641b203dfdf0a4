import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HANDLED_METRIC } from '../../src/mqtt/bridge.ts';
import { scaleOutPossible, startTestServer, uniqueDeviceId, type TestServer } from '../support/harness.ts';

// Two Doppel instances sharing one PostgreSQL and one broker group (docs/operations.md): the broker hands each
// message to one of them, both write the same device's twin, and nothing is lost or doubled.
const suite = scaleOutPossible ? describe : describe.skip;

let a: TestServer;
let b: TestServer;
beforeAll(async () => {
  if (!scaleOutPossible) return;
  a = await startTestServer();
  b = await startTestServer({}, { peer: a });
});
afterAll(async () => {
  await b?.stop();
  await a?.stop();
});

suite('two instances, one database, one shared subscription group', () => {
  it('splits one device’s reports between the instances and converges on every change, each answered once', async () => {
    const deviceId = uniqueDeviceId('scale');
    const registered = await a.gql(
      `mutation R($id: String!) { registerDevice(input: {deviceId: $id}) { ... on DeviceWithCredentials { credentials { password } } } }`,
      { id: deviceId },
    );
    const { password } = (registered.data as { registerDevice: { credentials: { password: string } } }).registerDevice.credentials;
    const client = await a.mqtt({ username: deviceId, password, clientId: `${deviceId}-c` });
    const replies: Array<{ clientToken: string; version: number }> = [];
    client.on('message', (topic, payload) => {
      if (topic.endsWith('/twin/reported/accepted')) replies.push(JSON.parse(payload.toString()) as { clientToken: string; version: number });
    });
    await client.subscribeAsync(`devices/${deviceId}/twin/reported/+`, { qos: 1 });

    const handledBefore = [a, b].map((s) => s.running.metrics.get(HANDLED_METRIC, { kind: 'twinReported' }));
    const n = 100;
    const base = Date.now() - 10_000;
    // Pipelined, not one at a time: both instances write the same twin concurrently.
    await Promise.all(
      Array.from({ length: n }, (_, i) =>
        client.publishAsync(`devices/${deviceId}/twin/reported`, JSON.stringify({ state: { [`k${i}`]: i, last: i }, ts: base + i, clientToken: `r${i}` }), {
          qos: 1,
        }),
      ),
    );
    await expect.poll(() => replies.length, { timeout: 20_000 }).toBe(n);
    expect(new Set(replies.map((r) => r.clientToken)).size).toBe(n);

    const handled = [a, b].map((s, i) => s.running.metrics.get(HANDLED_METRIC, { kind: 'twinReported' }) - handledBefore[i]!);
    expect(handled[0]! + handled[1]!).toBe(n);
    expect(Math.min(...handled)).toBeGreaterThan(0);

    const twin = await a.database.prisma.twin.findFirstOrThrow({ where: { device: { deviceId } } });
    const reported = twin.reported as Record<string, number>;
    for (let i = 0; i < n; i++) expect(reported[`k${i}`]).toBe(i);
    expect(reported.last).toBe(n - 1); // the newest timestamp wins, whatever order the instances wrote in
    expect(twin.version).toBe(n);
    // Both instances read the same twin.
    const viaB = await b.gql(`query T($id: String!) { device(deviceId: $id) { twin { version } } }`, { id: deviceId });
    expect(viaB.data).toEqual({ device: { twin: { version: n } } });
  });
});
