import type { SqlExecutor } from '../db/client.ts';
import type { Logger } from '../logger.ts';

/**
 * Keeps `Device.lastSeenAt` current without a write per message: remembers the newest time per
 * device and writes them all with one statement per interval.
 */
export function createLastSeenTracker(sql: SqlExecutor, logger: Logger, intervalMs = 1000) {
  let pending = new Map<string, number>();
  let timer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> = Promise.resolve();

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
    flushing = flushing.then(() => write(batch)).catch((error) => logger.warn({ err: error }, 'lastSeenAt update failed'));
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
