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

/** A socket error as node-postgres passes it on when the server resets the connection (transient). */
export function connectionReset(): Error {
  return Object.assign(new Error('read ECONNRESET (simulated)'), { code: 'ECONNRESET', errno: -104, syscall: 'read' });
}

/** What PostgreSQL answers every statement while it shuts down (57P01, admin_shutdown; transient). */
export function adminShutdown(): Error {
  return Object.assign(new Error('terminating connection due to administrator command (simulated)'), { code: '57P01', severity: 'FATAL' });
}

/** A data error as PostgreSQL reports it (22P02 invalid_text_representation; deterministic). */
export function invalidInput(): Error {
  return Object.assign(new Error('invalid input syntax (simulated)'), { code: '22P02', severity: 'ERROR' });
}

/**
 * A SqlExecutor that records statements and can hold point writes until released, fail the next ones
 * (as a reset connection), fail every statement while the database is "down" (as a shutting-down
 * server), or refuse for good every point write that carries one of the poisoned values.
 */
export function instrumented(db: Database) {
  const statements: string[] = [];
  let gate: Promise<void> | undefined;
  let open = () => {};
  let failures = 0;
  let down = false;
  const poisoned = new Set<string>();
  const sql: SqlExecutor = {
    async query<T>(text: string, params?: readonly unknown[]) {
      statements.push(text);
      if (down) throw adminShutdown();
      if (text.includes(POINT_WRITE)) {
        if (gate) await gate;
        if (failures > 0) {
          failures--;
          throw connectionReset();
        }
        const carried = JSON.stringify(params ?? []);
        if ([...poisoned].some((p) => carried.includes(p))) throw invalidInput();
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
    /** Every statement fails until `up()`. */
    down() {
      down = true;
    },
    up() {
      down = false;
    },
    /** Point writes whose parameters contain `value` (e.g. a device uuid) fail deterministically. */
    poison(value: string) {
      poisoned.add(value);
    },
  };
}

/**
 * A telemetry service on `db` with the default config overridden by `config`. `events` collects what
 * the live bus carried, `stored` what the `telemetryStored` hook delivered.
 */
export function service(db: Database, config: Partial<TelemetryConfig>, sql: SqlExecutor = db.sql, logger = createLogger('silent')) {
  const metrics = new Metrics();
  const bus = createEventBus();
  const events: TelemetryEvent[] = [];
  void (async () => {
    for await (const e of bus.subscribe('telemetry')) events.push(e);
  })();
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
    retryBackoff: { initialMs: 5, maxMs: 40 },
  });
  return { telemetry, metrics, events, hooks, stored };
}

export async function createDevice(db: Database, deviceId = uniqueDeviceId('ts')) {
  const d = await db.prisma.device.create({ data: { deviceId, secretHash: 'x', twin: { create: {} } } });
  return { deviceId, uuid: d.id };
}

export const countPoints = (db: Database, uuid: string) => db.prisma.telemetryPoint.count({ where: { deviceId: uuid } });

export const body = (values: Record<string, number | boolean>, ts = Date.now() - 1000) => JSON.stringify({ ts, values });
