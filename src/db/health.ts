import type { SqlExecutor } from './client.ts';

/** For readiness: does the database answer a trivial query now? Never throws. */
export function isDatabaseReachable(sql: SqlExecutor): Promise<boolean> {
  return sql.query('SELECT 1').then(
    () => true,
    () => false,
  );
}
