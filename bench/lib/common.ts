/**
 * Conventions shared by the benchmarks (bench/twin.ts, bench/ingest.ts, bench/webhooks.ts): option
 * parsing, scratch PostgreSQL databases that are dropped whatever way the run ends, the server and
 * load child processes with their clean-ups, waiting for a quiet machine, and the commit a run measured.
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
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'silent',
    DOPPEL_BOOTSTRAP_TOKEN: 'false',
    ...extra,
  };
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

/** Registers `<prefix>-0000`… through the GraphQL API (8 requests in flight); returns their MQTT credentials. */
export async function registerBenchDevices(httpUrl: string, token: string, count: number, prefix: string): Promise<BenchDevice[]> {
  const query = `mutation Register($input: RegisterDeviceInput!) {
    registerDevice(input: $input) {
      __typename
      ... on DeviceWithCredentials { credentials { username password } }
      ... on Error { message }
    }
  }`;
  const queue = Array.from({ length: count }, (_, i) => `${prefix}-${String(i).padStart(4, '0')}`);
  const out: BenchDevice[] = [];
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let deviceId = queue.shift(); deviceId; deviceId = queue.shift()) {
        const post = () =>
          fetch(httpUrl, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
            body: JSON.stringify({ query, variables: { input: { deviceId, name: `bench ${deviceId}` } } }),
          });
        // A keep-alive socket the busy server closed just as it was reused fails before the request
        // is read: send once more on a fresh one (a device registered after all would answer an error).
        const response = await post().catch(async (error: unknown) => {
          if (!(error instanceof TypeError)) throw error;
          await sleep(200);
          return post();
        });
        const body = (await response.json()) as { data?: { registerDevice?: { __typename: string; credentials?: { username: string; password: string } } } };
        const result = body.data?.registerDevice;
        if (result?.__typename !== 'DeviceWithCredentials' || !result.credentials)
          throw new Error(`registerDevice ${deviceId} failed: ${JSON.stringify(body).slice(0, 300)}`);
        out.push({ deviceId, ...result.credentials });
      }
    }),
  );
  return out;
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
