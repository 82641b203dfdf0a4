/**
 * `npm run bench:api` — GraphQL reads per second, against the baselines the issue's targets are set on
 * (issue 19, docs/performance.md "API reads"), in one run:
 *
 *   bare Yoga `{ hello }`                      bench/lib/api-yoga-child.ts
 *   Doppel, authenticated with a real API token, rate limit off:
 *     `{ __typename }`, one device's twin, a devices page of 100 with twins, a 24 h hourly series, node(id)
 *                                              bench/lib/server-child.ts (createServer, as `npm start`)
 *   the devices page's rows read with one SQL statement + JSON.stringify behind node:http
 *                                              bench/lib/api-raw-child.ts (raw `pg`; embedded: PGlite itself)
 *
 * Each server is its own process and so is the load generator (autocannon, bench/lib/api-load-child.ts),
 * so the CPU per 1,000 requests read from /proc/<pid>/stat is the server's alone. On PostgreSQL the
 * database backends' CPU is reported beside it.
 *
 *   npm run bench:api                               # pglite, plus postgres when BENCH_DATABASE_URL is set
 *   npm run bench:api -- --mode postgres --seconds 5
 *   npm run bench:api -- --cpu-prof --seconds 5     # + a CPU profile of the server per query, summarized
 *   npm run bench:api -- --record                   # + a dated section in bench/RESULTS.md
 *
 * env: BENCH_DATABASE_URL=postgres://postgres:postgres@127.0.0.1:5432/postgres (a scratch database is
 * created there and dropped after), BENCH_LOG_LEVEL (server log level, default silent).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DEVICE_PREFIX, SERIES_DEVICE, SERIES_METRIC, seedApiBench } from './lib/api-seed.ts';
import type { LoadParams, LoadResult } from './lib/api-load-child.ts';
import type { RawStartParams } from './lib/api-raw-child.ts';
import {
  benchModes,
  benchServerEnv,
  commitId,
  createScratchDatabase,
  dropScratchDatabases,
  dropScratchDatabasesOnSignal,
  num,
  spawnServerChild,
  waitForQuiet,
  type BenchModeName,
  type Cleanups,
} from './lib/common.ts';
import { renderSummary, summarizeProfile } from './lib/profile-summary.ts';
import { spawnChild, type RpcChild } from './lib/rpc.ts';
import type { ServerStartParams, ServerStarted } from './lib/server-child.ts';
import { fmt, markdownTable, table } from './lib/stats.ts';
import { postgresMatcher, processTracker } from './lib/sysstat.ts';

const ROOT = path.resolve(import.meta.dirname, '..');

const HELP = `usage: npm run bench:api -- [options]

  --mode <m>          pglite | postgres (repeatable). Default: pglite, plus postgres when
                      BENCH_DATABASE_URL is set.
  --seconds <s>       measured window per query (default 15)
  --warmup <s>        autocannon warm-up before each window (default 3)
  --connections <n>   autocannon connections (default 32)
  --devices <n>       seeded devices, each with a twin (default 200; the page reads 100)
  --query <name>      only these Doppel queries (repeatable): typename, twin, devices, series, node
  --quiet <s>         before each window wait up to s seconds (default 5) for others to use < 0.3 cores
  --cpu-prof          profile the server over each query's window; writes bench/profiles/api-*.cpuprofile
                      and prints a summary per query
  --record            append a dated section to bench/RESULTS.md
  --note <text>       a sentence for the recorded section (what the run compares)
  --json <file>       also write every figure as JSON`;

const { values: opts } = parseArgs({
  options: {
    mode: { type: 'string', multiple: true },
    seconds: { type: 'string', default: '15' },
    warmup: { type: 'string', default: '3' },
    connections: { type: 'string', default: '32' },
    devices: { type: 'string', default: '200' },
    query: { type: 'string', multiple: true },
    quiet: { type: 'string', default: '5' },
    'cpu-prof': { type: 'boolean', default: false },
    record: { type: 'boolean', default: false },
    note: { type: 'string' },
    json: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  allowPositionals: false,
});
if (opts.help) {
  console.log(HELP);
  process.exit(0);
}

const SECONDS = num('seconds', opts.seconds, 1, 600);
const WARMUP = num('warmup', opts.warmup, 0, 60);
const CONNECTIONS = num('connections', opts.connections, 1, 1000);
const DEVICES = num('devices', opts.devices, 100, 9999);
const QUIET_MS = num('quiet', opts.quiet, 0, 600) * 1000;
const NOISY_CORES = 0.3;
const PROFILE = opts['cpu-prof'];
const DATABASE_URL = process.env.BENCH_DATABASE_URL || undefined;

type ModeName = Extract<BenchModeName, 'pglite' | 'postgres'>;
const MODES = benchModes(opts.mode, ['pglite', 'postgres']).map((m) => m.name as ModeName);

/** The end of the seeded telemetry day: whole hours, so the series has 24 full buckets. */
const UNTIL = Math.floor(Date.now() / 3_600_000) * 3_600_000;

interface DoppelQuery {
  name: 'typename' | 'twin' | 'devices' | 'series' | 'node';
  label: string;
  /** Rows (twins) per answer, for rows/s. */
  rows: number;
  body: (nodeId: string) => string;
  /** Throws when an answer is not what the query asks (an error answer is fast and would flatter). */
  check: (data: Record<string, unknown>) => void;
}

const body = (query: string, variables: Record<string, unknown> = {}) => JSON.stringify({ query, variables });
const ensure = (ok: boolean, what: string) => {
  if (!ok) throw new Error(`unexpected answer: ${what}`);
};

const QUERIES: DoppelQuery[] = [
  {
    name: 'typename',
    label: '{ __typename }',
    rows: 0,
    body: () => body('{ __typename }'),
    check: (d) => ensure(d.__typename === 'Query', '__typename'),
  },
  {
    name: 'twin',
    label: 'device(deviceId) { connected twin { version reported desired delta } }',
    rows: 1,
    body: () =>
      body('query Twin($id: String!) { device(deviceId: $id) { connected twin { version reported desired delta } } }', {
        id: `${DEVICE_PREFIX}0002`,
      }),
    check: (d) => ensure((d.device as { twin?: { version?: number } } | null)?.twin?.version === 42, 'device.twin.version'),
  },
  {
    name: 'devices',
    label: 'devices(first: 100) { edges { node { id deviceId name connected tags twin { version reported delta } } } }',
    rows: 100,
    body: () => body('{ devices(first: 100) { edges { node { id deviceId name connected tags twin { version reported delta } } } } }'),
    check: (d) => ensure((d.devices as { edges: unknown[] }).edges.length === 100, 'devices.edges.length'),
  },
  {
    name: 'series',
    label: 'device(deviceId) { series(24 h, HOUR, AVG MIN MAX COUNT) }',
    rows: 1,
    body: () =>
      body(
        `query Series($id: String!, $from: DateTime!, $to: DateTime!) {
          device(deviceId: $id) { series(metrics: ["${SERIES_METRIC}"], from: $from, to: $to, interval: HOUR, aggregates: [AVG, MIN, MAX, COUNT]) { buckets { start avg min max count } } }
        }`,
        { id: SERIES_DEVICE, from: new Date(UNTIL - 86_400_000).toISOString(), to: new Date(UNTIL).toISOString() },
      ),
    check: (d) => {
      const buckets = (d.device as { series: Array<{ buckets: unknown[] }> }).series[0]!.buckets;
      ensure(buckets.length === 24, `24 buckets, got ${buckets.length}: ${JSON.stringify(buckets.slice(0, 2))}`);
    },
  },
  {
    name: 'node',
    label: 'node(id) { ... on Device { deviceId connected twin { version } } }',
    rows: 1,
    body: (nodeId) => body('query Node($id: ID!) { node(id: $id) { ... on Device { deviceId connected twin { version } } } }', { id: nodeId }),
    check: (d) => ensure((d.node as { deviceId?: string } | null)?.deviceId === `${DEVICE_PREFIX}0003`, 'node.deviceId'),
  },
];
const SELECTED = opts.query ? QUERIES.filter((q) => opts.query!.includes(q.name)) : QUERIES;
if (SELECTED.length === 0) {
  console.error(`--query must name some of ${QUERIES.map((q) => q.name).join(', ')}`);
  process.exit(2);
}

/** One measured window. */
interface Row {
  mode: ModeName;
  target: string;
  rps: number;
  p50: number;
  p99: number;
  rows: number;
  /** Server CPU-ms per 1,000 requests (from /proc/<pid>/stat). */
  cpuPer1k: number;
  /** Database backends' CPU-ms per 1,000 requests (PostgreSQL only). */
  dbCpuPer1k: number | undefined;
  /** Cores others used just before the window. */
  othersLoad: number | undefined;
  failures: number;
}

/** CPU-seconds (user + system) of one process, from /proc. */
function processCpu(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function postJson(url: string, token: string, payload: string): Promise<Record<string, unknown>> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: payload });
  const answer = (await response.json()) as { data?: Record<string, unknown>; errors?: unknown };
  if (!response.ok || answer.errors || !answer.data) throw new Error(`${response.status}: ${JSON.stringify(answer.errors ?? answer)}`);
  return answer.data;
}

async function measure(
  load: RpcChild,
  params: Omit<LoadParams, 'connections' | 'seconds'>,
  target: { mode: ModeName; name: string; rows: number; pid: number; dbName: string | undefined },
  profile?: { server: RpcChild; file: string },
): Promise<Row> {
  if (WARMUP > 0) await load.call<LoadResult>('run', { ...params, connections: CONNECTIONS, seconds: WARMUP }, (WARMUP + 60) * 1000);
  const othersLoad = await waitForQuiet(QUIET_MS, NOISY_CORES);
  if (profile) await profile.server.call('mark', { profile: true });
  const db = target.dbName ? processTracker(postgresMatcher(target.dbName)) : undefined;
  const dbSampler = db ? setInterval(() => db.sample(), 1000) : undefined;
  const cpuBefore = processCpu(target.pid);
  const result = await load.call<LoadResult>('run', { ...params, connections: CONNECTIONS, seconds: SECONDS }, (SECONDS + 60) * 1000);
  const cpu = processCpu(target.pid) - cpuBefore;
  clearInterval(dbSampler);
  const dbCpu = db?.cpu();
  if (profile) {
    const file = await profile.server.call<string>('endProfile', { file: profile.file });
    const summary = renderSummary(summarizeProfile(JSON.parse(fs.readFileSync(file, 'utf8')) as Parameters<typeof summarizeProfile>[0]), 15);
    console.log(`\n--- profile: ${target.mode} ${target.name} (${path.relative(ROOT, file)}) ---\n${summary}\n`);
  }
  const per1k = (seconds: number) => (seconds * 1000 * 1000) / Math.max(1, result.requests);
  return {
    mode: target.mode,
    target: target.name,
    rps: result.rps,
    p50: result.p50,
    p99: result.p99,
    rows: target.rows,
    cpuPer1k: per1k(cpu),
    dbCpuPer1k: dbCpu === undefined ? undefined : per1k(dbCpu),
    othersLoad,
    failures: result.non2xx + result.errors + result.timeouts,
  };
}

async function runMode(mode: ModeName): Promise<Row[]> {
  const rows: Row[] = [];
  const children: RpcChild[] = [];
  const stopChild = async (child: RpcChild) => {
    await child.call('stop', undefined, 30_000).catch(() => child.kill());
    await child.exited;
  };
  let databaseUrl = 'memory://';
  let dbName: string | undefined;
  let drop: (() => Promise<void>) | undefined;
  const serverStop: Cleanups = [];
  try {
    if (mode === 'postgres') {
      const scratch = await createScratchDatabase(DATABASE_URL!, 'api');
      ({ url: databaseUrl, name: dbName, drop } = scratch);
    }
    const load = spawnChild('api-load-child.ts');
    children.push(load);

    // Baseline 1: bare Yoga.
    const yoga = spawnChild('api-yoga-child.ts');
    const yogaStarted = await yoga.call<{ url: string; pid: number }>('start');
    process.stdout.write(`[${mode}] bare Yoga { hello }… `);
    const yogaRow = await measure(
      load,
      { url: yogaStarted.url, body: body('{ hello }'), headers: {} },
      { mode, name: 'bare Yoga { hello }', rows: 0, pid: yogaStarted.pid, dbName: undefined },
    );
    console.log(`${fmt(yogaRow.rps)} req/s`);
    rows.push(yogaRow);
    await stopChild(yoga);

    // Doppel.
    const server = spawnServerChild(ROOT, serverStop);
    const env = benchServerEnv(databaseUrl, { GRAPHQL_RATE_LIMIT_PER_S: '0' });
    // No RSS sampling: bench:api reports CPU, not memory, and the bare baselines sample nothing (the
    // 50 ms sampler was 2–4 % of the server's profile, charged to Doppel alone).
    const started = await server.call<ServerStarted>('start', { env, sampleRss: false } satisfies ServerStartParams, 600_000);
    await seedApiBench((text, params) => server.call<unknown[]>('query', { text, params }, 300_000), DEVICES, UNTIL);
    const url = `${started.url}/graphql`;
    const nodeId = ((await postJson(url, started.token, body(`{ device(deviceId: "${DEVICE_PREFIX}0003") { id } }`))).device as { id: string }).id;
    for (const query of SELECTED) {
      const payload = query.body(nodeId);
      query.check(await postJson(url, started.token, payload));
      process.stdout.write(`[${mode}] Doppel ${query.name}… `);
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      const row = await measure(
        load,
        { url, body: payload, headers: { authorization: `Bearer ${started.token}` } },
        { mode, name: `Doppel ${query.name}`, rows: query.rows, pid: started.pid, dbName },
        PROFILE ? { server, file: path.join(ROOT, 'bench', 'profiles', `api-${mode}-${query.name}-${stamp}.cpuprofile`) } : undefined,
      );
      // Still right after the load (not an error answer served fast).
      query.check(await postJson(url, started.token, payload));
      console.log(`${fmt(row.rps)} req/s, p99 ${fmt(row.p99)} ms`);
      rows.push(row);
    }
    // Stopped before the raw baseline, which should not share the machine with it.
    for (let stop = serverStop.shift(); stop; stop = serverStop.shift()) await stop();

    // Baseline 2: the devices page's rows, raw.
    const raw = spawnChild('api-raw-child.ts');
    children.push(raw);
    const rawStarted = await raw.call<{ url: string; pid: number }>(
      'start',
      { databaseUrl: mode === 'postgres' ? databaseUrl : undefined, devices: DEVICES, until: UNTIL } satisfies RawStartParams,
      300_000,
    );
    process.stdout.write(`[${mode}] raw ${mode === 'postgres' ? 'pg' : 'PGlite'} + JSON.stringify, 100 rows… `);
    const rawRow = await measure(
      load,
      { url: rawStarted.url, body: '{}', headers: {} },
      { mode, name: `raw ${mode === 'postgres' ? 'pg' : 'PGlite'} + JSON (100 rows)`, rows: 100, pid: rawStarted.pid, dbName },
    );
    console.log(`${fmt(rawRow.rps)} req/s`);
    rows.push(rawRow);
    return rows;
  } finally {
    for (const child of children.reverse()) await stopChild(child).catch(() => child.kill());
    for (const stop of serverStop) await stop().catch(() => undefined);
    await drop?.().catch((error: unknown) => console.error('dropping the scratch database failed:', error));
  }
}

/** The ratios the issue's targets are set on; undefined when a figure was not measured. */
function ratios(rows: Row[]) {
  const rps = (target: string) => rows.find((r) => r.target === target)?.rps;
  const yoga = rps('bare Yoga { hello }');
  const raw = rows.find((r) => r.target.startsWith('raw '))?.rps;
  const div = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined && b > 0 ? a / b : undefined);
  return {
    typenameVsYoga: div(rps('Doppel typename'), yoga),
    twinVsYoga: div(rps('Doppel twin'), yoga),
    devicesRowsVsRaw: div(rps('Doppel devices'), raw),
  };
}

const TARGETS = { typenameVsYoga: 0.7, twinVsYoga: 0.4, devicesRowsVsRaw: 0.5 } as const;
const RATIO_LABELS = {
  typenameVsYoga: 'authenticated { __typename } ÷ bare Yoga',
  twinVsYoga: 'twin read ÷ bare Yoga',
  devicesRowsVsRaw: 'devices page rows/s ÷ raw rows/s',
} as const;

function render(all: Row[], markdown: boolean): string {
  const header = ['mode', 'target', 'req/s', 'rows/s', 'p50 ms', 'p99 ms', 'server CPU-ms / 1k req', 'db CPU-ms / 1k req', 'others (cores)', 'failed'];
  const cells = all.map((r) => [
    r.mode,
    r.target,
    fmt(r.rps),
    r.rows ? fmt(r.rps * r.rows) : '–',
    fmt(r.p50),
    fmt(r.p99),
    fmt(r.cpuPer1k),
    fmt(r.dbCpuPer1k),
    fmt(r.othersLoad, 2),
    String(r.failures),
  ]);
  const byMode = new Map(MODES.map((m) => [m, ratios(all.filter((r) => r.mode === m))]));
  const ratioHeader = ['ratio', 'target', ...MODES, ...(byMode.has('pglite') && byMode.has('postgres') ? ['embedded ÷ PostgreSQL (target ≥ 0.5)'] : [])];
  const ratioRows = (Object.keys(TARGETS) as Array<keyof typeof TARGETS>).map((key) => {
    const pgl = byMode.get('pglite')?.[key];
    const pgs = byMode.get('postgres')?.[key];
    return [
      RATIO_LABELS[key],
      `≥ ${TARGETS[key]}`,
      ...MODES.map((m) => fmt(byMode.get(m)?.[key], 2)),
      ...(ratioHeader.length > 2 + MODES.length ? [fmt(pgl !== undefined && pgs !== undefined ? pgl / pgs : undefined, 2)] : []),
    ];
  });
  const t = markdown ? markdownTable : table;
  return `${t(header, cells)}\n\n${t(ratioHeader, ratioRows)}`;
}

/** The command line as recorded: without --note (said after it) and --json (a local path). */
function shownArgs(): string {
  const args = process.argv.slice(2);
  const shown: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--note' || args[i] === '--json') i++;
    else if (!args[i]!.startsWith('--note=') && !args[i]!.startsWith('--json=')) shown.push(args[i]!);
  }
  return shown.length > 0 ? ` -- ${shown.join(' ')}` : '';
}

async function main(): Promise<void> {
  dropScratchDatabasesOnSignal();
  const commit = commitId(ROOT);
  console.log(
    `bench:api — ${MODES.join(', ')}; ${CONNECTIONS} connections, ${WARMUP} s warm-up + ${SECONDS} s per target; ${DEVICES} devices; commit ${commit}; ${os.availableParallelism()} CPUs`,
  );
  const all: Row[] = [];
  for (const mode of MODES) all.push(...(await runMode(mode)));
  console.log(`\n${render(all, false)}`);
  const noisy = all.filter((r) => r.othersLoad !== undefined && r.othersLoad >= NOISY_CORES);
  if (noisy.length > 0) console.log(`\nnoisy: other processes used ≥ ${NOISY_CORES} cores before ${noisy.length} of ${all.length} windows (column "others").`);
  if (opts.json) fs.writeFileSync(opts.json, JSON.stringify({ commit, seconds: SECONDS, connections: CONNECTIONS, rows: all }, null, 2));
  if (opts.record) {
    const date = new Date().toISOString().slice(0, 16).replace('T', ' ');
    const section = [
      '',
      `## bench:api — ${date} UTC, commit ${commit}`,
      '',
      `\`npm run bench:api${shownArgs()}\`: ${CONNECTIONS} connections, ${WARMUP} s warm-up + ${SECONDS} s per target, ${DEVICES} devices, rate limit off, ` +
        `authenticated with an admin API token; ${os.availableParallelism()} CPUs shared with other work ("others" = cores other processes used just before the window; "failed" = non-2xx answers, errors and autocannon's 10 s timeouts).${opts.note ? ` ${opts.note}` : ''}`,
      '',
      render(all, true),
      '',
    ].join('\n');
    fs.appendFileSync(path.join(ROOT, 'bench', 'RESULTS.md'), section);
    console.log('\nappended to bench/RESULTS.md');
  }
}

main()
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => dropScratchDatabases());
