/**
 * bench:ingest helper process, in one of three roles chosen by the first call:
 *
 *  - devices (`connect`, `step`, `flood`): a share of the simulated devices, each an mqtt.js connection
 *    publishing `devices/{id}/telemetry` at QoS 1 with three values {a: publish time, b: seq, c: bool},
 *    a unique `ts` per device, and a top-level `seq` only with BENCH_TELEMETRY_SEQ=1 (a seq makes the
 *    server keep receipt cursors, contract v1.1: measured apart, as in bench/RESULTS.md). `a` is `performance.timeOrigin + performance.now()` (epoch ms,
 *    sub-ms), the one clock the subscriber compares against.
 *  - graphql subscriber (`subscribeGraphql`): one graphql-ws client on `telemetry` for every device.
 *  - mqtt subscriber (`subscribeMqtt`): one plain mqtt.js client on `devices/+/telemetry` (raw broker).
 *
 * Subscribers record (publish time, latency) per message; `stats` summarizes a publish-time range.
 */
import { performance } from 'node:perf_hooks';
import { createClient, type Client as WsClient } from 'graphql-ws';
import mqtt, { type MqttClient } from 'mqtt';
import WebSocket from 'ws';
import { serveRpc } from './rpc.ts';
import { percentiles, Samples } from './stats.ts';

export interface IngestDevice {
  deviceId: string;
  username?: string;
  password?: string;
}

const clock = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------------
// Devices

interface Sim {
  id: string;
  client: MqttClient;
  topic: string;
  seq: number;
  lastTs: number;
}

/** Send a top-level `seq` (receipt cursors on the server) — off by default, so results compare with runs before receipts. */
const SEND_SEQ = process.env.BENCH_TELEMETRY_SEQ === '1';

const sims: Sim[] = [];
let publishedTotal = 0;
let ackedTotal = 0;
let failedTotal = 0;

function publishOne(sim: Sim, onAck?: () => void): void {
  const now = clock();
  // ts: unique per device (bumped when two messages fall in one millisecond).
  const ts = Math.max(Math.floor(Date.now()), sim.lastTs + 1);
  sim.lastTs = ts;
  const seq = ++sim.seq;
  const payload = SEND_SEQ
    ? `{"ts":${ts},"seq":${seq},"values":{"a":${now},"b":${seq},"c":${seq % 2 === 0}}}`
    : `{"ts":${ts},"values":{"a":${now},"b":${seq},"c":${seq % 2 === 0}}}`;
  publishedTotal++;
  sim.client.publish(sim.topic, payload, { qos: 1 }, (err) => {
    if (err) failedTotal++;
    else ackedTotal++;
    onAck?.();
  });
}

export interface StepResult {
  published: number;
  /** PUBACKs received inside the step's window. */
  ackedInWindow: number;
  windowMs: number;
  /** published − acked (cumulative) sampled every second of the step. */
  backlog: number[];
  /** Unacknowledged at the end of the drain. */
  unacked: number;
  failed: number;
  drainMs: number;
  /** Epoch ms (the shared clock) of the step's first and last publish. */
  from: number;
  to: number;
}

// ---------------------------------------------------------------------------------------------------
// Subscribers

const pubTimes = new Samples();
const latencies = new Samples();
let received = 0;
let receivedPoints = 0;
let ws: WsClient | undefined;
let subscriber: MqttClient | undefined;
const errors: string[] = [];

function record(pubTime: number, at: number): void {
  pubTimes.push(pubTime);
  latencies.push(at - pubTime);
  received++;
}

export interface SubStats {
  received: number;
  receivedPoints: number;
  /** Messages published in [from, to] that were delivered. */
  inRange: number;
  p50: number;
  p99: number;
  max: number;
  errors: string[];
}

serveRpc({
  async connect({ mqttUrl, devices, ca }: { mqttUrl: string; devices: IngestDevice[]; ca?: string | undefined }): Promise<number> {
    const queue = [...devices];
    await Promise.all(
      Array.from({ length: 25 }, async () => {
        for (let d = queue.shift(); d; d = queue.shift()) {
          const client = mqtt.connect(mqttUrl, {
            ...(d.username ? { username: d.username, password: d.password } : {}),
            clientId: `${d.deviceId}-ingest`,
            protocolVersion: 4,
            clean: true,
            reconnectPeriod: 0,
            connectTimeout: 30_000,
            keepalive: 300,
            ...(ca ? { ca } : {}),
          });
          await new Promise<void>((resolve, reject) => {
            client.once('connect', () => resolve());
            client.once('error', reject);
          });
          client.on('error', (err) => errors.push(`${d.deviceId}: ${err.message}`));
          sims.push({ id: d.deviceId, client, topic: `devices/${d.deviceId}/telemetry`, seq: 0, lastTs: 0 });
        }
      }),
    );
    return sims.length;
  },

  /** Open loop: `rate` messages/s over this process' devices for `durationMs`, then waits for the PUBACKs. */
  async step({ rate, durationMs, drainMs }: { rate: number; durationMs: number; drainMs: number }): Promise<StepResult> {
    const published0 = publishedTotal;
    const failed0 = failedTotal;
    let ackedInWindow = 0;
    let inWindow = true;
    const start = clock();
    const from = start;
    let sent = 0;
    let next = 0;
    const backlog: number[] = [];
    let nextSample = start + 1000;
    const ackCounter = () => {
      if (inWindow) ackedInWindow++;
    };
    for (;;) {
      const now = clock();
      const elapsed = now - start;
      if (elapsed >= durationMs) break;
      const due = Math.floor((rate * elapsed) / 1000) - sent;
      for (let i = 0; i < due; i++) {
        publishOne(sims[next]!, ackCounter);
        next = (next + 1) % sims.length;
        sent++;
      }
      if (now >= nextSample) {
        backlog.push(publishedTotal - ackedTotal - failedTotal);
        nextSample += 1000;
      }
      await sleep(5);
    }
    const to = clock();
    inWindow = false;
    const windowMs = to - start;
    const drainStart = clock();
    while (publishedTotal - ackedTotal - failedTotal > 0 && clock() - drainStart < drainMs) await sleep(20);
    return {
      published: publishedTotal - published0,
      ackedInWindow,
      windowMs,
      backlog,
      unacked: publishedTotal - ackedTotal - failedTotal,
      failed: failedTotal - failed0,
      drainMs: clock() - drainStart,
      from,
      to,
    };
  },

  /** Closed loop, as fast as the broker acknowledges: `inflight` messages outstanding per device. */
  async flood({ durationMs, inflight }: { durationMs: number; inflight: number }): Promise<{ published: number; from: number; to: number }> {
    const published0 = publishedTotal;
    let running = true;
    const from = clock();
    const loop = (sim: Sim) => {
      if (running) publishOne(sim, () => loop(sim));
    };
    for (const sim of sims) for (let i = 0; i < inflight; i++) loop(sim);
    await sleep(durationMs);
    running = false;
    const to = clock();
    const drainStart = clock();
    while (publishedTotal - ackedTotal - failedTotal > 0 && clock() - drainStart < 15_000) await sleep(20);
    return { published: publishedTotal - published0, from, to };
  },

  totals() {
    return { published: publishedTotal, acked: ackedTotal, failed: failedTotal, errors: errors.slice(0, 5) };
  },

  async subscribeGraphql({ wsUrl, token }: { wsUrl: string; token: string }): Promise<null> {
    ws = createClient({
      url: wsUrl,
      webSocketImpl: WebSocket,
      lazy: false,
      retryAttempts: 0,
      connectionParams: { authorization: `Bearer ${token}` },
      onNonLazyError: (err) => errors.push(`subscriber connection: ${String(err)}`),
    });
    ws.subscribe<{ telemetry: { deviceId: string; points: Array<{ metric: string; ts: string; value: number }> } }>(
      { query: 'subscription { telemetry { deviceId points { metric ts value } } }' },
      {
        next: (msg) => {
          const at = clock();
          const points = msg.data?.telemetry.points ?? [];
          receivedPoints += points.length;
          for (const p of points) if (p.metric === 'a') record(p.value, at);
        },
        error: (err) => errors.push(`subscription: ${JSON.stringify(err).slice(0, 300)}`),
        complete: () => undefined,
      },
    );
    return null;
  },

  async subscribeMqtt({ mqttUrl }: { mqttUrl: string }): Promise<null> {
    const client = mqtt.connect(mqttUrl, { clientId: `ingest-raw-sub-${process.pid}`, protocolVersion: 4, clean: true, reconnectPeriod: 0, keepalive: 300 });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    client.on('message', (_topic, payload) => {
      const at = clock();
      const body = JSON.parse(payload.toString()) as { values: { a: number } };
      receivedPoints += 3;
      record(body.values.a, at);
    });
    await client.subscribeAsync('devices/+/telemetry', { qos: 1 });
    subscriber = client;
    return null;
  },

  stats({ from, to }: { from: number; to: number }): SubStats {
    const pub = pubTimes.toArray();
    const lat = latencies.toArray();
    const picked: number[] = [];
    for (let i = 0; i < pub.length; i++) if (pub[i]! >= from && pub[i]! <= to) picked.push(lat[i]!);
    const [p50, p99, max] = percentiles(picked, [50, 99, 100]);
    return { received, receivedPoints, inRange: picked.length, p50: p50!, p99: p99!, max: max!, errors: errors.slice(0, 5) };
  },

  /** Messages received by time: count whose receive happened in [from, to] is not tracked; the rate uses publish-time ranges. */
  received(): number {
    return received;
  },

  async close(): Promise<null> {
    await ws?.dispose();
    await subscriber?.endAsync(true).catch(() => undefined);
    await Promise.all(sims.map((s) => s.client.endAsync(true).catch(() => undefined)));
    setTimeout(() => process.exit(0), 20);
    return null;
  },
});
