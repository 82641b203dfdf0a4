/**
 * `npm run bench:rules` — what the rules engine costs ingestion, and how fast an alarm reaches a live
 * subscriber (issue 12's "Measure"). bench:ingest's load (bench/lib/server-child.ts, bench/lib/ingest-child.ts:
 * mqtt.js devices publishing {a: publish time, b: seq, c: bool} at QoS 1), per mode:
 *
 * 1. a fresh server with no rules: stepped offered rates; the sustained rate is the highest that holds;
 * 2. a fresh server with 1,000 enabled rules over the same devices: the same steps. The mix: thresholds
 *    on `b` that never raise and the same with "for" durations (every reading keeps a window NORMAL, or
 *    a pending one holding), each scoped to 10 devices, and one rule on `a` over every device;
 * 3. on the rules server, half the no-rules sustained rate with the `a` rule's threshold T half-way
 *    through the step (`a > T`): each device raises exactly once while the load runs.
 *
 * A rate holds when the points stored per second reach 95 % of the offered messages, the backlog
 * (published − stored) at the step's end is at most half a second of load, and after the drain every
 * published message is stored (the backlog drains).
 *
 *   sustained ingest ratio = sustained rate with rules / without (target ≥ 0.9)
 *   raise latency = alarmChanged delivered to a graphql-ws client − the raising reading's ts
 *                   (publish → stored → judged → written → delivered; target p99 ≤ 250 ms at half load)
 *
 *   npm run bench:rules                                                  # embedded (PGlite + Aedes)
 *   BENCH_DATABASE_URL=postgres://… BENCH_MQTT_URL=mqtt://127.0.0.1:18830 npm run bench:rules -- --mode postgres+ext-mqtt
 *   npm run bench:rules -- --rates 500,1000,1500 --step-seconds 10 --cpu-prof --trace-sql --record
 */
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { TELEMETRY_POINTS_METRIC } from '../src/services/telemetry/index.ts';
import type { IngestDevice, StepResult } from './lib/ingest-child.ts';
import { renderSummary, summarizeProfile } from './lib/profile-summary.ts';
import { spawnChild, type RpcChild } from './lib/rpc.ts';
import type { ServerStarted, SqlTrace } from './lib/server-child.ts';
import {
  benchModes,
  benchRates,
  benchServerEnv,
  benchServerOverrides,
  commitId,
  createScratchDatabase,
  dropScratchDatabasesOnSignal,
  num,
  registerBenchDevices,
  sleep,
  spawnServerChild,
  type BenchMode,
} from './lib/common.ts';
import { fmt } from './lib/stats.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const HELP = `usage: npm run bench:rules -- [options]

  --mode <m>          pglite | postgres | postgres+ext-mqtt (repeatable). Default: pglite, plus postgres when
                      BENCH_DATABASE_URL is set, plus postgres+ext-mqtt when BENCH_MQTT_URL is set too.
  --devices <n>       simulated devices (default 1000)
  --procs <n>         device processes (default 2)
  --rules <n>         enabled rules in the rules runs (default 1000)
  --rates <list>      offered msg/s per step (default pglite 500,1000,1500,2000,2500; postgres 1000,2000,3000,4000,5000,6000)
  --step-seconds <s>  length of each step (default 10)
  --latency-seconds <s> length of the half-load latency step (default 20)
  --drain <s>         longest wait after a step for the backlog to drain (default 20)
  --rules-only        skip the no-rules run (for profiling: no ratio; the latency step runs at half the first rate)
  --cpu-prof          CPU profile of the server over the last rules step, summarized
  --trace-sql         time every SQL statement of the server over each rules step, and print the costliest
  --record            append the run to bench/RESULTS.md

env: BENCH_DATABASE_URL (scratch databases are created there and dropped), BENCH_MQTT_URL (external broker),
     BENCH_SERVER_<NAME>=value (passes <NAME>=value to the server).`;

const { values: opts } = parseArgs({
  options: {
    mode: { type: 'string', multiple: true },
    devices: { type: 'string', default: '1000' },
    procs: { type: 'string', default: '2' },
    rules: { type: 'string', default: '1000' },
    rates: { type: 'string' },
    'step-seconds': { type: 'string', default: '10' },
    'latency-seconds': { type: 'string', default: '20' },
    drain: { type: 'string', default: '20' },
    'cpu-prof': { type: 'boolean', default: false },
    'trace-sql': { type: 'boolean', default: false },
    'rules-only': { type: 'boolean', default: false },
    record: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opts.help) {
  console.log(HELP);
  process.exit(0);
}
const DEVICES = num('devices', opts.devices, 10, 20_000);
const PROCS = num('procs', opts.procs, 1, 16);
const RULES = num('rules', opts.rules, 1, 100_000);
const STEP_MS = num('step-seconds', opts['step-seconds'], 1, 3600) * 1000;
const LATENCY_MS = num('latency-seconds', opts['latency-seconds'], 2, 3600) * 1000;
const DRAIN_MS = num('drain', opts.drain, 1, 600) * 1000;
const DATABASE_URL = process.env.BENCH_DATABASE_URL || undefined;

const ratesFor = (mode: BenchMode) => benchRates(opts.rates, mode, { pglite: '500,1000,1500,2000,2500', postgres: '1000,2000,3000,4000,5000,6000' });

dropScratchDatabasesOnSignal();

function ruleRow(definition: Record<string, unknown>, metric: string): [string, string, string] {
  return [randomUUID(), JSON.stringify({ onRaise: [], onClear: [], ...definition }), metric];
}

interface Step {
  offered: number;
  achieved: number;
  backlogLast: number;
  held: boolean;
  why: string;
}

interface Server {
  srv: RpcChild;
  started: ServerStarted;
  gens: Array<{ share: IngestDevice[]; child: RpcChild }>;
  ids: string[];
  publishedSoFar: number;
  close(): Promise<void>;
}

async function startServer(mode: BenchMode, traceSql: boolean): Promise<Server> {
  const cleanups: Array<() => Promise<unknown>> = [];
  const close = async () => {
    for (let c = cleanups.shift(); c; c = cleanups.shift()) await c().catch((err: unknown) => console.error('cleanup failed:', err));
  };
  try {
    let databaseUrl = 'memory://';
    if (mode.db === 'postgres') {
      const scratch = await createScratchDatabase(DATABASE_URL!, 'rules');
      databaseUrl = scratch.url;
      cleanups.push(scratch.drop);
    }
    const srv = spawnServerChild(ROOT, cleanups, { stopTimeoutMs: 60_000 });
    const tag = randomBytes(3).toString('hex');
    const started = await srv.call<ServerStarted>('start', {
      traceSql,
      env: benchServerEnv(databaseUrl, { ...(mode.mqttUrl ? { MQTT_URL: mode.mqttUrl, MQTT_SHARED_GROUP: `rules${tag}` } : {}), ...benchServerOverrides() }),
    });
    const httpUrl = `${started.url}/graphql`;
    const devices = await registerBenchDevices(httpUrl, started.token, DEVICES, `rb${tag}`);
    const ids = devices.map((d) => d.deviceId);
    const gens = Array.from({ length: PROCS }, (_, p) => ({ share: devices.filter((_, i) => i % PROCS === p), child: spawnChild('ingest-child.ts') }));
    cleanups.unshift(async () => {
      for (const g of gens) {
        await g.child.call('close', undefined, 30_000).catch(() => g.child.kill());
        await g.child.exited;
      }
    });
    const mqttUrl = mode.mqttUrl ?? `mqtt://127.0.0.1:${started.mqttPort}`;
    await Promise.all(gens.map((g) => g.child.call('connect', { mqttUrl, devices: g.share }, 300_000)));
    await sleep(1000);
    return { srv, started, gens, ids, publishedSoFar: 0, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** One step at `rate` msg/s for `ms`, then the drain; whether it held (see the header). */
async function runStep(server: Server, rate: number, ms: number): Promise<Step> {
  const { srv, gens } = server;
  const stored = () => srv.call<number>('metric', { name: TELEMETRY_POINTS_METRIC, labels: { result: 'stored' } });
  const stored0 = await stored();
  const published0 = server.publishedSoFar;
  const stepping = Promise.all(
    gens.map((g) => g.child.call<StepResult>('step', { rate: (rate * g.share.length) / DEVICES, durationMs: ms, drainMs: DRAIN_MS }, ms + DRAIN_MS + 60_000)),
  );
  const t0 = performance.now();
  let storedAtEnd = stored0;
  let backlogLast = 0;
  for (let k = 1; k * 1000 <= ms; k++) {
    await sleep(Math.max(0, t0 + k * 1000 - performance.now()));
    const [totals, points] = await Promise.all([Promise.all(gens.map((g) => g.child.call<{ published: number }>('totals'))), stored()]);
    storedAtEnd = points;
    backlogLast = totals.reduce((a, t) => a + t.published, 0) - published0 - (points - stored0) / 3;
  }
  const seconds = (performance.now() - t0) / 1000;
  const results = await stepping;
  server.publishedSoFar += results.reduce((a, r) => a + r.published, 0);
  // The backlog drains: every published message stored, or nothing moved for 3 s, or --drain is up.
  const drainStart = Date.now();
  let last = await stored();
  for (let lastMove = Date.now(); last < server.publishedSoFar * 3 && Date.now() - drainStart < DRAIN_MS && Date.now() - lastMove < 3000;) {
    await sleep(100);
    const now = await stored();
    if (now !== last) lastMove = Date.now();
    last = now;
  }
  const achieved = (storedAtEnd - stored0) / 3 / seconds;
  const problems: string[] = [];
  if (achieved < 0.95 * rate) problems.push(`achieved ${fmt((100 * achieved) / rate)}% of offered`);
  if (backlogLast > rate * 0.5) problems.push(`backlog ${fmt(backlogLast)} at step end (> 0.5 s of load)`);
  if (last < server.publishedSoFar * 3) problems.push(`${fmt((server.publishedSoFar * 3 - last) / 3)} messages not stored after the drain`);
  const unacked = results.reduce((a, r) => a + r.unacked + r.failed, 0);
  if (unacked > 0) problems.push(`${fmt(unacked)} unacked or failed`);
  return { offered: rate, achieved, backlogLast, held: problems.length === 0, why: problems.join('; ') };
}

async function insertRules(server: Server, rows: Array<[string, string, string]>): Promise<void> {
  await server.srv.call('query', {
    text: `WITH r AS (INSERT INTO "Rule" (id, "tenantId", name, definition, "sourceType", "sourceKey")
             SELECT id, 'default', 'bench-' || id, def, 'telemetry', key FROM unnest($1::uuid[], $2::jsonb[], $3::text[]) AS t(id, def, key) RETURNING id, definition)
           INSERT INTO "RuleVersion" ("ruleId", version, definition, enabled) SELECT id, 1, definition, true FROM r`,
    params: [rows.map((r) => r[0]), rows.map((r) => r[1]), rows.map((r) => r[2])],
  });
}

/** Steps up the rates until one does not hold; the sustained rate is the highest that held (0: none). */
async function stepRates(label: string, mode: BenchMode, server: Server, lines: string[], onLastStep?: (held: boolean) => Promise<void>): Promise<number> {
  let sustained = 0;
  const rates = ratesFor(mode);
  for (const [i, rate] of rates.entries()) {
    if (opts['cpu-prof'] && onLastStep) await server.srv.call('mark', { profile: true });
    else await server.srv.call('mark', {});
    const step = await runStep(server, rate, STEP_MS);
    // Server CPU over the step and its drain per 1,000 messages offered: robust to a noisy machine
    // (what the work costs, not how fast a shared core ran it), and comparable with and without rules.
    const usage = await server.srv.call<{ cpuUser: number; cpuSystem: number }>('usage');
    const cpuMsPerK = ((usage.cpuUser + usage.cpuSystem) * 1e6) / (rate * (STEP_MS / 1000));
    const line = `  ${label} ${fmt(rate)} msg/s: stored ${fmt(step.achieved)} msg/s, ${step.held ? 'held' : `NOT held (${step.why})`}, server CPU ${fmt(cpuMsPerK, 1)} ms per 1,000 msgs`;
    console.log(line);
    lines.push(line);
    if (step.held) sustained = rate;
    const lastOne = !step.held || i === rates.length - 1;
    if (onLastStep && lastOne) await onLastStep(step.held);
    else if (opts['cpu-prof'] && onLastStep) await server.srv.call('endProfile', { file: path.join(os.tmpdir(), `rules-discard-${process.pid}.cpuprofile`) });
    if (!step.held) break;
  }
  return sustained;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function runMode(mode: BenchMode): Promise<string[]> {
  const lines: string[] = [];
  const say = (line: string) => {
    console.log(line);
    lines.push(line);
  };
  say(`mode ${mode.name}: ${DEVICES} devices, ${RULES} rules, steps of ${STEP_MS / 1000} s`);

  // 1. No rules.
  let without = 0;
  if (!opts['rules-only']) {
    const bare = await startServer(mode, false);
    try {
      without = await stepRates('no rules', mode, bare, lines);
    } finally {
      await bare.close();
    }
  }

  // 2. The same steps with the rules.
  const server = await startServer(mode, opts['trace-sql']);
  try {
    const { ids } = server;
    const rows: Array<[string, string, string]> = [];
    for (let i = 0; i < RULES - 1; i++) {
      const scope = { deviceIds: Array.from({ length: 10 }, (_, k) => ids[(i * 10 + k) % DEVICES]!) };
      const raise = i % 2 === 0 ? { op: '>', value: 1e12 } : { op: '>', value: 1e12, forMs: 60_000 };
      rows.push(ruleRow({ scope, source: { type: 'telemetry', metric: 'b' }, raise, severity: 'INFO' }, 'b'));
    }
    // While the rates are stepped, the rule on `a` is there (evaluated on every reading) but never raises.
    const dormant = ruleRow({ scope: {}, source: { type: 'telemetry', metric: 'a' }, raise: { op: '>', value: 1e15 }, severity: 'MAJOR' }, 'a');
    await insertRules(server, [...rows, dormant]);

    const withRules = await stepRates('1,000 rules', mode, server, lines, async () => {
      if (opts['trace-sql']) {
        const trace = await server.srv.call<SqlTrace[]>('sqlTrace');
        const top = trace.sort((a, b) => b.totalMs - a.totalMs).slice(0, 8);
        say('  SQL over the last rules step (statement, calls, total ms, mean rows):');
        for (const t of top) say(`    ${t.statement.replace(/\s+/g, ' ').slice(0, 90)} | ${t.calls} | ${fmt(t.totalMs)} | ${fmt(t.meanBatch, 1)}`);
      }
      if (opts['cpu-prof']) {
        const file = path.join(import.meta.dirname, 'profiles', `rules-${mode.name}-${new Date().toISOString().replace(/[:.]/g, '-')}.cpuprofile`);
        const written = await server.srv.call<string | undefined>('endProfile', { file });
        if (written) {
          const prof = JSON.parse(fs.readFileSync(written, 'utf8')) as Parameters<typeof summarizeProfile>[0];
          console.log(`CPU profile of the server over the last rules step: ${path.relative(process.cwd(), written)}`);
          console.log(renderSummary(summarizeProfile(prof), 20));
        }
      }
    });
    const ratio = without > 0 ? withRules / without : Number.NaN;
    say(`sustained ingest without rules: ${fmt(without)} msg/s; with ${RULES} rules: ${fmt(withRules)} msg/s; ratio ${fmt(ratio, 3)} (target ≥ 0.9)`);

    // 3. Raise latency at half the no-rules sustained rate: the `a` rule now raises once per device.
    const half = Math.max(1, Math.round((without || ratesFor(mode)[0]!) / 2));
    const latencies: number[] = [];
    const ws = createClient({
      url: `${server.started.url}/graphql`.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      lazy: false,
      retryAttempts: 0,
      connectionParams: { authorization: `Bearer ${server.started.token}` },
    });
    ws.subscribe<{ alarmChanged: { cause: string; at: string } }>(
      { query: 'subscription { alarmChanged { cause at } }' },
      {
        next: (msg) => {
          const e = msg.data?.alarmChanged;
          if (e?.cause === 'conditionRaised') latencies.push(Date.now() - new Date(e.at).getTime());
        },
        error: (err) => console.error('subscription', err),
        complete: () => undefined,
      },
    );
    await sleep(1000);
    const threshold = Date.now() + LATENCY_MS / 2;
    const raising = ruleRow({ scope: {}, source: { type: 'telemetry', metric: 'a' }, raise: { op: '>', value: threshold }, severity: 'MAJOR' }, 'a');
    await server.srv.call('query', { text: `UPDATE "Rule" SET enabled = false WHERE id = $1`, params: [dormant[0]] });
    await insertRules(server, [raising]);
    const stepRun = runStep(server, half, LATENCY_MS);
    // The stages are read around the raises (from the threshold to 1.5 s after it: every device sends at
    // least once a second), not over the whole step, whose other readings raise nothing.
    await sleep(Math.max(0, threshold - Date.now()));
    const split = await latencySplit(server);
    await sleep(1500);
    const splitText = await split.end();
    const step = await stepRun;
    for (let deadline = Date.now() + 30_000; latencies.length < DEVICES && Date.now() < deadline;) await sleep(100);
    await ws.dispose();
    say(
      `raise latency at ${fmt(half)} msg/s (stored ${fmt(step.achieved)} msg/s, ${step.held ? 'held' : `NOT held: ${step.why}`}), ${latencies.length}/${DEVICES} raises: ` +
        `p50 ${fmt(percentile(latencies, 50), 0)} ms, p99 ${fmt(percentile(latencies, 99), 0)} ms, max ${fmt(Math.max(...latencies), 0)} ms (target p99 ≤ 250 ms)`,
    );
    say(`  where it goes, means from the threshold to 1.5 s after it (server histograms): ${splitText}`);
  } finally {
    await server.close();
  }
  return lines;
}

/**
 * The server-side stages of a reading's way to an alarm, as means over a window: receipt → commit
 * (doppel_publish_to_stored_seconds), commit → evaluation start and the evaluation itself
 * (doppel_rule_evaluation_seconds). What the client saw beyond their sum is the broker's hop in and
 * the event's way out (bus, graphql-ws).
 */
async function latencySplit(server: Server): Promise<{ end(): Promise<string> }> {
  const series = [
    ['receipt → stored', 'doppel_publish_to_stored_seconds', { kind: 'telemetry' }],
    ['stored → evaluation start', 'doppel_rule_evaluation_seconds', { source: 'telemetry', stage: 'wait' }],
    ['evaluation', 'doppel_rule_evaluation_seconds', { source: 'telemetry', stage: 'run' }],
  ] as const;
  const read = () =>
    Promise.all(series.map(([, name, labels]) => server.srv.call<{ sum: number; count: number }>('histogram', { name, labels: { ...labels } })));
  const before = await read();
  return {
    async end() {
      const after = await read();
      return series
        .map(([label], i) => {
          const count = after[i]!.count - before[i]!.count;
          const mean = count > 0 ? ((after[i]!.sum - before[i]!.sum) / count) * 1000 : Number.NaN;
          return `${label} ${fmt(mean, 1)} ms (${fmt(count)}×)`;
        })
        .join(', ');
    },
  };
}

async function main(): Promise<void> {
  const all: string[] = [];
  for (const mode of benchModes(opts.mode)) all.push(...(await runMode(mode)));
  if (opts.record) {
    const entry = [
      '',
      `## bench:rules — ${new Date().toISOString()} (commit ${commitId(ROOT)})`,
      '',
      '```',
      `command: npm run bench:rules -- ${process.argv.slice(2).join(' ')}`.trimEnd(),
      ...all,
      '```',
      '',
    ];
    fs.appendFileSync(path.join(import.meta.dirname, 'RESULTS.md'), entry.join('\n'));
  }
}

await main();
process.exit(0);
