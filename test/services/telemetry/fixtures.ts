/** What the telemetry part tests share: a service on a test database, devices, payloads, and a SqlExecutor that can hold or fail writes. */
import { loadConfig, type TelemetryConfig } from '../../../src/config.ts';
import type { Database, SqlExecutor } from '../../../src/db/client.ts';
import { createEventBus, type TelemetryEvent } from '../../../src/events/bus.ts';
import { createLogger } from '../../../src/logger.ts';
import { Metrics } from '../../../src/metrics.ts';
import { createDomainHooks, type TelemetryStored } from '../../../src/services/hooks.ts';
import { createTelemetryService } from '../../../src/services/telemetry/index.ts';
import { uniqueDeviceId } from '../../support/harness.ts';

export const defaults = loadConfig({}).telemetry;

const POINT_WRITE = 'INSERT INTO "TelemetryPoint"';

/** A SqlExecutor that records statements and can hold point writes until released, or fail them. */
export function instrumented(db: Database) {
  const statements: string[] = [];
  let gate: Promise<void> | undefined;
  let open = () => {};
  let failures = 0;
  const sql: SqlExecutor = {
    async query<T>(text: string, params?: readonly unknown[]) {
      statements.push(text);
      if (text.includes(POINT_WRITE)) {
        if (gate) await gate;
        if (failures > 0) {
          failures--;
          throw new Error('connection reset (simulated)');
        }
      }
      return db.sql.query<T>(text, params);
    },
  };
  return {
    sql,
    statements,
    writes: () => statements.filter((s) => s.includes(POINT_WRITE)).length,
    hold() {
      gate = new Promise((resolve) => (open = resolve));
    },
    release() {
      gate = undefined;
      open();
    },
    failNext(n: number) {
      failures = n;
    },
  };
}

/**
 * A telemetry service on `db` with the default config overridden by `config`. `events` collects what
 * the live bus carried, `stored` what the `telemetryStored` hook delivered.
 */
export function service(db: Database, config: Partial<TelemetryConfig>, sql: SqlExecutor = db.sql) {
  const metrics = new Metrics();
  const bus = createEventBus();
  const events: TelemetryEvent[] = [];
  void (async () => {
    for await (const e of bus.subscribe('telemetry')) events.push(e);
  })();
  const logger = createLogger('silent');
  const hooks = createDomainHooks({ logger, metrics });
  const stored: TelemetryStored[] = [];
  hooks.telemetryStored.subscribe((batch) => {
    stored.push(batch);
  });
  const telemetry = createTelemetryService({
    sql,
    bus,
    hooks,
    metrics,
    logger,
    config: { ...defaults, ...config },
    maxPayloadBytes: 256 * 1024,
  });
  return { telemetry, metrics, events, hooks, stored };
}

export async function createDevice(db: Database, deviceId = uniqueDeviceId('ts')) {
  const d = await db.prisma.device.create({ data: { deviceId, secretHash: 'x', twin: { create: {} } } });
  return { deviceId, uuid: d.id };
}

export const countPoints = (db: Database, uuid: string) => db.prisma.telemetryPoint.count({ where: { deviceId: uuid } });

export const body = (values: Record<string, number | boolean>, ts = Date.now() - 1000) => JSON.stringify({ ts, values });
