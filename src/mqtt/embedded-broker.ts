/**
 * The embedded MQTT broker (DESIGN §2): Aedes on a plain TCP listener, with device authentication,
 * the topic ACL of acl.ts, and device → server messages handed to the message handler *before* they
 * are acknowledged, so a QoS 1 PUBACK means "processed".
 *
 * How refusals look to a device (Aedes 1.2, MQTT 3.1/3.1.1 only — Aedes does not speak MQTT 5):
 * - bad credentials, unknown device, invalid device id as username: CONNACK 4 "bad user name or
 *   password", then the connection is closed. A failing authenticator: CONNACK 3 "server unavailable".
 *   A Last Will outside the device's own publish topics: CONNACK 5 "not authorized".
 * - SUBSCRIBE outside its own `twin/#` / `commands/#`: SUBACK return code 0x80 for that filter, the
 *   other filters of the packet are granted and the connection stays up.
 * - PUBLISH outside its own device → server topics, or with a payload above `maxPayloadBytes`: the
 *   message is dropped, not acknowledged, and the connection is closed (MQTT 3.1.1 has no negative
 *   PUBACK; this is Aedes' behaviour for an `authorizePublish` error).
 * - A packet whose declared length could not hold a payload within the limit is cut off while it
 *   arrives (the connection is destroyed), so a device cannot make us buffer hundreds of MB.
 */
import net from 'node:net';
import type { EventEmitter } from 'node:events';
import { Aedes, type AedesPublishPacket, type Client, type PublishPacket, type Subscription, type ConnectPacket } from 'aedes';
import type { Logger } from 'pino';
import { ThrottledLog } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { canPublish, canReceive, canSubscribe } from './acl.ts';
import { isValidTopicName, parseInboundTopic } from './topics.ts';
import { isValidDeviceId } from '../domain/ids.ts';
import type { ConnectionEvent, DeviceAuthenticator, InboundMessage, MqttTransport, PublishOptions } from './transport.ts';

export interface EmbeddedTransportOptions {
  /** TCP port; 0 picks a free one (read it back from `transport.port`). */
  port: number;
  host: string;
  authenticator: DeviceAuthenticator;
  logger: Logger;
  /** Largest payload accepted from a device (also a device's Last Will), in bytes. */
  maxPayloadBytes: number;
  /** How long `stop()` waits for clients and in-flight handlers before destroying sockets. Default 3000 ms. */
  closeTimeoutMs?: number;
  /** How long a new TCP connection may take to send CONNECT. Default 10000 ms. */
  connectTimeoutMs?: number;
  /** Where refusals are counted for /metrics (besides stats()). */
  metrics?: Metrics;
}

export interface EmbeddedBrokerStats {
  /** CONNECTs refused for bad credentials, unknown devices or invalid usernames. */
  authFailures: number;
  /** Refused PUBLISHes, SUBSCRIBE filters and Last Wills. */
  aclDenials: number;
  /** Payloads (or whole packets) over the size limit. */
  oversize: number;
  /** Message handler rejections (the message was still acknowledged). */
  handlerErrors: number;
}

export interface EmbeddedTransport extends MqttTransport {
  readonly kind: 'embedded';
  stats(): EmbeddedBrokerStats;
}

/** /metrics names of the broker's refusal counters. */
export const BROKER_METRIC_NAMES: Record<keyof EmbeddedBrokerStats, string> = {
  authFailures: 'doppel_mqtt_auth_failures_total',
  aclDenials: 'doppel_mqtt_acl_denials_total',
  oversize: 'doppel_mqtt_oversize_total',
  handlerErrors: 'doppel_mqtt_handler_errors_total',
};
const BROKER_METRICS: Record<keyof EmbeddedBrokerStats, string> = {
  authFailures: 'MQTT CONNECTs refused: bad credentials, unknown, disabled or revoked devices, invalid usernames.',
  aclDenials: 'MQTT publishes, subscription filters and Last Wills refused by the topic ACL.',
  oversize: 'MQTT payloads or packets over the size limit (the connection is closed).',
  handlerErrors: 'MQTT message handler failures (the message was still acknowledged).',
};

/** CONNACK return codes (MQTT 3.1.1 §3.2.2.3); Aedes' own enum is a const enum we cannot import. */
const SERVER_UNAVAILABLE = 3;
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;

function connackError(returnCode: number, message: string): Error & { returnCode: number } {
  return Object.assign(new Error(message), { returnCode });
}

export function createEmbeddedTransport(options: EmbeddedTransportOptions): EmbeddedTransport {
  const { authenticator, maxPayloadBytes } = options;
  const log = options.logger;
  const throttled = new ThrottledLog(log);
  const closeTimeoutMs = options.closeTimeoutMs ?? 3000;

  const counters: EmbeddedBrokerStats = { authFailures: 0, aclDenials: 0, oversize: 0, handlerErrors: 0 };
  for (const [key, help] of Object.entries(BROKER_METRICS)) options.metrics?.describe(BROKER_METRIC_NAMES[key as keyof EmbeddedBrokerStats], help);
  /** Counts a refusal in stats() and, when given, in /metrics. */
  function bump(key: keyof EmbeddedBrokerStats): void {
    counters[key]++;
    options.metrics?.inc(BROKER_METRIC_NAMES[key]);
  }
  /** The authenticated device behind each Aedes client. Never trust `client.id` for identity. */
  const deviceOf = new WeakMap<Client, string>();
  /** Last Wills seen at CONNECT, checked against the ACL once we know who the device is. */
  const willOf = new WeakMap<Client, NonNullable<ConnectPacket['will']>>();
  /** Sessions opened with a credential that expires (rotation grace period): closed when it does. */
  const expiryOf = new WeakMap<Client, { timer: NodeJS.Timeout; at: number }>();
  /** Registered (connected) clients per device, for connection events and `disconnectDevice`. */
  const clientsOf = new Map<string, Set<Client>>();
  const inFlight = new Set<Promise<void>>();
  const sockets = new Set<net.Socket>();

  let messageHandler: ((msg: InboundMessage) => Promise<void>) | undefined;
  let connectionHandler: ((ev: ConnectionEvent) => void) | undefined;
  let aedes: Aedes | undefined;
  let server: net.Server | undefined;
  let ready = false;
  /** No new connections or inbound messages (stop() has begun). */
  let closing = false;
  /** The broker is closing or closed: no more publishes. */
  let stopped = false;
  let stopping: Promise<void> | undefined;

  function preConnect(client: Client, packet: ConnectPacket, done: (err: Error | null, ok: boolean) => void): void {
    // Aedes keys sessions and takeovers by client id, which the device chooses. Scope it by the claimed
    // username so one device can neither kick another off (MQTT-3.1.4-2) nor resume its persistent
    // session; `:` cannot occur in a device id, so scoped ids never collide. Wrong credentials are
    // refused before the id is ever registered.
    if (isValidDeviceId(packet.username) && packet.clientId && packet.clientId !== packet.username) {
      packet.clientId = `${packet.username}:${packet.clientId}`;
    }
    if (packet.will) willOf.set(client, packet.will);
    done(null, true);
  }

  function authenticate(
    client: Client,
    username: Readonly<string | undefined>,
    password: Readonly<Buffer | undefined>,
    done: (err: (Error & { returnCode: number }) | null, ok: boolean | null) => void,
  ): void {
    const remote = client.conn && 'remoteAddress' in client.conn ? client.conn.remoteAddress : undefined;
    if (!isValidDeviceId(username)) {
      bump('authFailures');
      throttled.warn(`auth:${remote}`, { remote, username: String(username).slice(0, 80) }, 'MQTT connect refused: username is not a valid device id');
      return done(connackError(BAD_USERNAME_OR_PASSWORD, 'bad user name or password'), null);
    }
    const deviceId = username;
    Promise.resolve()
      .then(() => authenticator.authenticate(deviceId, password))
      .then(
        (decision) => {
          if (!decision) {
            bump('authFailures');
            throttled.warn(`auth:${deviceId}`, { deviceId, remote }, 'MQTT connect refused: bad credentials');
            return done(connackError(BAD_USERNAME_OR_PASSWORD, 'bad user name or password'), null);
          }
          const will = willOf.get(client);
          willOf.delete(client);
          if (will && !canPublish(deviceId, will.topic)) {
            bump('aclDenials');
            throttled.warn(`acl:${deviceId}`, { deviceId, topic: will.topic }, 'MQTT connect refused: Last Will topic not allowed');
            return done(connackError(NOT_AUTHORIZED, 'not authorized'), null);
          }
          if (will && payloadLength(will.payload) > maxPayloadBytes) {
            bump('oversize');
            throttled.warn(`size:${deviceId}`, { deviceId, bytes: payloadLength(will.payload) }, 'MQTT connect refused: Last Will payload too large');
            return done(connackError(NOT_AUTHORIZED, 'not authorized'), null);
          }
          deviceOf.set(client, deviceId);
          if (typeof decision === 'object') expireAt(client, deviceId, decision.expiresAt);
          done(null, true);
        },
        (err: unknown) => {
          log.error({ err, deviceId }, 'device authenticator failed; refusing connect with "server unavailable"');
          done(connackError(SERVER_UNAVAILABLE, 'server unavailable'), null);
        },
      );
  }

  function authorizePublish(client: Client | null, packet: PublishPacket, done: (err?: Error | null) => void): void {
    // `client` is null only for a Last Will of a session that outlived its connection; wills were
    // checked against the ACL at CONNECT, so the topic's own id is the device.
    const deviceId = client ? deviceOf.get(client) : parseInboundTopic(packet.topic)?.deviceId;
    const topic = deviceId !== undefined && canPublish(deviceId, packet.topic) ? parseInboundTopic(packet.topic) : null;
    if (deviceId === undefined || topic === null) {
      bump('aclDenials');
      throttled.warn(`acl:${deviceId}`, { deviceId, topic: packet.topic.slice(0, 200) }, 'MQTT publish refused by ACL; disconnecting client');
      return done(new Error('publish not authorized'));
    }
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload, 'utf8') : packet.payload;
    if (payload.length > maxPayloadBytes) {
      bump('oversize');
      throttled.warn(`size:${deviceId}`, { deviceId, bytes: payload.length, max: maxPayloadBytes }, 'MQTT payload too large; disconnecting client');
      return done(new Error('payload too large'));
    }
    if (closing || !messageHandler) {
      // Nobody would process it: leave it unacknowledged (the client is dropped) so the device resends.
      if (!closing) log.error('MQTT message arrived before a message handler was set');
      return done(new Error('not accepting messages'));
    }
    // Only `status` is meant to be retained. Retained telemetry or acks (one per command id!) would pile
    // up in broker memory forever.
    if (topic.kind !== 'status') packet.retain = false;

    const handler = messageHandler;
    const run = Promise.resolve()
      .then(() => handler({ deviceId, topic, payload, receivedAt: Date.now() }))
      .catch((err: unknown) => {
        bump('handlerErrors');
        log.error({ err, deviceId, kind: topic.kind }, 'MQTT message handler failed; message acknowledged anyway');
      })
      .finally(() => {
        inFlight.delete(run);
        try {
          done(null); // → PUBACK (QoS 1) and routing
        } catch (err) {
          log.error({ err, deviceId }, 'Aedes failed to complete a publish');
        }
      });
    inFlight.add(run);
  }

  function authorizeSubscribe(client: Client, sub: Subscription, done: (err: Error | null, sub?: Subscription | null) => void): void {
    const deviceId = deviceOf.get(client);
    if (deviceId !== undefined && canSubscribe(deviceId, sub.topic)) return done(null, sub);
    bump('aclDenials');
    throttled.warn(`acl:${deviceId}`, { deviceId, filter: sub.topic.slice(0, 200) }, 'MQTT subscription refused by ACL (SUBACK 0x80)');
    done(null, null);
  }

  function authorizeForward(client: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
    const deviceId = deviceOf.get(client);
    // Defence in depth: only the device's own server → device topics ever reach it. Its own device →
    // server messages are not echoed back (they match its `twin/#` and `commands/#` subscriptions).
    if (deviceId === undefined || !canReceive(deviceId, packet.topic)) return null;
    return packet;
  }

  /** Closes `client` at `at` (epoch ms); an earlier deadline already set wins. */
  function expireAt(client: Client, deviceId: string, at: number): void {
    const existing = expiryOf.get(client);
    if (existing && existing.at <= at) return;
    clearTimeout(existing?.timer);
    // Grace periods are capped at 7 days (devices.ts), well inside setTimeout's 24.8-day range.
    const timer = setTimeout(() => {
      expiryOf.delete(client);
      log.info({ deviceId, clientId: client.id }, 'closing a session opened with a secret whose grace period ended');
      client.close();
    }, Math.max(0, at - Date.now()));
    timer.unref();
    expiryOf.set(client, { timer, at });
  }

  function emitConnection(deviceId: string, connected: boolean): void {
    if (!connectionHandler) return;
    try {
      connectionHandler({ deviceId, connected, at: Date.now() });
    } catch (err) {
      log.error({ err, deviceId }, 'MQTT connection handler threw');
    }
  }

  function onClient(client: Client): void {
    const deviceId = deviceOf.get(client);
    if (deviceId === undefined) return;
    let set = clientsOf.get(deviceId);
    if (!set) clientsOf.set(deviceId, (set = new Set()));
    set.add(client);
    log.debug({ deviceId, clientId: client.id }, 'device connected');
    if (set.size === 1) emitConnection(deviceId, true);
  }

  function onClientDisconnect(client: Client): void {
    const deviceId = deviceOf.get(client);
    if (deviceId === undefined) return;
    clearTimeout(expiryOf.get(client)?.timer);
    expiryOf.delete(client);
    const set = clientsOf.get(deviceId);
    if (!set?.delete(client)) return;
    log.debug({ deviceId, clientId: client.id }, 'device disconnected');
    if (set.size === 0) {
      clientsOf.delete(deviceId);
      emitConnection(deviceId, false);
    }
  }

  function onConnection(socket: net.Socket): void {
    if (!aedes || closing) {
      socket.destroy();
      return;
    }
    // Small server → device writes (commands, replies) must not wait for the previous segment to be
    // acknowledged (Nagle + delayed ACK added ~25 ms to a command round trip).
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    const client = aedes.handle(socket);
    guardFrameSize(client, socket);
  }

  /**
   * Aedes (mqtt-packet) buffers a whole packet before anyone sees it, whatever length the fixed header
   * declares (up to 256 MB). Watch the declared lengths as bytes arrive and cut off a connection whose
   * next packet could not hold an acceptable payload. The exact limit is enforced in authorizePublish;
   * this is the coarse memory bound (topic, ids and CONNECT strings get 64 KiB each of headroom).
   */
  function guardFrameSize(client: Client, socket: net.Socket): void {
    const parser = (client as unknown as { _parser?: { parse?: (buf: Buffer) => unknown } })._parser;
    if (!parser || typeof parser.parse !== 'function') {
      log.warn('Aedes internals changed: MQTT frame size guard not installed');
      return;
    }
    const scanner = new FrameScanner(maxPayloadBytes + 4 * 65_537 + 16);
    const parse = parser.parse.bind(parser);
    parser.parse = (buf: Buffer) => {
      if (scanner.feed(buf)) return parse(buf);
      bump('oversize');
      const deviceId = deviceOf.get(client);
      throttled.warn(`size:${deviceId ?? socket.remoteAddress}`, { deviceId, remote: socket.remoteAddress }, 'MQTT packet too large; connection cut off');
      socket.destroy();
      return 0;
    };
  }

  async function start(): Promise<void> {
    if (aedes) throw new Error('embedded MQTT transport already started');
    const broker = new Aedes({
      preConnect,
      authenticate,
      authorizePublish,
      authorizeSubscribe,
      authorizeForward,
      connectTimeout: options.connectTimeoutMs ?? 10_000,
      // Only MQTT 3.1 enforces a client id length; scoped ids (see preConnect) are longer than 23.
      maxClientsIdLength: 65_535,
      // Messages Aedes delivers at once. The default (100) is far below one twin batch of replies;
      // under sustained load its overflow queue then drains recursively until the stack overflows
      // (measured in bench:twin, see docs/benchmarks.md). Memory stays bounded by the PUBACK-after-
      // processing backpressure on every device connection.
      concurrency: 5_000,
    });
    aedes = broker;
    broker.on('client', onClient);
    broker.on('clientDisconnect', onClientDisconnect);
    broker.on('clientError', (client, err) => log.debug({ err: err.message, deviceId: deviceOf.get(client), clientId: client.id }, 'MQTT client error'));
    broker.on('connectionError', (_client, err) => log.debug({ err: err.message }, 'MQTT connection error'));
    // Aedes emits 'error' for persistence failures; an EventEmitter 'error' without a listener would crash us.
    (broker as EventEmitter).on('error', (err: Error) => log.error({ err }, 'Aedes broker error'));
    await broker.listen();

    const srv = net.createServer(onConnection);
    server = srv;
    srv.on('error', (err) => log.error({ err }, 'MQTT listener error'));
    try {
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(options.port, options.host, () => {
          srv.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      throw err;
    }
    ready = true;
    log.info({ host: options.host, port: (srv.address() as net.AddressInfo).port }, 'embedded MQTT broker listening');
  }

  /**
   * Stops accepting connections and messages, lets handlers already running finish (their replies can
   * still be published and their PUBACKs still go out, so devices do not resend what we processed),
   * then closes every client — one `connected: false` event per device — and the listener. Last Wills
   * triggered by our own shutdown are not handed to the message handler.
   */
  function stop(): Promise<void> {
    stopping ??= (async () => {
      ready = false;
      closing = true;
      const srv = server;
      const broker = aedes;
      const serverClosed = srv?.listening ? new Promise<void>((resolve) => srv.close(() => resolve())) : Promise.resolve();
      await withTimeout(Promise.allSettled([...inFlight]), closeTimeoutMs);
      stopped = true;
      if (broker) await withTimeout(new Promise<void>((resolve) => broker.close(() => resolve())), closeTimeoutMs);
      for (const socket of sockets) socket.destroy();
      await withTimeout(serverClosed, closeTimeoutMs);
      log.info('embedded MQTT broker stopped');
    })();
    return stopping;
  }

  function publish(topic: string, payload: string | Buffer, opts: PublishOptions): Promise<void> {
    const broker = aedes;
    if (!broker || stopped) return Promise.reject(new Error('embedded MQTT broker is not running'));
    if (!isValidTopicName(topic)) return Promise.reject(new TypeError(`invalid topic to publish to: ${JSON.stringify(topic)}`));
    const packet: PublishPacket = {
      cmd: 'publish',
      topic,
      payload: typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload,
      qos: opts.qos,
      retain: opts.retain ?? false,
      dup: false,
    };
    return new Promise((resolve, reject) => broker.publish(packet, (err) => (err ? reject(err) : resolve())));
  }

  return {
    kind: 'embedded',
    start,
    stop,
    isReady: () => ready,
    publish,
    setMessageHandler(handler) {
      if (messageHandler) throw new Error('MQTT message handler already set');
      messageHandler = handler;
    },
    setConnectionHandler(handler) {
      if (connectionHandler) throw new Error('MQTT connection handler already set');
      connectionHandler = handler;
    },
    async disconnectDevice(deviceId) {
      const set = clientsOf.get(deviceId);
      if (!set || set.size === 0) return false;
      await Promise.all([...set].map((client) => new Promise<void>((resolve) => client.close(() => resolve()))));
      return true;
    },
    retireSessions(deviceId, at) {
      for (const client of clientsOf.get(deviceId) ?? []) expireAt(client, deviceId, at);
    },
    get port() {
      const address = server?.address();
      return address && typeof address === 'object' ? address.port : undefined;
    },
    stats: () => ({ ...counters }),
  };
}

function payloadLength(payload: string | Buffer): number {
  return typeof payload === 'string' ? Buffer.byteLength(payload, 'utf8') : payload.length;
}

function withTimeout(promise: Promise<unknown>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref();
    promise.then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      () => {
        clearTimeout(timer);
        resolve();
      },
    );
  });
}

/**
 * Follows MQTT framing (one type byte, a 1–4 byte "remaining length", then the body) across chunks,
 * without copying, and reports when a declared length exceeds the limit or is malformed.
 */
export class FrameScanner {
  private state: 'type' | 'length' | 'body' = 'type';
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;
  private remaining = 0;
  private failed = false;

  constructor(private readonly maxRemainingLength: number) {}

  /** `false` once the stream declares a packet over the limit (or a malformed length). */
  feed(buf: Buffer): boolean {
    if (this.failed) return false;
    let i = 0;
    while (i < buf.length) {
      if (this.state === 'body') {
        const n = Math.min(this.remaining, buf.length - i);
        this.remaining -= n;
        i += n;
        if (this.remaining === 0) this.state = 'type';
      } else if (this.state === 'type') {
        i++;
        this.state = 'length';
        this.length = 0;
        this.multiplier = 1;
        this.lengthBytes = 0;
      } else {
        const byte = buf[i++];
        this.length += (byte & 0x7f) * this.multiplier;
        this.multiplier *= 128;
        this.lengthBytes++;
        if (this.length > this.maxRemainingLength || (byte & 0x80 && this.lengthBytes >= 4)) {
          this.failed = true;
          return false;
        }
        if ((byte & 0x80) === 0) {
          this.remaining = this.length;
          this.state = this.remaining > 0 ? 'body' : 'type';
        }
      }
    }
    return true;
  }
}
