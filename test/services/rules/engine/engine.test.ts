/**
 * The rules engine against a real database (PGlite, or PostgreSQL with DOPPEL_TEST_DATABASE_URL):
 * two engines judging the same batch at once open one alarm; one statement writes everything or
 * nothing; a rule that cannot be evaluated is counted and skipped without touching the others.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../../src/db/client.ts';
import { createEventBus, type AlarmChangedEvent } from '../../../../src/events/bus.ts';
import { createLogger } from '../../../../src/logger.ts';
import { Metrics } from '../../../../src/metrics.ts';
import { createRulesEngine, EVALUATION_ERRORS_METRIC, valueAfterPatch } from '../../../../src/services/rules/engine/index.ts';
import { emptyPlan } from '../../../../src/services/rules/engine/types.ts';
import { writePlan } from '../../../../src/services/rules/engine/writer.ts';
import type { TelemetryStored } from '../../../../src/services/hooks.ts';
import { openTestDatabase, uniqueDeviceId } from '../../../support/harness.ts';
import { insertRule } from './support.ts';

let db: Database;
let close: () => Promise<void>;

beforeAll(async () => {
  ({ db, close } = await openTestDatabase());
});
afterAll(async () => {
  await close?.();
});

const CONFIG = { maxPerTenant: 1000, sweepIntervalMs: 1000, flapMaxEdges: 6, flapWindowMs: 600_000 };

async function insertDevice(): Promise<{ uuid: string; deviceId: string }> {
  const deviceId = uniqueDeviceId('eng');
  const uuid = randomUUID();
  await db.sql.query(`INSERT INTO "Device" (id, "deviceId", "secretHash", "updatedAt") VALUES ($1, $2, 'x', now())`, [uuid, deviceId]);
  return { uuid, deviceId };
}

function engine(metrics = new Metrics()) {
  const bus = createEventBus();
  const published: AlarmChangedEvent[] = [];
  const sub = bus.subscribe('alarmChanged');
  void (async () => {
    for await (const e of sub) published.push(e);
  })();
  return { engine: createRulesEngine({ db, bus, logger: createLogger('silent'), metrics, config: CONFIG }), published, metrics };
}

function batch(device: { uuid: string; deviceId: string }, points: Array<{ metric: string; ts: number; value: number }>): TelemetryStored {
  return {
    at: Date.now(),
    devices: [
      { deviceUuid: device.uuid, deviceId: device.deviceId, tenantId: 'default', at: Date.now(), points: points.map((p) => ({ ...p, isBool: false })) },
    ],
  };
}

const count = async (sql: string, params: unknown[]) => (await db.sql.query<{ n: number }>(sql, params))[0]!.n;

describe('rules engine', () => {
  it('opens exactly one alarm when two engines judge the same batch at once', async () => {
    const device = await insertDevice();
    await insertRule(db.sql, {
      scope: { deviceIds: [device.deviceId] },
      source: { type: 'telemetry', metric: 'temp' },
      raise: { op: '>', value: 30 },
      severity: 'MAJOR',
    });
    const a = engine();
    const b = engine();
    const stored = batch(device, [
      { metric: 'temp', ts: 1000, value: 20 },
      { metric: 'temp', ts: 2000, value: 35 },
    ]);
    await Promise.all([a.engine.onTelemetryStored(stored), b.engine.onTelemetryStored(stored), a.engine.onTelemetryStored(stored)]);
    await new Promise((r) => setImmediate(r));
    expect(await count(`SELECT count(*)::int AS n FROM "Alarm" WHERE "deviceId" = $1`, [device.uuid])).toBe(1);
    expect(await count(`SELECT count(*)::int AS n FROM "AlarmEvent" e JOIN "Alarm" a ON a.id = e."alarmId" WHERE a."deviceId" = $1`, [device.uuid])).toBe(1);
    expect([...a.published, ...b.published].map((e) => e.cause)).toEqual(['conditionRaised']);
  });

  it('writes nothing at all when its statement fails', async () => {
    const device = await insertDevice();
    const ruleId = await insertRule(db.sql, { scope: {}, source: { type: 'telemetry', metric: 'x' }, raise: { op: '>', value: 1 }, severity: 'INFO' });
    const plan = emptyPlan();
    const alarmId = randomUUID();
    plan.states.push({
      ruleId,
      deviceUuid: device.uuid,
      ruleVersion: 1,
      phase: 'RAISED',
      pendingSince: null,
      deadlineAt: null,
      lastTs: 1,
      lastValue: 5,
      asOf: 1,
      alarmId,
      recentEdges: [1],
      expectedRevision: null,
    });
    plan.alarms.push({
      id: alarmId,
      isNew: true,
      expectedStatus: null,
      tenantId: 'default',
      ruleId,
      deviceUuid: device.uuid,
      status: 'ACTIVE',
      severity: 'INFO',
      ruleVersion: 1,
      raisedAt: 1,
      raisedValue: 5,
      clearedAt: null,
      clearedValue: null,
      acknowledgedAt: null,
      acknowledgedBy: null,
      flapping: false,
    });
    const eventId = randomUUID();
    plan.events.push({
      alarmId,
      from: null,
      to: 'ACTIVE',
      cause: 'conditionRaised',
      value: 5,
      actor: null,
      comment: null,
      at: 1,
      eventId,
      notify: true,
      notifyEndpoints: [],
      severity: 'INFO',
      ruleId,
      ruleVersion: 1,
      tenantId: 'default',
      deviceUuid: device.uuid,
      deviceId: device.deviceId,
    });
    // An ACTION row the outbox refuses (no tenant): the whole statement fails.
    plan.actions.push({ eventId, tenantId: null as unknown as string, actionKey: `${ruleId}:1:raise:0`, alarmId, targetDeviceId: device.deviceId, data: {} });
    await expect(writePlan(db.sql, plan)).rejects.toThrow();
    expect(await count(`SELECT count(*)::int AS n FROM "RuleState" WHERE "deviceId" = $1`, [device.uuid])).toBe(0);
    expect(await count(`SELECT count(*)::int AS n FROM "Alarm" WHERE id = $1`, [alarmId])).toBe(0);
    expect(await count(`SELECT count(*)::int AS n FROM "AlarmEvent" WHERE "alarmId" = $1`, [alarmId])).toBe(0);
    expect(await count(`SELECT count(*)::int AS n FROM "Outbox" WHERE "alarmId" = $1`, [alarmId])).toBe(0);

    // The same plan with a valid row is written whole, in one statement.
    plan.actions[0]!.tenantId = 'default';
    await writePlan(db.sql, plan);
    expect(await count(`SELECT count(*)::int AS n FROM "Outbox" WHERE "alarmId" = $1 AND kind = 'ACTION'`, [alarmId])).toBe(1);
    expect(await count(`SELECT count(*)::int AS n FROM "AlarmEvent" WHERE "alarmId" = $1`, [alarmId])).toBe(1);
  });

  it('counts a rule that cannot be evaluated and still judges the others of the batch', async () => {
    const device = await insertDevice();
    const good = await insertRule(db.sql, {
      scope: { deviceIds: [device.deviceId] },
      source: { type: 'telemetry', metric: 'm' },
      raise: { op: '>', value: 1 },
      severity: 'INFO',
    });
    const broken = await insertRule(db.sql, {
      scope: { deviceIds: [device.deviceId] },
      source: { type: 'telemetry', metric: 'm' },
      raise: { op: '>', value: 1 },
      severity: 'INFO',
    });
    // A corrupt definition (past checkRule): no raise condition.
    await db.sql.query(`UPDATE "Rule" SET definition = jsonb_set(definition, '{raise}', 'null') WHERE id = $1`, [broken]);
    const e = engine();
    await e.engine.onTelemetryStored(batch(device, [{ metric: 'm', ts: 1, value: 5 }]));
    expect(await count(`SELECT count(*)::int AS n FROM "Alarm" WHERE "deviceId" = $1 AND "ruleId" = $2`, [device.uuid, good])).toBe(1);
    expect(await count(`SELECT count(*)::int AS n FROM "Alarm" WHERE "deviceId" = $1 AND "ruleId" = $2`, [device.uuid, broken])).toBe(0);
    expect(e.metrics.get(EVALUATION_ERRORS_METRIC, { rule: broken })).toBe(1);
  });

  it('reads a twin path out of a merge patch', () => {
    expect(valueAfterPatch({ a: { b: 3 } }, ['a', 'b'])).toEqual({ touched: true, value: 3 });
    expect(valueAfterPatch({ a: { c: 3 } }, ['a', 'b'])).toEqual({ touched: false });
    expect(valueAfterPatch({ a: null }, ['a', 'b'])).toEqual({ touched: true, value: undefined });
    expect(valueAfterPatch({ a: 7 }, ['a', 'b'])).toEqual({ touched: true, value: undefined });
    expect(valueAfterPatch({ x: 1 }, ['a'])).toEqual({ touched: false });
  });
});
