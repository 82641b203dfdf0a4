/**
 * Conventions shared by the benchmarks (bench/*.ts): option parsing, the modes a run measures, scratch
 * PostgreSQL databases that are dropped whatever way the run ends, the server and load child processes
 * with their clean-ups, device registration, waiting for a quiet machine, and the commit a run measured.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { BenchDevice } from './load-child.ts';
import { spawnChild, type RpcChild, type SpawnOptions } from './rpc.ts';
import { fmt } from './stats.ts';
import { sampleMachine } from './sysstat.ts';

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A numeric command-line option in [min, max]; a bad one ends the run with exit code 2. */
export function num(name: string, raw: string | undefined, min: number, max: number): number {
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) {
    console.error(`--${name} must be a number in ${min}…${max} (got ${raw})`);
    process.exit(2);
  }
  return value;
}

/** Scratch databases not dropped yet: dropped on the way out, whatever way that is. */
const scratchDrops = new Set<() => Promise<void>>();

/** Creates a throwaway database next to `adminUrl`; returns its URL, name and a dropper. */
export async function createScratchDatabase(adminUrl: string, tag: string): Promise<{ url: string; name: string; drop: () => Promise<void> }> {
  const name = `doppel_bench_${tag}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const drop = async () => {
    scratchDrops.delete(drop);
    const c = new pg.Client({ connectionString: adminUrl });
    await c.connect();
    try {
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    } finally {
      await c.end();
    }
  };
  scratchDrops.add(drop);
  return { url: url.toString(), name, drop };
}

export async function dropScratchDatabases(): Promise<void> {
  for (const drop of [...scratchDrops]) await drop().catch((err: unknown) => console.error('dropping a scratch database failed:', err));
}

/** On SIGINT/SIGTERM, drop the scratch databases before exiting (130). Call once from main. */
export function dropScratchDatabasesOnSignal(): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`\n${signal}: dropping scratch databases…`);
      void dropScratchDatabases().finally(() => process.exit(130));
    });
  }
}

/**
 * Waits (up to `quietMs`) until other processes use less than `noisyCores`, measured over 1 s while
 * nothing of ours runs; returns the last load seen, in cores (undefined when it cannot be measured).
 */
export async function waitForQuiet(quietMs: number, noisyCores: number, announce = false): Promise<number | undefined> {
  if (quietMs === 0) return undefined;
  const deadline = Date.now() + quietMs;
  let announced = false;
  for (;;) {
    const a = sampleMachine();
    await sleep(1000);
    const b = sampleMachine();
    if (!a || !b) return undefined;
    const load = (b.busy - a.busy) / ((b.total - a.total) / os.availableParallelism());
    if (load < noisyCores || Date.now() > deadline) return load;
    if (announce && !announced) process.stdout.write(`(waiting for a quieter machine: others use ${fmt(load, 2)} cores) `);
    announced = true;
  }
}

/**
 * The node flags `npm start` gives the server (package.json), so a benchmark's server child runs the
 * way a deployment does: e.g. --max-semi-space-size, worth ≈ 8 % of the server's CPU at 11,000 msg/s.
 */
export function serverNodeFlags(root: string): string[] {
  const scripts = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  return scripts.start!.split(/\s+/).filter((word) => word.startsWith('--'));
}

/**
 * A run's clean-ups, run in array order: child processes are put first (`unshift`, so the last
 * started stops first), scratch databases last (`push`), once nothing uses them.
 */
export type Cleanups = Array<() => Promise<unknown>>;

/** The environment every bench server starts with: ephemeral ports on 127.0.0.1, quiet, no bootstrap token printed. */
export function benchServerEnv(databaseUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PORT: '0',
    HOST: '127.0.0.1',
    MQTT_PORT: '0',
    MQTT_HOST: '127.0.0.1',
    // Plain MQTT, as every earlier run measured; bench:ingest --tls turns the TLS listener on.
    MQTT_TLS: 'off',
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'silent',
    DOPPEL_BOOTSTRAP_TOKEN: 'false',
    ...extra,
  };
}

/** `BENCH_SERVER_<NAME>=value` in the bench's environment sets `<NAME>` for the server (e.g. BENCH_SERVER_TELEMETRY_BATCH_MAX_POINTS). */
export function benchServerOverrides(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(process.env)
      .filter(([k, v]) => k.startsWith('BENCH_SERVER_') && v !== undefined)
      .map(([k, v]) => [k.slice('BENCH_SERVER_'.length), v as string]),
  );
}

/**
 * Spawns bench/lib/server-child.ts with `npm start`'s node flags (plus `extraNodeFlags`) and registers
 * its stop (killed if it does not stop within `stopTimeoutMs`) first among `cleanups`.
 */
export function spawnServerChild(
  root: string,
  cleanups: Cleanups,
  options: Omit<SpawnOptions, 'nodeFlags'> & { extraNodeFlags?: string[]; stopTimeoutMs?: number } = {},
): RpcChild {
  const { extraNodeFlags = [], stopTimeoutMs = 30_000, ...spawn } = options;
  const server = spawnChild('server-child.ts', { ...spawn, nodeFlags: [...serverNodeFlags(root), ...extraNodeFlags] });
  cleanups.unshift(async () => {
    await server.call('stop', undefined, stopTimeoutMs).catch(() => server.kill());
    await server.exited;
  });
  return server;
}

/** Spawns bench/lib/load-child.ts and registers its close (killed if it does not close in 30 s) first among `cleanups`. */
export function spawnLoadChild(cleanups: Cleanups, options: SpawnOptions = {}): RpcChild {
  const load = spawnChild('load-child.ts', options);
  cleanups.unshift(async () => {
    await load.call('close', undefined, 30_000).catch(() => load.kill());
    await load.exited;
  });
  return load;
}

/**
 * Registers `<prefix>-0000`… (five digits from 10,000 devices on) through the GraphQL API, 8 requests in
 * flight; returns their MQTT credentials in index order.
 */
export async function registerBenchDevices(httpUrl: string, token: string, count: number, prefix: string): Promise<BenchDevice[]> {
  const query = `mutation Register($input: RegisterDeviceInput!) {
    registerDevice(input: $input) {
      __typename
      ... on DeviceWithCredentials { credentials { username password } }
      ... on Error { message }
    }
  }`;
  const digits = Math.max(4, String(count - 1).length);
  const out: BenchDevice[] = new Array<BenchDevice>(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let i = next++; i < count; i = next++) {
        const deviceId = `${prefix}-${String(i).padStart(digits, '0')}`;
        const post = () =>
          fetch(httpUrl, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
            body: JSON.stringify({ query, variables: { input: { deviceId, name: `bench ${deviceId}` } } }),
          });
        for (let attempt = 1; ; attempt++) {
          // A keep-alive socket the busy server closed just as it was reused fails before the request
          // is read: send once more on a fresh one (a device registered after all would answer an error).
          const response = await post().catch(async (error: unknown) => {
            if (!(error instanceof TypeError)) throw error;
            await sleep(200);
            return post();
          });
          const body = (await response.json()) as {
            data?: { registerDevice?: { __typename: string; credentials?: { username: string; password: string } } };
            errors?: unknown;
          };
          const result = body.data?.registerDevice;
          if (result?.__typename === 'DeviceWithCredentials' && result.credentials) {
            out[i] = { deviceId, ...result.credentials };
            break;
          }
          // A request refused as a whole (a pool timeout on a loaded machine) registered nothing: try again.
          // An answer about this device (a typed error) is final.
          if (result || attempt >= 5) throw new Error(`registerDevice ${deviceId} failed: ${JSON.stringify(body).slice(0, 300)}`);
          await sleep(500 * attempt);
        }
      }
    }),
  );
  return out;
}

export type BenchModeName = 'pglite' | 'postgres' | 'postgres+ext-mqtt';

/** What a bench runs against: the database and, for `postgres+ext-mqtt`, the external broker. */
export interface BenchMode {
  name: BenchModeName;
  db: 'pglite' | 'postgres';
  mqttUrl: string | undefined;
}

const BENCH_MODE_NAMES: readonly BenchModeName[] = ['pglite', 'postgres', 'postgres+ext-mqtt'];

/**
 * The modes a run measures: those named by `--mode` (repeatable), else every one of `supported` that the
 * environment allows — `postgres` needs BENCH_DATABASE_URL, `postgres+ext-mqtt` also BENCH_MQTT_URL. A mode
 * that is unknown to this bench or lacks its URL ends the run with exit code 2 (as a bad `num` option does).
 */
export function benchModes(requested: string[] | undefined, supported: readonly BenchModeName[] = BENCH_MODE_NAMES): BenchMode[] {
  const databaseUrl = process.env.BENCH_DATABASE_URL || undefined;
  const mqttUrl = process.env.BENCH_MQTT_URL || undefined;
  const usage = (message: string): never => {
    console.error(message);
    process.exit(2);
  };
  const names = requested ?? supported.filter((name) => name === 'pglite' || (databaseUrl && (name === 'postgres' || mqttUrl)));
  return [...new Set(names)].map((name): BenchMode => {
    if (!(supported as readonly string[]).includes(name)) usage(`unknown --mode ${name} (${supported.join(' | ')})`);
    if (name === 'pglite') return { name, db: 'pglite', mqttUrl: undefined };
    if (!databaseUrl) usage(`--mode ${name} needs BENCH_DATABASE_URL=postgres://…`);
    if (name === 'postgres+ext-mqtt' && !mqttUrl) usage('--mode postgres+ext-mqtt needs BENCH_MQTT_URL=mqtt://…');
    return { name: name as BenchModeName, db: 'postgres', mqttUrl: name === 'postgres+ext-mqtt' ? mqttUrl : undefined };
  });
}

/** `--rates` (comma-separated messages/s) as given, else the bench's defaults for the mode's database. */
export function benchRates(raw: string | undefined, mode: BenchMode, defaults: Record<BenchMode['db'], string>): number[] {
  return (raw ?? defaults[mode.db]).split(',').map((r) => num('rates', r.trim(), 1, 1_000_000));
}

let startCommit: string | undefined;

/** The commit checked out when the run started (others may commit while it runs), read without git. */
export function commitId(root: string): string {
  startCommit ??= readCommit(root);
  return startCommit;
}

function readCommit(root: string): string {
  try {
    let gitDir = path.join(root, '.git');
    // A worktree's .git is a file naming its own git dir, whose refs live in the common dir.
    if (fs.statSync(gitDir).isFile())
      gitDir = path.resolve(
        root,
        fs
          .readFileSync(gitDir, 'utf8')
          .trim()
          .replace(/^gitdir: /, ''),
      );
    const commonFile = path.join(gitDir, 'commondir');
    const commonDir = fs.existsSync(commonFile) ? path.resolve(gitDir, fs.readFileSync(commonFile, 'utf8').trim()) : gitDir;
    const head = fs.readFileSync(path.join(gitDir, 'HEAD'), 'utf8').trim();
    if (!head.startsWith('ref: ')) return head.slice(0, 7);
    const ref = head.slice(5);
    const loose = [path.join(gitDir, ref), path.join(commonDir, ref)].find((f) => fs.existsSync(f));
    if (loose) return fs.readFileSync(loose, 'utf8').trim().slice(0, 7);
    const line = fs
      .readFileSync(path.join(commonDir, 'packed-refs'), 'utf8')
      .split('\n')
      .find((l) => l.endsWith(` ${ref}`));
    return line ? line.slice(0, 7) : 'unknown';
  } catch {
    return 'unknown';
  }
}
