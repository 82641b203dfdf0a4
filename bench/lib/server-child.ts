/**
 * The system under test, in its own process: a real Doppel server built by `createServer` from a
 * `loadConfig` environment, exactly as `npm start` would run it (PGlite in memory or PostgreSQL;
 * embedded Aedes or an external broker). Its `process.cpuUsage()`, RSS and event-loop figures are
 * therefore the server's alone; the orchestrator reads them over IPC at the window's edges.
 */
// First, as in src/main.ts: graphql with its release-build checks.
import '../../src/graphql-release-checks.ts';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import { monitorEventLoopDelay, performance, type EventLoopUtilization } from 'node:perf_hooks';
import { createApiToken } from '../../src/auth/tokens.ts';
import { loadConfig } from '../../src/config.ts';
import { openDatabase, type Database, type SqlExecutor } from '../../src/db/client.ts';
import { applyMigrations } from '../../src/db/migrate.ts';
import { createLogger } from '../../src/logger.ts';
import { createServer, MIGRATIONS_DIR } from '../../src/server.ts';
import { serveRpc } from './rpc.ts';

export interface ServerStartParams {
  env: Record<string, string>;
  /**
   * EXPERIMENT, not a Doppel setting: overrides the embedded Aedes broker's message concurrency (its
   * mqemitter's `concurrency`, Aedes default 100) by patching mqemitter at run time, to test what
   * changing it in src/mqtt/embedded/listener.ts would do. Undefined = untouched.
   */
  aedesConcurrency?: number;
  /** Time and count every raw SQL statement the services issue (`database.sql`), per statement kind. */
  traceSql?: boolean;
  /**
   * false: no 50 ms RSS sampling (peakRss then reads the RSS at the mark and at the report only).
   * bench:api compares this server's CPU with a bare server that samples nothing.
   */
  sampleRss?: boolean;
}

/** Per statement kind, since the last mark. */
export interface SqlTrace {
  statement: string;
  calls: number;
  totalMs: number;
  /** Mean length of the longest array parameter (≈ rows per set-based statement). */
  meanBatch: number;
  maxBatch: number;
}

export interface ServerStarted {
  url: string;
  mqttPort: number | undefined;
  /** The TLS listener and the CA to trust, when MQTT_TLS is on. */
  mqttTlsPort: number | undefined;
  caPath: string | undefined;
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
let metrics:
  | {
      get(name: string, labels?: Record<string, string>): number;
      histogram(name: string, labels?: Record<string, string>): { sum: number; count: number } | undefined;
    }
  | undefined;

let cpuMark = process.cpuUsage();
let eluMark: EventLoopUtilization = performance.eventLoopUtilization();
let peakRss = 0;
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
const rssSampler = setInterval(() => {
  const rss = process.memoryUsage.rss();
  if (rss > peakRss) peakRss = rss;
}, 50).unref();

/** CPU profile of the measured window only (start-up, registration and warm-up are left out). */
let profiler: Session | undefined;

async function startProfile(): Promise<void> {
  profiler = new Session();
  profiler.connect();
  await profiler.post('Profiler.enable');
  // 1 ms sampling keeps the overhead small over a 20 s window.
  await profiler.post('Profiler.setSamplingInterval', { interval: 1000 });
  await profiler.post('Profiler.start');
}

async function stopProfile(file: string): Promise<string | undefined> {
  const session = profiler;
  profiler = undefined;
  if (!session) return undefined;
  const { profile } = await session.post('Profiler.stop');
  session.disconnect();
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(profile));
  return file;
}

const sqlTrace = new Map<string, { calls: number; totalMs: number; batchSum: number; maxBatch: number }>();

/** Wraps the raw-SQL executor the services use; Prisma's own queries are not counted. */
function traced(sql: SqlExecutor): SqlExecutor {
  return {
    async query<T>(text: string, params?: readonly unknown[]): Promise<T[]> {
      const started = performance.now();
      try {
        return await sql.query<T>(text, params);
      } finally {
        const key = text.replace(/\s+/g, ' ').trim().slice(0, 70);
        const batch = Math.max(0, ...(params ?? []).map((p) => (Array.isArray(p) ? p.length : 0)));
        const entry = sqlTrace.get(key) ?? { calls: 0, totalMs: 0, batchSum: 0, maxBatch: 0 };
        entry.calls++;
        entry.totalMs += performance.now() - started;
        entry.batchSum += batch;
        entry.maxBatch = Math.max(entry.maxBatch, batch);
        sqlTrace.set(key, entry);
      }
    },
  };
}

function patchAedesConcurrency(concurrency: number): void {
  // Aedes builds its mqemitter inside the broker constructor from `opts.concurrency`, which
  // createEmbeddedTransport does not pass; mqemitter reads `this.concurrency` on every emit.
  const require = createRequire(createRequire(import.meta.url).resolve('aedes'));
  const MQEmitter = require('mqemitter') as { prototype: { emit: (...args: unknown[]) => unknown; concurrency: number } };
  const emit = MQEmitter.prototype.emit;
  MQEmitter.prototype.emit = function patchedEmit(this: { concurrency: number }, ...args: unknown[]) {
    this.concurrency = concurrency;
    return emit.apply(this, args);
  };
}

function mark(): void {
  sqlTrace.clear();
  cpuMark = process.cpuUsage();
  eluMark = performance.eventLoopUtilization();
  peakRss = process.memoryUsage.rss();
  loopDelay.reset();
  loopDelay.enable();
}

serveRpc({
  async start({ env, traceSql, aedesConcurrency, sampleRss }: ServerStartParams): Promise<ServerStarted> {
    if (sampleRss === false) clearInterval(rssSampler);
    if (aedesConcurrency !== undefined) patchAedesConcurrency(aedesConcurrency);
    // The benches measure the pipeline, not the edge: one admin token registers every simulated device,
    // which the per-token rate limit (a production default) would throttle.
    const config = loadConfig({ GRAPHQL_RATE_LIMIT_PER_S: '0', ...env });
    database = await openDatabase(config.database);
    await applyMigrations(database, { migrationsDir: MIGRATIONS_DIR });
    const db = traceSql ? { ...database, sql: traced(database.sql) } : database;
    server = createServer(config, { database: db, logger: createLogger(config.logLevel) });
    const running = await server.start();
    metrics = running.metrics;
    const { token } = await createApiToken(database.prisma, { name: 'bench admin', role: 'admin', tenantId: 'default' });
    return { url: running.url, mqttPort: running.mqttPort, mqttTlsPort: running.mqttTlsPort, caPath: running.caPath, token, pid: process.pid };
  },
  async mark({ profile }: { profile?: boolean } = {}): Promise<null> {
    if (profile) await startProfile();
    mark();
    return null;
  },
  /** Stops the window profile (if one runs) and writes it to `file`. */
  async endProfile({ file }: { file: string }): Promise<string | undefined> {
    return stopProfile(file);
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
  sqlTrace(): SqlTrace[] {
    return [...sqlTrace].map(([statement, e]) => ({
      statement,
      calls: e.calls,
      totalMs: e.totalMs,
      meanBatch: e.calls ? e.batchSum / e.calls : 0,
      maxBatch: e.maxBatch,
    }));
  },
  /** Runs one raw SQL statement on the server's database (bench:ingest counts stored rows with it). */
  async query({ text, params }: { text: string; params?: unknown[] }): Promise<unknown[]> {
    if (!database) throw new Error('server not started');
    return database.sql.query(text, params);
  },
  metric({ name, labels }: { name: string; labels?: Record<string, string> }): number {
    return metrics?.get(name, labels) ?? 0;
  },
  /** A histogram's running sum and count (bench:rules splits the raise latency with them). */
  histogram({ name, labels }: { name: string; labels?: Record<string, string> }): { sum: number; count: number } {
    const snapshot = metrics?.histogram(name, labels);
    return { sum: snapshot?.sum ?? 0, count: snapshot?.count ?? 0 };
  },
  async stop(): Promise<null> {
    await server?.stop();
    await database?.close();
    // Exit on the next turn so the reply still goes out (and --cpu-prof writes its profile on exit).
    setTimeout(() => process.exit(0), 50);
    return null;
  },
});
