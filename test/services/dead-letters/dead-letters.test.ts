import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type DeadLettersConfig } from '../../../src/config.ts';
import type { Database, SqlExecutor } from '../../../src/db/client.ts';
import { actorOf, type Actor } from '../../../src/domain/principal.ts';
import { createLogger } from '../../../src/logger.ts';
import { Metrics } from '../../../src/metrics.ts';
import { createAuditLog } from '../../../src/services/audit.ts';
import {
  createDeadLetterService,
  DEAD_LETTERS_METRIC,
  MAX_ERROR_LENGTH,
  type DeadMessage,
  type MessageReplayer,
  type ReplayResult,
} from '../../../src/services/dead-letters/index.ts';
import { modeName, openTestDatabase, uniqueDeviceId } from '../../support/harness.ts';

let db: Database;
let closeDatabase: (() => Promise<void>) | undefined;
beforeAll(async () => {
  ({ db, close: closeDatabase } = await openTestDatabase());
});
afterAll(async () => {
  await closeDatabase?.();
});

const DAY = 86_400_000;

function adminOf(tenantId: string): Actor {
  return actorOf({ tokenId: '00000000-0000-4000-8000-0000000000aa', tenantId, role: 'admin', name: 'admin', expiresAt: null });
}

/** A fresh tenant per test: the database is shared by the tests of this file. */
const uniqueTenant = () => `t-${uniqueDeviceId('dl')}`;

async function createDevice(tenantId: string): Promise<string> {
  const deviceId = uniqueDeviceId('dl');
  await db.prisma.device.create({ data: { deviceId, tenantId, secretHash: 'x', twin: { create: {} } } });
  return deviceId;
}

function message(deviceId: string, payload: Uint8Array | string = '{"a":1}', receivedAt = Date.now()): DeadMessage {
  return {
    deviceId,
    topic: `devices/${deviceId}/telemetry`,
    kind: 'telemetry',
    payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
    receivedAt,
  };
}

function service(options: { replayer?: MessageReplayer; sql?: SqlExecutor; config?: Partial<DeadLettersConfig>; now?: () => number } = {}) {
  const logger = createLogger('silent');
  const metrics = new Metrics();
  const replayed: DeadMessage[] = [];
  const results: ReplayResult[] = [];
  const replayer: MessageReplayer =
    options.replayer ??
    (async (m) => {
      replayed.push(m);
      return results.shift() ?? { ok: true };
    });
  const deadLetters = createDeadLetterService({
    sql: options.sql ?? db.sql,
    logger,
    metrics,
    audit: createAuditLog({ prisma: db.prisma, logger }),
    config: { ...loadConfig({}).deadLetters, ...options.config },
    replayer,
    ...(options.now ? { now: options.now } : {}),
  });
  return { deadLetters, metrics, replayed, results };
}

describe(`dead letters (${modeName})`, () => {
  it('records the exact bytes with the device tenant, counts by kind and code, and lists them newest first', async () => {
    const tenant = uniqueTenant();
    const deviceId = await createDevice(tenant);
    const { deadLetters, metrics } = service();
    const bytes = Uint8Array.from([0x7b, 0xff, 0x00, 0xfe, 0x7d]); // not UTF-8: kept byte for byte
    const older = await deadLetters.record(message(deviceId, bytes, 1_000_000), { code: 'STORE_REFUSED', message: 'refused' });
    const newer = await deadLetters.record(message(deviceId, '{"b":2}', 2_000_000), { code: 'INTERNAL', message: 'x'.repeat(MAX_ERROR_LENGTH * 3) });

    const rows = await deadLetters.list({ tenantId: tenant, limit: 10 });
    expect(rows.map((r) => r.id)).toEqual([newer, older]);
    expect(Buffer.from(rows[1]!.payload)).toEqual(Buffer.from(bytes));
    expect(rows[1]).toMatchObject({
      tenantId: tenant,
      deviceId,
      topic: `devices/${deviceId}/telemetry`,
      kind: 'telemetry',
      errorCode: 'STORE_REFUSED',
      error: 'refused',
    });
    expect(rows[1]!.receivedAt).toBe(1_000_000);
    expect(rows[0]!.error.length).toBe(MAX_ERROR_LENGTH);
    expect(rows[0]).toMatchObject({ replayCount: 0, lastReplayedAt: null, lastReplayResult: null, resolvedAt: null });
    expect(metrics.get(DEAD_LETTERS_METRIC, { kind: 'telemetry', code: 'STORE_REFUSED' })).toBe(1);
    expect(metrics.get(DEAD_LETTERS_METRIC, { kind: 'telemetry', code: 'INTERNAL' })).toBe(1);
    expect(await metrics.render()).toContain('doppel_dead_letters_total{code="INTERNAL",kind="telemetry"} 1');

    // Another tenant sees none of them.
    expect(await deadLetters.list({ tenantId: uniqueTenant(), limit: 10 })).toEqual([]);
  });

  it('pages with a cursor and filters by device, kind and resolution', async () => {
    const tenant = uniqueTenant();
    const [a, b] = [await createDevice(tenant), await createDevice(tenant)];
    const { deadLetters } = service();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await deadLetters.record(message(i % 2 === 0 ? a : b, `{"i":${i}}`, 1_000 + i), { code: 'INTERNAL', message: 'bug' }));
    await deadLetters.record(
      { ...message(a), topic: `devices/${a}/twin/reported`, kind: 'twinReported', receivedAt: 500 },
      { code: 'INTERNAL', message: 'bug' },
    );

    const first = await deadLetters.list({ tenantId: tenant, limit: 2, kind: 'telemetry' });
    expect(first.map((r) => r.id)).toEqual([ids[4], ids[3]]);
    const last = first.at(-1)!;
    const second = await deadLetters.list({ tenantId: tenant, limit: 10, kind: 'telemetry', after: { receivedAt: new Date(last.receivedAt), id: last.id } });
    expect(second.map((r) => r.id)).toEqual([ids[2], ids[1], ids[0]]);
    expect((await deadLetters.list({ tenantId: tenant, limit: 10, deviceId: b })).map((r) => r.id)).toEqual([ids[3], ids[1]]);
    expect((await deadLetters.list({ tenantId: tenant, limit: 10, kind: 'twinReported' })).map((r) => r.kind)).toEqual(['twinReported']);

    const { deadLetters: replaying } = service();
    await replaying.replay(adminOf(tenant), ids[4]!);
    const unresolved = await deadLetters.list({ tenantId: tenant, limit: 10, kind: 'telemetry', unresolvedOnly: true });
    expect(unresolved.map((r) => r.id)).toEqual([ids[3], ids[2], ids[1], ids[0]]);
  });

  it('keeps the message of an unknown device with no tenant: listed to nobody, not replayable by anyone', async () => {
    const { deadLetters } = service();
    const deviceId = uniqueDeviceId('ghost');
    const id = await deadLetters.record(message(deviceId), { code: 'INTERNAL', message: 'bug' });
    const [row] = await db.sql.query<{ tenantId: string | null }>(`SELECT "tenantId" FROM "DeadLetter" WHERE id = $1::uuid`, [id]);
    expect(row).toEqual({ tenantId: null });
    expect(await deadLetters.replay(adminOf('default'), id)).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
  });

  it('replays through the bridge path: a failure updates the same row, a success resolves it, and both are audited', async () => {
    const tenant = uniqueTenant();
    const deviceId = await createDevice(tenant);
    const { deadLetters, replayed, results } = service();
    const id = await deadLetters.record(message(deviceId, '{"a":1}', 5_000), { code: 'INTERNAL', message: 'bug' });

    results.push({ ok: false, code: 'INTERNAL', message: 'still broken' });
    const again = await deadLetters.replay(adminOf(tenant), id);
    expect(again).toMatchObject({ ok: true, resolved: false, failure: { code: 'INTERNAL', message: 'still broken' } });
    expect(replayed).toHaveLength(1);
    expect(Buffer.from(replayed[0]!.payload).toString()).toBe('{"a":1}');
    expect(replayed[0]).toMatchObject({ deviceId, kind: 'telemetry', receivedAt: 5_000, topic: `devices/${deviceId}/telemetry` });

    const fixed = await deadLetters.replay(adminOf(tenant), id);
    expect(fixed).toMatchObject({ ok: true, resolved: true, failure: null });
    if (!fixed.ok) throw new Error('unreachable');
    expect(fixed.deadLetter).toMatchObject({ replayCount: 2, lastReplayResult: 'resolved' });
    expect(fixed.deadLetter.resolvedAt).toBeInstanceOf(Date);

    // Resolved: not run again; still one row.
    const twice = await deadLetters.replay(adminOf(tenant), id);
    expect(twice).toMatchObject({ ok: true, resolved: true });
    expect(replayed).toHaveLength(2);
    const [count] = await db.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM "DeadLetter" WHERE "deviceId" = $1`, [deviceId]);
    expect(count!.n).toBe(1);

    const audit = await db.prisma.auditEvent.findMany({ where: { tenantId: tenant }, orderBy: { id: 'asc' } });
    expect(audit.map((e) => [e.action, e.target, (e.details as { result: string }).result])).toEqual([
      ['deadLetter.replay', `deadLetter:${id}`, 'INTERNAL'],
      ['deadLetter.replay', `deadLetter:${id}`, 'resolved'],
    ]);
  });

  it("refuses NOT_FOUND another tenant's dead letter, an unknown id and a malformed id, and changes nothing", async () => {
    const tenant = uniqueTenant();
    const deviceId = await createDevice(tenant);
    const { deadLetters, replayed } = service();
    const id = await deadLetters.record(message(deviceId), { code: 'INTERNAL', message: 'bug' });
    const stranger = adminOf(uniqueTenant());
    for (const target of [id, '00000000-0000-4000-8000-000000000000', 'not-a-uuid']) {
      expect(await deadLetters.replay(stranger, target)).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
      expect(await deadLetters.discard(stranger, target)).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    }
    expect(replayed).toEqual([]);
    expect(await deadLetters.list({ tenantId: tenant, limit: 10 })).toHaveLength(1);
  });

  it('does not replay into a device id now registered in another tenant', async () => {
    const tenant = uniqueTenant();
    const deviceId = await createDevice(tenant);
    const { deadLetters, replayed } = service();
    const id = await deadLetters.record(message(deviceId), { code: 'INTERNAL', message: 'bug' });
    await db.prisma.device.delete({ where: { deviceId } });
    await db.prisma.device.create({ data: { deviceId, tenantId: uniqueTenant(), secretHash: 'x', twin: { create: {} } } });
    const outcome = await deadLetters.replay(adminOf(tenant), id);
    expect(outcome).toMatchObject({ ok: true, resolved: false, failure: { code: 'DEVICE_NOT_FOUND' } });
    expect(replayed).toEqual([]);
  });

  it('discards a dead letter of the tenant (audited)', async () => {
    const tenant = uniqueTenant();
    const deviceId = await createDevice(tenant);
    const { deadLetters } = service();
    const id = await deadLetters.record(message(deviceId), { code: 'INTERNAL', message: 'bug' });
    expect(await deadLetters.discard(adminOf(tenant), id)).toEqual({ ok: true, id });
    expect(await deadLetters.list({ tenantId: tenant, limit: 10 })).toEqual([]);
    expect(await deadLetters.discard(adminOf(tenant), id)).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    const audit = await db.prisma.auditEvent.findMany({ where: { tenantId: tenant } });
    expect(audit.map((e) => [e.action, e.target])).toEqual([['deadLetter.discard', `deadLetter:${id}`]]);
  });

  it('throws UnavailableError when the database is unavailable while recording, and records nothing', async () => {
    const tenant = uniqueTenant();
    const deviceId = await createDevice(tenant);
    const down: SqlExecutor = {
      query: () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })),
    };
    const { deadLetters, metrics } = service({ sql: down });
    await expect(deadLetters.record(message(deviceId), { code: 'INTERNAL', message: 'bug' })).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(metrics.get(DEAD_LETTERS_METRIC, { kind: 'telemetry', code: 'INTERNAL' })).toBe(0);
    expect(await service().deadLetters.list({ tenantId: tenant, limit: 10 })).toEqual([]);
  });

  it('rethrows a deterministic failure of the insert itself (the caller decides), counting nothing', async () => {
    const { deadLetters, metrics } = service();
    // A NUL character cannot be stored in a text column: a deterministic failure of the insert.
    await expect(deadLetters.record(message(uniqueDeviceId('dl')), { code: 'INTERNAL', message: 'nul \u0000 inside' })).rejects.toBeDefined();
    expect(metrics.get(DEAD_LETTERS_METRIC, { kind: 'telemetry', code: 'INTERNAL' })).toBe(0);
  });

  it('sweeps rows older than the retention and beyond the per-tenant cap, oldest first', async () => {
    const tenant = uniqueTenant();
    const deviceId = await createDevice(tenant);
    const now = Date.parse('2030-01-31T00:00:00Z');
    const { deadLetters } = service({ config: { retentionDays: 10, maxPerTenant: 3 }, now: () => now });
    const old = await deadLetters.record(message(deviceId, '{}', now - 11 * DAY), { code: 'INTERNAL', message: 'old' });
    const kept: string[] = [];
    for (let i = 5; i >= 1; i--) kept.push(await deadLetters.record(message(deviceId, '{}', now - i * DAY), { code: 'INTERNAL', message: `day -${i}` }));
    const result = await deadLetters.retention.runOnce();
    expect(result.expired).toBeGreaterThanOrEqual(1);
    expect(result.overCap).toBeGreaterThanOrEqual(2);
    const rows = await deadLetters.list({ tenantId: tenant, limit: 10 });
    expect(rows.map((r) => r.id)).toEqual(kept.slice(2).reverse());
    expect(rows.map((r) => r.id)).not.toContain(old);
  });
});
