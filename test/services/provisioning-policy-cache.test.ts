/**
 * The device side's policy cache (src/services/provisioning/policy-cache.ts) and the rule that makes
 * it safe: a cached policy can admit a CONNECT or a request, never create or rotate a device for a
 * policy that is disabled, expired or deleted. Changes made through the admin side take effect at once;
 * changes made behind the service's back (another Doppel process on the same database, simulated here
 * with a direct UPDATE/DELETE) are caught by the writes, which decide on the database row.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/client.ts';
import { createEventBus } from '../../src/events/bus.ts';
import { createLogger } from '../../src/logger.ts';
import { Metrics } from '../../src/metrics.ts';
import { createAuditLog } from '../../src/services/audit.ts';
import { createDeviceService } from '../../src/services/devices/index.ts';
import { createProvisioningService, type ProvisioningService } from '../../src/services/provisioning/index.ts';
import { createPolicyCache } from '../../src/services/provisioning/policy-cache.ts';
import { modeName, openTestDatabase, uniqueDeviceId } from '../support/harness.ts';
import { recordingSessions } from './devices/support.ts';

describe('policy cache (pure)', () => {
  it('serves a hit until its TTL, then loads again; misses are never stored', async () => {
    let clock = 0;
    const cache = createPolicyCache<string>(1000, () => clock);
    let loads = 0;
    const load = async () => `v${++loads}`;
    expect(await cache.get('k', load)).toBe('v1');
    clock = 999;
    expect(await cache.get('k', load)).toBe('v1');
    clock = 1000;
    expect(await cache.get('k', load)).toBe('v2');
    let missLoads = 0;
    const miss = async () => {
      missLoads += 1;
      return undefined;
    };
    expect(await cache.get('nobody', miss)).toBeUndefined();
    expect(await cache.get('nobody', miss)).toBeUndefined();
    expect(missLoads).toBe(2);
  });

  it('concurrent misses share one load; clear() drops entries and a load begun before it is not stored', async () => {
    const cache = createPolicyCache<string>(60_000, () => 0);
    let loads = 0;
    let release: () => void = () => {};
    const slow = () =>
      new Promise<string>((resolve) => {
        loads += 1;
        release = () => resolve(`v${loads}`);
      });
    const both = Promise.all([cache.get('k', slow), cache.get('k', slow)]);
    release();
    expect(await both).toEqual(['v1', 'v1']);
    expect(loads).toBe(1);

    cache.clear();
    const before = cache.get('k', slow);
    cache.clear(); // the policy changed while it was being read
    release();
    expect(await before).toBe('v2');
    expect(await cache.get('k', async () => 'after')).toBe('after');
  });

  it('a failed load is not stored and is not shared with later callers', async () => {
    const cache = createPolicyCache<string>(60_000, () => 0);
    await expect(cache.get('k', () => Promise.reject(new Error('db down')))).rejects.toThrow('db down');
    expect(await cache.get('k', async () => 'ok')).toBe('ok');
  });
});

let db: Database;
let closeDatabase: () => Promise<void>;
let provisioning: ProvisioningService;
beforeAll(async () => {
  ({ db, close: closeDatabase } = await openTestDatabase());
  const logger = createLogger('silent');
  const audit = createAuditLog({ prisma: db.prisma, logger });
  const devices = createDeviceService({ db, bus: createEventBus(), logger, sessions: recordingSessions(), audit });
  provisioning = createProvisioningService({
    db,
    logger,
    metrics: new Metrics(),
    audit,
    devices,
    groupKeys: { seal: (_id, key) => key, open: (_id, sealed) => sealed },
  });
}, 120_000);
afterAll(async () => {
  await closeDatabase?.();
});

const actor = () => ({ tenantId: `t-${randomUUID().slice(0, 8)}`, actor: 'test', actorName: 'test' });
const request = (token: string, deviceId: string) => Buffer.from(JSON.stringify({ deviceId, claimToken: token }));
const codeOf = (o: { ok: true; reason: string } | { ok: false; error: { code: string } }) => (o.ok ? o.reason : o.error.code);

async function claimTokenPolicy(input: { maxDevices?: number; reprovision?: 'REFUSE' | 'ROTATE' } = {}) {
  const a = actor();
  const created = await provisioning.createPolicy(a, { name: `p-${randomUUID().slice(0, 8)}`, mode: 'CLAIM_TOKEN', ...input });
  return { actor: a, policyId: created.policy.id, token: created.claimToken! };
}

async function deviceExists(deviceId: string): Promise<boolean> {
  return (await db.sql.query(`SELECT 1 FROM "Device" WHERE "deviceId" = $1`, [deviceId])).length === 1;
}

describe(`provisioning with a warm policy cache (${modeName})`, () => {
  it('a policy disabled through the admin side is refused at once, at CONNECT and at the request', async () => {
    const policy = await claimTokenPolicy();
    const session = await provisioning.authenticateClaim(policy.token, 'warm');
    expect(session.ok).toBe(true); // the policy is cached now
    await provisioning.updatePolicy(policy.actor, policy.policyId, { enabled: false });
    const connect = await provisioning.authenticateClaim(policy.token, 'after');
    expect(!connect.ok && connect.error.code).toBe('POLICY_DISABLED');
    const id = uniqueDeviceId('off');
    const outcome = await provisioning.handleRequest(session.ok ? session : null, 'after', request(policy.token, id));
    expect(codeOf(outcome)).toBe('POLICY_DISABLED');
    expect(await deviceExists(id)).toBe(false);
  }, 60_000);

  it('a policy deleted through the admin side is refused at once (BAD_TOKEN)', async () => {
    const policy = await claimTokenPolicy();
    expect((await provisioning.authenticateClaim(policy.token, 'warm')).ok).toBe(true);
    await provisioning.deletePolicy(policy.actor, policy.policyId);
    const connect = await provisioning.authenticateClaim(policy.token, 'after');
    expect(!connect.ok && connect.error.code).toBe('BAD_TOKEN');
  }, 60_000);

  it('a policy disabled or deleted behind the cache (another process) creates no device: the batch decides on the row', async () => {
    const disabled = await claimTokenPolicy();
    const session = await provisioning.authenticateClaim(disabled.token, 'warm');
    expect(session.ok).toBe(true);
    await db.sql.query(`UPDATE "ProvisioningPolicy" SET enabled = false WHERE id = $1::uuid`, [disabled.policyId]);
    const id = uniqueDeviceId('stale');
    const outcome = await provisioning.handleRequest(session.ok ? session : null, 'stale', request(disabled.token, id));
    expect(codeOf(outcome)).toBe('POLICY_DISABLED');
    expect(await deviceExists(id)).toBe(false);
    // The refusal dropped the stale entry: the next CONNECT is refused at once.
    const connect = await provisioning.authenticateClaim(disabled.token, 'next');
    expect(!connect.ok && connect.error.code).toBe('POLICY_DISABLED');

    const deleted = await claimTokenPolicy();
    expect((await provisioning.authenticateClaim(deleted.token, 'warm')).ok).toBe(true);
    await db.sql.query(`DELETE FROM "ProvisioningPolicy" WHERE id = $1::uuid`, [deleted.policyId]);
    const gone = uniqueDeviceId('gone');
    const refused = await provisioning.handleRequest(null, 'gone', request(deleted.token, gone));
    expect(refused.ok).toBe(false);
    expect(await deviceExists(gone)).toBe(false);
  }, 60_000);

  it('a ROTATE policy disabled behind the cache rotates nothing', async () => {
    const policy = await claimTokenPolicy({ reprovision: 'ROTATE' });
    const id = uniqueDeviceId('rot');
    const first = await provisioning.handleRequest(null, 'first', request(policy.token, id));
    expect(codeOf(first)).toBe('ACCEPTED');
    const secretBefore = await db.sql.query<{ secretHash: string }>(`SELECT "secretHash" FROM "Device" WHERE "deviceId" = $1`, [id]);
    await db.sql.query(`UPDATE "ProvisioningPolicy" SET enabled = false WHERE id = $1::uuid`, [policy.policyId]);
    const again = await provisioning.handleRequest(null, 'again', request(policy.token, id));
    expect(codeOf(again)).toBe('POLICY_DISABLED');
    const secretAfter = await db.sql.query<{ secretHash: string }>(`SELECT "secretHash" FROM "Device" WHERE "deviceId" = $1`, [id]);
    expect(secretAfter).toEqual(secretBefore);
  }, 60_000);

  it('the last device of a policy drops it from the cache: the next CONNECT is TOKEN_EXHAUSTED', async () => {
    const policy = await claimTokenPolicy({ maxDevices: 1 });
    expect((await provisioning.authenticateClaim(policy.token, 'warm')).ok).toBe(true);
    expect(codeOf(await provisioning.handleRequest(null, 'only', request(policy.token, uniqueDeviceId('last'))))).toBe('ACCEPTED');
    const connect = await provisioning.authenticateClaim(policy.token, 'next');
    expect(!connect.ok && connect.error.code).toBe('TOKEN_EXHAUSTED');
  }, 60_000);
});
