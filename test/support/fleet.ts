/**
 * A fleet of mqtt.js devices publishing QoS 1 telemetry at a steady total rate, keeping the books a
 * fault test needs: what each device sent, what the broker acknowledged (PUBACK), and — for devices
 * using end-to-end receipts (device contract v1.1) — what the server confirmed as stored.
 *
 * Message `n` of a device (n = 1, 2, 3, …) is `{"ts": base + n, "values": {"n": n}}`, so every point
 * has its own (device, metric, ts) key and its value says which message it came from. A receipt-using
 * device adds `"seq": n`, subscribes to `devices/{id}/telemetry/accepted`, reads `{"seq": s}` (the
 * highest contiguous seq stored) and resends every message not confirmed within `resendAfterMs`, same
 * payload — replays are harmless thanks to the key. It only resends once it has seen a receipt: a
 * server without receipts never confirms anything, and resending into it forever would only add load.
 */
import mqtt, { type MqttClient } from 'mqtt';

export interface FleetOptions {
  /** The broker's URL. */
  url: string;
  deviceIds: readonly string[];
  /** How many of `deviceIds` (the first ones) use receipts. */
  receiptDevices: number;
  /** Messages per second over the whole fleet. */
  ratePerSecond: number;
  /** A receipt-using device resends a message not confirmed this long after it was (last) sent. Default 3000. */
  resendAfterMs?: number;
  /** Epoch ms of message 0's `ts`. Default: an hour ago (well inside the future-skew limit). */
  baseTs?: number;
}

export interface FleetDevice {
  readonly id: string;
  readonly usesReceipts: boolean;
  /** Messages published so far (their n are 1..sent). */
  sent: number;
  /** n of every message the broker acknowledged (PUBACK). */
  readonly acked: Set<number>;
  /** When each PUBACK arrived (epoch ms), in arrival order. */
  readonly ackTimes: number[];
  /** Publishes the broker or the client refused (error in the PUBACK callback). */
  failed: number;
  /** Highest contiguous seq the server confirmed as stored (0: none). */
  confirmed: number;
  /** Receipts received. */
  receipts: number;
  /** Messages sent again because they were not confirmed in time. */
  resent: number;
}

export interface Fleet {
  readonly devices: readonly FleetDevice[];
  /** Starts publishing at the configured rate. */
  start(): void;
  /** Stops publishing new messages (resends of unconfirmed ones go on until `close()`). */
  stopPublishing(): void;
  /** Total PUBACKs so far. */
  acked(): number;
  /** Receipts received by the whole fleet. */
  receipts(): number;
  /** Whether every receipt-using device has every message it sent confirmed. */
  allConfirmed(): boolean;
  close(): Promise<void>;
}

export function telemetryPayload(baseTs: number, n: number, withSeq: boolean): string {
  return JSON.stringify(withSeq ? { ts: baseTs + n, seq: n, values: { n } } : { ts: baseTs + n, values: { n } });
}

interface DeviceRuntime extends FleetDevice {
  client: MqttClient;
  /** Receipt-using devices: when each unconfirmed message was last sent. */
  lastSent: Map<number, number>;
}

export async function startFleet(options: FleetOptions): Promise<Fleet> {
  const baseTs = options.baseTs ?? Date.now() - 3_600_000;
  const resendAfterMs = options.resendAfterMs ?? 3000;
  const devices: DeviceRuntime[] = await Promise.all(
    options.deviceIds.map(async (id, i) => {
      const client = await mqtt.connectAsync(options.url, {
        protocolVersion: 5,
        clientId: id,
        username: id,
        password: 'unchecked-by-this-broker',
        clean: true,
        reconnectPeriod: 500,
        connectTimeout: 5000,
      });
      const device: DeviceRuntime = {
        id,
        usesReceipts: i < options.receiptDevices,
        sent: 0,
        acked: new Set(),
        ackTimes: [],
        failed: 0,
        confirmed: 0,
        receipts: 0,
        resent: 0,
        client,
        lastSent: new Map(),
      };
      if (device.usesReceipts) {
        // resubscribe (mqtt.js' default) renews this after a broker that forgot the session comes back.
        await client.subscribeAsync(`devices/${id}/telemetry/accepted`, { qos: 1 });
        client.on('message', (_topic, payload) => {
          let seq: unknown;
          try {
            seq = (JSON.parse(payload.toString()) as { seq?: unknown }).seq;
          } catch {
            return;
          }
          if (typeof seq !== 'number') return;
          device.receipts++;
          if (seq > device.confirmed) {
            for (let n = device.confirmed + 1; n <= seq; n++) device.lastSent.delete(n);
            device.confirmed = seq;
          }
        });
      }
      return device;
    }),
  );

  function publish(device: DeviceRuntime, n: number): void {
    if (device.usesReceipts) device.lastSent.set(n, Date.now());
    device.client.publish(`devices/${device.id}/telemetry`, telemetryPayload(baseTs, n, device.usesReceipts), { qos: 1 }, (err) => {
      if (err) {
        device.failed++;
        return;
      }
      if (!device.acked.has(n)) {
        device.acked.add(n);
        device.ackTimes.push(Date.now());
      }
    });
  }

  let publishTimer: NodeJS.Timeout | undefined;
  let resendTimer: NodeJS.Timeout | undefined;
  let startedAt = 0;
  let published = 0;
  let next = 0;

  function tick(): void {
    // Catch up to the rate since the start: steady on average whatever the timer's jitter.
    const due = Math.floor(((Date.now() - startedAt) / 1000) * options.ratePerSecond);
    for (; published < due; published++) {
      const device = devices[next]!;
      next = (next + 1) % devices.length;
      publish(device, ++device.sent);
    }
  }

  function resend(): void {
    const now = Date.now();
    for (const device of devices) {
      if (!device.usesReceipts || device.receipts === 0) continue;
      for (const [n, at] of device.lastSent) {
        if (now - at < resendAfterMs) continue;
        device.resent++;
        publish(device, n);
      }
    }
  }

  return {
    devices,
    start() {
      startedAt = Date.now();
      publishTimer = setInterval(tick, 20);
      resendTimer = setInterval(resend, 500);
    },
    stopPublishing() {
      clearInterval(publishTimer);
    },
    acked: () => devices.reduce((sum, d) => sum + d.acked.size, 0),
    receipts: () => devices.reduce((sum, d) => sum + d.receipts, 0),
    allConfirmed: () => devices.every((d) => !d.usesReceipts || d.confirmed >= d.sent),
    async close() {
      clearInterval(publishTimer);
      clearInterval(resendTimer);
      await Promise.all(devices.map((d) => d.client.endAsync(true).catch(() => undefined)));
    },
  };
}
