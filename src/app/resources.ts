/**
 * What must exist before the rest of the app can be built: the database (opened, migrated, with its
 * bootstrap admin token) and the live event bus (with its Redis fan-out when configured). Opening them
 * is asynchronous; everything built on them is not (src/app/compose.ts).
 */
import type { Tracer } from '@opentelemetry/api';
import { bootstrapAdminToken } from '../auth/tokens.ts';
import type { Config } from '../config.ts';
import { openDatabase, type Database } from '../db/client.ts';
import { applyMigrations } from '../db/migrate.ts';
import { createEventBus, type EventBus } from '../events/bus.ts';
import { createRedisFanout } from '../events/redis-fanout.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import type { Component } from './lifecycle.ts';

/** Parts a caller may supply instead of the ones the config describes (tests, embedding). */
export interface ResourceDeps {
  database?: Database;
  bus?: EventBus;
  /** Apply pending migrations on start. Default: yes for PGlite, no for PostgreSQL (run `npm run db:migrate`). */
  migrate?: boolean;
}

export interface Resources {
  database: Database;
  bus: EventBus;
  /** Where the bootstrap admin token was written, when this start created it. */
  adminTokenFile: string | undefined;
  /** Their closing, first in the app's list so they close last. */
  components: Component[];
}

export const SLOW_CONSUMER_METRIC = 'doppel_subscriptions_slow_consumer_total';

/** Opens the database and the bus. On failure, closes what it had opened and rethrows. */
export async function openResources(
  config: Config,
  deps: ResourceDeps,
  options: { logger: Logger; metrics: Metrics; migrationsDir: string; tracer?: Tracer | undefined },
): Promise<Resources> {
  const { logger, metrics } = options;
  const components: Component[] = [];
  const closeOpened = async () => {
    for (const component of components.reverse()) await component.stop?.();
  };
  try {
    const database =
      deps.database ??
      (await openDatabase(config.database, {
        tracer: options.tracer,
        onDiskFull: (error) =>
          logger.error(
            { err: error },
            'embedded database disk full: every database write is refused from now on (messages stay unacknowledged); free space and restart Doppel',
          ),
      }));
    // A database the caller supplied is the caller's to close.
    if (!deps.database) components.push({ name: 'database', stop: () => database.close() });
    if (deps.migrate ?? config.database.kind === 'pglite') {
      await applyMigrations(database, { migrationsDir: options.migrationsDir, log: (m) => logger.info(m) });
    }
    const adminToken = config.bootstrapAdminToken ? await bootstrapAdminToken(database.prisma, config.dataDir, logger) : undefined;

    metrics.describe(SLOW_CONSUMER_METRIC, 'Subscriptions ended because the client stopped reading (SLOW_CONSUMER).');
    let bus =
      deps.bus ??
      createEventBus({
        onSlowConsumer: (type) => {
          metrics.inc(SLOW_CONSUMER_METRIC, { type });
          logger.warn({ type }, 'ended a subscription whose client stopped reading');
        },
      });
    if (config.redis) {
      const fanout = await createRedisFanout(bus, { ...config.redis, logger: logger.child({ component: 'fanout' }), metrics });
      // Closed after everything that publishes: it comes before them in the list.
      components.push({ name: 'redis-fanout', stop: () => fanout.close() });
      bus = fanout;
    }
    return { database, bus, adminTokenFile: adminToken?.created ? adminToken.file : undefined, components };
  } catch (error) {
    await closeOpened();
    throw error;
  }
}
