/**
 * `npm run bench:series`: how fast a long series answers from rollups, against the same query on raw rows.
 *
 * Seeds one device with `--days` (90) days of telemetry, one point every `--step` (10) seconds for
 * `--metrics` (3) metrics, inserted set-based (generate_series), and builds its rollups with the fold the
 * ingest statement runs (`rebuildRollups`, src/services/rollups.ts). Then times a series query — hourly
 * buckets over the whole range, in a whole-hour zone (hour grain) and in Asia/Kathmandu (+05:45,
 * 15-minute grain), `from`/`to` not on bucket edges as a dashboard's "last 90 days" — through GraphQL over
 * HTTP: `--runs` times from rollups, and `--raw-runs` times on a second server over the same database
 * with TELEMETRY_SERIES_ROLLUPS=false (raw rows only). Prints p50/p99 and the raw ÷ rollup ratio, and
 * checks that both answers agree (counts, min, max, last exactly; averages to 1e-12 relative).
 *
 * Modes: pglite (in-process PGlite, always) and postgres (BENCH_DATABASE_URL=postgres://…; a scratch
 * database is created and dropped). Servers run in this process (createServer, embedded Aedes unused);
 * requests are sequential, one at a time, so the client shares the event loop but never overlaps it.
 */
import { execSync } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createApiToken } from '../src/auth/tokens.ts';
import { loadConfig } from '../src/config.ts';
import { openDatabase, type Database } from '../src/db/client.ts';
import { applyMigrations } from '../src/db/migrate.ts';
import { createLogger } from '../src/logger.ts';
import { createServer, MIGRATIONS_DIR } from '../src/server.ts';
import { rebuildRollups } from '../src/services/rollups.ts';
import { commitId, createScratchDatabase, dropScratchDatabases, dropScratchDatabasesOnSignal, num, waitForQuiet } from './lib/common.ts';
import { fmt, markdownTable, percentiles, table } from './lib/stats.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const usage = `npm run bench:series -- [options]
  --days N        days of data (default 90)
  --step S        seconds between points (default 10)
  --metrics N     metrics per point (default 3)
  --runs N        timed rollup queries per zone (default 200, after 20 warm-up)
  --raw-runs N    timed raw-row queries per zone (default 10, after 2 warm-up)
  --mode M        pglite | postgres | all (default: all; postgres needs BENCH_DATABASE_URL)
  --quiet MS      wait up to MS for a quiet machine before timing (default 30000; 0: no wait)
env: BENCH_DATABASE_URL=postgres://postgres:postgres@127.0.0.1:5432/postgres`;

const { values: opts } = parseArgs({
  options: {
    days: { type: 'string', default: '90' },
    step: { type: 'string', default: '10' },
    metrics: { type: 'string', default: '3' },
    runs: { type: 'string', default: '200' },
    'raw-runs': { type: 'string', default: '10' },
    mode: { type: 'string', default: 'all' },
    quiet: { type: 'string', default: '30000' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opts.help) {
  console.log(usage);
  process.exit(0);
}
const DAYS = num('days', opts.days, 1, 3650);
const STEP = num('step', opts.step, 1, 86_400);
const METRICS = num('metrics', opts.metrics, 1, 20);
const RUNS = num('runs', opts.runs, 1, 100_000);
const RAW_RUNS = num('raw-runs', opts['raw-runs'], 0, 10_000);
const QUIET_MS = num('quiet', opts.quiet, 0, 3_600_000);
const DATABASE_URL = process.env.BENCH_DATABASE_URL || undefined;
const modes = opts.mode === 'all' ? ['pglite', ...(DATABASE_URL ? ['postgres'] : [])] : [opts.mode!];
for (const m of modes) {
  if (m !== 'pglite' && m !== 'postgres') {
    console.error(`--mode must be pglite, postgres or all\n${usage}`);
    process.exit(2);
  }
  if (m === 'postgres' && !DATABASE_URL) {
    console.error('--mode postgres needs BENCH_DATABASE_URL=postgres://…');
    process.exit(2);
  }
}

const DAY = 86_400_000;
const ZONES = ['Europe/Berlin', 'Asia/Kathmandu'];
const END = Date.parse('2026-11-01T00:00:00Z');
const START = END - DAYS * DAY;
// "The last N days" as a dashboard asks: edges off the buckets, so the plan reads raw rows at both ends.
const FROM = START + 7 * 60_000 + 13_000;
const TO = END - 2 * 60_000 - 500;

const QUERY = `query S($id: String!, $from: DateTime!, $to: DateTime!, $tz: String!) {
  device(deviceId: $id) {
    series(metrics: ["m0"], from: $from, to: $to, interval: HOUR, aggregates: [AVG, MIN, MAX, COUNT, LAST], timeZone: $tz) {
      buckets { start avg min max count last }
    }
  }
}`;

interface Bucket {
  start: string;
  avg: number;
  min: number;
  max: number;
  count: number;
  last: number;
}

async function seed(db: Database): Promise<{ deviceId: string; points: number; seedMs: number; rollupMs: number; rollupRows: number }> {
  const deviceId = 'bench-series-1';
  const device = await db.prisma.device.create({ data: { deviceId, secretHash: 'x', twin: { create: {} } } });
  const metrics = Array.from({ length: METRICS }, (_, i) => `m${i}`);
  let t = performance.now();
  let points = 0;
  for (let day = START; day < END; day += DAY) {
    // A daily wave plus noise: values with many significant bits, as sensors send.
    const rows = await db.sql.query<{ n: number }>(
      `WITH ins AS (
         INSERT INTO "TelemetryPoint" ("deviceId", metric, ts, value)
         SELECT $1::uuid, m, ts, 20 + 5 * sin(extract(epoch FROM ts) / 13751) + random()
           FROM generate_series($2::timestamptz, $3::timestamptz - $4::int * interval '1 second', $4::int * interval '1 second') AS ts
          CROSS JOIN unnest($5::text[]) AS m
         RETURNING 1)
       SELECT count(*)::int AS n FROM ins`,
      [device.id, new Date(day).toISOString(), new Date(day + DAY).toISOString(), STEP, metrics],
    );
    points += Number(rows[0]!.n);
  }
  const seedMs = performance.now() - t;
  t = performance.now();
  const rollupRows = await rebuildRollups(db, { from: START, to: END, deviceUuids: [device.id] });
  const rollupMs = performance.now() - t;
  // PGlite never analyzes by itself, and PostgreSQL's autovacuum would get to it soon: plan on statistics.
  await db.sql.query('ANALYZE "TelemetryPoint"');
  await db.sql.query('ANALYZE "TelemetryRollup"');
  return { deviceId, points, seedMs, rollupMs, rollupRows };
}

async function timeQuery(url: string, token: string, variables: Record<string, string>, runs: number, warmup: number) {
  const once = async () => {
    const t = performance.now();
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: QUERY, variables }),
    });
    const body = (await response.json()) as { data?: { device: { series: Array<{ buckets: Bucket[] }> } }; errors?: unknown };
    const ms = performance.now() - t;
    if (body.errors || !body.data) throw new Error(`query failed: ${JSON.stringify(body.errors)}`);
    return { ms, buckets: body.data.device.series[0]!.buckets };
  };
  for (let i = 0; i < warmup; i++) await once();
  const times: number[] = [];
  let buckets: Bucket[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await once();
    times.push(r.ms);
    buckets = r.buckets;
  }
  const [p50, p99] = percentiles(times, [50, 99]);
  return { p50: p50!, p99: p99!, mean: times.reduce((a, b) => a + b, 0) / Math.max(1, times.length), buckets };
}

/** Whether two answers agree: everything exactly but averages, which may differ by rounding. */
function agree(a: Bucket[], b: Bucket[]): string {
  if (a.length !== b.length) return `bucket counts differ (${a.length} vs ${b.length})`;
  let worst = 0;
  for (const [i, x] of a.entries()) {
    const y = b[i]!;
    if (x.start !== y.start || x.count !== y.count || x.min !== y.min || x.max !== y.max || x.last !== y.last) return `bucket ${x.start} differs`;
    worst = Math.max(worst, Math.abs(x.avg - y.avg) / Math.max(1, Math.abs(y.avg)));
  }
  return worst < 1e-12 ? `identical (avg max rel. diff ${worst.toExponential(1)})` : `avg differs by ${worst}`;
}

async function runMode(mode: string) {
  const scratch = mode === 'postgres' ? await createScratchDatabase(DATABASE_URL!, 'series') : undefined;
  const base = {
    PORT: '0',
    HOST: '127.0.0.1',
    MQTT_PORT: '0',
    MQTT_HOST: '127.0.0.1',
    MQTT_TLS: 'off',
    LOG_LEVEL: 'warn',
    DOPPEL_BOOTSTRAP_TOKEN: 'false',
    DATABASE_URL: scratch?.url ?? 'memory://',
  };
  const config = loadConfig(base);
  const rawConfig = loadConfig({ ...base, TELEMETRY_SERIES_ROLLUPS: 'false' });
  const db = await openDatabase(config.database);
  try {
    await applyMigrations(db, { migrationsDir: MIGRATIONS_DIR });
    process.stdout.write(`[${mode}] seeding ${DAYS} days × ${METRICS} metrics every ${STEP} s… `);
    const s = await seed(db);
    console.log(`${fmt(s.points)} points in ${fmt(s.seedMs / 1000, 1)} s; ${fmt(s.rollupRows)} rollup rows in ${fmt(s.rollupMs / 1000, 1)} s`);
    const logger = createLogger('warn');
    const rollupServer = createServer(config, { database: db, logger, migrate: false });
    const rawServer = createServer(rawConfig, { database: db, logger, migrate: false });
    const [a, b] = [await rollupServer.start(), await rawServer.start()];
    const { token } = await createApiToken(db.prisma, { name: 'bench', role: 'admin', tenantId: 'default' });
    const rows: string[][] = [];
    try {
      for (const tz of ZONES) {
        const variables = { id: s.deviceId, from: new Date(FROM).toISOString(), to: new Date(TO).toISOString(), tz };
        const load = await waitForQuiet(QUIET_MS, 0.5);
        const fast = await timeQuery(`${a.url}/graphql`, token, variables, RUNS, 20);
        const slow = RAW_RUNS > 0 ? await timeQuery(`${b.url}/graphql`, token, variables, RAW_RUNS, 2) : undefined;
        const check = slow ? agree(fast.buckets, slow.buckets) : 'not compared';
        const note = `${fast.buckets.length} buckets; ${check}; others used ${load === undefined ? '?' : fmt(load, 2)} cores before`;
        rows.push([mode, tz, 'rollups', fmt(RUNS), fmt(fast.p50, 1), fmt(fast.p99, 1), fmt(fast.mean, 1), '1.00', note]);
        if (slow)
          rows.push([mode, tz, 'raw rows', fmt(RAW_RUNS), fmt(slow.p50, 1), fmt(slow.p99, 1), fmt(slow.mean, 1), `${fmt(slow.p50 / fast.p50, 1)}×`, '']);
        console.log(
          `[${mode}] ${tz}: rollups p50 ${fmt(fast.p50, 1)} ms p99 ${fmt(fast.p99, 1)} ms${slow ? `; raw p50 ${fmt(slow.p50, 1)} ms p99 ${fmt(slow.p99, 1)} ms; ratio ${fmt(slow.p50 / fast.p50, 1)}×` : ''}; ${check}`,
        );
      }
    } finally {
      await rollupServer.stop();
      await rawServer.stop();
    }
    return { rows, seed: s };
  } finally {
    await db.close();
    await scratch?.drop();
  }
}

async function main() {
  dropScratchDatabasesOnSignal();
  let commit = commitId(ROOT);
  if (commit === 'unknown') commit = execSync('git rev-parse --short HEAD', { cwd: ROOT }).toString().trim();
  const header = ['mode', 'zone', 'source', 'runs', 'p50 ms', 'p99 ms', 'mean ms', 'raw ÷ rollups (p50)', 'note'];
  const all: string[][] = [];
  const seeds: string[] = [];
  for (const mode of modes) {
    const { rows, seed } = await runMode(mode);
    all.push(...rows);
    seeds.push(
      `${mode}: ${fmt(seed.points)} points seeded in ${fmt(seed.seedMs / 1000, 1)} s, ${fmt(seed.rollupRows)} rollup rows rebuilt in ${fmt(seed.rollupMs / 1000, 1)} s`,
    );
  }
  const heading = `bench:series — ${new Date().toISOString()} — commit ${commit} — node ${process.version} — ${DAYS} days, ${METRICS} metrics every ${STEP} s, one device; HOUR buckets of metric m0 over [${new Date(FROM).toISOString()}, ${new Date(TO).toISOString()}), aggregates AVG MIN MAX COUNT LAST, GraphQL over HTTP, sequential requests`;
  console.log(`\n${heading}\n${seeds.join('\n')}\n\n${table(header, all)}\n\nMarkdown:\n\n${markdownTable(header, all)}`);
}

main()
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => dropScratchDatabases());
