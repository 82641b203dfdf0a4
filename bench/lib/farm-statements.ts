/**
 * Statements per connecting device (docs/performance.md "Farm admission"): a Doppel server in embedded
 * mode (bench/lib/server-child.ts with its SQL trace on), N devices registered through `registerDevices`,
 * then all of them connect at once as bench:farm's devices do (bench/lib/farm-client-child.ts: CONNECT,
 * SUBSCRIBE twin/# + commands/#, `online`). Prints every raw SQL statement the server ran from the first
 * CONNECT until every device was admitted and the presence ticks after it flushed, per statement kind:
 * calls, calls per device, mean rows per call. Prisma's own queries are not in the trace (the services'
 * hot paths use raw SQL; see the note printed at the end). Also the server's RSS (from /proc) with 0,
 * half and all devices connected, after a GC-free settle of a second: memory per connected device.
 *
 *   npx tsx bench/lib/farm-statements.ts [devices=500]
 */
import fs from 'node:fs';
import { sleep } from './common.ts';
import type { FarmClientStatus, FarmDevice } from './farm-client-child.ts';
import { spawnChild } from './rpc.ts';
import type { ServerStarted, SqlTrace } from './server-child.ts';
import { fmt, table } from './stats.ts';

const DEVICES = Number(process.argv[2] ?? 500);

const server = spawnChild('server-child.ts');
const client = spawnChild('farm-client-child.ts');
try {
  const started = await server.call<ServerStarted>(
    'start',
    { env: { DATABASE_URL: '', MQTT_URL: '', MQTT_PORT: '0', PORT: '0', LOG_LEVEL: 'warn' }, traceSql: true },
    120_000,
  );
  const ids = Array.from({ length: DEVICES }, (_, i) => `farmsql-${String(i).padStart(5, '0')}`);
  const response = await fetch(`${started.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${started.token}` },
    body: JSON.stringify({
      query: `mutation R($inputs: [RegisterDeviceInput!]!) { registerDevices(inputs: $inputs) { ... on RegisterDevicesPayload { failed results { deviceId username password } } ... on Error { message } } }`,
      variables: { inputs: ids.map((deviceId) => ({ deviceId, tags: ['farm'] })) },
    }),
  });
  const body = (await response.json()) as { data?: { registerDevices?: { results?: FarmDevice[] } } };
  const devices = body.data?.registerDevices?.results;
  if (!devices || devices.length !== DEVICES) throw new Error(`registerDevices failed: ${JSON.stringify(body).slice(0, 300)}`);

  const rssMb = () => Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${started.pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;
  await sleep(1000);
  const rss: Array<[number, number]> = [[0, rssMb()]];
  await client.call('mark');
  await server.call('mark');
  const t0 = performance.now();
  await client.call('connect', { url: `mqtt://127.0.0.1:${started.mqttPort}`, devices, keepaliveSeconds: 60 });
  for (;;) {
    const status = await client.call<FarmClientStatus>('status');
    if (rss.length === 1 && status.admitted >= DEVICES / 2) rss.push([status.admitted, rssMb()]);
    if (status.admitted >= DEVICES) break;
    if (performance.now() - t0 > 600_000) throw new Error(`only ${status.admitted} of ${DEVICES} admitted`);
    await sleep(100);
  }
  const admittedMs = performance.now() - t0;
  // Presence and lastSeen writes that were coalesced into ticks land within a couple of ticks.
  await sleep(3000);
  rss.push([DEVICES, rssMb()]);
  const trace = (await server.call<SqlTrace[]>('sqlTrace')).sort((a, b) => b.calls - a.calls);
  const total = trace.reduce((n, t) => n + t.calls, 0);
  console.log(`${DEVICES} devices admitted in ${fmt(admittedMs / 1000, 1)} s; ${total} raw SQL statements, ${fmt(total / DEVICES, 2)} per device`);
  console.log(
    table(
      ['statement', 'calls', 'per device', 'mean rows', 'ms total'],
      trace.map((t) => [t.statement, String(t.calls), fmt(t.calls / DEVICES, 2), fmt(t.meanBatch, 1), fmt(t.totalMs)]),
    ),
  );
  console.log('(Prisma client queries are not traced.)');
  console.log(rss.map(([n, mb]) => `RSS with ${n} devices admitted: ${fmt(mb)} MB`).join('\n'));
  const [first, last] = [rss[0]!, rss.at(-1)!];
  console.log(`RSS per connected device: ${fmt(((last[1] - first[1]) * 1024) / (last[0] - first[0]), 1)} kB`);
} finally {
  await client.call('close', undefined, 60_000).catch(() => client.kill());
  server.kill();
}
process.exit(0);
