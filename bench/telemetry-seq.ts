/**
 * The cost of telemetry `seq` (receipt cursors) on the batch statement: the same batches written
 * through the batch store with and without `seq`, interleaved (A/B, B/A, … so load drifts hit both),
 * each in its own device group so both sides write the same amount. Wall time per batch: run it on a
 * quiet machine, or compare medians of several runs. Not an npm script; run it directly:
 *
 *   npx tsx bench/telemetry-seq.ts [--devices 1000] [--messages 1] [--rounds 20]          # PGlite in memory
 *   BENCH_DATABASE_URL=postgres://… npx tsx bench/telemetry-seq.ts …                       # a scratch database next to it
 *
 * Each round writes, per group, one batch of `devices` × `messages` messages of 3 points; the seq
 * side numbers each device's messages 1, 2, 3, … in order (the common case: no pending rows).
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.ts';
import { openDatabase } from '../src/db/client.ts';
import { applyMigrations } from '../src/db/migrate.ts';
import type { DevicePoint } from '../src/domain/telemetry/batcher.ts';
import { createLogger } from '../src/logger.ts';
import { Metrics } from '../src/metrics.ts';
import { MIGRATIONS_DIR } from '../src/server.ts';
import { createStoreRetry } from '../src/services/store-retry.ts';
import { createBatchStore } from '../src/services/telemetry/batch-store.ts';
import { createDeviceResolver } from '../src/services/telemetry/device-resolver.ts';
import { createTelemetryWriter } from '../src/services/telemetry/writer.ts';
import { createScratchDatabase, dropScratchDatabases, dropScratchDatabasesOnSignal, num } from './lib/common.ts';

const { values: opts } = parseArgs({
  options: { devices: { type: 'string', default: '1000' }, messages: { type: 'string', default: '1' }, rounds: { type: 'string', default: '20' } },
});
const DEVICES = num('devices', opts.devices, 1, 100_000);
const MESSAGES = num('messages', opts.messages, 1, 1000);
const ROUNDS = num('rounds', opts.rounds, 1, 10_000);
const WARMUP = 3;

dropScratchDatabasesOnSignal();
const adminUrl = process.env.BENCH_DATABASE_URL;
const scratch = adminUrl ? await createScratchDatabase(adminUrl, 'seq') : undefined;
const db = await openDatabase(loadConfig({ DATABASE_URL: scratch?.url ?? 'memory://' }).database);
try {
  await applyMigrations(db, { migrationsDir: MIGRATIONS_DIR });
  const retry = createStoreRetry({ kind: 'telemetry', logger: createLogger('silent'), metrics: new Metrics() });
  const store = createBatchStore({ resolver: createDeviceResolver(db.sql), writer: createTelemetryWriter(db.sql), retry, now: Date.now });
  const groups = { plain: [] as string[], seq: [] as string[] };
  for (const kind of ['plain', 'seq'] as const) {
    for (let i = 0; i < DEVICES; i++) {
      const deviceId = `${kind}-${i}`;
      await db.prisma.device.create({ data: { deviceId, secretHash: 'x', twin: { create: {} } } });
      groups[kind].push(deviceId);
    }
  }
  const times = { plain: [] as number[], seq: [] as number[] };
  const base = Date.now() - 86_400_000;
  for (let r = 1; r <= ROUNDS + WARMUP; r++) {
    for (const kind of r % 2 ? (['plain', 'seq'] as const) : (['seq', 'plain'] as const)) {
      const points: DevicePoint[] = groups[kind].flatMap((device) =>
        Array.from({ length: MESSAGES }, (_, k) => (r - 1) * MESSAGES + k + 1).flatMap((seq) =>
          ['a', 'b', 'c'].map((metric, m) => ({ device, metric, ts: base + seq, value: seq + m, isBool: false, ...(kind === 'seq' ? { seq } : {}) })),
        ),
      );
      const started = performance.now();
      const result = await store.store(points);
      const ms = performance.now() - started;
      if (result.stored !== points.length) throw new Error(`round ${r} ${kind}: ${result.stored} of ${points.length} points stored`);
      if (kind === 'seq' && result.receipts.get(groups.seq[0]!) !== r * MESSAGES) throw new Error(`round ${r}: cursor ${result.receipts.get(groups.seq[0]!)}`);
      if (r > WARMUP) times[kind].push(ms);
    }
  }
  const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
  console.log(
    `bench:telemetry-seq — ${scratch ? 'PostgreSQL' : 'PGlite'}, ${DEVICES} devices × ${MESSAGES} messages × 3 points per batch, ${ROUNDS} rounds interleaved`,
  );
  for (const kind of ['plain', 'seq'] as const) {
    console.log(
      `  ${kind === 'plain' ? 'without seq' : 'with seq   '}: median ${median(times[kind]).toFixed(1)} ms, min ${Math.min(...times[kind]).toFixed(1)} ms per batch`,
    );
  }
  console.log(`  with ÷ without (medians): ${(median(times.seq) / median(times.plain)).toFixed(2)}`);
} finally {
  await db.close();
  await dropScratchDatabases();
}
