/**
 * The system under test, in its own process: a real Doppel server built by `createServer` from a
 * `loadConfig` environment, exactly as `npm start` would run it (PGlite in memory or PostgreSQL;
 * embedded Aedes or an external broker). Its `process.cpuUsage()`, RSS and event-loop figures are
 * therefore the server's alone; the orchestrator reads them over IPC at the window's edges.
 */
import { monitorEventLoopDelay, performance, type EventLoopUtilization } from 'node:perf_hooks';
import { createApiToken } from '../../src/auth/tokens.ts';
import { loadConfig } from '../../src/config.ts';
import { openDatabase, type Database } from '../../src/db/client.ts';
import { applyMigrations } from '../../src/db/migrate.ts';
import { createLogger } from '../../src/logger.ts';
import { createServer, MIGRATIONS_DIR } from '../../src/server.ts';
import { serveRpc } from './rpc.ts';

export interface ServerStartParams {
  env: Record<string, string>;
}

export interface ServerStarted {
  url: string;
  mqttPort: number | undefined;
  token: string;
  pid: number;
}

/** Resource figures since the last `mark`. */
export interface ServerUsage {
  /** process.cpuUsage() since the mark, in CPU-seconds. */
  cpuUser: number;
  cpuSystem: number;
  /** Highest RSS sampled (every 50 ms) since the mark, in bytes. */
  peakRss: number;
  /** resourceUsage().maxRSS over the process' life, in bytes. */
  maxRss: number;
  /** Event-loop utilization since the mark (1 = the main thread never idled). */
  elu: number;
  /** Event-loop delay p50 / p99 / max since the mark, in ms. */
  loopDelayP50: number;
  loopDelayP99: number;
  loopDelayMax: number;
}

let server: ReturnType<typeof createServer> | undefined;
let database: Database | undefined;
let metrics: { get(name: string): number } | undefined;

let cpuMark = process.cpuUsage();
let eluMark: EventLoopUtilization = performance.eventLoopUtilization();
let peakRss = 0;
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
setInterval(() => {
  const rss = process.memoryUsage.rss();
  if (rss > peakRss) peakRss = rss;
}, 50).unref();

function mark(): void {
  cpuMark = process.cpuUsage();
  eluMark = performance.eventLoopUtilization();
  peakRss = process.memoryUsage.rss();
  loopDelay.reset();
  loopDelay.enable();
}

serveRpc({
  async start({ env }: ServerStartParams): Promise<ServerStarted> {
    const config = loadConfig(env);
    database = await openDatabase(config.database);
    await applyMigrations(database, { migrationsDir: MIGRATIONS_DIR });
    server = createServer(config, { database, logger: createLogger(config.logLevel) });
    const running = await server.start();
    metrics = running.metrics;
    const { token } = await createApiToken(database.prisma, { name: 'bench admin', role: 'admin', tenantId: 'default' });
    return { url: running.url, mqttPort: running.mqttPort, token, pid: process.pid };
  },
  mark(): null {
    mark();
    return null;
  },
  usage(): ServerUsage {
    const cpu = process.cpuUsage(cpuMark);
    const elu = performance.eventLoopUtilization(eluMark);
    const rss = process.memoryUsage.rss();
    return {
      cpuUser: cpu.user / 1e6,
      cpuSystem: cpu.system / 1e6,
      peakRss: Math.max(peakRss, rss),
      maxRss: process.resourceUsage().maxRSS * 1024,
      elu: elu.utilization,
      loopDelayP50: loopDelay.percentile(50) / 1e6,
      loopDelayP99: loopDelay.percentile(99) / 1e6,
      loopDelayMax: loopDelay.max / 1e6,
    };
  },
  metric({ name }: { name: string }): number {
    return metrics?.get(name) ?? 0;
  },
  async stop(): Promise<null> {
    await server?.stop();
    await database?.close();
    // Exit on the next turn so the reply still goes out (and --cpu-prof writes its profile on exit).
    setTimeout(() => process.exit(0), 50);
    return null;
  },
});
