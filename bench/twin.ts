/**
 * `npm run bench:twin` — reported-state updates per second, end to end:
 *
 *   mqtt.js devices ─QoS 1─▶ broker ─▶ bridge ─▶ twin merge ─▶ database ─▶ twinChanged ─▶ graphql-ws subscriber
 *
 * on PGlite (embedded Aedes) and on PostgreSQL (BENCH_DATABASE_URL; BENCH_MQTT_URL adds a run through
 * an external broker), each beside a raw-SQL baseline measured in the same invocation on the same kind
 * of database (see bench/lib/raw-child.ts for exactly which statements). Separate processes, so CPU
 * is separable: the Doppel server (bench/lib/server-child.ts), the load generator
 * (bench/lib/load-child.ts), the raw baseline (bench/lib/raw-child.ts) and this orchestrator, which
 * only registers devices, samples and prints.
 *
 *   npm run bench:twin                      # defaults: 200 devices, QoS 1, closed loop, 5 s warm-up, 20 s window
 *   npm run bench:twin -- --seconds 10 --mode postgres --repeat 2
 *   npm run bench:twin -- --rate 4000       # open loop: 4,000 reports/s offered, whatever the replies do
 *   npm run bench:twin -- --cpu-prof        # + a CPU profile of the server over the window, summarized
 *   npm run bench:twin -- --record          # + a dated entry in bench/RESULTS.md
 *
 * See docs/benchmarks.md for what each figure means.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { WS_ACTIVE_METRIC } from '../src/http/graphql.ts';
import type { LoadResult } from './lib/load-child.ts';
import { renderSummary, summarizeProfile } from './lib/profile-summary.ts';
import type { RawResult, RawVariant } from './lib/raw-child.ts';
import { spawnChild, type RpcChild } from './lib/rpc.ts';
import type { ServerStarted, ServerUsage, SqlTrace } from './lib/server-child.ts';
import {
  benchModes,
  benchServerEnv,
  commitId,
  createScratchDatabase,
  registerBenchDevices,
  spawnLoadChild,
  spawnServerChild,
  dropScratchDatabases,
  dropScratchDatabasesOnSignal,
  num,
  sleep,
  waitForQuiet as waitForQuietMachine,
  type BenchMode,
  type BenchModeName,
} from './lib/common.ts';
import { fmt, markdownTable, table } from './lib/stats.ts';
import { mosquittoMatcher, postgresMatcher, processDelta, sampleMachine, sampleProcesses, type MachineSample, type ProcessSample } from './lib/sysstat.ts';

const BENCH_DIR = import.meta.dirname;
const ROOT = path.resolve(BENCH_DIR, '..');

// ---------------------------------------------------------------------------------------------------
// Options

const HELP = `usage: npm run bench:twin -- [options]

  --mode <m>             pglite | postgres | postgres+ext-mqtt (repeatable). Default: pglite, plus
                         postgres when BENCH_DATABASE_URL is set, plus postgres+ext-mqtt when
                         BENCH_MQTT_URL is set too.
  --devices <n>          simulated devices (default 200)
  --qos <0|1>            MQTT QoS of reports and replies (default 1)
  --rate <n>             open loop: offered reports/s over all devices (default: closed loop)
  --warmup <s>           warm-up before the window (default 5)
  --seconds <s>          measured window (default 20)
  --drain <s>            longest wait for outstanding replies/events after the window (default 15)
  --baseline-seconds <s> window of each raw-SQL baseline variant (default 5, after 1 s warm-up)
  --no-baseline          skip the raw-SQL baselines
  --no-subscriber        no graphql-ws subscriber (isolates the subscription cost)
  --subscribers <n>      graphql-ws subscribers, each to every device's twinChanged (default 1; the first
                         is checked event by event, the others are counted)
  --repeat <n>           run every mode n times (default 1)
  --quiet <s>            before each measurement wait up to s seconds (default 10) for the machine to be
                         quiet (others using < 0.3 cores); 0 = don't wait. The load seen is reported anyway.
  --pin                  taskset: server (and raw baseline) on CPU 0, load generator on CPU 1
  --trace-sql            count and time the server's raw SQL statements in the window (batch sizes)
  --x-aedes-concurrency <n>  EXPERIMENT: patch the embedded Aedes broker's mqemitter concurrency
                         (default 100) at run time, to test a change to src/mqtt/embedded/listener.ts
  --cpu-prof             profile the server over the window; writes bench/profiles/*.cpuprofile and prints a summary
  --record               append a dated entry to bench/RESULTS.md
  --json <file>          also write every figure as JSON

env: BENCH_DATABASE_URL=postgres://postgres:postgres@127.0.0.1:5432/postgres (a scratch database is
     created there and dropped after), BENCH_MQTT_URL=mqtt://127.0.0.1:18830 (external broker; device
     auth is then not enforced by Doppel), BENCH_LOG_LEVEL (server log level, default silent).`;

const { values: opts } = parseArgs({
  options: {
    mode: { type: 'string', multiple: true },
    devices: { type: 'string', default: '200' },
    qos: { type: 'string', default: '1' },
    rate: { type: 'string' },
    warmup: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '20' },
    drain: { type: 'string', default: '15' },
    'baseline-seconds': { type: 'string', default: '5' },
    'no-baseline': { type: 'boolean', default: false },
    'no-subscriber': { type: 'boolean', default: false },
    subscribers: { type: 'string', default: '1' },
    repeat: { type: 'string', default: '1' },
    quiet: { type: 'string', default: '10' },
    pin: { type: 'boolean', default: false },
    'cpu-prof': { type: 'boolean', default: false },
    'trace-sql': { type: 'boolean', default: false },
    'x-aedes-concurrency': { type: 'string' },
    record: { type: 'boolean', default: false },
    json: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  allowPositionals: false,
});

if (opts.help) {
  console.log(HELP);
  process.exit(0);
}

const DEVICES = num('devices', opts.devices, 1, 10_000);
const QOS = num('qos', opts.qos, 0, 1) as 0 | 1;
const RATE = opts.rate === undefined ? undefined : num('rate', opts.rate, 1, 1_000_000);
const WARMUP_MS = num('warmup', opts.warmup, 0, 600) * 1000;
const MEASURE_MS = num('seconds', opts.seconds, 1, 3600) * 1000;
const DRAIN_MS = num('drain', opts.drain, 0, 600) * 1000;
const BASELINE_MS = num('baseline-seconds', opts['baseline-seconds'], 1, 600) * 1000;
const REPEAT = num('repeat', opts.repeat, 1, 20);
const QUIET_MS = num('quiet', opts.quiet, 0, 600) * 1000;
/** Cores used by others above which a window is flagged as noisy. */
const NOISY_CORES = 0.3;
const SUBSCRIBERS = opts['no-subscriber'] ? 0 : num('subscribers', opts.subscribers, 0, 1000);
const SUBSCRIBE = SUBSCRIBERS > 0;
const PROFILE = opts['cpu-prof'];
const TRACE_SQL = opts['trace-sql'];
const AEDES_CONCURRENCY = opts['x-aedes-concurrency'] === undefined ? undefined : num('x-aedes-concurrency', opts['x-aedes-concurrency'], 1, 1_000_000);
const DATABASE_URL = process.env.BENCH_DATABASE_URL || undefined;
const PINS = opts.pin ? { server: '0', load: '1', raw: '0' } : undefined;
if (PINS && os.availableParallelism() < 2) {
  console.error('--pin needs at least 2 CPUs');
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------------
// Helpers

dropScratchDatabasesOnSignal();

const waitForQuiet = () => waitForQuietMachine(QUIET_MS, NOISY_CORES, true);

const commitOfRun = () => commitId(ROOT);

// ---------------------------------------------------------------------------------------------------
// One end-to-end run

interface WindowSamples {
  machine?: MachineSample;
  postgres?: ProcessSample;
  mosquitto?: ProcessSample;
}

interface PathResult {
  mode: BenchModeName;
  run: number;
  load: LoadResult;
  server: ServerUsage;
  serverPid: number;
  /** CPU-seconds in the window by PostgreSQL (bench database backends + WAL writer/bgwriter/checkpointer). */
  postgresCpu: number | undefined;
  mosquittoCpu: number | undefined;
  /** Busy CPU-seconds of the whole machine in the window (all cores). */
  machineBusy: number | undefined;
  profileFile: string | undefined;
  /** Set when the server process exited during the run (its exit code, null if killed by a signal). */
  serverExit: number | null | undefined;
  /** Set when the server did not stop cleanly after the run (exit code or signal). */
  stopExit: number | string | null | undefined;
  /** With --trace-sql: the server's raw statements (sampled after the drain, so slightly past the window). */
  sql: SqlTrace[] | undefined;
  setupSeconds: number;
}

/** Usage figures of a server that died before they could be read (NaN prints as '–'). */
const DEAD_SERVER: ServerUsage = {
  cpuUser: Number.NaN,
  cpuSystem: Number.NaN,
  peakRss: Number.NaN,
  maxRss: Number.NaN,
  elu: Number.NaN,
  loopDelayP50: Number.NaN,
  loopDelayP99: Number.NaN,
  loopDelayMax: Number.NaN,
};

async function runPath(mode: BenchMode, run: number): Promise<PathResult> {
  const setupStarted = Date.now();
  const tag = randomBytes(3).toString('hex');
  const cleanups: Array<() => Promise<unknown>> = [];
  const runCleanups = async () => {
    for (let cleanup = cleanups.shift(); cleanup; cleanup = cleanups.shift()) {
      await cleanup().catch((err: unknown) => console.error('cleanup failed:', err));
    }
  };
  let server: RpcChild | undefined;
  let load: RpcChild | undefined;
  try {
    let databaseUrl = 'memory://';
    let dbName: string | undefined;
    if (mode.db === 'postgres') {
      const scratch = await createScratchDatabase(DATABASE_URL!, 'e2e');
      databaseUrl = scratch.url;
      dbName = scratch.name;
      cleanups.push(scratch.drop);
    }
    server = spawnServerChild(ROOT, cleanups, PINS ? { cpus: PINS.server } : {});
    const srv = server;
    const env = benchServerEnv(databaseUrl, mode.mqttUrl ? { MQTT_URL: mode.mqttUrl, MQTT_SHARED_GROUP: `bench${tag}` } : {});
    const started = await srv.call<ServerStarted>('start', { env, traceSql: TRACE_SQL, aedesConcurrency: AEDES_CONCURRENCY });
    // A server that dies mid-run is a result to report, not a reason to lose the run.
    let serverExit: number | null | undefined;
    void srv.exited.then((code) => (serverExit = code));
    const httpUrl = `${started.url}/graphql`;
    const devices = await registerBenchDevices(httpUrl, started.token, DEVICES, `bench${tag}`);

    load = spawnLoadChild(cleanups, PINS ? { cpus: PINS.load } : {});
    const gen = load;
    await gen.call('connect', {
      mqttUrl: mode.mqttUrl ?? `mqtt://127.0.0.1:${started.mqttPort}`,
      wsUrl: httpUrl.replace(/^http/, 'ws'),
      token: started.token,
      devices,
      qos: QOS,
      subscribe: SUBSCRIBE,
      extraSubscribers: Math.max(0, SUBSCRIBERS - 1),
    });
    if (SUBSCRIBE) {
      const deadline = Date.now() + 10_000;
      while ((await srv.call<number>('metric', { name: WS_ACTIVE_METRIC })) < SUBSCRIBERS) {
        if (Date.now() > deadline) throw new Error('the twinChanged subscription never became active');
        await sleep(20);
      }
    }
    // Let the connection events' writes settle before the warm-up starts.
    await sleep(500);
    const setupSeconds = (Date.now() - setupStarted) / 1000;
    await waitForQuiet();

    const pgMatch = dbName ? postgresMatcher(dbName) : undefined;
    const before: WindowSamples = {};
    const after: WindowSamples = {};
    let serverUsage: Promise<ServerUsage> | undefined;
    let profileFile: Promise<string | undefined> = Promise.resolve(undefined);
    let marked: Promise<unknown> = Promise.resolve();
    gen.on('window-start', () => {
      // Every promise made here is awaited only after the drain: catch now, or a dead server's
      // rejection would count as unhandled and end this process.
      marked = srv.call('mark', { profile: PROFILE }).catch(() => undefined);
      before.machine = sampleMachine();
      if (pgMatch) before.postgres = sampleProcesses(pgMatch);
      if (mode.mqttUrl) before.mosquitto = sampleProcesses(mosquittoMatcher);
    });
    gen.on('window-end', () => {
      serverUsage = marked.then(() => srv.call<ServerUsage>('usage')).catch((): ServerUsage => ({ ...DEAD_SERVER }));
      after.machine = sampleMachine();
      if (pgMatch) after.postgres = sampleProcesses(pgMatch);
      if (mode.mqttUrl) after.mosquitto = sampleProcesses(mosquittoMatcher);
      if (PROFILE) {
        const file = path.join(BENCH_DIR, 'profiles', `server-${mode.name}-${new Date().toISOString().replace(/[:.]/g, '-')}.cpuprofile`);
        profileFile = serverUsage.then(() => srv.call<string | undefined>('endProfile', { file })).catch(() => undefined);
      }
    });
    const loadResult = await gen.call<LoadResult>(
      'run',
      { warmupMs: WARMUP_MS, measureMs: MEASURE_MS, drainMs: DRAIN_MS, rate: RATE, maxOutstanding: 200_000 },
      WARMUP_MS + MEASURE_MS + DRAIN_MS + 60_000,
    );
    if (!serverUsage) throw new Error('the load generator never reported the end of its window');
    const usage = await serverUsage.catch((): ServerUsage => ({ ...DEAD_SERVER }));
    const file = await profileFile.catch(() => undefined);
    const sql = TRACE_SQL && serverExit === undefined ? await srv.call<SqlTrace[]>('sqlTrace').catch(() => undefined) : undefined;

    const result: PathResult = {
      mode: mode.name,
      run,
      load: loadResult,
      server: usage,
      serverPid: started.pid,
      postgresCpu: before.postgres && after.postgres ? processDelta(before.postgres, after.postgres) : undefined,
      mosquittoCpu: before.mosquitto && after.mosquitto ? processDelta(before.mosquitto, after.mosquitto) : undefined,
      machineBusy: before.machine && after.machine ? after.machine.busy - before.machine.busy : undefined,
      profileFile: file,
      sql,
      serverExit,
      setupSeconds,
      stopExit: undefined,
    };
    await runCleanups();
    // Stopping drains queued work; a server that crashes doing so has lost that work.
    if (result.serverExit === undefined && srv.process.exitCode !== 0) result.stopExit = srv.process.exitCode ?? srv.process.signalCode;
    return result;
  } finally {
    await runCleanups();
  }
}

// ---------------------------------------------------------------------------------------------------
// Raw SQL baseline

const VARIANTS: RawVariant[] = ['row', 'row+log', 'set+log'];

interface BaselineResult extends RawResult {
  postgresCpu: number | undefined;
  /** Cores used by processes other than the baseline and PostgreSQL during its window. */
  otherLoad: number | undefined;
}

async function runBaseline(db: 'pglite' | 'postgres'): Promise<BaselineResult[]> {
  const cleanups: Array<() => Promise<unknown>> = [];
  try {
    let database: { kind: 'pglite'; dataDir: undefined } | { kind: 'postgres'; url: string } = { kind: 'pglite', dataDir: undefined };
    let dbName: string | undefined;
    if (db === 'postgres') {
      const scratch = await createScratchDatabase(DATABASE_URL!, 'raw');
      database = { kind: 'postgres', url: scratch.url };
      dbName = scratch.name;
      cleanups.push(scratch.drop);
    }
    const raw = spawnChild('raw-child.ts', { ...(PINS ? { cpus: PINS.raw } : {}) });
    cleanups.unshift(async () => {
      await raw.call('close', undefined, 30_000).catch(() => raw.kill());
      await raw.exited;
    });
    await raw.call('setup', { database, devices: DEVICES });
    const pgMatch = dbName ? postgresMatcher(dbName) : undefined;
    // Filled by the window events of each run; read after it.
    let edges: { pgBefore?: ProcessSample; pgAfter?: ProcessSample; before?: MachineSample; after?: MachineSample } = {};
    raw.on('window-start', () => {
      edges.before = sampleMachine();
      if (pgMatch) edges.pgBefore = sampleProcesses(pgMatch);
    });
    raw.on('window-end', () => {
      edges.after = sampleMachine();
      if (pgMatch) edges.pgAfter = sampleProcesses(pgMatch);
    });
    const results: BaselineResult[] = [];
    for (const variant of VARIANTS) {
      await waitForQuiet();
      edges = {};
      const result = await raw.call<RawResult>('run', { variant, concurrency: DEVICES, warmupMs: 1000, measureMs: BASELINE_MS }, BASELINE_MS + 60_000);
      const seen = edges as typeof edges;
      const postgresCpu = seen.pgBefore && seen.pgAfter ? processDelta(seen.pgBefore, seen.pgAfter) : undefined;
      const busy = seen.before && seen.after ? seen.after.busy - seen.before.busy : undefined;
      const otherLoad = busy === undefined ? undefined : Math.max(0, busy - result.cpuSeconds - (postgresCpu ?? 0)) / result.windowSeconds;
      results.push({ ...result, postgresCpu, otherLoad });
    }
    return results;
  } finally {
    for (const cleanup of cleanups) await cleanup().catch((err: unknown) => console.error('cleanup failed:', err));
  }
}

// ---------------------------------------------------------------------------------------------------
// Reporting

const VARIANT_LABEL: Record<RawVariant, string> = {
  row: 'raw row UPDATE',
  'row+log': 'raw row UPDATE+log',
  'set+log': 'raw set UPDATE+log',
};

function updatesPerSecond(r: PathResult): number {
  return r.load.windowSeconds > 0 ? r.load.acceptedInWindow / r.load.windowSeconds : Number.NaN;
}

function perThousand(cpu: number | undefined, updates: number): number | undefined {
  return cpu === undefined || updates === 0 ? undefined : cpu / (updates / 1000);
}

const HEADER = [
  'path',
  'upd/s',
  'evt/s',
  'acc p50',
  'acc p99',
  'evt p50',
  'evt p99',
  'srv CPU-s/1k',
  'pg CPU-s/1k',
  'mqtt CPU-s/1k',
  'load CPU-s/1k',
  'peak RSS MB',
  'ELU',
  'others',
  'ratio',
];

function rowsFor(r: PathResult, baseline: BaselineResult[] | undefined): string[][] {
  const updates = r.load.acceptedInWindow;
  const ups = updatesPerSecond(r);
  const srvCpu = r.server.cpuUser + r.server.cpuSystem;
  const rows: string[][] = [
    [
      `doppel ${r.mode}`,
      fmt(ups),
      SUBSCRIBE ? fmt(r.load.eventsInWindow / r.load.windowSeconds) : '–',
      `${fmt(r.load.acceptLatency.p50, 1)} ms`,
      `${fmt(r.load.acceptLatency.p99, 1)} ms`,
      SUBSCRIBE ? `${fmt(r.load.eventLatency.p50, 1)} ms` : '–',
      SUBSCRIBE ? `${fmt(r.load.eventLatency.p99, 1)} ms` : '–',
      fmt(perThousand(srvCpu, updates), 3),
      fmt(perThousand(r.postgresCpu, updates), 3),
      fmt(perThousand(r.mosquittoCpu, updates), 3),
      fmt(perThousand(r.load.cpuSeconds, updates), 3),
      fmt(r.server.peakRss / 2 ** 20),
      fmt(r.server.elu, 2),
      `${fmt(otherLoad(r), 2)}${noisy(otherLoad(r))}`,
      '1.00',
    ],
  ];
  for (const b of baseline ?? []) {
    const bups = b.updatesInWindow / b.windowSeconds;
    rows.push([
      `${VARIANT_LABEL[b.variant]}`,
      fmt(bups),
      '–',
      `${fmt(b.p50, 1)} ms`,
      `${fmt(b.p99, 1)} ms`,
      '–',
      '–',
      fmt(perThousand(b.cpuSeconds, b.updatesInWindow), 3),
      fmt(perThousand(b.postgresCpu, b.updatesInWindow), 3),
      '–',
      '–',
      fmt(b.peakRss / 2 ** 20),
      '–',
      `${fmt(b.otherLoad, 2)}${noisy(b.otherLoad)}`,
      `doppel = ${fmt(ups / bups, 2)}×`,
    ]);
  }
  return rows;
}

function integrityLine(r: PathResult): string {
  const l = r.load;
  // (server crashes show up as unanswered reports too)
  const fanOutMismatch = l.extraSubscriberEvents.filter((n) => n !== l.eventsTotal + l.unexpectedEvents).length;
  const problems =
    l.unanswered +
    l.rejectedTotal +
    l.missingEvents +
    l.duplicateEvents +
    l.reorderedEvents +
    l.unexpectedEvents +
    l.versionGaps +
    l.versionMismatches +
    fanOutMismatch;
  const died = r.serverExit !== undefined;
  return (
    (died ? `SERVER PROCESS EXITED DURING THE RUN (code ${r.serverExit}); ` : '') +
    (r.stopExit !== undefined ? `SERVER CRASHED WHILE STOPPING (exit ${r.stopExit}); ` : '') +
    `integrity: ${problems === 0 && !l.overloaded && !died && r.stopExit === undefined ? 'OK' : 'PROBLEMS'} — published ${fmt(l.published)}, accepted ${fmt(l.acceptedTotal)}, rejected ${fmt(l.rejectedTotal)}, ` +
    `unanswered ${fmt(l.unanswered)}, events ${fmt(l.eventsTotal)}` +
    (SUBSCRIBE
      ? `, missing ${fmt(l.missingEvents)}, duplicate ${fmt(l.duplicateEvents)}, reordered ${fmt(l.reorderedEvents)}, unexpected ${fmt(l.unexpectedEvents)}`
      : ' (no subscriber)') +
    `, version gaps ${fmt(l.versionGaps)}, event/accept version mismatches ${fmt(l.versionMismatches)}` +
    `; backlog max ${fmt(l.maxOutstanding)}, at window end ${fmt(l.outstandingAtWindowEnd)}, drained in ${fmt(l.drainMs / 1000, 1)} s` +
    (l.overloaded ? ' — STOPPED EARLY: backlog over limit' : '') +
    (l.extraSubscriberEvents.length
      ? `; ${l.extraSubscriberEvents.length} more subscribers got ${fmt(Math.min(...l.extraSubscriberEvents))}…${fmt(Math.max(...l.extraSubscriberEvents))} events each (expected ${fmt(l.eventsTotal + l.unexpectedEvents)})`
      : '') +
    (l.subscriptionErrors.length ? `; errors: ${l.subscriptionErrors.join(' | ')}` : '')
  );
}

/** Cores used in the window by processes that are not part of the run (other people's work). */
function otherLoad(r: PathResult): number | undefined {
  if (r.machineBusy === undefined) return undefined;
  const ours = r.server.cpuUser + r.server.cpuSystem + r.load.cpuSeconds + (r.postgresCpu ?? 0) + (r.mosquittoCpu ?? 0);
  return Math.max(0, r.machineBusy - ours) / r.load.windowSeconds;
}

function noisy(load: number | undefined): string {
  return load !== undefined && load >= NOISY_CORES ? ' (noisy)' : '';
}

function machineLine(r: PathResult): string {
  const seconds = r.load.windowSeconds;
  const busy = r.machineBusy;
  return (
    `cpu in window (cores busy on average): server ${fmt((r.server.cpuUser + r.server.cpuSystem) / seconds, 2)} ` +
    `(user ${fmt(r.server.cpuUser / seconds, 2)}, sys ${fmt(r.server.cpuSystem / seconds, 2)}), load generator ${fmt(r.load.cpuSeconds / seconds, 2)} (its event loop ${fmt(r.load.elu, 2)} busy)` +
    (r.postgresCpu !== undefined ? `, postgres ${fmt(r.postgresCpu / seconds, 2)}` : '') +
    (r.mosquittoCpu !== undefined ? `, mosquitto ${fmt(r.mosquittoCpu / seconds, 2)}` : '') +
    (busy !== undefined
      ? `; whole machine ${fmt(busy / seconds, 2)} of ${os.availableParallelism()} (not ours: ${fmt(otherLoad(r), 2)}${noisy(otherLoad(r))})`
      : '') +
    `; server event loop: utilization ${fmt(r.server.elu, 2)}, delay p99 ${fmt(r.server.loopDelayP99, 1)} ms, max ${fmt(r.server.loopDelayMax, 0)} ms; server max RSS ${fmt(r.server.maxRss / 2 ** 20)} MB`
  );
}

function describeSetup(): string {
  const loop = RATE === undefined ? 'closed loop (next report as soon as the previous is accepted)' : `open loop, ${fmt(RATE)} reports/s offered`;
  return [
    `doppel twin bench — ${new Date().toISOString()} — commit ${commitOfRun()} — node ${process.version}, ${os.availableParallelism()} CPUs (${os.cpus()[0]?.model ?? '?'})`,
    `load: ${DEVICES} devices, QoS ${QOS}, ${loop}; warm-up ${WARMUP_MS / 1000} s, window ${MEASURE_MS / 1000} s; ` +
      `subscribers: ${SUBSCRIBE ? `${SUBSCRIBERS === 1 ? 'one graphql-ws client' : `${SUBSCRIBERS} graphql-ws clients`}, twinChanged for all devices { deviceId version patch }` : 'none'}`,
    `processes: server = child process running createServer() (Aedes and PGlite inside it when used); load generator = child process ` +
      `(${DEVICES} mqtt.js clients + the graphql-ws client); raw baseline = child process; PostgreSQL/Mosquitto = their own processes; ` +
      (PINS ? `pinned with taskset: server and raw baseline on CPU ${PINS.server}, load generator on CPU ${PINS.load}, PostgreSQL unpinned` : 'no CPU pinning'),
    ...(AEDES_CONCURRENCY !== undefined
      ? [
          `EXPERIMENT: embedded Aedes mqemitter concurrency patched to ${AEDES_CONCURRENCY} at run time (Doppel does not set it; Aedes default 100) — not a stock build`,
        ]
      : []),
    `baselines: ${opts['no-baseline'] ? 'skipped' : `same database kind, fresh database, ${DEVICES} twins, ${DEVICES} concurrent closed-loop writers through the server's driver (pg pool of 10 / one PGlite); ${BASELINE_MS / 1000} s window each after 1 s warm-up`}`,
  ].join('\n');
}

const LEGEND = `upd/s = accepted replies per second in the window; evt/s = twinChanged events per second; acc/evt = latency publish→accepted / publish→twinChanged
(raw rows: statement latency incl. pool queueing); CPU-s/1k = CPU-seconds per 1,000 updates (srv = server process via process.cpuUsage, or the
raw-baseline process — which for PGlite includes the database; pg = PostgreSQL processes of the bench database; load = load-generator process);
peak RSS = server (or raw) process, sampled every 50 ms in the window; ELU = server event-loop utilization; others = cores used by
processes not part of the run (shared machine; "noisy" from ${NOISY_CORES}); ratio = doppel upd/s ÷ baseline upd/s.
raw row UPDATE     = UPDATE "Twin" SET reported = reported || $1, version = version + 1 WHERE "deviceId" = $2 RETURNING version (one per report)
raw row UPDATE+log = the same + INSERT INTO "TwinChange" in one statement (the change log Doppel also writes)
raw set UPDATE+log = one UPDATE … FROM unnest + INSERT per batch of everything queued (Doppel's write shape without its SELECT, merge and metadata)`;

// ---------------------------------------------------------------------------------------------------
// Main

interface RunRecord {
  path: PathResult;
  baseline: BaselineResult[] | undefined;
}

async function main(): Promise<void> {
  const selected = benchModes(opts.mode);
  const setup = describeSetup();
  console.log(setup);
  console.log('');
  const records: RunRecord[] = [];
  const outputs: string[] = [];
  for (let run = 1; run <= REPEAT; run++) {
    const baselines = new Map<'pglite' | 'postgres', BaselineResult[]>();
    for (const mode of selected) {
      process.stdout.write(`▶ ${mode.name}${REPEAT > 1 ? ` run ${run}/${REPEAT}` : ''}: end to end… `);
      const result = await runPath(mode, run);
      process.stdout.write(`${fmt(updatesPerSecond(result))} upd/s (setup ${fmt(result.setupSeconds, 1)} s)`);
      let baseline = baselines.get(mode.db);
      if (!opts['no-baseline'] && !baseline) {
        process.stdout.write(`; raw baseline on ${mode.db}… `);
        baseline = await runBaseline(mode.db);
        baselines.set(mode.db, baseline);
        process.stdout.write('done');
      }
      process.stdout.write('\n\n');
      records.push({ path: result, baseline });
      const text = [
        `${mode.name}${REPEAT > 1 ? ` — run ${run}/${REPEAT}` : ''}${mode.mqttUrl ? ` — external broker ${mode.mqttUrl}` : mode.name === 'pglite' || mode.name === 'postgres' ? ' — embedded Aedes' : ''}`,
        table(HEADER, rowsFor(result, baseline)),
        integrityLine(result),
        machineLine(result),
      ].join('\n');
      console.log(text);
      console.log('');
      outputs.push(text);
      if (result.sql) {
        console.log('server SQL (raw statements from the window start to the end of the drain):');
        console.log(
          table(
            ['statement', 'calls', 'calls/s', 'mean ms', 'total s', 'mean batch', 'max batch'],
            result.sql.map((q) => [
              q.statement,
              fmt(q.calls),
              fmt(q.calls / result.load.windowSeconds),
              fmt(q.totalMs / q.calls, 2),
              fmt(q.totalMs / 1000, 2),
              fmt(q.meanBatch, 1),
              fmt(q.maxBatch),
            ]),
          ),
        );
        console.log('');
      }
      if (result.profileFile) {
        const profile = JSON.parse(fs.readFileSync(result.profileFile, 'utf8')) as Parameters<typeof summarizeProfile>[0];
        console.log(`CPU profile of the server over the window: ${path.relative(process.cwd(), result.profileFile)}`);
        console.log(renderSummary(summarizeProfile(profile), 20));
        console.log('');
      }
    }
  }
  console.log(LEGEND);

  if (records.length > 1) {
    console.log('');
    console.log('summary');
    const summaryRows = records.map(({ path: r, baseline }) => {
      const ups = updatesPerSecond(r);
      const ratio = (v: RawVariant) => {
        const b = baseline?.find((x) => x.variant === v);
        return b ? fmt(ups / (b.updatesInWindow / b.windowSeconds), 2) : '–';
      };
      return [
        `${r.mode} #${r.run}`,
        fmt(ups),
        `${fmt(r.load.acceptLatency.p99, 1)} ms`,
        `${fmt(r.load.eventLatency.p99, 1)} ms`,
        fmt(perThousand(r.server.cpuUser + r.server.cpuSystem, r.load.acceptedInWindow), 3),
        `${fmt(otherLoad(r), 2)}${noisy(otherLoad(r))}`,
        ratio('row'),
        ratio('row+log'),
        ratio('set+log'),
      ];
    });
    console.log(table(['run', 'upd/s', 'acc p99', 'evt p99', 'srv CPU-s/1k', 'others', '÷ row', '÷ row+log', '÷ set+log'], summaryRows));
  }

  if (opts.json) {
    fs.writeFileSync(opts.json, JSON.stringify({ setup, options: { DEVICES, QOS, RATE, WARMUP_MS, MEASURE_MS, PINS }, records }, null, 2));
  }
  if (opts.record) record(setup, records);
}

function record(setup: string, records: RunRecord[]): void {
  const file = path.join(BENCH_DIR, 'RESULTS.md');
  if (!fs.existsSync(file)) {
    fs.writeFileSync(
      file,
      '# Benchmark results\n\nAppended by `npm run bench:twin -- --record` (see docs/benchmarks.md). Absolute figures drift between runs and\nmachines; compare ratios to the baselines measured in the same run.\n',
    );
  }
  const header = [...HEADER];
  const entry: string[] = [];
  const date = new Date().toISOString().slice(0, 10);
  const loop = RATE === undefined ? 'closed loop' : `open loop ${fmt(RATE)}/s`;
  const experiment = AEDES_CONCURRENCY !== undefined ? ` — EXPERIMENT: Aedes concurrency ${AEDES_CONCURRENCY}` : '';
  entry.push('', `## ${date} — ${commitOfRun()} — bench:twin — ${[...new Set(records.map((r) => r.path.mode))].join(', ')} — ${loop}${experiment}`, '');
  entry.push('```', setup, `command: npm run bench:twin -- ${process.argv.slice(2).join(' ')}`.trimEnd(), '```', '');
  for (const { path: r, baseline } of records) {
    entry.push(`**${r.mode}**${REPEAT > 1 ? ` run ${r.run}` : ''}`, '');
    entry.push(markdownTable(header, rowsFor(r, baseline)), '');
    entry.push(`- ${integrityLine(r)}`, `- ${machineLine(r)}`, '');
  }
  fs.appendFileSync(file, `${entry.join('\n')}\n`);
  console.log(`\nrecorded in ${path.relative(process.cwd(), file)}`);
}

main().then(
  () => process.exit(0),
  async (err: unknown) => {
    console.error(err);
    await dropScratchDatabases();
    process.exit(1);
  },
);
