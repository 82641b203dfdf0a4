import type { SqlExecutor } from './client.ts';

/** How long readiness waits for the database's answer by default. */
export const DEFAULT_DATABASE_CHECK_TIMEOUT_MS = 1000;

/**
 * For readiness and the store prober: does the database answer a trivial query within `timeoutMs`?
 * Never throws, and answers in bounded time even when connecting hangs (a dropped network): a late
 * answer counts as none. The query itself is left to finish or fail on its own.
 */
export function isDatabaseReachable(sql: SqlExecutor, timeoutMs = DEFAULT_DATABASE_CHECK_TIMEOUT_MS): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    timer.unref();
    sql.query('SELECT 1').then(
      () => {
        clearTimeout(timer);
        resolve(true);
      },
      () => {
        clearTimeout(timer);
        resolve(false);
      },
    );
  });
}
