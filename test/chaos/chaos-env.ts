/**
 * The chaos suite's machinery (test/chaos/faults.chaos.test.ts): a private PostgreSQL cluster shared by
 * the cases, and per case a private Mosquitto, a private Redis, a real Doppel process (src/main.ts) with
 * a persistent MQTT session, and a fleet publishing QoS 1 telemetry through the fault. `runCase` runs one
 * fault and returns the books — what was acknowledged, stored, confirmed, what /readyz and /metrics said —
 * and the test file states what each case must satisfy.
 *
 * Everything here is private to the suite, so a case may stop, kill and restart any of it.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { loadConfig } from '../../src/config.ts';
import { openDatabase } from '../../src/db/client.ts';
import { applyMigrations } from '../../src/db/migrate.ts';
import { MIGRATIONS_DIR } from '../../src/server.ts';
import { startFleet, type Fleet, type FleetDevice } from '../support/fleet.ts';
import { spawnServer, type ServerProcess } from '../support/process.ts';
import { postgresInstalled, startMosquitto, startPostgres, startRedis, type MosquittoOptions, type ServiceControl } from '../support/services.ts';

/** Devices per case; the first half use receipts. */
export const FLEET_SIZE = 20;
/** Messages per second over the whole fleet. */
export const FLEET_RATE = 200;
/** Publishing before the fault, and after it ends, before the fleet stops. */
const WARMUP_MS = 3000;
const AFTER_FAULT_MS = 3000;
/** The drain ends when nothing more is stored or confirmed for this long (or everything is). */
const DRAIN_QUIET_MS = 10_000;
const DRAIN_MAX_MS = 90_000;
/** Connections of the suite's own pool carry this name, so the terminate storm spares them. */
export const CHECKER_APPLICATION_NAME = 'doppel-chaos-checker';

const suffix = randomBytes(3).toString('hex');

/** What is missing for a chaos run, or nothing. */
export function missingPrerequisites(): string[] {
  const missing: string[] = [];
  if (!postgresInstalled()) missing.push('PostgreSQL server binaries (initdb, pg_ctl: the postgresql package)');
  if (!existsSync('/usr/sbin/mosquitto') && !onPath('mosquitto')) missing.push('mosquitto');
  if (!onPath('redis-server')) missing.push('redis-server');
  return missing;
}

function onPath(bin: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => existsSync(path.join(dir, bin)));
}

/** The private PostgreSQL every case uses, with Doppel's schema in database `doppel`. */
export interface ChaosDatabase {
  pg: ServiceControl;
  url: string;
  /** The suite's own connections (application_name = CHECKER_APPLICATION_NAME). */
  checker: pg.Pool;
  /** DOPPEL_DATA_DIR of every Doppel process: the bootstrap admin token is written there by the first. */
  dataDir: string;
  close(): Promise<void>;
}

export async function startChaosDatabase(): Promise<ChaosDatabase> {
  const service = await startPostgres();
  const admin = new pg.Client({ connectionString: service.url });
  await admin.connect();
  await admin.query('CREATE DATABASE doppel');
  await admin.end();
  const url = service.url.replace(/\/postgres$/, '/doppel');
  const db = await openDatabase(loadConfig({ DATABASE_URL: url }).database);
  await applyMigrations(db, { migrationsDir: MIGRATIONS_DIR });
  await db.close();
  const checker = new pg.Pool({ connectionString: url, max: 3, application_name: CHECKER_APPLICATION_NAME, connectionTimeoutMillis: 2000 });
  // Idle connections die with every database fault: that is the point, not an error of the suite.
  checker.on('error', () => undefined);
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'doppel-chaos-'));
  return {
    pg: service,
    url,
    checker,
    dataDir,
    async close() {
      await checker.end().catch(() => undefined);
      await service.destroy();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface ReadinessSample {
  at: number;
  /** HTTP status, or 0 when /readyz did not answer within a second. */
  status: number;
}

/** What a fault function may use and change. */
export interface CaseContext {
  readonly db: ChaosDatabase;
  readonly mosquitto: ServiceControl;
  readonly redis: ServiceControl;
  readonly fleet: Fleet;
  /** The Doppel process serving now. */
  server: ServerProcess;
  /** Starts another Doppel process with the same MQTT_CLIENT_ID (after the previous one died) and makes it current. */
  startServer(): Promise<ServerProcess>;
  /** Marks [start, end] of the dependency being unreachable, for the readiness assertions. */
  outage(start: number, end: number): void;
  /** Marks when Doppel had to be restarted (a SIGKILL case). */
  restarted: boolean;
  /** Free-form figures a fault wants reported (e.g. connections terminated). */
  notes: Record<string, number>;
}

export interface CaseResult {
  name: string;
  devices: readonly FleetDevice[];
  /** deviceId → n → rows stored. */
  stored: Map<string, Map<number, number>>;
  /** Per device: n acknowledged by the broker and not stored. */
  missing: Map<string, number[]>;
  /** Points stored more than once (impossible while the key is a constraint; checked anyway). */
  duplicates: number;
  storedRows: number;
  outages: Array<{ start: number; end: number }>;
  readiness: ReadinessSample[];
  /** Readiness during each outage: whether a 503 was seen. */
  notReadyDuringEachOutage: boolean[];
  /** The last /readyz answer after the drain. */
  finalReadiness: number;
  pidBefore: number | undefined;
  pidAfter: number | undefined;
  aliveAtEnd: boolean;
  /** How the serving process ended, when it did, and its last log lines. */
  death: string | undefined;
  restarted: boolean;
  /** ms from the end of the (last) outage to the first point stored after it; undefined when none was. */
  resumedAfterMs: number | undefined;
  /** /metrics of the serving process at the end. */
  metricsText: string;
  /** The serving process' log lines (JSON). */
  serverLines: string[];
  notes: Record<string, number>;
  durationMs: number;
}

export interface CaseOptions {
  name: string;
  /** A short key for device ids and the MQTT client id (device ids are at most 64 characters). */
  key: string;
  mosquitto?: MosquittoOptions;
  fault(ctx: CaseContext): Promise<void>;
}

/** The value of a Prometheus sample `name{labels}` (labels as written, e.g. `kind="telemetry"`), summed over matching lines. */
export function metricValue(text: string, name: string, labels?: Record<string, string>): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (labels && !Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) sum += value;
  }
  return sum;
}

export async function fetchMetrics(server: ServerProcess): Promise<string> {
  try {
    return await (await fetch(`${server.url}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
  } catch {
    return '';
  }
}

async function readyz(server: ServerProcess): Promise<number> {
  try {
    return (await fetch(`${server.url}/readyz`, { signal: AbortSignal.timeout(1000) })).status;
  } catch {
    return 0;
  }
}

/** The JSON log lines of a server process, parsed. */
export function logEntries(lines: readonly string[]): Array<{ time?: number; msg?: string; [k: string]: unknown }> {
  const entries = [];
  for (const line of lines) {
    try {
      entries.push(JSON.parse(line) as { time?: number; msg?: string });
    } catch {
      // stderr or a partial chunk
    }
  }
  return entries;
}

async function registerDevices(server: ServerProcess, token: string, ids: readonly string[]): Promise<void> {
  for (const id of ids) {
    const response = await fetch(server.graphql, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: 'mutation R($d: String!) { registerDevice(input: {deviceId: $d}) { __typename } }', variables: { d: id } }),
    });
    const body = (await response.json()) as { data?: { registerDevice?: { __typename: string } } };
    if (body.data?.registerDevice?.__typename !== 'DeviceWithCredentials') throw new Error(`registering ${id} failed: ${JSON.stringify(body)}`);
  }
}

async function storedRows(db: ChaosDatabase, ids: readonly string[]): Promise<Map<string, Map<number, number>>> {
  const { rows } = await db.checker.query<{ device: string; n: number; c: string }>(
    `SELECT d."deviceId" AS device, p.value::int AS n, count(*) AS c FROM "TelemetryPoint" p JOIN "Device" d ON d.id = p."deviceId"
      WHERE d."deviceId" = ANY($1) AND p.metric = 'n' GROUP BY 1, 2`,
    [ids],
  );
  const stored = new Map<string, Map<number, number>>(ids.map((id) => [id, new Map<number, number>()]));
  for (const r of rows) stored.get(r.device)!.set(r.n, Number(r.c));
  return stored;
}

/** Stored rows, or undefined while the database does not answer. */
async function tryStoredRows(db: ChaosDatabase, ids: readonly string[]): Promise<Map<string, Map<number, number>> | undefined> {
  try {
    return await storedRows(db, ids);
  } catch {
    return undefined;
  }
}

function missingOf(devices: readonly FleetDevice[], stored: Map<string, Map<number, number>>): Map<string, number[]> {
  const missing = new Map<string, number[]>();
  for (const d of devices) {
    const rows = stored.get(d.id)!;
    const lost = [...d.acked].filter((n) => !rows.has(n)).sort((a, b) => a - b);
    if (lost.length > 0) missing.set(d.id, lost);
  }
  return missing;
}

function countRows(stored: Map<string, Map<number, number>>): number {
  let n = 0;
  for (const rows of stored.values()) n += rows.size;
  return n;
}

export async function runCase(db: ChaosDatabase, options: CaseOptions): Promise<CaseResult> {
  const startedAt = Date.now();
  const tag = options.key;
  const mosquitto = await startMosquitto(options.mosquitto);
  const redis = await startRedis();
  const clientId = `doppel-chaos-${tag}-${suffix}`;
  const servers: ServerProcess[] = [];
  const startServer = async (): Promise<ServerProcess> => {
    const server = await spawnServer(
      {
        DATABASE_URL: db.url,
        MQTT_URL: mosquitto.url,
        MQTT_CLIENT_ID: clientId,
        MQTT_SHARED_GROUP: `chaos_${suffix}`,
        MQTT_SESSION_EXPIRY_S: '600',
        REDIS_URL: redis.url,
        DOPPEL_DATA_DIR: db.dataDir,
        PORT: '0',
        HOST: '127.0.0.1',
        LOG_LEVEL: 'info',
      },
      120_000,
    );
    servers.push(server);
    return server;
  };

  let fleet: Fleet | undefined;
  let poller: Promise<void> | undefined;
  let polling = true;
  try {
    const first = await startServer();
    const token = (await readFile(path.join(db.dataDir, 'admin-token'), 'utf8')).trim();
    const ids = Array.from({ length: FLEET_SIZE }, (_, i) => `chaos-${tag}-${i}-${suffix}`);
    await registerDevices(first, token, ids);
    fleet = await startFleet({ url: mosquitto.url, deviceIds: ids, receiptDevices: FLEET_SIZE / 2, ratePerSecond: FLEET_RATE });

    const outages: Array<{ start: number; end: number }> = [];
    const ctx: CaseContext = {
      db,
      mosquitto,
      redis,
      fleet,
      server: first,
      async startServer() {
        ctx.server = await startServer();
        return ctx.server;
      },
      outage(start, end) {
        outages.push({ start, end });
      },
      restarted: false,
      notes: {},
    };
    const readiness: ReadinessSample[] = [];
    poller = (async () => {
      while (polling) {
        const status = await readyz(ctx.server);
        readiness.push({ at: Date.now(), status });
        await sleep(150);
      }
    })();

    fleet.start();
    await sleep(WARMUP_MS);
    const pidBefore = first.child.pid;
    await options.fault(ctx);
    const faultEndedAt = Date.now();

    // Ingest resumes: the first point stored after the fault (any device, any n) — polled.
    const before = countRows((await waitForRows(db, ids, 30_000)) ?? new Map<string, Map<number, number>>());
    let resumedAfterMs: number | undefined;
    const resumeDeadline = Date.now() + 30_000;
    while (Date.now() < resumeDeadline && !describeDeath(ctx.server)) {
      const now = await tryStoredRows(db, ids);
      if (now && countRows(now) > before) {
        resumedAfterMs = Date.now() - (outages.at(-1)?.end ?? faultEndedAt);
        break;
      }
      await sleep(100);
    }
    const publishUntil = faultEndedAt + AFTER_FAULT_MS;
    if (Date.now() < publishUntil) await sleep(publishUntil - Date.now());
    fleet.stopPublishing();

    // Drain: until every acknowledged message is stored and every receipt user is confirmed, or until
    // nothing moved for DRAIN_QUIET_MS (the assertions then say what is missing).
    let stored = (await waitForRows(db, ids, 30_000)) ?? new Map<string, Map<number, number>>();
    let lastProgress = Date.now();
    let lastSignature = '';
    const drainDeadline = Date.now() + DRAIN_MAX_MS;
    for (;;) {
      const receiptsDone = fleet.receipts() === 0 || fleet.allConfirmed();
      if (missingOf(fleet.devices, stored).size === 0 && receiptsDone) break;
      const signature = `${countRows(stored)}/${fleet.acked()}/${fleet.devices.reduce((s, d) => s + d.confirmed, 0)}`;
      if (signature !== lastSignature) {
        lastSignature = signature;
        lastProgress = Date.now();
      } else if (Date.now() - lastProgress > DRAIN_QUIET_MS) break;
      if (Date.now() > drainDeadline) break;
      // A dead process stores nothing more: what is missing now stays missing.
      if (describeDeath(ctx.server)) break;
      await sleep(500);
      stored = (await tryStoredRows(db, ids)) ?? stored;
    }

    polling = false;
    await poller;
    const finalReadiness = await readyz(ctx.server);
    const metricsText = await fetchMetrics(ctx.server);
    let duplicates = 0;
    for (const rows of stored.values()) for (const c of rows.values()) if (c > 1) duplicates++;
    return {
      name: options.name,
      devices: fleet.devices,
      stored,
      missing: missingOf(fleet.devices, stored),
      duplicates,
      storedRows: countRows(stored),
      outages,
      readiness,
      notReadyDuringEachOutage: outages.map((o) => readiness.some((r) => r.at >= o.start && r.at <= o.end && r.status === 503)),
      finalReadiness,
      pidBefore,
      pidAfter: ctx.server.child.pid,
      aliveAtEnd: ctx.server.child.exitCode === null && ctx.server.child.signalCode === null,
      death: describeDeath(ctx.server),
      restarted: ctx.restarted,
      resumedAfterMs,
      metricsText,
      serverLines: ctx.server.lines,
      notes: ctx.notes,
      durationMs: Date.now() - startedAt,
    };
  } finally {
    polling = false;
    await poller?.catch(() => undefined);
    await fleet?.close();
    for (const server of servers) {
      if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
      await server.exited;
    }
    await mosquitto.destroy();
    await redis.destroy();
    // The database must be up for the next case whatever this one did to it.
    await db.pg.start();
  }
}

function describeDeath(server: ServerProcess): string | undefined {
  const { exitCode, signalCode } = server.child;
  if (exitCode === null && signalCode === null) return undefined;
  return `exited with ${signalCode ?? `code ${exitCode}`}; its last lines:\n${server.lines.slice(-15).join('\n')}`;
}

/** Stored rows once the database answers again (a fault may have left it restarting). */
async function waitForRows(db: ChaosDatabase, ids: readonly string[], timeoutMs: number): Promise<Map<string, Map<number, number>> | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await tryStoredRows(db, ids);
    if (rows || Date.now() > deadline) return rows;
    await sleep(200);
  }
}

/** One line per case for the summary the suite prints. */
export function summaryRow(r: CaseResult, lossBound?: number): string {
  const acked = r.devices.reduce((s, d) => s + d.acked.size, 0);
  const lost = [...r.missing.values()].reduce((s, m) => s + m.length, 0);
  const lostReceipt = r.devices.filter((d) => d.usesReceipts).reduce((s, d) => s + (r.missing.get(d.id)?.length ?? 0), 0);
  const receipts = r.devices.reduce((s, d) => s + d.receipts, 0);
  const retries = metricValue(r.metricsText, 'doppel_store_retries_total');
  const seen503 = r.readiness.filter((s) => s.status === 503).length;
  return `| ${r.name} | ${acked} | ${r.storedRows} | ${lost} (${lostReceipt} receipt) | ${lossBound ?? 0} | ${r.duplicates} | ${seen503} | ${r.finalReadiness} | ${retries} | ${receipts} | ${r.resumedAfterMs ?? '—'} | ${r.pidBefore === r.pidAfter ? 'same' : 'restarted'} | ${(r.durationMs / 1000).toFixed(0)} s |`;
}

export const SUMMARY_HEADER =
  '| case | PUBACKed | stored | lost | allowed | duplicates | /readyz 503s | /readyz at end | store retries | receipts | resumed after (ms) | process | time |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|';
