/**
 * What the engine leaves unwritten (docs/rules.md "What is written, and when"): a reading that changes
 * nothing but the newest reading's bookkeeping is remembered in process, not written; a skipped pair
 * still raises, clears and fires its deadlines exactly as if every reading had been written; a restart
 * forgets only what the watermark allows; the sweeper never fires a deadline a reading already moved.
 * And a late reading that closes an acknowledged alarm and raises again in one evaluation opens the
 * new alarm (the partial unique index "Alarm_open_key" must not swallow it).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RulesConfig } from '../../../../src/config/types.ts';
import type { Database } from '../../../../src/db/client.ts';
import { createEventBus, type AlarmChangedEvent } from '../../../../src/events/bus.ts';
import { createLogger } from '../../../../src/logger.ts';
import { Metrics } from '../../../../src/metrics.ts';
import { createRulesEngine, STATE_SKIPS_METRIC } from '../../../../src/services/rules/engine/index.ts';
import { SETTLED_WATERMARK_FACTOR } from '../../../../src/services/rules/engine/plan.ts';
import type { TelemetryStored } from '../../../../src/services/hooks.ts';
import { openTestDatabase, uniqueDeviceId } from '../../../support/harness.ts';
import { insertRule } from './support.ts';

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
  const deviceId = uniqueDeviceId('skip');
  const uuid = randomUUID();
  await db.sql.query(`INSERT INTO "Device" (id, "deviceId", "secretHash", "updatedAt") VALUES ($1, $2, 'x', now())`, [uuid, deviceId]);
  return { uuid, deviceId };
}

/** An engine on the shared database (a fresh one is a restarted instance); `clock.now` drives its sweeper. */
function engine(config: Partial<RulesConfig> = {}) {
  const bus = createEventBus();
  const published: AlarmChangedEvent[] = [];
  const sub = bus.subscribe('alarmChanged');
  void (async () => {
    for await (const e of sub) published.push(e);
  })();
  const metrics = new Metrics();
  const clock = { now: Date.now() };
  const rules = createRulesEngine({ db, bus, logger: createLogger('silent'), metrics, config: { ...CONFIG, ...config }, now: () => clock.now });
  return { rules, published, metrics, clock };
}

function batch(device: { uuid: string; deviceId: string }, points: Array<{ ts: number; value: number }>, metric = 'temp'): TelemetryStored {
  return {
    at: Date.now(),
    devices: [
      {
        deviceUuid: device.uuid,
        deviceId: device.deviceId,
        tenantId: 'default',
        at: Date.now(),
        points: points.map((p) => ({ metric, ts: p.ts, value: p.value, isBool: false })),
      },
    ],
  };
}

const stateOf = async (ruleId: string, deviceUuid: string) =>
  (
    await db.sql.query<{ revision: string; lastTs: Date | null; phase: string; deadlineAt: Date | null }>(
      `SELECT revision::text, "lastTs", phase, "deadlineAt" FROM "RuleState" WHERE "ruleId" = $1 AND "deviceId" = $2`,
      [ruleId, deviceUuid],
    )
  )[0];
const alarmsOf = (ruleId: string, deviceUuid: string) =>
  db.sql.query<{ id: string; status: string; raisedValue: unknown; raisedAt: Date }>(
    `SELECT id, status, "raisedValue", "raisedAt" FROM "Alarm" WHERE "ruleId" = $1 AND "deviceId" = $2 ORDER BY "createdAt", "raisedAt"`,
    [ruleId, deviceUuid],
  );
const threshold = (device: { deviceId: string }, extra: Record<string, unknown> = {}) =>
  insertRule(db.sql, {
    scope: { deviceIds: [device.deviceId] },
    source: { type: 'telemetry', metric: 'temp' },
    raise: { op: '>', value: 30, ...extra },
    severity: 'MAJOR',
  });

describe('readings that change nothing', () => {
  it('are not written, and the pair still raises on the reading that crosses', async () => {
    const device = await insertDevice();
    const ruleId = await threshold(device);
    const e = engine();
    await e.rules.onTelemetryStored(batch(device, [{ ts: 1000, value: 10 }]));
    const first = await stateOf(ruleId, device.uuid);
    for (const [ts, value] of [
      [2000, 11],
      [3000, 12],
      [4000, 13],
    ] as const)
      await e.rules.onTelemetryStored(batch(device, [{ ts, value }]));
    expect(await stateOf(ruleId, device.uuid)).toEqual(first);
    expect(e.metrics.get(STATE_SKIPS_METRIC)).toBe(3);

    await e.rules.onTelemetryStored(batch(device, [{ ts: 5000, value: 35 }]));
    const alarms = await alarmsOf(ruleId, device.uuid);
    expect(alarms.map((a) => [a.status, a.raisedValue, a.raisedAt.getTime()])).toEqual([['ACTIVE', 35, 5000]]);
    expect((await stateOf(ruleId, device.uuid))!.lastTs!.getTime()).toBe(5000);
    expect(e.published.map((p) => p.cause)).toEqual(['conditionRaised']);
  });

  it('ignores a stale reading on the instance that took the newer one; a restart judges readings newer than the stored one (documented)', async () => {
    const device = await insertDevice();
    const ruleId = await threshold(device);
    const e = engine();
    await e.rules.onTelemetryStored(batch(device, [{ ts: 1000, value: 10 }]));
    await e.rules.onTelemetryStored(batch(device, [{ ts: 3000, value: 11 }]));
    // Older than the newest taken (3000), though newer than the stored one (1000): stale here.
    await e.rules.onTelemetryStored(batch(device, [{ ts: 2000, value: 35 }]));
    expect(await alarmsOf(ruleId, device.uuid)).toEqual([]);

    // A restarted instance knows only the stored newest reading (1000): within the watermark, it judges 2000.
    const restarted = engine();
    await restarted.rules.onTelemetryStored(batch(device, [{ ts: 2000, value: 35 }]));
    expect((await alarmsOf(ruleId, device.uuid)).map((a) => a.status)).toEqual(['ACTIVE']);
  });

  it('with a watermark of 0 writes every reading, so a restart still ignores a stale one', async () => {
    const device = await insertDevice();
    const ruleId = await threshold(device);
    const e = engine({ stateWatermarkMs: 0 });
    await e.rules.onTelemetryStored(batch(device, [{ ts: 1000, value: 10 }]));
    await e.rules.onTelemetryStored(batch(device, [{ ts: 3000, value: 11 }]));
    expect(e.metrics.get(STATE_SKIPS_METRIC)).toBe(0);
    expect((await stateOf(ruleId, device.uuid))!.lastTs!.getTime()).toBe(3000);
    const restarted = engine({ stateWatermarkMs: 0 });
    await restarted.rules.onTelemetryStored(batch(device, [{ ts: 2000, value: 35 }]));
    expect(await alarmsOf(ruleId, device.uuid)).toEqual([]);
  });

  it('writes a pending pair once its stored state is older than the watermark, a settled one once older than the settled watermark', async () => {
    const device = await insertDevice();
    const pendingRule = await threshold(device, { forMs: 600_000 });
    const settledRule = await insertRule(db.sql, {
      scope: { deviceIds: [device.deviceId] },
      source: { type: 'telemetry', metric: 'temp' },
      raise: { op: '>', value: 100 },
      severity: 'MAJOR',
    });
    const e = engine({ stateWatermarkMs: 1 });
    await e.rules.onTelemetryStored(batch(device, [{ ts: 1000, value: 35 }]));
    expect((await stateOf(pendingRule, device.uuid))!.phase).toBe('PENDING_RAISE');
    expect((await stateOf(settledRule, device.uuid))!.phase).toBe('NORMAL');
    // Waiting is a lower bound only: the settled watermark is SETTLED_WATERMARK_FACTOR ms here.
    await new Promise((r) => setTimeout(r, 2 * SETTLED_WATERMARK_FACTOR));
    await e.rules.onTelemetryStored(batch(device, [{ ts: 3000, value: 36 }]));
    expect((await stateOf(pendingRule, device.uuid))!.lastTs!.getTime()).toBe(3000);
    expect((await stateOf(settledRule, device.uuid))!.lastTs!.getTime()).toBe(3000);
  });

  it('a "for" window that keeps holding is not rewritten, and its deadline raises with the newest value', async () => {
    const device = await insertDevice();
    const ruleId = await threshold(device, { forMs: 60_000 });
    const e = engine();
    await e.rules.onTelemetryStored(batch(device, [{ ts: 1000, value: 35 }]));
    const pending = await stateOf(ruleId, device.uuid);
    expect(pending!.phase).toBe('PENDING_RAISE');
    await e.rules.onTelemetryStored(batch(device, [{ ts: 2000, value: 36 }]));
    await e.rules.onTelemetryStored(batch(device, [{ ts: 3000, value: 37 }]));
    expect(await stateOf(ruleId, device.uuid)).toEqual(pending);
    e.clock.now = 61_500;
    await e.rules.sweep();
    const alarms = await alarmsOf(ruleId, device.uuid);
    expect(alarms.map((a) => [a.status, a.raisedValue, a.raisedAt.getTime()])).toEqual([['ACTIVE', 37, 61_000]]);
  });
});

describe('the sweeper', () => {
  it('never fires a "for" deadline that a reading ended, before or after a restart', async () => {
    const device = await insertDevice();
    const ruleId = await threshold(device, { forMs: 60_000 });
    const e = engine();
    await e.rules.onTelemetryStored(batch(device, [{ ts: 1000, value: 35 }]));
    await e.rules.onTelemetryStored(batch(device, [{ ts: 2000, value: 20 }]));
    expect((await stateOf(ruleId, device.uuid))!.deadlineAt).toBeNull();
    e.clock.now = 100_000;
    await e.rules.sweep();
    const restarted = engine();
    restarted.clock.now = 100_000;
    await restarted.rules.sweep();
    expect(await alarmsOf(ruleId, device.uuid)).toEqual([]);
  });

  it('never raises "no data" for a device that reported, before or after a restart', async () => {
    const device = await insertDevice();
    const ruleId = await insertRule(db.sql, {
      scope: { deviceIds: [device.deviceId] },
      source: { type: 'telemetry', metric: 'temp' },
      raise: { op: 'noData', forMs: 60_000 },
      severity: 'MAJOR',
    });
    const e = engine();
    await e.rules.onTelemetryStored(batch(device, [{ ts: 1000, value: 1 }]));
    for (const ts of [20_000, 40_000, 59_000, 80_000]) await e.rules.onTelemetryStored(batch(device, [{ ts, value: 1 }]));
    // Every reading moved the deadline, and was written: 80,000 + 60,000.
    expect((await stateOf(ruleId, device.uuid))!.deadlineAt!.getTime()).toBe(140_000);
    e.clock.now = 130_000;
    await e.rules.sweep();
    const restarted = engine();
    restarted.clock.now = 130_000;
    await restarted.rules.sweep();
    expect(await alarmsOf(ruleId, device.uuid)).toEqual([]);
  });
});

describe('a late reading that closes an acknowledged alarm and raises again', () => {
  it('closes the old alarm and opens a new one in the same evaluation', async () => {
    const device = await insertDevice();
    const ruleId = await threshold(device);
    const e = engine();
    await e.rules.onTelemetryStored(batch(device, [{ ts: 1000, value: 35 }]));
    const [first] = await alarmsOf(ruleId, device.uuid);
    const acked = await e.rules.applyToPair(ruleId, device.uuid, { type: 'acknowledge', now: 1500, actor: 'op' });
    expect(acked?.ok).toBe(true);
    // One batch: the condition clears (ACKNOWLEDGED → CLEARED) and raises again (a new alarm).
    await e.rules.onTelemetryStored(
      batch(device, [
        { ts: 2000, value: 20 },
        { ts: 3000, value: 40 },
      ]),
    );
    const alarms = await alarmsOf(ruleId, device.uuid);
    expect(alarms.map((a) => [a.id === first!.id, a.status])).toEqual([
      [true, 'CLEARED'],
      [false, 'ACTIVE'],
    ]);
    const fresh = alarms[1]!;
    expect(fresh.raisedValue).toBe(40);
    const events = await db.sql.query<{ cause: string; toStatus: string }>(`SELECT cause, "toStatus" FROM "AlarmEvent" WHERE "alarmId" = $1`, [fresh.id]);
    expect(events).toEqual([{ cause: 'conditionRaised', toStatus: 'ACTIVE' }]);
    expect(
      (await db.sql.query<{ alarmId: string }>(`SELECT "alarmId" FROM "RuleState" WHERE "ruleId" = $1 AND "deviceId" = $2`, [ruleId, device.uuid]))[0]!.alarmId,
    ).toBe(fresh.id);
    expect(e.published.map((p) => [p.cause, p.status])).toEqual([
      ['conditionRaised', 'ACTIVE'],
      ['acknowledge', 'ACKNOWLEDGED'],
      ['conditionCleared', 'CLEARED'],
      ['conditionRaised', 'ACTIVE'],
    ]);
  });
});

describe('flapping that stops', () => {
  it('is ended by the sweeper once a window of the server clock passed with no edge and the edges are back within the limit, recorded in the history', async () => {
    const device = await insertDevice();
    const ruleId = await threshold(device);
    const e = engine({ flapMaxEdges: 2, flapWindowMs: 60_000 });
    const t0 = Date.now() - 10_000;
    for (const [ts, value] of [
      [t0, 35],
      [t0 + 1000, 20],
      [t0 + 2000, 35],
    ] as const)
      await e.rules.onTelemetryStored(batch(device, [{ ts, value }]));
    const [alarm] = await db.sql.query<{ id: string; flapping: boolean }>(`SELECT id, flapping FROM "Alarm" WHERE "ruleId" = $1 AND "deviceId" = $2`, [
      ruleId,
      device.uuid,
    ]);
    expect(alarm!.flapping).toBe(true);
    const flagOf = async () =>
      (await db.sql.query<{ flapping: boolean; status: string }>(`SELECT flapping, status FROM "Alarm" WHERE id = $1`, [alarm!.id]))[0];

    // Inside the window (by the edges' time, or by the server's since the last edge was written) it stays.
    e.clock.now = t0 + 30_000;
    await e.rules.sweep();
    expect(await flagOf()).toEqual({ flapping: true, status: 'ACTIVE' });
    e.clock.now = Date.now() + 120_000;
    await e.rules.sweep();
    expect(await flagOf()).toEqual({ flapping: true, status: 'ACTIVE' });

    // The pair has been quiet for a whole window of the server's clock (its last write was that long ago).
    await db.sql.query(`UPDATE "RuleState" SET "updatedAt" = now() - interval '2 minutes' WHERE "ruleId" = $1 AND "deviceId" = $2`, [ruleId, device.uuid]);
    await e.rules.sweep();
    expect(await flagOf()).toEqual({ flapping: false, status: 'ACTIVE' });
    const history = await db.sql.query<{ cause: string; value: unknown }>(
      `SELECT cause, value FROM "AlarmEvent" WHERE "alarmId" = $1 AND cause = 'flapping' ORDER BY at, id`,
      [alarm!.id],
    );
    expect(history.map((h) => h.value)).toEqual([true, false]);
    expect(e.published.filter((p) => p.cause === 'flapping')).toHaveLength(2);
    // A second sweep finds nothing more to do for it.
    await e.rules.sweep();
    expect(await db.sql.query(`SELECT 1 FROM "AlarmEvent" WHERE "alarmId" = $1 AND cause = 'flapping'`, [alarm!.id])).toHaveLength(2);
  });
});

describe('the newest reading', () => {
  it('of a pending "for" window is stored by the sweep after one watermark, and a crash before that still raises at the deadline', async () => {
    const device = await insertDevice();
    const ruleId = await threshold(device, { forMs: 600_000 });
    const e = engine({ stateWatermarkMs: 60_000 });
    const base = Date.now();
    e.clock.now = base;
    // Settled readings first (not written), then the window starts (written at once) and keeps holding (not written).
    await e.rules.onTelemetryStored(batch(device, [{ ts: base - 5000, value: 10 }]));
    await e.rules.onTelemetryStored(batch(device, [{ ts: base - 4000, value: 11 }]));
    await e.rules.onTelemetryStored(batch(device, [{ ts: base - 3000, value: 35 }]));
    await e.rules.onTelemetryStored(batch(device, [{ ts: base - 2000, value: 36 }]));
    const pending = await stateOf(ruleId, device.uuid);
    expect([pending!.phase, pending!.lastTs!.getTime(), pending!.deadlineAt!.getTime()]).toEqual(['PENDING_RAISE', base - 3000, base - 3000 + 600_000]);
    e.clock.now = base + 61_000;
    await e.rules.sweep();
    expect((await stateOf(ruleId, device.uuid))!.lastTs!.getTime()).toBe(base - 2000);

    // Killed (never stopped): the next reading is remembered by the dead instance only.
    await e.rules.onTelemetryStored(batch(device, [{ ts: base - 1000, value: 37 }]));
    const restarted = engine({ stateWatermarkMs: 60_000 });
    restarted.clock.now = base + 600_000;
    await restarted.rules.sweep();
    const alarms = await alarmsOf(ruleId, device.uuid);
    // Raised from the database at the deadline, with the newest value stored before the crash.
    expect(alarms.map((a) => [a.status, a.raisedAt.getTime(), a.raisedValue])).toEqual([['ACTIVE', base - 3000 + 600_000, 36]]);
  });

  it('is stored by the sweep once it stayed unwritten for the watermark (a settled window: the settled watermark), and on stop', async () => {
    const device = await insertDevice();
    const ruleId = await threshold(device);
    const e = engine({ stateWatermarkMs: 60_000 });
    await e.rules.onTelemetryStored(batch(device, [{ ts: 1000, value: 10 }]));
    await e.rules.onTelemetryStored(batch(device, [{ ts: 2000, value: 11 }]));
    const lastTs = async () => (await stateOf(ruleId, device.uuid))!.lastTs!.getTime();
    e.clock.now = Date.now();
    await e.rules.sweep();
    expect(await lastTs()).toBe(1000);
    // NORMAL with no deadline and no alarm: one watermark is not enough, SETTLED_WATERMARK_FACTOR are.
    e.clock.now = Date.now() + 61_000;
    await e.rules.sweep();
    expect(await lastTs()).toBe(1000);
    e.clock.now = Date.now() + 60_000 * SETTLED_WATERMARK_FACTOR + 1000;
    await e.rules.sweep();
    expect(await lastTs()).toBe(2000);

    e.clock.now = Date.now();
    await e.rules.onTelemetryStored(batch(device, [{ ts: 3000, value: 12 }]));
    expect(await lastTs()).toBe(2000);
    await e.rules.stop();
    expect(await lastTs()).toBe(3000);
    // A restarted instance now ignores an older reading as stale.
    const restarted = engine();
    await restarted.rules.onTelemetryStored(batch(device, [{ ts: 2500, value: 35 }]));
    expect(await alarmsOf(ruleId, device.uuid)).toEqual([]);
  });
});
