/** A twin service on a test database, with its `twinsStored` batches and live events collected. */
import { loadConfig } from '../../../src/config.ts';
import type { Database, SqlExecutor } from '../../../src/db/client.ts';
import { createEventBus, type TwinChangedEvent } from '../../../src/events/bus.ts';
import { createLogger } from '../../../src/logger.ts';
import { Metrics } from '../../../src/metrics.ts';
import { createAuditLog } from '../../../src/services/audit.ts';
import { createDomainHooks, type TwinsStored } from '../../../src/services/hooks.ts';
import type { TwinLimits } from '../../../src/domain/twin.ts';
import { createTwinService, type TwinSchemaSource, type TwinService } from '../../../src/services/twins/index.ts';

export interface TestTwins {
  twins: TwinService;
  /** Every `twinsStored` batch, in emit order. */
  stored: TwinsStored[];
  /** Every `twinChanged` event published on the bus. */
  published: TwinChangedEvent[];
  /** The service's metrics (store retries). */
  metrics: Metrics;
}

export function testTwinService(
  db: Database,
  options: { sql?: SqlExecutor; maxBatch?: number; schemas?: TwinSchemaSource; limits?: Partial<TwinLimits> } = {},
): TestTwins {
  const logger = createLogger('silent');
  const metrics = new Metrics();
  const hooks = createDomainHooks({ logger, metrics });
  const bus = createEventBus();
  const stored: TwinsStored[] = [];
  const published: TwinChangedEvent[] = [];
  hooks.twinsStored.subscribe((batch) => {
    stored.push(batch);
  });
  const original = bus.publish.bind(bus);
  bus.publish = ((type, event) => {
    if (type === 'twinChanged') published.push(event as TwinChangedEvent);
    original(type, event);
  }) as typeof bus.publish;
  const twins = createTwinService({
    sql: options.sql ?? db.sql,
    bus,
    hooks,
    audit: createAuditLog({ prisma: db.prisma, logger }),
    limits: { ...loadConfig({}).twinLimits, ...options.limits },
    logger,
    metrics,
    retryBackoff: { initialMs: 5, maxMs: 40 },
    ...(options.maxBatch !== undefined ? { maxBatch: options.maxBatch } : {}),
    ...(options.schemas ? { schemas: options.schemas } : {}),
  });
  return { twins, stored, published, metrics };
}

/** A device with an empty twin, created directly (the registry is not under test here). */
export async function createTwinDevice(db: Database, deviceId: string, tenantId = 'default'): Promise<string> {
  const device = await db.prisma.device.create({ data: { deviceId, tenantId, secretHash: 'x', twin: { create: {} } }, select: { id: true } });
  return device.id;
}
