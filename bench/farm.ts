/**
 * `npm run bench:farm` — a farm of devices connecting at once (issue "Farm scale"; docs/benchmarks.md).
 *
 * N devices (default 10,000) in `--clients` processes of mqtt.js devices (bench/lib/farm-client-child.ts)
 * connect at once; each subscribes to its `twin/#` and `commands/#` and announces `online`, as the
 * device contract asks. Measured, in one run:
 *
 *   bare Aedes      Aedes with no authentication and no database (bench/lib/farm-aedes-child.ts)
 *   bare Mosquitto  Mosquitto with anonymous access (when installed)
 *   Doppel embedded `src/main.ts` on a data directory (PGlite + its Aedes), the devices registered
 *                   through `registerDevices`, then: admission, a steady state with every device sending
 *                   2 values every `--interval` s (server RSS and CPU), SIGKILL and a restart on the same
 *                   data directory and ports (time until every device is admitted again)
 *   Doppel PostgreSQL + Mosquitto (dynsec)   the same against a scratch database (BENCH_DATABASE_URL)
 *                   and a Mosquitto with dynamic security; after the SIGKILL the devices stay on the
 *                   broker, so recovery is the time until the new server shows every device connected
 *
 * "Admitted" = the device's `online` was acknowledged (so it passed authentication, its subscriptions
 * and its first publish). Client errors = connect errors and connections closed before admission;
 * after a kill, only those once the new server was up (while none listens, every retry is refused).
 *
 * Server CPU and RSS are the Doppel process' alone (not Mosquitto's, not PostgreSQL's). docs/benchmarks.md
 * says more.
 *
 *   npm run bench:farm -- [--devices 10000] [--clients 4] [--interval 10] [--steady 30]
 *                         [--mode embedded|postgres …] [--tls] [--no-kill] [--record] [--cpu-prof]
 *
 * `--tls` runs the embedded mode a second time with the devices on MQTT over TLS (8883-style listener,
 * the server's own generated CA, TLS 1.3 ECDSA P-256): the cost of TLS on admission and steady state.
 *
 * `--cpu-prof` profiles each Doppel server over its first admission (bench/lib/farm-profiler.mjs), writes
 * bench/profiles/farm-<mode>-….cpuprofile and prints its summary (bench/lib/profile-summary.ts): where
 * admission time goes (docs/performance.md "Farm admission").
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.ts';
import { openDatabase } from '../src/db/client.ts';
import { applyMigrations } from '../src/db/migrate.ts';
import { MIGRATIONS_DIR } from '../src/server.ts';
import { startOnDataDir, spawnServer, type ServerProcess } from '../test/support/process.ts';
import { freePort, waitForPort } from '../test/support/services.ts';
import { commitId, createScratchDatabase, dropScratchDatabasesOnSignal, num, sleep } from './lib/common.ts';
import type { FarmClientStatus, FarmDevice } from './lib/farm-client-child.ts';
import { spawnChild, type RpcChild } from './lib/rpc.ts';
import { renderSummary, summarizeProfile } from './lib/profile-summary.ts';
import { fmt, markdownTable, table } from './lib/stats.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const { values: opts } = parseArgs({
  options: {
    devices: { type: 'string', default: '10000' },
    clients: { type: 'string', default: '4' },
    interval: { type: 'string', default: '10' },
    steady: { type: 'string', default: '30' },
    keepalive: { type: 'string', default: '30' },
    'admit-timeout': { type: 'string', default: '600' },
    mode: { type: 'string', multiple: true },
    'no-kill': { type: 'boolean', default: false },
    'no-baseline': { type: 'boolean', default: false },
    record: { type: 'boolean', default: false },
    'cpu-prof': { type: 'boolean', default: false },
    tls: { type: 'boolean', default: false },
  },
});
const DEVICES = num('devices', opts.devices, 10, 50_000);
const CLIENTS = num('clients', opts.clients, 1, 16);
const INTERVAL_S = num('interval', opts.interval, 1, 600);
const STEADY_S = num('steady', opts.steady, 5, 600);
const KEEPALIVE_S = num('keepalive', opts.keepalive, 5, 600);
const ADMIT_TIMEOUT_MS = num('admit-timeout', opts['admit-timeout'], 10, 3600) * 1000;
const DATABASE_URL = process.env.BENCH_DATABASE_URL || undefined;
const MOSQUITTO = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find((bin) => fs.existsSync(bin));
const modes = (opts.mode ?? ['embedded', ...(DATABASE_URL && MOSQUITTO ? ['postgres'] : [])]) as string[];
for (const m of modes) {
  if (m !== 'embedded' && m !== 'postgres') throw new Error(`unknown --mode ${m} (embedded | postgres)`);
  if (m === 'postgres' && (!DATABASE_URL || !MOSQUITTO)) throw new Error('--mode postgres needs BENCH_DATABASE_URL=postgres://… and Mosquitto installed');
}
dropScratchDatabasesOnSignal();

/** What one admission (all devices connecting at once, or coming back after a kill) took. */
interface Admission {
  /** ms until every device was admitted; undefined if the timeout came first. */
  ms: number | undefined;
  admitted: number;
  errors: number;
  closedBeforeAdmission: number;
  errorKinds: Record<string, number>;
  /** Admissions per second, all client processes together. */
  perSecond: number[];
}

interface Steady {
  cores: number;
  rssMb: number;
  sentPerSecond: number;
}

interface Row {
  target: string;
  admission: Admission;
  steady?: Steady;
  recovery?: Admission & { serverUpMs: number };
  /** CONNECTs the server dropped because their client had already hung up, over the admission (its /metrics). */
  abandoned?: number | undefined;
}

/** A counter's value (summed over its labels) from the server's /metrics; undefined when it cannot be read. */
async function scrapeCounter(server: ServerProcess, name: string): Promise<number | undefined> {
  try {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const values = text.split('\n').filter((line) => line.startsWith(`${name} `) || line.startsWith(`${name}{`));
    return values.length === 0 ? undefined : values.reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
  } catch {
    return undefined;
  }
}

const rows: Row[] = [];
const cleanups: Array<() => Promise<unknown>> = [];

// ---------------------------------------------------------------------------------------------- clients

/**
 * Starts the client processes and, once every one is up (their start-up is not admission time), has
 * them connect all their devices at once. Resolves with the children and the moment connecting began.
 */
async function startClients(url: string, devices: FarmDevice[], ca?: string): Promise<{ children: RpcChild[]; startedAt: number }> {
  const children = Array.from({ length: Math.min(CLIENTS, devices.length) }, () => spawnChild('farm-client-child.ts'));
  cleanups.unshift(async () => {
    await Promise.all(children.map((c) => c.call('close', undefined, 60_000).catch(() => c.kill())));
  });
  await Promise.all(children.map((c) => c.call('mark')));
  const startedAt = performance.now();
  await Promise.all(
    children.map((c, i) =>
      c.call('connect', { url, devices: devices.filter((_, j) => j % children.length === i), keepaliveSeconds: KEEPALIVE_S, ...(ca ? { ca } : {}) }),
    ),
  );
  return { children, startedAt };
}

async function statusOf(children: RpcChild[]): Promise<FarmClientStatus[]> {
  return Promise.all(children.map((c) => c.call<FarmClientStatus>('status')));
}

/** Polls the clients until every device was admitted since their mark (or the timeout). */
async function awaitAdmission(children: RpcChild[], startedAt: number, label: string): Promise<Admission> {
  let last = 0;
  for (;;) {
    const statuses = await statusOf(children);
    const admitted = statuses.reduce((n, s) => n + s.admitted, 0);
    const elapsed = performance.now() - startedAt;
    if (admitted >= DEVICES || elapsed > ADMIT_TIMEOUT_MS) {
      const perSecond: number[] = [];
      const errorKinds: Record<string, number> = {};
      for (const s of statuses) {
        s.perSecond.forEach((n, i) => (perSecond[i] = (perSecond[i] ?? 0) + n));
        for (const [k, n] of Object.entries(s.errorKinds)) errorKinds[k] = (errorKinds[k] ?? 0) + n;
      }
      return {
        ms: admitted >= DEVICES ? elapsed : undefined,
        admitted,
        errors: statuses.reduce((n, s) => n + s.errors, 0),
        closedBeforeAdmission: statuses.reduce((n, s) => n + s.closedBeforeAdmission, 0),
        errorKinds,
        perSecond: Array.from(perSecond, (n) => n ?? 0),
      };
    }
    if (elapsed - last >= 10_000) {
      last = elapsed;
      console.log(`  [${label}] ${fmt(elapsed / 1000, 0)} s: ${admitted} of ${DEVICES} admitted`);
    }
    await sleep(250);
  }
}

// ---------------------------------------------------------------------------------------------- baselines

async function bareAedes(): Promise<void> {
  const child = spawnChild('farm-aedes-child.ts');
  cleanups.unshift(async () => child.call('stop', undefined, 30_000).catch(() => child.kill()));
  const { port } = await child.call<{ port: number }>('start');
  await runBaseline('bare Aedes 1.2', `mqtt://127.0.0.1:${port}`);
  await closeClients();
  await child.call('stop', undefined, 30_000).catch(() => child.kill());
  await cleanups.shift()?.();
}

async function bareMosquitto(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'doppel-farm-mosquitto-'));
  const port = await freePort();
  fs.writeFileSync(
    path.join(dir, 'mosquitto.conf'),
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'max_queued_messages 0',
      'max_inflight_messages 0',
      `user ${os.userInfo().username}`,
      '',
    ].join('\n'),
  );
  const broker = spawn(MOSQUITTO!, ['-c', path.join(dir, 'mosquitto.conf')], { stdio: 'ignore' });
  try {
    await waitForPort(port);
    await runBaseline('bare Mosquitto', `mqtt://127.0.0.1:${port}`);
    await closeClients();
  } finally {
    broker.kill('SIGTERM');
  }
}

let activeClients: RpcChild[] = [];

async function closeClients(): Promise<void> {
  await Promise.all(activeClients.map((c) => c.call('close', undefined, 60_000).catch(() => c.kill())));
  await Promise.all(activeClients.map((c) => c.exited));
  cleanups.shift();
  activeClients = [];
}

async function runBaseline(target: string, url: string): Promise<void> {
  console.log(`[${target}] ${DEVICES} devices connecting at once…`);
  const devices = farmIds().map((deviceId) => ({ deviceId, username: deviceId }));
  const { children, startedAt } = await startClients(url, devices);
  activeClients = children;
  const admission = await awaitAdmission(activeClients, startedAt, target);
  report(target, admission);
  rows.push({ target, admission });
}

const farmIds = () => Array.from({ length: DEVICES }, (_, i) => `farm-${String(i).padStart(5, '0')}`);

// ---------------------------------------------------------------------------------------------- Doppel

/** Registers the farm through `registerDevices` (2,000 per call); their MQTT credentials. */
async function register(server: ServerProcess, token: string): Promise<FarmDevice[]> {
  const ids = farmIds();
  const out: FarmDevice[] = [];
  for (let i = 0; i < ids.length; i += 2000) {
    const inputs = ids.slice(i, i + 2000).map((deviceId) => ({ deviceId, tags: ['farm'] }));
    const response = await fetch(server.graphql, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({
        query: `mutation R($inputs: [RegisterDeviceInput!]!) { registerDevices(inputs: $inputs) { __typename ... on RegisterDevicesPayload { failed results { deviceId username password } } ... on Error { message } } }`,
        variables: { inputs },
      }),
    });
    const body = (await response.json()) as {
      data?: { registerDevices?: { failed?: number; results?: Array<{ deviceId: string; username: string; password: string }>; message?: string } };
      errors?: unknown;
    };
    const payload = body.data?.registerDevices;
    if (!payload?.results || payload.failed) throw new Error(`registerDevices failed: ${JSON.stringify(body).slice(0, 400)}`);
    out.push(...payload.results.map((r) => ({ deviceId: r.deviceId, username: r.username, password: r.password })));
  }
  return out;
}

/** CPU-seconds (user + system) and RSS of a process, from /proc. */
function procSample(pid: number): { cpu: number; rssMb: number } {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpu = (Number(fields[11]) + Number(fields[12])) / 100;
  const rss = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { cpu, rssMb: rss ? Number(rss[1]) / 1024 : NaN };
}

/** Connected devices as the server sees them (the devices query's totalCount). */
async function connectedCount(server: ServerProcess, token: string): Promise<number> {
  try {
    const response = await fetch(server.graphql, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: '{ devices(first: 1, filter: { connected: true, tag: "farm" }) { totalCount } }' }),
    });
    const body = (await response.json()) as { data?: { devices?: { totalCount: number } } };
    return body.data?.devices?.totalCount ?? -1;
  } catch {
    return -1;
  }
}

async function steadyState(server: ServerProcess, label: string): Promise<Steady> {
  console.log(`  [${label}] steady state: 2 values every ${INTERVAL_S} s per device; warm-up ${INTERVAL_S} s, window ${STEADY_S} s…`);
  await Promise.all(activeClients.map((c) => c.call('startTelemetry', { intervalMs: INTERVAL_S * 1000 })));
  await sleep(INTERVAL_S * 1000);
  const pid = server.child.pid!;
  const before = procSample(pid);
  const sentBefore = (await statusOf(activeClients)).reduce((n, s) => n + s.telemetryAcked, 0);
  const t0 = performance.now();
  await sleep(STEADY_S * 1000);
  const after = procSample(pid);
  const sentAfter = (await statusOf(activeClients)).reduce((n, s) => n + s.telemetryAcked, 0);
  const seconds = (performance.now() - t0) / 1000;
  await Promise.all(activeClients.map((c) => c.call('stopTelemetry')));
  return { cores: (after.cpu - before.cpu) / seconds, rssMb: after.rssMb, sentPerSecond: (sentAfter - sentBefore) / seconds };
}

async function doppel(mode: 'embedded' | 'postgres', overTls = false): Promise<void> {
  const target = mode === 'embedded' ? (overTls ? 'Doppel embedded, devices over TLS' : 'Doppel embedded') : 'Doppel PostgreSQL + Mosquitto (dynsec)';
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'doppel-farm-'));
  const port = await freePort();
  let env: Record<string, string> = { PORT: String(port), LOG_LEVEL: 'info', GRAPHQL_RATE_LIMIT_PER_S: '0' };
  const profileName = `farm-${mode}-${new Date().toISOString().replace(/[:.]/g, '-')}.cpuprofile`;
  const profileDir = path.join(ROOT, 'bench', 'profiles');
  const profile = path.join(profileDir, profileName);
  if (opts['cpu-prof']) {
    // The server's alone (NODE_OPTIONS reaches only the process it is set for); SIGUSR2 starts and stops it.
    env.NODE_OPTIONS = [process.env.NODE_OPTIONS ?? '', `--import=${path.join(ROOT, 'bench/lib/farm-profiler.mjs')}`].join(' ').trim();
    env.FARM_CPU_PROFILE = profile;
    fs.mkdirSync(profileDir, { recursive: true });
  }
  let brokerUrl: string;
  let broker: ChildProcess | undefined;
  // With TLS the devices trust the server's own CA, created in the data directory at its first start.
  let caPem: (() => string) | undefined;
  if (mode === 'embedded') {
    const mqttPort = await freePort();
    env = { ...env, MQTT_PORT: String(mqttPort), MQTT_TLS: 'off' };
    brokerUrl = `mqtt://127.0.0.1:${mqttPort}`;
    if (overTls) {
      const tlsPort = await freePort();
      env = { ...env, MQTT_TLS: 'on', MQTT_TLS_PORT: String(tlsPort), MQTT_TLS_HOST: '127.0.0.1' };
      brokerUrl = `mqtts://127.0.0.1:${tlsPort}`;
      caPem = () => fs.readFileSync(path.join(dataDir, 'tls', 'ca.pem'), 'utf8');
    }
  } else {
    const scratch = await createScratchDatabase(DATABASE_URL!, 'farm');
    cleanups.push(scratch.drop);
    // As `npm run db:migrate` would before a production start.
    const db = await openDatabase(loadConfig({ DATABASE_URL: scratch.url }).database);
    await applyMigrations(db, { migrationsDir: MIGRATIONS_DIR });
    await db.close();
    const mqttPort = await freePort();
    const adminPassword = randomBytes(12).toString('hex');
    broker = spawn('bash', [path.join(ROOT, 'scripts/dynsec-mosquitto.sh'), String(mqttPort), path.join(dataDir, 'mosquitto'), 'farm-admin', adminPassword], {
      stdio: 'ignore',
    });
    const brokerProcess = broker;
    cleanups.unshift(async () => brokerProcess.kill('SIGTERM'));
    await waitForPort(mqttPort);
    brokerUrl = `mqtt://127.0.0.1:${mqttPort}`;
    env = {
      ...env,
      DATABASE_URL: scratch.url,
      MQTT_URL: brokerUrl,
      MQTT_USERNAME: 'doppel-farm',
      MQTT_PASSWORD: randomBytes(16).toString('hex'),
      MQTT_DYNSEC: '1',
      MQTT_DYNSEC_USERNAME: 'farm-admin',
      MQTT_DYNSEC_PASSWORD: adminPassword,
      MQTT_DYNSEC_SECRET_KEY: randomBytes(32).toString('hex'),
    };
  }
  const start = () =>
    mode === 'embedded' ? startOnDataDir(dataDir, env, 300_000) : spawnServer({ DOPPEL_DATA_DIR: dataDir, HOST: '127.0.0.1', ...env }, 300_000);
  let server = await start();
  cleanups.unshift(async () => {
    await stopServer(server);
  });
  const token = fs.readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim();
  console.log(`[${target}] registering ${DEVICES} devices (registerDevices, 2,000 per call)…`);
  const devices = await register(server, token);

  console.log(`[${target}] ${DEVICES} devices connecting at once…`);
  if (opts['cpu-prof']) server.child.kill('SIGUSR2');
  const { children, startedAt } = await startClients(brokerUrl, devices, caPem?.());
  activeClients = children;
  const admission = await awaitAdmission(activeClients, startedAt, target);
  if (opts['cpu-prof']) {
    server.child.kill('SIGUSR2');
    for (let i = 0; i < 100 && !fs.existsSync(profile); i++) await sleep(100);
    if (fs.existsSync(profile)) {
      console.log(
        `\n--- profile of the admission: ${target} (${path.relative(ROOT, profile)}) ---\n${renderSummary(summarizeProfile(JSON.parse(fs.readFileSync(profile, 'utf8')) as Parameters<typeof summarizeProfile>[0]))}\n`,
      );
    }
  }
  report(target, admission);
  // Servers before the counter existed have none: shown as –.
  const row: Row = { target, admission, abandoned: await scrapeCounter(server, 'doppel_mqtt_connects_abandoned_total') };
  if (row.abandoned !== undefined) console.log(`  [${target}] CONNECTs dropped by the server because their client had hung up: ${row.abandoned}`);
  rows.push(row);
  if (admission.ms === undefined) {
    console.log(`  [${target}] not every device was admitted in time: no steady state or kill phase`);
    await closeClients();
    return;
  }
  row.steady = await steadyState(server, target);
  console.log(`  [${target}] server ${fmt(row.steady.cores, 2)} cores, RSS ${fmt(row.steady.rssMb)} MB, ${fmt(row.steady.sentPerSecond)} msg/s acknowledged`);

  if (!opts['no-kill']) {
    console.log(`  [${target}] SIGKILL the server, start it again on the same data and ports…`);
    await Promise.all(activeClients.map((c) => c.call('mark')));
    const killedAt = performance.now();
    server.child.kill('SIGKILL');
    await server.exited;
    server = await start();
    const serverUpMs = performance.now() - killedAt;
    // Refused connections while no server listens are expected; what counts is what happens once it is back.
    await Promise.all(activeClients.map((c) => c.call('markErrors')));
    let recovery: Admission;
    if (mode === 'embedded') {
      recovery = await awaitAdmission(activeClients, killedAt, `${target} recovery`);
    } else {
      // The devices never left Mosquitto: recovered once the new server shows every one connected.
      for (;;) {
        const n = await connectedCount(server, token);
        const elapsed = performance.now() - killedAt;
        if (n >= DEVICES || elapsed > ADMIT_TIMEOUT_MS) {
          const statuses = await statusOf(activeClients);
          recovery = {
            ms: n >= DEVICES ? elapsed : undefined,
            admitted: n,
            errors: statuses.reduce((a, s) => a + s.errors, 0),
            closedBeforeAdmission: statuses.reduce((a, s) => a + s.closedBeforeAdmission, 0),
            errorKinds: {},
            perSecond: [],
          };
          break;
        }
        await sleep(250);
      }
    }
    row.recovery = { ...recovery, serverUpMs };
    console.log(
      `  [${target}] server up again after ${fmt(serverUpMs / 1000, 1)} s; all back after ${recovery.ms === undefined ? 'timeout' : `${fmt(recovery.ms / 1000, 1)} s`}, client errors ${recovery.errors}`,
    );
  }
  await closeClients();
  await stopServer(server);
  cleanups.shift();
  broker?.kill('SIGTERM');
}

/** SIGTERM, and SIGKILL if it has not exited 30 s later (a loaded machine): no server outlives the bench. */
async function stopServer(server: ServerProcess): Promise<void> {
  server.child.kill('SIGTERM');
  const exited = await Promise.race([server.exited.then(() => true), sleep(30_000).then(() => false)]);
  if (!exited) {
    server.child.kill('SIGKILL');
    await server.exited;
  }
}

function report(target: string, a: Admission): void {
  const peak = Math.max(0, ...a.perSecond);
  console.log(
    `  [${target}] ${a.ms === undefined ? `TIMEOUT, ${a.admitted} admitted` : `all admitted in ${fmt(a.ms / 1000, 1)} s`}; client errors ${a.errors} (+ ${a.closedBeforeAdmission} closed before admission); peak ${peak} admissions/s`,
  );
  for (const [kind, n] of Object.entries(a.errorKinds).slice(0, 5)) console.log(`      ${n} × ${kind}`);
}

// ---------------------------------------------------------------------------------------------- run

async function main(): Promise<void> {
  console.log(`bench:farm — ${DEVICES} devices in ${CLIENTS} client processes, commit ${commitId(ROOT)}`);
  if (!opts['no-baseline']) {
    await bareAedes();
    if (MOSQUITTO) await bareMosquitto();
  }
  for (const mode of modes) {
    await doppel(mode as 'embedded' | 'postgres');
    if (opts.tls && mode === 'embedded') await doppel('embedded', true);
  }

  const secs = (ms: number | undefined) => (ms === undefined ? 'timeout' : fmt(ms / 1000, 1));
  const header = [
    'target',
    'all admitted (s)',
    'client errors',
    'peak admissions/s',
    'abandoned CONNECTs dropped',
    'server CPU (cores)',
    'server RSS (MB)',
    'msg/s',
    'SIGKILL → server up (s)',
    'SIGKILL → all back (s)',
    'client errors once the server was back',
  ];
  const body = rows.map((r) => [
    r.target,
    secs(r.admission.ms),
    String(r.admission.errors + r.admission.closedBeforeAdmission),
    String(Math.max(0, ...r.admission.perSecond)),
    r.abandoned === undefined ? '–' : String(r.abandoned),
    r.steady ? fmt(r.steady.cores, 2) : '–',
    r.steady ? fmt(r.steady.rssMb) : '–',
    r.steady ? fmt(r.steady.sentPerSecond) : '–',
    r.recovery ? fmt(r.recovery.serverUpMs / 1000, 1) : '–',
    r.recovery ? secs(r.recovery.ms) : '–',
    r.recovery ? String(r.recovery.errors + r.recovery.closedBeforeAdmission) : '–',
  ]);
  console.log(`\n${table(header, body)}`);
  const aedes = rows.find((r) => r.target.startsWith('bare Aedes'))?.admission.ms;
  const mosquitto = rows.find((r) => r.target === 'bare Mosquitto')?.admission.ms;
  const ratios: string[] = [];
  for (const r of rows.filter((x) => x.target.startsWith('Doppel'))) {
    if (r.admission.ms === undefined) continue;
    if (aedes) ratios.push(`${r.target} admission ÷ bare Aedes: ${fmt(r.admission.ms / aedes, 2)}`);
    if (mosquitto) ratios.push(`${r.target} admission ÷ bare Mosquitto: ${fmt(r.admission.ms / mosquitto, 2)}`);
    if (r.recovery?.ms !== undefined && mosquitto) ratios.push(`${r.target} recovery ÷ bare Mosquitto admission: ${fmt(r.recovery.ms / mosquitto, 2)}`);
  }
  for (const line of ratios) console.log(line);

  if (opts.record) {
    const load = os.loadavg()[0]!;
    const section = [
      `## bench:farm — ${new Date().toISOString()} (commit ${commitId(ROOT)})`,
      '',
      `\`npm run bench:farm -- --devices ${DEVICES} --clients ${CLIENTS} --interval ${INTERVAL_S} --steady ${STEADY_S}\`: every device connects at once, subscribes to its twin/# and commands/# and announces online; admitted = online acknowledged. Load average at the end: ${fmt(load, 1)}.`,
      '',
      markdownTable(header, body),
      '',
      ...ratios.map((line) => `- ${line}`),
      '',
    ].join('\n');
    fs.appendFileSync(path.join(ROOT, 'bench/RESULTS.md'), `\n${section}`);
    console.log('recorded in bench/RESULTS.md');
  }
}

try {
  await main();
} finally {
  for (const cleanup of cleanups.splice(0)) await cleanup().catch(() => undefined);
}
process.exit(0);
