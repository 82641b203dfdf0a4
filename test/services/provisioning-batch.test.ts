/**
 * Provisioning creations batched per tick (src/services/provisioning/creations.ts), through the
 * service's gate as the transports call it: requests made in the same tick share one batch, so these
 * tests issue them with Promise.all and check the limits and refusals hold set-based.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/client.ts';
import { createEventBus } from '../../src/events/bus.ts';
import { createLogger } from '../../src/logger.ts';
import { Metrics } from '../../src/metrics.ts';
import { createAuditLog } from '../../src/services/audit.ts';
import { createDeviceService } from '../../src/services/devices/index.ts';
import { createAttemptLog } from '../../src/services/provisioning/attempts.ts';
import { createCreationBatcher } from '../../src/services/provisioning/creations.ts';
import { createProvisioningService, type ProvisioningService } from '../../src/services/provisioning/index.ts';
import { modeName, openTestDatabase, uniqueDeviceId } from '../support/harness.ts';
import { recordingSessions } from './devices/support.ts';

let db: Database;
let closeDatabase: () => Promise<void>;
let provisioning: ProvisioningService;
/** A provisioning service of its own on the test database: as another Doppel process would have (its own batches and cache). */
function provisioningService(): ProvisioningService {
  const logger = createLogger('silent');
  const audit = createAuditLog({ prisma: db.prisma, logger });
  const devices = createDeviceService({ db, bus: createEventBus(), logger, sessions: recordingSessions(), audit });
  return createProvisioningService({
    db,
    logger,
    metrics: new Metrics(),
    audit,
    devices,
    // Identity sealing: these tests use claim tokens only.
    groupKeys: { seal: (_id, key) => key, open: (_id, sealed) => sealed },
  });
}
beforeAll(async () => {
  ({ db, close: closeDatabase } = await openTestDatabase());
  provisioning = provisioningService();
}, 120_000);
afterAll(async () => {
  await closeDatabase?.();
});

// A tenant of its own: the database may be shared with other tests.
const actor = () => ({ tenantId: `t-${randomUUID().slice(0, 8)}`, actor: 'test', actorName: 'test' });

async function claimTokenPolicy(input: { maxDevices?: number; reprovision?: 'REFUSE' | 'ROTATE' } = {}) {
  const a = actor();
  const created = await provisioning.createPolicy(a, { name: `p-${randomUUID().slice(0, 8)}`, mode: 'CLAIM_TOKEN', ...input });
  return { actor: a, policyId: created.policy.id, token: created.claimToken! };
}

async function allowListPolicy(allowedDeviceIds: string[], input: { maxDevices?: number; reprovision?: 'REFUSE' | 'ROTATE' } = {}) {
  const a = actor();
  const created = await provisioning.createPolicy(a, { name: `p-${randomUUID().slice(0, 8)}`, mode: 'ALLOW_LIST', allowedDeviceIds, ...input });
  return { actor: a, policyId: created.policy.id, token: created.claimToken! };
}

async function allowedIdsOf(policyId: string) {
  return db.sql.query<{ deviceId: string; claimed: boolean }>(
    `SELECT "deviceId", "claimedAt" IS NOT NULL AS claimed FROM "ProvisioningAllowedId" WHERE "policyId" = $1::uuid ORDER BY "deviceId"`,
    [policyId],
  );
}

async function counterOf(policyId: string): Promise<number | undefined> {
  const rows = await db.sql.query<{ devicesProvisioned: number }>(`SELECT "devicesProvisioned" FROM "ProvisioningPolicy" WHERE id = $1::uuid`, [policyId]);
  return rows[0]?.devicesProvisioned;
}

const codeOf = (o: Awaited<ReturnType<ProvisioningService['handleRequest']>>) => (o.ok ? o.reason : o.error.code);

const request = (token: string, deviceId: string) => Buffer.from(JSON.stringify({ deviceId, claimToken: token }));

async function attemptsOf(policyId: string) {
  return db.sql.query<{ deviceId: string | null; reason: string; accepted: boolean }>(
    `SELECT "deviceId", reason, accepted FROM "ProvisioningAttempt" WHERE "policyId" = $1::uuid ORDER BY id`,
    [policyId],
  );
}

describe(`provisioning creations batched per tick (${modeName})`, () => {
  it('a burst of N concurrent claims against maxDevices = N/2 grants exactly N/2; the rest are TOKEN_EXHAUSTED', async () => {
    const N = 40;
    const policy = await claimTokenPolicy({ maxDevices: N / 2 });
    const ids = Array.from({ length: N }, () => uniqueDeviceId('burst'));
    const outcomes = await Promise.all(ids.map((id, i) => provisioning.handleRequest(null, `req-${i}`, request(policy.token, id))));
    expect(outcomes.filter((o) => o.ok)).toHaveLength(N / 2);
    expect(outcomes.filter((o) => !o.ok).map((o) => (o.ok ? '' : o.error.code))).toEqual(Array(N / 2).fill('TOKEN_EXHAUSTED'));
    const rows = await db.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM "Device" WHERE "deviceId" = ANY($1::text[])`, [ids]);
    expect(rows[0]?.n).toBe(N / 2);
    const counter = await db.sql.query<{ devicesProvisioned: number }>(`SELECT "devicesProvisioned" FROM "ProvisioningPolicy" WHERE id = $1::uuid`, [
      policy.policyId,
    ]);
    expect(counter[0]?.devicesProvisioned).toBe(N / 2);
    const reasons = (await attemptsOf(policy.policyId)).map((a) => a.reason).sort();
    expect(reasons).toEqual([...Array(N / 2).fill('ACCEPTED'), ...Array(N / 2).fill('TOKEN_EXHAUSTED')].sort());
  }, 120_000);

  it('a batch holding the same device id twice: one is created, the other gets the policy answer for an existing id', async () => {
    const refusing = await claimTokenPolicy();
    const id = uniqueDeviceId('twice');
    const both = await Promise.all([
      provisioning.handleRequest(null, 'a', request(refusing.token, id)),
      provisioning.handleRequest(null, 'b', request(refusing.token, id)),
    ]);
    expect(both.filter((o) => o.ok)).toHaveLength(1);
    const refused = both.find((o) => !o.ok);
    expect(refused && !refused.ok && refused.error.code).toBe('ALREADY_PROVISIONED');
    expect((await db.sql.query(`SELECT 1 FROM "Device" WHERE "deviceId" = $1`, [id])).length).toBe(1);

    const rotating = await claimTokenPolicy({ reprovision: 'ROTATE' });
    const other = uniqueDeviceId('twice');
    const answers = await Promise.all([
      provisioning.handleRequest(null, 'c', request(rotating.token, other)),
      provisioning.handleRequest(null, 'd', request(rotating.token, other)),
    ]);
    expect(answers.map((o) => (o.ok ? o.reason : o.error.code)).sort()).toEqual(['ACCEPTED', 'ROTATED']);
    const counter = await db.sql.query<{ devicesProvisioned: number }>(`SELECT "devicesProvisioned" FROM "ProvisioningPolicy" WHERE id = $1::uuid`, [
      rotating.policyId,
    ]);
    expect(counter[0]?.devicesProvisioned).toBe(1);
  }, 120_000);

  it('a batch mixing valid and refused requests stores every attempt with its reason', async () => {
    const policy = await claimTokenPolicy({ maxDevices: 2 });
    const existing = uniqueDeviceId('mix');
    expect((await provisioning.handleRequest(null, 'first', request(policy.token, existing))).ok).toBe(true);
    const fresh = [uniqueDeviceId('mix'), uniqueDeviceId('mix')];
    const outcomes = await Promise.all([
      provisioning.handleRequest(null, 'ok-or-exhausted-1', request(policy.token, fresh[0]!)),
      provisioning.handleRequest(null, 'ok-or-exhausted-2', request(policy.token, fresh[1]!)),
      provisioning.handleRequest(null, 'again', request(policy.token, existing)),
      provisioning.handleRequest(null, 'bad-id', request(policy.token, 'not a valid id')),
      provisioning.handleRequest(null, 'bad-json', Buffer.from('{')),
      provisioning.handleRequest(null, 'bad-token', request('dpl_ct_nope', uniqueDeviceId('mix'))),
    ]);
    const codes = outcomes.map((o) => (o.ok ? o.reason : o.error.code));
    // One of the two new ids gets the policy's last device, whichever the batch takes first.
    expect(codes.slice(0, 2).sort()).toEqual(['ACCEPTED', 'TOKEN_EXHAUSTED']);
    const [winner, loser] = codes[0] === 'ACCEPTED' ? [fresh[0]!, fresh[1]!] : [fresh[1]!, fresh[0]!];
    expect(codes.slice(2)).toEqual(['ALREADY_PROVISIONED', 'INVALID_DEVICE_ID', 'INVALID_REQUEST', 'BAD_TOKEN']);
    // Attempts of this policy (the unparseable and bad-token requests name no policy of it).
    const stored = await attemptsOf(policy.policyId);
    expect(stored.map((a) => `${a.deviceId ?? '-'}:${a.reason}`).sort()).toEqual(
      [`${existing}:ACCEPTED`, `${winner}:ACCEPTED`, `${loser}:TOKEN_EXHAUSTED`, `${existing}:ALREADY_PROVISIONED`, '-:INVALID_DEVICE_ID'].sort(),
    );
    expect(stored.filter((a) => a.accepted)).toHaveLength(2);
  }, 120_000);

  it('allow-list: a burst of listed, unlisted and repeated serials is claimed in one batch, each listed serial once', async () => {
    const serials = Array.from({ length: 12 }, () => uniqueDeviceId('serial'));
    const policy = await allowListPolicy(serials);
    const unlisted = uniqueDeviceId('unlisted');
    const outcomes = await Promise.all([
      ...serials.map((id, i) => provisioning.handleRequest(null, `s-${i}`, request(policy.token, id))),
      provisioning.handleRequest(null, 'unlisted', request(policy.token, unlisted)),
      // The same serial again in the same tick: it waits for the batch that claims it.
      provisioning.handleRequest(null, 'again', request(policy.token, serials[0]!)),
    ]);
    expect(outcomes.map(codeOf)).toEqual([...Array(12).fill('ACCEPTED'), 'NOT_ON_ALLOW_LIST', 'ALREADY_CLAIMED']);
    expect((await allowedIdsOf(policy.policyId)).every((a) => a.claimed)).toBe(true);
    expect(await counterOf(policy.policyId)).toBe(12);
    const rows = await db.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM "Device" WHERE "deviceId" = ANY($1::text[])`, [[...serials, unlisted]]);
    expect(rows[0]?.n).toBe(12);
  }, 120_000);

  it('allow-list: two processes racing for the same allowed serial — the database gives it to exactly one', async () => {
    // Two services on one database are two Doppel processes: their batches are separate statements
    // that meet only on the row (`claimedAt IS NULL`), never in memory.
    const other = provisioningService();
    for (let round = 0; round < 5; round++) {
      const serial = uniqueDeviceId('race');
      const policy = await allowListPolicy([serial]);
      const both = await Promise.all([
        provisioning.handleRequest(null, `a-${round}`, request(policy.token, serial)),
        other.handleRequest(null, `b-${round}`, request(policy.token, serial)),
      ]);
      expect(both.filter((o) => o.ok)).toHaveLength(1);
      // The loser may see the winner's claim before or after the winner's device exists: either way it is refused.
      expect(['ALREADY_CLAIMED', 'ALREADY_PROVISIONED']).toContain(codeOf(both.find((o) => !o.ok)!));
      expect(await allowedIdsOf(policy.policyId)).toEqual([{ deviceId: serial, claimed: true }]);
      expect(await counterOf(policy.policyId)).toBe(1);
      expect((await db.sql.query(`SELECT 1 FROM "Device" WHERE "deviceId" = $1`, [serial])).length).toBe(1);
      const reasons = (await attemptsOf(policy.policyId)).map((a) => a.reason);
      expect(reasons.filter((r) => r === 'ACCEPTED')).toHaveLength(1);
      expect(reasons).toHaveLength(2);
    }
  }, 120_000);

  it('allow-list: a serial the batch claimed but could not create (maxDevices) goes back to the list; a listed id taken by a registration stays unclaimed', async () => {
    const serials = [uniqueDeviceId('cap'), uniqueDeviceId('cap'), uniqueDeviceId('cap')];
    const registered = uniqueDeviceId('registered');
    const policy = await allowListPolicy([...serials, registered], { maxDevices: 1 });
    // An admin registered one listed id outside provisioning.
    const logger = createLogger('silent');
    const devices = createDeviceService({
      db,
      bus: createEventBus(),
      logger,
      sessions: recordingSessions(),
      audit: createAuditLog({ prisma: db.prisma, logger }),
    });
    expect((await devices.registerMany(policy.actor, [{ deviceId: registered }])).created).toBe(1);

    const outcomes = await Promise.all([
      ...serials.map((id, i) => provisioning.handleRequest(null, `c-${i}`, request(policy.token, id))),
      provisioning.handleRequest(null, 'reg', request(policy.token, registered)),
    ]);
    const codes = outcomes.map(codeOf);
    expect(codes.slice(0, 3).sort()).toEqual(['ACCEPTED', 'TOKEN_EXHAUSTED', 'TOKEN_EXHAUSTED']);
    expect(codes[3]).toBe('ALREADY_PROVISIONED');
    const winner = serials[codes.indexOf('ACCEPTED')]!;
    const byId = (a: { deviceId: string }, b: { deviceId: string }) => a.deviceId.localeCompare(b.deviceId);
    expect((await allowedIdsOf(policy.policyId)).sort(byId)).toEqual(
      [...serials, registered].map((deviceId) => ({ deviceId, claimed: deviceId === winner })).sort(byId),
    );
    expect(await counterOf(policy.policyId)).toBe(1);

    // The given-back serials can be claimed once the policy allows more.
    await provisioning.updatePolicy(policy.actor, policy.policyId, { maxDevices: 3 });
    const later = await Promise.all(
      serials.filter((id) => id !== winner).map((id, i) => provisioning.handleRequest(null, `d-${i}`, request(policy.token, id))),
    );
    expect(later.map(codeOf)).toEqual(['ACCEPTED', 'ACCEPTED']);
    expect(await counterOf(policy.policyId)).toBe(3);
  }, 120_000);
});

describe(`provisioning creation batch failures (${modeName})`, () => {
  it('a batch whose statement fails rejects every request of it, the repeated id too, and creates nothing for any of them later', async () => {
    const policy = await claimTokenPolicy();
    const logger = createLogger('silent');
    const devices = createDeviceService({
      db,
      bus: createEventBus(),
      logger,
      sessions: recordingSessions(),
      audit: createAuditLog({ prisma: db.prisma, logger }),
    });
    // The database fails the batch's first statement once (as a lost connection would), then works again.
    let failures = 1;
    const query: Database['sql']['query'] = (text, params) => {
      if (failures > 0) {
        failures--;
        return Promise.reject(new Error('connection lost'));
      }
      return db.sql.query(text, params);
    };
    const batcher = createCreationBatcher({
      db: { ...db, sql: { query } } as Database,
      logger,
      devices,
      attempts: createAttemptLog({ db, metrics: new Metrics(), logger }),
      refusalFor: () => Promise.reject(new Error('not expected: the policy has no limit')),
    });
    const p = { id: policy.policyId, tenantId: policy.actor.tenantId, name: 'p', mode: 'CLAIM_TOKEN' as const, modelName: null, tags: [] };
    const id = uniqueDeviceId('failed');
    const both = await Promise.allSettled([
      batcher.create({ policy: p, deviceId: id, requestId: 'first' }),
      batcher.create({ policy: p, deviceId: id, requestId: 'repeated' }),
    ]);
    await batcher.idle();
    expect(both.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    // Nobody holds credentials for it, so no device may exist: the repeated request was not run again.
    expect((await db.sql.query(`SELECT 1 FROM "Device" WHERE "deviceId" = $1`, [id])).length).toBe(0);
    expect(await counterOf(policy.policyId)).toBe(0);
    // The batcher carries on with the next requests.
    expect((await batcher.create({ policy: p, deviceId: uniqueDeviceId('after'), requestId: 'after' })).ok).toBe(true);
  }, 120_000);
});
