/**
 * Embedded mode on a full disk (issue 18, deliverable 7), through the real server: PGlite's data
 * directory sits on a small tmpfs that the test fills with a file while a device publishes QoS 1
 * telemetry. Asserted:
 *  - the write that hits the full disk is refused, not acknowledged: the device's PUBACK does not come;
 *  - the server reports not ready, and GraphQL answers UNAVAILABLE saying the disk is full;
 *  - after space is freed, a restarted server opens the same directory with every acknowledged
 *    message in it, and ingests again. (PGlite cannot be used again after a failed write — see
 *    fenceAfterDiskFull in src/db/client.ts — so recovery is a restart.)
 *
 * Needs `mount -t tmpfs` (root, or a container that allows it); skipped with the reason otherwise, and
 * in external mode (it is about the embedded database).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { externalDatabaseUrl, startTestServer, uniqueDeviceId, type TestServer } from '../support/harness.ts';

/** Room for PGlite's fresh cluster (≈ 20 MB), the migrations and a 16 MB WAL segment. */
const TMPFS_SIZE = '96m';

const mountPoint = fs.mkdtempSync(path.join(os.tmpdir(), 'doppel-disk-full-'));
const mountProblem = externalDatabaseUrl ? 'external mode (this test is about the embedded database)' : tryMount();

function tryMount(): string | undefined {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_SIZE}`, 'tmpfs', mountPoint], { stdio: 'pipe' });
    return undefined;
  } catch (error) {
    return `cannot mount a tmpfs here (${String((error as { stderr?: Buffer }).stderr ?? error).trim()})`;
  }
}

if (mountProblem) {
  console.warn(`embedded-disk-full.test.ts skipped: ${mountProblem}`);
  fs.rmSync(mountPoint, { recursive: true, force: true });
}
const suite = mountProblem ? describe.skip : describe;

const dataDir = path.join(mountPoint, 'pglite');
const filler = path.join(mountPoint, 'filler');
let t: TestServer | undefined;

async function readyStatus(server: TestServer): Promise<number> {
  return (await fetch(`${server.running.url}/readyz`)).status;
}

async function waitFor(what: string, predicate: () => Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** Fills the file system with a file until it refuses to take more. */
function fillDisk(): void {
  const fd = fs.openSync(filler, 'w');
  const chunk = Buffer.alloc(1024 * 1024, 1);
  try {
    for (;;) fs.writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
    // The last partial megabyte too, so not a page is left.
    const small = Buffer.alloc(4096, 1);
    try {
      for (;;) fs.writeSync(fd, small);
    } catch {
      // full
    }
  } finally {
    fs.closeSync(fd);
  }
}

function telemetry(client: MqttClient, deviceId: string, ts: number): Promise<unknown> {
  // Many metrics per message: rows pile up fast, so a full disk is hit within a few messages.
  const values = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`m${i}`, ts + i]));
  return client.publishAsync(`devices/${deviceId}/telemetry`, JSON.stringify({ ts, values }), { qos: 1 });
}

async function storedTimestamps(server: TestServer, deviceId: string): Promise<Set<number>> {
  const rows = await server.database.sql.query<{ ts: Date }>(
    `SELECT DISTINCT p.ts FROM "TelemetryPoint" p JOIN "Device" d ON d.id = p."deviceId" WHERE d."deviceId" = $1`,
    [deviceId],
  );
  return new Set(rows.map((r) => new Date(r.ts).getTime()));
}

suite('embedded database on a full disk', () => {
  beforeAll(() => {
    fs.mkdirSync(dataDir, { recursive: true });
  });
  afterAll(async () => {
    await t?.stop().catch(() => undefined);
    try {
      // Lazy: a fenced PGlite is never closed (src/db/client.ts), so its files stay open in this process.
      execFileSync('umount', ['-l', mountPoint], { stdio: 'pipe' });
    } catch {
      // not mounted
    }
    fs.rmSync(mountPoint, { recursive: true, force: true });
  }, 120_000);

  it('refuses and reports not ready when the disk fills, and a restart after freeing space finds every acknowledged message', async () => {
    const first = await startTestServer({ DATABASE_URL: `pglite:${dataDir}` });
    t = first;
    const deviceId = uniqueDeviceId('diskfull');
    const registered = await first.gql(
      `mutation R($id: String!) { registerDevice(input: {deviceId: $id}) { ... on DeviceWithCredentials { credentials { password } } } }`,
      { id: deviceId },
    );
    const { password } = (registered.data as { registerDevice: { credentials: { password: string } } }).registerDevice.credentials;
    const client = await first.mqtt({ username: deviceId, password, clientId: `${deviceId}-c` });

    // Acknowledged before the disk fills: the embedded broker PUBACKs only what is stored.
    const baseTs = Date.now() - 3_600_000;
    const acked = new Set<number>();
    for (let i = 0; i < 20; i++) {
      await telemetry(client, deviceId, baseTs + i);
      acked.add(baseTs + i);
    }

    fillDisk();
    const pending = new Set<number>();
    let next = 20;
    let failures = 0;
    await waitFor('the server to report not ready on the full disk', async () => {
      const ts = baseTs + next++;
      pending.add(ts);
      void telemetry(client, deviceId, ts).then(
        () => {
          pending.delete(ts);
          acked.add(ts);
        },
        () => failures++,
      );
      return (await readyStatus(first)) === 503;
    });
    // Some message is held, not acknowledged: it hit the full disk.
    expect(pending.size).toBeGreaterThan(0);
    expect(failures).toBe(0);

    const update = await first.gql(`mutation U($id: String!) { updateDesired(deviceId: $id, patch: {mode: "eco"}) { __typename } }`, { id: deviceId });
    expect(update.status).toBe(503);
    expect(update.errors?.[0]?.extensions?.code).toBe('UNAVAILABLE');
    expect(update.errors?.[0]?.message).toMatch(/disk is full/);

    await first.stop();
    t = undefined;

    // Free the space and restart on the same directory: it opens, and holds what was acknowledged.
    fs.rmSync(filler);
    const second = await startTestServer({ DATABASE_URL: `pglite:${dataDir}` });
    t = second;
    expect(await readyStatus(second)).toBe(200);
    const stored = await storedTimestamps(second, deviceId);
    expect([...acked].filter((ts) => !stored.has(ts))).toEqual([]);
    // And it ingests again.
    const device = await second.mqtt({ username: deviceId, password, clientId: `${deviceId}-c2` });
    await telemetry(device, deviceId, baseTs + 100_000);
    expect((await storedTimestamps(second, deviceId)).has(baseTs + 100_000)).toBe(true);
  }, 300_000);
});
