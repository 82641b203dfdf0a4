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
 *
 * Delivery throughput (events delivered per second to a local receiver) is the other half of issue 13's
 * benchmark and needs the deliverer: {@link measureDelivery} is where it plugs in (see its comment).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { BenchDevice, LoadResult } from './lib/load-child.ts';
import { spawnChild, type RpcChild } from './lib/rpc.ts';
import type { ServerStarted } from './lib/server-child.ts';
import { commitId, createScratchDatabase, dropScratchDatabasesOnSignal, num, serverNodeFlags, sleep } from './lib/common.ts';
import { fmt, markdownTable, table } from './lib/stats.ts';

const BENCH_DIR = import.meta.dirname;
const ROOT = path.resolve(BENCH_DIR, '..');

const HELP = `usage: npm run bench:webhooks -- [options]

  --mode <m>        pglite | postgres (repeatable). Default: pglite, plus postgres when BENCH_DATABASE_URL is set.
  --devices <n>     simulated devices (default 1000)
  --warmup <s>      warm-up before each window (default 3)
  --seconds <s>     each measured window (default 10)
  --pairs <n>       (without, with) window pairs per mode, alternating (default 1)
  --record          append a dated entry to bench/RESULTS.md

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

type ModeName = 'pglite' | 'postgres';
const modes = (opts.mode ?? ['pglite', ...(DATABASE_URL ? ['postgres'] : [])]) as ModeName[];
for (const m of modes) {
  if (m !== 'pglite' && m !== 'postgres') {
    console.error(`unknown --mode ${String(m)} (pglite | postgres)`);
    process.exit(2);
  }
  if (m === 'postgres' && !DATABASE_URL) {
    console.error('--mode postgres needs BENCH_DATABASE_URL=postgres://…');
    process.exit(2);
  }
}

dropScratchDatabasesOnSignal();

/** Registers devices through the API, as bench/twin.ts does (8 requests in flight). */
async function registerDevices(httpUrl: string, token: string, count: number, prefix: string): Promise<BenchDevice[]> {
  const query = `mutation Register($input: RegisterDeviceInput!) {
    registerDevice(input: $input) { __typename ... on DeviceWithCredentials { credentials { username password } } ... on Error { message } }
  }`;
  const queue = Array.from({ length: count }, (_, i) => `${prefix}-${String(i).padStart(4, '0')}`);
  const out: BenchDevice[] = [];
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let deviceId = queue.shift(); deviceId; deviceId = queue.shift()) {
        const response = await fetch(httpUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify({ query, variables: { input: { deviceId } } }),
        });
        const body = (await response.json()) as { data?: { registerDevice?: { __typename: string; credentials?: { username: string; password: string } } } };
        const result = body.data?.registerDevice;
        if (result?.__typename !== 'DeviceWithCredentials' || !result.credentials) throw new Error(`registerDevice ${deviceId} failed: ${JSON.stringify(body).slice(0, 300)}`);
        out.push({ deviceId, ...result.credentials });
      }
    }),
  );
  return out;
}

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

/** What the delivery half reports once it exists. */
export interface DeliveryResult {
  delivered: number;
  seconds: number;
}

/**
 * HOOK for the delivery-throughput half of issue 13's benchmark (the deliverer is another service):
 * given the running server (its RPC `query` reaches the database) and the endpoint the twin windows
 * filled, start a local receiver, point the endpoint at it, let the deliverer drain the PENDING rows
 * and return what was delivered per second. Until the deliverer is merged it measures nothing.
 */
async function measureDelivery(_server: RpcChild, _endpointId: string): Promise<DeliveryResult | undefined> {
  return undefined;
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
    const srv = spawnChild('server-child.ts', { nodeFlags: serverNodeFlags(ROOT) });
    cleanups.unshift(async () => {
      await srv.call('stop', undefined, 30_000).catch(() => srv.kill());
      await srv.exited;
    });
    const env: Record<string, string> = {
      PORT: '0',
      HOST: '127.0.0.1',
      MQTT_PORT: '0',
      MQTT_HOST: '127.0.0.1',
      DATABASE_URL: databaseUrl,
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'silent',
      DOPPEL_BOOTSTRAP_TOKEN: 'false',
    };
    const started = await srv.call<ServerStarted>('start', { env });
    const httpUrl = `${started.url}/graphql`;
    const devices = await registerDevices(httpUrl, started.token, DEVICES, `wh${randomBytes(3).toString('hex')}`);
    // The endpoint exists from the start, disabled: "without" windows run with no enabled endpoint.
    const [endpoint] = await srv.call<Array<{ id: string }>>('query', {
      text: `INSERT INTO "WebhookEndpoint" (id, "tenantId", url, "eventTypes", enabled, "disabledReason")
             VALUES (gen_random_uuid(), 'default', 'https://receiver.invalid/bench', ARRAY['twin.changed'], false, 'ADMIN') RETURNING id`,
    });
    const setEnabled = (enabled: boolean) =>
      srv.call('query', { text: `UPDATE "WebhookEndpoint" SET enabled = $2, "disabledReason" = $3 WHERE id = $1`, params: [endpoint!.id, enabled, enabled ? null : 'ADMIN'] });

    const gen = spawnChild('load-child.ts');
    cleanups.unshift(async () => {
      await gen.call('close', undefined, 30_000).catch(() => gen.kill());
      await gen.exited;
    });
    await gen.call('connect', { mqttUrl: `mqtt://127.0.0.1:${started.mqttPort}`, wsUrl: httpUrl.replace(/^http/, 'ws'), token: started.token, devices, qos: 1, subscribe: false, extraSubscribers: 0 });
    await sleep(500);

    const windows: Window[] = [];
    let acceptedBefore = 0;
    for (let pair = 0; pair < PAIRS; pair++) {
      for (const kind of ['without', 'with'] as const) {
        await setEnabled(kind === 'with');
        const rowsBefore = await count(srv, `SELECT count(*) AS n FROM "Outbox"`);
        const changesBefore = await count(srv, `SELECT count(*) AS n FROM "TwinChange"`);
        const result = await gen.call<LoadResult>('run', { warmupMs: WARMUP_MS, measureMs: MEASURE_MS, drainMs: 15_000, maxOutstanding: 200_000 }, MEASURE_MS + WARMUP_MS + 60_000);
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
    const delivery = await measureDelivery(srv, endpoint!.id);
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
    r.delivery ? fmt(r.delivery.delivered / r.delivery.seconds) : 'not measured (deliverer hook)',
  ];
}

async function main(): Promise<void> {
  const results: ModeResult[] = [];
  for (const mode of modes) results.push(await runMode(mode));
  const header = ['mode', 'updates/s without', 'updates/s with 1 endpoint', 'ratio', 'outbox rows (with)', 'outbox rows (without)', 'delivered/s'];
  const rows = results.map(summarize);
  console.log(`\n${DEVICES} devices, QoS 1, closed loop, ${PAIRS} pair(s) of ${MEASURE_MS / 1000} s windows, commit ${commitId(ROOT)}\n`);
  console.log(table(header, rows));
  if (opts.record) {
    const entry = `\n### bench:webhooks — ${new Date().toISOString()} — commit ${commitId(ROOT)}\n\n${DEVICES} devices, QoS 1, closed loop, ${PAIRS} pair(s) of ${MEASURE_MS / 1000} s windows (warm-up ${WARMUP_MS / 1000} s), without any enabled endpoint and with one endpoint subscribed to twin.changed (no filter).\n\n${markdownTable(header, rows)}\n`;
    fs.appendFileSync(path.join(BENCH_DIR, 'RESULTS.md'), entry);
    console.log('recorded in bench/RESULTS.md');
  }
}

await main();
