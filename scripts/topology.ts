/**
 * The production topology as a real run (`npm run topology`, docs/operations.md "Production topology"):
 * `npm run build`, then a fresh PostgreSQL database in the cluster DOPPEL_TOPOLOGY_DATABASE_URL names,
 * a Mosquitto with dynamic security (scripts/dynsec-mosquitto.sh) and a Redis on private ports, and TWO
 * `npm run start:prod` server processes sharing them. A fleet of mqtt.js devices sends QoS 1 telemetry
 * (with `seq`) and reported state; graphql-ws subscribers on BOTH instances watch twinChanged. Mid-stream
 * one instance is SIGKILLed (its whole process group); the other must keep serving subscribers; the
 * killed one is restarted and must rejoin. At the end every telemetry point a device got a PUBACK for
 * must be stored, read through the instance that was never killed. Prints a summary; exits 1 on any
 * loss or failed check, 2 when it could not set up.
 *
 * Env: DOPPEL_TOPOLOGY_DATABASE_URL (default postgres://postgres:postgres@127.0.0.1:5432/postgres),
 * TOPOLOGY_MQTT_PORT, TOPOLOGY_REDIS_PORT, TOPOLOGY_HTTP_PORT (two ports from it; defaults: free ports),
 * TOPOLOGY_DEVICES (50), TOPOLOGY_RATE (telemetry messages per device per second, 4), TOPOLOGY_SKIP_BUILD=1.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient, type Client as WsClient } from 'graphql-ws';
import mqtt, { type MqttClient } from 'mqtt';
import pg from 'pg';
import WebSocket from 'ws';
import { createApiToken } from '../src/auth/tokens.ts';
import { loadConfig } from '../src/config.ts';
import { openDatabase } from '../src/db/client.ts';
import { applyMigrations } from '../src/db/migrate.ts';

const root = path.resolve(import.meta.dirname, '..');
const env = process.env;
const adminUrl = env.DOPPEL_TOPOLOGY_DATABASE_URL || 'postgres://postgres:postgres@127.0.0.1:5432/postgres';
const DEVICES = Number(env.TOPOLOGY_DEVICES || 50);
const RATE = Number(env.TOPOLOGY_RATE || 4);
const suffix = randomBytes(4).toString('hex');
const log = (message: string) => console.log(`[topology ${new Date().toISOString().slice(11, 19)}] ${message}`);

/** A port nothing listens on now (the OS picks it). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.end();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`${what} is not listening on ${port} after ${timeoutMs} ms`);
    await sleep(200);
  }
}

/** Every child this run started: stopped at the end whatever happens. */
const children: ChildProcess[] = [];
function start(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; group?: boolean; log?: string[] } = {}): ChildProcess {
  const child = spawn(command, args, { cwd: root, env: { ...env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: options.group ?? false });
  const lines = options.log;
  if (lines) {
    child.stdout!.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter(Boolean)));
    child.stderr!.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter(Boolean)));
  } else {
    child.stdout!.resume();
    child.stderr!.resume();
  }
  children.push(child);
  return child;
}

/** A Doppel instance: `npm run start:prod` in its own process group, so SIGKILL reaches node too. */
interface Instance {
  name: string;
  port: number;
  child: ChildProcess;
  lines: string[];
  exited: Promise<number | null>;
}

async function startInstance(name: string, port: number, serverEnv: NodeJS.ProcessEnv): Promise<Instance> {
  const lines: string[] = [];
  const child = start('npm', ['run', '--silent', 'start:prod'], {
    env: { ...serverEnv, PORT: String(port), MQTT_CLIENT_ID: `doppel-topology-${name}-${suffix}` },
    group: true,
    log: lines,
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // Started once it answers ready: the HTTP listener is the last component to start (src/app/compose.ts).
  const deadline = Date.now() + 120_000;
  while (!(await isReady(port))) {
    if (child.exitCode !== null) throw new Error(`instance ${name} exited with ${child.exitCode}:\n${lines.slice(-30).join('\n')}`);
    if (Date.now() > deadline) throw new Error(`instance ${name} was not ready within 120 s:\n${lines.slice(-30).join('\n')}`);
    await sleep(250);
  }
  return { name, port, child, lines, exited };
}

async function isReady(port: number): Promise<boolean> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/readyz`)).ok;
  } catch {
    return false;
  }
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}

async function gql<T>(port: number, token: string, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const response = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data: T; errors?: unknown };
  if (body.errors) throw new Error(`GraphQL on ${port}: ${JSON.stringify(body.errors)}`);
  return body.data;
}

/** One simulated device: QoS 1 telemetry with seq (ts = a per-run base + seq, so redeliveries are the same point), reported state now and then. */
interface Device {
  id: string;
  client: MqttClient;
  /** seq values the broker acknowledged (PUBACK). */
  acked: Set<number>;
  sent: number;
  reports: number;
  next: number;
  timer?: NodeJS.Timeout;
}

async function main(): Promise<number> {
  const startedAt = Date.now();
  if (env.TOPOLOGY_SKIP_BUILD !== '1') {
    log('npm run build');
    const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
    if (build.status !== 0) throw new Error(`npm run build failed (${build.status})`);
  }
  const work = await mkdtemp(path.join(os.tmpdir(), 'doppel-topology-'));
  cleanups.push(() => rm(work, { recursive: true, force: true }));
  try {
    // PostgreSQL: a fresh database, migrated, with an admin token.
    const dbName = `doppel_topology_${suffix}`;
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${dbName}`);
    await admin.end();
    cleanups.unshift(async () => {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      await c.end();
    });
    const dbUrl = new URL(adminUrl);
    dbUrl.pathname = `/${dbName}`;
    const database = await openDatabase(loadConfig({ DATABASE_URL: dbUrl.toString() }).database);
    await applyMigrations(database, { migrationsDir: path.join(root, 'prisma', 'migrations') });
    const { token } = await createApiToken(database.prisma, { name: 'topology', role: 'admin', tenantId: 'default' });
    await database.close();
    log(`database ${dbName} migrated`);

    // Mosquitto with dynamic security, and Redis.
    const mqttPort = Number(env.TOPOLOGY_MQTT_PORT || (await freePort()));
    const redisPort = Number(env.TOPOLOGY_REDIS_PORT || (await freePort()));
    const dynsecAdmin = 'topology-admin';
    const dynsecPassword = randomBytes(16).toString('hex');
    const mosquittoLog: string[] = [];
    start('bash', [path.join(root, 'scripts', 'dynsec-mosquitto.sh'), String(mqttPort), path.join(work, 'dynsec'), dynsecAdmin, dynsecPassword], {
      log: mosquittoLog,
    });
    await waitForPort(mqttPort, 'Mosquitto');
    start('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', work]);
    await waitForPort(redisPort, 'Redis');
    log(`Mosquitto (dynsec) on ${mqttPort}, Redis on ${redisPort}`);

    // Two instances of one deployment.
    const httpBase = env.TOPOLOGY_HTTP_PORT ? Number(env.TOPOLOGY_HTTP_PORT) : undefined;
    const ports = httpBase ? [httpBase, httpBase + 1] : [await freePort(), await freePort()];
    const serverEnv: NodeJS.ProcessEnv = {
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      DATABASE_URL: dbUrl.toString(),
      MQTT_URL: `mqtt://127.0.0.1:${mqttPort}`,
      MQTT_USERNAME: 'doppel-server',
      MQTT_PASSWORD: randomBytes(16).toString('hex'),
      MQTT_SHARED_GROUP: `topology_${suffix}`,
      MQTT_SESSION_EXPIRY_S: '600',
      MQTT_DYNSEC: 'true',
      MQTT_DYNSEC_USERNAME: dynsecAdmin,
      MQTT_DYNSEC_PASSWORD: dynsecPassword,
      MQTT_DYNSEC_SECRET_KEY: randomBytes(32).toString('hex'),
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      DOPPEL_DATA_DIR: path.join(work, 'data'),
      DOPPEL_BOOTSTRAP_TOKEN: 'false',
      LOG_FORMAT: 'json',
      LOG_LEVEL: 'warn',
      GRAPHQL_RATE_LIMIT_BURST: '1000000',
      OTEL_EXPORTER_OTLP_ENDPOINT: '',
    };
    // One at a time: the first reconcile creates Doppel's own broker user.
    const a = await startInstance('a', ports[0]!, serverEnv);
    let b = await startInstance('b', ports[1]!, serverEnv);
    cleanups.unshift(async () => {
      for (const instance of [a, b]) killGroup(instance.child, 'SIGTERM');
      await Promise.race([Promise.all([a.exited, b.exited]), sleep(15_000)]);
      for (const instance of [a, b]) killGroup(instance.child, 'SIGKILL');
    });
    log(`instances a (:${a.port}) and b (:${b.port}) running`);

    // The fleet, registered through a; dynsec creates each device's broker client.
    const ids = Array.from({ length: DEVICES }, (_, i) => `topo-${suffix}-${i}`);
    const registered = await gql<{ registerDevices: { created: number; results: Array<{ index: number; deviceId: string; password: string | null }> } }>(
      a.port,
      token,
      `mutation($inputs: [RegisterDeviceInput!]!) { registerDevices(inputs: $inputs) { ... on RegisterDevicesPayload { created results { index deviceId password } } } }`,
      { inputs: ids.map((deviceId) => ({ deviceId })) },
    );
    // MQTT username = device id; the password is shown once, here.
    const passwords = new Map(registered.registerDevices.results.map((r) => [r.deviceId, r.password]));
    if (registered.registerDevices.created !== DEVICES || ids.some((id) => !passwords.get(id))) {
      throw new Error(`registered ${registered.registerDevices.created} of ${DEVICES} devices`);
    }
    const credentials = ids.map((id) => ({ username: id, password: passwords.get(id)! }));

    // Dashboards: a graphql-ws subscriber on each instance, every twin change of every device.
    const twinEvents = new Map<string, number[]>(); // instance → arrival times
    const subscribers: WsClient[] = [];
    const subscribe = (instance: Instance) => {
      const times: number[] = [];
      twinEvents.set(instance.name, times);
      const client = createClient({
        url: `ws://127.0.0.1:${instance.port}/graphql`,
        webSocketImpl: WebSocket,
        connectionParams: { authorization: `Bearer ${token}` },
        retryAttempts: 0,
      });
      subscribers.push(client);
      client.subscribe(
        { query: 'subscription { twinChanged { deviceId version section } }' },
        { next: () => times.push(Date.now()), error: () => undefined, complete: () => undefined },
      );
    };
    subscribe(a);
    subscribe(b);

    const telemetryBase = Date.now();
    const devices: Device[] = [];
    await Promise.all(
      ids.map(async (id, i) => {
        const creds = credentials[i]!;
        let client: MqttClient | undefined;
        // The broker client appears once dynsec applied the registration: retry until it does.
        for (let attempt = 0; !client; attempt++) {
          try {
            client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, {
              username: creds.username,
              password: creds.password,
              clientId: id,
              reconnectPeriod: 0,
              connectTimeout: 10_000,
            });
          } catch (error) {
            if (attempt > 100) throw error;
            await sleep(200);
          }
        }
        client.options.reconnectPeriod = 1000;
        devices.push({ id, client, acked: new Set(), sent: 0, reports: 0, next: 1 });
      }),
    );
    log(`${devices.length} devices connected`);

    let streaming = true;
    const inflight = new Set<Promise<unknown>>();
    for (const device of devices) {
      device.timer = setInterval(() => {
        if (!streaming) return;
        const seq = device.next++;
        device.sent++;
        const p = device.client
          .publishAsync(`devices/${device.id}/telemetry`, JSON.stringify({ ts: telemetryBase + seq, seq, values: { n: seq } }), { qos: 1 })
          .then(() => device.acked.add(seq))
          .catch(() => undefined);
        inflight.add(p);
        void p.finally(() => inflight.delete(p));
        if (seq % RATE === 0) {
          device.reports++;
          const r = device.client
            .publishAsync(`devices/${device.id}/twin/reported`, JSON.stringify({ state: { count: seq }, clientToken: `r${seq}` }), { qos: 1 })
            .catch(() => undefined);
          inflight.add(r);
          void r.finally(() => inflight.delete(r));
        }
      }, 1000 / RATE);
    }

    const checks: Array<{ name: string; ok: boolean; detail: string }> = [];
    const check = (name: string, ok: boolean, detail: string) => {
      checks.push({ name, ok, detail });
      log(`${ok ? 'ok  ' : 'FAIL'} ${name}: ${detail}`);
    };
    const eventsSince = (instance: string, since: number) => (twinEvents.get(instance) ?? []).filter((t) => t >= since).length;

    await sleep(10_000);
    const beforeKill = Date.now();
    check(
      'subscribers on both instances receive twin changes',
      eventsSince('a', 0) > 0 && eventsSince('b', 0) > 0,
      `a ${eventsSince('a', 0)}, b ${eventsSince('b', 0)} events`,
    );

    log('SIGKILL instance b (its process group)');
    killGroup(b.child, 'SIGKILL');
    await b.exited;
    const killedAt = Date.now();
    await sleep(15_000);
    check(
      'subscribers on the surviving instance keep receiving',
      eventsSince('a', killedAt + 2000) > 0,
      `${eventsSince('a', killedAt + 2000)} events on a in the 13 s after the kill (${eventsSince('a', beforeKill)} since just before it)`,
    );

    log('restarting instance b');
    b = await startInstance('b', ports[1]!, serverEnv);
    const rejoinedAt = Date.now();
    subscribe(b);
    await sleep(10_000);
    check(
      'the restarted instance rejoins: its subscribers receive twin changes',
      eventsSince('b', rejoinedAt) > 0,
      `${eventsSince('b', rejoinedAt)} events on b since its restart`,
    );
    const ready = await isReady(b.port);
    check('the restarted instance stays ready', ready, `/readyz ${ready ? 200 : 'not 200'}`);

    // Stop the fleet, let every publish settle, then read every device's points through a.
    streaming = false;
    for (const device of devices) clearInterval(device.timer);
    await Promise.race([Promise.all([...inflight]), sleep(30_000)]);
    const acked = devices.reduce((n, d) => n + d.acked.size, 0);
    const sent = devices.reduce((n, d) => n + d.sent, 0);
    let missing: Array<{ id: string; seqs: number[] }> = [];
    const deadline = Date.now() + 60_000;
    for (;;) {
      missing = [];
      await Promise.all(
        devices.map(async (device) => {
          const stored = new Set<number>();
          let after: string | null = null;
          for (;;) {
            const page: { device: { telemetry: { edges: Array<{ node: { value: number } }>; pageInfo: { hasNextPage: boolean; endCursor: string | null } } } } =
              await gql(
                a.port,
                token,
                `query($d: String!, $after: String) { device(deviceId: $d) { telemetry(metric: "n", first: 500, after: $after) { edges { node { value } } pageInfo { hasNextPage endCursor } } } }`,
                { d: device.id, after },
              );
            for (const edge of page.device.telemetry.edges) stored.add(edge.node.value);
            if (!page.device.telemetry.pageInfo.hasNextPage) break;
            after = page.device.telemetry.pageInfo.endCursor;
          }
          const lost = [...device.acked].filter((seq) => !stored.has(seq));
          if (lost.length > 0) missing.push({ id: device.id, seqs: lost });
        }),
      );
      // Messages redelivered to the restarted instance may still be on their way in.
      if (missing.length === 0 || Date.now() > deadline) break;
      await sleep(2000);
    }
    const lostPoints = missing.reduce((n, m) => n + m.seqs.length, 0);
    check(
      'every telemetry point a device got a PUBACK for is stored (read through a)',
      lostPoints === 0,
      `${acked} acknowledged of ${sent} published, ${lostPoints} missing${
        missing.length
          ? `: ${missing
              .slice(0, 3)
              .map((m) => `${m.id} seq ${m.seqs.slice(0, 5).join(',')}`)
              .join('; ')}`
          : ''
      }`,
    );

    for (const client of subscribers) await client.dispose();
    await Promise.all(devices.map((d) => d.client.endAsync().catch(() => undefined)));

    const failedChecks = checks.filter((c) => !c.ok);
    console.log('\n=== Production topology summary');
    console.log(`PostgreSQL ${dbName}, Mosquitto+dynsec :${mqttPort}, Redis :${redisPort}, instances :${ports.join(', :')}`);
    console.log(`${DEVICES} devices × ${RATE} msg/s; ${sent} telemetry messages published, ${acked} PUBACKed, ${lostPoints} lost`);
    console.log(`twin changes seen: a ${twinEvents.get('a')?.length ?? 0}, b (after restart) ${twinEvents.get('b')?.length ?? 0}`);
    for (const c of checks) console.log(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name} — ${c.detail}`);
    console.log(`${failedChecks.length === 0 ? 'PASSED' : 'FAILED'} in ${Math.round((Date.now() - startedAt) / 1000)} s`);
    if (failedChecks.length > 0) {
      for (const instance of [a, b]) console.log(`--- last lines of instance ${instance.name}\n${instance.lines.slice(-20).join('\n')}`);
    }
    return failedChecks.length === 0 ? 0 : 1;
  } finally {
    await cleanUp();
  }
}

/** What to undo at the end, newest first: instances, the database, the work directory. */
const cleanups: Array<() => Promise<unknown>> = [];
async function cleanUp(): Promise<void> {
  while (cleanups.length > 0) await cleanups.shift()!().catch((error: unknown) => console.error('cleanup:', error));
  for (const child of children) killGroup(child, 'SIGKILL');
}

// Interrupted (Ctrl-C, CI timeout): still stop every process and drop the database.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`topology: ${signal}, cleaning up`);
    void cleanUp().finally(() => process.exit(130));
  });
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error('topology run could not complete:', error);
    for (const child of children) child.kill('SIGKILL');
    process.exit(2);
  },
);
