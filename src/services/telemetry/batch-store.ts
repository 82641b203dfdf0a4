/**
 * Stores one batch: resolves its devices, writes it (writer.ts), and works out what became of each
 * point — stored, already there (a replay), or dropped because its device is gone — and the live
 * events for what was stored. A failed write is retried with backoff; the batch is given up on only
 * after `maxWriteAttempts`.
 */
import type { DevicePoint } from '../../domain/telemetry/batcher.ts';
import type { TelemetryEvent } from '../../events/bus.ts';
import type { Logger } from '../../logger.ts';
import type { DeviceResolver } from './device-resolver.ts';
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
  /** One per device with newly stored points, those points in batch order. Empty when nothing new was stored. */
  events: TelemetryEvent[];
}

export interface BatchStore {
  /** Writes the batch, retrying transient failures; rejects with the last error once attempts run out. */
  store(points: readonly DevicePoint[]): Promise<StoredBatch>;
}

export interface BatchStoreOptions {
  resolver: DeviceResolver;
  writer: TelemetryWriter;
  logger: Logger;
  now: () => number;
  /** Attempts per batch before its messages fail. */
  maxWriteAttempts: number;
}

export function createBatchStore(options: BatchStoreOptions): BatchStore {
  const { resolver, writer, logger, now, maxWriteAttempts } = options;
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
    return { at, stored, duplicates: points.length - stored - dropped, dropped, missing, events: [...byDevice.values()] };
  }

  return {
    async store(points) {
      for (let attempt = 1; ; attempt++) {
        try {
          return await storeOnce(points);
        } catch (error) {
          // Forget what we knew about these devices, so the next attempt resolves them again (a failure
          // is usually transient; stale device knowledge should not outlive it).
          resolver.forget(points.map((p) => p.device));
          if (attempt >= maxWriteAttempts) throw error;
          logger.warn({ err: error, attempt }, 'telemetry batch write failed; retrying');
          await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** (attempt - 1), 2000)));
        }
      }
    },
  };
}

function merge(a: WriteResult, b: WriteResult): WriteResult {
  return { matched: new Set([...a.matched, ...b.matched]), duplicates: new Set([...a.duplicates, ...b.duplicates]) };
}
