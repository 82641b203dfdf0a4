/**
 * `npm run bench:webhooks` — what the transactional outbox costs the twin path (issue 13's target: the
 * twin-update rate with one endpoint subscribed to twin.changed ≥ 0.8 × the rate without any):
 *
 *   mqtt.js devices ─QoS 1─▶ broker ─▶ bridge ─▶ twin batch statement (+ twin.changed fan-out into "Outbox")
 *
 * Drives twin updates the way bench/twin.ts does (its server and load processes, bench/lib/server-child.ts
 * and bench/lib/load-child.ts, closed loop, no graphql-ws subscriber), and in the same run alternates
 * windows WITHOUT any enabled endpoint and WITH one endpoint subscribed to twin.changed (no filter: every
 * change of every device is fanned out to it). Prints both rates, their ratio and the outbox rows written.
 *
 *   npm run bench:webhooks                                  # embedded (PGlite + Aedes), 1,000 devices
 *   npm run bench:webhooks -- --seconds 10 --pairs 2
 *   BENCH_DATABASE_URL=postgres://… npm run bench:webhooks -- --mode postgres
 *   npm run bench:webhooks -- --record                      # + a dated entry in bench/RESULTS.md
 *   npm run bench:webhooks -- --telemetry                   # + the telemetry.stored cost on the ingest statement
 *   npm run bench:webhooks -- --explain --no-twin           # EXPLAIN ANALYZE of the claim over a seeded backlog
 *
 * `--telemetry` times the tuned telemetry batch statement (src/services/telemetry/writer.ts) in this
 * process, on its own database, in four variants of the same batches: as tuned (no fan-out CTE), with the
 * telemetry.stored CTE appended while no endpoint subscribes, with one endpoint subscribed to 10 devices,
 * and with one endpoint subscribed to every device. It decides whether the CTE is appended always or only
 * while an endpoint subscribes (docs/outbox.md).
 *
 * Delivery throughput (events delivered per second to a local receiver, issue 13's other target: ≥ 2,000/s
 * on PostgreSQL) is measured after the twin windows by {@link measureDelivery}; during the "with" windows
 * the deliverer runs too, against the same receiver.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { LoadResult } from './lib/load-child.ts';
import type { RpcChild } from './lib/rpc.ts';
import type { ServerStarted, ServerUsage } from './lib/server-child.ts';
import {
  benchModes,
  benchServerEnv,
  commitId,
  createScratchDatabase,
  dropScratchDatabasesOnSignal,
  num,
  registerBenchDevices,
  sleep,
  spawnLoadChild,
  spawnServerChild,
  type BenchModeName,
} from './lib/common.ts';
import { fmt, markdownTable, table } from './lib/stats.ts';
import { loadConfig } from '../src/config.ts';
import { openDatabase } from '../src/db/client.ts';
import { applyMigrations } from '../src/db/migrate.ts';
import type { DevicePoint } from '../src/domain/telemetry/batcher.ts';
import { MIGRATIONS_DIR } from '../src/server.ts';
import { generateSecret } from '../src/domain/webhooks/signing.ts';
import { createSecretSealer } from '../src/security/webhook-key.ts';
import { createTelemetryWriter } from '../src/services/telemetry/writer.ts';
import { CLAIM_SQL, CLAIM_WINDOW } from '../src/services/outbox/claim.ts';

const BENCH_DIR = import.meta.dirname;
const ROOT = path.resolve(BENCH_DIR, '..');

const HELP = `usage: npm run bench:webhooks -- [options]

  --mode <m>        pglite | postgres (repeatable). Default: pglite, plus postgres when BENCH_DATABASE_URL is set.
  --devices <n>     simulated devices (default 1000)
  --warmup <s>      warm-up before each window (default 3)
  --seconds <s>     each measured window (default 10)
  --pairs <n>       (without, with) window pairs per mode, alternating (default 1)
  --record          append a dated entry to bench/RESULTS.md
  --telemetry       also time the telemetry batch statement with and without the telemetry.stored fan-out
  --telemetry-batches <n>  batches per variant and round (default 60; 1,000 points over 1,000 devices each)
  --no-twin         skip the twin windows (with --telemetry)
  --drain-events <n> PENDING events seeded for the delivery measurement (default 20000)
  --drain-only      skip the twin windows: only the delivery drain (with its CPU per event)
  --profile <dir>   CPU-profile the server during the drain (1 ms sampling) into <dir>/webhooks-drain-<mode>.cpuprofile
  --explain         print EXPLAIN ANALYZE of the claim statement over --drain-events PENDING rows
                    spread over --devices streams (one endpoint, maxInFlight 64), on its own database

env: BENCH_DATABASE_URL=postgres://postgres:postgres@127.0.0.1:5432/postgres (a scratch database is
     created there and dropped after), BENCH_LOG_LEVEL (server log level, default silent).`;

const { values: opts } = parseArgs({
  options: {
    mode: { type: 'string', multiple: true },
    devices: { type: 'string', default: '1000' },
    warmup: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '10' },
    pairs: { type: 'string', default: '1' },
    record: { type: 'boolean', default: false },
    telemetry: { type: 'boolean', default: false },
    'telemetry-batches': { type: 'string', default: '60' },
    'no-twin': { type: 'boolean', default: false },
    'drain-events': { type: 'string', default: '20000' },
    'drain-only': { type: 'boolean', default: false },
    profile: { type: 'string' },
    explain: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opts.help) {
  console.log(HELP);
  process.exit(0);
}

const DEVICES = num('devices', opts.devices, 1, 10_000);
const WARMUP_MS = num('warmup', opts.warmup, 0, 600) * 1000;
const MEASURE_MS = num('seconds', opts.seconds, 1, 3600) * 1000;
const PAIRS = num('pairs', opts.pairs, 1, 20);
const DATABASE_URL = process.env.BENCH_DATABASE_URL || undefined;
const TARGET_RATIO = 0.8;

type ModeName = Extract<BenchModeName, 'pglite' | 'postgres'>;
const modes = benchModes(opts.mode, ['pglite', 'postgres']).map((m) => m.name as ModeName);

dropScratchDatabasesOnSignal();

interface Window {
  kind: 'without' | 'with';
  updatesPerSecond: number;
  /** twin.changed rows written into "Outbox" during the window (and its warm-up and drain). */
  rowsWritten: number;
  changeRows: number;
}

interface ModeResult {
  mode: ModeName;
  windows: Window[];
  delivery: DeliveryResult | undefined;
}

/** What the delivery half reports. */
export interface DeliveryResult {
  delivered: number;
  seconds: number;
  /** Requests the receiver got for them (more than `delivered` only if some were sent twice). */
  requests: number;
  /** TCP connections the receiver accepted during the drain (one per request without keep-alive). */
  connections: number;
  /** The server process' CPU (user + system) during the drain, ms per delivered event. */
  serverCpuMsPerEvent: number;
  /** The server's event-loop utilization during the drain. */
  serverElu: number;
  /** PENDING rows right after the twin windows (delivered while the load ran: the rest). */
  pendingAfterWindows: number;
  /** How long the deliverer took to deliver those. */
  settledSeconds: number;
}

/** The key the bench server seals endpoint secrets with, so this process can seal one for it. */
const BENCH_SECRET_KEY = randomBytes(32);
/** Events seeded for the drain measurement (spread over the bench's devices: one stream each). */
const DRAIN_EVENTS = num('drain-events', opts['drain-events'], 100, 1_000_000);

/** A local receiver: answers 204 to every POST and counts them (the cheapest receiver, so the deliverer is measured). */
async function startReceiver(): Promise<{ url: string; received: () => number; connections: () => number; close: () => Promise<void> }> {
  let received = 0;
  let connections = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received++;
      res.writeHead(204).end();
    });
  });
  server.keepAliveTimeout = 30_000;
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/bench`,
    received: () => received,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * The delivery half: the deliverer's drain rate. With the twin windows done (their rows delivered or
 * not), DRAIN_EVENTS PENDING twin.changed rows are seeded for the endpoint in one statement, spread over
 * the devices (one stream each, as real traffic is ordered per device), and the time until the last one
 * is DELIVERED is measured. The endpoint allows 64 deliveries in flight (its maximum).
 */
async function measureDelivery(
  srv: RpcChild,
  mode: ModeName,
  endpointId: string,
  receiver: { received: () => number; connections: () => number },
): Promise<DeliveryResult> {
  // Whatever the twin windows left is delivered first, so the drain starts from an empty outbox.
  const pendingAfterWindows = await count(srv, `SELECT count(*) AS n FROM "Outbox" WHERE status = 'PENDING'`);
  const settleStart = performance.now();
  while ((await count(srv, `SELECT count(*) AS n FROM "Outbox" WHERE status = 'PENDING'`)) > 0) {
    if (performance.now() - settleStart > 300_000) throw new Error("the twin windows' events were not delivered within 5 minutes");
    await sleep(250);
  }
  const settledSeconds = (performance.now() - settleStart) / 1000;
  const receivedBefore = receiver.received();
  const connectionsBefore = receiver.connections();
  await srv.call('query', {
    text: `INSERT INTO "Outbox" (id, "eventId", "tenantId", kind, "endpointId", "deviceKey", type, "occurredAt", data)
           SELECT gen_random_uuid(), gen_random_uuid(), 'default', 'WEBHOOK', $1::uuid, d.id, 'twin.changed', now(),
                  jsonb_build_object('deviceId', d."deviceId", 'version', g, 'section', 'reported', 'patch', jsonb_build_object('n', g), 'source', 'device', 'actor', d."deviceId")
             FROM generate_series(1, $2::int) AS g
             JOIN (SELECT id, "deviceId", row_number() OVER (ORDER BY "deviceId") - 1 AS k FROM "Device") d ON d.k = g % $3::int
            ORDER BY g`,
    params: [endpointId, DRAIN_EVENTS, DEVICES],
  });
  // The seeding insert is not part of the drain's CPU: the mark comes after it.
  await srv.call('mark', { profile: opts.profile !== undefined });
  const started = performance.now();
  while ((await count(srv, `SELECT count(*) AS n FROM "Outbox" WHERE status = 'PENDING'`)) > 0) {
    if (performance.now() - started > 600_000) throw new Error('the seeded events were not delivered within 10 minutes');
    await sleep(100);
  }
  const seconds = (performance.now() - started) / 1000;
  const usage = await srv.call<ServerUsage>('usage');
  if (opts.profile !== undefined) {
    const file = await srv.call<string | undefined>('endProfile', { file: path.resolve(opts.profile, `webhooks-drain-${mode}.cpuprofile`) });
    console.log(`${mode} drain profile: ${file}`);
  }
  return {
    delivered: DRAIN_EVENTS,
    seconds,
    requests: receiver.received() - receivedBefore,
    connections: receiver.connections() - connectionsBefore,
    serverCpuMsPerEvent: ((usage.cpuUser + usage.cpuSystem) * 1000) / DRAIN_EVENTS,
    serverElu: usage.elu,
    pendingAfterWindows,
    settledSeconds,
  };
}

const count = async (srv: RpcChild, sql: string, params: unknown[] = []) =>
  Number(((await srv.call<Array<{ n: string | number }>>('query', { text: sql, params }))[0] ?? { n: 0 }).n);

async function runMode(mode: ModeName): Promise<ModeResult> {
  const cleanups: Array<() => Promise<unknown>> = [];
  try {
    let databaseUrl = 'memory://';
    if (mode === 'postgres') {
      const scratch = await createScratchDatabase(DATABASE_URL!, 'webhooks');
      databaseUrl = scratch.url;
      cleanups.push(scratch.drop);
    }
    const srv = spawnServerChild(ROOT, cleanups);
    const env = benchServerEnv(databaseUrl, {
      // The deliverer sends to the local receiver below.
      WEBHOOKS_ALLOW_HTTP: 'true',
      WEBHOOKS_ALLOWED_NETWORKS: '127.0.0.1/32',
      WEBHOOK_SECRET_KEY: BENCH_SECRET_KEY.toString('hex'),
    });
    const receiver = await startReceiver();
    cleanups.push(receiver.close);
    const started = await srv.call<ServerStarted>('start', { env });
    const httpUrl = `${started.url}/graphql`;
    const devices = await registerBenchDevices(httpUrl, started.token, DEVICES, `wh${randomBytes(3).toString('hex')}`);
    // The endpoint exists from the start, disabled: "without" windows run with no enabled endpoint.
    const [endpoint] = await srv.call<Array<{ id: string }>>('query', {
      text: `INSERT INTO "WebhookEndpoint" (id, "tenantId", url, "eventTypes", enabled, "disabledReason", "maxInFlight")
             VALUES (gen_random_uuid(), 'default', $1, ARRAY['twin.changed'], false, 'ADMIN', 64) RETURNING id`,
      params: [receiver.url],
    });
    await srv.call('query', {
      text: `INSERT INTO "WebhookSecret" (id, "endpointId", sealed) VALUES (gen_random_uuid(), $1::uuid, $2)`,
      params: [endpoint!.id, createSecretSealer(BENCH_SECRET_KEY).seal(endpoint!.id, generateSecret(randomBytes))],
    });
    const setEnabled = (enabled: boolean) =>
      srv.call('query', {
        text: `UPDATE "WebhookEndpoint" SET enabled = $2, "disabledReason" = $3 WHERE id = $1`,
        params: [endpoint!.id, enabled, enabled ? null : 'ADMIN'],
      });

    const gen = spawnLoadChild(cleanups);
    await gen.call('connect', {
      mqttUrl: `mqtt://127.0.0.1:${started.mqttPort}`,
      wsUrl: httpUrl.replace(/^http/, 'ws'),
      token: started.token,
      devices,
      qos: 1,
      subscribe: false,
      extraSubscribers: 0,
    });
    await sleep(500);

    const windows: Window[] = [];
    let acceptedBefore = 0;
    for (let pair = 0; pair < (opts['drain-only'] ? 0 : PAIRS); pair++) {
      for (const kind of ['without', 'with'] as const) {
        await setEnabled(kind === 'with');
        const rowsBefore = await count(srv, `SELECT count(*) AS n FROM "Outbox"`);
        const changesBefore = await count(srv, `SELECT count(*) AS n FROM "TwinChange"`);
        const result = await gen.call<LoadResult>(
          'run',
          { warmupMs: WARMUP_MS, measureMs: MEASURE_MS, drainMs: 15_000, maxOutstanding: 200_000 },
          MEASURE_MS + WARMUP_MS + 60_000,
        );
        // The load process counts accepted replies in every window it has run: this window's are the difference.
        const accepted = result.acceptedInWindow - acceptedBefore;
        acceptedBefore = result.acceptedInWindow;
        windows.push({
          kind,
          updatesPerSecond: accepted / result.windowSeconds,
          rowsWritten: (await count(srv, `SELECT count(*) AS n FROM "Outbox"`)) - rowsBefore,
          changeRows: (await count(srv, `SELECT count(*) AS n FROM "TwinChange"`)) - changesBefore,
        });
        const w = windows.at(-1)!;
        console.log(`${mode} ${kind.padEnd(7)} endpoint: ${fmt(w.updatesPerSecond)} updates/s, ${w.changeRows} change rows, ${w.rowsWritten} outbox rows`);
      }
    }
    await setEnabled(true);
    const delivery = await measureDelivery(srv, mode, endpoint!.id, receiver);
    console.log(
      `${mode} drain: ${fmt(delivery.delivered / delivery.seconds)} events/s (${delivery.delivered} in ${delivery.seconds.toFixed(1)} s), ${delivery.requests} requests over ${delivery.connections} connections, server ${delivery.serverCpuMsPerEvent.toFixed(3)} CPU-ms/event, ELU ${delivery.serverElu.toFixed(2)}`,
    );
    return { mode, windows, delivery };
  } finally {
    for (const cleanup of cleanups) await cleanup().catch((err: unknown) => console.error('cleanup failed:', err));
  }
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

function summarize(r: ModeResult): string[] {
  const without = mean(r.windows.filter((w) => w.kind === 'without').map((w) => w.updatesPerSecond));
  const withEndpoint = mean(r.windows.filter((w) => w.kind === 'with').map((w) => w.updatesPerSecond));
  const rows = r.windows.filter((w) => w.kind === 'with').reduce((a, w) => a + w.rowsWritten, 0);
  const stray = r.windows.filter((w) => w.kind === 'without').reduce((a, w) => a + w.rowsWritten, 0);
  const ratio = withEndpoint / without;
  return [
    r.mode,
    fmt(without),
    fmt(withEndpoint),
    `${ratio.toFixed(2)} ${ratio >= TARGET_RATIO ? '(≥ 0.8 ✓)' : '(< 0.8 ✗)'}`,
    String(rows),
    String(stray),
    r.delivery
      ? `${fmt(r.delivery.delivered / r.delivery.seconds)} (${r.delivery.delivered} in ${r.delivery.seconds.toFixed(1)} s, ${r.delivery.requests} requests, ${r.delivery.connections} connections)`
      : 'not measured',
    r.delivery ? r.delivery.serverCpuMsPerEvent.toFixed(3) : '–',
  ];
}

type TelemetryVariant = 'tuned (no CTE)' | 'CTE, no endpoint' | 'CTE, 1 endpoint (10 devices)' | 'CTE, 1 endpoint (all devices)';
const TELEMETRY_VARIANTS: TelemetryVariant[] = ['tuned (no CTE)', 'CTE, no endpoint', 'CTE, 1 endpoint (10 devices)', 'CTE, 1 endpoint (all devices)'];

/**
 * Points per second through the telemetry batch statement, per variant, interleaved in rounds so drift
 * (JIT, cache, the other tenants of the machine) spreads over all of them. Every batch has new points
 * (1,000 devices × 1 point at a fresh timestamp), the ingest's common case.
 */
async function measureTelemetry(mode: ModeName): Promise<Map<TelemetryVariant, number>> {
  const scratch = mode === 'postgres' ? await createScratchDatabase(DATABASE_URL!, 'whtelemetry') : undefined;
  const db = await openDatabase(loadConfig({ DATABASE_URL: scratch?.url ?? 'memory://' }).database);
  try {
    await applyMigrations(db, { migrationsDir: MIGRATIONS_DIR });
    const ids = Array.from({ length: DEVICES }, (_, i) => `tel-${String(i).padStart(4, '0')}`);
    const rows = await db.sql.query<{ id: string; deviceId: string }>(
      `INSERT INTO "Device" (id, "deviceId", "secretHash", "updatedAt") SELECT gen_random_uuid(), d, 'x', now() FROM unnest($1::text[]) AS d RETURNING id, "deviceId"`,
      [ids],
    );
    const uuid = new Map(rows.map((r) => [r.deviceId, r.id]));
    const endpoints = await db.sql.query<{ id: string }>(
      `INSERT INTO "WebhookEndpoint" (id, "tenantId", url, "eventTypes", "filterDeviceIds", enabled)
       VALUES (gen_random_uuid(), 'default', 'https://receiver.invalid/a', ARRAY['telemetry.stored'], $1::text[], false),
              (gen_random_uuid(), 'default', 'https://receiver.invalid/b', ARRAY['telemetry.stored'], '{}', false) RETURNING id`,
      [ids.slice(0, 10)],
    );
    const setEnabled = (filtered: boolean, all: boolean) =>
      db.sql.query(`UPDATE "WebhookEndpoint" SET enabled = (id = $1 AND $2) OR (id = $3 AND $4)`, [endpoints[0]!.id, filtered, endpoints[1]!.id, all]);
    const plain = createTelemetryWriter(db.sql);
    const joined = createTelemetryWriter(db.sql, { eventsWanted: () => Promise.resolve(true) });
    const batches = num('telemetry-batches', opts['telemetry-batches'], 1, 10_000);
    let ts = Date.parse('2026-01-01T00:00:00Z');
    const seconds = new Map<TelemetryVariant, number>(TELEMETRY_VARIANTS.map((v) => [v, 0]));
    const points = new Map<TelemetryVariant, number>(TELEMETRY_VARIANTS.map((v) => [v, 0]));
    const rounds = 4;
    for (let round = 0; round <= rounds; round++) {
      for (const variant of TELEMETRY_VARIANTS) {
        await setEnabled(variant === 'CTE, 1 endpoint (10 devices)', variant === 'CTE, 1 endpoint (all devices)');
        const writer = variant === 'tuned (no CTE)' ? plain : joined;
        const started = performance.now();
        for (let b = 0; b < batches; b++) {
          ts += 1000;
          const batch: DevicePoint[] = ids.map((device, i) => ({ device, metric: 'temp', ts, value: 20 + (i % 10), isBool: false }));
          await writer.write(batch, (id) => uuid.get(id)!);
        }
        // Round 0 warms up (JIT, caches, first rollup rows) and is not counted.
        if (round > 0) {
          seconds.set(variant, seconds.get(variant)! + (performance.now() - started) / 1000);
          points.set(variant, points.get(variant)! + batches * ids.length);
        }
      }
    }
    const outbox = await db.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM "Outbox"`);
    console.log(`${mode} telemetry: ${outbox[0]!.n} outbox rows written by the variants with an endpoint`);
    return new Map(TELEMETRY_VARIANTS.map((v) => [v, points.get(v)! / seconds.get(v)!]));
  } finally {
    await db.close();
    await scratch?.drop();
  }
}

function telemetryTable(results: Array<[ModeName, Map<TelemetryVariant, number>]>): { header: string[]; rows: string[][] } {
  const header = ['mode', ...TELEMETRY_VARIANTS.map((v) => `${v} points/s`)];
  const rows = results.map(([mode, rates]) => {
    const tuned = rates.get('tuned (no CTE)')!;
    return [mode, ...TELEMETRY_VARIANTS.map((v) => (v === 'tuned (no CTE)' ? fmt(tuned) : `${fmt(rates.get(v))} (${(rates.get(v)! / tuned).toFixed(2)}×)`))];
  });
  return { header, rows };
}

/**
 * EXPLAIN ANALYZE of the claim statement (src/services/outbox/claim.ts CLAIM_SQL) over DRAIN_EVENTS
 * PENDING rows spread over DEVICES streams of one endpoint, as the drain measurement seeds them. Each run
 * is rolled back, so every one sees the same backlog; the plan of the last of 5 is printed (the first
 * ones warm the caches), with the execution times of all.
 */
async function explainClaim(mode: ModeName): Promise<void> {
  const scratch = mode === 'postgres' ? await createScratchDatabase(DATABASE_URL!, 'whexplain') : undefined;
  const db = await openDatabase(loadConfig({ DATABASE_URL: scratch?.url ?? 'memory://' }).database);
  try {
    await applyMigrations(db, { migrationsDir: MIGRATIONS_DIR });
    const [endpoint] = await db.sql.query<{ id: string }>(
      `INSERT INTO "WebhookEndpoint" (id, "tenantId", url, "eventTypes", "maxInFlight")
       VALUES (gen_random_uuid(), 'default', 'https://receiver.invalid/', ARRAY['twin.changed'], 64) RETURNING id`,
    );
    await db.sql.query(
      `INSERT INTO "Outbox" (id, "eventId", "tenantId", kind, "endpointId", "deviceKey", type, "occurredAt", data)
       SELECT gen_random_uuid(), gen_random_uuid(), 'default', 'WEBHOOK', $1::uuid, d.key, 'twin.changed', now(), jsonb_build_object('n', g)
         FROM generate_series(1, $2::int) AS g
         JOIN (SELECT gen_random_uuid() AS key, k FROM generate_series(0, $3::int - 1) AS k) d ON d.k = g % $3::int
        ORDER BY g`,
      [endpoint!.id, DRAIN_EVENTS, DEVICES],
    );
    await db.sql.query(`ANALYZE "Outbox"`);
    const rollback = new Error('rollback');
    // The default window settles this backlog on the walk in seq order; a window of 0 forces the loose
    // index scan (the path of a backlog whose oldest rows are blocked), on the same rows.
    for (const [label, window] of [
      ['walk in seq order', CLAIM_WINDOW],
      ['loose index scan (window 0)', 0],
    ] as const) {
      const times: string[] = [];
      let plan = '';
      for (let run = 0; run < 5; run++) {
        await db
          .withSession((session) =>
            session.transaction(async (tx) => {
              const rows = await tx.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${CLAIM_SQL}`, [[endpoint!.id], [64], -1, 200, 60_000, window]);
              plan = rows.map((r) => r['QUERY PLAN']).join('\n');
              times.push(/Execution Time: ([\d.]+)/.exec(plan)?.[1] ?? '?');
              throw rollback;
            }),
          )
          .catch((error: unknown) => {
            if (error !== rollback) throw error;
          });
      }
      console.log(`\n${mode}, ${label}: claim over ${DRAIN_EVENTS} PENDING rows, ${DEVICES} streams; execution times ${times.join(', ')} ms\n${plan}\n`);
    }
  } finally {
    await db.close();
    await scratch?.drop();
  }
}

async function main(): Promise<void> {
  const results: ModeResult[] = [];
  const telemetry: Array<[ModeName, Map<TelemetryVariant, number>]> = [];
  for (const mode of modes) {
    if (opts.explain) await explainClaim(mode);
    if (opts.telemetry) telemetry.push([mode, await measureTelemetry(mode)]);
    if (!opts['no-twin']) results.push(await runMode(mode));
  }
  if (telemetry.length > 0) {
    const t = telemetryTable(telemetry);
    console.log(`\ntelemetry batch statement, ${DEVICES} points per batch (one per device)\n`);
    console.log(table(t.header, t.rows));
    if (opts.record) {
      fs.appendFileSync(
        path.join(BENCH_DIR, 'RESULTS.md'),
        `\n### bench:webhooks --telemetry — ${new Date().toISOString()} — commit ${commitId(ROOT)}\n\nThe telemetry batch statement alone, ${DEVICES} points per batch (one new point per device), rounds interleaved; ratio to the tuned statement in parentheses.\n\n${markdownTable(t.header, t.rows)}\n`,
      );
    }
  }
  if (results.length === 0) return;
  const header = [
    'mode',
    'updates/s without',
    'updates/s with 1 endpoint',
    'ratio',
    'outbox rows (with)',
    'outbox rows (without)',
    'delivered/s',
    'server CPU-ms / delivered event',
  ];
  const rows = results.map(summarize);
  console.log(`\n${DEVICES} devices, QoS 1, closed loop, ${PAIRS} pair(s) of ${MEASURE_MS / 1000} s windows, commit ${commitId(ROOT)}\n`);
  console.log(table(header, rows));
  if (opts.record) {
    const entry = `\n### bench:webhooks — ${new Date().toISOString()} — commit ${commitId(ROOT)}\n\n${DEVICES} devices, QoS 1, closed loop, ${PAIRS} pair(s) of ${MEASURE_MS / 1000} s windows (warm-up ${WARMUP_MS / 1000} s), without any enabled endpoint and with one endpoint subscribed to twin.changed (no filter; the deliverer sends to a local receiver meanwhile). delivered/s: ${DRAIN_EVENTS} PENDING events over the devices, drained by the deliverer to the local receiver (endpoint maxInFlight 64).\n\n${markdownTable(header, rows)}\n`;
    fs.appendFileSync(path.join(BENCH_DIR, 'RESULTS.md'), entry);
    console.log('recorded in bench/RESULTS.md');
  }
}

await main();
