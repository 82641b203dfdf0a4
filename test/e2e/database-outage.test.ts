/**
 * A real database outage, without stopping the shared PostgreSQL: the server reaches its database
 * through a TCP proxy (test/support/tcp-proxy.ts) that is cut for 2 s — new connections refused, open
 * ones reset, as when PostgreSQL stops — and then restored. A device publishes QoS 1 telemetry all
 * through it and reports its twin during the cut. Asserted (issue 18, "Recovery is immediate"):
 *  - zero loss: every telemetry message the device saw PUBACKed is stored, exactly once;
 *  - twin reports sent during the cut are held, then applied;
 *  - /readyz answers 503 during the cut and 200 after, and the dependency gauge/outage counter say so;
 *  - GraphQL answers UNAVAILABLE (HTTP 503) during the cut, for a mutation and for a query, promptly;
 *  - ingestion resumes after the cut without restarting the server (that it resumes, not how fast).
 *
 * Runs only against PostgreSQL (DOPPEL_TEST_DATABASE_URL); with either broker.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEPENDENCY_OUTAGES_METRIC, DEPENDENCY_UP_METRIC } from '../../src/http/readiness.ts';
import { createScratchDatabase, externalDatabaseUrl, startTestServer, uniqueDeviceId, type TestServer } from '../support/harness.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';

const suite = externalDatabaseUrl ? describe : describe.skip;

const CUT_MS = 2000;
/** Telemetry publishes outstanding at once (the embedded broker PUBACKs only once stored). */
const WINDOW = 16;

let t: TestServer;
let proxy: TcpProxy;
let dropScratch: (() => Promise<void>) | undefined;

async function readyStatus(): Promise<number> {
  return (await fetch(`${t.running.url}/readyz`)).status;
}

async function waitFor(what: string, predicate: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** Publishes telemetry (one metric, one distinct `ts` per message) with a window of outstanding QoS 1 publishes. */
function telemetryStream(client: MqttClient, deviceId: string) {
  const baseTs = Date.now() - 60_000;
  const acked = new Set<number>();
  const failed: unknown[] = [];
  let sent = 0;
  let inFlight = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      if (inFlight >= WINDOW) {
        await sleep(5);
        continue;
      }
      const ts = baseTs + sent++;
      inFlight++;
      client
        .publishAsync(`devices/${deviceId}/telemetry`, JSON.stringify({ ts, values: { n: ts - baseTs } }), { qos: 1 })
        .then(
          () => acked.add(ts),
          (error: unknown) => failed.push(error),
        )
        .finally(() => inFlight--);
      await sleep(10);
    }
  })();
  return {
    acked,
    failed,
    get sent() {
      return sent;
    },
    /** Stops publishing and waits for every outstanding publish to be PUBACKed (or to fail). */
    async stop() {
      running = false;
      await loop;
      await waitFor('the outstanding publishes to be acknowledged', async () => inFlight === 0, 90_000);
    },
  };
}

async function storedTimestamps(deviceId: string): Promise<number[]> {
  const rows = await t.database.sql.query<{ ts: Date }>(
    `SELECT p.ts FROM "TelemetryPoint" p JOIN "Device" d ON d.id = p."deviceId" WHERE d."deviceId" = $1 AND p.metric = 'n'`,
    [deviceId],
  );
  return rows.map((r) => new Date(r.ts).getTime());
}

function metricValue(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

suite('a database outage through a TCP proxy (PostgreSQL cut for 2 s)', () => {
  beforeAll(async () => {
    const scratch = await createScratchDatabase(externalDatabaseUrl!);
    dropScratch = scratch.drop;
    const direct = new URL(scratch.url);
    proxy = await startTcpProxy({ host: direct.hostname, port: Number(direct.port || 5432) });
    const proxied = new URL(scratch.url);
    proxied.hostname = '127.0.0.1';
    proxied.port = String(proxy.port);
    t = await startTestServer({ DATABASE_URL: proxied.toString() });
  }, 120_000);
  afterAll(async () => {
    await t?.stop();
    await proxy?.close();
    await dropScratch?.();
  }, 120_000);

  it('loses nothing acknowledged, holds twin reports, is not ready and answers UNAVAILABLE during the cut, and resumes after it', async () => {
    const deviceId = uniqueDeviceId('outage');
    const registered = await t.gql(
      `mutation R($id: String!) { registerDevice(input: {deviceId: $id}) { ... on DeviceWithCredentials { credentials { password } } } }`,
      { id: deviceId },
    );
    const { password } = (registered.data as { registerDevice: { credentials: { password: string } } }).registerDevice.credentials;
    const client = await t.mqtt({ username: deviceId, password, clientId: `${deviceId}-c` });
    expect(await readyStatus()).toBe(200);

    const stream = telemetryStream(client, deviceId);
    await waitFor('telemetry to flow', async () => stream.acked.size >= 20);

    await proxy.pause();
    const cutAt = Date.now();
    // Twin reports during the cut: held (not refused), applied once the database is back.
    const reports = [0, 1, 2].map((i) => client.publishAsync(`devices/${deviceId}/twin/reported`, JSON.stringify({ state: { [`r${i}`]: i } }), { qos: 1 }));

    // Readiness says so (the check is bounded: it answers even though the database does not).
    await waitFor('/readyz to answer 503', async () => (await readyStatus()) === 503, 30_000);
    const body = (await (await fetch(`${t.running.url}/readyz`)).json()) as { checks: { database: boolean } };
    expect(body.checks.database).toBe(false);

    // The API fails fast with a typed UNAVAILABLE (503), for a write and for a read.
    const update = await t.gql(`mutation U($id: String!) { updateDesired(deviceId: $id, patch: {mode: "eco"}) { __typename } }`, { id: deviceId });
    expect(update.status).toBe(503);
    expect(update.errors?.[0]?.extensions?.code).toBe('UNAVAILABLE');
    const query = await t.gql(`query Q($id: String!) { device(deviceId: $id) { deviceId } }`, { id: deviceId });
    expect(query.status).toBe(503);
    expect(query.errors?.[0]?.extensions?.code).toBe('UNAVAILABLE');

    const metricsDuring = await (await fetch(`${t.running.url}/metrics`)).text();
    expect(metricValue(metricsDuring, DEPENDENCY_UP_METRIC, '{dependency="database"}')).toBe(0);
    expect(metricValue(metricsDuring, DEPENDENCY_OUTAGES_METRIC, '{dependency="database"}')).toBeGreaterThanOrEqual(1);

    await sleep(Math.max(0, CUT_MS - (Date.now() - cutAt)));
    const ackedBeforeResume = stream.acked.size;
    await proxy.resume();

    // Ingestion resumes without a restart: new messages are acknowledged and stored.
    await waitFor('/readyz to answer 200 again', async () => (await readyStatus()) === 200);
    await waitFor('telemetry to flow again', async () => stream.acked.size >= ackedBeforeResume + 50);
    await stream.stop();
    expect(stream.failed).toEqual([]);
    await Promise.all(reports);

    // Zero loss, exactly once: every acknowledged message is stored, each ts once.
    await waitFor('every acknowledged message to be stored', async () => {
      const stored = new Set(await storedTimestamps(deviceId));
      return [...stream.acked].every((ts) => stored.has(ts));
    });
    const stored = await storedTimestamps(deviceId);
    expect(new Set(stored).size).toBe(stored.length);
    expect(stored.length).toBeGreaterThanOrEqual(stream.acked.size);
    expect(stored.length).toBeLessThanOrEqual(stream.sent);

    let lastTwin: unknown;
    await waitFor('the twin reports held during the cut to be applied', async () => {
      const twin = await t.gql(`query T($id: String!) { device(deviceId: $id) { twin { reported } } }`, { id: deviceId });
      const reported = (twin.data as { device: { twin: { reported: Record<string, number> } } } | undefined)?.device.twin.reported;
      lastTwin = twin;
      return reported?.r0 === 0 && reported.r1 === 1 && reported.r2 === 2;
    }).catch((error: unknown) => {
      throw new Error(`${String(error)}; last twin: ${JSON.stringify(lastTwin)}`);
    });

    // The API works again, and the gauge says the database is up.
    const after = await t.gql(`mutation U($id: String!) { updateDesired(deviceId: $id, patch: {mode: "eco"}) { __typename } }`, { id: deviceId });
    expect(after.status).toBe(200);
    expect(after.errors).toBeUndefined();
    const metricsAfter = await (await fetch(`${t.running.url}/metrics`)).text();
    expect(metricValue(metricsAfter, DEPENDENCY_UP_METRIC, '{dependency="database"}')).toBe(1);
  }, 180_000);
});
