/** The provisioning attempt log (src/services/provisioning/attempts.ts): stored, counted, listed per tenant, bounded. */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/client.ts';
import { createLogger } from '../../src/logger.ts';
import { Metrics } from '../../src/metrics.ts';
import { ATTEMPTS_METRIC, createAttemptLog } from '../../src/services/provisioning/attempts.ts';
import { modeName, openTestDatabase } from '../support/harness.ts';

let db: Database;
let closeDatabase: () => Promise<void>;
beforeAll(async () => {
  ({ db, close: closeDatabase } = await openTestDatabase());
});
afterAll(async () => {
  await closeDatabase?.();
});

describe(`provisioning attempt log (${modeName})`, () => {
  it('stores and counts every attempt, lists a tenant’s newest first, and prune keeps only the newest rows', async () => {
    const metrics = new Metrics();
    const log = createAttemptLog({ db, metrics, logger: createLogger('silent') });
    // A tenant of its own: the database may be shared with other tests.
    const tenantId = `t-${randomUUID().slice(0, 8)}`;
    const policyId = randomUUID();
    for (const reason of ['ACCEPTED', 'TOKEN_EXHAUSTED', 'ROTATED'] as const) {
      await log.record({ tenantId, policyId, mode: 'CLAIM_TOKEN', deviceId: `d-${reason}`, requestId: 'r', reason, message: null });
    }
    await log.record({ tenantId: null, policyId: null, mode: null, deviceId: null, requestId: 'r', reason: 'BAD_TOKEN', message: 'no policy' });
    expect(metrics.get(ATTEMPTS_METRIC, { mode: 'CLAIM_TOKEN', reason: 'TOKEN_EXHAUSTED' })).toBe(1);
    expect(metrics.get(ATTEMPTS_METRIC, { mode: 'unknown', reason: 'BAD_TOKEN' })).toBe(1);

    const listed = await log.list({ tenantId, policyId: null, beforeId: null, limit: 10 });
    expect(listed.map((a) => [a.reason, a.accepted])).toEqual([
      ['ROTATED', true],
      ['TOKEN_EXHAUSTED', false],
      ['ACCEPTED', true],
    ]);
    const older = await log.list({ tenantId, policyId, beforeId: listed[0]!.id, limit: 1 });
    expect(older.map((a) => a.reason)).toEqual(['TOKEN_EXHAUSTED']);

    // Bounded by rows: the newest `keep` stay, whoever wrote them.
    const total = async () => Number((await db.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM "ProvisioningAttempt"`))[0]!.n);
    const newestIds = async (n: number) =>
      (await db.sql.query<{ id: string }>(`SELECT id::text AS id FROM "ProvisioningAttempt" ORDER BY id DESC LIMIT $1`, [n])).map((r) => r.id);
    if (modeName.startsWith('pglite')) {
      // Only on the private embedded database: pruning a shared PostgreSQL would remove other engineers' rows.
      const keep = 2;
      const expected = await newestIds(keep);
      const before = await total();
      expect(await log.prune(keep)).toBe(before - keep);
      expect(await newestIds(10)).toEqual(expected);
      expect(await log.prune(keep)).toBe(0);
    } else {
      // Far above what exists: nothing to delete.
      expect(await log.prune(Number.MAX_SAFE_INTEGER)).toBe(0);
      expect(await total()).toBeGreaterThanOrEqual(4);
    }
  });
});
