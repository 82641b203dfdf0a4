/**
 * PostgreSQL notifications (LISTEN) on one channel, for either driver: PGlite delivers them in
 * process; on PostgreSQL one dedicated connection (outside the pool, so it never holds a pool slot)
 * listens and reconnects after losing its server. Delivery is what NOTIFY gives: after the writing
 * transaction commits, to listeners connected at that moment. Whoever relies on it keeps a bound for
 * what a disconnected listener misses (`onGap` says when one may have been missed).
 */
import pg from 'pg';
import type { Database } from './client.ts';
import type { Logger } from '../logger.ts';

export interface DatabaseListener {
  close(): Promise<void>;
}

export interface ListenOptions {
  logger: Logger;
  /** Called after a (re)connection: notifications sent while no connection listened are lost. */
  onGap?: () => void;
  /** First wait before reconnecting, in ms (doubles up to 30 s). */
  reconnectMs?: number;
}

export async function listenToDatabase(
  database: Pick<Database, 'driver'>,
  channel: string,
  onMessage: (payload: string) => void,
  options: ListenOptions,
): Promise<DatabaseListener> {
  if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`not a plain channel name: ${channel}`);
  const driver = database.driver;
  if (driver.kind === 'pglite') {
    const unlisten = await driver.pglite.listen(channel, onMessage);
    return { close: () => unlisten() };
  }
  const { logger } = options;
  const firstDelay = options.reconnectMs ?? 500;
  let closed = false;
  let client: pg.Client | undefined;
  let retry: NodeJS.Timeout | undefined;
  let delay = firstDelay;

  const connect = async (): Promise<void> => {
    const next = new pg.Client({ ...driver.pool.options, keepAlive: true });
    // Losing the server emits 'error' then 'end': reconnect once, from 'end'.
    next.on('error', (error) => logger.warn({ err: error, channel }, 'database notification listener lost its connection'));
    next.on('end', () => {
      if (client === next) client = undefined;
      schedule();
    });
    next.on('notification', (message) => {
      if (message.channel === channel && message.payload !== undefined) onMessage(message.payload);
    });
    try {
      await next.connect();
      await next.query(`LISTEN ${channel}`);
    } catch (error) {
      await next.end().catch(() => undefined);
      throw error;
    }
    if (closed) {
      await next.end().catch(() => undefined);
      return;
    }
    client = next;
    delay = firstDelay;
  };
  const schedule = () => {
    if (closed || retry) return;
    retry = setTimeout(() => {
      retry = undefined;
      connect().then(
        () => options.onGap?.(),
        (error: unknown) => {
          logger.warn({ err: error, channel, retryInMs: delay }, 'database notification listener cannot connect; will retry');
          delay = Math.min(delay * 2, 30_000);
          schedule();
        },
      );
    }, delay);
    retry.unref();
  };
  await connect().catch((error: unknown) => {
    // Not fatal: whoever listens has a bound for what is missed meanwhile.
    logger.warn({ err: error, channel }, 'database notification listener cannot connect; will retry');
    schedule();
  });
  return {
    async close() {
      closed = true;
      clearTimeout(retry);
      await client?.end().catch(() => undefined);
    },
  };
}
