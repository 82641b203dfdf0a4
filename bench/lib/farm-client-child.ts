/**
 * bench:farm's devices (bench/farm.ts): one process of many mqtt.js devices, all connecting at once,
 * each doing what a device of the contract does on every connect (docs/device-contract.md): subscribe
 * to its `twin/#` and `commands/#`, then announce `online` (retained, QoS 1) with a Last Will of
 * `offline`. A device counts as admitted once its `online` is acknowledged. mqtt.js reconnects every
 * second after a refusal or a dropped connection, as a device in the field would.
 *
 * Figures are read by the orchestrator over IPC: admissions per second since the mark, client errors
 * (connect errors and connections closed before admission), and the devices admitted now.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { serveRpc } from './rpc.ts';
import { topics } from '../../src/mqtt/topics.ts';

export interface FarmDevice {
  deviceId: string;
  username: string;
  password?: string;
}

export interface FarmConnectParams {
  url: string;
  devices: FarmDevice[];
  keepaliveSeconds: number;
  /** PEM of the CA to trust for an mqtts:// url (the server's own generated CA). */
  ca?: string;
}

/** Counters since the last mark. */
export interface FarmClientStatus {
  /** Devices whose `online` was acknowledged since the mark (each once). */
  admitted: number;
  /** Devices admitted right now (connected and announced). */
  admittedNow: number;
  /** `error` events (refused or failed CONNECTs, socket errors) since the mark. */
  errors: number;
  /** Connections that closed before their device was admitted, since the mark. */
  closedBeforeAdmission: number;
  /** Error messages by text (at most 20 distinct), for the report. */
  errorKinds: Record<string, number>;
  /** Admissions per whole second since the mark. */
  perSecond: number[];
  /** Telemetry messages acknowledged since the mark. */
  telemetryAcked: number;
  /** Telemetry publishes that failed since the mark. */
  telemetryFailed: number;
}

interface DeviceState {
  device: FarmDevice;
  client: MqttClient;
  admitted: boolean;
  admittedSinceMark: boolean;
}

const states: DeviceState[] = [];
let markAt = performance.now();
let status = freshStatus();
let telemetryTimers: NodeJS.Timeout[] = [];

function freshStatus(): Omit<FarmClientStatus, 'admittedNow'> {
  return { admitted: 0, errors: 0, closedBeforeAdmission: 0, errorKinds: {}, perSecond: [], telemetryAcked: 0, telemetryFailed: 0 };
}

function countError(message: string): void {
  status.errors++;
  const kind = message.slice(0, 80);
  if (kind in status.errorKinds || Object.keys(status.errorKinds).length < 20) status.errorKinds[kind] = (status.errorKinds[kind] ?? 0) + 1;
}

function admit(state: DeviceState): void {
  state.admitted = true;
  if (state.admittedSinceMark) return;
  state.admittedSinceMark = true;
  status.admitted++;
  const second = Math.floor((performance.now() - markAt) / 1000);
  while (status.perSecond.length <= second) status.perSecond.push(0);
  status.perSecond[second]!++;
}

function connectDevice(url: string, device: FarmDevice, keepaliveSeconds: number, ca: string | undefined): DeviceState {
  const client = mqtt.connect(url, {
    ...(ca ? { ca } : {}),
    username: device.username,
    ...(device.password !== undefined ? { password: device.password } : {}),
    clientId: `farm-${device.deviceId}`,
    clean: true,
    keepalive: keepaliveSeconds,
    reconnectPeriod: 1000,
    connectTimeout: 30_000,
    // We subscribe ourselves on every connect, as the contract's devices do.
    resubscribe: false,
    will: { topic: topics.status(device.deviceId), payload: Buffer.from('offline'), qos: 1, retain: true },
  });
  const state: DeviceState = { device, client, admitted: false, admittedSinceMark: false };
  client.on('connect', () => {
    void (async () => {
      try {
        await client.subscribeAsync([topics.twinFilter(device.deviceId), topics.commandsFilter(device.deviceId)], { qos: 1 });
        await client.publishAsync(topics.status(device.deviceId), 'online', { qos: 1, retain: true });
        admit(state);
      } catch (error) {
        countError(`subscribe/online: ${(error as Error).message}`);
      }
    })();
  });
  client.on('error', (error) => countError(error.message));
  client.on('close', () => {
    if (!state.admitted) status.closedBeforeAdmission++;
    state.admitted = false;
  });
  return state;
}

serveRpc({
  /** Starts connecting every device at once; resolves at once (poll `status`). */
  connect(params: FarmConnectParams): null {
    for (const device of params.devices) states.push(connectDevice(params.url, device, params.keepaliveSeconds, params.ca));
    return null;
  },

  /** Starts the counters afresh (admissions since now). */
  mark(): null {
    markAt = performance.now();
    status = freshStatus();
    for (const state of states) state.admittedSinceMark = false;
    return null;
  },

  /** Starts the error counters afresh, keeping the admissions (e.g. once a killed server is back). */
  markErrors(): null {
    status.errors = 0;
    status.closedBeforeAdmission = 0;
    status.errorKinds = {};
    return null;
  },

  status(): FarmClientStatus {
    return { ...status, admittedNow: states.filter((s) => s.admitted).length };
  },

  /**
   * Every device publishes 2 values every `intervalMs` (QoS 1), the devices' phases spread evenly over
   * the interval so the load is steady.
   */
  startTelemetry(params: { intervalMs: number }): null {
    const spacing = params.intervalMs / Math.max(1, states.length);
    states.forEach((state, i) => {
      const start = setTimeout(() => {
        const send = () => {
          if (!state.client.connected) return;
          const payload = JSON.stringify({ values: { temp: 20 + Math.random() * 5, hum: 40 + Math.random() * 10 } });
          state.client.publishAsync(topics.telemetry(state.device.deviceId), payload, { qos: 1 }).then(
            () => status.telemetryAcked++,
            () => status.telemetryFailed++,
          );
        };
        send();
        telemetryTimers.push(setInterval(send, params.intervalMs));
      }, i * spacing);
      telemetryTimers.push(start);
    });
    return null;
  },

  stopTelemetry(): null {
    for (const timer of telemetryTimers) clearTimeout(timer);
    telemetryTimers = [];
    return null;
  },

  async close(): Promise<null> {
    for (const timer of telemetryTimers) clearTimeout(timer);
    await Promise.all(states.map((s) => s.client.endAsync(true).catch(() => undefined)));
    setTimeout(() => process.exit(0), 50);
    return null;
  },
});
