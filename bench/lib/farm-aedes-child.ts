/**
 * bench:farm's embedded-broker baseline (bench/farm.ts): Aedes with nothing of Doppel's (no
 * authentication, no ACL, no database), on a plain TCP listener, in its own process. The same
 * version and the same `concurrency` as Doppel's embedded broker (src/mqtt/embedded/listener.ts),
 * so the difference to Doppel embedded is what Doppel adds.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Aedes } from 'aedes';
import { serveRpc } from './rpc.ts';

let server: net.Server | undefined;
let broker: Aedes | undefined;

serveRpc({
  async start(): Promise<{ port: number; pid: number }> {
    broker = new Aedes({ concurrency: 5_000, maxClientsIdLength: 65_535 });
    await broker.listen();
    const b = broker;
    server = net.createServer((socket) => b.handle(socket));
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return { port: (server.address() as AddressInfo).port, pid: process.pid };
  },
  async stop(): Promise<null> {
    await new Promise<void>((resolve) => broker?.close(() => resolve()));
    server?.close();
    setTimeout(() => process.exit(0), 50);
    return null;
  },
});
