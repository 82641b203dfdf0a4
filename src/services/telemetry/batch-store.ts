/**
 * Stores one batch: resolves its devices, writes it (writer.ts), and works out what became of each
 * point — stored, already there (a replay), dropped because its device is gone, or refused — and the
 * live events for what was stored.
 *
 * Failures (src/domain/faults.ts): a transient one (the database is down, restarting, overloaded) is
 * retried with capped back-off until the write succeeds (store-retry.ts) — the batch's messages stay
 * unacknowledged meanwhile, and the pipeline's bound holds new ones back. A deterministic one is
 * isolated: the batch is split by device and each half written on its own, down to the single
 * devices whose points fail alone; those are refused (`refused`), the other devices' points stored.
 */
import type { DevicePoint } from '../../domain/telemetry/batcher.ts';
import type { TelemetryEvent } from '../../events/bus.ts';
import type { StoreRetry } from '../store-retry.ts';
import type { DeviceResolver } from './device-resolver.ts';
import { isTransientFailure } from '../../domain/faults.ts';
import { rowKey, type TelemetryWriter, type WriteResult } from './writer.ts';

/** What became of a batch's points once it was written. */
export interface StoredBatch {
  /** When the write committed, epoch ms (also each event's `at`). */
  at: number;
  stored: number;
  duplicates: number;
  dropped: number;
  /** Device ids whose points were dropped: the device does not exist. */
  missing: Set<string>;
  /** Points of refused devices (not stored, not counted as dropped). */
  refusedPoints: number;
  /** Device ids whose points were refused: writing them fails deterministically, even alone. The error says why. */
  refused: Map<string, unknown>;
  /** One per device with newly stored points, those points in batch order. Empty when nothing new was stored. */
  events: TelemetryEvent[];
  /**
   * Device id → its receipt cursor once this batch committed (the highest seq such that every seq
   * from 1 up to it is stored), for each device whose points in the batch carried a `seq`, replays
   * included. What `devices/{id}/telemetry/accepted` tells the device.
   */
  receipts: Map<string, number>;
}

export interface BatchStore {
  /**
   * Writes the batch, holding it through transient failures until the database is back; refuses the
   * devices whose points fail deterministically. Rejects only with `UnavailableError`, once the retry
   * has been stopped (shutdown) while the database is unavailable: nothing of the batch was refused.
   */
  store(points: readonly DevicePoint[]): Promise<StoredBatch>;
}

export interface BatchStoreOptions {
  resolver: DeviceResolver;
  writer: TelemetryWriter;
  /** Holds writes through transient failures (shared with nothing else: its outage log says 'telemetry'). */
  retry: StoreRetry;
  now: () => number;
}

export function createBatchStore(options: BatchStoreOptions): BatchStore {
  const { resolver, writer, retry, now } = options;
  const uuidOf = (deviceId: string) => resolver.lookup(deviceId)!.uuid;

  async function storeOnce(points: readonly DevicePoint[]): Promise<StoredBatch> {
    const deviceIds = [...new Set(points.map((p) => p.device))];
    await resolver.resolve(deviceIds);
    let written = await writer.write(
      points.filter((p) => resolver.lookup(p.device)),
      uuidOf,
    );
    // Known devices the statement did not find were deleted since we cached them, perhaps registered
    // again under a new uuid: resolve those once more and write their points in a second statement.
    const stale = deviceIds.filter((id) => resolver.lookup(id) && !written.matched.has(uuidOf(id)));
    if (stale.length > 0) {
      const moved = await resolver.refresh(stale);
      if (moved.size > 0)
        written = merge(
          written,
          await writer.write(
            points.filter((p) => moved.has(p.device)),
            uuidOf,
          ),
        );
    }

    const missing = new Set(deviceIds.filter((id) => !resolver.lookup(id) || !written.matched.has(uuidOf(id))));
    resolver.forget(missing);
    const at = now();
    const byDevice = new Map<string, TelemetryEvent>();
    let stored = 0;
    let dropped = 0;
    for (const p of points) {
      if (missing.has(p.device)) {
        dropped++;
        continue;
      }
      const ref = resolver.lookup(p.device)!;
      if (written.duplicates.size > 0 && written.duplicates.has(rowKey(ref.uuid, p.metric, p.ts))) continue;
      stored++;
      let event = byDevice.get(p.device);
      if (!event) byDevice.set(p.device, (event = { deviceUuid: ref.uuid, deviceId: p.device, tenantId: ref.tenantId, points: [], at }));
      event.points.push({ metric: p.metric, ts: p.ts, value: p.value, isBool: p.isBool });
    }
    const receipts = new Map<string, number>();
    if (written.cursors.size > 0) {
      for (const id of deviceIds) {
        const cursor = missing.has(id) ? undefined : written.cursors.get(uuidOf(id));
        if (cursor !== undefined) receipts.set(id, cursor);
      }
    }
    return {
      at,
      stored,
      duplicates: points.length - stored - dropped,
      dropped,
      refusedPoints: 0,
      missing,
      refused: new Map(),
      events: [...byDevice.values()],
      receipts,
    };
  }

  /** One write held through transient failures; forgets the devices after each, so the next attempt resolves them afresh. */
  function storeHeld(points: readonly DevicePoint[]): Promise<StoredBatch> {
    return retry.run(
      () => storeOnce(points),
      () => resolver.forget(points.map((p) => p.device)),
    );
  }

  /** Writes `points`; on a deterministic failure, writes each half of its devices on its own, down to single devices, which are refused. */
  async function storeIsolating(points: readonly DevicePoint[]): Promise<StoredBatch> {
    try {
      return await storeHeld(points);
    } catch (error) {
      if (isTransientFailure(error)) throw error; // only UnavailableError, at shutdown
      resolver.forget(points.map((p) => p.device));
      const devices = [...new Set(points.map((p) => p.device))];
      if (devices.length === 1) return refusedBatch(devices[0]!, error, points.length);
      const firstHalf = new Set(devices.slice(0, Math.ceil(devices.length / 2)));
      const first = await storeIsolating(points.filter((p) => firstHalf.has(p.device)));
      const second = await storeIsolating(points.filter((p) => !firstHalf.has(p.device)));
      return combine(first, second);
    }
  }

  function refusedBatch(deviceId: string, error: unknown, points: number): StoredBatch {
    return {
      at: now(),
      stored: 0,
      duplicates: 0,
      dropped: 0,
      refusedPoints: points,
      missing: new Set(),
      refused: new Map([[deviceId, error]]),
      events: [],
      receipts: new Map(),
    };
  }

  return { store: storeIsolating };
}

/** Two halves of one batch as if written together (their devices are disjoint). */
function combine(a: StoredBatch, b: StoredBatch): StoredBatch {
  return {
    at: Math.max(a.at, b.at),
    stored: a.stored + b.stored,
    duplicates: a.duplicates + b.duplicates,
    dropped: a.dropped + b.dropped,
    refusedPoints: a.refusedPoints + b.refusedPoints,
    missing: new Set([...a.missing, ...b.missing]),
    refused: new Map([...a.refused, ...b.refused]),
    events: [...a.events, ...b.events].map((e) => ({ ...e, at: Math.max(a.at, b.at) })),
    receipts: new Map([...a.receipts, ...b.receipts]),
  };
}

function merge(a: WriteResult, b: WriteResult): WriteResult {
  return {
    matched: new Set([...a.matched, ...b.matched]),
    duplicates: new Set([...a.duplicates, ...b.duplicates]),
    cursors: new Map([...a.cursors, ...b.cursors]),
  };
}
