/**
 * bench:live-cost — CPU cost per telemetry message of the server's own JavaScript on the live path,
 * measured as CPU time (process.cpuUsage) over a fixed amount of work, so it does not need a quiet
 * machine the way a throughput run does (other load slows it down in wall time, not in CPU-seconds
 * spent; expect a few % of noise from shared caches). Two stages, each repeated:
 *
 *  - delivery: a real server (createServer: Yoga, graphql-ws, Pothos schema, PGlite in memory, Aedes)
 *    with one graphql-ws subscriber on `telemetry` for every device, in a child process so its CPU is
 *    its own. The server's bus gets what the telemetry service publishes after a batch write — one event
 *    per device per batch, 3 points each (the bench:ingest payload) — for `--devices` devices per batch.
 *    Measured: server CPU from the first publish until the subscriber holds every point, per event.
 *  - sampled: the same, with the subscriber on `telemetry(sampleIntervalMs: --sample-ms)` and a batch
 *    every `--batch-gap-ms`; measured from the first publish until the subscriber shows every device's
 *    last value (the trailing edge), per published event. Also prints how many updates were delivered.
 *  - ingest: the telemetry service (parse → batcher → statement parameters → result → events) with a
 *    stand-in SQL executor that answers as if every point were new, no broker, no subscriber. Measured:
 *    CPU per message. The stand-in builds the rows a driver would return; its cost is included.
 *
 *   npm run bench:live-cost -- [--devices 1000] [--batches 20] [--repeat 5] [--stage delivery|sampled|ingest]
 */
import { parseArgs } from 'node:util';
import { createApiToken } from '../src/auth/tokens.ts';
import { loadConfig } from '../src/config.ts';
import type { SqlExecutor } from '../src/db/client.ts';
import { createEventBus, type TelemetryEvent } from '../src/events/bus.ts';
import { createLogger } from '../src/logger.ts';
import { Metrics } from '../src/metrics.ts';
import { createServer } from '../src/server.ts';
import { createTelemetryService } from '../src/services/telemetry/index.ts';
import { createDomainHooks } from '../src/services/hooks.ts';
import { spawnChild } from './lib/rpc.ts';

const { values: opts } = parseArgs({
  options: {
    devices: { type: 'string', default: '1000' },
    batches: { type: 'string', default: '20' },
    repeat: { type: 'string', default: '5' },
    stage: { type: 'string' },
    'sample-ms': { type: 'string', default: '100' },
    'batch-gap-ms': { type: 'string', default: '5' },
  },
});
const DEVICES = Number(opts.devices);
const BATCHES = Number(opts.batches);
const REPEAT = Number(opts.repeat);
const SAMPLE_MS = Number(opts['sample-ms']);
const BATCH_GAP_MS = Number(opts['batch-gap-ms']);

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

function summary(label: string, perUnit: number[], unit: string): void {
  const sorted = [...perUnit].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  console.log(
    `${label.padEnd(10)} ${unit}: min ${sorted[0]!.toFixed(1)}  median ${median.toFixed(1)}  max ${sorted.at(-1)!.toFixed(1)}   (runs: ${perUnit.map((x) => x.toFixed(1)).join(', ')})`,
  );
}

async function delivery(sampleMs?: number): Promise<void> {
  const bus = createEventBus();
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    MQTT_PORT: '0',
    MQTT_HOST: '127.0.0.1',
    MQTT_TLS: 'off',
    DATABASE_URL: 'memory://',
    LOG_LEVEL: 'silent',
    DOPPEL_BOOTSTRAP_TOKEN: 'false',
  });
  const server = createServer(config, { bus, logger: createLogger('silent') });
  const running = await server.start();
  const { token } = await createApiToken(running.database.prisma, { name: 'bench', role: 'admin', tenantId: 'default' });
  const client = spawnChild('live-cost-client.ts');
  await client.call('subscribe', { url: `${running.url.replace(/^http/, 'ws')}/graphql`, token, sampleIntervalMs: sampleMs });
  await new Promise((r) => setTimeout(r, 300));

  let ts = Date.now() - 86_400_000;
  let expected = 0;
  const batch = async () => {
    ts++;
    const at = Date.now();
    for (let d = 0; d < DEVICES; d++) {
      const event: TelemetryEvent = {
        deviceUuid: `00000000-0000-0000-0000-${String(d).padStart(12, '0')}`,
        deviceId: `dev-${d}`,
        tenantId: 'default',
        at,
        points: [
          { metric: 'a', ts, value: at + d / 1000, isBool: false },
          { metric: 'b', ts, value: ts, isBool: false },
          { metric: 'c', ts, value: ts % 2, isBool: true },
        ],
      };
      bus.publish('telemetry', event);
    }
    expected += DEVICES * 3;
    if (sampleMs === undefined) await client.call('waitFor', { points: expected });
    else await new Promise((r) => setTimeout(r, BATCH_GAP_MS));
  };
  // Sampled: the run ends when every device's last value has arrived.
  const settle = () => (sampleMs === undefined ? Promise.resolve() : client.call('waitForLast', { devices: DEVICES, ts }));
  for (let i = 0; i < 5; i++) await batch(); // warm-up: JIT, socket buffers
  await settle();
  const perEvent: number[] = [];
  const delivered: number[] = [];
  for (let r = 0; r < REPEAT; r++) {
    await client.call('reset');
    expected = 0;
    const before = cpuMicros();
    for (let i = 0; i < BATCHES; i++) await batch();
    await settle();
    perEvent.push((cpuMicros() - before) / (BATCHES * DEVICES));
    delivered.push((await client.call<{ events: number }>('counts')).events);
  }
  if (sampleMs === undefined) summary('delivery', perEvent, 'server CPU µs per event (1 device × 3 points)');
  else {
    summary('sampled', perEvent, `server CPU µs per published event, sampleIntervalMs ${sampleMs}, a batch every ${BATCH_GAP_MS} ms`);
    console.log(`           updates delivered per run: ${delivered.join(', ')} (of ${BATCHES * DEVICES} events published)`);
  }
  await client.call('close');
  client.kill();
  await server.stop();
}

/** Answers the telemetry service's two statements as PostgreSQL would when every point is new. */
function standInSql(): SqlExecutor {
  const uuids = new Map<string, string>();
  return {
    async query<T>(text: string, params: readonly unknown[] = []): Promise<T[]> {
      if (text.includes('FROM "Device"')) {
        return (params[0] as string[]).map((deviceId) => {
          let id = uuids.get(deviceId);
          if (!id) uuids.set(deviceId, (id = `00000000-0000-0000-0000-${String(uuids.size).padStart(12, '0')}`));
          return { id, deviceId, tenantId: 'default' };
        }) as T[];
      }
      const [devices, metrics, tss] = params as [string[], string[], number[]];
      const rows: Array<{ kind: string; device: string; metric: string | null; ts: number | null }> = [];
      for (const device of new Set(devices)) rows.push({ kind: 'm', device, metric: null, ts: null });
      for (let i = 0; i < devices.length; i++) rows.push({ kind: 'i', device: devices[i]!, metric: metrics[i]!, ts: tss[i]! });
      return rows as T[];
    },
  };
}

async function ingest(): Promise<void> {
  const config = loadConfig({ DATABASE_URL: 'memory://', LOG_LEVEL: 'silent' });
  const service = createTelemetryService({
    sql: standInSql(),
    bus: createEventBus(),
    hooks: createDomainHooks({ logger: createLogger('silent'), metrics: new Metrics() }),
    logger: createLogger('silent'),
    metrics: new Metrics(),
    config: config.telemetry,
    maxPayloadBytes: config.maxPayloadBytes,
  });
  let ts = Date.now() - 86_400_000;
  let seq = 0;
  const batch = async () => {
    ts++;
    seq++;
    const now = Date.now();
    const pending: Array<Promise<unknown>> = [];
    for (let d = 0; d < DEVICES; d++) {
      // The bench:ingest payload, as bytes (what MQTT hands the bridge).
      const payload = Buffer.from(`{"ts":${ts},"seq":${seq},"values":{"a":${now + d / 1000},"b":${seq},"c":${seq % 2 === 0}}}`);
      pending.push(service.ingest(`dev-${d}`, payload, now));
    }
    const outcomes = (await Promise.all(pending)) as Array<{ ok: boolean }>;
    if (!outcomes.every((o) => o.ok)) throw new Error('a message was refused');
  };
  for (let i = 0; i < 5; i++) await batch();
  const perMessage: number[] = [];
  for (let r = 0; r < REPEAT; r++) {
    const before = cpuMicros();
    for (let i = 0; i < BATCHES; i++) await batch();
    perMessage.push((cpuMicros() - before) / (BATCHES * DEVICES));
  }
  summary('ingest', perMessage, 'CPU µs per message (3 values; no database, no broker)');
  await service.drain();
}

console.log(`bench:live-cost — ${DEVICES} devices × ${BATCHES} batches per run, ${REPEAT} runs, node ${process.version}`);
if (!opts.stage || opts.stage === 'delivery') await delivery();
if (!opts.stage || opts.stage === 'sampled') await delivery(SAMPLE_MS);
if (!opts.stage || opts.stage === 'ingest') await ingest();
process.exit(0);
