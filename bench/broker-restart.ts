/**
 * `npm run bench:broker-restart` — what a restart of an external Mosquitto costs, message by message.
 *
 * A private Mosquitto (test/support/services.ts), a scratch database on PostgreSQL, a real Doppel process
 * with a persistent session (`MQTT_CLIENT_ID`), and one mqtt.js device publishing QoS 1 telemetry at
 * `--rate` msg/s whose value is a sequence number. After `--before` ms the broker is stopped (SIGTERM, or
 * SIGKILL with `--stop kill`), started again `--down` ms later, and the device goes on until `--total`
 * ms. Then it waits until every message the broker acknowledged to the device (PUBACK) is stored, or the
 * stored count has stopped growing.
 *
 * Every lost message (acknowledged by the broker, not stored) is put in the phase its PUBACK fell into,
 * from the log times of the broker stop/start and of Doppel's reconnect and re-subscription:
 *   before-stop    acknowledged before the broker went down (queued for or in flight to Doppel)
 *   before-doppel  acknowledged after the broker came back, before Doppel's session was connected again
 *   before-sub     acknowledged after Doppel's CONNACK, before its SUBACK
 *   after-sub      acknowledged after Doppel had re-subscribed
 *
 *   DOPPEL_BENCH_DATABASE_URL=postgres://postgres:postgres@127.0.0.1:5432/postgres \
 *     npm run bench:broker-restart -- --persistence true --stop term
 *   … -- --persistence false --stop kill --device-reconnect 50   # the device reconnects before Doppel
 *
 * Prints one table row (and `--json` a JSON line); no thresholds.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import pg from 'pg';
import { loadConfig } from '../src/config.ts';
import { openDatabase } from '../src/db/client.ts';
import { applyMigrations } from '../src/db/migrate.ts';
import { MIGRATIONS_DIR } from '../src/server.ts';
import { spawnServer, type ServerProcess } from '../test/support/process.ts';
import { startMosquitto } from '../test/support/services.ts';
import { createScratchDatabase, num, sleep } from './lib/common.ts';

const { values: args } = parseArgs({
  options: {
    persistence: { type: 'string', default: 'true' },
    stop: { type: 'string', default: 'term' },
    rate: { type: 'string', default: '200' },
    before: { type: 'string', default: '5000' },
    down: { type: 'string', default: '3000' },
    total: { type: 'string', default: '18000' },
    'device-reconnect': { type: 'string', default: '1000' },
    label: { type: 'string', default: '' },
    json: { type: 'boolean', default: false },
  },
});
const persistence = args.persistence === 'true';
if (args.stop !== 'term' && args.stop !== 'kill') throw new Error('--stop is term or kill');
const rate = num('rate', args.rate, 1, 10_000);
const beforeMs = num('before', args.before, 0, 600_000);
const downMs = num('down', args.down, 0, 600_000);
const deviceReconnectMs = num('device-reconnect', args['device-reconnect'], 10, 60_000);
const totalMs = num('total', args.total, beforeMs + downMs + 1000, 3_600_000);
const adminUrl = process.env.DOPPEL_BENCH_DATABASE_URL ?? process.env.DOPPEL_TEST_DATABASE_URL;
if (!adminUrl) throw new Error('set DOPPEL_BENCH_DATABASE_URL to a PostgreSQL admin URL');

interface LogLine {
  time?: number;
  msg?: string;
  sessionPresent?: boolean;
}

async function main(): Promise<void> {
  const suffix = randomBytes(4).toString('hex');
  const deviceId = `brk-${suffix}`;
  const broker = await startMosquitto({ persistence, autosaveSeconds: 1 });
  const scratch = await createScratchDatabase(adminUrl!, 'broker_restart');
  let server: ServerProcess | undefined;
  const pool = new pg.Pool({ connectionString: scratch.url, max: 2 });
  try {
    const db = await openDatabase(loadConfig({ DATABASE_URL: scratch.url }).database);
    await applyMigrations(db, { migrationsDir: MIGRATIONS_DIR });
    await db.close();
    await pool.query(`INSERT INTO "Device" (id, "deviceId", "secretHash", "updatedAt") VALUES (gen_random_uuid(), $1, 'unused', now())`, [deviceId]);

    server = await spawnServer({
      DATABASE_URL: scratch.url,
      MQTT_URL: broker.url,
      MQTT_CLIENT_ID: `doppel-${suffix}`,
      MQTT_SHARED_GROUP: `brk_${suffix}`,
      MQTT_SESSION_EXPIRY_S: '300',
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      DOPPEL_BOOTSTRAP_TOKEN: 'false',
    });

    // The device as an operator writes it: mqtt.js defaults (reconnect every 1 s, clean session); while
    // offline, mqtt.js keeps QoS 1 publishes and sends them after reconnecting. `--device-reconnect 50`
    // makes the device come back before Doppel: the window that is the broker's (docs/durability.md).
    const device = await mqtt.connectAsync(broker.url, {
      protocolVersion: 5,
      clientId: `${deviceId}-dev`,
      clean: true,
      reconnectPeriod: deviceReconnectMs,
    });
    const deviceConnects: number[] = [];
    device.on('connect', () => deviceConnects.push(Date.now()));
    const base = Date.now() - 3_600_000;
    const ackedAt = new Map<number, number>();
    const failed: number[] = [];
    let sent = 0;
    const t0 = Date.now();
    const events: Record<string, number> = {};
    const interval = 1000 / rate;

    const brokerCycle = (async () => {
      await sleep(beforeMs);
      events.stop = Date.now();
      if (args.stop === 'kill') await broker.kill();
      else await broker.stop();
      events.stopped = Date.now();
      await sleep(downMs);
      events.start = Date.now();
      await broker.start();
      events.started = Date.now();
    })();

    // Paced by the clock, not by setInterval (which drifts under load): seq i goes out at t0 + i / rate.
    while (Date.now() - t0 < totalMs) {
      const due = Math.floor((Date.now() - t0) / interval);
      while (sent <= due) {
        const seq = sent++;
        device.publish(`devices/${deviceId}/telemetry`, JSON.stringify({ ts: base + seq, values: { v: seq } }), { qos: 1 }, (err) => {
          if (err) failed.push(seq);
          else ackedAt.set(seq, Date.now());
        });
      }
      await sleep(Math.max(1, interval / 2));
    }
    await brokerCycle;
    // Outstanding publishes get their PUBACK (or not) within a few seconds once the broker is up.
    const ackDeadline = Date.now() + 15_000;
    while (ackedAt.size + failed.length < sent && Date.now() < ackDeadline) await sleep(100);
    await device.endAsync(true);

    const stored = async () => {
      const { rows } = await pool.query<{ v: number }>(
        `SELECT p.value AS v FROM "TelemetryPoint" p JOIN "Device" d ON d.id = p."deviceId" WHERE d."deviceId" = $1 AND p.metric = 'v'`,
        [deviceId],
      );
      return new Set(rows.map((r) => Number(r.v)));
    };
    let storedSet = await stored();
    let lastChange = Date.now();
    const drainDeadline = Date.now() + 60_000;
    while ([...ackedAt.keys()].some((s) => !storedSet.has(s)) && Date.now() - lastChange < 5000 && Date.now() < drainDeadline) {
      await sleep(250);
      const next = await stored();
      if (next.size !== storedSet.size) lastChange = Date.now();
      storedSet = next;
    }

    const lines = server.lines.map((l) => {
      try {
        return JSON.parse(l) as LogLine;
      } catch {
        return {} as LogLine;
      }
    });
    const after = (msg: string) => lines.find((l) => l.msg === msg && (l.time ?? 0) >= events.started!);
    const reconnect = after('connected to MQTT broker');
    const resubscribed = after('subscribed to device topics');
    const doppelConnected = reconnect?.time ?? Infinity;
    const doppelSubscribed = resubscribed?.time ?? Infinity;

    const phases = { 'before-stop': 0, 'before-doppel': 0, 'before-sub': 0, 'after-sub': 0 };
    const lost: number[] = [];
    for (const [seq, at] of ackedAt) {
      if (storedSet.has(seq)) continue;
      lost.push(seq);
      if (at < events.stop!) phases['before-stop']++;
      else if (at < doppelConnected) phases['before-doppel']++;
      else if (at < doppelSubscribed) phases['before-sub']++;
      else phases['after-sub']++;
    }
    lost.sort((a, b) => a - b);
    const rel = (t: number | undefined) => (t === undefined || !Number.isFinite(t) ? '-' : String(t - events.started!));
    const result = {
      label: args.label,
      persistence,
      stop: args.stop,
      downMs,
      deviceReconnectPeriodMs: deviceReconnectMs,
      sent,
      acked: ackedAt.size,
      notAcked: failed.length + (sent - ackedAt.size - failed.length),
      stored: storedSet.size,
      lost: lost.length,
      storedNotAcked: [...storedSet].filter((s) => !ackedAt.has(s)).length,
      phases,
      // Relative to the broker accepting connections again (ms). mqtt.js emits 'connect' only after it has
      // re-sent its stored publishes, so the device's backlog is acknowledged before this time.
      deviceConnectedMs: rel(deviceConnects.find((t) => t >= events.started!)),
      doppelReconnectMs: rel(reconnect?.time),
      doppelSessionPresent: reconnect?.sessionPresent,
      doppelSubscribedMs: rel(resubscribed?.time),
      lostRanges: ranges(lost),
      lostAckedMs: lost.length ? [rel(ackedAt.get(lost[0]!)), rel(ackedAt.get(lost[lost.length - 1]!))] : [],
      stopMs: rel(events.stop),
    };
    if (args.json) console.log(JSON.stringify(result));
    console.log(
      `| ${args.label} | ${persistence} | ${args.stop} | ${result.acked} | ${result.stored} | ${result.lost} | ${Object.values(phases).join(' / ')} | ${result.doppelReconnectMs} / ${result.doppelSubscribedMs} (sessionPresent ${String(result.doppelSessionPresent)}) | ${result.deviceConnectedMs} |`,
    );
    console.log(
      `lost seq ranges: ${result.lostRanges}; broker down ${events.stopped! - events.stop!} ms to stop, ${events.started! - events.start!} ms to start`,
    );
  } finally {
    server?.child.kill('SIGKILL');
    await server?.exited;
    await pool.end();
    await broker.destroy();
    await scratch.drop();
  }
}

function ranges(sorted: number[]): string {
  const out: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    out.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return out.slice(0, 20).join(', ') + (out.length > 20 ? ` … (${out.length} ranges)` : '');
}

await main();
