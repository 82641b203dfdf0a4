/**
 * The write of one batch: ONE set-based statement (points, latest values and 15-minute rollups
 * together), plus — only when the device cache went stale — a second one for the devices that moved
 * (see src/services/telemetry/batch-store.ts). The statement is tuned (bench:ingest); change it only
 * with measurements.
 */
import type { SqlExecutor } from '../../db/client.ts';
import type { DevicePoint } from '../../domain/telemetry/batcher.ts';
import { ingestRollupSql } from '../rollups.ts';
import { arrayLiteral, textArrayLiteral } from './sql-arrays.ts';

/** What one statement reports: usually nothing, so both sets are usually small. */
export interface WriteResult {
  /** Uuids of the devices the statement found (and locked); points of the others were dropped. */
  matched: Set<string>;
  /** `rowKey`s of points that were already stored (replays, duplicates). */
  duplicates: Set<string>;
}

export interface TelemetryWriter {
  /**
   * Writes `points` in one statement. `uuidOf` maps each point's device id to the uuid to write it
   * under (the caller resolved them all). Throws what the database throws; nothing is stored then.
   */
  write(points: readonly DevicePoint[], uuidOf: (deviceId: string) => string): Promise<WriteResult>;
}

/** The key of a stored point as `WriteResult.duplicates` holds it. */
export function rowKey(uuid: string, metric: string, ts: number): string {
  return `${uuid}\u0000${metric}\u0000${ts}`;
}

export function createTelemetryWriter(sql: SqlExecutor): TelemetryWriter {
  /**
   * The one statement per batch: inserts the points (replays hit the key and store nothing), moves the
   * latest values forward and folds into the 15-minute rollups (src/services/rollups.ts) only what was
   * inserted. Every table is written in key order, so batches written concurrently (by this instance or
   * another) cannot deadlock each other.
   *
   * "TelemetryPoint" has no foreign key to "Device": the per-row check cost ≈ 7 % of the statement. The
   * statement locks its devices instead, once per device (FOR KEY SHARE, what the check took per row),
   * and writes only the points of devices it locked, so a device deleted meanwhile drops its points
   * instead of failing the batch; a delete waits for the lock, then removes the device's points
   * (devices.ts), so no point outlives its device.
   *
   * It answers with the exceptions only — devices it did not find, and points that were already stored
   * (looked for only when fewer rows went in than came) — which are usually none: returning every
   * inserted row cost the server a parsed result row, a key string and a set entry per point.
   *
   * Parameters are array literals built here rather than JS arrays: node-postgres escapes and quotes
   * every element of an array parameter, a string per point and column. Devices go once each, points
   * refer to them by position (uuid is fixed-width, so the subscript is a direct offset).
   */
  async function writeRows(points: readonly DevicePoint[], uuidOf: (deviceId: string) => string): Promise<WriteResult> {
    if (points.length === 0) return { matched: new Set(), duplicates: new Set() };
    const slots = new Map<string, number>();
    const deviceSlots = new Array<number>(points.length);
    const metrics = new Array<string>(points.length);
    const stamps = new Array<number>(points.length);
    const values = new Array<number>(points.length);
    const bools = new Array<boolean>(points.length);
    for (let i = 0; i < points.length; i++) {
      const p = points[i]!;
      let slot = slots.get(p.device);
      if (slot === undefined) slots.set(p.device, (slot = slots.size + 1));
      deviceSlots[i] = slot;
      metrics[i] = p.metric;
      stamps[i] = p.ts;
      values[i] = p.value;
      bools[i] = p.isBool;
    }
    const uuids = [...slots.keys()].map(uuidOf);
    const rows = await sql.query<{ kind: string; device: string; metric: string | null; ts: string | null }>(
      `WITH device AS (
         SELECT d.id FROM "Device" d WHERE d.id = ANY($1::uuid[]) FOR KEY SHARE
       ), input AS (
         SELECT * FROM (
           SELECT ($1::uuid[])[i.slot] AS device_id, i.metric, i.ts_ms, timestamptz 'epoch' + i.ts_ms * interval '1 millisecond' AS ts, i.value, i.is_bool
             FROM unnest($2::int[], $3::text[], $4::bigint[], $5::float8[], $6::bool[]) AS i(slot, metric, ts_ms, value, is_bool)
         ) AS raw
          WHERE raw.device_id IN (SELECT id FROM device)
       ), inserted AS (
         INSERT INTO "TelemetryPoint" ("deviceId", metric, ts, value, "isBool")
         SELECT device_id, metric, ts, value, is_bool FROM input
          ORDER BY device_id, metric, ts
         ON CONFLICT ("deviceId", metric, ts) DO NOTHING
         RETURNING "deviceId", metric, ts, value, "isBool"
       ), newest AS (
         SELECT DISTINCT ON ("deviceId", metric) "deviceId", metric, ts, value, "isBool"
           FROM inserted
          ORDER BY "deviceId", metric, ts DESC
       ), latest AS (
         INSERT INTO "TelemetryLatest" ("deviceId", metric, ts, value, "isBool")
         SELECT "deviceId", metric, ts, value, "isBool" FROM newest
          ORDER BY "deviceId", metric
         ON CONFLICT ("deviceId", metric) DO UPDATE
           SET ts = EXCLUDED.ts, value = EXCLUDED.value, "isBool" = EXCLUDED."isBool"
           WHERE "TelemetryLatest".ts < EXCLUDED.ts
       ) ${ingestRollupSql('inserted')}
       SELECT 'x' AS kind, u.id::text AS device, NULL::text AS metric, NULL::text AS ts
         FROM unnest($1::uuid[]) AS u(id)
        WHERE NOT EXISTS (SELECT 1 FROM device d WHERE d.id = u.id)
       UNION ALL
       SELECT 'd', i.device_id::text, i.metric, i.ts_ms::text
         FROM input i
        WHERE (SELECT count(*) FROM inserted) < (SELECT count(*) FROM input)
          AND NOT EXISTS (SELECT 1 FROM inserted x WHERE x."deviceId" = i.device_id AND x.metric = i.metric AND x.ts = i.ts)`,
      [textArrayLiteral(uuids), arrayLiteral(deviceSlots), textArrayLiteral(metrics), arrayLiteral(stamps), arrayLiteral(values), arrayLiteral(bools)],
    );
    const matched = new Set(uuids);
    const duplicates = new Set<string>();
    for (const row of rows) {
      if (row.kind === 'x') matched.delete(row.device);
      else duplicates.add(rowKey(row.device, row.metric!, Number(row.ts)));
    }
    return { matched, duplicates };
  }

  return { write: writeRows };
}
