/**
 * `npm run bench:outage` — how fast ingestion recovers from a database outage (issue 18, "Measure").
 *
 *   mqtt.js devices ─QoS 1─▶ Mosquitto ─▶ Doppel (src/main.ts, persistent session) ─▶ PostgreSQL
 *
 * Everything is private to the run: a fresh PostgreSQL cluster and a Mosquitto on free ports
 * (test/support/services.ts), one Doppel process (test/support/process.ts) with `MQTT_CLIENT_ID` set, and
 * a fleet (test/support/fleet.ts, in this process) offering a steady QoS 1 load. After a warm-up the
 * database is stopped (fast shutdown) for `--outage-seconds`, then started again; the fleet publishes
 * throughout. Every 250 ms the run samples what the broker acknowledged to the devices and what Doppel
 * stored (`doppel_telemetry_points_total{result="stored"}`; one point per message). It reports:
 *
 *  - recovery time: database back → the first 1 s window in which Doppel stored at least the offered rate;
 *  - first write after: database back → the first point stored;
 *  - backlog at return and peak pending: messages acknowledged to devices and not stored yet (held by
 *    Doppel or queued at the broker);
 *  - drained per second: how much faster than the offered rate the backlog went, database back → caught up
 *    (backlog back to its level before the outage);
 *  - lost: messages the broker acknowledged and that were never stored (checked row by row at the end; must be 0).
 *
 *   npm run bench:outage                                  # 2,000 msg/s, 30 s outage
 *   npm run bench:outage -- --rate 1000 --outage-seconds 10 --record
 *
 * See docs/benchmarks.md ("bench:outage").
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { loadConfig } from '../src/config.ts';
import { openDatabase } from '../src/db/client.ts';
import { applyMigrations } from '../src/db/migrate.ts';
import { MIGRATIONS_DIR } from '../src/server.ts';
import { TELEMETRY_POINTS_METRIC } from '../src/services/telemetry/index.ts';
import { STORE_RETRIES_METRIC } from '../src/services/store-retry.ts';
import { startFleet, type Fleet } from '../test/support/fleet.ts';
import { spawnServer, type ServerProcess } from '../test/support/process.ts';
import { startMosquitto, startPostgres, type ServiceControl } from '../test/support/services.ts';
import { commitId, num, sleep } from './lib/common.ts';
import { fmt, markdownTable } from './lib/stats.ts';

const ROOT = path.resolve(import.meta.dirname, '..');

const HELP = `usage: npm run bench:outage -- [options]

  --rate <n>              offered msg/s, QoS 1 (default 2000)
  --devices <n>           devices the rate is spread over (default 100)
  --warmup-seconds <s>    steady load before the outage (default 15)
  --outage-seconds <s>    how long PostgreSQL is down (default 30)
  --immediate             stop PostgreSQL with an immediate (crash) shutdown instead of a fast one
  --max-recovery-seconds <s>  longest the load goes on after the database is back (default 120)
  --record                append the run to bench/RESULTS.md

env: BENCH_SERVER_<NAME>=value passes <NAME>=value to the Doppel process (e.g. BENCH_SERVER_TELEMETRY_MAX_PENDING_POINTS=20000),
     BENCH_LOG_LEVEL (its log level, default info: the start is recognised by an info line).`;

const { values: opts } = parseArgs({
  options: {
    rate: { type: 'string', default: '2000' },
    devices: { type: 'string', default: '100' },
    'warmup-seconds': { type: 'string', default: '15' },
    'outage-seconds': { type: 'string', default: '30' },
    immediate: { type: 'boolean', default: false },
    'max-recovery-seconds': { type: 'string', default: '120' },
    record: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (opts.help) {
  console.log(HELP);
  process.exit(0);
}
const rate = num('rate', opts.rate, 1, 100_000);
const deviceCount = num('devices', opts.devices, 1, 10_000);
const warmupMs = num('warmup-seconds', opts['warmup-seconds'], 2, 3600) * 1000;
const outageMs = num('outage-seconds', opts['outage-seconds'], 0, 3600) * 1000;
const maxRecoveryMs = num('max-recovery-seconds', opts['max-recovery-seconds'], 5, 3600) * 1000;
const SAMPLE_MS = 250;
const WINDOW_MS = 1000;

interface Sample {
  at: number;
  acked: number;
  stored: number;
  retries: number;
}

function metricSum(text: string, name: string, label?: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (label && !line.includes(label))) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) sum += value;
  }
  return sum;
}

async function serverCounters(server: ServerProcess): Promise<{ stored: number; retries: number } | undefined> {
  try {
    const text = await (await fetch(`${server.url}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
    return { stored: metricSum(text, TELEMETRY_POINTS_METRIC, 'result="stored"'), retries: metricSum(text, STORE_RETRIES_METRIC, 'kind="telemetry"') };
  } catch {
    return undefined;
  }
}

/** Points stored in [from, to] per second, from the samples around the window. */
function rateBetween(samples: Sample[], from: number, to: number): number {
  const a = samples.findLast((s) => s.at <= from) ?? samples[0]!;
  const b = samples.findLast((s) => s.at <= to) ?? samples.at(-1)!;
  return b.at > a.at ? ((b.stored - a.stored) * 1000) / (b.at - a.at) : 0;
}

async function main(): Promise<void> {
  const started = new Date();
  console.log(
    `bench:outage — ${started.toISOString()} — commit ${commitId(ROOT)} — node ${process.version} — ${os.cpus().length} cores — ` +
      `${fmt(rate)} msg/s QoS 1 from ${deviceCount} devices, PostgreSQL down ${outageMs / 1000} s (${opts.immediate ? 'immediate' : 'fast'} shutdown)`,
  );
  const cleanups: Array<() => Promise<unknown>> = [];
  let fleet: Fleet | undefined;
  try {
    const pgService: ServiceControl = await startPostgres();
    cleanups.push(() => pgService.destroy());
    const admin = new pg.Client({ connectionString: pgService.url });
    await admin.connect();
    await admin.query('CREATE DATABASE doppel');
    await admin.end();
    const dbUrl = pgService.url.replace(/\/postgres$/, '/doppel');
    const db = await openDatabase(loadConfig({ DATABASE_URL: dbUrl }).database);
    await applyMigrations(db, { migrationsDir: MIGRATIONS_DIR });
    await db.close();
    const pool = new pg.Pool({ connectionString: dbUrl, max: 2 });
    pool.on('error', () => undefined); // idle connections die with the outage
    cleanups.unshift(() => pool.end());

    const mosquitto = await startMosquitto();
    cleanups.unshift(() => mosquitto.destroy());

    // With an external broker the broker authenticates devices; Doppel only needs the registry rows.
    const ids = Array.from({ length: deviceCount }, (_, i) => `outage-${i}`);
    await pool.query(
      `INSERT INTO "Device" (id, "deviceId", "secretHash", "updatedAt") SELECT gen_random_uuid(), d, 'unused', now() FROM unnest($1::text[]) d`,
      [ids],
    );

    const passThrough = Object.fromEntries(
      Object.entries(process.env)
        .filter(([k, v]) => k.startsWith('BENCH_SERVER_') && v !== undefined)
        .map(([k, v]) => [k.slice('BENCH_SERVER_'.length), v!]),
    );
    const server = await spawnServer(
      {
        DATABASE_URL: dbUrl,
        MQTT_URL: mosquitto.url,
        MQTT_CLIENT_ID: 'doppel-bench-outage',
        PORT: '0',
        HOST: '127.0.0.1',
        // info at least: spawnServer waits for the "Doppel is running" line.
        LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
        DOPPEL_BOOTSTRAP_TOKEN: 'false',
        ...passThrough,
      },
      120_000,
    );
    cleanups.unshift(async () => {
      server.child.kill('SIGTERM');
      await server.exited;
    });

    fleet = await startFleet({ url: mosquitto.url, deviceIds: ids, receiptDevices: 0, ratePerSecond: rate });
    const samples: Sample[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const counters = await serverCounters(server);
        if (counters) samples.push({ at: Date.now(), acked: fleet!.acked(), ...counters });
        await sleep(SAMPLE_MS);
      }
    })();

    fleet.start();
    await sleep(warmupMs);
    const steadyFrom = Date.now() - Math.min(5000, warmupMs / 2);
    const before = samples.filter((s) => s.at >= steadyFrom);
    const steadyRate = rateBetween(samples, steadyFrom, Date.now());
    const steadyBacklog = before.reduce((m, s) => Math.max(m, s.acked - s.stored), 0);

    const downAt = Date.now();
    if (opts.immediate) await pgService.kill();
    else await pgService.stop();
    process.stdout.write(`database down at +${((downAt - samples[0]!.at) / 1000).toFixed(1)} s… `);
    await sleep(Math.max(0, outageMs - (Date.now() - downAt)));
    await pgService.start();
    const backAt = Date.now();
    process.stdout.write(`back after ${((backAt - downAt) / 1000).toFixed(1)} s… `);

    // Publish on until the backlog is back to its level before the outage (+ 5 s to see the rate hold), or the limit.
    const caughtUpLevel = steadyBacklog * 2 + rate * 0.1;
    let caughtUpAt: number | undefined;
    while (Date.now() - backAt < maxRecoveryMs) {
      await sleep(SAMPLE_MS);
      const last = samples.at(-1);
      if (!caughtUpAt && last && last.at > backAt && last.acked - last.stored <= caughtUpLevel) caughtUpAt = last.at;
      if (caughtUpAt && Date.now() - caughtUpAt > 5000) break;
    }
    fleet.stopPublishing();
    const publishedUntil = Date.now();

    // Drain what is left, then compare row by row.
    const drainDeadline = Date.now() + 60_000;
    let lastStored = -1;
    let lastChange = Date.now();
    while (Date.now() < drainDeadline) {
      const last = samples.at(-1);
      if (last && last.at > publishedUntil + 1000 && last.stored >= last.acked) break;
      if (last && last.stored !== lastStored) {
        lastStored = last.stored;
        lastChange = Date.now();
      } else if (Date.now() - lastChange > 10_000) break; // nothing more is coming
      await sleep(SAMPLE_MS);
    }
    sampling = false;
    await sampler;

    const { rows } = await pool.query<{ device: string; n: number }>(
      `SELECT d."deviceId" AS device, p.value::int AS n FROM "TelemetryPoint" p JOIN "Device" d ON d.id = p."deviceId" WHERE p.metric = 'n'`,
    );
    const stored = new Map<string, Set<number>>(ids.map((id) => [id, new Set()]));
    for (const r of rows) stored.get(r.device)?.add(r.n);
    let lost = 0;
    let acked = 0;
    for (const d of fleet.devices) {
      acked += d.acked.size;
      for (const n of d.acked) if (!stored.get(d.id)!.has(n)) lost++;
    }

    const after = samples.filter((s) => s.at >= backAt);
    const firstWrite = after.find((s) => s.stored > (samples.findLast((x) => x.at <= backAt)?.stored ?? 0));
    const recovered = after.find((s) => s.at - WINDOW_MS >= backAt && rateBetween(samples, s.at - WINDOW_MS, s.at) >= rate);
    const atBack = samples.findLast((s) => s.at <= backAt)!;
    const backlogAtBack = atBack.acked - atBack.stored;
    const peakPending = samples.reduce((m, s) => Math.max(m, s.acked - s.stored), 0);
    let peakRate = 0;
    for (const s of after) if (s.at - WINDOW_MS >= backAt) peakRate = Math.max(peakRate, rateBetween(samples, s.at - WINDOW_MS, s.at));
    const drainSeconds = caughtUpAt ? (caughtUpAt - backAt) / 1000 : undefined;
    const drainedPerSecond = caughtUpAt ? (samples.findLast((s) => s.at <= caughtUpAt)!.stored - atBack.stored) / drainSeconds! - rate : undefined;
    const retries = samples.at(-1)!.retries;

    const header = ['figure', 'value'];
    const tableRows: string[][] = [
      ['offered', `${fmt(rate)} msg/s`],
      ['stored before the outage (last 5 s)', `${fmt(steadyRate)} msg/s`],
      ['outage (database down → back)', `${fmt((backAt - downAt) / 1000, 1)} s`],
      ['first write after the database is back', firstWrite ? `${fmt((firstWrite.at - backAt) / 1000, 2)} s` : 'none'],
      [
        '**recovery time** (back → a 1 s window at ≥ the offered rate)',
        recovered ? `**${fmt((recovered.at - backAt) / 1000, 2)} s**` : `not within ${maxRecoveryMs / 1000} s`,
      ],
      ['backlog when the database came back', `${fmt(backlogAtBack)} msgs`],
      ['peak pending (acknowledged to devices, not stored)', `${fmt(peakPending)} msgs`],
      ['caught up (backlog back to its level before the outage)', drainSeconds !== undefined ? `${fmt(drainSeconds, 1)} s after the return` : 'not caught up'],
      ['**backlog drained per second** (stored − offered, back → caught up)', drainedPerSecond !== undefined ? `**${fmt(drainedPerSecond)} msgs/s**` : '–'],
      ['peak stored rate after the return (1 s window)', `${fmt(peakRate)} msg/s`],
      ['telemetry store retries', fmt(retries)],
      ['acknowledged to devices / **lost**', `${fmt(acked)} / **${fmt(lost)}**`],
    ];
    // Every 5 s from the start of the load: what was offered (acknowledged) and stored, and the backlog.
    const timelineHeader = ['t (s)', 'phase', 'acknowledged msg/s', 'stored msg/s', 'pending at the end'];
    const timeline: string[][] = [];
    const t0 = samples[0]!.at;
    for (let from = t0; from < samples.at(-1)!.at; from += 5000) {
      const a = samples.findLast((s) => s.at <= from)!;
      const b = samples.findLast((s) => s.at <= from + 5000)!;
      if (b.at <= a.at) continue;
      const phase = b.at <= downAt ? 'before' : a.at < backAt ? 'outage' : b.at <= publishedUntil ? 'after' : 'drain';
      timeline.push([
        fmt((from - t0) / 1000),
        phase,
        fmt(((b.acked - a.acked) * 1000) / (b.at - a.at)),
        fmt(((b.stored - a.stored) * 1000) / (b.at - a.at)),
        fmt(b.acked - b.stored),
      ]);
    }
    const load = os
      .loadavg()
      .map((l) => fmt(l, 1))
      .join(' / ');
    console.log('\n');
    console.log(markdownTable(header, tableRows));
    console.log(`\nload average at the end (1 / 5 / 15 min): ${load}\n`);
    console.log(markdownTable(timelineHeader, timeline));
    if (lost > 0) console.log(`\n${lost} acknowledged messages were not stored: the run failed its zero-loss check`);
    if (opts.record) {
      const entry = [
        '',
        `## ${started.toISOString().slice(0, 10)} — ${commitId(ROOT)} — bench:outage — postgres+ext-mqtt`,
        '',
        '```',
        `bench:outage — ${started.toISOString()} — node ${process.version} — ${os.cpus().length} cores — ${fmt(rate)} msg/s QoS 1 from ${deviceCount} devices, PostgreSQL 15 down ${outageMs / 1000} s (${opts.immediate ? 'immediate' : 'fast'} shutdown), Mosquitto persistence false, one Doppel with MQTT_CLIENT_ID`,
        `command: npm run bench:outage -- ${process.argv.slice(2).join(' ')}`.trimEnd(),
        '```',
        '',
        markdownTable(header, tableRows),
        '',
        `Load average at the end (1 / 5 / 15 min, 2 cores, shared with other sessions): ${load}. Every 5 s:`,
        '',
        markdownTable(timelineHeader, timeline),
        '',
      ];
      fs.appendFileSync(path.join(ROOT, 'bench', 'RESULTS.md'), `${entry.join('\n')}\n`);
      console.log('\nrecorded in bench/RESULTS.md');
    }
    if (lost > 0) process.exitCode = 1;
  } finally {
    await fleet?.close();
    for (const cleanup of cleanups) await cleanup().catch((err: unknown) => console.error('cleanup failed:', err));
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
