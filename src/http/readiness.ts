/**
 * Readiness, per dependency: whether the database and the broker are reachable now, as `/readyz`
 * reports it, as the gauge `doppel_dependency_up{dependency}` shows it, and with every outage counted
 * in `doppel_dependency_outages_total{dependency}` (a change from up to down, seen by a check or
 * reported by the store's writers, logged once at each edge).
 *
 * The database is down while the store's writers hold a transient failure (src/services/store-retry.ts),
 * or when it does not answer `SELECT 1` within the check's timeout, so a check never hangs.
 */
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';

export const DEPENDENCY_UP_METRIC = 'doppel_dependency_up';
export const DEPENDENCY_OUTAGES_METRIC = 'doppel_dependency_outages_total';

/** What /readyz reports; ready when every check is true. */
export interface ReadinessChecks {
  database: boolean;
  mqtt: boolean;
}

export type Dependency = keyof ReadinessChecks;

export interface Readiness {
  /** Checks every dependency now (bounded in time), records the result, and returns it. */
  check(): Promise<ReadinessChecks>;
  /** Records a dependency's state learned elsewhere (the store's writers started or stopped holding). */
  report(dependency: Dependency, up: boolean): void;
}

export interface ReadinessOptions {
  /** Resolves within a bounded time; never rejects. */
  database: () => Promise<boolean>;
  mqtt: () => boolean;
  metrics: Metrics;
  logger: Logger;
}

export function createReadiness(options: ReadinessOptions): Readiness {
  const { metrics, logger } = options;
  metrics.describe(
    DEPENDENCY_UP_METRIC,
    'Whether a dependency is reachable (1) or not (0), by dependency (database, mqtt), as of the last check or report.',
    'gauge',
  );
  metrics.describe(DEPENDENCY_OUTAGES_METRIC, 'Times a dependency went from reachable to unreachable, by dependency (database, mqtt).');
  const last = new Map<Dependency, boolean>();

  function report(dependency: Dependency, up: boolean): void {
    const before = last.get(dependency);
    if (before === up) return;
    last.set(dependency, up);
    metrics.set(DEPENDENCY_UP_METRIC, { dependency }, up ? 1 : 0);
    if (!up) {
      metrics.inc(DEPENDENCY_OUTAGES_METRIC, { dependency });
      logger.warn({ dependency }, 'dependency unreachable: not ready');
    } else if (before === false) {
      logger.info({ dependency }, 'dependency reachable again: ready');
    }
  }

  return {
    async check() {
      const [database, mqtt] = await Promise.all([options.database(), Promise.resolve(options.mqtt())]);
      report('database', database);
      report('mqtt', mqtt);
      return { database, mqtt };
    },
    report,
  };
}
