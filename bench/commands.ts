/**
 * `npm run bench:commands` — commands end to end:
 *
 *   1. round trip at low load: sendCommand (HTTP) → device receives (MQTT, QoS 1) → device acks
 *      SUCCEEDED → `commandUpdated` SUCCEEDED delivered to a graphql-ws subscriber; one command at a
 *      time to one device, p50/p99 of the whole trip and of its legs;
 *   2. a fleet command to N connected devices (default 1,000) that ack SUCCEEDED at once: time until
 *      every device received it, and until `fleetCommandProgress` reports all SUCCEEDED.
 *
 * Everything runs in this one process (server, broker in embedded mode, devices, subscriber) on one
 * clock, so the figures include the devices' and subscriber's own CPU; compare runs, not machines.
 *
 *   npm run bench:commands                                   # PGlite + embedded Aedes
 *   BENCH_DATABASE_URL=postgres://… npm run bench:commands -- --mode postgres
 *   npm run bench:commands -- --devices 1000 --round-trips 300 --record
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createClient } from 'graphql-ws';
import mqtt, { type MqttClient } from 'mqtt';
import WebSocket from 'ws';
import { createApiToken } from '../src/auth/tokens.ts';
import { loadConfig } from '../src/config.ts';
import { openDatabase } from '../src/db/client.ts';
import { applyMigrations } from '../src/db/migrate.ts';
import { createLogger } from '../src/logger.ts';
import { hashSecret } from '../src/security/secrets.ts';
import { createServer, MIGRATIONS_DIR } from '../src/server.ts';
import { commitId, createScratchDatabase, dropScratchDatabases, dropScratchDatabasesOnSignal, num, waitForQuiet } from './lib/common.ts';
import { fmt, markdownTable, percentiles, table } from './lib/stats.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const { values } = parseArgs({
  options: {
    mode: { type: 'string', default: 'pglite' },
    devices: { type: 'string', default: '1000' },
    'round-trips': { type: 'string', default: '200' },
    warmup: { type: 'string', default: '20' },
    quiet: { type: 'string', default: '10' },
    record: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(`usage: npm run bench:commands -- [--mode pglite|postgres] [--devices 1000] [--round-trips 200] [--warmup 20] [--quiet 10] [--record]
env: BENCH_DATABASE_URL (postgres mode: a scratch database is created there and dropped)`);
  process.exit(0);
}
const mode = values.mode === 'postgres' ? 'postgres' : 'pglite';
const DEVICES = num('devices', values.devices, 1, 20_000);
const ROUND_TRIPS = num('round-trips', values['round-trips'], 1, 100_000);
const WARMUP = num('warmup', values.warmup, 0, 10_000);
const QUIET_MS = num('quiet', values.quiet, 0, 600) * 1000;

const MODEL = {
  name: 'bench-toaster',
  commands: [
    {
      name: 'toast',
      params: { type: 'object', properties: { power: { type: 'integer', minimum: 0, maximum: 100 } }, required: ['power'] },
      timeoutMs: 600_000,
    },
  ],
};

async function main(): Promise<void> {
  dropScratchDatabasesOnSignal();
  let databaseUrl = 'memory://';
  if (mode === 'postgres') {
    const admin = process.env.BENCH_DATABASE_URL;
    if (!admin) throw new Error('--mode postgres needs BENCH_DATABASE_URL');
    databaseUrl = (await createScratchDatabase(admin, 'commands')).url;
  }
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    MQTT_PORT: '0',
    MQTT_HOST: '127.0.0.1',
    MQTT_TLS: 'off',
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: 'warn',
    DOPPEL_BOOTSTRAP_TOKEN: 'false',
    COMMAND_RATE_LIMIT: '1000000',
  });
  const database = await openDatabase(config.database);
  await applyMigrations(database, { migrationsDir: MIGRATIONS_DIR });
  const server = createServer(config, { database, logger: createLogger(config.logLevel) });
  const running = await server.start();
  const { token } = await createApiToken(database.prisma, { name: 'bench', role: 'admin', tenantId: 'default' });
  const httpUrl = `${running.url}/graphql`;
  const mqttUrl = `mqtt://127.0.0.1:${running.mqttPort}`;
  const clients: MqttClient[] = [];

  async function gql<T>(query: string, variables: Record<string, unknown>): Promise<T> {
    const res = await fetch(httpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as { data?: T; errors?: unknown };
    if (!body.data) throw new Error(JSON.stringify(body.errors));
    return body.data;
  }

  try {
    await gql(`mutation($i: DeviceModelInput!) { createDeviceModel(input: $i) { __typename } }`, { i: MODEL });
    // Devices are inserted set-based with one shared secret: registering 1,000 through the API would
    // mostly measure scrypt.
    const password = 'bench-secret';
    const ids = Array.from({ length: DEVICES + 1 }, (_, i) => `bench-${String(i).padStart(5, '0')}`);
    await database.sql.query(
      `WITH d AS (
         INSERT INTO "Device" (id, "tenantId", "deviceId", tags, "modelId", "secretHash", "updatedAt")
         SELECT gen_random_uuid(), 'default', x.id, CASE WHEN x.n > 1 THEN ARRAY['fleet'] ELSE ARRAY['rt'] END,
                (SELECT id FROM "DeviceModel" WHERE name = $2), $3, now()
           FROM unnest($1::text[]) WITH ORDINALITY AS x(id, n)
         RETURNING id
       )
       INSERT INTO "Twin" ("deviceId") SELECT id FROM d`,
      [ids, MODEL.name, hashSecret(password)],
    );

    // Devices ack SUCCEEDED the moment a command arrives.
    const receivedAt = new Map<string, number>();
    async function connect(deviceId: string): Promise<MqttClient> {
      const client = mqtt.connect(mqttUrl, { username: deviceId, password, clientId: deviceId, reconnectPeriod: 0, connectTimeout: 30_000 });
      clients.push(client);
      await new Promise<void>((resolve, reject) => {
        client.once('connect', () => resolve());
        client.once('error', reject);
      });
      client.on('message', (topic) => {
        const commandId = topic.split('/')[3]!;
        receivedAt.set(commandId, performance.now());
        client.publish(`${topic}/ack`, JSON.stringify({ status: 'SUCCEEDED' }), { qos: 1 });
      });
      await client.subscribeAsync(`devices/${deviceId}/commands/+`, { qos: 1 });
      await client.publishAsync(`devices/${deviceId}/status`, 'online', { qos: 1, retain: true });
      return client;
    }
    const connectStart = performance.now();
    for (let i = 0; i < ids.length; i += 100) await Promise.all(ids.slice(i, i + 100).map(connect));
    const connectMs = performance.now() - connectStart;
    for (;;) {
      const [row] = await database.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM "Device" WHERE connected`);
      if (Number(row!.n) >= ids.length) break;
      await new Promise((r) => setTimeout(r, 50));
    }

    const ws = createClient({ url: httpUrl.replace(/^http/, 'ws'), webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${token}` } });
    const succeededAt = new Map<string, number>();
    const waiters = new Map<string, () => void>();
    ws.subscribe<{ commandUpdated: { commandId: string; status: string } }>(
      { query: `subscription { commandUpdated(deviceId: "${ids[0]}") { commandId status } }` },
      {
        next: (e) => {
          const u = e.data?.commandUpdated;
          if (u?.status !== 'SUCCEEDED') return;
          succeededAt.set(u.commandId, performance.now());
          waiters.get(u.commandId)?.();
        },
        error: (e) => console.error('subscription error', e),
        complete: () => undefined,
      },
    );
    await new Promise((r) => setTimeout(r, 300));

    const load = await waitForQuiet(QUIET_MS, 0.3, true);
    // 1. Round trips, one at a time.
    const total: number[] = [];
    const toDevice: number[] = [];
    const mutation: number[] = [];
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < WARMUP + ROUND_TRIPS; i++) {
      const t0 = performance.now();
      const data = await gql<{ sendCommand: { commandId: string } }>(
        `mutation($i: SendCommandInput!) { sendCommand(input: $i) { ... on Command { commandId } ... on Error { code message } } }`,
        { i: { deviceId: ids[0], name: 'toast', params: { power: i % 100 } } },
      );
      const t1 = performance.now();
      const id = data.sendCommand.commandId;
      if (!succeededAt.has(id)) await new Promise<void>((resolve) => waiters.set(id, resolve));
      waiters.delete(id);
      if (i < WARMUP) continue;
      total.push(succeededAt.get(id)! - t0);
      mutation.push(t1 - t0);
      toDevice.push((receivedAt.get(id) ?? Number.NaN) - t0);
    }
    const rtCpu = process.cpuUsage(cpu0);

    // 2. Fleet command.
    const f0 = performance.now();
    const fleet = await gql<{ sendFleetCommand: { fleetCommandId: string } }>(
      `mutation($i: SendFleetCommandInput!) { sendFleetCommand(input: $i) { ... on FleetCommand { fleetCommandId } ... on Error { code message } } }`,
      { i: { filter: { tag: 'fleet' }, name: 'toast', params: { power: 50 } } },
    );
    const f1 = performance.now();
    const fleetId = fleet.sendFleetCommand.fleetCommandId;
    const fleetCpu0 = process.cpuUsage();
    const finishedAt = await new Promise<number>((resolve, reject) => {
      ws.subscribe<{ fleetCommandProgress: { finished: boolean; succeeded: number; total: number } }>(
        { query: `subscription { fleetCommandProgress(id: "${fleetId}") { finished succeeded total } }` },
        {
          next: (e) => {
            const p = e.data?.fleetCommandProgress;
            if (p?.finished) {
              if (p.succeeded !== p.total) reject(new Error(`fleet finished with ${p.succeeded}/${p.total} SUCCEEDED`));
              resolve(performance.now());
            }
          },
          error: reject,
          complete: () => undefined,
        },
      );
    });
    const fleetCpu = process.cpuUsage(fleetCpu0);
    const [rows] = await database.sql.query<{ n: number; delivered: number }>(
      `SELECT count(*)::int AS n, count(*) FILTER (WHERE status = 'SUCCEEDED')::int AS delivered FROM "Command" WHERE "fleetCommandId" = $1`,
      [fleetId],
    );
    const fleetIds = await database.sql.query<{ id: string }>(`SELECT id FROM "Command" WHERE "fleetCommandId" = $1`, [fleetId]);
    const lastReceived = Math.max(...fleetIds.map((r) => receivedAt.get(r.id) ?? Number.NaN));
    await ws.dispose();

    const [p50, p99] = percentiles(total, [50, 99]);
    const [d50, d99] = percentiles(toDevice, [50, 99]);
    const [m50, m99] = percentiles(mutation, [50, 99]);
    const modeLabel = mode === 'postgres' ? 'PostgreSQL 15 + embedded Aedes' : 'PGlite + embedded Aedes';
    const rtRows = [
      ['mutation response', `${fmt(m50, 1)} ms`, `${fmt(m99, 1)} ms`],
      ['mutation → device receives', `${fmt(d50, 1)} ms`, `${fmt(d99, 1)} ms`],
      ['mutation → commandUpdated SUCCEEDED', `${fmt(p50, 1)} ms`, `${fmt(p99, 1)} ms`],
    ];
    const fleetRows = [
      ['sendFleetCommand response (create all)', `${fmt(f1 - f0, 0)} ms`],
      ['until every device received it', `${fmt(lastReceived - f0, 0)} ms`],
      ['until progress: all SUCCEEDED', `${fmt(finishedAt - f0, 0)} ms`],
      ['commands stored / SUCCEEDED', `${fmt(Number(rows!.n))} / ${fmt(Number(rows!.delivered))}`],
    ];
    console.log(
      `\nbench:commands — ${modeLabel} — ${DEVICES} fleet devices (connected in ${fmt(connectMs)} ms), ${ROUND_TRIPS} round trips after ${WARMUP} warm-up`,
    );
    console.log(`machine load before measuring: ${load === undefined ? '–' : fmt(load, 2)} cores used by others\n`);
    console.log(table(['round trip (one at a time)', 'p50', 'p99'], rtRows));
    console.log(`  process CPU over the round trips: ${fmt((rtCpu.user + rtCpu.system) / 1000 / ROUND_TRIPS, 2)} ms per round trip\n`);
    console.log(table([`fleet command, ${DEVICES} devices`, 'time'], fleetRows));
    console.log(`  process CPU from create to finished: ${fmt((fleetCpu.user + fleetCpu.system) / 1000, 0)} ms\n`);

    if (values.record) {
      const date = new Date().toISOString().slice(0, 10);
      const entry = [
        `## ${date} — ${commitId(ROOT)} — bench:commands — ${modeLabel}`,
        '',
        `One process (server, broker, ${DEVICES + 1} mqtt.js devices acking SUCCEEDED at once, one graphql-ws subscriber). Load by others before measuring: ${load === undefined ? '–' : fmt(load, 2)} cores.`,
        '',
        markdownTable(['round trip, one at a time (n = ' + ROUND_TRIPS + ')', 'p50', 'p99'], rtRows),
        '',
        markdownTable([`fleet command, ${DEVICES} connected devices`, 'time'], fleetRows),
        '',
      ].join('\n');
      const file = path.join(ROOT, 'bench', 'RESULTS.md');
      const text = fs.readFileSync(file, 'utf8');
      const summaryRow = `| ${date} | ${commitId(ROOT)} | ${modeLabel} | bench:commands: ${ROUND_TRIPS} round trips one at a time; fleet of ${DEVICES} | – | – | round trip p50 ${fmt(p50, 1)} ms / p99 ${fmt(p99, 1)} ms; fleet all SUCCEEDED in ${fmt(finishedAt - f0, 0)} ms |`;
      const lines = text.split('\n');
      const sep = lines.findIndex((l, i) => i > 0 && lines[i - 1]!.startsWith('| date |') && /^\| ?---/.test(l));
      if (sep >= 0) lines.splice(sep + 1, 0, summaryRow);
      const firstEntry = lines.findIndex((l) => l.startsWith('## 2'));
      lines.splice(firstEntry >= 0 ? firstEntry : lines.length, 0, entry);
      fs.writeFileSync(file, lines.join('\n'));
      console.log('recorded in bench/RESULTS.md');
    }
  } finally {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    await server.stop();
    await database.close();
    await dropScratchDatabases();
  }
}

main().then(
  () => process.exit(0),
  async (error: unknown) => {
    console.error(error);
    await dropScratchDatabases();
    process.exit(1);
  },
);
