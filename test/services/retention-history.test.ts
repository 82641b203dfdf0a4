/**
 * History retention (src/services/retention.ts, createHistoryRetention): twin changes, final commands and
 * audit events older than their age go in bounded batches; live commands, fleet members and recent rows stay.
 * The twinChanged resume after retention is in test/e2e/twin-changed-resume.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type HistoryRetentionConfig } from '../../src/config.ts';
import type { Database, SqlExecutor } from '../../src/db/client.ts';
import { createLogger } from '../../src/logger.ts';
import { Metrics } from '../../src/metrics.ts';
import { createHistoryRetention, HISTORY_RETENTION_BATCHES_METRIC, HISTORY_RETENTION_DELETED_METRIC } from '../../src/services/retention.ts';
import { modeName, openTestDatabase, uniqueDeviceId } from '../support/harness.ts';

let db: Database;
let closeDatabase: (() => Promise<void>) | undefined;
beforeAll(async () => {
  ({ db, close: closeDatabase } = await openTestDatabase());
});
afterAll(async () => {
  await closeDatabase?.();
});

const DAY = 86_400_000;
const NOW = Date.parse('2026-06-30T12:00:00Z');
const daysAgo = (days: number) => new Date(NOW - days * DAY);

function retention(config: Partial<HistoryRetentionConfig>, sql: SqlExecutor = db.sql) {
  const metrics = new Metrics();
  const r = createHistoryRetention({ sql, metrics, logger: createLogger('silent'), config: { ...loadConfig({}).historyRetention, ...config }, now: () => NOW });
  return { r, metrics };
}

/** A device with ten logged twin changes: versions 1–6 forty days old, 7–10 one day old. */
async function seedTwinChanges() {
  const d = await db.prisma.device.create({ data: { deviceId: uniqueDeviceId('rethist'), secretHash: 'x', twin: { create: { version: 10 } } } });
  await db.prisma.twinChange.createMany({
    data: Array.from({ length: 10 }, (_, i) => ({
      deviceId: d.id,
      version: i + 1,
      section: 'reported',
      patch: { v: i + 1 },
      source: 'device',
      createdAt: i < 6 ? daysAgo(40) : daysAgo(1),
    })),
  });
  return d;
}

describe(`history retention (${modeName})`, () => {
  it('is off by default: nothing to sweep, and start/stop do nothing', async () => {
    const { r } = retention({});
    expect(r.enabled).toBe(false);
    r.start();
    await r.stop();
    expect(loadConfig({}).historyRetention).toMatchObject({ twinChangeDays: 0, commandDays: 0, auditDays: 0 });
  });

  it('deletes twin changes older than their age in bounded batches, oldest versions first', async () => {
    const d = await seedTwinChanges();
    const statements: string[] = [];
    const sql: SqlExecutor = { query: (text, params) => (statements.push(text), db.sql.query(text, params)) };
    const { r, metrics } = retention({ twinChangeDays: 30, batchRows: 4 }, sql);
    const result = await r.runOnce();
    const left = await db.prisma.twinChange.findMany({ where: { deviceId: d.id }, orderBy: { version: 'asc' }, select: { version: true } });
    expect(left.map((c) => c.version)).toEqual([7, 8, 9, 10]);
    // Other tests' rows share the database: at least this device's six, in batches of at most four.
    expect(result.twin_change).toBeGreaterThanOrEqual(6);
    const batches = Math.floor(result.twin_change! / 4) + 1;
    expect(metrics.get(HISTORY_RETENTION_BATCHES_METRIC, { table: 'twin_change' })).toBe(batches);
    expect(metrics.get(HISTORY_RETENTION_DELETED_METRIC, { table: 'twin_change' })).toBe(result.twin_change);
    expect(statements.filter((s) => s.includes('DELETE FROM "TwinChange"'))).toHaveLength(batches);
    // Nothing else configured, nothing else touched.
    expect(statements.some((s) => s.includes('DELETE FROM "Command"') || s.includes('DELETE FROM "AuditEvent"'))).toBe(false);
    expect((await r.runOnce()).twin_change).toBe(0);
  });

  it('deletes final commands that ended long ago, never live ones nor fleet members', async () => {
    const d = await db.prisma.device.create({ data: { deviceId: uniqueDeviceId('retcmd'), secretHash: 'x', twin: { create: {} } } });
    const fleet = await db.prisma.fleetCommand.create({ data: { tenantId: 'default', name: 'reboot', requestedBy: 'test' } });
    const command = (name: string, status: string, endedDaysAgo: number, fleetCommandId?: string) => ({
      tenantId: 'default',
      deviceId: d.id,
      name,
      status,
      modelVersion: 1,
      requestedBy: 'test',
      createdAt: daysAgo(endedDaysAgo + 1),
      updatedAt: daysAgo(endedDaysAgo),
      ...(fleetCommandId ? { fleetCommandId } : {}),
    });
    await db.prisma.command.createMany({
      data: [
        command('old-succeeded', 'SUCCEEDED', 60),
        command('old-timed-out', 'TIMED_OUT', 60),
        command('old-canceled', 'CANCELED', 45),
        command('old-pending', 'PENDING', 60),
        command('old-sent', 'SENT', 60),
        command('recent-failed', 'FAILED', 2),
        command('old-fleet-member', 'SUCCEEDED', 60, fleet.id),
      ],
    });
    const { r, metrics } = retention({ commandDays: 30, batchRows: 2 });
    const result = await r.runOnce();
    const left = await db.prisma.command.findMany({ where: { deviceId: d.id }, orderBy: { name: 'asc' }, select: { name: true } });
    expect(left.map((c) => c.name)).toEqual(['old-fleet-member', 'old-pending', 'old-sent', 'recent-failed']);
    expect(result.command).toBe(3);
    // 2 + 1: the short batch ends the sweep.
    expect(metrics.get(HISTORY_RETENTION_BATCHES_METRIC, { table: 'command' })).toBe(2);
    expect(metrics.get(HISTORY_RETENTION_DELETED_METRIC, { table: 'command' })).toBe(3);
  });

  it('deletes audit events older than their age and keeps the recent ones', async () => {
    const target = `device:${uniqueDeviceId('retaudit')}`;
    await db.prisma.auditEvent.createMany({
      data: [400, 370, 10, 0].map((days) => ({ tenantId: 'default', actor: 'system', action: 'device.register', target, createdAt: daysAgo(days) })),
    });
    const { r, metrics } = retention({ auditDays: 365, batchRows: 100 });
    await r.runOnce();
    const left = await db.prisma.auditEvent.findMany({ where: { target }, orderBy: { id: 'asc' }, select: { createdAt: true } });
    expect(left.map((e) => e.createdAt.getTime())).toEqual([daysAgo(10).getTime(), daysAgo(0).getTime()]);
    expect(metrics.get(HISTORY_RETENTION_DELETED_METRIC, { table: 'audit_event' })).toBeGreaterThanOrEqual(2);
  });

  it('stops cleanly with a timer running', async () => {
    const { r } = retention({ twinChangeDays: 1000, commandDays: 1000, auditDays: 1000, intervalMs: 1000 });
    expect(r.enabled).toBe(true);
    r.start();
    await r.stop();
  });
});
