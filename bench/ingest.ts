/**
 * `npm run bench:ingest` — telemetry ingestion, end to end, at stepped offered rates:
 *
 *   mqtt.js devices ─QoS 1─▶ broker ─▶ bridge ─▶ telemetry batcher ─▶ "TelemetryPoint" ─▶ `telemetry` ─▶ graphql-ws subscriber
 *
 * Processes: the Doppel server (bench/lib/server-child.ts), device processes (bench/lib/ingest-child.ts,
 * default 2 × 500 mqtt.js connections), one subscriber process (the same file, graphql-ws role) and this
 * orchestrator. After the steps, in the same invocation and on the same payloads: the raw broker (bare
 * Aedes, or the external broker) to one plain mqtt.js subscriber with no database, and raw set-based
 * `unnest` inserts of the same rows (bench/lib/ingest-raw-child.ts).
 *
 *   npm run bench:ingest                               # embedded (PGlite + Aedes), short steps
 *   BENCH_DATABASE_URL=postgres://… npm run bench:ingest -- --mode postgres
 *   BENCH_DATABASE_URL=… BENCH_MQTT_URL=mqtt://127.0.0.1:18830 npm run bench:ingest -- --mode postgres+ext-mqtt --sustain 60
 *   npm run bench:ingest -- --rates 1000,3000 --step-seconds 20 --cpu-prof --record
 *
 * See docs/benchmarks.md ("bench:ingest") for what each figure means.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { WS_ACTIVE_METRIC } from '../src/http/graphql.ts';
import { TELEMETRY_BATCHES_METRIC, TELEMETRY_POINTS_METRIC } from '../src/services/telemetry/index.ts';
import type { StepResult, SubStats } from './lib/ingest-child.ts';
import type { RawInsertResult } from './lib/ingest-raw-child.ts';
import { renderSummary, summarizeProfile } from './lib/profile-summary.ts';
import { spawnChild, type RpcChild } from './lib/rpc.ts';
import type { ServerStarted, ServerUsage } from './lib/server-child.ts';
import {
  benchModes,
  benchRates,
  benchServerEnv,
  benchServerOverrides,
  commitId,
  createScratchDatabase,
  spawnServerChild,
  dropScratchDatabases,
  dropScratchDatabasesOnSignal,
  num,
  registerBenchDevices,
  sleep,
  waitForQuiet as waitForQuietMachine,
  type BenchMode,
} from './lib/common.ts';
import { fmt, markdownTable, table } from './lib/stats.ts';
import { mosquittoMatcher, postgresMatcher, processDelta, processTracker, sampleMachine, sampleProcesses } from './lib/sysstat.ts';

const BENCH_DIR = import.meta.dirname;
const ROOT = path.resolve(BENCH_DIR, '..');

const HELP = `usage: npm run bench:ingest -- [options]

  --tls                  also run every embedded mode with the devices over MQTT-over-TLS (the generated CA), right
                         after its plain run, for the cost of TLS on ingest
  --mode <m>             pglite | postgres | postgres+ext-mqtt (repeatable). Default: pglite, plus postgres
                         when BENCH_DATABASE_URL is set, plus postgres+ext-mqtt when BENCH_MQTT_URL is set too.
  --devices <n>          simulated devices (default 1000)
  --procs <n>            device processes the devices are spread over (default 2)
  --rates <list>         offered msg/s per step, comma-separated (default pglite 1000,2000,3000,4000;
                         postgres 2500,5000,7500,10000,12500)
  --step-seconds <s>     length of each step (default 10)
  --drain <s>            longest wait after a step for PUBACKs, rows and events (default 20)
  --no-stop              run every step even after one did not hold
  --sustain <s>          after the steps, hold the highest rate that held for s seconds (≥ 60 = "sustained")
  --baseline-seconds <s> window of each baseline (default 8)
  --no-baseline          skip the raw broker and raw insert baselines
  --quiet <s>            wait up to s seconds before each step for the machine to be quiet (default 5)
  --cpu-prof             CPU profile of the server over the last step (or the sustain step), summarized
  --record               append the run to bench/RESULTS.md

env: BENCH_DATABASE_URL (scratch databases are created there and dropped), BENCH_MQTT_URL (external broker;
     Mosquitto does not enforce Doppel's device auth), BENCH_LOG_LEVEL (server log level, default silent),
     BENCH_SERVER_<NAME>=value (passes <NAME>=value to the server, e.g. BENCH_SERVER_TELEMETRY_WRITE_CONCURRENCY=1),
     BENCH_SERVER_NODE_FLAGS (node flags for the server process, after those of \`npm start\`, e.g. "--max-semi-space-size=32").`;

const { values: opts } = parseArgs({
  options: {
    mode: { type: 'string', multiple: true },
    devices: { type: 'string', default: '1000' },
    procs: { type: 'string', default: '2' },
    rates: { type: 'string' },
    'step-seconds': { type: 'string', default: '10' },
    drain: { type: 'string', default: '20' },
    'no-stop': { type: 'boolean', default: false },
    sustain: { type: 'string' },
    'baseline-seconds': { type: 'string', default: '8' },
    'no-baseline': { type: 'boolean', default: false },
    quiet: { type: 'string', default: '5' },
    'cpu-prof': { type: 'boolean', default: false },
    tls: { type: 'boolean', default: false },
    record: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opts.help) {
  console.log(HELP);
  process.exit(0);
}

const DEVICES = num('devices', opts.devices, 1, 20_000);
const PROCS = num('procs', opts.procs, 1, 16);
const STEP_MS = num('step-seconds', opts['step-seconds'], 1, 3600) * 1000;
const DRAIN_MS = num('drain', opts.drain, 1, 600) * 1000;
const SUSTAIN_MS = opts.sustain === undefined ? undefined : num('sustain', opts.sustain, 1, 3600) * 1000;
const BASELINE_MS = num('baseline-seconds', opts['baseline-seconds'], 1, 600) * 1000;
const QUIET_MS = num('quiet', opts.quiet, 0, 600) * 1000;
const NOISY_CORES = 0.3;
const PROFILE = opts['cpu-prof'];
const DATABASE_URL = process.env.BENCH_DATABASE_URL || undefined;

/** A mode, and whether its devices connect over TLS (--tls runs every embedded mode twice: plain, then TLS). */
type IngestMode = BenchMode & { tls?: boolean };
const labelOf = (mode: IngestMode) => `${mode.name}${mode.tls ? '+tls' : ''}`;

const ratesFor = (mode: BenchMode) => benchRates(opts.rates, mode, { pglite: '1000,2000,3000,4000', postgres: '2500,5000,7500,10000,12500' });

// ---------------------------------------------------------------------------------------------------
// Helpers (the same conventions as bench/twin.ts)

dropScratchDatabasesOnSignal();

const waitForQuiet = () => waitForQuietMachine(QUIET_MS, NOISY_CORES, false);

const commitOfRun = () => commitId(ROOT);

function split<T>(items: T[], parts: number): T[][] {
  const out: T[][] = Array.from({ length: parts }, () => []);
  items.forEach((item, i) => out[i % parts]!.push(item));
  return out.filter((p) => p.length > 0);
}

// ---------------------------------------------------------------------------------------------------
// The measured path

interface StepReport {
  label: string;
  offered: number;
  seconds: number;
  published: number;
  /** Messages stored in the window ÷ window (server's stored-points counter ÷ 3). */
  achieved: number;
  /** PUBACKs in the window ÷ window (embedded: after the store; external broker: the broker's). */
  acked: number;
  /** Stored rows counted after the drain, cumulative, and what they should be. */
  rows: number;
  expectedRows: number;
  delivered: number;
  unacked: number;
  failed: number;
  backlogFirst: number;
  backlogMax: number;
  backlogLast: number;
  /** Messages published in the step ÷ batches the server wrote for the step (window + drain). */
  messagesPerBatch: number | undefined;
  drainSeconds: number;
  latency: SubStats;
  server: ServerUsage | undefined;
  serverCpu: number | undefined;
  pgCpu: number | undefined;
  mqttCpu: number | undefined;
  loadCpu: number | undefined;
  others: number | undefined;
  held: boolean;
  why: string;
}

interface ModeReport {
  mode: IngestMode;
  steps: StepReport[];
  rawBroker: { rate: number; p50: number; p99: number; cpu: number | undefined; received: number } | undefined;
  rawInsert: (RawInsertResult & { pgCpu: number | undefined }) | undefined;
  profile: string | undefined;
  setupSeconds: number;
}

async function runMode(mode: IngestMode): Promise<ModeReport> {
  const t0 = Date.now();
  const tag = randomBytes(3).toString('hex');
  const cleanups: Array<() => Promise<unknown>> = [];
  const cleanup = async () => {
    for (let c = cleanups.shift(); c; c = cleanups.shift()) await c().catch((err: unknown) => console.error('cleanup failed:', err));
  };
  try {
    let databaseUrl = 'memory://';
    let dbName: string | undefined;
    if (mode.db === 'postgres') {
      const scratch = await createScratchDatabase(DATABASE_URL!, 'ingest');
      databaseUrl = scratch.url;
      dbName = scratch.name;
      cleanups.push(scratch.drop);
    }
    const srv = spawnServerChild(ROOT, cleanups, {
      extraNodeFlags: (process.env.BENCH_SERVER_NODE_FLAGS ?? '').split(' ').filter(Boolean),
      stopTimeoutMs: 60_000,
    });
    // TLS: the server's own CA and certificate, generated in a throwaway data directory.
    const tlsDataDir = mode.tls ? fs.mkdtempSync(path.join(os.tmpdir(), 'doppel-bench-tls-')) : undefined;
    if (tlsDataDir) cleanups.push(async () => fs.rmSync(tlsDataDir, { recursive: true, force: true }));
    const env = benchServerEnv(databaseUrl, {
      ...(mode.mqttUrl ? { MQTT_URL: mode.mqttUrl, MQTT_SHARED_GROUP: `ingest${tag}` } : {}),
      ...(tlsDataDir ? { MQTT_TLS: 'on', MQTT_TLS_PORT: '0', MQTT_TLS_HOST: '127.0.0.1', DOPPEL_DATA_DIR: tlsDataDir } : {}),
      // BENCH_SERVER_<NAME>=value sets the server's <NAME> (e.g. BENCH_SERVER_TELEMETRY_WRITE_CONCURRENCY=1).
      ...benchServerOverrides(),
    });
    const started = await srv.call<ServerStarted>('start', { env });
    const httpUrl = `${started.url}/graphql`;
    const prefix = `ing${tag}`;
    process.stdout.write(`registering ${DEVICES} devices… `);
    const devices = await registerBenchDevices(httpUrl, started.token, DEVICES, prefix);
    const mqttUrl = mode.mqttUrl ?? (mode.tls ? `mqtts://127.0.0.1:${started.mqttTlsPort}` : `mqtt://127.0.0.1:${started.mqttPort}`);
    const ca = mode.tls && started.caPath ? fs.readFileSync(started.caPath, 'utf8') : undefined;

    const sub = spawnChild('ingest-child.ts');
    const gens = split(devices, PROCS).map((share) => ({ share, child: spawnChild('ingest-child.ts') }));
    cleanups.unshift(async () => {
      for (const c of [sub, ...gens.map((g) => g.child)]) {
        await c.call('close', undefined, 30_000).catch(() => c.kill());
        await c.exited;
      }
    });
    await sub.call('subscribeGraphql', { wsUrl: httpUrl.replace(/^http/, 'ws'), token: started.token });
    for (let deadline = Date.now() + 10_000; (await srv.call<number>('metric', { name: WS_ACTIVE_METRIC })) < 1;) {
      if (Date.now() > deadline) throw new Error('the telemetry subscription never became active');
      await sleep(20);
    }
    process.stdout.write('connecting… ');
    await Promise.all(gens.map((g) => g.child.call('connect', { mqttUrl, devices: g.share, ca }, 300_000)));
    await sleep(1000);
    const setupSeconds = (Date.now() - t0) / 1000;
    process.stdout.write(`setup ${fmt(setupSeconds, 1)} s\n`);

    const pgMatch = dbName ? postgresMatcher(dbName) : undefined;
    const steps: StepReport[] = [];
    let publishedSoFar = 0;
    let profile: string | undefined;
    const countRows = async () => {
      const rows = await srv.call<Array<{ n: string | number }>>(
        'query',
        {
          text: `SELECT count(*)::bigint AS n FROM "TelemetryPoint" p JOIN "Device" d ON d.id = p."deviceId" WHERE d."deviceId" LIKE $1`,
          params: [`${prefix}-%`],
        },
        120_000,
      );
      return Number(rows[0]!.n);
    };

    const runStep = async (label: string, rate: number, ms: number, profileIt: boolean): Promise<StepReport> => {
      const others0 = await waitForQuiet();
      void others0;
      await srv.call('mark', { profile: profileIt });
      const m0 = sampleMachine();
      // Sampled every second of the step: pooled connections that close inside it still count.
      const pgTrack = pgMatch ? processTracker(pgMatch) : undefined;
      const mqTrack = mode.mqttUrl ? processTracker(mosquittoMatcher) : undefined;
      const ldTrack = processTracker((_c, cmd) => cmd.includes('ingest-child.ts'));
      const stored = () => srv.call<number>('metric', { name: TELEMETRY_POINTS_METRIC, labels: { result: 'stored' } });
      const batches = () => srv.call<number>('metric', { name: TELEMETRY_BATCHES_METRIC, labels: { result: 'stored' } });
      const stored0 = await stored();
      const batches0 = await batches();
      const stepping = Promise.all(
        gens.map((g) =>
          g.child.call<StepResult>('step', { rate: (rate * g.share.length) / DEVICES, durationMs: ms, drainMs: DRAIN_MS }, ms + DRAIN_MS + 60_000),
        ),
      );
      // Backlog = published − stored (messages), sampled every second from here: with an external broker
      // the PUBACK comes from the broker, so only the store count shows how far behind the server is.
      const backlogs: number[] = [];
      const t0 = performance.now();
      let storedAtEnd = stored0;
      for (let k = 1; k * 1000 <= ms; k++) {
        await sleep(Math.max(0, t0 + k * 1000 - performance.now()));
        const [totals, points] = await Promise.all([Promise.all(gens.map((g) => g.child.call<{ published: number }>('totals'))), stored()]);
        backlogs.push(totals.reduce((a, t) => a + t.published, 0) - publishedSoFar - (points - stored0) / 3);
        storedAtEnd = points;
        for (const track of [pgTrack, mqTrack, ldTrack]) track?.sample();
      }
      const storedSeconds = (performance.now() - t0) / 1000;
      const results = await stepping;
      const published = results.reduce((a, r) => a + r.published, 0);
      publishedSoFar += published;
      // Drain: until every point is stored, or nothing moved for 3 s, or --drain is up.
      const drainStart = Date.now();
      for (let last = await stored(), lastMove = Date.now(); last < publishedSoFar * 3 && Date.now() - drainStart < DRAIN_MS && Date.now() - lastMove < 3000;) {
        await sleep(100);
        const now = await stored();
        if (now !== last) lastMove = Date.now();
        last = now;
      }
      const storeDrainSeconds = (Date.now() - drainStart) / 1000;
      const batchCount = (await batches()) - batches0;
      // Rows and events may trail the PUBACKs by a moment (events go out after the write).
      const from = Math.min(...results.map((r) => r.from));
      const to = Math.max(...results.map((r) => r.to));
      let latency = await sub.call<SubStats>('stats', { from, to });
      for (let deadline = Date.now() + 5000; latency.inRange < published && Date.now() < deadline;) {
        await sleep(100);
        latency = await sub.call<SubStats>('stats', { from, to });
      }
      const server = await srv.call<ServerUsage>('usage').catch(() => undefined);
      const m1 = sampleMachine();
      const pgCpu = pgTrack?.cpu();
      const mqttCpu = mqTrack?.cpu();
      const loadCpu = ldTrack.cpu();
      if (profileIt) {
        const file = path.join(BENCH_DIR, 'profiles', `ingest-${labelOf(mode)}-${new Date().toISOString().replace(/[:.]/g, '-')}.cpuprofile`);
        profile = await srv.call<string | undefined>('endProfile', { file });
      }
      const rows = await countRows();
      const windowSeconds = Math.max(...results.map((r) => r.windowMs)) / 1000;
      const elapsed = m0 && m1 ? (m1.total - m0.total) / os.availableParallelism() : undefined;
      const serverCpu = server ? server.cpuUser + server.cpuSystem : undefined;
      const ours = (serverCpu ?? 0) + (pgCpu ?? 0) + (mqttCpu ?? 0) + loadCpu;
      const others = m0 && m1 && elapsed ? Math.max(0, m1.busy - m0.busy - ours) / elapsed : undefined;
      const acked = results.reduce((a, r) => a + r.ackedInWindow, 0) / windowSeconds;
      const achieved = (storedAtEnd - stored0) / 3 / storedSeconds;
      const unacked = results.reduce((a, r) => a + r.unacked, 0);
      const failed = results.reduce((a, r) => a + r.failed, 0);
      const backlogLast = backlogs.at(-1) ?? 0;
      const problems: string[] = [];
      if (rows !== publishedSoFar * 3) problems.push(`rows ${fmt(rows)} ≠ ${fmt(publishedSoFar * 3)}`);
      if (unacked + failed > 0) problems.push(`${fmt(unacked)} unacked, ${fmt(failed)} failed`);
      if (latency.inRange !== published) problems.push(`${fmt(published - latency.inRange)} events missing`);
      if (achieved < 0.95 * rate) problems.push(`achieved ${fmt((100 * achieved) / rate)}% of offered`);
      // Backlog "not growing": at the end of the step no more than half a second of offered load waits.
      if (backlogLast > rate * 0.5) problems.push(`backlog ${fmt(backlogLast)} at step end (> 0.5 s of load)`);
      return {
        label,
        offered: rate,
        seconds: windowSeconds,
        published,
        achieved,
        rows,
        expectedRows: publishedSoFar * 3,
        delivered: latency.inRange,
        unacked,
        failed,
        backlogFirst: backlogs[0] ?? 0,
        backlogMax: Math.max(0, ...backlogs),
        backlogLast,
        acked,
        messagesPerBatch: batchCount > 0 ? published / batchCount : undefined,
        drainSeconds: Math.max(storeDrainSeconds, Math.max(...results.map((r) => r.drainMs)) / 1000),
        latency,
        server,
        serverCpu,
        pgCpu,
        mqttCpu,
        loadCpu,
        others,
        held: problems.length === 0,
        why: problems.join('; '),
      };
    };

    const rates = ratesFor(mode);
    const lastIndex = SUSTAIN_MS ? -1 : rates.length - 1;
    for (let i = 0; i < rates.length; i++) {
      const rate = rates[i]!;
      process.stdout.write(`  step ${fmt(rate)} msg/s for ${STEP_MS / 1000} s… `);
      const r = await runStep(`step ${i + 1}`, rate, STEP_MS, PROFILE && i === lastIndex);
      steps.push(r);
      process.stdout.write(`${fmt(r.achieved)} msg/s, p99 ${fmt(r.latency.p99, 1)} ms, ${r.held ? 'held' : `NOT held (${r.why})`}\n`);
      if (!r.held && !opts['no-stop']) {
        if (PROFILE && !SUSTAIN_MS && !profile) {
          // profile a repeat of the failing step
          process.stdout.write(`  profiling a repeat of ${fmt(rate)} msg/s… `);
          const p = await runStep(`step ${i + 1} (profiled)`, rate, STEP_MS, true);
          steps.push(p);
          process.stdout.write(`${fmt(p.achieved)} msg/s\n`);
        }
        break;
      }
    }
    if (SUSTAIN_MS) {
      const heldSteps = steps.filter((s) => s.held);
      const rate = heldSteps.length ? Math.max(...heldSteps.map((s) => s.offered)) : rates[0]!;
      process.stdout.write(`  sustain ${fmt(rate)} msg/s for ${SUSTAIN_MS / 1000} s… `);
      const r = await runStep('sustain', rate, SUSTAIN_MS, PROFILE);
      steps.push(r);
      process.stdout.write(`${fmt(r.achieved)} msg/s, p99 ${fmt(r.latency.p99, 1)} ms, ${r.held ? 'held' : `NOT held (${r.why})`}\n`);
    }

    // Baselines: the path's processes go first (same client ids on an external broker; CPU to spare).
    await cleanup();
    let rawBroker: ModeReport['rawBroker'];
    let rawInsert: ModeReport['rawInsert'];
    if (!opts['no-baseline']) {
      rawBroker = await cachedBrokerBaseline(mode);
      rawInsert = await cachedInsertBaseline(mode);
    }
    return { mode, steps, rawBroker, rawInsert, profile, setupSeconds };
  } finally {
    await cleanup();
  }
}

// ---------------------------------------------------------------------------------------------------
// Baselines

const brokerBaselines = new Map<string, ModeReport['rawBroker']>();
const insertBaselines = new Map<string, ModeReport['rawInsert']>();

async function cachedBrokerBaseline(mode: BenchMode): Promise<ModeReport['rawBroker']> {
  const key = mode.mqttUrl ?? 'aedes';
  if (!brokerBaselines.has(key)) {
    process.stdout.write(`  raw broker baseline (${mode.mqttUrl ?? 'bare Aedes'})… `);
    brokerBaselines.set(key, await brokerBaseline(mode.mqttUrl));
    process.stdout.write(`${fmt(brokerBaselines.get(key)!.rate)} msg/s\n`);
  }
  return brokerBaselines.get(key);
}

async function cachedInsertBaseline(mode: BenchMode): Promise<ModeReport['rawInsert']> {
  if (!insertBaselines.has(mode.db)) {
    process.stdout.write(`  raw insert baseline (${mode.db === 'postgres' ? 'pg' : 'PGlite'}, unnest)… `);
    insertBaselines.set(mode.db, await insertBaseline(mode.db));
    process.stdout.write(`${fmt(insertBaselines.get(mode.db)!.rows / insertBaselines.get(mode.db)!.seconds)} rows/s\n`);
  }
  return insertBaselines.get(mode.db);
}

const brokers = new WeakSet<RpcChild>();

async function brokerBaseline(externalUrl: string | undefined): Promise<NonNullable<ModeReport['rawBroker']>> {
  const children: RpcChild[] = [];
  try {
    await waitForQuiet();
    let url = externalUrl;
    let broker: RpcChild | undefined;
    if (!url) {
      broker = spawnChild('ingest-broker-child.ts');
      brokers.add(broker);
      children.push(broker);
      url = `mqtt://127.0.0.1:${await broker.call<number>('start')}`;
    }
    const sub = spawnChild('ingest-child.ts');
    children.push(sub);
    await sub.call('subscribeMqtt', { mqttUrl: url });
    const tag = randomBytes(3).toString('hex');
    const devices = Array.from({ length: DEVICES }, (_, i) => ({ deviceId: `raw${tag}-${i}` }));
    const gens = split(devices, PROCS).map((share) => ({ share, child: spawnChild('ingest-child.ts') }));
    children.push(...gens.map((g) => g.child));
    await Promise.all(gens.map((g) => g.child.call('connect', { mqttUrl: url, devices: g.share }, 300_000)));
    await sleep(500);
    const flood = Promise.all(
      gens.map((g) =>
        g.child.call<{ published: number; from: number; to: number }>('flood', { durationMs: BASELINE_MS + 2000, inflight: 2 }, BASELINE_MS + 60_000),
      ),
    );
    await sleep(2000); // warm-up
    await broker?.call('mark');
    const mq0 = externalUrl ? sampleProcesses(mosquittoMatcher) : undefined;
    const n0 = await sub.call<number>('received');
    const t0 = performance.now();
    await sleep(BASELINE_MS);
    const n1 = await sub.call<number>('received');
    const seconds = (performance.now() - t0) / 1000;
    const cpu = broker ? (await broker.call<{ cpu: number }>('usage')).cpu : mq0 ? processDelta(mq0, sampleProcesses(mosquittoMatcher)) : undefined;
    const floods = await flood;
    const from = Math.min(...floods.map((f) => f.from));
    const to = Math.max(...floods.map((f) => f.to));
    const stats = await sub.call<SubStats>('stats', { from, to });
    return { rate: (n1 - n0) / seconds, p50: stats.p50, p99: stats.p99, cpu: cpu === undefined ? undefined : cpu / ((n1 - n0) / 1000), received: n1 - n0 };
  } finally {
    // Clients first, the bare broker (children[0] when there is one) last.
    for (const c of children.reverse()) {
      await c.call(brokers.has(c) ? 'stop' : 'close', undefined, 30_000).catch(() => c.kill());
      await c.exited;
    }
  }
}

async function insertBaseline(db: 'pglite' | 'postgres'): Promise<NonNullable<ModeReport['rawInsert']>> {
  let drop: (() => Promise<void>) | undefined;
  const raw = spawnChild('ingest-raw-child.ts');
  try {
    await waitForQuiet();
    let url: string | undefined;
    let dbName: string | undefined;
    if (db === 'postgres') {
      const scratch = await createScratchDatabase(DATABASE_URL!, 'rawins');
      url = scratch.url;
      dbName = scratch.name;
      drop = scratch.drop;
    }
    await raw.call('setup', { url, devices: DEVICES });
    const pg0 = dbName ? sampleProcesses(postgresMatcher(dbName)) : undefined;
    const r = await raw.call<RawInsertResult>('run', { seconds: BASELINE_MS / 1000, batchRows: 5001 }, BASELINE_MS + 60_000);
    const pgCpu = pg0 && dbName ? processDelta(pg0, sampleProcesses(postgresMatcher(dbName))) : undefined;
    return { ...r, pgCpu };
  } finally {
    await raw.call('close', undefined, 30_000).catch(() => raw.kill());
    await raw.exited;
    await drop?.();
  }
}

// ---------------------------------------------------------------------------------------------------
// Reporting

const HEADER = [
  'step',
  'offered msg/s',
  'stored msg/s',
  'values/s',
  'PUBACK/s',
  'rows ok',
  'p50 ms',
  'p99 ms',
  'backlog first/max/last',
  'msgs/batch',
  'drain s',
  'srv CPU-s/1k',
  'pg CPU-s/1k',
  'mqtt CPU-s/1k',
  'load CPU-s/1k',
  'peak RSS MB',
  'ELU',
  'others',
  'held',
];

function per1k(cpu: number | undefined, messages: number): string {
  return cpu === undefined || messages === 0 ? '–' : fmt(cpu / (messages / 1000), 3);
}

function stepRows(r: ModeReport): string[][] {
  return r.steps.map((s) => [
    s.label,
    fmt(s.offered),
    fmt(s.achieved),
    fmt(s.achieved * 3),
    fmt(s.acked),
    s.rows === s.expectedRows ? `${fmt(s.rows)} ✓` : `${fmt(s.rows)}/${fmt(s.expectedRows)} ✗`,
    fmt(s.latency.p50, 1),
    fmt(s.latency.p99, 1),
    `${fmt(s.backlogFirst)}/${fmt(s.backlogMax)}/${fmt(s.backlogLast)}`,
    s.messagesPerBatch === undefined ? '–' : fmt(s.messagesPerBatch),
    fmt(s.drainSeconds, 1),
    per1k(s.serverCpu, s.published),
    per1k(s.pgCpu, s.published),
    per1k(s.mqttCpu, s.published),
    per1k(s.loadCpu, s.published),
    s.server ? fmt(s.server.peakRss / 2 ** 20) : '–',
    s.server ? fmt(s.server.elu, 2) : '–',
    `${fmt(s.others, 2)}${s.others !== undefined && s.others >= NOISY_CORES ? ' (noisy)' : ''}`,
    s.held ? 'yes' : `NO: ${s.why}`,
  ]);
}

function bestHeld(r: ModeReport): StepReport | undefined {
  const held = r.steps.filter((s) => s.held);
  return held.length ? held.reduce((a, b) => (b.achieved > a.achieved ? b : a)) : undefined;
}

function summaryLines(r: ModeReport): string[] {
  const best = bestHeld(r);
  const sustained = r.steps.find((s) => s.label === 'sustain');
  const lines: string[] = [];
  lines.push(
    best
      ? `highest step that held: ${fmt(best.offered)} msg/s offered, ${fmt(best.achieved)} msg/s (${fmt(best.achieved * 3)} values/s) achieved over ${fmt(best.seconds, 0)} s, p50/p99 publish→subscription ${fmt(best.latency.p50, 1)}/${fmt(best.latency.p99, 1)} ms` +
          (sustained
            ? ` — sustain step (${fmt(sustained.seconds, 0)} s at ${fmt(sustained.offered)} msg/s): ${sustained.held ? 'HELD' : `NOT HELD (${sustained.why})`}`
            : ' — steps shorter than 60 s: not "sustained" in the issue\'s sense (use --sustain 60)')
      : 'no step held',
  );
  if (r.rawBroker) {
    lines.push(
      `raw broker (${r.mode.mqttUrl ? `external ${r.mode.mqttUrl}` : 'bare Aedes'}, same payloads, ${DEVICES} closed-loop QoS 1 publishers with 2 in flight → 1 mqtt.js subscriber, no database): ${fmt(r.rawBroker.rate)} msg/s` +
        `, broker CPU-s/1k ${fmt(r.rawBroker.cpu, 3)} (latency under saturation p50/p99 ${fmt(r.rawBroker.p50, 0)}/${fmt(r.rawBroker.p99, 0)} ms)` +
        (best ? ` → doppel ÷ raw broker = ${fmt(best.achieved / r.rawBroker.rate, 2)}` : ''),
    );
  }
  if (r.rawInsert) {
    const rps = r.rawInsert.rows / r.rawInsert.seconds;
    lines.push(
      `raw ${r.mode.db === 'postgres' ? 'pg' : 'PGlite'} unnest insert (5,001-row batches, one connection, ON CONFLICT DO NOTHING): ${fmt(rps)} rows/s = ${fmt(rps / 3)} msg-equivalents/s` +
        `, client CPU-s/1k rows ${fmt(r.rawInsert.cpuSeconds / (r.rawInsert.rows / 1000), 3)}${r.rawInsert.pgCpu !== undefined ? `, pg CPU-s/1k rows ${fmt(r.rawInsert.pgCpu / (r.rawInsert.rows / 1000), 3)}` : ''}` +
        (best ? ` → doppel values/s ÷ raw rows/s = ${fmt((best.achieved * 3) / rps, 2)}` : ''),
    );
  }
  return lines;
}

function describeSetup(): string {
  return [
    `doppel ingest bench — ${new Date().toISOString()} — commit ${commitOfRun()} — node ${process.version}, ${os.availableParallelism()} CPUs (${os.cpus()[0]?.model ?? '?'}) — shared, noisy machine`,
    `load: ${DEVICES} mqtt.js devices over ${PROCS} processes, QoS 1, 3 values/message {a: publish time, b: seq, c: bool}, unique ts per device, open loop at each step's offered rate; ` +
      `steps of ${STEP_MS / 1000} s${SUSTAIN_MS ? `, then ${SUSTAIN_MS / 1000} s sustained at the highest rate that held` : ''}; one graphql-ws subscriber (telemetry, all devices) in its own process`,
    `processes: server child (createServer; Aedes and PGlite inside it when used), ${PROCS} device processes, 1 subscriber process, this orchestrator; no CPU pinning. ` +
      `Latency = subscriber receive − value a (both performance.timeOrigin + performance.now(), i.e. the one wall clock of this host).`,
    `held = rows counted in "TelemetryPoint" = 3 × messages published so far, every PUBACK received, every message delivered on the subscription, achieved ≥ 95% of offered, backlog at step end ≤ 0.5 s of offered load`,
  ].join('\n');
}

const LEGEND = `stored msg/s = points the server stored in the step window (its doppel_telemetry_points_total{result=stored}) ÷ 3 ÷ window; PUBACK/s = acknowledgements the devices got
(embedded Aedes: after the store; Mosquitto: from the broker, before the server saw the message); rows ok = cumulative rows counted in "TelemetryPoint" after the drain
(drain s = wait after the window until every point was stored, or 3 s without progress, or --drain);
p50/p99 = publish → telemetry subscription delivery of messages published in the step; backlog = messages published − stored, sampled every second of the window;
msgs/batch = messages published in the step ÷ batch writes in it (window + drain);
CPU-s/1k = CPU-seconds per 1,000 messages published in the step, window + drain (srv = server process, pg = PostgreSQL backends of the scratch database + WAL writer etc.,
mqtt = Mosquitto, load = device + subscriber processes); peak RSS = server process, sampled every 50 ms; ELU = server event-loop utilization; others = cores busy with processes not ours.`;

async function main(): Promise<void> {
  const selected: IngestMode[] = benchModes(opts.mode).flatMap((mode): IngestMode[] => (opts.tls && !mode.mqttUrl ? [mode, { ...mode, tls: true }] : [mode]));
  const setup = describeSetup();
  console.log(setup, '\n');
  const reports: ModeReport[] = [];
  const texts: string[] = [];
  for (const mode of selected) {
    console.log(
      `▶ ${labelOf(mode)}${mode.mqttUrl ? ` — external broker ${mode.mqttUrl} (device auth not enforced by it)` : mode.tls ? ' — embedded Aedes, devices over TLS' : ' — embedded Aedes'}`,
    );
    const r = await runMode(mode);
    reports.push(r);
    const text = [labelOf(mode), table(HEADER, stepRows(r)), ...summaryLines(r)].join('\n');
    console.log('');
    console.log(text);
    if (r.profile) {
      const prof = JSON.parse(fs.readFileSync(r.profile, 'utf8')) as Parameters<typeof summarizeProfile>[0];
      console.log(`\nCPU profile of the server over the ${SUSTAIN_MS ? 'sustain' : 'last'} step: ${path.relative(process.cwd(), r.profile)}`);
      console.log(renderSummary(summarizeProfile(prof), 20));
    }
    console.log('');
    texts.push(text);
  }
  console.log(LEGEND);
  if (opts.record) record(setup, reports);
}

function record(setup: string, reports: ModeReport[]): void {
  const file = path.join(BENCH_DIR, 'RESULTS.md');
  const date = new Date().toISOString().slice(0, 10);
  const entry: string[] = ['', `## ${date} — ${commitOfRun()} — bench:ingest — ${reports.map((r) => labelOf(r.mode)).join(', ')}`, ''];
  entry.push('```', setup, `command: npm run bench:ingest -- ${process.argv.slice(2).join(' ')}`.trimEnd(), '```', '');
  for (const r of reports) {
    entry.push(
      `**${labelOf(r.mode)}**${r.mode.mqttUrl ? ` (external broker ${r.mode.mqttUrl})` : r.mode.tls ? ' (embedded Aedes, devices over TLS)' : ' (embedded Aedes)'}`,
      '',
    );
    entry.push(markdownTable(HEADER, stepRows(r)), '');
    for (const line of summaryLines(r)) entry.push(`- ${line}`);
    entry.push('');
  }
  fs.appendFileSync(file, `${entry.join('\n')}\n`);
  console.log(`\nrecorded in ${path.relative(process.cwd(), file)}`);
}

main().then(
  async () => {
    await dropScratchDatabases();
    process.exit(0);
  },
  async (err: unknown) => {
    console.error(err);
    await dropScratchDatabases();
    process.exit(1);
  },
);
