/**
 * The device bridge: turns contract v1 messages from any broker transport into service calls, and
 * service events into messages for devices. It knows topics only through topics.ts and payloads only
 * through contract.ts; the broker it speaks through is behind MqttTransport.
 */
import type { Logger } from '../logger.ts';
import { ThrottledLog } from '../logger.ts';
import { classifyFailure } from '../domain/faults.ts';
import type { Metrics } from '../metrics.ts';
import type { DeviceService } from '../services/devices/index.ts';
import type { TwinService } from '../services/twins/index.ts';
import type { TelemetryService } from '../services/telemetry/index.ts';
import type { TwinLimits } from '../config.ts';
import type { JsonObject } from '../domain/twin.ts';
import type { CommandService } from '../services/commands/index.ts';
import { failureOf, type DeadLetterService, type DeadMessage, type ReplayResult } from '../services/dead-letters/index.ts';
import {
  encode,
  parseAck,
  parseGet,
  parseReported,
  parseStatus,
  type DeltaMessage,
  type GetAccepted,
  type Rejected,
  type ReportedAccepted,
  type TelemetryAccepted,
} from './contract.ts';
import { formatInboundTopic, parseInboundTopic, topics } from './topics.ts';
import type { ConnectionEvent, InboundMessage, MqttTransport } from './transport.ts';
import type { LastSeenTracker } from '../services/presence.ts';
import { SchemaValidationError } from '../domain/errors.ts';
import type { StoredHook, TelemetryReceipts } from '../services/hooks.ts';

export interface BridgeOptions {
  transport: MqttTransport;
  /** Connection state: recorded on connect, disconnect and the device's `status`. */
  devices: Pick<DeviceService, 'setConnection'>;
  twins: TwinService;
  telemetry: TelemetryService;
  lastSeen: LastSeenTracker;
  metrics: Metrics;
  logger: Logger;
  maxPayloadBytes: number;
  twinLimits: TwinLimits;
  /** Reads a device's current delta (to hand it over on connect when non-empty). */
  loadDelta: (deviceId: string) => Promise<DeltaMessage | null>;
  /** Command acks and delivery on (re)connect. */
  commands: Pick<CommandService, 'handleAck' | 'onConnected'>;
  /** Telemetry receipt cursors of committed batches, published to `devices/{id}/telemetry/accepted`. */
  receipts?: StoredHook<TelemetryReceipts>;
  /** Where a message that failed deterministically is kept before it is acknowledged. */
  deadLetters: Pick<DeadLetterService, 'record'>;
}

export const REJECTED_METRIC = 'doppel_mqtt_rejected_total';
export const HANDLED_METRIC = 'doppel_mqtt_messages_total';

export function createBridge(options: BridgeOptions) {
  const { transport, devices, twins, metrics, logger } = options;
  const throttled = new ThrottledLog(logger);
  const limits = { maxBytes: options.maxPayloadBytes, maxDepth: options.twinLimits.maxDepth, maxFutureSkewMs: options.twinLimits.maxFutureSkewMs };
  metrics.describe(REJECTED_METRIC, 'Device messages refused, by topic kind and reason code.');
  metrics.describe(HANDLED_METRIC, 'Device messages handled, by topic kind.');

  // The refusal each message in flight ended with: read by `handle` (poison?) and `replay` (its outcome).
  const refusals = new WeakMap<InboundMessage, { code: string; message: string }>();

  /** Counts and logs a refused message (the log throttled per device and topic kind). */
  function reject(msg: InboundMessage, reason: { code: string; message: string }): void {
    refusals.set(msg, { code: reason.code, message: reason.message });
    metrics.inc(REJECTED_METRIC, { kind: msg.topic.kind, code: reason.code });
    throttled.warn(
      `${msg.deviceId}:${msg.topic.kind}`,
      { deviceId: msg.deviceId, kind: msg.topic.kind, code: reason.code, reason: reason.message },
      'device message refused',
    );
  }

  async function publishJson(topic: string, body: object, retain = false): Promise<void> {
    try {
      await transport.publish(topic, encode(body), { qos: 1, retain });
    } catch (error) {
      logger.warn({ err: error, topic }, 'publish to device failed');
    }
  }

  /**
   * The one mapping of a refusal to a `…/rejected` reply: its code, message and path (when it has one),
   * the request's client token, and for a schema violation every failing field.
   */
  function rejection(reason: { code: string; message: string; path?: string[]; errors?: Rejected['errors'] }, clientToken: string | undefined): Rejected {
    return {
      ...(clientToken !== undefined ? { clientToken } : {}),
      code: reason.code,
      message: reason.message,
      ...(reason.path && reason.path.length > 0 ? { path: reason.path } : {}),
      ...(reason.errors ? { errors: reason.errors } : {}),
    };
  }

  async function onReported(msg: InboundMessage): Promise<void> {
    const parsed = parseReported(msg.payload, limits, msg.receivedAt);
    if (!parsed.ok) {
      reject(msg, parsed.error);
      await publishJson(topics.reportedRejected(msg.deviceId), rejection(parsed.error, parsed.error.clientToken));
      return;
    }
    const { state, ts, seq, clientToken } = parsed.value;
    const outcome = await twins.applyPatch({
      deviceId: msg.deviceId,
      section: 'reported',
      patch: state,
      ts,
      ...(seq === undefined ? {} : { seq }),
      source: 'device',
      actor: `device:${msg.deviceId}`,
    });
    const token = clientToken !== undefined ? { clientToken } : {};
    if (!outcome.ok) {
      const issues = 'issues' in outcome.error ? (outcome.error as { issues: Array<{ code: string; path: string[]; message: string }> }).issues : [];
      const issue = issues[0];
      const reason = {
        code: issue?.code ?? outcome.error.code,
        message: outcome.error.message,
        ...(issue ? { path: ['state', ...issue.path] } : {}),
        // A schema violation can fail several paths at once: the device gets all of them.
        ...(outcome.error instanceof SchemaValidationError
          ? { errors: issues.map((i) => ({ path: ['state', ...i.path], code: i.code, message: i.message })) }
          : {}),
      };
      reject(msg, reason);
      await publishJson(topics.reportedRejected(msg.deviceId), rejection(reason, clientToken));
      return;
    }
    const accepted: ReportedAccepted = { ...token, version: outcome.version };
    await publishJson(topics.reportedAccepted(msg.deviceId), accepted);
  }

  /** No reply topic for telemetry: refusals are counted and logged. The PUBACK (QoS 1) follows the store. */
  async function onTelemetry(msg: InboundMessage): Promise<void> {
    const outcome = await options.telemetry.ingest(msg.deviceId, msg.payload, msg.receivedAt);
    if (!outcome.ok) reject(msg, outcome.error);
  }

  async function onGet(msg: InboundMessage): Promise<void> {
    const parsed = parseGet(msg.payload, limits);
    if (!parsed.ok) {
      reject(msg, parsed.error);
      await publishJson(topics.getRejected(msg.deviceId), rejection(parsed.error, parsed.error.clientToken));
      return;
    }
    const { clientToken } = parsed.value;
    const token = clientToken !== undefined ? { clientToken } : {};
    const outcome = await twins.get(msg.deviceId);
    if (!outcome.ok) {
      reject(msg, outcome.error);
      await publishJson(topics.getRejected(msg.deviceId), rejection(outcome.error, clientToken));
      return;
    }
    const { twin } = outcome;
    const reply: GetAccepted = { ...token, version: twin.version, reported: twin.reported, desired: twin.desired, delta: twin.delta };
    await publishJson(topics.getAccepted(msg.deviceId), reply);
  }

  async function onStatus(msg: InboundMessage): Promise<void> {
    const parsed = parseStatus(msg.payload);
    if (!parsed.ok) {
      reject(msg, parsed.error);
      return;
    }
    await devices.setConnection(msg.deviceId, parsed.value === 'online' ? 'ready' : 'disconnected', msg.receivedAt);
    // A device already gone again gets no command round: its commands wait for its next `online`.
    if (parsed.value === 'online' && msg.dropIfGone?.() !== true) {
      // The device is subscribed: deliver what waits for it, in order.
      options.commands.onConnected(msg.deviceId);
      await handOverDelta(msg.deviceId);
    }
  }

  /** No reply topic for acks: refusals (bad payloads, unknown or foreign commands, illegal transitions) are counted and logged. */
  async function onAck(msg: InboundMessage & { topic: { kind: 'commandAck'; commandId: string } }): Promise<void> {
    const parsed = parseAck(msg.payload, limits);
    if (!parsed.ok) {
      reject(msg, parsed.error);
      return;
    }
    const outcome = await options.commands.handleAck(msg.deviceId, msg.topic.commandId, parsed.value, msg.receivedAt);
    if (!outcome.ok) reject(msg, outcome.error);
  }

  // Newest delta version published per device. A hand-over reads the delta and publishes it later; a
  // change committed in between publishes a newer one, which the older must not overwrite (retained).
  const publishedDeltaVersions = new Map<string, number>();

  async function publishDelta(deviceId: string, message: DeltaMessage): Promise<void> {
    if (message.version < (publishedDeltaVersions.get(deviceId) ?? -1)) return;
    publishedDeltaVersions.set(deviceId, message.version);
    await publishJson(topics.delta(deviceId), message, true);
  }

  /** Publishes the current delta on connect so a device catches up even if the broker lost its retained copy. */
  async function handOverDelta(deviceId: string): Promise<void> {
    const delta = await options.loadDelta(deviceId);
    if (delta && Object.keys(delta.delta).length > 0) await publishDelta(deviceId, delta);
  }

  /** Runs one message through its handler; refusals are answered and counted there, failures thrown. */
  async function dispatch(msg: InboundMessage): Promise<void> {
    switch (msg.topic.kind) {
      case 'twinReported':
        return await onReported(msg);
      case 'twinGet':
        return await onGet(msg);
      case 'status':
        return await onStatus(msg);
      case 'telemetry':
        return await onTelemetry(msg);
      case 'commandAck':
        return await onAck(msg as InboundMessage & { topic: { kind: 'commandAck'; commandId: string } });
    }
  }

  /** Telemetry the store refuses even alone is poison; every other refusal was the device's input, answered and counted. */
  const isPoison = (msg: InboundMessage, refusal: { code: string; message: string } | undefined): refusal is { code: string; message: string } =>
    msg.topic.kind === 'telemetry' && refusal?.code === 'STORE_REFUSED';

  const deadMessage = (msg: InboundMessage): DeadMessage => ({
    deviceId: msg.deviceId,
    topic: formatInboundTopic(msg.topic),
    kind: msg.topic.kind,
    payload: msg.payload,
    receivedAt: msg.receivedAt,
  });

  async function handle(msg: InboundMessage): Promise<void> {
    metrics.inc(HANDLED_METRIC, { kind: msg.topic.kind });
    options.lastSeen.touch(msg.deviceId, msg.receivedAt);
    try {
      await dispatch(msg);
    } catch (error) {
      // A transient failure (the database went away during shutdown) leaves the message unacknowledged
      // for the broker to deliver again: counted apart from real failures.
      const transient = classifyFailure(error) === 'transient';
      metrics.inc(REJECTED_METRIC, { kind: msg.topic.kind, code: transient ? 'UNAVAILABLE' : 'INTERNAL' });
      if (transient) {
        logger.warn({ err: error, deviceId: msg.deviceId, kind: msg.topic.kind }, 'device message left unacknowledged: store unavailable');
        throw error;
      }
      // Deterministic and this message's alone (the services isolate a failing batch down to the op that
      // fails by itself): kept as a dead letter (logged there), then acknowledged. A database unavailable
      // for the dead letter throws UnavailableError: the message stays unacknowledged and comes again.
      await options.deadLetters.record(deadMessage(msg), failureOf(error));
      return;
    }
    const refusal = refusals.get(msg);
    if (isPoison(msg, refusal)) await options.deadLetters.record(deadMessage(msg), refusal);
  }

  /** A dead letter run again through `dispatch`, as if it had just arrived (replies to the device included). */
  async function replay(message: DeadMessage): Promise<ReplayResult> {
    const topic = parseInboundTopic(message.topic);
    if (!topic || topic.deviceId !== message.deviceId) return { ok: false, code: 'INVALID_TOPIC', message: `not a device topic: ${message.topic}` };
    const msg: InboundMessage = { deviceId: message.deviceId, topic, payload: Buffer.from(message.payload), receivedAt: message.receivedAt };
    try {
      await dispatch(msg);
    } catch (error) {
      if (classifyFailure(error) === 'transient') throw error;
      const { code, message: why } = failureOf(error);
      return { ok: false, code, message: why };
    }
    const refusal = refusals.get(msg);
    return refusal ? { ok: false, code: refusal.code, message: refusal.message } : { ok: true };
  }

  function onConnection(event: ConnectionEvent): void {
    void (async () => {
      try {
        await devices.setConnection(event.deviceId, event.connected ? 'connected' : 'disconnected', event.at);
        // Commands wait for the device's `online` status, which it publishes after subscribing: a
        // command published between CONNECT and SUBSCRIBE would be lost by a clean session.
        // A device that gave up and closed meanwhile (a storm) gets no hand-over: it comes again on its retry.
        if (event.connected && event.dropIfGone?.() !== true) await handOverDelta(event.deviceId);
      } catch (error) {
        logger.error({ err: error, deviceId: event.deviceId }, 'recording a connection event failed');
      }
    })();
  }

  twins.onDeltaChanged((deviceId: string, version: number, delta: JsonObject) => {
    void publishDelta(deviceId, { version, delta });
  });

  // Published only after the batch committed (the hook fires then). QoS 1, not retained: a device that
  // was away misses it, and the next receipt (or its resend's) says as much. The broker drops it when
  // the device did not subscribe.
  options.receipts?.subscribe(async ({ cursors }) => {
    await Promise.all([...cursors].map(([deviceId, seq]) => publishJson(topics.telemetryAccepted(deviceId), { seq } satisfies TelemetryAccepted)));
  });

  transport.setMessageHandler(handle);
  transport.setConnectionHandler(onConnection);

  return {
    /** Runs a dead letter again through the path live messages take (DeadLetterService's MessageReplayer). */
    replay,
    /** Clears what the server retained for a device (after it is deleted). */
    async clearRetained(deviceId: string): Promise<void> {
      publishedDeltaVersions.delete(deviceId);
      await transport.publish(topics.delta(deviceId), '', { qos: 1, retain: true });
    },
  };
}
