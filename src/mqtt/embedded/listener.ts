/**
 * The broker's lifecycle: an Aedes instance wired to the hooks of the other parts, on a plain TCP
 * listener, and the bounded, ordered shutdown.
 */
import net from 'node:net';
import type { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { Aedes, type AedesOptions, type Client } from 'aedes';
import type { Logger } from 'pino';
import type { InboundDelivery } from './delivery.ts';
import type { SessionExpiry } from './expiry.ts';
import type { Sessions } from './sessions.ts';

/** The Aedes hooks that decide who gets in and what passes. */
export type BrokerHooks = Required<Pick<AedesOptions, 'preConnect' | 'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'authorizeForward'>>;

export interface BrokerListener {
  /** Starts Aedes and listens; throws (with nothing left running) when the port cannot be bound. */
  start: () => Promise<void>;
  /** Idempotent; see the comment at its implementation. */
  stop: () => Promise<void>;
  /** Listening and not stopping. */
  isReady: () => boolean;
  /** The running broker, or undefined before start and once closing for good (no more publishes). */
  broker: () => Aedes | undefined;
  /** The port actually bound, undefined when not listening. */
  readonly port: number | undefined;
  /**
   * Hands a connection that arrived another way (MQTT over WebSocket) to the same broker, hooks and
   * frame guard as a TCP socket; destroyed at once when the broker is not running or stopping.
   */
  handleStream: (stream: ClientStream) => void;
}

/** What a client connection is to the broker and the frame guard: a byte stream with the peer's address. */
export type ClientStream = Duplex & { remoteAddress?: string | undefined };

export interface BrokerListenerOptions {
  port: number;
  host: string;
  log: Logger;
  hooks: BrokerHooks;
  sessions: Pick<Sessions, 'opened' | 'closed' | 'deviceOf'>;
  expiry: Pick<SessionExpiry, 'cancel'>;
  inbound: Pick<InboundDelivery, 'stopAccepting' | 'settled'>;
  /** Called for every accepted socket once Aedes handles it (the frame size guard). */
  onClientSocket(client: Client, socket: ClientStream): void;
  closeTimeoutMs: number;
  connectTimeoutMs: number;
}

export function createBrokerListener(options: BrokerListenerOptions): BrokerListener {
  const { log, sessions, closeTimeoutMs } = options;
  const sockets = new Set<ClientStream>();
  let aedes: Aedes | undefined;
  let server: net.Server | undefined;
  let ready = false;
  /** No new connections (stop() has begun). */
  let closing = false;
  /** The broker is closing or closed: no more publishes. */
  let stopped = false;
  let stopping: Promise<void> | undefined;

  function onConnection(socket: net.Socket): void {
    if (!aedes || closing) {
      socket.destroy();
      return;
    }
    // Small server → device writes (commands, replies) must not wait for the previous segment to be
    // acknowledged (Nagle + delayed ACK added ~25 ms to a command round trip).
    socket.setNoDelay(true);
    handleStream(socket);
  }

  function handleStream(stream: ClientStream): void {
    if (!aedes || closing) {
      stream.destroy();
      return;
    }
    sockets.add(stream);
    stream.once('close', () => sockets.delete(stream));
    options.onClientSocket(aedes.handle(stream), stream);
  }

  async function start(): Promise<void> {
    if (aedes) throw new Error('embedded MQTT transport already started');
    const broker = new Aedes({
      ...options.hooks,
      connectTimeout: options.connectTimeoutMs,
      // Only MQTT 3.1 enforces a client id length; scoped ids (see authentication.ts) are longer than 23.
      maxClientsIdLength: 65_535,
      // Messages Aedes delivers at once. The default (100) is far below one twin batch of replies;
      // under sustained load its overflow queue then drains recursively until the stack overflows
      // (measured in bench:twin, see docs/benchmarks.md). Memory stays bounded by the PUBACK-after-
      // processing backpressure on every device connection.
      concurrency: 5_000,
    });
    aedes = broker;
    broker.on('client', (client) => sessions.opened(client));
    broker.on('clientDisconnect', (client) => {
      options.expiry.cancel(client);
      sessions.closed(client);
    });
    broker.on('clientError', (client, err) => log.debug({ err: err.message, deviceId: sessions.deviceOf(client), clientId: client.id }, 'MQTT client error'));
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
      options.inbound.stopAccepting();
      const srv = server;
      const broker = aedes;
      const serverClosed = srv?.listening ? new Promise<void>((resolve) => srv.close(() => resolve())) : Promise.resolve();
      await withTimeout(options.inbound.settled(), closeTimeoutMs);
      stopped = true;
      if (broker) await withTimeout(new Promise<void>((resolve) => broker.close(() => resolve())), closeTimeoutMs);
      for (const socket of sockets) socket.destroy();
      await withTimeout(serverClosed, closeTimeoutMs);
      log.info('embedded MQTT broker stopped');
    })();
    return stopping;
  }

  return {
    start,
    stop,
    isReady: () => ready,
    handleStream,
    broker: () => (stopped ? undefined : aedes),
    get port() {
      const address = server?.address();
      return address && typeof address === 'object' ? address.port : undefined;
    },
  };
}

/** Waits for `promise` to settle, at most `ms`; never rejects. */
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
