/**
 * A TCP proxy for outage tests: clients connect to `port`, and each connection is piped to the target.
 * `pause()` makes the target look stopped — the listener closes (new connections are refused) and every
 * open connection is destroyed (reset) — without touching the real server, which other tests share.
 * `resume()` listens again on the same port.
 */
import net from 'node:net';

export interface TcpProxy {
  /** The port clients connect to (fixed for the proxy's life, across pause/resume). */
  readonly port: number;
  /** Connections currently piped. */
  readonly connections: number;
  /** Refuses new connections and resets the open ones, like a stopped server. */
  pause(): Promise<void>;
  /** Accepts connections again. */
  resume(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }, listenPort = 0): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  let port = listenPort;

  function handle(client: net.Socket): void {
    const upstream = net.connect(target.port, target.host);
    sockets.add(client);
    sockets.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  }

  async function listen(): Promise<void> {
    const s = net.createServer(handle);
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve());
    });
    port = (s.address() as net.AddressInfo).port;
    server = s;
  }

  async function stopListening(): Promise<void> {
    const s = server;
    server = undefined;
    // resetAndDestroy: the peer sees ECONNRESET, as when a server process dies.
    for (const socket of [...sockets]) socket.resetAndDestroy();
    sockets.clear();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  await listen();
  return {
    get port() {
      return port;
    },
    get connections() {
      return sockets.size / 2;
    },
    pause: stopListening,
    async resume() {
      if (!server) await listen();
    },
    close: stopListening,
  };
}
