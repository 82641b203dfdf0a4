/**
 * The SQL claim against its pure definition: on random pending outboxes (seeded, so a failure
 * reproduces), claimDue() leases exactly the rows claimable() picks. Times are hours away from now,
 * so the database's now() and the test's clock agree on every comparison.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../src/db/client.ts';
import { claimable, type PendingEvent } from '../../../src/domain/webhooks/ordering.ts';
import { allowedInFlight, DEFAULT_HEALTH_POLICY } from '../../../src/domain/webhooks/schedule.ts';
import { claimDue } from '../../../src/services/outbox/claim.ts';
import { createOutboxRetention } from '../../../src/services/outbox/retention.ts';
import { createLogger } from '../../../src/logger.ts';
import { Metrics } from '../../../src/metrics.ts';
import { modeName, openTestDatabase } from '../../support/harness.ts';
import { createEndpoint, insertEvents } from './fixture.ts';

let db: Database;
let closeDatabase: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ db, close: closeDatabase } = await openTestDatabase());
});
afterAll(async () => {
  await closeDatabase?.();
});

/** mulberry32: a tiny seeded PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ACTIONS = 'actions';

describe(`the SQL claim (${modeName})`, () => {
  it('picks the same rows as claimable() on random outboxes', async () => {
    let picked = 0;
    // Seeds above 25 are wider: up to 40 streams per endpoint and 150 rows, so the claim's loose index
    // scan hops over many streams (and leases, live or expired, sit anywhere in them, heads or not).
    for (let seed = 1; seed <= 40; seed++) {
      const wide = seed > 25;
      const random = prng(seed);
      const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
      await db.sql.query(`DELETE FROM "Outbox"`);
      await db.sql.query(`DELETE FROM "WebhookEndpoint"`);
      const endpoints: Array<{ id: string; maxInFlight: number; failures: number; enabled: boolean }> = [];
      for (let i = 0; i < 1 + Math.floor(random() * 4); i++) {
        const maxInFlight = 1 + Math.floor(random() * (wide ? 16 : 4));
        const failures = random() < 0.3 ? 5 + Math.floor(random() * 3) : Math.floor(random() * 3);
        const id = await createEndpoint(db, { url: 'https://example.com/hook', maxInFlight, consecutiveFailures: failures });
        const enabled = random() < 0.85;
        if (!enabled) await db.sql.query(`UPDATE "WebhookEndpoint" SET enabled = false WHERE id = $1::uuid`, [id]);
        endpoints.push({ id, maxInFlight, failures, enabled });
      }
      const devices = Array.from({ length: 1 + Math.floor(random() * (wide ? 40 : 5)) }, () => randomUUID());
      const count = Math.floor(random() * (wide ? 150 : 40));
      const specs = Array.from({ length: count }, () => {
        const action = random() < 0.2;
        return {
          endpointId: action ? null : pick(endpoints).id,
          deviceKey: random() < 0.1 ? null : pick(devices),
          kind: action ? ('ACTION' as const) : ('WEBHOOK' as const),
        };
      });
      const rows = await insertEvents(db, specs);
      // Random state per row: done or not, due or not, leased (live or expired) or not.
      for (const row of rows) {
        const status = random() < 0.15 ? pick(['DELIVERED', 'FAILED']) : 'PENDING';
        const dueHours = random() < 0.7 ? -1 - random() * 5 : 1 + random() * 5;
        const lease = random() < 0.2 ? (random() < 0.5 ? 2 : -2) : null;
        await db.sql.query(
          `UPDATE "Outbox" SET status = $2, "nextAttemptAt" = now() + $3::float8 * interval '1 hour',
                  "leasedUntil" = CASE WHEN $4::float8 IS NULL THEN NULL ELSE now() + $4::float8 * interval '1 hour' END,
                  "leaseToken" = CASE WHEN $4::float8 IS NULL THEN NULL ELSE gen_random_uuid() END
            WHERE id = $1::uuid`,
          [row.id, status, dueHours, lease],
        );
      }
      const batch = 1 + Math.floor(random() * (wide ? 40 : 12));
      const actionMaxInFlight = 1 + Math.floor(random() * 3);

      const state = await db.sql.query<{
        id: string;
        endpointId: string | null;
        deviceKey: string | null;
        seq: string;
        nextAttemptAt: Date;
        leasedUntil: Date | null;
      }>(
        `SELECT o.id, o."endpointId", o."deviceKey", o.seq, o."nextAttemptAt", o."leasedUntil"
           FROM "Outbox" o LEFT JOIN "WebhookEndpoint" e ON e.id = o."endpointId"
          WHERE o.status = 'PENDING' AND (o.kind = 'ACTION' OR e.enabled)`,
      );
      const now = Date.now();
      const pending: PendingEvent[] = state.map((r) => ({
        id: r.id,
        endpointId: r.endpointId ?? ACTIONS,
        deviceKey: r.deviceKey,
        seq: Number(r.seq),
        nextAttemptAt: new Date(r.nextAttemptAt).getTime(),
        leasedUntil: r.leasedUntil === null ? null : new Date(r.leasedUntil).getTime(),
      }));
      const maxInFlight = new Map<string, number>(
        endpoints.map((e) => [e.id, allowedInFlight({ consecutiveFailures: e.failures, failingSince: null }, e.maxInFlight, DEFAULT_HEALTH_POLICY)]),
      );
      maxInFlight.set(ACTIONS, actionMaxInFlight);
      const expected = claimable(pending, now, { maxInFlight, defaultMaxInFlight: 0, limit: batch }).map((e) => e.id);

      // The window decides which path finds an endpoint's heads (a walk in seq order or the loose index
      // scan; claim.ts): tiny windows force the second, large ones let the first settle full rooms.
      const window = pick([0, 1, 3, 8, 512]);
      const claimed = await claimDue(db, { batch, leaseMs: 60_000, actionMaxInFlight, health: DEFAULT_HEALTH_POLICY, window });
      expect({ seed, window, ids: claimed.map((c) => c.id) }).toEqual({ seed, window, ids: expected });
      picked += claimed.length;
      // Each leased row got its own token, and a second claim takes none of them again.
      expect(new Set(claimed.map((c) => c.leaseToken)).size).toBe(claimed.length);
      const again = await claimDue(db, { batch: 100, leaseMs: 60_000, actionMaxInFlight, health: DEFAULT_HEALTH_POLICY });
      expect(again.filter((c) => claimed.some((d) => d.id === c.id))).toEqual([]);
    }
    // The random outboxes are not all trivially empty.
    expect(picked).toBeGreaterThan(25);
  });

  it('retention deletes only DELIVERED rows older than the retention, in bounded batches', async () => {
    await db.sql.query(`DELETE FROM "Outbox"`);
    const endpointId = await createEndpoint(db, { url: 'https://example.com/hook' });
    const rows = await insertEvents(
      db,
      Array.from({ length: 9 }, () => ({ endpointId, deviceKey: randomUUID() })),
    );
    // 5 old delivered, 1 recent delivered, 1 old failed, 2 pending (one of them very old).
    const set = (i: number, status: string, deliveredDaysAgo: number | null) =>
      db.sql.query(
        `UPDATE "Outbox" SET status = $2,
                "deliveredAt" = CASE WHEN $3::int IS NULL THEN NULL ELSE now() - $3::int * interval '1 day' END,
                "failedAt" = CASE WHEN $2 = 'FAILED' THEN now() - interval '30 days' END,
                "createdAt" = now() - interval '40 days'
          WHERE id = $1::uuid`,
        [rows[i]!.id, status, deliveredDaysAgo],
      );
    for (let i = 0; i < 5; i++) await set(i, 'DELIVERED', 10 + i);
    await set(5, 'DELIVERED', 0);
    await set(6, 'FAILED', null);
    await set(7, 'PENDING', null);
    await db.sql.query(
      `INSERT INTO "OutboxAttempt" ("outboxId", attempt, "startedAt", "statusCode") SELECT id, 1, now(), 200 FROM "Outbox" WHERE id = ANY($1::uuid[])`,
      [rows.map((r) => r.id)],
    );
    const metrics = new Metrics();
    const retention = createOutboxRetention({ sql: db.sql, logger: createLogger('silent'), metrics, retentionDays: 7, batchRows: 2 });
    expect(await retention.sweep()).toBe(5);
    const left = await db.sql.query<{ id: string }>(`SELECT id FROM "Outbox" ORDER BY seq`);
    expect(left.map((r) => r.id)).toEqual(rows.slice(5).map((r) => r.id));
    const attempts = await db.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM "OutboxAttempt"`);
    expect(attempts[0]!.n).toBe(4);
    expect(await retention.sweep()).toBe(0);
    await retention.stop();
  });
});
