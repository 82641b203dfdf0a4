/**
 * Webhook events survive a SIGKILL between the commit and the delivery (docs/outbox.md): a server with
 * its deliverer off stores twin reports, whose twin.changed events are written into the outbox by the
 * same statements; the process is killed; the restarted process (deliverer on) delivers every one of
 * them, signed, in order, to a real receiver. Embedded mode only (the subject is the process on its own
 * data directory), like test/e2e/alarms-restart.test.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { until } from '../support/commands.ts';
import { externalDatabaseUrl, externalMqttUrl, uniqueDeviceId } from '../support/harness.ts';
import { processGql, startOnDataDir, type ServerProcess } from '../support/process.ts';
import { startReceiver, type Receiver } from '../support/webhook-receiver.ts';

const suite = externalDatabaseUrl || externalMqttUrl ? describe.skip : describe;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'doppel-webhooks-'));
const children: ChildProcess[] = [];
let receiver: Receiver | undefined;

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await receiver?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function start(deliverer: boolean): Promise<ServerProcess> {
  const started = await startOnDataDir(dataDir, {
    WEBHOOKS_ENABLED: String(deliverer),
    WEBHOOKS_ALLOW_HTTP: 'true',
    WEBHOOKS_ALLOWED_NETWORKS: '127.0.0.1/32',
    WEBHOOK_POLL_INTERVAL_MS: '100',
  });
  children.push(started.child);
  return started;
}

suite('webhook events across a SIGKILL', () => {
  it('delivers every event committed before the kill, after the restart, signed and in order', { timeout: 300_000 }, async () => {
    receiver = await startReceiver([]);
    const first = await start(false);
    const token = fs.readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim();
    const deviceId = uniqueDeviceId('kill');
    const registered = await processGql<{ registerDevice: { credentials: { password: string } } }>(
      first,
      token,
      `mutation R($d: String!) { registerDevice(input: { deviceId: $d }) { ... on DeviceWithCredentials { credentials { password } } } }`,
      { d: deviceId },
    );
    const created = await processGql<{ createWebhookEndpoint: { secret: string } }>(
      first,
      token,
      `mutation E($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { ... on CreatedWebhookEndpoint { secret } } }`,
      { input: { url: receiver.url, eventTypes: ['twin.changed'], filter: { deviceIds: [deviceId] } } },
    );
    receiver.secrets.push(created.createWebhookEndpoint.secret);

    const device = await mqtt.connectAsync(first.mqttUrl, {
      username: deviceId,
      password: registered.registerDevice.credentials.password,
      clientId: deviceId,
      reconnectPeriod: 0,
    });
    const REPORTS = 10;
    const base = Date.now() - 60_000;
    // Each PUBACK comes after the twin write (and its event) committed.
    for (let i = 1; i <= REPORTS; i++) {
      await device.publishAsync(`devices/${deviceId}/twin/reported`, JSON.stringify({ state: { n: i }, ts: base + i }), { qos: 1 });
    }
    await device.endAsync(true);
    first.child.kill('SIGKILL');
    await first.exited;
    expect(receiver.requests).toHaveLength(0);

    const second = await start(true);
    const delivered = () =>
      receiver!.requests
        .filter((r) => r.status === 200)
        .map((r) => JSON.parse(r.body) as { id: string; type: string; data: { deviceId: string; version: number; patch: { n: number } } })
        .filter((e) => e.type === 'twin.changed' && e.data.deviceId === deviceId);
    await until(() => new Set(delivered().map((e) => e.id)).size >= REPORTS, 'every event committed before the kill', 120_000);
    const firstSeen = delivered().filter((e, i, all) => all.findIndex((x) => x.id === e.id) === i);
    expect(firstSeen.map((e) => e.data.patch.n)).toEqual(Array.from({ length: REPORTS }, (_, i) => i + 1));
    expect(firstSeen.map((e) => e.data.version)).toEqual(Array.from({ length: REPORTS }, (_, i) => i + 1));
    expect(receiver.requests.every((r) => r.verified)).toBe(true);
    second.child.kill('SIGTERM');
    await second.exited;
  });
});
