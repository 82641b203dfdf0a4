/**
 * Device creation for provisioning, set-based: the creations asked for in the same tick (concurrent
 * claim-token and allow-list requests, group-key first connects) are handled together, with per batch
 *
 *   1+2. one statement that finds the ids already taken (those go to their request's re-provisioning
 *      answer, and use no counter), claims the allow-list ids of the batch's ALLOW_LIST requests
 *      (one conditional UPDATE `claimedAt IS NULL`: of two claims racing for an id, in one process or
 *      two, exactly one gets the row), and runs one conditional UPDATE of the policies' counters for
 *      the requests left (taken ids and allow-list ids not claimed now use no counter), granting each
 *      policy at most what it has left
 *      (enabled, not expired, under `maxDevices`, decided by the database on the locked row, so the
 *      limit holds under concurrency); the requests beyond the grant are refused with the reason a
 *      fresh read of the policy gives (TOKEN_EXHAUSTED, POLICY_DISABLED, TOKEN_EXPIRED),
 *   3. one bulk registration per policy in the batch (src/services/devices/bulk.ts; its unique index on
 *      the device id decides a race with a registration outside the batch),
 *   4. one claim INSERT, one attempt INSERT, and for group-key devices one UPDATE setting their
 *      derived key as their secret.
 *
 * A device id asked for twice in one batch: the first goes in this batch, the second waits for it and
 * goes in the next one, so it gets the answer the database then gives (the id exists: the policy's
 * REFUSE or ROTATE; the first was refused: the same refusal).
 *
 * An allow-list id claimed by the batch whose device is not created after all (the counter granted
 * too few, the registration lost a race or failed) is given back to the list in one statement, so it
 * can be claimed again when the policy allows.
 *
 * Why per tick (setImmediate) and one batch at a time, not a timer: a lone request goes at the next
 * turn of the event loop, with no added latency; in a storm the requests that arrive while a batch is
 * in flight make the next one, so batches grow with the load on their own. Batches that each ran as
 * soon as their tick ended held about 2 devices in bench:onboarding's claim-token phase (64 clients),
 * paying the batch's fixed statements (counter, registration transaction, claim and attempt rows) for
 * every two devices.
 */
import type { Database } from '../../db/client.ts';
import type { Actor } from '../../domain/principal.ts';
import type { Logger } from '../../logger.ts';
import { type ProvisioningRefusal } from '../../domain/provisioning/policy.ts';
import { hashSecret } from '../../security/secrets.ts';
import type { DeviceService } from '../devices/index.ts';
import type { AttemptLog, AttemptRecord } from './attempts.ts';

/** At most this many creations per batch (the rest wait for the next one): bounds one statement's arrays. */
export const MAX_CREATION_BATCH = 1000;

/** The policy facts a creation needs. */
export interface CreationPolicy {
  id: string;
  tenantId: string;
  name: string;
  mode: AttemptRecord['mode'];
  modelName: string | null;
  tags: string[];
}

export type CreationOutcome =
  | { ok: true; deviceId: string; password: string }
  | { ok: false; refusal: ProvisioningRefusal }
  /** The id exists (before or within the batch): the caller answers as for an existing id. */
  | { ok: false; taken: true }
  /** ALLOW_LIST: the id is not on the policy's list. */
  | { ok: false; notOnAllowList: true }
  /** ALLOW_LIST: the id was claimed before, or by a request that won the race for it. */
  | { ok: false; alreadyClaimed: true };

export interface CreationRequest {
  policy: CreationPolicy;
  deviceId: string;
  requestId: string | null;
  /** Group key: the device's secret becomes this (its derived key) instead of a generated one. */
  secret?: string;
  /** ALLOW_LIST: the id must be on the policy's list and unclaimed; the batch claims it. */
  allowList?: boolean;
}

interface Pending extends CreationRequest {
  resolve: (outcome: CreationOutcome) => void;
  reject: (error: unknown) => void;
}

export interface CreationBatcherOptions {
  db: Database;
  logger: Logger;
  devices: Pick<DeviceService, 'registerMany'>;
  attempts: Pick<AttemptLog, 'recordMany'>;
  /** Why a policy granted fewer creations than asked for, from a fresh read. */
  refusalFor: (policyId: string) => Promise<ProvisioningRefusal>;
  sealSecret?: ((deviceId: string, secret: string) => string) | undefined;
  /** A policy's counter reached its `maxDevices` in this batch (caches of policies must drop it). */
  onExhausted?: () => void;
}

export interface CreationBatcher {
  /** Creates the device for its policy, batched with the others of this tick. */
  create(request: CreationRequest): Promise<CreationOutcome>;
  /** Settles when every batch started so far has been handled. */
  idle(): Promise<void>;
}

/** One row of the batch statement: a policy's grant (`id` is the policy's), or a device id that is taken, on the allow-list, or claimed now. */
interface BatchRow {
  kind: 'grant' | 'taken' | 'listed' | 'claimed';
  id: string;
  granted: number | null;
  /** grant: the policy reached its maxDevices. */
  exhausted: boolean | null;
  /** listed: the id was claimed before this statement. */
  wasClaimed: boolean | null;
}

const actorFor = (p: CreationPolicy): Actor => ({ tenantId: p.tenantId, actor: `provisioningPolicy:${p.id}`, actorName: p.name });

export function createCreationBatcher(options: CreationBatcherOptions): CreationBatcher {
  const { db, logger, devices, attempts } = options;
  let queue: Pending[] = [];
  let scheduled = false;
  /** The batch in flight, if any: one at a time, so the requests arriving meanwhile make the next one. */
  let running: Promise<void> | undefined;

  function schedule(): void {
    if (scheduled || running) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      running = runBatches().finally(() => {
        running = undefined;
        // Requests may have arrived between the last batch and this moment.
        if (queue.length > 0) schedule();
      });
    });
  }

  async function runBatches(): Promise<void> {
    while (queue.length > 0) {
      const batch = queue.slice(0, MAX_CREATION_BATCH);
      queue = queue.slice(MAX_CREATION_BATCH);
      await flush(batch).catch((error: unknown) => {
        for (const p of batch) p.reject(error);
      });
    }
  }

  async function flush(batch: Pending[]): Promise<void> {
    // A repeated id waits for this batch, then goes in the next one: the database answers it there.
    const seen = new Set<string>();
    const first: Pending[] = [];
    const repeated: Pending[] = [];
    for (const p of batch) {
      if (seen.has(p.deviceId)) repeated.push(p);
      else {
        seen.add(p.deviceId);
        first.push(p);
      }
    }
    await createAll(first);
    // Picked up by runBatches' loop, ahead of the requests that came after them. Not after an error:
    // runBatches then rejects the whole batch, repeated requests included, and none of them may go on
    // to create a device whose credentials nobody would receive.
    queue = [...repeated, ...queue];
  }

  async function createAll(batch: Pending[]): Promise<void> {
    if (batch.length === 0) return;
    // One statement for the batch: the ids already taken (those go to their request's re-provisioning
    // answer and use no counter), the allow-list claims, and one counter UPDATE for every policy,
    // granting each min(asked, left). The claims lock their rows in a fixed order (policy, id), so two
    // batches claiming overlapping ids wait for each other instead of deadlocking; a claim that finds
    // its row claimed meanwhile (READ COMMITTED re-checks `claimedAt IS NULL` on the locked row) gets nothing.
    const rows = await db.sql.query<BatchRow>(
      `WITH req AS (SELECT * FROM unnest($1::text[], $2::uuid[], $3::boolean[]) AS r(device_id, policy_id, allow_list)),
            taken AS (SELECT d."deviceId" AS device_id FROM "Device" d WHERE d."deviceId" IN (SELECT device_id FROM req)),
            listed AS (
              SELECT a."deviceId" AS device_id, a."claimedAt" IS NOT NULL AS was_claimed
                FROM "ProvisioningAllowedId" a JOIN req r ON r.allow_list AND a."policyId" = r.policy_id AND a."deviceId" = r.device_id),
            to_claim AS (
              SELECT a."policyId" AS policy_id, a."deviceId" AS device_id
                FROM "ProvisioningAllowedId" a JOIN req r ON r.allow_list AND a."policyId" = r.policy_id AND a."deviceId" = r.device_id
               WHERE a."claimedAt" IS NULL AND r.device_id NOT IN (SELECT device_id FROM taken)
               ORDER BY a."policyId", a."deviceId"
               FOR UPDATE OF a),
            claimed AS (
              UPDATE "ProvisioningAllowedId" a SET "claimedAt" = now() FROM to_claim c
               WHERE a."policyId" = c.policy_id AND a."deviceId" = c.device_id AND a."claimedAt" IS NULL
              RETURNING a."deviceId" AS device_id),
            asked AS (
              SELECT policy_id AS id, count(*)::int AS n FROM req
               WHERE device_id NOT IN (SELECT device_id FROM taken)
                 AND (NOT allow_list OR device_id IN (SELECT device_id FROM claimed))
               GROUP BY policy_id),
            locked AS (
              SELECT p.id, LEAST(a.n, COALESCE(p."maxDevices" - p."devicesProvisioned", a.n)) AS granted
                FROM "ProvisioningPolicy" p JOIN asked a ON a.id = p.id
               WHERE p.enabled AND (p."expiresAt" IS NULL OR p."expiresAt" > now())
                 AND (p."maxDevices" IS NULL OR p."devicesProvisioned" < p."maxDevices")
               FOR UPDATE OF p),
            grants AS (
              UPDATE "ProvisioningPolicy" t SET "devicesProvisioned" = t."devicesProvisioned" + l.granted
                FROM locked l WHERE t.id = l.id AND l.granted > 0
              RETURNING t.id::text AS id, l.granted::int AS granted,
                        (t."maxDevices" IS NOT NULL AND t."devicesProvisioned" >= t."maxDevices") AS exhausted)
       SELECT 'grant' AS kind, id, granted, exhausted, NULL::boolean AS "wasClaimed" FROM grants
       UNION ALL SELECT 'taken', device_id, NULL, NULL, NULL FROM taken
       UNION ALL SELECT 'listed', device_id, NULL, NULL, was_claimed FROM listed
       UNION ALL SELECT 'claimed', device_id, NULL, NULL, NULL FROM claimed`,
      [batch.map((p) => p.deviceId), batch.map((p) => p.policy.id), batch.map((p) => p.allowList === true)],
    );
    const taken = new Set<string>();
    const listed = new Map<string, boolean>();
    const claimed = new Set<string>();
    const grantOf = new Map<string, number>();
    let exhausted = false;
    for (const r of rows) {
      if (r.kind === 'grant') {
        grantOf.set(r.id, Number(r.granted));
        if (r.exhausted === true) exhausted = true;
      } else if (r.kind === 'taken') taken.add(r.id);
      else if (r.kind === 'listed') listed.set(r.id, r.wasClaimed === true);
      else claimed.add(r.id);
    }
    const fresh: Pending[] = [];
    for (const p of batch) {
      if (p.allowList && !claimed.has(p.deviceId)) {
        // Not claimed now: unlisted, claimed before (or by the winner of a race), or listed but taken.
        const wasClaimed = listed.get(p.deviceId);
        if (wasClaimed === undefined) p.resolve({ ok: false, notOnAllowList: true });
        else if (!wasClaimed && taken.has(p.deviceId)) p.resolve({ ok: false, taken: true });
        else p.resolve({ ok: false, alreadyClaimed: true });
      } else if (taken.has(p.deviceId)) p.resolve({ ok: false, taken: true });
      else fresh.push(p);
    }
    if (fresh.length === 0) return;

    const byPolicy = new Map<string, Pending[]>();
    for (const p of fresh) {
      const list = byPolicy.get(p.policy.id);
      if (list) list.push(p);
      else byPolicy.set(p.policy.id, [p]);
    }
    if (exhausted) options.onExhausted?.();

    const refused: AttemptRecord[] = [];
    const accepted: AttemptRecord[] = [];
    const created: Array<{ p: Pending; password: string }> = [];
    const giveBack = new Map<string, number>();
    // Allow-list ids this batch claimed whose device it does not create: back to the list, before
    // their requests are answered (so an answer never comes ahead of the list's state).
    const unclaim: Pending[] = [];
    const answerAfterGiveBack: Array<() => void> = [];
    for (const [policyId, requests] of byPolicy) {
      const granted = grantOf.get(policyId) ?? 0;
      const go = requests.slice(0, granted);
      const over = requests.slice(granted);
      if (over.length > 0) {
        const refusal = await options.refusalFor(policyId);
        for (const p of over) {
          refused.push(attempt(p, refusal.reason, refusal.message));
          if (p.allowList) unclaim.push(p);
          answerAfterGiveBack.push(() => p.resolve({ ok: false, refusal }));
        }
      }
      if (go.length === 0) continue;
      const policy = go[0]!.policy;
      let result;
      try {
        result = await devices.registerMany(
          actorFor(policy),
          go.map((p) => ({ deviceId: p.deviceId, tags: policy.tags, modelName: policy.modelName })),
          // Step 1 looked the ids up a moment ago; a registration since is caught by the INSERT's ON CONFLICT.
          { atomic: false, takenIdsCheckedByCaller: true },
        );
      } catch (error) {
        giveBack.set(policyId, go.length);
        unclaim.push(...go.filter((p) => p.allowList));
        for (const p of go) answerAfterGiveBack.push(() => p.reject(error));
        continue;
      }
      go.forEach((p, i) => {
        const row = result.rows[i];
        if (row?.status === 'CREATED') created.push({ p, password: row.password });
        else {
          // Lost a race with a registration outside this batch: the counter goes back, the id exists.
          giveBack.set(policyId, (giveBack.get(policyId) ?? 0) + 1);
          if (p.allowList) unclaim.push(p);
          answerAfterGiveBack.push(() => p.resolve({ ok: false, taken: true }));
        }
      });
    }

    if (giveBack.size > 0) {
      await db.sql.query(
        `UPDATE "ProvisioningPolicy" t SET "devicesProvisioned" = GREATEST(t."devicesProvisioned" - g.n, 0)
           FROM unnest($1::uuid[], $2::int[]) AS g(id, n) WHERE t.id = g.id`,
        [[...giveBack.keys()], [...giveBack.values()]],
      );
    }
    if (unclaim.length > 0) {
      // Locked in the batch statement's order, so a give-back and a claim meeting on two ids cannot deadlock.
      await db.sql.query(
        `WITH back AS (
           SELECT a."policyId" AS policy_id, a."deviceId" AS device_id
             FROM "ProvisioningAllowedId" a JOIN unnest($1::uuid[], $2::text[]) AS g(policy_id, device_id)
               ON a."policyId" = g.policy_id AND a."deviceId" = g.device_id
            ORDER BY a."policyId", a."deviceId"
              FOR UPDATE OF a)
         UPDATE "ProvisioningAllowedId" a SET "claimedAt" = NULL FROM back b WHERE a."policyId" = b.policy_id AND a."deviceId" = b.device_id`,
        [unclaim.map((p) => p.policy.id), unclaim.map((p) => p.deviceId)],
      );
    }
    for (const answer of answerAfterGiveBack) answer();
    try {
      if (created.length > 0) {
        await db.sql.query(
          `INSERT INTO "ProvisioningClaim" ("deviceId", "policyId") SELECT * FROM unnest($1::text[], $2::uuid[])
           ON CONFLICT ("deviceId") DO UPDATE SET "policyId" = EXCLUDED."policyId", "claimedAt" = now(), "rotatedAt" = NULL`,
          [created.map((c) => c.p.deviceId), created.map((c) => c.p.policy.id)],
        );
        const withSecret = created.filter((c) => c.p.secret !== undefined);
        if (withSecret.length > 0) {
          await db.sql.query(
            `UPDATE "Device" d SET "secretHash" = s.hash, "brokerSecret" = s.sealed, "updatedAt" = now()
               FROM unnest($1::text[], $2::text[], $3::text[]) AS s("deviceId", hash, sealed) WHERE d."deviceId" = s."deviceId"`,
            [
              withSecret.map((c) => c.p.deviceId),
              withSecret.map((c) => hashSecret(c.p.secret!)),
              withSecret.map((c) => options.sealSecret?.(c.p.deviceId, c.p.secret!) ?? null),
            ],
          );
        }
      }
    } catch (error) {
      await attempts.recordMany(refused);
      for (const c of created) c.p.reject(error);
      throw error;
    }
    for (const c of created) accepted.push(attempt(c.p, 'ACCEPTED', null));
    await attempts.recordMany([...refused, ...accepted]);
    if (created.length > 0) logger.info({ devices: created.length, policies: byPolicy.size }, 'devices provisioned');
    for (const c of created) c.p.resolve({ ok: true, deviceId: c.p.deviceId, password: c.p.secret ?? c.password });
  }

  function attempt(p: Pending, reason: AttemptRecord['reason'], message: string | null): AttemptRecord {
    return { tenantId: p.policy.tenantId, policyId: p.policy.id, mode: p.policy.mode, deviceId: p.deviceId, requestId: p.requestId, reason, message };
  }

  return {
    create: (request) =>
      new Promise<CreationOutcome>((resolve, reject) => {
        queue.push({ ...request, resolve, reject });
        schedule();
      }),
    idle: async () => {
      while (running || queue.length > 0 || scheduled) {
        if (running) await running;
        else await new Promise((r) => setImmediate(r));
      }
    },
  };
}
