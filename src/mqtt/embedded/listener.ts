/**
 * The broker's lifecycle: an Aedes instance wired to the hooks of the other parts, on a plain TCP
 * listener, and the bounded, ordered shutdown.
 */
import net from 'node:net';
import type { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { Aedes, type AedesOptions, type Client } from 'aedes';
import type { Logger } from 'pino';
import { connectionGone } from './abandoned.ts';
import type { InboundDelivery } from './delivery.ts';
import { indexRetainedMessages, type RetainedPersistence } from './retained-index.ts';
import type { SessionExpiry } from './expiry.ts';
import type { Sessions } from './sessions.ts';
import { createTlsListener, type HandshakeFailures, type TlsListener } from './tls.ts';
import type tls from 'node:tls';

/** The Aedes hooks that decide who gets in and what passes. */
export type BrokerHooks = Required<Pick<AedesOptions, 'preConnect' | 'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'authorizeForward'>>;

/** Pending TCP connections the kernel may hold for us before we accept them (see `start`). */
export const LISTEN_BACKLOG = 4096;

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
  /** The TLS listener's port, undefined without one (./tls.ts). */
  readonly tlsPort: number | undefined;
  /** Swaps the TLS listener's key and certificate for new handshakes (a re-issued certificate). */
  setSecureContext(context: tls.SecureContextOptions): void;
  /**
   * Hands a connection that arrived another way (MQTT over WebSocket) to the same broker, hooks and
   * frame guard as a TCP socket; destroyed at once when the broker is not running or stopping.
   */
  handleStream: (stream: ClientStream) => void;
}

/** MQTT over TLS next to the plain listener (./tls.ts). */
export interface BrokerTlsSetup {
  port: number;
  host: string;
  /** Read when the listener starts: the material may be loaded just before (src/security/tls/). */
  context: () => tls.SecureContextOptions;
  /** Ask for client certificates (mutual TLS). */
  requestCert?: boolean;
  failures: HandshakeFailures;
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
  /** A client that closed between its authentication and its registration was dropped (./abandoned.ts). */
  onAbandoned(client: Client): void;
  /** Called for every accepted socket once Aedes handles it (the frame size guard). */
  onClientSocket(client: Client, socket: ClientStream): void;
  closeTimeoutMs: number;
  connectTimeoutMs: number;
  /** A TLS listener too, feeding the same broker. */
  tls?: BrokerTlsSetup | undefined;
}

export function createBrokerListener(options: BrokerListenerOptions): BrokerListener {
  const { log, sessions, closeTimeoutMs } = options;
  const sockets = new Set<ClientStream>();
  let aedes: Aedes | undefined;
  let server: net.Server | undefined;
  let tlsServer: TlsListener | undefined;
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
    broker.on('client', (client) => {
      // Closed after its authentication but before Aedes registered it (the session steps in between are
      // asynchronous): Aedes' close found it unregistered, so no 'clientDisconnect' will ever come and
      // Aedes would keep it in its client table for good. Never announced as connected, and taken out.
      if (connectionGone(client)) {
        options.expiry.cancel(client);
        const table = broker as unknown as { clients: Record<string, Client | undefined>; deleteClient(clientId: string): void };
        if (table.clients[client.id] === client) table.deleteClient(client.id);
        options.onAbandoned(client);
        return;
      }
      sessions.opened(client);
    });
    broker.on('clientDisconnect', (client) => {
      options.expiry.cancel(client);
      sessions.closed(client);
    });
    broker.on('clientError', (client, err) => log.debug({ err: err.message, deviceId: sessions.deviceOf(client), clientId: client.id }, 'MQTT client error'));
    broker.on('connectionError', (_client, err) => log.debug({ err: err.message }, 'MQTT connection error'));
    // Aedes emits 'error' for persistence failures; an EventEmitter 'error' without a listener would crash us.
    (broker as EventEmitter).on('error', (err: Error) => log.error({ err }, 'Aedes broker error'));
    await broker.listen();
    // Retained messages looked up by device, not by scanning them all on every SUBSCRIBE (./retained-index.ts).
    // Aedes creates its persistence in listen(); no client can connect before our listener below.
    indexRetainedMessages((broker as unknown as { persistence: RetainedPersistence }).persistence);

    const srv = net.createServer(onConnection);
    server = srv;
    srv.on('error', (err) => log.error({ err }, 'MQTT listener error'));
    try {
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        // A farm reconnecting at once opens thousands of connections in the same second; past Node's
        // default backlog (511) the kernel drops SYNs and each device waits out a 1 s, 3 s, 7 s…
        // retransmission. The kernel caps it at net.core.somaxconn.
        srv.listen({ port: options.port, host: options.host, backlog: LISTEN_BACKLOG }, () => {
          srv.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      throw err;
    }
    if (options.tls) {
      const setup = options.tls;
      const secure = createTlsListener({
        port: setup.port,
        host: setup.host,
        context: setup.context(),
        requestCert: setup.requestCert ?? false,
        failures: setup.failures,
        // The CONNECT timeout starts once MQTT begins; the handshake before it gets the same allowance.
        handshakeTimeoutMs: options.connectTimeoutMs,
        backlog: LISTEN_BACKLOG,
        onSecureConnection: onConnection,
      });
      try {
        await secure.listen();
      } catch (err) {
        await new Promise<void>((resolve) => srv.close(() => resolve()));
        await new Promise<void>((resolve) => broker.close(() => resolve()));
        throw err;
      }
      tlsServer = secure;
      log.info({ host: setup.host, port: secure.port }, 'embedded MQTT broker listening over TLS');
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
      const serverClosed = Promise.all([srv?.listening ? new Promise<void>((resolve) => srv.close(() => resolve())) : Promise.resolve(), tlsServer?.close()]);
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
    get tlsPort() {
      return tlsServer?.port;
    },
    setSecureContext(context) {
      tlsServer?.setSecureContext(context);
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
