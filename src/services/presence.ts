import type { SqlExecutor } from '../db/client.ts';
import { isTransientFailure } from '../domain/faults.ts';
import type { Logger } from '../logger.ts';

/**
 * Keeps `Device.lastSeenAt` current without a write per message: remembers the newest time per
 * device and writes them all with one statement per interval. A batch that fails transiently (the
 * database is down, src/domain/faults.ts) goes back into the next one, so an outage delays `lastSeenAt`
 * but loses none of it (except what is still unwritten when `stop()` finds the database down); the
 * outage is logged when it starts and when it ends, not once per interval.
 */
export function createLastSeenTracker(sql: SqlExecutor, logger: Logger, intervalMs = 1000) {
  let pending = new Map<string, number>();
  let timer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> = Promise.resolve();
  let failing = false;

  /** Puts a failed batch back, keeping the newer time where the device was seen again meanwhile. */
  function requeue(batch: Map<string, number>): void {
    for (const [deviceId, at] of batch) {
      const seen = pending.get(deviceId);
      if (seen === undefined || at > seen) pending.set(deviceId, at);
    }
  }

  async function writeHeld(batch: Map<string, number>): Promise<void> {
    try {
      await write(batch);
      if (failing) logger.info('lastSeenAt updates resumed');
      failing = false;
    } catch (error) {
      if (!isTransientFailure(error)) return logger.warn({ err: error }, 'lastSeenAt update failed');
      requeue(batch);
      if (!failing) logger.warn({ err: error }, 'lastSeenAt update failed (database unavailable); kept for the next interval');
      failing = true;
    }
  }

  async function write(batch: Map<string, number>): Promise<void> {
    if (batch.size === 0) return;
    const ids = [...batch.keys()];
    const times = ids.map((id) => new Date(batch.get(id)!));
    await sql.query(
      `UPDATE "Device" d SET "lastSeenAt" = GREATEST(COALESCE(d."lastSeenAt", s.at), s.at)
         FROM unnest($1::text[], $2::timestamptz[]) AS s(device_id, at)
        WHERE d."deviceId" = s.device_id`,
      [ids, times],
    );
  }

  function flush(): Promise<void> {
    const batch = pending;
    pending = new Map();
    flushing = flushing.then(() => writeHeld(batch));
    return flushing;
  }

  return {
    touch(deviceId: string, at: number): void {
      const seen = pending.get(deviceId);
      if (seen === undefined || at > seen) pending.set(deviceId, at);
      timer ??= setInterval(() => void flush(), intervalMs).unref();
    },
    flush,
    async stop(): Promise<void> {
      if (timer) clearInterval(timer);
      timer = undefined;
      await flush();
    },
  };
}

export type LastSeenTracker = ReturnType<typeof createLastSeenTracker>;
