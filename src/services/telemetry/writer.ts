/**
 * The write of one batch: ONE set-based statement (points, latest values, 15-minute rollups and, when
 * the batch carries `seq`s, the receipt cursors together), plus — only when the device cache went stale — a second one for the devices that moved
 * (see src/services/telemetry/batch-store.ts). The statement is tuned (bench:ingest); change it only
 * with measurements.
 */
import type { SqlExecutor } from '../../db/client.ts';
import type { DevicePoint } from '../../domain/telemetry/batcher.ts';
import {
  DEVICE_FACTS_SQL,
  ENDPOINT_MATCH_SQL,
  eventsWrittenSql,
  eventTypeSql,
  isoTimestampSql,
  webhookFanoutCte,
  type EventsWrittenCounter,
} from '../outbox/fanout.ts';
import { ingestRollupSql } from '../rollups.ts';
import { arrayLiteral, textArrayLiteral } from './sql-arrays.ts';

/** What one statement reports: usually nothing, so both sets are usually small. */
export interface WriteResult {
  /** Uuids of the devices the statement found (and locked); points of the others were dropped. */
  matched: Set<string>;
  /** `rowKey`s of points that were already stored (replays, duplicates). */
  duplicates: Set<string>;
  /**
   * Device uuid → its receipt cursor as committed by this statement (the highest seq such that every
   * seq from 1 up to it is stored), for each found device with a seq-bearing point in the batch.
   */
  cursors: Map<string, number>;
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

/**
 * The receipt cursors, as CTEs of the batch statement (docs/telemetry.md "Receipts"). Per device with
 * seqs in `input` (only devices the statement locked): its cursor `c` (0 when it has none) and its
 * pending seqs above `c` are the state; the batch's seqs above `c` join the pending ones, and the
 * cursor advances over the run that continues it (gaps and islands: in a run of consecutive seqs,
 * seq − row_number() is constant, and the run that continues `c` is the one where it equals `c`). The
 * pending rows at or below the new cursor are deleted, the batch's seqs above it inserted. A seq at or
 * below `c` is a replay and changes nothing. A seq 1 while `c` > 1 starts a new sequence (the device
 * lost its counter): the base is 0 and the old pending seqs are dropped.
 *
 * In the same statement as the points, so a cursor never covers a seq whose points are not committed
 * with it or before it. It reads the cursor and the pending seqs from the statement's snapshot: two
 * batches of one device committing concurrently (two instances, or two writes in flight on one) each
 * miss the other's seqs, so the cursor may lag behind what is stored until the device's next message
 * (or its resend) is written; it never claims more. GREATEST keeps the later of two such claims, both
 * true, instead of letting the one that commits second move the cursor back; a new sequence bumps
 * the cursor's `generation`, so a claim about the old sequence that commits after it is ignored. The
 * cursor row is written in device order, like every other table here. Every step is a join or a
 * window over the whole batch, never a lookup per device (those made the statement 3× slower).
 */
const RECEIPT_CURSOR_CTES = `, seq_input AS (
         SELECT DISTINCT device_id, seq FROM input WHERE seq >= 1
       ), seq_base AS (
         SELECT s.device_id, c.generation,
                coalesce(c.seq, 0) > 1 AND bool_or(s.seq = 1) AS restarted,
                CASE WHEN coalesce(c.seq, 0) > 1 AND bool_or(s.seq = 1) THEN 0 ELSE coalesce(c.seq, 0) END AS base
           FROM seq_input s LEFT JOIN "TelemetrySeqCursor" c ON c."deviceId" = s.device_id
          GROUP BY s.device_id, c.seq, c.generation
       ), seq_candidate AS (
         SELECT s.device_id, s.seq FROM seq_input s JOIN seq_base b ON b.device_id = s.device_id WHERE s.seq > b.base
         UNION
         SELECT p."deviceId", p.seq FROM "TelemetrySeqPending" p JOIN seq_base b ON b.device_id = p."deviceId" WHERE NOT b.restarted AND p.seq > b.base
       ), seq_island AS (
         SELECT device_id, seq, seq - row_number() OVER (PARTITION BY device_id ORDER BY seq) AS island FROM seq_candidate
       ), seq_advanced AS (
         SELECT b.device_id, b.restarted, coalesce(b.generation, 0) + CASE WHEN b.restarted THEN 1 ELSE 0 END AS generation,
                coalesce(max(i.seq), b.base) AS cursor
           FROM seq_base b LEFT JOIN seq_island i ON i.device_id = b.device_id AND i.island = b.base
          GROUP BY b.device_id, b.restarted, b.generation, b.base
       ), cursor_upsert AS (
         INSERT INTO "TelemetrySeqCursor" ("deviceId", seq, generation)
         SELECT device_id, cursor, generation FROM seq_advanced
          ORDER BY device_id
         ON CONFLICT ("deviceId") DO UPDATE
           SET seq = CASE WHEN EXCLUDED.generation > "TelemetrySeqCursor".generation THEN EXCLUDED.seq
                          WHEN EXCLUDED.generation = "TelemetrySeqCursor".generation THEN GREATEST("TelemetrySeqCursor".seq, EXCLUDED.seq)
                          ELSE "TelemetrySeqCursor".seq END,
               generation = GREATEST("TelemetrySeqCursor".generation, EXCLUDED.generation)
         RETURNING "deviceId", seq
       ), pending_insert AS (
         INSERT INTO "TelemetrySeqPending" ("deviceId", seq)
         SELECT s.device_id, s.seq FROM seq_input s JOIN seq_advanced a ON a.device_id = s.device_id
          WHERE s.seq > a.cursor
          ORDER BY s.device_id, s.seq
         ON CONFLICT ("deviceId", seq) DO NOTHING
       ), pending_delete AS (
         -- Never a row this statement inserts: a row deleted and inserted by one statement is undefined.
         DELETE FROM "TelemetrySeqPending" p USING seq_advanced a
          WHERE p."deviceId" = a.device_id
            AND (p.seq <= a.cursor OR a.restarted)
            AND NOT (p.seq > a.cursor AND EXISTS (SELECT 1 FROM seq_input s WHERE s.device_id = a.device_id AND s.seq = p.seq))
       )`;

/**
 * The `telemetry.stored` fan-out, as CTEs of the batch statement (appended only while an endpoint
 * subscribes: see {@link TelemetryWriterOptions.eventsWanted}). One event per device per batch over
 * `inserted`, so points already stored (replays, duplicates) send nothing. The devices are matched
 * against the endpoints first, one row each, and only the points of devices some endpoint wants are
 * aggregated into JSON: an endpoint filtered to a few devices costs the batch little for the others.
 */
const TELEMETRY_EVENT_CTES = `, telemetry_wanted AS (
         SELECT e.* FROM (
           SELECT ${DEVICE_FACTS_SQL}, ${eventTypeSql('telemetry.stored')} AS type
             FROM "Device" d
             LEFT JOIN "DeviceModel" m ON m.id = d."modelId"
            WHERE d.id IN (SELECT "deviceId" FROM inserted)
         ) AS e
          WHERE EXISTS (SELECT 1 FROM "WebhookEndpoint" w WHERE ${ENDPOINT_MATCH_SQL})
       ), ${webhookFanoutCte(
         'telemetry_events',
         `SELECT gen_random_uuid() AS event_id, e.tenant_id, e.device_key, e.device_id, e.device_tags, e.model_name, e.type, now() AS occurred_at,
                  jsonb_build_object('deviceId', e.device_id, 'points', jsonb_agg(jsonb_build_object(
                    'metric', x.metric, 'ts', ${isoTimestampSql('x.ts')},
                    'value', CASE WHEN x."isBool" THEN to_jsonb(x.value <> 0) ELSE to_jsonb(x.value) END) ORDER BY x.metric, x.ts)) AS data,
                  0 AS ord
             FROM telemetry_wanted e
             JOIN inserted x ON x."deviceId" = e.device_key
            GROUP BY e.tenant_id, e.device_key, e.device_id, e.device_tags, e.model_name, e.type`,
       )}`;

export interface TelemetryWriterOptions {
  /**
   * Whether to append the `telemetry.stored` fan-out to the statement. Normally a cached "does any
   * endpoint subscribe?" (src/services/outbox/fanout-subscribed.ts); unset, never.
   */
  eventsWanted?: () => Promise<boolean>;
  /** Counts the events the statement wrote. */
  countEvents?: EventsWrittenCounter;
}

export function createTelemetryWriter(sql: SqlExecutor, options: TelemetryWriterOptions = {}): TelemetryWriter {
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
    if (points.length === 0) return { matched: new Set(), duplicates: new Set(), cursors: new Map() };
    const slots = new Map<string, number>();
    const deviceSlots = new Array<number>(points.length);
    const metrics = new Array<string>(points.length);
    const stamps = new Array<number>(points.length);
    const values = new Array<number>(points.length);
    const bools = new Array<boolean>(points.length);
    // Allocated at the first seq: a batch without any runs exactly the statement it ran before seqs.
    let seqs: Array<number | 'NULL'> | undefined;
    for (let i = 0; i < points.length; i++) {
      const p = points[i]!;
      let slot = slots.get(p.device);
      if (slot === undefined) slots.set(p.device, (slot = slots.size + 1));
      deviceSlots[i] = slot;
      metrics[i] = p.metric;
      stamps[i] = p.ts;
      values[i] = p.value;
      bools[i] = p.isBool;
      if (p.seq !== undefined) (seqs ??= new Array<number | 'NULL'>(points.length).fill('NULL'))[i] = p.seq;
    }
    const uuids = [...slots.keys()].map(uuidOf);
    const events = (await options.eventsWanted?.()) === true;
    const rows = await sql.query<{ kind: string; device: string; metric: string | null; ts: string | null }>(
      `WITH device AS (
         SELECT d.id FROM "Device" d WHERE d.id = ANY($1::uuid[]) FOR KEY SHARE
       ), input AS (
         SELECT * FROM (
           SELECT ($1::uuid[])[i.slot] AS device_id, i.metric, i.ts_ms, timestamptz 'epoch' + i.ts_ms * interval '1 millisecond' AS ts, i.value, i.is_bool${seqs ? ', i.seq' : ''}
             FROM unnest($2::int[], $3::text[], $4::bigint[], $5::float8[], $6::bool[]${seqs ? ', $7::bigint[]' : ''}) AS i(slot, metric, ts_ms, value, is_bool${seqs ? ', seq' : ''})
         ) AS raw
          WHERE raw.device_id IN (SELECT id FROM device)
       ), inserted AS (
         INSERT INTO "TelemetryPoint" ("deviceId", metric, ts, value, "isBool"${seqs ? ', seq' : ''})
         SELECT device_id, metric, ts, value, is_bool${seqs ? ', seq' : ''} FROM input
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
       )${seqs ? RECEIPT_CURSOR_CTES : ''}${events ? TELEMETRY_EVENT_CTES : ''} ${ingestRollupSql('inserted')}
       SELECT 'x' AS kind, u.id::text AS device, NULL::text AS metric, NULL::text AS ts
         FROM unnest($1::uuid[]) AS u(id)
        WHERE NOT EXISTS (SELECT 1 FROM device d WHERE d.id = u.id)
       UNION ALL
       SELECT 'd', i.device_id::text, i.metric, i.ts_ms::text
         FROM input i
        WHERE (SELECT count(*) FROM inserted) < (SELECT count(*) FROM input)
          AND NOT EXISTS (SELECT 1 FROM inserted x WHERE x."deviceId" = i.device_id AND x.metric = i.metric AND x.ts = i.ts)${
            seqs
              ? `
       UNION ALL
       SELECT 'c', c."deviceId"::text, NULL, c.seq::text FROM cursor_upsert c`
              : ''
          }${
            events
              ? `
       UNION ALL
       SELECT 'e', NULL, NULL, ${eventsWrittenSql('telemetry_events')}::text`
              : ''
          }`,
      [
        textArrayLiteral(uuids),
        arrayLiteral(deviceSlots),
        textArrayLiteral(metrics),
        arrayLiteral(stamps),
        arrayLiteral(values),
        arrayLiteral(bools),
        ...(seqs ? [`{${seqs.join(',')}}`] : []),
      ],
    );
    const matched = new Set(uuids);
    const duplicates = new Set<string>();
    const cursors = new Map<string, number>();
    for (const row of rows) {
      if (row.kind === 'x') matched.delete(row.device);
      else if (row.kind === 'c') cursors.set(row.device, Number(row.ts));
      else if (row.kind === 'e') options.countEvents?.('telemetry.stored', Number(row.ts));
      else duplicates.add(rowKey(row.device, row.metric!, Number(row.ts)));
    }
    return { matched, duplicates, cursors };
  }

  return { write: writeRows };
}
