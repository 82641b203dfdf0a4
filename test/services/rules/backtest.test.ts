import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.ts';
import type { Database } from '../../../src/db/client.ts';
import { NotFoundError, ValidationError } from '../../../src/domain/errors.ts';
import { createLogger } from '../../../src/logger.ts';
import { createAuditLog } from '../../../src/services/audit.ts';
import { createModelService } from '../../../src/services/models.ts';
import { createRuleBacktest, type RuleBacktest } from '../../../src/services/rules/backtest.ts';
import { createRuleService, type RuleService } from '../../../src/services/rules/index.ts';
import { modeName, openTestDatabase, uniqueDeviceId } from '../../support/harness.ts';

let db: Database;
let closeDatabase: (() => Promise<void>) | undefined;
let rules: RuleService;
let backtest: RuleBacktest;
const logger = createLogger('silent');
const MIN = 60_000;
const t0 = Date.UTC(2026, 10, 1, 12, 0, 0);
const fridge = uniqueDeviceId('fridge');
const freezer = uniqueDeviceId('freezer');
const outside = uniqueDeviceId('outside');
const bed = uniqueDeviceId('bed');

async function addDevice(deviceId: string, tags: string[]): Promise<string> {
  const [row] = await db.sql.query<{ id: string }>(
    `INSERT INTO "Device" (id, "tenantId", "deviceId", "secretHash", tags, "updatedAt") VALUES (gen_random_uuid(), 'acme', $1, 'unused', $2::text[], now()) RETURNING id`,
    [deviceId, tags],
  );
  return row!.id;
}

async function addPoints(uuid: string, metric: string, points: Array<[number, number]>): Promise<void> {
  await db.sql.query(
    `INSERT INTO "TelemetryPoint" ("deviceId", metric, ts, value) SELECT $1::uuid, $2, to_timestamp(m * 60 + $3::float8 / 1000), v FROM unnest($4::float8[], $5::float8[]) AS p(m, v)`,
    [uuid, metric, t0, points.map((p) => p[0]), points.map((p) => p[1])],
  );
}

const coldRoom = {
  scope: { tag: 'cold-room' },
  source: { type: 'telemetry', metric: 'temp' },
  raise: { op: '>', value: 8, forMs: 10 * MIN },
  clear: { op: '<', value: 6, forMs: 5 * MIN },
  severity: 'MAJOR',
};

beforeAll(async () => {
  ({ db, close: closeDatabase } = await openTestDatabase());
  const audit = createAuditLog({ prisma: db.prisma, logger });
  rules = createRuleService({ db, models: createModelService({ db, logger, audit }), audit, logger, twinLimits: loadConfig({}).twinLimits, maxPerTenant: 100 });
  backtest = createRuleBacktest({ sql: db.sql, rules });

  // Minutes after t0 → °C. Hand-computed with "temp > 8 for 10 min, clear < 6 for 5 min":
  // 5 (normal) · 9 at 5 (pending since 5) · 9.5 · 7 at 14 (ends the window) · 9 at 20 (pending since 20,
  // due 30) · 10 at 31: the deadline at 30 fires first → RAISED at 30 with 9 · 5 at 40 (clear pending,
  // due 45) · 5.5 at 50: the deadline fires first → CLEARED at 45 with 5 · 9 at 60 (pending, due 70,
  // after `to` = 65): nothing more.
  await addPoints(await addDevice(fridge, ['cold-room']), 'temp', [
    [0, 5],
    [5, 9],
    [10, 9.5],
    [14, 7],
    [20, 9],
    [31, 10],
    [40, 5],
    [50, 5.5],
    [60, 9],
  ]);
  // Raised at 12 (9 since 2), never cleared: open at `to`. Points of another metric do not count.
  const freezerUuid = await addDevice(freezer, ['cold-room', 'freezer']);
  await addPoints(freezerUuid, 'temp', [
    [2, 9],
    [8, 12],
  ]);
  await addPoints(freezerUuid, 'humidity', [[1, 99]]);
  // Not in the scope.
  await addPoints(await addDevice(outside, ['lobby']), 'temp', [[0, 30]]);

  // The twin change log of a soil sensor: moisture 50 before `from`, 15 at +10, an unrelated change at
  // +20, 40 at +30, deleted at +40 (a missing reading: changes nothing).
  const bedUuid = await addDevice(bed, ['garden']);
  const changes: Array<[number, object]> = [
    [-60, { soil: { moisture: 50 } }],
    [10, { soil: { moisture: 15 } }],
    [20, { battery: 3.1 }],
    [30, { soil: { moisture: 40 } }],
    [40, { soil: null }],
  ];
  for (const [i, [m, patch]] of changes.entries()) {
    await db.sql.query(
      `INSERT INTO "TwinChange" ("deviceId", version, section, patch, source, "createdAt") VALUES ($1::uuid, $2, 'reported', $3::jsonb, 'device', $4)`,
      [bedUuid, i + 1, JSON.stringify(patch), new Date(t0 + m * MIN)],
    );
  }
});
afterAll(async () => {
  await closeDatabase?.();
});

describe(`testRule, a backtest over stored data (${modeName})`, () => {
  it('raises and clears exactly where a hand computation on the stored telemetry says', async () => {
    const result = await backtest.testRule({ tenantId: 'acme', definition: coldRoom, from: t0, to: t0 + 65 * MIN });
    expect(result.alarms).toEqual([
      { deviceId: freezer, severity: 'MAJOR', raisedAt: t0 + 12 * MIN, raisedValue: 12, clearedAt: null, clearedValue: null },
      { deviceId: fridge, severity: 'MAJOR', raisedAt: t0 + 30 * MIN, raisedValue: 9, clearedAt: t0 + 45 * MIN, clearedValue: 5 },
    ]);
    expect(result).toMatchObject({ devices: 2, readings: 11, raised: 2, cleared: 1, openAtEnd: 1, truncated: false });
  });

  it('fires a deadline that falls at `to`, and narrows to the devices asked for', async () => {
    const result = await backtest.testRule({ tenantId: 'acme', definition: coldRoom, from: t0, to: t0 + 70 * MIN, deviceIds: [fridge] });
    expect(result.alarms.map((a) => [a.raisedAt, a.clearedAt])).toEqual([
      [t0 + 30 * MIN, t0 + 45 * MIN],
      [t0 + 70 * MIN, null],
    ]);
  });

  it('replays the twin change log for a reported path', async () => {
    const result = await backtest.testRule({
      tenantId: 'acme',
      definition: {
        scope: { tag: 'garden' },
        source: { type: 'reported', path: ['soil', 'moisture'] },
        raise: { op: '<', value: 20 },
        clear: { op: '>=', value: 35 },
        severity: 'INFO',
      },
      from: t0,
      to: t0 + 60 * MIN,
    });
    expect(result.alarms).toEqual([{ deviceId: bed, severity: 'INFO', raisedAt: t0 + 10 * MIN, raisedValue: 15, clearedAt: t0 + 30 * MIN, clearedValue: 40 }]);
    // The value held at `from`, then the three changes that touch the path.
    expect(result.readings).toBe(4);
  });

  it('runs a saved rule, and says when the device bound cut it short', async () => {
    const saved = await rules.createRule({ tenantId: 'acme', actor: 'system', actorName: 'test' }, { name: 'cold room', definition: coldRoom });
    const bounded = createRuleBacktest({ sql: db.sql, rules, maxDevices: 1 });
    const result = await bounded.testRule({ tenantId: 'acme', ruleId: saved.id, from: t0, to: t0 + 65 * MIN });
    expect(result).toMatchObject({ devices: 1, truncated: true, alarms: [{ deviceId: freezer }] });
    await expect(backtest.testRule({ tenantId: 'other', ruleId: saved.id, from: t0, to: t0 + MIN })).rejects.toBeInstanceOf(NotFoundError);
  });

  it('refuses what saving refuses, a connection source and an empty range', async () => {
    const issues = async (p: Promise<unknown>) => {
      const error = await p.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ValidationError);
      return (error as ValidationError).issues.map((i) => [i.path.join('.'), i.code]);
    };
    const window = { tenantId: 'acme', from: t0, to: t0 + MIN };
    expect(await issues(backtest.testRule({ ...window, definition: { ...coldRoom, source: { type: 'telemetry', metric: 'te mp' } } }))).toEqual([
      ['input.source.metric', 'INVALID_METRIC'],
    ]);
    expect(await issues(backtest.testRule({ ...window, definition: { ...coldRoom, raise: { op: '>', value: 8, forMs: -1 } } }))).toEqual([
      ['input.raise.forMs', 'OUT_OF_RANGE'],
    ]);
    expect(
      await issues(
        backtest.testRule({ ...window, definition: { scope: {}, source: { type: 'connection' }, raise: { op: '==', value: false }, severity: 'MINOR' } }),
      ),
    ).toEqual([['input.source.type', 'NOT_SUPPORTED']]);
    expect(await issues(backtest.testRule({ ...window, to: t0, definition: coldRoom }))).toEqual([['to', 'INVALID_RANGE']]);
  });
});
