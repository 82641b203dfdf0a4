/**
 * `npm run bench:tombstones` — what churned twin keys cost a device's later reports.
 *
 * One device reports N add/delete pairs of distinct keys (`{kI: I}` then `{kI: null}`, device `ts`
 * rising by 1 ms per report) through the real twin service (loader, reducer, writer) on a migrated
 * database, one report at a time, as a device awaiting each reply would. It runs twice: with the window
 * large (every tombstone kept: the behaviour before collection) and with window 0 (a tombstone is
 * forgotten at the next write). It prints the mean cost of a report over the first and the last pairs,
 * and the ratios; no thresholds.
 *
 *   npm run bench:tombstones                    # 5,000 pairs, first/last 200 pairs, PGlite in memory
 *   npm run bench:tombstones -- --pairs 2000 --sample 100
 *   BENCH_DATABASE_URL=postgres://… npm run bench:tombstones -- --mode postgres
 */
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.ts';
import { openDatabase, type Database } from '../src/db/client.ts';
import { applyMigrations } from '../src/db/migrate.ts';
import type { TwinLimits } from '../src/domain/twin.ts';
import { createEventBus } from '../src/events/bus.ts';
import { createLogger } from '../src/logger.ts';
import { Metrics } from '../src/metrics.ts';
import { MIGRATIONS_DIR } from '../src/server.ts';
import { createAuditLog } from '../src/services/audit.ts';
import { createDomainHooks } from '../src/services/hooks.ts';
import { createTwinService } from '../src/services/twins/index.ts';
import { commitId, createScratchDatabase, num } from './lib/common.ts';
import { fmt, markdownTable } from './lib/stats.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const YEAR_MS = 365 * 24 * 3600_000;

const { values: args } = parseArgs({
  options: {
    pairs: { type: 'string', default: '5000' },
    sample: { type: 'string', default: '200' },
    mode: { type: 'string', default: 'pglite' },
  },
});
const pairs = num('pairs', args.pairs, 2, 1_000_000);
const sample = Math.min(num('sample', args.sample, 1, 1_000_000), Math.floor(pairs / 2));

interface Variant {
  name: string;
  tombstoneTtlMs: number;
}
const VARIANTS: Variant[] = [
  { name: 'window large (tombstones kept)', tombstoneTtlMs: YEAR_MS },
  { name: 'window 0 (collected)', tombstoneTtlMs: 0 },
];

interface Run {
  variant: Variant;
  /** Mean ms per report over the first `sample` pairs and the last `sample` pairs. */
  startMs: number;
  endMs: number;
  totalS: number;
  metaEntries: number;
  metaBytes: number;
}

async function openBenchDatabase(): Promise<{ db: Database; close: () => Promise<void> }> {
  let url = 'memory://';
  let drop = async () => {};
  if (args.mode === 'postgres') {
    const admin = process.env.BENCH_DATABASE_URL;
    if (!admin) throw new Error('--mode postgres needs BENCH_DATABASE_URL');
    const scratch = await createScratchDatabase(admin, 'tombstones');
    url = scratch.url;
    drop = scratch.drop;
  }
  const db = await openDatabase(loadConfig({ DATABASE_URL: url }).database);
  await applyMigrations(db, { migrationsDir: MIGRATIONS_DIR });
  return {
    db,
    async close() {
      await db.close();
      await drop();
    },
  };
}

async function runVariant(db: Database, variant: Variant, pairs: number): Promise<Run> {
  const logger = createLogger('silent');
  const limits: TwinLimits = { ...loadConfig({}).twinLimits, tombstoneTtlMs: variant.tombstoneTtlMs, maxMetadataEntries: 1_000_000 };
  const metrics = new Metrics();
  const twins = createTwinService({
    sql: db.sql,
    bus: createEventBus(),
    metrics,
    hooks: createDomainHooks({ logger, metrics }),
    audit: createAuditLog({ prisma: db.prisma, logger }),
    limits,
    logger,
  });
  const deviceId = `bench-${variant.tombstoneTtlMs}-${pairs}-${Date.now()}`;
  const device = await db.prisma.device.create({ data: { deviceId, secretHash: 'x', twin: { create: {} } }, select: { id: true } });

  const t0 = Date.now() - 2 * pairs;
  const pairMs: number[] = [];
  const started = performance.now();
  for (let i = 0; i < pairs; i++) {
    const before = performance.now();
    for (const [patch, ts] of [
      [{ [`k${i}`]: i }, t0 + 2 * i],
      [{ [`k${i}`]: null }, t0 + 2 * i + 1],
    ] as const) {
      const outcome = await twins.applyPatch({ deviceId, section: 'reported', patch, ts, source: 'device' });
      if (!outcome.ok) throw new Error(`report ${i} refused: ${outcome.error.message}`);
    }
    pairMs.push(performance.now() - before);
  }
  const totalS = (performance.now() - started) / 1000;
  await twins.drain();
  const row = await db.prisma.twin.findUniqueOrThrow({ where: { deviceId: device.id }, select: { reported: true, reportedMeta: true } });
  if (JSON.stringify(row.reported) !== '{}') throw new Error('reported is not empty at the end');
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length / 2; // per report: two reports a pair
  return {
    variant,
    startMs: mean(pairMs.slice(0, Math.min(sample, Math.floor(pairs / 2)))),
    endMs: mean(pairMs.slice(-Math.min(sample, Math.floor(pairs / 2)))),
    totalS,
    metaEntries: Object.keys(row.reportedMeta as object).length,
    metaBytes: Buffer.byteLength(JSON.stringify(row.reportedMeta)),
  };
}

const { db, close } = await openBenchDatabase();
const runs: Run[] = [];
try {
  // Untimed: JIT, the database's caches and the Prisma client warm up before either variant is measured.
  await runVariant(db, VARIANTS[0]!, Math.min(pairs, 200));
  for (const variant of VARIANTS) runs.push(await runVariant(db, variant, pairs));
} finally {
  await close();
}

const [kept, collected] = runs as [Run, Run];
console.log(
  `bench:tombstones — ${new Date().toISOString()} — commit ${commitId(ROOT)} — node ${process.version} — ${os.cpus().length} cores — ${args.mode} — ` +
    `${pairs.toLocaleString('en-US')} add/delete pairs of distinct keys, one device, one report at a time; start/end = mean over the first/last ${sample} pairs`,
);
console.log();
console.log(
  markdownTable(
    ['variant', 'ms/report at start', 'ms/report at end', 'end ÷ start', 'total s', 'metadata entries at end', 'metadata bytes at end'],
    runs.map((r) => [
      r.variant.name,
      fmt(r.startMs, 2),
      fmt(r.endMs, 2),
      `${fmt(r.endMs / r.startMs, 2)}×`,
      fmt(r.totalS, 1),
      r.metaEntries.toLocaleString('en-US'),
      r.metaBytes.toLocaleString('en-US'),
    ]),
  ),
);
console.log();
console.log(`at the end, kept ÷ collected: ${fmt(kept.endMs / collected.endMs, 2)}× per report`);
