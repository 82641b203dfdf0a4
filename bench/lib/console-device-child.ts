/**
 * bench:console's busy device (bench/console.ts): one mqtt.js device, in its own process so its CPU
 * is not the browser's, that follows the device contract (docs/device-contract.md): Last Will
 * `offline`, `online` retained, then telemetry at a fixed rate (default 100 messages/s, QoS 1) and its
 * reported state at a slower one, so the device page's live panels have something to show.
 *
 * The rate is held by counting messages due since the start (not one timer per message), so a late
 * timer catches up instead of slowing the device down.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { topics } from '../../src/mqtt/topics.ts';
import { serveRpc } from './rpc.ts';

export interface ConsoleDeviceParams {
  url: string;
  deviceId: string;
  username: string;
  password: string;
  /** Telemetry messages per second. */
  telemetryHz: number;
  /** Reported-state updates per second (0: none). */
  reportedHz: number;
}

export interface ConsoleDeviceStatus {
  telemetrySent: number;
  telemetryAcked: number;
  reportedSent: number;
  failures: number;
}

let client: MqttClient | undefined;
let timer: NodeJS.Timeout | undefined;
const status: ConsoleDeviceStatus = { telemetrySent: 0, telemetryAcked: 0, reportedSent: 0, failures: 0 };

serveRpc({
  /** Connects, announces `online`, and starts publishing; resolves once `online` is acknowledged. */
  async start(params: ConsoleDeviceParams): Promise<null> {
    client = mqtt.connect(params.url, {
      username: params.username,
      password: params.password,
      clientId: params.deviceId,
      clean: true,
      reconnectPeriod: 1000,
      will: { topic: topics.status(params.deviceId), payload: Buffer.from('offline'), qos: 1, retain: true },
    });
    const connected = client;
    await new Promise<void>((resolve, reject) => {
      connected.once('connect', () => resolve());
      connected.once('error', reject);
    });
    await connected.publishAsync(topics.status(params.deviceId), 'online', { qos: 1, retain: true });
    const startedAt = Date.now();
    let seq = 0;
    let reports = 0;
    const publishDue = () => {
      const elapsed = Date.now() - startedAt;
      // Every message due by now: a timer that fired late sends the backlog, keeping the average rate.
      while (seq < Math.floor((elapsed * params.telemetryHz) / 1000)) {
        seq++;
        // A unique ts per message (the start plus 1/hz steps): a point is keyed on (device, metric, ts).
        const ts = startedAt + Math.floor((seq * 1000) / params.telemetryHz);
        const payload = JSON.stringify({ ts, seq, values: { temperature: 20 + 5 * Math.sin(seq / 100), vibration: (seq % 17) / 17 } });
        status.telemetrySent++;
        connected.publish(topics.telemetry(params.deviceId), payload, { qos: 1 }, (error) => {
          if (error) status.failures++;
          else status.telemetryAcked++;
        });
      }
      while (params.reportedHz > 0 && reports < Math.floor((elapsed * params.reportedHz) / 1000)) {
        reports++;
        status.reportedSent++;
        const payload = JSON.stringify({ state: { uptimeS: Math.round(elapsed / 1000), reports, firmware: '1.2.0' }, clientToken: `r${reports}` });
        connected.publish(topics.twinReported(params.deviceId), payload, { qos: 1 }, (error) => {
          if (error) status.failures++;
        });
      }
    };
    timer = setInterval(publishDue, 5);
    return null;
  },
  status(): ConsoleDeviceStatus {
    return { ...status };
  },
  async stop(): Promise<null> {
    clearInterval(timer);
    await client?.endAsync();
    setTimeout(() => process.exit(0), 20);
    return null;
  },
});
