/**
 * Telemetry ingestion (DESIGN.md §7): parsed messages go into the pure TelemetryBatcher, and batches are
 * written with ONE set-based statement each (`unnest` arrays; points and latest values together). Each
 * message carries a ticket that settles once its batch is stored; the bridge awaits it, so a QoS 1 PUBACK
 * follows the store.
 *
 * Batches grow with load: while one is written, the next fills. Up to `writeConcurrency` batches are
 * written at once (on separate connections with PostgreSQL), but a further writer starts only when the
 * first falls behind (see `shouldStart`). Batches settle in the order they were taken — events and
 * acknowledgements of a later batch wait for the earlier ones — so subscribers see a device's points in
 * arrival order. When the store falls behind and the batcher is full, `ingest` waits for room (bounded
 * by `backpressureTimeoutMs`) instead of queueing without end; while it waits the MQTT message stays
 * unacknowledged, which holds the publisher back.
 */
import type { TelemetryConfig } from '../config.ts';
import type { SqlExecutor } from '../db/client.ts';
import { TelemetryBatcher, type Batch, type DevicePoint } from '../domain/telemetry/batcher.ts';
import { DEFAULT_TELEMETRY_LIMITS, parseTelemetry, type TelemetryErrorCode, type TelemetryLimits } from '../domain/telemetry/message.ts';
import type { EventBus, TelemetryEvent } from '../events/bus.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { ingestRollupSql } from './rollups.ts';

/** Why a telemetry message was not stored. The parser's codes, plus what the pipeline adds. */
export type TelemetryRefusalCode =
  | TelemetryErrorCode
  /** The device does not exist (any more): deleted while its messages were in flight. */
  | 'DEVICE_NOT_FOUND'
  /** No room in the pipeline within `backpressureTimeoutMs`. */
  | 'OVERLOADED'
  /** The service has drained for shutdown. */
  | 'SHUTTING_DOWN';

export type IngestOutcome =
  | { ok: true; /** Distinct (metric, ts) points in the message. */ points: number }
  | { ok: false; code: TelemetryRefusalCode; message: string; path?: string[] };

export interface TelemetryServiceOptions {
  sql: SqlExecutor;
  bus: EventBus;
  logger: Logger;
  metrics: Metrics;
  config: TelemetryConfig;
  /** Largest payload, in bytes (the MQTT payload limit). */
  maxPayloadBytes: number;
  now?: () => number;
  /** Attempts per batch before its messages fail (transient database errors). Default 5. */
  maxWriteAttempts?: number;
}

export const TELEMETRY_POINTS_METRIC = 'doppel_telemetry_points_total';
export const TELEMETRY_BATCHES_METRIC = 'doppel_telemetry_batches_total';
export const TELEMETRY_BACKPRESSURE_METRIC = 'doppel_telemetry_backpressure_waits_total';

interface Ticket {
  deviceId: string;
  points: number;
  resolve(outcome: IngestOutcome): void;
  reject(error: unknown): void;
}

interface DeviceRef {
  uuid: string;
  tenantId: string;
}

const MAX_CACHED_DEVICES = 100_000;

/** How many batch ages a message waits before a further writer starts for it (see `shouldStart`). */
const LATE_WRITE_AGES = 10;

export function createTelemetryService(options: TelemetryServiceOptions) {
  const { sql, bus, logger, metrics, config } = options;
  const now = options.now ?? Date.now;
  const maxWriteAttempts = options.maxWriteAttempts ?? 5;
  const limits: TelemetryLimits = {
    maxBytes: Math.min(options.maxPayloadBytes, config.maxMessageBytes),
    maxDepth: DEFAULT_TELEMETRY_LIMITS.maxDepth,
    maxValuesPerMessage: config.maxValuesPerMessage,
    maxBatchEntries: config.maxBatchEntries,
    maxFutureSkewMs: config.maxFutureSkewMs,
  };
  const batcher = new TelemetryBatcher<Ticket>({
    maxBatchPoints: config.batchMaxPoints,
    maxBatchAgeMs: config.batchMaxAgeMs,
    maxPending: config.maxPendingPoints,
  });
  metrics.describe(TELEMETRY_POINTS_METRIC, 'Telemetry points written, by result (stored, duplicate, dropped: device gone).');
  metrics.describe(TELEMETRY_BATCHES_METRIC, 'Telemetry batch writes, by result.');
  metrics.describe(TELEMETRY_BACKPRESSURE_METRIC, 'Telemetry messages that had to wait for room in the pipeline.');

  // deviceId → store key. Devices can be deleted (and re-registered under a new uuid): the write joins
  // "Device" on the uuid, so a stale entry drops rows instead of failing the statement, and is evicted.
  const devices = new Map<string, DeviceRef>();

  let draining = false;
  let closed = false;
  /** Batches being written. */
  let writing = 0;
  /** Settles batches in take order: resolves when the last batch taken has settled. */
  let settled: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  let timerAt = Infinity;
  const roomWaiters = new Set<() => void>();
  const writeConcurrency = Math.max(1, config.writeConcurrency);

  function clearTimer(): void {
    if (timer) clearTimeout(timer);
    timer = undefined;
    timerAt = Infinity;
  }

  /**
   * Whether to start a write now. The first writer takes a batch when it is due (full, or its oldest
   * message waited `batchMaxAgeMs`). Further writers start only when a whole batch (`batchMaxPoints`)
   * is waiting — the first cannot keep up even with full batches — or when the oldest message has
   * waited `LATE_WRITE_AGES` × `batchMaxAgeMs` (a slow database: overlap writes rather than let
   * messages wait a whole write). Not sooner: the cost of a batch hardly depends on its size but on the
   * devices in it (one latest-value and rollup update per device and metric, one live event per
   * device), so while one write runs, the next batch should grow. Measured (bench:ingest, 10,000 msg/s):
   * a second writer starting after 3 ages halved the batches and cost ≈ 20 % more PostgreSQL CPU.
   */
  function shouldStart(t: number): boolean {
    if (batcher.pendingOffers === 0) return false;
    if (draining) return true;
    if (writing === 0) return batcher.due(t);
    return batcher.pendingPoints >= config.batchMaxPoints || t >= nextStartAt();
  }

  function nextStartAt(): number {
    return batcher.nextDueAt()! + (writing === 0 ? 0 : (LATE_WRITE_AGES - 1) * config.batchMaxAgeMs);
  }

  /** Starts writes while they are due and a writer is free, else sets one timer for when the oldest message comes due. */
  function schedule(): void {
    while (writing < writeConcurrency && shouldStart(now())) {
      clearTimer();
      startWrite(batcher.take()!);
    }
    if (batcher.pendingOffers === 0) return clearTimer();
    if (writing >= writeConcurrency) return; // a finishing write calls schedule() again
    const next = nextStartAt();
    if (timer && timerAt <= next) return;
    clearTimer();
    timerAt = next;
    timer = setTimeout(() => {
      timer = undefined;
      timerAt = Infinity;
      schedule();
    }, Math.max(0, next - now()));
  }

  function startWrite(batch: Batch<Ticket>): void {
    writing++;
    const outcome = storeWithRetry(batch.points).then(
      (result) => ({ ok: true as const, result }),
      (error: unknown) => ({ ok: false as const, error }),
    );
    const previous = settled;
    settled = (async () => {
      const written = await outcome;
      await previous;
      try {
        settleBatch(batch, written);
      } catch (error) {
        logger.error({ err: error }, 'settling a telemetry batch failed');
      } finally {
        writing--;
        schedule();
      }
    })();
  }

  function wakeRoomWaiters(): void {
    for (const wake of [...roomWaiters]) wake();
  }

  function settleBatch(batch: Batch<Ticket>, written: { ok: true; result: StoreResult } | { ok: false; error: unknown }): void {
    batcher.release(batch);
    wakeRoomWaiters();
    if (!written.ok) {
      metrics.inc(TELEMETRY_BATCHES_METRIC, { result: 'failed' });
      logger.error({ err: written.error, points: batch.points.length, messages: batch.tickets.length }, 'telemetry batch could not be stored');
      for (const ticket of batch.tickets) ticket.reject(written.error);
      return;
    }
    const { result } = written;
    metrics.inc(TELEMETRY_BATCHES_METRIC, { result: 'stored' });
    metrics.inc(TELEMETRY_POINTS_METRIC, { result: 'stored' }, result.stored);
    metrics.inc(TELEMETRY_POINTS_METRIC, { result: 'duplicate' }, result.duplicates);
    metrics.inc(TELEMETRY_POINTS_METRIC, { result: 'dropped' }, result.dropped);
    for (const event of result.events) bus.publish('telemetry', event);
    for (const ticket of batch.tickets) {
      ticket.resolve(
        result.missing.has(ticket.deviceId)
          ? { ok: false, code: 'DEVICE_NOT_FOUND', message: `device ${ticket.deviceId} does not exist` }
          : { ok: true, points: ticket.points },
      );
    }
  }

  async function storeWithRetry(points: DevicePoint[]): Promise<StoreResult> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await store(points);
      } catch (error) {
        // Forget what we knew about these devices, so the next attempt resolves them again (a failure
        // is usually transient; stale device knowledge should not outlive it).
        for (const p of points) devices.delete(p.device);
        if (attempt >= maxWriteAttempts || closed) throw error;
        logger.warn({ err: error, attempt }, 'telemetry batch write failed; retrying');
        await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** (attempt - 1), 2000)));
      }
    }
  }

  async function resolveDevices(deviceIds: string[]): Promise<void> {
    const unknown = deviceIds.filter((id) => !devices.has(id));
    if (unknown.length === 0) return;
    const rows = await sql.query<{ id: string; deviceId: string; tenantId: string }>(
      `SELECT id::text AS id, "deviceId", "tenantId" FROM "Device" WHERE "deviceId" = ANY($1::text[])`,
      [unknown],
    );
    for (const row of rows) {
      if (devices.size >= MAX_CACHED_DEVICES) devices.delete(devices.keys().next().value as string);
      devices.set(row.deviceId, { uuid: row.id, tenantId: row.tenantId });
    }
  }

  interface StoreResult {
    stored: number;
    duplicates: number;
    dropped: number;
    /** Device ids whose points were dropped: the device does not exist. */
    missing: Set<string>;
    events: TelemetryEvent[];
  }

  async function store(points: DevicePoint[]): Promise<StoreResult> {
    const deviceIds = [...new Set(points.map((p) => p.device))];
    await resolveDevices(deviceIds);
    let written = await writeRows(points.filter((p) => devices.has(p.device)));
    // Known devices the statement did not find were deleted since we cached them, perhaps registered
    // again under a new uuid: resolve those once more and write their points in a second statement.
    const stale = deviceIds.filter((id) => devices.has(id) && !written.matched.has(devices.get(id)!.uuid));
    if (stale.length > 0) {
      const before = new Map(stale.map((id) => [id, devices.get(id)!.uuid]));
      for (const id of stale) devices.delete(id);
      await resolveDevices(stale);
      const moved = new Set(stale.filter((id) => devices.has(id) && devices.get(id)!.uuid !== before.get(id)));
      if (moved.size > 0) {
        const again = await writeRows(points.filter((p) => moved.has(p.device)));
        written = { matched: new Set([...written.matched, ...again.matched]), duplicates: new Set([...written.duplicates, ...again.duplicates]) };
      }
    }

    const missing = new Set(deviceIds.filter((id) => !devices.has(id) || !written.matched.has(devices.get(id)!.uuid)));
    for (const id of missing) devices.delete(id);
    const at = now();
    const byDevice = new Map<string, TelemetryEvent>();
    let stored = 0;
    let dropped = 0;
    for (const p of points) {
      if (missing.has(p.device)) {
        dropped++;
        continue;
      }
      const ref = devices.get(p.device)!;
      if (written.duplicates.size > 0 && written.duplicates.has(rowKey(ref.uuid, p.metric, p.ts))) continue;
      stored++;
      let event = byDevice.get(p.device);
      if (!event) byDevice.set(p.device, (event = { deviceUuid: ref.uuid, deviceId: p.device, tenantId: ref.tenantId, points: [], at }));
      event.points.push({ metric: p.metric, ts: p.ts, value: p.value, isBool: p.isBool });
    }
    return { stored, duplicates: points.length - stored - dropped, dropped, missing, events: [...byDevice.values()] };
  }

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
  async function writeRows(points: DevicePoint[]): Promise<{ matched: Set<string>; duplicates: Set<string> }> {
    if (points.length === 0) return { matched: new Set(), duplicates: new Set() };
    const slots = new Map<string, number>();
    const deviceSlots: number[] = new Array(points.length);
    const metrics: string[] = new Array(points.length);
    const stamps: number[] = new Array(points.length);
    const values: number[] = new Array(points.length);
    const bools: boolean[] = new Array(points.length);
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
    const uuids = [...slots.keys()].map((id) => devices.get(id)!.uuid);
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

  function waitForRoom(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timeout);
        roomWaiters.delete(wake);
        resolve(true);
      };
      const timeout = setTimeout(() => {
        roomWaiters.delete(wake);
        resolve(false);
      }, ms);
      roomWaiters.add(wake);
    });
  }

  return {
    /**
     * Parses one `devices/{id}/telemetry` payload and stores it. Resolves once the message's points are
     * stored (or refused); rejects only when the store keeps failing.
     */
    async ingest(deviceId: string, payload: string | Uint8Array, receivedAt: number): Promise<IngestOutcome> {
      const parsed = parseTelemetry(payload, receivedAt, limits);
      if (!parsed.ok) {
        const { code, message, path } = parsed.error;
        return { ok: false, code, message, ...(path.length > 0 ? { path } : {}) };
      }
      const deadline = now() + config.backpressureTimeoutMs;
      let waited = false;
      for (;;) {
        if (closed) return { ok: false, code: 'SHUTTING_DOWN', message: 'the server is shutting down' };
        let ticket: Ticket | undefined;
        const stored = new Promise<IngestOutcome>((resolve, reject) => {
          ticket = { deviceId, points: parsed.points.length, resolve, reject };
        });
        if (batcher.offer(deviceId, parsed.points, now(), ticket) === 'accepted') {
          schedule();
          return stored;
        }
        if (!waited) metrics.inc(TELEMETRY_BACKPRESSURE_METRIC);
        waited = true;
        const left = deadline - now();
        if (left <= 0 || !(await waitForRoom(left))) {
          return { ok: false, code: 'OVERLOADED', message: `no room for ${parsed.points.length} points within ${config.backpressureTimeoutMs} ms` };
        }
      }
    },

    /** Writes everything accepted so far, then refuses new messages (graceful shutdown, before the database closes). */
    async drain(): Promise<void> {
      draining = true;
      clearTimer();
      for (;;) {
        if (writing > 0) await settled;
        else if (batcher.pendingOffers > 0) schedule();
        else if (roomWaiters.size > 0) {
          // Messages still waiting for room get it now, and are written by the next round.
          wakeRoomWaiters();
          await new Promise((r) => setImmediate(r));
        } else break;
      }
      closed = true;
    },

    /** Points waiting or being written (for tests and metrics). */
    get pendingPoints(): number {
      return batcher.pendingPoints + batcher.inFlightPoints;
    },
  };
}

/** A PostgreSQL array literal of numbers or booleans (JS prints both as PostgreSQL reads them). */
export function arrayLiteral(items: readonly (number | boolean)[]): string {
  return `{${items.join(',')}}`;
}

/** A PostgreSQL array literal of strings: each element quoted, so none reads as NULL; `"` and `\\` escaped. */
export function textArrayLiteral(items: readonly string[]): string {
  if (items.length === 0) return '{}';
  const escaped = items.some((item) => item.includes('"') || item.includes('\\')) ? items.map((item) => item.replace(/["\\]/g, '\\$&')) : items;
  return `{"${escaped.join('","')}"}`;
}

function rowKey(uuid: string, metric: string, ts: number): string {
  return `${uuid}\u0000${metric}\u0000${ts}`;
}

export type TelemetryService = ReturnType<typeof createTelemetryService>;
