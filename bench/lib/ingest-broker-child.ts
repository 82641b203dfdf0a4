/**
 * bench:ingest raw-broker baseline for the embedded mode: a bare Aedes (the broker Doppel embeds, same
 * version and message concurrency), no authentication, no database, on a TCP port of its own.
 */
import net from 'node:net';
import { Aedes } from 'aedes';
import { serveRpc } from './rpc.ts';

let server: net.Server | undefined;
let broker: Aedes | undefined;
let cpuMark = process.cpuUsage();

serveRpc({
  async start(): Promise<number> {
    broker = new Aedes({ concurrency: 5_000, maxClientsIdLength: 65_535 });
    await broker.listen();
    const b = broker;
    server = net.createServer((socket) => b.handle(socket));
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', () => resolve()));
    return (server.address() as net.AddressInfo).port;
  },
  mark(): null {
    cpuMark = process.cpuUsage();
    return null;
  },
  usage(): { cpu: number; rss: number } {
    const c = process.cpuUsage(cpuMark);
    return { cpu: (c.user + c.system) / 1e6, rss: process.memoryUsage.rss() };
  },
  async stop(): Promise<null> {
    server?.close();
    await new Promise<void>((resolve) => (broker ? broker.close(() => resolve()) : resolve()));
    setTimeout(() => process.exit(0), 20);
    return null;
  },
});
