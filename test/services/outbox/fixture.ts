/**
 * Outbox test fixtures: endpoints with sealed secrets and outbox rows written with SQL (the producers
 * are another service), a real node:http receiver on 127.0.0.1 that verifies every request with
 * verifyWebhook and answers from a script, and a deliverer wired to them.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Database } from '../../../src/db/client.ts';
import { generateSecret } from '../../../src/domain/webhooks/signing.ts';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from '../../../src/domain/webhooks/schedule.ts';
import { loadConfig } from '../../../src/config.ts';
import { createLogger } from '../../../src/logger.ts';
import { Metrics } from '../../../src/metrics.ts';
import { createSecretSealer } from '../../../src/security/webhook-key.ts';
import { createAuditLog } from '../../../src/services/audit.ts';
import { createOutboxService, type ActionExecutor, type OutboxServiceOptions } from '../../../src/services/outbox/index.ts';

export const sealer = createSecretSealer(randomBytes(32));
export const newSecret = () => generateSecret(randomBytes);

/** Retries within milliseconds: the schedule's shape is the domain tests' business. */
export const FAST_RETRY: RetryPolicy = { ...DEFAULT_RETRY_POLICY, baseDelayMs: 5, minDelayMs: 1, maxDelayMs: 40, factor: 2, maxAttempts: 1000 };

export interface EndpointSpec {
  url: string;
  tenantId?: string;
  maxInFlight?: number;
  consecutiveFailures?: number;
  /** Newest last; `expiresInMs` negative: already expired. */
  secrets?: Array<{ secret: string; expiresInMs?: number }>;
}

export async function createEndpoint(db: Database, spec: EndpointSpec): Promise<string> {
  const id = randomUUID();
  await db.sql.query(
    `INSERT INTO "WebhookEndpoint" (id, "tenantId", url, "eventTypes", "maxInFlight", "consecutiveFailures")
     VALUES ($1::uuid, $2, $3, ARRAY['twin.changed']::text[], $4::int, $5::int)`,
    [id, spec.tenantId ?? 'default', spec.url, spec.maxInFlight ?? 4, spec.consecutiveFailures ?? 0],
  );
  const secrets = spec.secrets ?? [{ secret: newSecret() }];
  for (const [i, s] of secrets.entries()) {
    await db.sql.query(
      `INSERT INTO "WebhookSecret" (id, "endpointId", sealed, "createdAt", "expiresAt")
       VALUES (gen_random_uuid(), $1::uuid, $2, now() - $3::int * interval '1 second',
               CASE WHEN $4::int IS NULL THEN NULL ELSE now() + $4::int * interval '1 millisecond' END)`,
      [id, sealer.seal(id, s.secret), secrets.length - i, s.expiresInMs ?? null],
    );
  }
  return id;
}

export interface EventSpec {
  endpointId: string | null;
  deviceKey: string | null;
  type?: string;
  data?: unknown;
  kind?: 'WEBHOOK' | 'ACTION';
  tenantId?: string;
}

/** Inserts rows in the given order (so `seq` follows it); returns their ids and event ids. */
export async function insertEvents(db: Database, events: EventSpec[]): Promise<Array<{ id: string; eventId: string }>> {
  const rows = await db.sql.query<{ id: string; eventId: string }>(
    `INSERT INTO "Outbox" (id, "eventId", "tenantId", kind, "endpointId", "actionKey", "deviceKey", type, "occurredAt", data)
     SELECT gen_random_uuid(), gen_random_uuid(), t, k, e, CASE WHEN k = 'ACTION' THEN 'rule:1:raise:' || o ELSE NULL END, d, ty, now(), da
       FROM unnest($1::text[], $2::text[], $3::uuid[], $4::uuid[], $5::text[], $6::jsonb[]) WITH ORDINALITY AS u(t, k, e, d, ty, da, o)
      ORDER BY o
     RETURNING id, "eventId", seq`,
    [
      events.map((e) => e.tenantId ?? 'default'),
      events.map((e) => e.kind ?? 'WEBHOOK'),
      events.map((e) => e.endpointId),
      events.map((e) => e.deviceKey),
      events.map((e) => e.type ?? 'twin.changed'),
      events.map((e) => JSON.stringify(e.data ?? { deviceId: 'd', version: 1 })),
    ],
  );
  return (rows as Array<{ id: string; eventId: string; seq: string | number }>)
    .sort((a, b) => Number(a.seq) - Number(b.seq))
    .map(({ id, eventId }) => ({ id, eventId }));
}

export const baseConfig = () => ({
  ...loadConfig({}).webhooks,
  allowHttp: true,
  allowedNetworks: ['127.0.0.1/32'],
  timeoutMs: 10_000,
  leaseMs: 60_000,
  pollIntervalMs: 50,
});

const deliverers = new Set<{ stop(): Promise<void> }>();

/**
 * Stops every deliverer created since the last call. A finished attempt wakes its service for another
 * round, so a deliverer a test no longer uses can still claim the next test's rows on a pooled
 * database (seen on PostgreSQL: the next test's runOnce found its row leased and made no attempt).
 */
export async function stopDeliverers(): Promise<void> {
  const running = [...deliverers];
  deliverers.clear();
  await Promise.all(running.map((service) => service.stop()));
}

export function createDeliverer(
  db: Database,
  overrides: Partial<Omit<OutboxServiceOptions, 'config'>> & { config?: Partial<OutboxServiceOptions['config']> } = {},
) {
  const metrics = overrides.metrics ?? new Metrics();
  const logger = createLogger((process.env.OUTBOX_TEST_LOG as 'silent' | undefined) ?? 'silent');
  const executor: ActionExecutor = overrides.executor ?? (async () => ({ ok: false, retry: true, error: 'NO_EXECUTOR' }));
  const service = createOutboxService({
    db,
    sealer,
    audit: createAuditLog({ prisma: db.prisma, logger }),
    logger,
    retryPolicy: FAST_RETRY,
    sampleIntervalMs: 0,
    ...overrides,
    metrics,
    executor,
    config: { ...baseConfig(), ...overrides.config },
  });
  deliverers.add(service);
  return { service, metrics };
}

/** Runs rounds until `done()` (or `maxRounds`, which fails the caller's assertions instead of hanging). */
export async function runUntil(run: () => Promise<unknown>, done: () => boolean | Promise<boolean>, maxRounds = 2000): Promise<number> {
  for (let i = 0; i < maxRounds; i++) {
    if (await done()) return i;
    await run();
    // Retries are due within milliseconds; yield so timers and sockets make progress.
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return maxRounds;
}

export async function rowsOf(db: Database, ids: string[]) {
  return db.sql.query<{
    id: string;
    status: string;
    attempts: number;
    lastError: string | null;
    lastStatus: number | null;
    nextAttemptAt: Date;
    leaseToken: string | null;
  }>(`SELECT id, status, attempts, "lastError", "lastStatus", "nextAttemptAt", "leaseToken" FROM "Outbox" WHERE id = ANY($1::uuid[])`, [ids]);
}
