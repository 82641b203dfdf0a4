/**
 * The load generator, in its own process: N mqtt.js devices reporting twin state over QoS 1, and one
 * graphql-ws client subscribed to `twinChanged` for every device. Publisher and subscriber share this
 * process' clock (`performance.now()`), which each report carries in its state next to a per-device
 * sequence number, so publish→accepted and publish→twinChanged latencies need no clock sync and every
 * loss, duplicate or reorder is attributable to one message.
 *
 * Closed loop (default): each device publishes its next report as soon as the previous one is accepted.
 * Open loop (`rate`): devices publish on a fixed schedule whatever the replies do; the backlog
 * (published − answered) then shows whether the server keeps up.
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { createClient, type Client as WsClient } from 'graphql-ws';
import mqtt, { type MqttClient } from 'mqtt';
import WebSocket from 'ws';
import { emitEvent, serveRpc } from './rpc.ts';
import { percentiles, Samples } from './stats.ts';

export interface BenchDevice {
  deviceId: string;
  username: string;
  password: string;
}

export interface LoadConnectParams {
  mqttUrl: string;
  wsUrl: string;
  token: string;
  devices: BenchDevice[];
  qos: 0 | 1;
  /** Subscribe to twinChanged (default true). */
  subscribe: boolean;
  /**
   * Further graphql-ws clients with the same subscription (fan-out). Only the first subscriber's events
   * are checked one by one; the others are counted.
   */
  extraSubscribers: number;
}

export interface LoadRunParams {
  warmupMs: number;
  measureMs: number;
  /** Longest wait after the window for outstanding replies and events. */
  drainMs: number;
  /** Offered reports per second over all devices; undefined = closed loop. */
  rate?: number;
  /** Give up (and report it) when more than this many reports are unanswered. */
  maxOutstanding: number;
}

export interface LatencySummary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface LoadResult {
  /** Measured window length, seconds (from this process' clock). */
  windowSeconds: number;
  published: number;
  publishedInWindow: number;
  /** `…/accepted` replies received inside the window. */
  acceptedInWindow: number;
  acceptedTotal: number;
  rejectedTotal: number;
  /** `twinChanged` events received inside the window. */
  eventsInWindow: number;
  eventsTotal: number;
  /** Latencies of reports published inside the window, ms. */
  acceptLatency: LatencySummary;
  eventLatency: LatencySummary;
  /** Reports never answered (accepted or rejected) by the end of the drain. */
  unanswered: number;
  /** Accepted reports whose twinChanged never arrived. */
  missingEvents: number;
  /** Extra deliveries of an event already seen. */
  duplicateEvents: number;
  /** Events that arrived after a later one of the same device. */
  reorderedEvents: number;
  /** Events for reports this generator never published (or never saw accepted). */
  unexpectedEvents: number;
  /** Accepted versions that did not rise by exactly one per report, per device. */
  versionGaps: number;
  /** Events whose version differs from the version the device was told. */
  versionMismatches: number;
  maxOutstanding: number;
  outstandingAtWindowEnd: number;
  /** True when the run stopped early because the backlog passed maxOutstanding. */
  overloaded: boolean;
  drainMs: number;
  /** This process' CPU-seconds inside the window. */
  cpuSeconds: number;
  /** This process' event-loop utilization inside the window (near 1 = the generator itself is a limit). */
  elu: number;
  subscriptionErrors: string[];
  /** Events received by each extra subscriber over the whole run (should equal eventsTotal + unexpected). */
  extraSubscriberEvents: number[];
}

interface Device {
  id: string;
  client: MqttClient;
  topic: string;
  /** Next sequence number to publish (the first report is seq 1). */
  seq: number;
  lastTs: number;
  /** Publish time per seq (index = seq). */
  sentAt: number[];
  /** Version from `accepted` per seq; -1 = rejected; undefined = no reply yet. */
  version: Array<number | undefined>;
  /** Event deliveries per seq. */
  events: number[];
  eventVersion: number[];
  maxEventSeq: number;
  answered: number;
  due: number;
}

const devices: Device[] = [];
const byId = new Map<string, Device>();
let ws: WsClient | undefined;
const extraClients: WsClient[] = [];
let extraCounts: number[] = [];
let qos: 0 | 1 = 1;
const subscriptionErrors: string[] = [];

// Run state
let running = false;
/** Offered reports/s in open loop; undefined = closed loop. */
let rate: number | undefined;
let windowStart = Number.POSITIVE_INFINITY;
let windowEnd = Number.POSITIVE_INFINITY;
let published = 0;
let answered = 0;
let acceptedTotal = 0;
let rejectedTotal = 0;
let acceptedInWindow = 0;
let eventsTotal = 0;
let eventsInWindow = 0;
let publishedInWindow = 0;
let duplicateEvents = 0;
let reorderedEvents = 0;
let unexpectedEvents = 0;
let maxOutstanding = 0;
let acceptLat = new Samples();
let eventLat = new Samples();

const inWindow = (t: number) => t >= windowStart && t < windowEnd;

function publishNext(dev: Device): void {
  const seq = ++dev.seq;
  const now = performance.now();
  // A device's clock: monotonic milliseconds, so two reports in one millisecond still order correctly.
  const ts = Math.max(Date.now(), dev.lastTs + 1);
  dev.lastTs = ts;
  dev.sentAt[seq] = now;
  const body = {
    state: { seq, t: Math.round(now * 1000) / 1000, temp: 20 + (seq % 97) / 10, rssi: -50 - (seq % 13) },
    ts,
    clientToken: String(seq),
  };
  published++;
  if (inWindow(now)) publishedInWindow++;
  const outstanding = published - answered;
  if (outstanding > maxOutstanding) maxOutstanding = outstanding;
  dev.client.publish(dev.topic, JSON.stringify(body), { qos });
}

function onReply(dev: Device, topic: string, payload: Buffer): void {
  const now = performance.now();
  const accepted = topic.endsWith('/accepted');
  if (!accepted && !topic.endsWith('/rejected')) return;
  let body: { clientToken?: string; version?: number };
  try {
    body = JSON.parse(payload.toString('utf8')) as typeof body;
  } catch {
    return;
  }
  const seq = Number(body.clientToken);
  const sentAt = dev.sentAt[seq];
  if (!Number.isInteger(seq) || sentAt === undefined || dev.version[seq] !== undefined) return;
  dev.answered++;
  answered++;
  if (accepted) {
    dev.version[seq] = Number(body.version);
    acceptedTotal++;
    if (inWindow(now)) acceptedInWindow++;
    if (inWindow(sentAt)) acceptLat.push(now - sentAt);
  } else {
    dev.version[seq] = -1;
    rejectedTotal++;
  }
  if (running && rate === undefined) publishNext(dev);
}

interface TwinChangedPayload {
  twinChanged?: { deviceId: string; version: number; patch: { seq?: number; t?: number } | null };
}

function onEvent(data: TwinChangedPayload | null | undefined): void {
  const now = performance.now();
  const change = data?.twinChanged;
  const dev = change ? byId.get(change.deviceId) : undefined;
  const seq = change?.patch?.seq;
  if (!change || !dev || typeof seq !== 'number' || dev.sentAt[seq] === undefined) {
    unexpectedEvents++;
    return;
  }
  eventsTotal++;
  if (inWindow(now)) eventsInWindow++;
  const count = (dev.events[seq] ?? 0) + 1;
  dev.events[seq] = count;
  dev.eventVersion[seq] = change.version;
  if (count > 1) {
    duplicateEvents++;
    return;
  }
  if (seq < dev.maxEventSeq) reorderedEvents++;
  else dev.maxEventSeq = seq;
  const t = change.patch?.t;
  if (typeof t === 'number' && inWindow(t)) eventLat.push(now - t);
}

function summarize(samples: Samples): LatencySummary {
  const values = samples.toArray();
  const [p50, p90, p99, max] = percentiles(values, [50, 90, 99, 100]);
  return { n: values.length, p50: p50!, p90: p90!, p99: p99!, max: max! };
}

/** graphql-ws reports a lost socket as a CloseEvent, which stringifies badly. */
function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  const close = err as { code?: number; reason?: string };
  if (typeof close?.code === 'number') return `WebSocket closed (${close.code}${close.reason ? ` ${close.reason}` : ''})`;
  return JSON.stringify(err)?.slice(0, 300) ?? String(err);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

serveRpc({
  async connect(params: LoadConnectParams): Promise<{ connected: number }> {
    qos = params.qos;
    const queue = [...params.devices];
    const connectOne = async (d: BenchDevice): Promise<void> => {
      const client = mqtt.connect(params.mqttUrl, {
        username: d.username,
        password: d.password,
        clientId: `${d.deviceId}-bench`,
        protocolVersion: 4,
        clean: true,
        reconnectPeriod: 0,
        connectTimeout: 20_000,
        keepalive: 120,
      });
      await new Promise<void>((resolve, reject) => {
        client.once('connect', () => resolve());
        client.once('error', reject);
        client.once('close', () => reject(new Error(`${d.deviceId}: connection closed before CONNACK`)));
      });
      const dev: Device = {
        id: d.deviceId,
        client,
        topic: `devices/${d.deviceId}/twin/reported`,
        seq: 0,
        lastTs: 0,
        sentAt: [],
        version: [],
        events: [],
        eventVersion: [],
        maxEventSeq: 0,
        answered: 0,
        due: 0,
      };
      client.on('message', (topic, payload) => onReply(dev, topic, payload));
      client.on('close', () => {
        if (running) subscriptionErrors.push(`${d.deviceId}: MQTT connection closed during the run`);
      });
      // After CONNACK an 'error' without a listener would end this process; record it instead.
      client.on('error', (err) => subscriptionErrors.push(`${d.deviceId}: MQTT error ${err.message}`));
      await client.subscribeAsync(`devices/${d.deviceId}/twin/reported/+`, { qos: params.qos });
      devices.push(dev);
      byId.set(dev.id, dev);
    };
    await Promise.all(
      Array.from({ length: 25 }, async () => {
        for (let d = queue.shift(); d; d = queue.shift()) await connectOne(d);
      }),
    );

    if (params.subscribe) {
      ws = createClient({
        url: params.wsUrl,
        webSocketImpl: WebSocket,
        lazy: false,
        retryAttempts: 0,
        connectionParams: { authorization: `Bearer ${params.token}` },
        onNonLazyError: (err) => subscriptionErrors.push(`subscriber connection: ${describeError(err)}`),
      });
      ws.subscribe<TwinChangedPayload>(
        { query: 'subscription { twinChanged { deviceId version patch } }' },
        {
          next: (result) => {
            if (result.errors) subscriptionErrors.push(JSON.stringify(result.errors).slice(0, 300));
            onEvent(result.data as TwinChangedPayload | undefined);
          },
          error: (err) => subscriptionErrors.push(`subscriber: ${describeError(err)}`),
          complete: () => undefined,
        },
      );
    }
    extraCounts = new Array<number>(params.extraSubscribers).fill(0);
    for (let i = 0; i < params.extraSubscribers; i++) {
      const client = createClient({
        url: params.wsUrl,
        webSocketImpl: WebSocket,
        lazy: false,
        retryAttempts: 0,
        connectionParams: { authorization: `Bearer ${params.token}` },
        onNonLazyError: (err) => subscriptionErrors.push(`extra subscriber ${i} connection: ${describeError(err)}`),
      });
      extraClients.push(client);
      client.subscribe(
        { query: 'subscription { twinChanged { deviceId version patch } }' },
        {
          next: () => {
            extraCounts[i]!++;
          },
          error: (err) => subscriptionErrors.push(`extra subscriber ${i}: ${describeError(err)}`),
          complete: () => undefined,
        },
      );
    }
    return { connected: devices.length };
  },

  async run(params: LoadRunParams): Promise<LoadResult> {
    rate = params.rate;
    acceptLat = new Samples();
    eventLat = new Samples();
    running = true;
    const t0 = performance.now();
    windowStart = t0 + params.warmupMs;
    windowEnd = windowStart + params.measureMs;
    let overloaded = false;

    let timer: NodeJS.Timeout | undefined;
    if (rate === undefined) {
      for (const dev of devices) publishNext(dev);
    } else {
      const period = (devices.length / rate) * 1000;
      devices.forEach((dev, i) => (dev.due = t0 + (i / devices.length) * period));
      timer = setInterval(() => {
        const now = performance.now();
        for (const dev of devices) {
          while (dev.due <= now) {
            publishNext(dev);
            dev.due += period;
          }
        }
      }, 2);
    }

    // Window edges: the orchestrator samples the server's CPU and memory when it hears these.
    const cpuAt = { start: process.cpuUsage() };
    let eluStart: EventLoopUtilization = performance.eventLoopUtilization();
    let outstandingAtWindowEnd = 0;
    await new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (published - answered > params.maxOutstanding) {
          overloaded = true;
          clearInterval(check);
          resolve();
        }
      }, 100);
      setTimeout(() => {
        cpuAt.start = process.cpuUsage();
        eluStart = performance.eventLoopUtilization();
        emitEvent('window-start');
        setTimeout(() => {
          clearInterval(check);
          resolve();
        }, params.measureMs);
      }, params.warmupMs);
    });
    const actualEnd = performance.now();
    if (overloaded) windowEnd = actualEnd;
    const cpu = process.cpuUsage(cpuAt.start);
    const elu = performance.eventLoopUtilization(eluStart).utilization;
    emitEvent('window-end');
    outstandingAtWindowEnd = published - answered;
    running = false;
    if (timer) clearInterval(timer);

    const missing = () => {
      let unanswered = 0;
      let missingEvents = 0;
      for (const dev of devices) {
        unanswered += dev.seq - dev.answered;
        if (ws) for (let s = 1; s <= dev.seq; s++) if ((dev.version[s] ?? -1) >= 0 && !dev.events[s]) missingEvents++;
      }
      return { unanswered, missingEvents };
    };
    const drainStart = performance.now();
    let gap = missing();
    while ((gap.unanswered > 0 || gap.missingEvents > 0) && performance.now() - drainStart < params.drainMs) {
      await sleep(50);
      gap = missing();
    }
    const drainMs = performance.now() - drainStart;
    // Late duplicates would show up shortly after the last original.
    await sleep(200);

    let versionGaps = 0;
    let versionMismatches = 0;
    for (const dev of devices) {
      let previous: number | undefined;
      for (let s = 1; s <= dev.seq; s++) {
        const v = dev.version[s];
        if (v === undefined || v < 0) continue;
        if (previous !== undefined && v !== previous + 1) versionGaps++;
        previous = v;
        const ev = dev.eventVersion[s];
        if (ev !== undefined && ev !== v) versionMismatches++;
      }
    }

    return {
      // Positive even when the run stopped early inside the warm-up (then every rate reads as zero).
      windowSeconds: Math.max(0.001, (Math.min(windowEnd, actualEnd) - windowStart) / 1000),
      published,
      publishedInWindow,
      acceptedInWindow,
      acceptedTotal,
      rejectedTotal,
      eventsInWindow,
      eventsTotal,
      acceptLatency: summarize(acceptLat),
      eventLatency: summarize(eventLat),
      unanswered: gap.unanswered,
      missingEvents: gap.missingEvents,
      duplicateEvents,
      reorderedEvents,
      unexpectedEvents,
      versionGaps,
      versionMismatches,
      maxOutstanding,
      outstandingAtWindowEnd,
      overloaded,
      drainMs,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      elu,
      subscriptionErrors: subscriptionErrors.slice(0, 5),
      extraSubscriberEvents: [...extraCounts],
    };
  },

  async close(): Promise<null> {
    await ws?.dispose();
    // dispose() is typed `void | Promise<void>`; graphql-ws's is async.
    await Promise.all(extraClients.map(async (c) => await c.dispose()));
    await Promise.all(devices.map((d) => d.client.endAsync(true).catch(() => undefined)));
    setTimeout(() => process.exit(0), 50);
    return null;
  },
});
