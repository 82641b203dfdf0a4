import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.ts';
import type { Database } from '../../../src/db/client.ts';
import { NotFoundError, ValidationError } from '../../../src/domain/errors.ts';
import { actorOf, type Actor } from '../../../src/domain/principal.ts';
import { DEFAULT_EVENT_TYPES, eventIdOf } from '../../../src/domain/webhooks/envelope.ts';
import { signWebhook, verifyWebhook } from '../../../src/domain/webhooks/signing.ts';
import { createLogger } from '../../../src/logger.ts';
import { Metrics } from '../../../src/metrics.ts';
import { createSecretSealer } from '../../../src/security/webhook-key.ts';
import { createAuditLog } from '../../../src/services/audit.ts';
import {
  createWebhookService,
  ENDPOINT_REFUSALS_METRIC,
  eventUuidOf,
  MAX_ROTATION_OVERLAP_SECONDS,
  type HostResolver,
} from '../../../src/services/webhooks/index.ts';
import { modeName, openTestDatabase, uniqueDeviceId } from '../../support/harness.ts';

let db: Database;
let closeDatabase: (() => Promise<void>) | undefined;
beforeAll(async () => {
  ({ db, close: closeDatabase } = await openTestDatabase());
});
afterAll(async () => {
  await closeDatabase?.();
});

const sealer = createSecretSealer(randomBytes(32));
const uniqueTenant = () => `t-${uniqueDeviceId('wh')}`;
const adminOf = (tenantId: string): Actor =>
  actorOf({ tokenId: '00000000-0000-4000-8000-0000000000ab', tenantId, role: 'admin', name: 'admin', expiresAt: null });

/** A fake DNS: names map to the addresses given; anything else does not resolve. */
const dns: Record<string, string[]> = {
  'hooks.example.com': ['93.184.215.14'],
  'intranet.example.com': ['10.1.2.3'],
  'split.example.com': ['93.184.215.14', '127.0.0.1'],
  'empty.example.com': [],
};
const resolveHost: HostResolver = async (host) => {
  const addresses = dns[host];
  if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  return addresses;
};

function service(env: Record<string, string> = {}) {
  const metrics = new Metrics();
  const logger = createLogger('silent');
  const webhooks = createWebhookService({
    sql: db.sql,
    audit: createAuditLog({ prisma: db.prisma, logger }),
    metrics,
    config: loadConfig(env).webhooks,
    sealer,
    resolveHost,
  });
  return { webhooks, metrics };
}

async function auditActions(tenantId: string): Promise<string[]> {
  const rows = await db.prisma.auditEvent.findMany({ where: { tenantId }, orderBy: { id: 'asc' }, select: { action: true } });
  return rows.map((r) => r.action);
}

async function liveSecrets(endpointId: string): Promise<string[]> {
  const rows = await db.sql.query<{ sealed: string }>(
    `SELECT sealed FROM "WebhookSecret" WHERE "endpointId" = $1::uuid AND ("expiresAt" IS NULL OR "expiresAt" > now()) ORDER BY "createdAt" DESC`,
    [endpointId],
  );
  return rows.map((r) => sealer.open(endpointId, r.sealed)!);
}

/** An outbox row of the endpoint as the producers would write it. */
async function seedRow(tenantId: string, endpointId: string, status: string, options: { eventId?: string; createdAt?: string } = {}): Promise<string> {
  const eventId = options.eventId ?? randomUUID();
  await db.sql.query(
    `INSERT INTO "Outbox" (id, "eventId", "tenantId", kind, "endpointId", type, "occurredAt", data, status, attempts, "failedAt", "deliveredAt", "createdAt", "nextAttemptAt")
     VALUES (gen_random_uuid(), $1::uuid, $2, 'WEBHOOK', $3::uuid, 'twin.changed', now(), '{"deviceId":"d1"}', $4, 3,
             CASE WHEN $4 = 'FAILED' THEN now() END, CASE WHEN $4 = 'DELIVERED' THEN now() END, COALESCE($5::timestamptz, now()), now() + interval '1 hour')`,
    [eventId, tenantId, endpointId, status, options.createdAt ?? null],
  );
  return eventId;
}

async function expectRefused(promise: Promise<{ ok: boolean }>, path: string[], code: string) {
  const outcome = (await promise) as { ok: false; error: ValidationError };
  expect(outcome.ok).toBe(false);
  expect(outcome.error).toBeInstanceOf(ValidationError);
  expect(outcome.error.issues).toContainEqual(expect.objectContaining({ path, code }));
}

describe(`webhook endpoints (${modeName})`, () => {
  it('creates with defaults, shows a secret that signs once, stores it sealed, and audits', async () => {
    const tenant = uniqueTenant();
    const { webhooks } = service();
    const created = await webhooks.createEndpoint(adminOf(tenant), { url: 'https://hooks.example.com/doppel', description: 'ops' });
    if (!created.ok) throw created.error;
    const { endpoint, secret } = created;
    expect(endpoint).toMatchObject({
      tenantId: tenant,
      url: 'https://hooks.example.com/doppel',
      description: 'ops',
      eventTypes: [...DEFAULT_EVENT_TYPES],
      filter: { deviceIds: [], tags: [], model: null },
      enabled: true,
      maxInFlight: 4,
      consecutiveFailures: 0,
      secretRotation: { liveSecrets: 1, oldSecretExpiresAt: null },
    });
    expect(endpoint.eventTypes).not.toContain('telemetry.stored');
    expect(secret).toMatch(/^whsec_/);
    // Sealed, not in plain text; and the sealed value opens to the secret shown.
    const stored = await db.sql.query<{ sealed: string }>(`SELECT sealed FROM "WebhookSecret" WHERE "endpointId" = $1::uuid`, [endpoint.id]);
    expect(stored).toHaveLength(1);
    expect(stored[0]!.sealed).not.toContain(secret.slice(6));
    expect(await liveSecrets(endpoint.id)).toEqual([secret]);
    // The receiver verifies with it what Doppel signs with it.
    const signed = signWebhook([secret], 'evt_abc', 1_800_000_000, '{"a":1}');
    if (!signed.ok) throw new Error(signed.message);
    expect(verifyWebhook(secret, { ...signed.headers }, '{"a":1}', { nowSeconds: 1_800_000_000 }).ok).toBe(true);
    // Reads never carry the secret.
    expect(JSON.stringify(await webhooks.listEndpoints(tenant))).not.toContain(secret);
    expect(JSON.stringify(await webhooks.endpoint(tenant, endpoint.id))).not.toContain(secret.slice(6));
    expect(await auditActions(tenant)).toEqual(['webhook.create']);
  });

  it('refuses every bad field with its path and code, stores nothing, and counts', async () => {
    const tenant = uniqueTenant();
    const { webhooks, metrics } = service();
    const admin = adminOf(tenant);
    const ok = { url: 'https://hooks.example.com/x' };
    await expectRefused(webhooks.createEndpoint(admin, { url: 'http://hooks.example.com/x' }), ['url'], 'SCHEME_NOT_ALLOWED');
    await expectRefused(webhooks.createEndpoint(admin, { url: 'https://user:pw@hooks.example.com/x' }), ['url'], 'CREDENTIALS_IN_URL');
    await expectRefused(webhooks.createEndpoint(admin, { url: 'not a url' }), ['url'], 'INVALID_URL');
    await expectRefused(webhooks.createEndpoint(admin, {}), ['url'], 'INVALID_URL');
    await expectRefused(webhooks.createEndpoint(admin, { url: 'https://127.0.0.1/x' }), ['url'], 'REFUSED_ADDRESS');
    await expectRefused(webhooks.createEndpoint(admin, { url: 'https://169.254.169.254/latest' }), ['url'], 'REFUSED_ADDRESS');
    await expectRefused(webhooks.createEndpoint(admin, { url: 'https://intranet.example.com/x' }), ['url'], 'REFUSED_ADDRESS');
    // Every address must pass: one loopback answer among public ones is refused.
    await expectRefused(webhooks.createEndpoint(admin, { url: 'https://split.example.com/x' }), ['url'], 'REFUSED_ADDRESS');
    await expectRefused(webhooks.createEndpoint(admin, { url: 'https://empty.example.com/x' }), ['url'], 'NO_ADDRESS');
    await expectRefused(webhooks.createEndpoint(admin, { url: 'https://nowhere.example.com/x' }), ['url'], 'UNRESOLVABLE_HOST');
    await expectRefused(webhooks.createEndpoint(admin, { ...ok, eventTypes: ['twin.changed', 'twin.exploded'] }), ['eventTypes', '1'], 'UNKNOWN_EVENT_TYPE');
    await expectRefused(webhooks.createEndpoint(admin, { ...ok, eventTypes: ['webhook.test'] }), ['eventTypes', '0'], 'NOT_SUBSCRIBABLE');
    await expectRefused(webhooks.createEndpoint(admin, { ...ok, eventTypes: [] }), ['eventTypes'], 'NO_EVENT_TYPES');
    await expectRefused(webhooks.createEndpoint(admin, { ...ok, eventTypes: ['telemetry.stored'] }), ['filter'], 'FILTER_REQUIRED');
    await expectRefused(webhooks.createEndpoint(admin, { ...ok, maxInFlight: 0 }), ['maxInFlight'], 'OUT_OF_RANGE');
    await expectRefused(webhooks.createEndpoint(admin, { ...ok, maxInFlight: 65 }), ['maxInFlight'], 'OUT_OF_RANGE');
    await expectRefused(webhooks.createEndpoint(admin, { ...ok, maxInFlight: 1.5 }), ['maxInFlight'], 'OUT_OF_RANGE');
    await expectRefused(webhooks.createEndpoint(admin, { ...ok, filter: { deviceIds: ['ok', 'bad/id'] } }), ['filter', 'deviceIds', '1'], 'INVALID_DEVICE_ID');
    await expectRefused(webhooks.createEndpoint(admin, { ...ok, filter: { tags: ['a b'] } }), ['filter', 'tags', '0'], 'INVALID_TAG');
    await expectRefused(webhooks.createEndpoint(admin, { ...ok, filter: { model: 'x'.repeat(101) } }), ['filter', 'model'], 'INVALID_MODEL_NAME');
    await expectRefused(webhooks.createEndpoint(admin, { ...ok, description: 'x'.repeat(501) }), ['description'], 'TOO_LONG');
    // Several bad fields: all reported at once.
    const many = await webhooks.createEndpoint(admin, { url: 'ftp://x', maxInFlight: 0, eventTypes: ['nope'] });
    expect(!many.ok && many.error.issues.map((i) => i.code)).toEqual(['UNKNOWN_EVENT_TYPE', 'OUT_OF_RANGE']);
    expect(await webhooks.listEndpoints(tenant)).toEqual([]);
    expect(await auditActions(tenant)).toEqual([]);
    expect(metrics.get(ENDPOINT_REFUSALS_METRIC, { code: 'REFUSED_ADDRESS' })).toBe(4);
    expect(metrics.get(ENDPOINT_REFUSALS_METRIC, { code: 'OUT_OF_RANGE' })).toBe(3);
  });

  it('allows what the operator allows: WEBHOOKS_ALLOW_HTTP, WEBHOOKS_ALLOWED_NETWORKS; telemetry.stored with a filter', async () => {
    const tenant = uniqueTenant();
    const admin = adminOf(tenant);
    const { webhooks } = service({ WEBHOOKS_ALLOW_HTTP: 'true', WEBHOOKS_ALLOWED_NETWORKS: '10.0.0.0/8,127.0.0.1/32' });
    const http = await webhooks.createEndpoint(admin, { url: 'http://hooks.example.com/x' });
    expect(http.ok).toBe(true);
    const intranet = await webhooks.createEndpoint(admin, { url: 'https://intranet.example.com/x' });
    expect(intranet.ok).toBe(true);
    const loop = await webhooks.createEndpoint(admin, { url: 'http://127.0.0.1:8080/x', maxInFlight: 64 });
    expect(loop.ok && loop.endpoint.maxInFlight).toBe(64);
    // The metadata address stays refused under a wider range.
    await expectRefused(
      service({ WEBHOOKS_ALLOWED_NETWORKS: '169.254.0.0/16' }).webhooks.createEndpoint(admin, { url: 'https://169.254.169.254/' }),
      ['url'],
      'REFUSED_ADDRESS',
    );
    const telemetry = await webhooks.createEndpoint(admin, {
      url: 'https://hooks.example.com/t',
      eventTypes: ['telemetry.stored', 'telemetry.stored'],
      filter: { deviceIds: ['pump-1'], tags: ['site=berlin'], model: 'Pump 2' },
    });
    if (!telemetry.ok) throw telemetry.error;
    expect(telemetry.endpoint).toMatchObject({ eventTypes: ['telemetry.stored'], filter: { deviceIds: ['pump-1'], tags: ['site=berlin'], model: 'Pump 2' } });
  });

  it('updates, re-checking the whole endpoint; disables and enables (clearing the failure streak); deletes with its rows', async () => {
    const tenant = uniqueTenant();
    const admin = adminOf(tenant);
    const { webhooks } = service();
    const created = await webhooks.createEndpoint(admin, { url: 'https://hooks.example.com/a', eventTypes: ['telemetry.stored'], filter: { tags: ['x'] } });
    if (!created.ok) throw created.error;
    const id = created.endpoint.id;
    // Clearing the filter of a telemetry.stored endpoint is refused; so is a refused URL.
    await expectRefused(webhooks.updateEndpoint(admin, id, { filter: { tags: [] } }), ['filter'], 'FILTER_REQUIRED');
    await expectRefused(webhooks.updateEndpoint(admin, id, { url: 'https://10.0.0.1/' }), ['url'], 'REFUSED_ADDRESS');
    const updated = await webhooks.updateEndpoint(admin, id, {
      url: 'https://hooks.example.com/b',
      eventTypes: ['twin.changed'],
      filter: { tags: [] },
      description: 'b',
    });
    if (!updated.ok) throw updated.error;
    expect(updated.endpoint).toMatchObject({ url: 'https://hooks.example.com/b', eventTypes: ['twin.changed'], filter: { tags: [] }, description: 'b' });

    await db.sql.query(
      `UPDATE "WebhookEndpoint" SET enabled = false, "disabledReason" = 'GONE', "disabledAt" = now(), "consecutiveFailures" = 9, "failingSince" = now() WHERE id = $1::uuid`,
      [id],
    );
    const disabled = await webhooks.disableEndpoint(admin, id);
    expect(disabled.ok && disabled.endpoint).toMatchObject({ enabled: false, disabledReason: 'ADMIN' });
    const enabled = await webhooks.enableEndpoint(admin, id);
    expect(enabled.ok && enabled.endpoint).toMatchObject({ enabled: true, disabledReason: null, disabledAt: null, consecutiveFailures: 0, failingSince: null });

    await seedRow(tenant, id, 'PENDING');
    await seedRow(tenant, id, 'FAILED');
    const deleted = await webhooks.deleteEndpoint(admin, id);
    expect(deleted).toEqual({ ok: true, id, deletedEvents: 2 });
    expect(await db.sql.query(`SELECT 1 FROM "Outbox" WHERE "endpointId" = $1::uuid`, [id])).toEqual([]);
    expect(await db.sql.query(`SELECT 1 FROM "WebhookSecret" WHERE "endpointId" = $1::uuid`, [id])).toEqual([]);
    expect(await auditActions(tenant)).toEqual(['webhook.create', 'webhook.update', 'webhook.disable', 'webhook.enable', 'webhook.delete']);
  });

  it('rotates: two live secrets, the old one expiring after the overlap; a second rotation never extends it', async () => {
    const tenant = uniqueTenant();
    const admin = adminOf(tenant);
    const { webhooks } = service();
    const created = await webhooks.createEndpoint(admin, { url: 'https://hooks.example.com/r' });
    if (!created.ok) throw created.error;
    const id = created.endpoint.id;
    const before = Date.now();
    const rotated = await webhooks.rotateSecret(admin, id);
    if (!rotated.ok) throw rotated.error;
    expect(rotated.secret).not.toBe(created.secret);
    expect(await liveSecrets(id)).toEqual([rotated.secret, created.secret]);
    const expires = rotated.endpoint.secretRotation.oldSecretExpiresAt!.getTime();
    expect(rotated.endpoint.secretRotation.liveSecrets).toBe(2);
    expect(expires).toBeGreaterThanOrEqual(before + 24 * 3600_000 - 5000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 24 * 3600_000 + 5000);
    // Signed with both (as the deliverer does in the overlap): a receiver holding either verifies.
    const signed = signWebhook([rotated.secret, created.secret], 'evt_1', 1_800_000_000, 'body');
    if (!signed.ok) throw new Error(signed.message);
    for (const secret of [created.secret, rotated.secret])
      expect(verifyWebhook(secret, { ...signed.headers }, 'body', { nowSeconds: 1_800_000_000 }).ok).toBe(true);

    // Rotating again with no overlap: every older secret stops now, only the newest signs.
    const again = await webhooks.rotateSecret(admin, id, 0);
    if (!again.ok) throw again.error;
    expect(await liveSecrets(id)).toEqual([again.secret]);
    expect(again.endpoint.secretRotation).toEqual({ liveSecrets: 1, oldSecretExpiresAt: null });

    await expectRefused(webhooks.rotateSecret(admin, id, MAX_ROTATION_OVERLAP_SECONDS + 1), ['overlapSeconds'], 'OUT_OF_RANGE');
    await expectRefused(webhooks.rotateSecret(admin, id, -1), ['overlapSeconds'], 'OUT_OF_RANGE');
    expect(await auditActions(tenant)).toEqual(['webhook.create', 'webhook.rotateSecret', 'webhook.rotateSecret']);
  });

  it("is tenant-scoped: another tenant's endpoint is NOT_FOUND everywhere and unchanged", async () => {
    const owner = adminOf(uniqueTenant());
    const stranger = adminOf(uniqueTenant());
    const { webhooks } = service();
    const created = await webhooks.createEndpoint(owner, { url: 'https://hooks.example.com/t' });
    if (!created.ok) throw created.error;
    const id = created.endpoint.id;
    const eventId = await seedRow(owner.tenantId, id, 'FAILED');
    const outcomes = [
      await webhooks.updateEndpoint(stranger, id, { description: 'mine' }),
      await webhooks.enableEndpoint(stranger, id),
      await webhooks.disableEndpoint(stranger, id),
      await webhooks.rotateSecret(stranger, id),
      await webhooks.deliveries(stranger.tenantId, { endpointId: id, first: 10 }),
      await webhooks.redeliverEvent(stranger, eventId),
      await webhooks.redeliverFailed(stranger, id, new Date(0)),
      await webhooks.sendTestEvent(stranger, id),
      await webhooks.deleteEndpoint(stranger, id),
      await webhooks.deleteEndpoint(stranger, 'not-a-uuid'),
    ];
    for (const outcome of outcomes) expect(!outcome.ok && outcome.error).toBeInstanceOf(NotFoundError);
    expect(await webhooks.endpoint(stranger.tenantId, id)).toBeUndefined();
    expect(await webhooks.listEndpoints(stranger.tenantId)).toEqual([]);
    expect(await webhooks.endpoint(owner.tenantId, id)).toMatchObject({ description: null, enabled: true, secretRotation: { liveSecrets: 1 } });
    expect(await db.sql.query(`SELECT status FROM "Outbox" WHERE "endpointId" = $1::uuid`, [id])).toEqual([{ status: 'FAILED' }]);
    expect(await auditActions(stranger.tenantId)).toEqual([]);
  });

  it('lists deliveries newest first with attempts and totalCount; redelivers one event and FAILED rows since; queues a test event', async () => {
    const tenant = uniqueTenant();
    const admin = adminOf(tenant);
    const { webhooks } = service();
    const a = await webhooks.createEndpoint(admin, { url: 'https://hooks.example.com/1' });
    const b = await webhooks.createEndpoint(admin, { url: 'https://hooks.example.com/2' });
    if (!a.ok || !b.ok) throw new Error('create failed');
    const shared = randomUUID();
    await seedRow(tenant, a.endpoint.id, 'FAILED', { eventId: shared });
    await seedRow(tenant, b.endpoint.id, 'DELIVERED', { eventId: shared });
    const old = await seedRow(tenant, a.endpoint.id, 'FAILED', { createdAt: '2020-01-01T00:00:00Z' });
    const recent = await seedRow(tenant, a.endpoint.id, 'FAILED');
    await seedRow(tenant, a.endpoint.id, 'DELIVERED');
    const [sharedRow] = await db.sql.query<{ id: string }>(`SELECT id::text AS id FROM "Outbox" WHERE "eventId" = $1::uuid AND "endpointId" = $2::uuid`, [
      shared,
      a.endpoint.id,
    ]);
    await db.sql.query(
      `INSERT INTO "OutboxAttempt" ("outboxId", attempt, "startedAt", "statusCode", "latencyMs", error, "nextAttemptAt")
       VALUES ($1::uuid, 1, now(), 500, 12, 'HTTP 500', now() + interval '5 seconds'), ($1::uuid, 2, now(), NULL, 15000, 'timeout', NULL)`,
      [sharedRow!.id],
    );

    const page1 = await webhooks.deliveries(tenant, { endpointId: a.endpoint.id, first: 2 });
    if (!page1.ok) throw page1.error;
    expect(page1.totalCount).toBe(4);
    expect(page1.hasNextPage).toBe(true);
    expect(page1.deliveries.map((d) => d.status)).toEqual(['DELIVERED', 'FAILED']);
    expect(page1.deliveries[1]!.eventId).toBe(eventIdOf(recent));
    const page2 = await webhooks.deliveries(tenant, { endpointId: a.endpoint.id, first: 10, afterSeq: page1.deliveries[1]!.seq });
    if (!page2.ok) throw page2.error;
    expect(page2.deliveries.map((d) => d.eventUuid)).toEqual([old, shared]);
    expect(page2.hasNextPage).toBe(false);
    expect(page2.deliveries[1]).toMatchObject({ type: 'twin.changed', deviceId: 'd1', attempts: 3 });
    expect(page2.deliveries[1]!.attemptLog).toMatchObject([
      { attempt: 1, statusCode: 500, latencyMs: 12, error: 'HTTP 500' },
      { attempt: 2, statusCode: null, error: 'timeout', nextAttemptAt: null },
    ]);
    const failedOnly = await webhooks.deliveries(tenant, { endpointId: a.endpoint.id, status: 'FAILED', first: 10 });
    expect(failedOnly.ok && failedOnly.totalCount).toBe(3);

    // One event, by its evt_ id: every row of it goes back to PENDING, due now, attempts kept.
    const redelivered = await webhooks.redeliverEvent(admin, eventIdOf(shared)!);
    expect(redelivered).toEqual({ ok: true, eventId: eventIdOf(shared), count: 2 });
    const rows = await db.sql.query<{ status: string; attempts: number; due: boolean; failedAt: unknown; deliveredAt: unknown }>(
      `SELECT status, attempts, "nextAttemptAt" <= now() AS due, "failedAt", "deliveredAt" FROM "Outbox" WHERE "eventId" = $1::uuid`,
      [shared],
    );
    expect(rows).toEqual([
      { status: 'PENDING', attempts: 3, due: true, failedAt: null, deliveredAt: null },
      { status: 'PENDING', attempts: 3, due: true, failedAt: null, deliveredAt: null },
    ]);
    expect((await webhooks.redeliverEvent(admin, `evt_${'0'.repeat(32)}`)).ok).toBe(false);
    expect((await webhooks.redeliverEvent(admin, 'evt_nonsense')).ok).toBe(false);

    // FAILED since yesterday: only the recent one; the 2020 one stays.
    const bulk = await webhooks.redeliverFailed(admin, a.endpoint.id, new Date(Date.now() - 86_400_000));
    expect(bulk).toEqual({ ok: true, count: 1, more: false });
    const statusOf = async (eventId: string) =>
      (await db.sql.query<{ status: string }>(`SELECT status FROM "Outbox" WHERE "eventId" = $1::uuid`, [eventId]))[0]!.status;
    expect(await statusOf(recent)).toBe('PENDING');
    expect(await statusOf(old)).toBe('FAILED');
    expect(await webhooks.redeliverFailed(admin, a.endpoint.id, new Date(0))).toEqual({ ok: true, count: 1, more: false });
    expect(await statusOf(old)).toBe('PENDING');

    const test = await webhooks.sendTestEvent(admin, b.endpoint.id);
    if (!test.ok) throw test.error;
    const testRows = await db.sql.query<{ type: string; kind: string; deviceKey: string | null; data: unknown; status: string; endpointId: string }>(
      `SELECT type, kind, "deviceKey", data, status, "endpointId"::text AS "endpointId" FROM "Outbox" WHERE "eventId" = $1::uuid`,
      [eventUuidOf(test.eventId)],
    );
    expect(testRows).toEqual([
      { type: 'webhook.test', kind: 'WEBHOOK', deviceKey: null, data: { endpointId: b.endpoint.id }, status: 'PENDING', endpointId: b.endpoint.id },
    ]);
    expect(await auditActions(tenant)).toEqual([
      'webhook.create',
      'webhook.create',
      'webhook.redeliver',
      'webhook.redeliverFailed',
      'webhook.redeliverFailed',
      'webhook.test',
    ]);
  });

  it('eventUuidOf takes evt_ ids and uuids, and nothing else', () => {
    const uuid = randomUUID();
    expect(eventUuidOf(eventIdOf(uuid)!)).toBe(uuid);
    expect(eventUuidOf(uuid.toUpperCase())).toBe(uuid);
    expect(eventUuidOf('evt_123')).toBeNull();
    expect(eventUuidOf('')).toBeNull();
  });
});
