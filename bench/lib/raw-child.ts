/**
 * The raw baseline, in its own process: plain SQL applying the same kind of patches to the same number
 * of twins, through the same driver the server uses (`openDatabase(...).sql`: a 10-connection `pg`
 * pool, or one in-process PGlite), closed loop with the same number of concurrent "devices".
 *
 * Variants (all return the new version, as the server must to answer `accepted`):
 * - `row`: the statement, one per report —
 *   `UPDATE "Twin" SET reported = reported || $1, version = version + 1 WHERE "deviceId" = $2`.
 * - `row+log`: the same plus the change-log row Doppel also writes (docs/twins.md), in one statement.
 * - `set+log`: set-based, one statement per batch (update all twins + insert all change rows from
 *   `unnest` arrays), one batch at a time, each batch taking every report queued while the previous
 *   one ran — Doppel's own write shape without its SELECT, reducer and metadata.
 *
 * What none of them do that Doppel does: MQTT, per-leaf timestamps/metadata and delta, the revision
 * guard, events and subscriptions. That gap is the point of the comparison.
 */
import { performance } from 'node:perf_hooks';
import type { DatabaseConfig } from '../../src/config.ts';
import { openDatabase, type Database } from '../../src/db/client.ts';
import { applyMigrations } from '../../src/db/migrate.ts';
import { MIGRATIONS_DIR } from '../../src/server.ts';
import { emitEvent, serveRpc } from './rpc.ts';
import { percentiles, Samples } from './stats.ts';

export type RawVariant = 'row' | 'row+log' | 'set+log';

export interface RawRunParams {
  variant: RawVariant;
  /** Concurrent closed-loop writers (one per device). */
  concurrency: number;
  warmupMs: number;
  measureMs: number;
}

export interface RawResult {
  variant: RawVariant;
  windowSeconds: number;
  updatesInWindow: number;
  p50: number;
  p99: number;
  cpuSeconds: number;
  peakRss: number;
  /** Statements per second in the window (equals updates/s except for set+log). */
  statementsPerSecond: number;
}

const ROW = `UPDATE "Twin" SET reported = reported || $1::jsonb, version = version + 1 WHERE "deviceId" = $2::uuid RETURNING version`;

const ROW_LOG = `WITH u AS (
    UPDATE "Twin" SET reported = reported || $1::jsonb, version = version + 1, "updatedAt" = now()
     WHERE "deviceId" = $2::uuid RETURNING "deviceId", version)
  INSERT INTO "TwinChange" ("deviceId", version, section, patch, source, actor, "createdAt")
  SELECT "deviceId", version, 'reported', $1::jsonb, 'device', $3, now() FROM u
  RETURNING version`;

const SET_LOG = `WITH input AS (
    SELECT * FROM unnest($1::uuid[], $2::jsonb[], $3::text[]) AS i(device_uuid, patch, actor)
  ), u AS (
    UPDATE "Twin" t SET reported = t.reported || i.patch, version = t.version + 1, "updatedAt" = now()
      FROM input i WHERE t."deviceId" = i.device_uuid
    RETURNING t."deviceId", t.version
  ), logged AS (
    INSERT INTO "TwinChange" ("deviceId", version, section, patch, source, actor, "createdAt")
    SELECT u."deviceId", u.version, 'reported', i.patch, 'device', i.actor, now() FROM u JOIN input i ON i.device_uuid = u."deviceId"
  )
  SELECT "deviceId" AS device_uuid, version FROM u`;

let db: Database | undefined;
let twins: Array<{ id: string; deviceId: string; seq: number }> = [];
let peakRss = 0;
setInterval(() => {
  const rss = process.memoryUsage.rss();
  if (rss > peakRss) peakRss = rss;
}, 50).unref();

function nextPatch(twin: { seq: number }): string {
  const seq = ++twin.seq;
  const now = performance.now();
  return JSON.stringify({ seq, t: Math.round(now * 1000) / 1000, temp: 20 + (seq % 97) / 10, rssi: -50 - (seq % 13) });
}

serveRpc({
  async setup({ database, devices }: { database: DatabaseConfig; devices: number }): Promise<{ twins: number }> {
    db = await openDatabase(database);
    await applyMigrations(db, { migrationsDir: MIGRATIONS_DIR });
    const rows = await db.sql.query<{ id: string; deviceId: string }>(
      `INSERT INTO "Device" (id, "deviceId", "secretHash", "updatedAt")
       SELECT gen_random_uuid(), 'raw-' || g, 'sha256:unused', now() FROM generate_series(1, $1::int) g
       RETURNING id, "deviceId"`,
      [devices],
    );
    await db.sql.query(`INSERT INTO "Twin" ("deviceId") SELECT id FROM "Device"`);
    twins = rows.map((r) => ({ id: r.id, deviceId: r.deviceId, seq: 0 }));
    return { twins: twins.length };
  },

  async run(params: RawRunParams): Promise<RawResult> {
    const sql = db!.sql;
    const t0 = performance.now();
    const windowStart = t0 + params.warmupMs;
    const windowEnd = windowStart + params.measureMs;
    const latencies = new Samples();
    let updates = 0;
    let statements = 0;
    let cpuStart = process.cpuUsage();
    let cpuTaken = false;
    const tick = (now: number) => {
      if (!cpuTaken && now >= windowStart) {
        cpuStart = process.cpuUsage();
        peakRss = process.memoryUsage.rss();
        cpuTaken = true;
        emitEvent('window-start');
      }
    };
    const writers = twins.slice(0, Math.min(params.concurrency, twins.length));

    if (params.variant === 'set+log') {
      // Closed loop through one serial batcher: a writer's next report joins the batch after the one
      // its previous report was in.
      let queue = writers.map((w) => ({ w, patch: nextPatch(w), sentAt: performance.now() }));
      while (performance.now() < windowEnd) {
        const batch = queue;
        queue = [];
        const started = performance.now();
        tick(started);
        const rows = await sql.query<{ device_uuid: string; version: number }>(SET_LOG, [
          batch.map((b) => b.w.id),
          batch.map((b) => b.patch),
          batch.map((b) => `device:${b.w.deviceId}`),
        ]);
        if (rows.length !== batch.length) throw new Error(`set+log updated ${rows.length} of ${batch.length} twins`);
        const done = performance.now();
        if (done >= windowStart && done < windowEnd) {
          updates += batch.length;
          statements++;
        }
        for (const b of batch) {
          if (b.sentAt >= windowStart && b.sentAt < windowEnd) latencies.push(done - b.sentAt);
          queue.push({ w: b.w, patch: nextPatch(b.w), sentAt: performance.now() });
        }
      }
    } else {
      const text = params.variant === 'row' ? ROW : ROW_LOG;
      await Promise.all(
        writers.map(async (w) => {
          while (performance.now() < windowEnd) {
            const patch = nextPatch(w);
            const sentAt = performance.now();
            tick(sentAt);
            const rows = await sql.query<{ version: number }>(text, params.variant === 'row' ? [patch, w.id] : [patch, w.id, `device:${w.deviceId}`]);
            if (rows.length !== 1) throw new Error(`${params.variant} updated ${rows.length} twins`);
            const done = performance.now();
            if (done >= windowStart && done < windowEnd) {
              updates++;
              statements++;
            }
            if (sentAt >= windowStart && sentAt < windowEnd) latencies.push(done - sentAt);
          }
        }),
      );
    }
    const cpu = process.cpuUsage(cpuStart);
    emitEvent('window-end');
    const seconds = params.measureMs / 1000;
    const [p50, p99] = percentiles(latencies.toArray(), [50, 99]);
    return {
      variant: params.variant,
      windowSeconds: seconds,
      updatesInWindow: updates,
      p50: p50!,
      p99: p99!,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      peakRss,
      statementsPerSecond: statements / seconds,
    };
  },

  async close(): Promise<null> {
    await db?.close();
    setTimeout(() => process.exit(0), 50);
    return null;
  },
});
