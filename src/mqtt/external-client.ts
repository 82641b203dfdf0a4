/**
 * External-broker mode (docs/operations.md): Doppel joins Mosquitto / EMQX / HiveMQ as an MQTT 5 client and
 * takes device → server traffic through shared subscriptions (`$share/<group>/…`), so each message is
 * handled by exactly one instance of the group. The broker enforces device auth and ACLs (see acl.ts
 * for the rules to configure); this side trusts the device id in the topic.
 *
 * Acknowledgement: MQTT.js sends a QoS 1 PUBACK when `handleMessage`'s callback is called, and only then
 * hands over the next packet — strictly one message at a time. To process up to `maxInFlight` messages
 * at once and still acknowledge each one only after its handler settled, we release the packet pump
 * at once (callback with an error, which MQTT.js treats as "do not PUBACK") and write the PUBACK
 * ourselves when the handler settles. That uses MQTT.js' internal `_sendPacket` (checked at start, pinned
 * by the package lock, exercised by test/mqtt/external-client.test.ts). A PUBACK is only written on the
 * connection the message came in on: after a reconnect the broker redelivers unacknowledged messages
 * itself, and an old packet id could now name a different message.
 *
 * We advertise `maxInFlight` as MQTT 5 Receive Maximum, so the broker never has more unacknowledged QoS 1
 * messages out to us than we will process at once; when it is reached anyway the pump stops (TCP
 * backpressure) until a handler settles.
 *
 * A handler that rejects with a transient store failure (src/domain/faults.ts — only at shutdown: the
 * services hold messages through database outages) gets no PUBACK; any other rejection is acknowledged
 * so that a poison message is not redelivered forever.
 */
import { randomUUID } from 'node:crypto';
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { isTransientFailure } from '../domain/faults.ts';
import { ThrottledLog } from '../logger.ts';
import { isValidTopicName, parseInboundTopic, parseProvisionRequestTopic, provisionTopics, sharedSubscriptionFilters } from './topics.ts';
import type { ProvisioningGate } from '../services/provisioning/index.ts';
import type { ConnectionEvent, InboundMessage, MqttTransport, PublishOptions } from './transport.ts';

export interface ExternalTransportOptions {
  /** `mqtt://`, `mqtts://`, `ws://` or `wss://` URL of the broker. */
  url: string;
  /** Shared-subscription group: every Doppel instance of one deployment uses the same group. */
  group: string;
  username?: string;
  password?: string;
  /**
   * A client id that is stable across restarts of *this* instance (e.g. a StatefulSet pod name). With
   * one, we keep a persistent session (clean start off, `sessionExpirySeconds`) so QoS 1 messages queue at
   * the broker while we restart. Without one, each start is a fresh random id with a clean session, and
   * messages the broker had sent us but we had not acknowledged when we crashed are gone: Mosquitto 2.0
   * drops them with the session instead of re-routing them to another member of the group (measured on
   * 2.0.11). test/e2e/telemetry-durability.test.ts covers the persistent case (config: MQTT_CLIENT_ID).
   *
   * Caution: Mosquitto 2.0 keeps routing its share of a shared subscription to a member whose session
   * is persistent but offline (measured: 50 of 100 messages queued for the offline one of two). An
   * instance that never comes back holds that share until its session expires, and then it is lost.
   * Only set this for instances that return under the same id, and keep the expiry short.
   */
  clientId?: string;
  logger: Logger;
  /** Messages processed at once (also our MQTT 5 Receive Maximum). Default 256. */
  maxInFlight?: number;
  /** Persistent-session lifetime after we disconnect, when `clientId` is set. Default 60 s. */
  sessionExpirySeconds?: number;
  /** `start()` fails if the broker has not accepted us and our subscriptions by then. Default 30000 ms. */
  startTimeoutMs?: number;
  /** `publish()` rejects if the broker has not acknowledged by then (the message may still arrive later). Default 10000 ms. */
  publishTimeoutMs?: number;
  /** How long `stop()` waits for handlers and our own outgoing messages. Default 3000 ms. */
  closeTimeoutMs?: number;
  /** First reconnect attempt this long after the connection is lost; each failed attempt doubles it. Default 50 ms. */
  reconnectMinMs?: number;
  /** The back-off's cap: at most this long passes between the broker's return and our next attempt. Default 500 ms. */
  reconnectMaxMs?: number;
  /**
   * Answers provisioning requests (`provision/+/request`, docs/onboarding.md "Provisioning") through a
   * shared subscription of their own. The broker authenticated the client (HTTP auth) but Doppel does
   * not see who published, so requests name their policy with `claimToken`. A broker that refuses the
   * subscription (its ACL does not grant it) leaves provisioning off, with a warning, not the transport.
   */
  provisioning?: Pick<ProvisioningGate, 'handleRequest'>;
}

export interface ExternalClientStats {
  /** Messages on topics that are not device → server topics of the contract (ignored, acknowledged). */
  ignored: number;
  /** Message handler rejections (acknowledged anyway, unless the store was unavailable: see above). */
  handlerErrors: number;
  /** Messages being processed right now. */
  inFlight: number;
}

export interface ExternalTransport extends MqttTransport {
  readonly kind: 'external';
  stats(): ExternalClientStats;
}

type SendPacket = (
  packet: { cmd: 'puback'; messageId: number; reasonCode?: number },
  cb?: (err?: Error) => void,
  cbStorePut?: unknown,
  noStore?: boolean,
) => void;

/** Passed to MQTT.js' handleMessage callback: "carry on with the next packet, do not PUBACK this one". */
const DEFERRED_ACK = new Error('PUBACK deferred until the handler settles');

export function createExternalTransport(options: ExternalTransportOptions): ExternalTransport {
  const log = options.logger;
  const throttled = new ThrottledLog(log);
  const maxInFlight = Math.max(1, Math.min(options.maxInFlight ?? 256, 65_535));
  const filters = sharedSubscriptionFilters(options.group);
  const persistent = options.clientId !== undefined;
  const clientId = options.clientId ?? `doppel-${randomUUID()}`;
  const closeTimeoutMs = options.closeTimeoutMs ?? 3000;
  const publishTimeoutMs = options.publishTimeoutMs ?? 10_000;
  const reconnectMinMs = Math.max(1, options.reconnectMinMs ?? 50);
  const reconnectMaxMs = Math.max(reconnectMinMs, options.reconnectMaxMs ?? 500);

  const counters = { ignored: 0, handlerErrors: 0 };
  const inFlight = new Set<Promise<void>>();
  let resumePump: (() => void) | undefined;
  let messageHandler: ((msg: InboundMessage) => Promise<void>) | undefined;
  let client: MqttClient | undefined;
  let subscribed = false;
  /** Hand arriving messages to the handler (false once stop() has drained our subscriptions). */
  let accepting = true;
  /** Disconnecting or disconnected: no more publishes. */
  let stopped = false;
  let stopping: Promise<void> | undefined;

  const provisioningFilter = options.provisioning ? `$share/${options.group}/${provisionTopics.requestTemplate('+')}` : undefined;

  /** Answers a provisioning request (credentials or refusal); the caller acknowledges it once this settles. */
  async function answerProvisionRequest(requestId: string, payload: Buffer): Promise<void> {
    const outcome = await options.provisioning!.handleRequest(null, requestId, payload);
    if (outcome.ok) {
      const body = { deviceId: outcome.deviceId, username: outcome.username, password: outcome.password };
      await publish(provisionTopics.accepted(requestId), JSON.stringify(body), { qos: 1 });
    } else {
      await publish(provisionTopics.rejected(requestId), JSON.stringify({ code: outcome.error.code, message: outcome.error.message }), { qos: 1 });
    }
  }

  function handleMessage(packet: IPublishPacket, callback: (err?: Error) => void): void {
    const c = client!;
    const requestId = options.provisioning && packet.qos !== 2 ? parseProvisionRequestTopic(packet.topic) : null;
    const topic = parseInboundTopic(packet.topic);
    if ((topic === null && requestId === null) || packet.qos === 2) {
      // Our filters only match contract topics at QoS ≤ 1; anything else is a broker oddity. Acknowledge
      // it so it is not redelivered forever.
      counters.ignored++;
      throttled.warn('ignored', { topic: packet.topic.slice(0, 200), qos: packet.qos }, 'ignoring MQTT message outside the device contract');
      return callback();
    }
    if (!accepting || !messageHandler) {
      // Leave it unacknowledged: the broker redelivers it (to us after a restart, or to another instance).
      if (accepting) log.error('MQTT message arrived before a message handler was set');
      return callback(DEFERRED_ACK);
    }
    const handler = messageHandler;
    const stream = c.stream;
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload, 'utf8') : packet.payload;
    // Provisioning requests take the same deferred-acknowledgement path as device messages.
    const what = topic ? { deviceId: topic.deviceId, kind: topic.kind } : { requestId, kind: 'provisionRequest' };
    const work = topic
      ? () => handler({ deviceId: topic.deviceId, topic, payload, receivedAt: Date.now() } satisfies InboundMessage)
      : () => answerProvisionRequest(requestId!, payload);
    const run = Promise.resolve()
      .then(work)
      .then(
        () => true,
        (err: unknown) => {
          counters.handlerErrors++;
          if (isTransientFailure(err)) {
            // Not stored (the database was unavailable at shutdown): no PUBACK, so a persistent session gets it
            // again on reconnect. Without one (no MQTT_CLIENT_ID) the broker drops it with the session.
            log.warn({ err, ...what }, 'MQTT message not stored (database unavailable); left unacknowledged');
            return false;
          }
          // A poison message must not be redelivered forever.
          log.error({ err, ...what }, 'MQTT message handler failed; message acknowledged anyway');
          return true;
        },
      )
      .then((acknowledge) => {
        inFlight.delete(run);
        try {
          if (acknowledge && packet.qos === 1 && packet.messageId !== undefined && c.connected && c.stream === stream) {
            (c as unknown as { _sendPacket: SendPacket })._sendPacket({ cmd: 'puback', messageId: packet.messageId }, undefined, undefined, true);
          }
          const resume = resumePump;
          resumePump = undefined;
          resume?.();
        } catch (err) {
          log.error({ err }, 'MQTT.js failed to acknowledge a message');
        }
      });
    inFlight.add(run);
    if (inFlight.size < maxInFlight) callback(DEFERRED_ACK);
    else resumePump = () => callback(DEFERRED_ACK);
  }

  async function subscribe(c: MqttClient): Promise<void> {
    // Throws (ErrorWithSubackPacket) if any filter is refused, e.g. 0x9E "shared subscriptions not supported" or 0x87 "not authorized".
    await c.subscribeAsync(filters, { qos: 1 });
    if (provisioningFilter) {
      try {
        await c.subscribeAsync(provisioningFilter, { qos: 1 });
      } catch (err) {
        log.warn({ err, filter: provisioningFilter }, 'the broker refused the provisioning subscription; provisioning over MQTT is off');
      }
    }
    subscribed = true;
    log.info({ filters, clientId }, 'subscribed to device topics');
  }

  async function start(): Promise<void> {
    if (client) throw new Error('external MQTT transport already started');
    if (typeof (mqtt.MqttClient.prototype as unknown as { _sendPacket?: unknown })._sendPacket !== 'function') {
      throw new Error('MQTT.js internals changed: MqttClient._sendPacket is missing (needed to acknowledge after processing)');
    }
    const clientOptions: IClientOptions = {
      protocolVersion: 5,
      clientId,
      clean: !persistent,
      username: options.username,
      password: options.password,
      // Replaced by the back-off below before every attempt.
      reconnectPeriod: reconnectMinMs,
      connectTimeout: 10_000,
      // We subscribe ourselves on every CONNACK (and learn about refusals), see below.
      resubscribe: false,
      properties: {
        receiveMaximum: maxInFlight,
        ...(persistent ? { sessionExpiryInterval: options.sessionExpirySeconds ?? 60 } : {}),
      },
    };
    const c = mqtt.connect(options.url, { ...clientOptions, manualConnect: true });
    client = c;
    c.handleMessage = (packet, callback) => handleMessage(packet, callback as (err?: Error) => void);

    let settleStart: ((err?: Error) => void) | undefined;
    const started = new Promise<void>((resolve, reject) => {
      settleStart = (err) => {
        settleStart = undefined;
        if (err) reject(err);
        else resolve();
      };
    });

    // Reconnect back-off. Every message a device publishes between the broker's return and our SUBACK
    // is dropped by the broker (no subscriber: see "Re-subscription" below), so the time from the
    // broker's return to our next attempt is lost traffic: it is capped at `reconnectMaxMs` (the
    // MQTT.js default, a fixed 1 s, measured as ~1 s of lost telemetry per broker restart in
    // bench/RESULTS.md). MQTT.js arms its reconnect timer from `options.reconnectPeriod` when a
    // connection (or an attempt) closes, so we set the next delay just before it does.
    let reconnectDelayMs = reconnectMinMs;
    c.prependListener('close', () => {
      c.options.reconnectPeriod = reconnectDelayMs;
      reconnectDelayMs = Math.min(reconnectMaxMs, reconnectDelayMs * 2);
    });

    // Re-subscription: on every CONNACK, whatever `sessionPresent` says. Without a session (a clean
    // start, or a broker that restarted without persistence) it is obviously needed. With one it is
    // needed too: Mosquitto 2.0 restores a persistent session and its queued messages from its
    // persistence file, but not the session's *shared* subscriptions (measured on 2.0.11, see
    // docs/durability.md) — until we subscribe again the broker drops the group's traffic, even while
    // telling us sessionPresent=true. Subscribing again to a filter the session still has only replaces
    // it (no duplicate deliveries), so doing it always is safe on every broker.
    c.on('connect', (connack) => {
      reconnectDelayMs = reconnectMinMs;
      if (!accepting) return; // reconnected while stop() drains: do not subscribe again
      log.info({ url: redact(options.url), clientId, sessionPresent: connack.sessionPresent }, 'connected to MQTT broker');
      subscribe(c).then(
        () => settleStart?.(),
        (err: Error) => {
          log.error({ err }, 'MQTT broker refused our subscriptions');
          settleStart?.(err);
        },
      );
    });
    c.on('close', () => {
      if (subscribed) log.warn({ clientId }, 'lost connection to MQTT broker; reconnecting');
      subscribed = false;
    });
    c.on('error', (err: Error & { code?: number | string }) => {
      // CONNACK refusals (bad credentials, not authorized, …) carry a numeric reason code.
      if (settleStart && typeof err.code === 'number') settleStart(err);
      throttled.warn('error', { err: err.message, code: err.code }, 'MQTT client error');
    });

    c.connect();
    const timer = setTimeout(
      () => settleStart?.(new Error(`could not connect and subscribe to ${redact(options.url)} within ${options.startTimeoutMs ?? 30_000} ms`)),
      options.startTimeoutMs ?? 30_000,
    );
    timer.unref();
    try {
      await started;
    } catch (err) {
      accepting = false;
      stopped = true;
      await new Promise<void>((resolve) => c.end(true, {}, () => resolve()));
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Without a persistent session we first unsubscribe, so the broker sends the rest of the traffic to the
   * other instances of the group, and keep processing what arrived before the UNSUBACK. With one we stay
   * subscribed (the broker queues for our return) and leave newly arriving messages unacknowledged. Either
   * way, handlers already running finish while the connection is up — their replies can still be
   * published and their PUBACKs still go out — before we disconnect.
   */
  function stop(): Promise<void> {
    stopping ??= (async () => {
      const c = client;
      if (!c) {
        accepting = false;
        stopped = true;
        return;
      }
      if (!persistent && c.connected) {
        await withTimeout(c.unsubscribeAsync(provisioningFilter ? [...filters, provisioningFilter] : filters), closeTimeoutMs);
      }
      accepting = false;
      subscribed = false;
      await withTimeout(Promise.allSettled([...inFlight]), closeTimeoutMs);
      stopped = true;
      resumePump?.();
      // Graceful first (waits for our own QoS 1 publishes), then force.
      const ended = await withTimeout(new Promise<void>((resolve) => c.end(false, {}, () => resolve())), closeTimeoutMs);
      if (!ended) await withTimeout(new Promise<void>((resolve) => c.end(true, {}, () => resolve())), closeTimeoutMs);
      log.info('disconnected from MQTT broker');
    })();
    return stopping;
  }

  function publish(topic: string, payload: string | Buffer, opts: PublishOptions): Promise<void> {
    const c = client;
    if (!c || stopped) return Promise.reject(new Error('external MQTT transport is not running'));
    if (!isValidTopicName(topic)) return Promise.reject(new TypeError(`invalid topic to publish to: ${JSON.stringify(topic)}`));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`MQTT publish to ${topic} not acknowledged within ${publishTimeoutMs} ms`)), publishTimeoutMs);
      c.publish(topic, payload, { qos: opts.qos, retain: opts.retain ?? false }, (err) => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      });
    });
  }

  return {
    kind: 'external',
    start,
    stop,
    isReady: () => accepting && !stopped && subscribed && client?.connected === true,
    publish,
    setMessageHandler(handler) {
      if (messageHandler) throw new Error('MQTT message handler already set');
      messageHandler = handler;
    },
    // External brokers report presence through each device's retained `status` and Last Will.
    setConnectionHandler(_handler: (ev: ConnectionEvent) => void) {},
    disconnect: async () => false,
    retireSessions: () => undefined,
    port: undefined,
    stats: () => ({ ...counters, inFlight: inFlight.size }),
  };
}

/** The URL without credentials, for logs. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return '<invalid url>';
  }
}

/** Resolves `true` if `promise` settled within `ms`, `false` on timeout. */
function withTimeout(promise: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    timer.unref();
    const done = () => {
      clearTimeout(timer);
      resolve(true);
    };
    promise.then(done, done);
  });
}
