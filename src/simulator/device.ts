/**
 * One simulated device on the wire: the MQTT edge around the pure thermostat model (model.ts). It
 * speaks device contract v1 (docs/device-contract.md) the way a well-behaved device should:
 *
 * - connects as itself (username = device id) with a retained Last Will `offline` on its status
 *   topic, subscribes to its own `twin/#`, announces `online` (retained) and reports its full state;
 * - on its first connection it reads its twin (`twin/get`) and resumes from the state it reported
 *   last, as a real thermostat remembers its settings across a power cycle;
 * - every interval advances the model and publishes its temperature as telemetry, never into its twin
 *   (which holds its settings: mode, fan, set point, firmware), with a `seq` (contract v1.1): it subscribes to its
 *   `telemetry/accepted` receipts and keeps and resends what they have not confirmed (telemetry-outbox.ts);
 * - on a delta, merges it into its state and reports the applied keys back with a clientToken, and
 *   logs the `…/accepted` answer with the version the twin reached;
 * - subscribes to its `commands/#` before it announces `online` (the server sends commands only then),
 *   answers each command ACCEPTED then SUCCEEDED (or REJECTED: unknown, bad params, expired), reports
 *   what a command changed, and answers a redelivered command again without running it twice;
 * - with `flap`, now and then drops its connection without a DISCONNECT (so the broker fires the Last
 *   Will) and comes back a few seconds later;
 * - on stop, publishes `offline` and disconnects cleanly.
 */
import mqtt, { type MqttClient } from 'mqtt';
import {
  encode,
  type CommandAck,
  type DeltaMessage,
  type GetAccepted,
  type GetRequest,
  type ReportedAccepted,
  type ReportedMessage,
  type Rejected,
  type StatusWord,
} from '../mqtt/contract.ts';
import { topics } from '../mqtt/topics.ts';
import type { JsonObject } from '../domain/twin.ts';
import { isPlainObject } from '../domain/twin.ts';
import type { DeviceCredentials } from './credentials.ts';
import { TelemetryOutbox, type OutboxMessage, type TelemetryOutboxCounts, type TelemetryOutboxOptions } from './telemetry-outbox.ts';
import { applyDelta, DEFAULT_PHYSICS, initialState, mergePatch, runCommand, tick, twinPart, type Random, type ThermostatPhysics } from './model.ts';

export interface SimulatedDeviceOptions {
  deviceId: string;
  credentials: DeviceCredentials;
  /** Broker URL, e.g. mqtt://127.0.0.1:1883. */
  mqttUrl: string;
  /** PEM CA to trust for an `mqtts://` broker. */
  ca?: string;
  /** How often the device advances its model and reports what changed, ms. */
  intervalMs: number;
  /** Probability per interval of an abrupt disconnect (0 = never). */
  flap?: number;
  /** How long a flapped device stays away, ms: uniform in [min, max]. Default [2000, 6000]. */
  flapDowntimeMs?: readonly [number, number];
  /** Receives one human-readable line per event. */
  log: (line: string) => void;
  /** How the device is named in log lines (e.g. the id padded to align columns). Default: the id. */
  label?: string;
  /** Uniform [0, 1) source for the model, flapping and phase. Default `Math.random`. */
  random?: Random;
  now?: () => number;
  physics?: ThermostatPhysics;
  /**
   * Called when the broker refuses the credentials (e.g. a stale secret in the credentials file);
   * returns fresh ones, e.g. rotated through GraphQL. Tried once per refusal streak.
   */
  renewCredentials?: () => Promise<DeviceCredentials>;
  /** How long `start()` waits for the first connection before it rejects, ms. Default 15000. */
  connectTimeoutMs?: number;
  /** Pause after the broker refuses a connection before trying again, ms. Default 5000. */
  retryDelayMs?: number;
  /** How long the first connection waits for the `twin/get` answer before starting from defaults, ms. Default 3000. */
  resumeTimeoutMs?: number;
  /** Telemetry kept until a receipt confirms it. Default: 1000 messages, resent after max(5 intervals, 5 s), given up on after 10 sends. */
  telemetryOutbox?: Partial<TelemetryOutboxOptions>;
}

export interface SimulatedDevice {
  readonly deviceId: string;
  /** The device's current state (what it reports). */
  readonly state: JsonObject;
  /** Connected and announced `online`. */
  readonly online: boolean;
  /** Connects and resolves once the device is online; rejects if it cannot connect in time. */
  start(): Promise<void>;
  /** Publishes `offline`, disconnects cleanly and stops every timer. Safe to call more than once. */
  stop(): Promise<void>;
  /** Its telemetry: sent, resent, confirmed by receipts, dropped (outbox full), abandoned, unconfirmed now. */
  readonly telemetry: TelemetryOutboxCounts;
}

/** Contract v1 status word, typed so a typo cannot reach the wire. */
const ONLINE: StatusWord = 'online';
const OFFLINE: StatusWord = 'offline';
/** MQTT 3.1.1 CONNACK codes: bad user name or password, not authorized. */
const AUTH_REFUSED = new Set([4, 5]);

export function createSimulatedDevice(options: SimulatedDeviceOptions): SimulatedDevice {
  const { deviceId, mqttUrl, intervalMs, log } = options;
  const label = options.label ?? deviceId;
  const random = options.random ?? Math.random;
  const now = options.now ?? Date.now;
  const physics = options.physics ?? DEFAULT_PHYSICS;
  const flap = options.flap ?? 0;
  const [downMin, downMax] = options.flapDowntimeMs ?? [2000, 6000];
  const retryDelayMs = options.retryDelayMs ?? 5000;
  let credentials = options.credentials;

  let state: JsonObject = initialState(random, physics);
  let client: MqttClient | undefined;
  let online = false;
  let everOnline = false;
  /** Whether the device has read its twin back (once per process, like a boot). */
  let resumed = false;
  /** Waiting for the answer to our `twin/get`, by clientToken. */
  let twinRequest: { clientToken: string; resolve: (twin: GetAccepted | undefined) => void } | undefined;
  let stopped = false;
  /** Highest delta version followed; copies of it (retained, hand-over on connect) are ignored. */
  let lastDeltaVersion = -1;
  /** The newest delta that arrived while connecting or resuming: followed once the device is online. */
  let deferredDelta: DeltaMessage | undefined;
  let seq = 0;
  let lastTs = 0;
  let lastTick = now();
  /** Final answers of recent commands, by command id: a redelivered command gets the same answer. */
  const answered = new Map<string, CommandAck>();
  /** `devices/{id}/commands/`: the commands filter without its `#`, from the one place that knows the layout. */
  const commandPrefix = topics.commandsFilter(deviceId).slice(0, -1);
  /** Reports waiting for their answer, by clientToken: what was sent and why. */
  const pending = new Map<string, { patch: JsonObject; note?: string }>();
  let problemShown = false;
  let renewTried = false;
  let lastError: string | undefined;
  let tickTimer: NodeJS.Timeout | undefined;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let firstOnline: { resolve: () => void; reject: (error: Error) => void } | undefined;
  const outbox = new TelemetryOutbox({
    maxUnconfirmed: 1000,
    resendAfterMs: Math.max(5 * intervalMs, 5000),
    maxSends: 10,
    ...options.telemetryOutbox,
  });

  // Device timestamps, strictly increasing: two reports in one millisecond must not tie, or the
  // server's tie-break (not arrival order) would decide which value of a leaf wins.
  function nextTs(): number {
    lastTs = Math.max(now(), lastTs + 1);
    return lastTs;
  }

  // The reports' seq (contract v1.1), which orders them even when two server instances receive
  // consecutive reports. It must never go back over the device's life, and a simulated device keeps
  // nothing across restarts: taken from the clock in microseconds-ish (ms · 1000), it starts a new run
  // above everything the previous run sent unless that run averaged 1000 reports per millisecond, and
  // stays a safe integer until the year 2255.
  let lastReportSeq = 0;
  function nextReportSeq(): number {
    lastReportSeq = Math.max(Math.floor(now()) * 1000, lastReportSeq + 1);
    return lastReportSeq;
  }

  function openSession(): void {
    const c = mqtt.connect(mqttUrl, {
      protocolVersion: 4,
      clientId: deviceId,
      username: credentials.username,
      password: credentials.password,
      clean: true,
      // We subscribe ourselves on every connect; mqtt.js' own resubscription would subscribe twice
      // and get the retained delta twice.
      resubscribe: false,
      reconnectPeriod: 2000,
      connectTimeout: 10_000,
      keepalive: 30,
      ...(options.ca ? { ca: options.ca } : {}),
      will: { topic: topics.status(deviceId), payload: Buffer.from(OFFLINE), qos: 1, retain: true },
    });
    client = c;
    c.on('connect', () => void onConnect(c));
    c.on('message', (topic, payload) => onMessage(c, topic, payload));
    c.on('close', () => onClose(c));
    c.on('error', (error) => onError(c, error));
  }

  async function onConnect(c: MqttClient): Promise<void> {
    try {
      // Commands before `online`: the server publishes commands only after a device announced it.
      await c.subscribeAsync([topics.twinFilter(deviceId), topics.commandsFilter(deviceId), topics.telemetryAccepted(deviceId)], { qos: 1 });
      await c.publishAsync(topics.status(deviceId), ONLINE, { qos: 1, retain: true });
    } catch (error) {
      if (c === client && !stopped) log(`${label} ! could not subscribe or announce online: ${(error as Error).message}`);
      return;
    }
    if (c !== client || stopped) return;
    problemShown = false;
    renewTried = false;
    lastError = undefined;
    const first = !everOnline;
    everOnline = true;
    log(`${label} online${first ? ` (Last Will: "offline" on ${topics.status(deviceId)})` : ' again'}`);
    let resumedDelta: DeltaMessage | undefined;
    if (!resumed) {
      // Deltas arriving meanwhile wait (deferredDelta): they apply to the resumed state, not the defaults.
      const twin = await readTwin(c);
      if (c !== client || stopped) return;
      // Asked and answered, or asked on a working connection and ignored: either way, do not ask again.
      if (twin || c.connected) resumed = true;
      else return; // the connection dropped meanwhile; the next connect resumes
      if (twin && Object.keys(twin.reported).length > 0) {
        state = mergePatch(state, twin.reported);
        log(`${label} resumed from its twin v${twin.version} (last reported state)`);
      }
      if (twin) resumedDelta = { version: twin.version, delta: twin.delta };
    }
    online = true;
    report(twinPart(state), 'full state');
    // The freshest of: the delta in the twin/get answer, and one that arrived before we were online.
    const deferred = [resumedDelta, deferredDelta].filter((d) => d !== undefined).sort((a, b) => b.version - a.version)[0];
    deferredDelta = undefined;
    // An empty one only says "nothing to do" at connect time: not worth a line.
    if (deferred) followDelta(deferred, { quietWhenEmpty: true });
    firstOnline?.resolve();
    firstOnline = undefined;
  }

  function onMessage(c: MqttClient, topic: string, payload: Buffer): void {
    if (c !== client || stopped) return;
    if (topic === topics.telemetryAccepted(deviceId)) {
      const receipt = parseJson(payload);
      if (isPlainObject(receipt) && typeof receipt.seq === 'number') outbox.confirm(receipt.seq);
      else log(`${label} ! ignored a malformed telemetry receipt: ${payload.toString('utf8').slice(0, 120)}`);
    } else if (topic.startsWith(commandPrefix) && !topic.includes('/', commandPrefix.length)) {
      onCommand(c, topic.slice(commandPrefix.length), payload);
    } else if (topic === topics.delta(deviceId)) {
      // An empty retained payload means the server cleared the delta (device deleted): nothing to do.
      if (payload.length === 0) return;
      const message = parseJson(payload);
      if (!isPlainObject(message) || typeof message.version !== 'number' || !isPlainObject(message.delta)) {
        log(`${label} ! ignored a malformed delta: ${payload.toString('utf8').slice(0, 120)}`);
        return;
      }
      const delta: DeltaMessage = { version: message.version, delta: message.delta };
      if (!online) {
        if (!deferredDelta || delta.version > deferredDelta.version) deferredDelta = delta;
        return;
      }
      followDelta(delta);
    } else if (topic === topics.reportedAccepted(deviceId)) {
      const message = parseJson(payload) as Partial<ReportedAccepted> | undefined;
      const sent = typeof message?.clientToken === 'string' ? pending.get(message.clientToken) : undefined;
      if (sent) pending.delete(message!.clientToken!);
      const what = sent ? ` ${JSON.stringify(sent.patch)}${sent.note ? ` (${sent.note})` : ''}` : '';
      log(`${label} → reported v${message?.version ?? '?'}${what}`);
    } else if (topic === topics.getAccepted(deviceId) || topic === topics.getRejected(deviceId)) {
      const message = parseJson(payload) as Partial<GetAccepted> | undefined;
      if (!twinRequest || message?.clientToken !== twinRequest.clientToken) return;
      const ok =
        topic === topics.getAccepted(deviceId) && typeof message.version === 'number' && isPlainObject(message.reported) && isPlainObject(message.delta);
      twinRequest.resolve(ok ? (message as GetAccepted) : undefined);
    } else if (topic === topics.reportedRejected(deviceId)) {
      const message = parseJson(payload) as Partial<Rejected> | undefined;
      const sent = typeof message?.clientToken === 'string' ? pending.get(message.clientToken) : undefined;
      if (sent) pending.delete(message!.clientToken!);
      log(`${label} ! report refused: ${message?.code ?? '?'}: ${message?.message ?? ''}${sent ? ` — sent ${JSON.stringify(sent.patch)}` : ''}`);
    }
  }

  function onCommand(c: MqttClient, commandId: string, payload: Buffer): void {
    const ack = (answer: CommandAck) =>
      c.publish(topics.commandAck(deviceId, commandId), encode(answer), { qos: 1 }, (error) => {
        if (error && c === client && !stopped) log(`${label} ! command ${commandId} answer not sent: ${error.message}`);
      });
    const earlier = answered.get(commandId);
    if (earlier) {
      ack(earlier);
      return;
    }
    const message = parseJson(payload);
    let answer: CommandAck;
    if (!isPlainObject(message) || typeof message.name !== 'string') {
      answer = { status: 'REJECTED', error: { code: 'MALFORMED', message: 'a command is {"name", "params", "expiresAt"}' } };
    } else if (typeof message.expiresAt === 'number' && message.expiresAt <= now()) {
      answer = { status: 'REJECTED', error: { code: 'EXPIRED', message: `expired at ${new Date(message.expiresAt).toISOString()}` } };
    } else {
      ack({ status: 'ACCEPTED' });
      const outcome = runCommand(state, message.name, isPlainObject(message.params) ? message.params : {});
      if (outcome.status === 'SUCCEEDED') {
        state = outcome.state;
        if (Object.keys(outcome.changed).length > 0) report(outcome.changed, `command ${message.name}`);
        answer = { status: 'SUCCEEDED', result: outcome.result };
      } else {
        answer = { status: 'REJECTED', error: outcome.error };
      }
    }
    answered.set(commandId, answer);
    if (answered.size > 256) answered.delete(answered.keys().next().value!);
    const name = isPlainObject(message) && typeof message.name === 'string' ? message.name : '?';
    log(`${label} ← command ${name} ${commandId}: ${answer.status}${answer.error ? ` ${JSON.stringify(answer.error)}` : ''}`);
    ack(answer);
  }

  /** Asks for the whole twin; undefined when refused or unanswered in time (then defaults it is). */
  function readTwin(c: MqttClient): Promise<GetAccepted | undefined> {
    const clientToken = `g${++seq}`;
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(undefined), options.resumeTimeoutMs ?? 3000);
      function done(twin: GetAccepted | undefined): void {
        clearTimeout(timer);
        if (twinRequest?.clientToken === clientToken) twinRequest = undefined;
        resolve(twin);
      }
      twinRequest = { clientToken, resolve: done };
      const request: GetRequest = { clientToken };
      c.publish(topics.twinGet(deviceId), encode(request), { qos: 1 }, (error) => {
        if (error) done(undefined);
      });
    });
  }

  function followDelta(message: DeltaMessage, { quietWhenEmpty = false } = {}): void {
    // Deltas repeat: the broker's retained copy on every subscribe, the server's hand-over on every
    // `online`. Versions only rise, so anything not newer than what we followed is a copy.
    if (message.version <= lastDeltaVersion) return;
    lastDeltaVersion = message.version;
    if (Object.keys(message.delta).length === 0) {
      if (!quietWhenEmpty) log(`${label} ← delta v${message.version} {} (in sync)`);
      return;
    }
    log(`${label} ← delta v${message.version} ${JSON.stringify(message.delta)}`);
    const applied = applyDelta(state, message.delta);
    state = applied.state;
    report(applied.report, `applied delta v${message.version}`);
  }

  function report(patch: JsonObject, note?: string): void {
    const c = client;
    if (!c || !c.connected) return;
    const clientToken = `r${++seq}`;
    pending.set(clientToken, note === undefined ? { patch } : { patch, note });
    // Answers lost with a dropped connection never come: keep the map from growing without bound.
    if (pending.size > 256) pending.delete(pending.keys().next().value!);
    const message: ReportedMessage = { state: patch, ts: nextTs(), seq: nextReportSeq(), clientToken };
    c.publish(topics.twinReported(deviceId), encode(message), { qos: 1 }, (error) => {
      if (error && c === client && !stopped) log(`${label} ! report not sent: ${error.message}`);
    });
  }

  function onClose(c: MqttClient): void {
    if (c !== client || stopped) return;
    if (online) {
      online = false;
      log(`${label} connection lost; reconnecting`);
    }
  }

  function onError(c: MqttClient, error: Error & { code?: unknown }): void {
    if (c !== client || stopped) return;
    lastError = error.message;
    if (typeof error.code !== 'number') {
      // Network trouble: mqtt.js keeps reconnecting by itself. One line per outage is enough.
      if (!problemShown) log(`${label} ! ${error.message}; retrying every 2 s`);
      problemShown = true;
      return;
    }
    // The broker refused the CONNECT; mqtt.js gives up on this client, so we decide what is next.
    online = false;
    client = undefined;
    c.end(true);
    if (AUTH_REFUSED.has(error.code) && options.renewCredentials && !renewTried) {
      renewTried = true;
      log(`${label} ! the broker refused the stored secret (${error.message}); issuing a new one`);
      options.renewCredentials().then(
        (fresh) => {
          credentials = fresh;
          if (!stopped) openSession();
        },
        (renewError: Error) => {
          lastError = renewError.message;
          log(`${label} ! could not issue a new secret: ${renewError.message}; retrying in ${retryDelayMs / 1000} s`);
          retryLater();
        },
      );
      return;
    }
    if (!problemShown) log(`${label} ! ${error.message}; retrying in ${retryDelayMs / 1000} s`);
    problemShown = true;
    retryLater();
  }

  function retryLater(delayMs = retryDelayMs): void {
    if (stopped) return;
    clearTimeout(reconnectTimer);
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      if (!stopped && !client) openSession();
    }, delayMs);
  }

  function step(): void {
    const t = now();
    const advanced = tick(state, t - lastTick, random, physics);
    lastTick = t;
    state = advanced.state;
    if (!online) return;
    if (flap > 0 && random() < flap) {
      dropAbruptly();
      return;
    }
    // Readings are telemetry (below); only a change to the settings would go to the twin, and a tick
    // changes none, so this reports only what a desired key set outside the model made move.
    const changed = twinPart(advanced.changed);
    if (Object.keys(changed).length > 0) report(changed);
    sendTelemetry(t);
  }

  /** This interval's reading, then whatever the receipts have not confirmed in time. */
  function sendTelemetry(t: number): void {
    const c = client;
    if (!c || !c.connected || typeof state.temperature !== 'number') return;
    const reading = outbox.offer({ temperature: state.temperature }, nextTs(), t);
    for (const message of [...outbox.due(t), ...(reading ? [reading] : [])]) publishTelemetry(c, message);
  }

  function publishTelemetry(c: MqttClient, message: OutboxMessage): void {
    c.publish(topics.telemetry(deviceId), encode(message), { qos: 1 }, (error) => {
      // Kept in the outbox: resent when due.
      if (error && c === client && !stopped) log(`${label} ! telemetry seq ${message.seq} not sent: ${error.message}`);
    });
  }

  function dropAbruptly(): void {
    const c = client;
    if (!c) return;
    client = undefined;
    online = false;
    pending.clear();
    const downtime = Math.round(downMin + random() * (downMax - downMin));
    log(`${label} ↯ dropped off abruptly (flap): the broker publishes its Last Will "offline"; back in ${(downtime / 1000).toFixed(1)} s`);
    // end(true) closes the socket without a DISCONNECT packet — what the broker sees when a device loses power.
    c.end(true);
    retryLater(downtime);
  }

  return {
    deviceId,
    get state() {
      return state;
    },
    get online() {
      return online;
    },
    get telemetry() {
      return outbox.stats;
    },
    start() {
      if (stopped) return Promise.reject(new Error(`${deviceId} is stopped`));
      if (client || tickTimer) return Promise.reject(new Error(`${deviceId} is already started`));
      return new Promise<void>((resolve, reject) => {
        const timeoutMs = options.connectTimeoutMs ?? 15_000;
        const timer = setTimeout(() => {
          firstOnline = undefined;
          reject(new Error(`${deviceId} could not connect to ${mqttUrl} within ${timeoutMs / 1000} s${lastError ? `: ${lastError}` : ''}`));
        }, timeoutMs);
        firstOnline = {
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
          reject: (error) => {
            clearTimeout(timer);
            reject(error);
          },
        };
        lastTick = now();
        // A random phase spreads the devices' reports over the interval instead of bunching them.
        tickTimer = setTimeout(
          function loop() {
            step();
            if (!stopped) tickTimer = setTimeout(loop, intervalMs);
          },
          Math.round(random() * intervalMs),
        );
        openSession();
      });
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      clearTimeout(tickTimer);
      clearTimeout(reconnectTimer);
      firstOnline?.reject(new Error(`${deviceId} was stopped before it came online`));
      firstOnline = undefined;
      const c = client;
      client = undefined;
      const wasOnline = online;
      online = false;
      const sent = outbox.stats;
      if (sent.sent > 0) {
        log(
          `${label} telemetry: ${sent.sent} sent, ${sent.confirmed} confirmed by receipts, ${sent.unconfirmed} unconfirmed, ${sent.resent} resent, ${sent.dropped} dropped (outbox full), ${sent.abandoned} abandoned`,
        );
      }
      if (!c) return;
      if (wasOnline && c.connected) {
        // Say goodbye properly: retained `offline`, then DISCONNECT, so the Last Will is discarded.
        const sent = await within(c.publishAsync(topics.status(deviceId), OFFLINE, { qos: 1, retain: true }), 2000);
        const ended = await within(c.endAsync(false), 2000);
        if (!ended) c.end(true);
        log(`${label} offline${sent && ended ? ' (disconnected cleanly)' : ' (the broker did not answer; connection closed)'}`);
      } else {
        c.end(true);
        log(everOnline ? `${label} stopped while offline (its Last Will already said "offline")` : `${label} stopped before it ever connected`);
      }
    },
  };
}

function parseJson(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** Whether `promise` settled successfully within `ms`. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => false,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
