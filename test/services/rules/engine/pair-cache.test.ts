/**
 * The engine's pair cache (src/services/rules/engine/pair-cache.ts, docs/rules.md "The pair cache"):
 * a batch that changes nothing costs one statement once the device's pairs are held; memory is never
 * trusted past what another writer changed — another instance's transition, a rule inserted, edited
 * or disabled straight in SQL — so decisions are the ones the stored rows give.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RulesConfig } from '../../../../src/config/types.ts';
import type { Database, SqlExecutor } from '../../../../src/db/client.ts';
import { createEventBus } from '../../../../src/events/bus.ts';
import { createLogger } from '../../../../src/logger.ts';
import { Metrics } from '../../../../src/metrics.ts';
import { createRulesEngine } from '../../../../src/services/rules/engine/index.ts';
import type { TelemetryStored } from '../../../../src/services/hooks.ts';
import { openTestDatabase, uniqueDeviceId } from '../../../support/harness.ts';
import { insertRule, updateRule } from './support.ts';

let db: Database;
let close: () => Promise<void>;

beforeAll(async () => {
  ({ db, close } = await openTestDatabase());
}, 180_000);
afterAll(async () => {
  await close?.();
});

const CONFIG: RulesConfig = { maxPerTenant: 1000, sweepIntervalMs: 1000, flapMaxEdges: 6, flapWindowMs: 600_000, stateWatermarkMs: 600_000 };

async function insertDevice(): Promise<{ uuid: string; deviceId: string }> {
  const deviceId = uniqueDeviceId('pc');
  const uuid = randomUUID();
  await db.sql.query(`INSERT INTO "Device" (id, "deviceId", "secretHash", "updatedAt") VALUES ($1, $2, 'x', now())`, [uuid, deviceId]);
  return { uuid, deviceId };
}

/** An engine instance on the shared database whose statements are counted. */
function engine() {
  const statements: string[] = [];
  const sql: SqlExecutor = {
    ...db.sql,
    query: (text: string, params?: unknown[]) => {
      statements.push(text);
      return db.sql.query(text, params);
    },
  } as SqlExecutor;
  const rules = createRulesEngine({
    db: { sql, withSession: (run) => db.withSession(run) },
    bus: createEventBus(),
    logger: createLogger('silent'),
    metrics: new Metrics(),
    config: CONFIG,
  });
  return { rules, statements };
}

function batch(device: { uuid: string; deviceId: string }, ts: number, value: number, metric = 'temp'): TelemetryStored {
  return {
    at: Date.now(),
    devices: [{ deviceUuid: device.uuid, deviceId: device.deviceId, tenantId: 'default', at: Date.now(), points: [{ metric, ts, value, isBool: false }] }],
  };
}

async function alarms(ruleId: string, deviceUuid: string) {
  return db.sql.query<{ status: string; raisedValue: unknown }>(
    `SELECT status, "raisedValue" FROM "Alarm" WHERE "ruleId" = $1 AND "deviceId" = $2 ORDER BY "createdAt"`,
    [ruleId, deviceUuid],
  );
}

describe('the pair cache', () => {
  it('judges a batch that changes nothing in one statement once the pairs are held', async () => {
    const device = await insertDevice();
    for (const value of [30, 40, 50]) {
      await insertRule(db.sql, {
        scope: { deviceIds: [device.deviceId] },
        source: { type: 'telemetry', metric: 'temp' },
        raise: { op: '>', value },
        severity: 'INFO',
      });
    }
    const e = engine();
    await e.rules.onTelemetryStored(batch(device, 1000, 10)); // first sight: the pairs are read and their states created
    await e.rules.onTelemetryStored(batch(device, 2000, 11));
    e.statements.length = 0;
    await e.rules.onTelemetryStored(batch(device, 3000, 12));
    await e.rules.onTelemetryStored(batch(device, 4000, 13));
    expect(e.statements).toHaveLength(2);
    expect(e.statements.every((s) => s.includes('"RuleSetGeneration"'))).toBe(true);
  });

  it('sees a transition another instance wrote, and clears the alarm it raised', async () => {
    const device = await insertDevice();
    const ruleId = await insertRule(db.sql, {
      scope: { deviceIds: [device.deviceId] },
      source: { type: 'telemetry', metric: 'temp' },
      raise: { op: '>', value: 30 },
      severity: 'MAJOR',
    });
    const a = engine();
    const b = engine();
    await a.rules.onTelemetryStored(batch(device, 1000, 10)); // a holds the pair: NORMAL
    await a.rules.onTelemetryStored(batch(device, 1500, 11));
    await b.rules.onTelemetryStored(batch(device, 2000, 35)); // b raises
    expect((await alarms(ruleId, device.uuid)).map((x) => x.status)).toEqual(['ACTIVE']);
    // a's memory says NORMAL, the stored row says RAISED: the fingerprint moved, so a reads it and clears.
    await a.rules.onTelemetryStored(batch(device, 3000, 20));
    expect((await alarms(ruleId, device.uuid)).map((x) => x.status)).toEqual(['LATCHED']);
  });

  it('sees rules inserted, edited and disabled straight in the database at the next batch', async () => {
    const device = await insertDevice();
    const source = { type: 'telemetry', metric: 'p' };
    const scope = { deviceIds: [device.deviceId] };
    const first = await insertRule(db.sql, { scope, source, raise: { op: '>', value: 100 }, severity: 'INFO' });
    const e = engine();
    await e.rules.onTelemetryStored(batch(device, 1000, 10, 'p'));
    await e.rules.onTelemetryStored(batch(device, 2000, 11, 'p'));

    const second = await insertRule(db.sql, { scope, source, raise: { op: '>', value: 5 }, severity: 'INFO' });
    await e.rules.onTelemetryStored(batch(device, 3000, 12, 'p'));
    expect((await alarms(second, device.uuid)).map((x) => [x.status, x.raisedValue])).toEqual([['ACTIVE', 12]]);

    await updateRule(db.sql, first, { scope, source, raise: { op: '>', value: 5 }, severity: 'INFO' });
    await e.rules.onTelemetryStored(batch(device, 4000, 13, 'p'));
    expect((await alarms(first, device.uuid)).map((x) => x.status)).toEqual(['ACTIVE']);

    await db.sql.query(`UPDATE "Rule" SET enabled = false WHERE id = $1`, [second]);
    await e.rules.onTelemetryStored(batch(device, 5000, 1, 'p'));
    // The enabled rule clears; the disabled one is no longer judged, so its alarm stays as it was.
    expect((await alarms(first, device.uuid)).map((x) => x.status)).toEqual(['LATCHED']);
    expect((await alarms(second, device.uuid)).map((x) => x.status)).toEqual(['ACTIVE']);
  });
});
