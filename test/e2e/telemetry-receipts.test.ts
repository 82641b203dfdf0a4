/**
 * Telemetry receipts over real MQTT (contract v1.1, docs/device-contract.md): a device that sends `seq`
 * and subscribes to `devices/{id}/telemetry/accepted` is told the highest contiguous seq stored; a
 * device that does neither sees nothing new. Both broker modes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { messageWaiter, modeName, startTestServer, uniqueDeviceId, type TestServer } from '../support/harness.ts';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
}, 120_000);
afterAll(async () => {
  await t?.stop();
});

async function device() {
  const deviceId = uniqueDeviceId('rcpt');
  const result = await t.gql(
    `mutation R($id: String!) { registerDevice(input: {deviceId: $id}) { ... on DeviceWithCredentials { credentials { password } } } }`,
    { id: deviceId },
  );
  const { password } = (result.data as { registerDevice: { credentials: { password: string } } }).registerDevice.credentials;
  const client = await t.mqtt({ username: deviceId, password, clientId: `${deviceId}-r` });
  return { deviceId, client, receipts: `devices/${deviceId}/telemetry/accepted` };
}

const publish = (client: MqttClient, deviceId: string, body: unknown) => client.publishAsync(`devices/${deviceId}/telemetry`, JSON.stringify(body), { qos: 1 });

/** Waits for receipts until one confirms `last`; returns every seq received, in order. */
async function receiptsUntil(messages: ReturnType<typeof messageWaiter>, topic: string, last: number): Promise<number[]> {
  const seen: number[] = [];
  while (seen.at(-1) !== last) {
    const { json, retain } = await messages.next(topic, 30_000);
    expect(retain).toBe(false);
    seen.push((json as { seq: number }).seq);
  }
  return seen;
}

async function storedSeqs(deviceId: string): Promise<number[]> {
  const d = await t.database.prisma.device.findUniqueOrThrow({ where: { deviceId } });
  const rows = await t.database.prisma.telemetryPoint.findMany({ where: { deviceId: d.id }, select: { seq: true }, distinct: ['seq'] });
  return rows.map((r) => Number(r.seq)).sort((a, b) => a - b);
}

describe(`telemetry receipts (${modeName})`, () => {
  it('confirm up to the last seq a device published, never going back, once every earlier seq is stored', async () => {
    const { deviceId, client, receipts } = await device();
    const messages = messageWaiter(client);
    expect((await client.subscribeAsync(receipts, { qos: 1 })).map((g) => g.qos)).toEqual([1]);
    const base = Date.now() - 60_000;
    const last = 40;
    // Published without waiting for each other: batches of several messages, coalesced receipts.
    await Promise.all(Array.from({ length: last }, (_, i) => publish(client, deviceId, { ts: base + i, seq: i + 1, values: { temp: i } })));
    const seen = await receiptsUntil(messages, receipts, last);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(seen.length).toBeLessThanOrEqual(last);
    expect(await storedSeqs(deviceId)).toEqual(Array.from({ length: last }, (_, i) => i + 1));
  });

  it('hold the receipt at a gap until the missing seq arrives, and repeat the cursor for a replay', async () => {
    const { deviceId, client, receipts } = await device();
    const messages = messageWaiter(client);
    await client.subscribeAsync(receipts, { qos: 1 });
    const base = Date.now() - 60_000;
    await publish(client, deviceId, { ts: base + 1, seq: 1, values: { a: 1 } });
    expect((await messages.next(receipts, 30_000)).json).toEqual({ seq: 1 });
    await publish(client, deviceId, { ts: base + 3, seq: 3, values: { a: 3 } });
    expect((await messages.next(receipts, 30_000)).json).toEqual({ seq: 1 });
    await publish(client, deviceId, { ts: base + 2, seq: 2, values: { a: 2 } });
    expect((await messages.next(receipts, 30_000)).json).toEqual({ seq: 3 });
    // The device resends seq 2 (it had not seen the receipt): stored once, the receipt says 3 again.
    await publish(client, deviceId, { ts: base + 2, seq: 2, values: { a: 2 } });
    expect((await messages.next(receipts, 30_000)).json).toEqual({ seq: 3 });
    expect(await storedSeqs(deviceId)).toEqual([1, 2, 3]);
  });

  it('send nothing for telemetry without seq, and nothing to a device that did not subscribe', async () => {
    const quiet = await device();
    const quietMessages = messageWaiter(quiet.client);
    await quiet.client.subscribeAsync(`devices/${quiet.deviceId}/twin/#`, { qos: 1 });
    const listener = await device();
    const messages = messageWaiter(listener.client);
    await listener.client.subscribeAsync(listener.receipts, { qos: 1 });

    const base = Date.now() - 60_000;
    await publish(listener.client, listener.deviceId, { ts: base, values: { a: 1 } });
    await publish(quiet.client, quiet.deviceId, { ts: base, seq: 1, values: { a: 1 } });
    await expect.poll(() => storedSeqs(quiet.deviceId), { timeout: 30_000 }).toEqual([1]);
    // The message with seq is the first to get a receipt: the one without got none.
    await publish(listener.client, listener.deviceId, { ts: base + 1, seq: 1, values: { a: 2 } });
    expect((await messages.next(listener.receipts, 30_000)).json).toEqual({ seq: 1 });
    expect(messages.seen.filter((m) => m.topic === listener.receipts)).toEqual([]);
    // The device that sent seq without subscribing got nothing but what it subscribed to.
    expect(quietMessages.seen.filter((m) => m.topic.includes('/telemetry'))).toEqual([]);
  });
});
