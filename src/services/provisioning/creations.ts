/**
 * Device creation for provisioning, set-based: the creations asked for in the same tick (concurrent
 * claim-token and allow-list requests, group-key first connects) are handled together, with per batch
 *
 *   1+2. one statement that finds the ids already taken (those go to their request's re-provisioning
 *      answer, and use no counter) and runs one conditional UPDATE of the policies' counters for the
 *      others, granting each policy at most what it has left
 *      (enabled, not expired, under `maxDevices`, decided by the database on the locked row, so the
 *      limit holds under concurrency); the requests beyond the grant are refused with the reason a
 *      fresh read of the policy gives (TOKEN_EXHAUSTED, POLICY_DISABLED, TOKEN_EXPIRED),
 *   3. one bulk registration per policy in the batch (src/services/devices/bulk.ts; its unique index on
 *      the device id decides a race with a registration outside the batch),
 *   4. one claim INSERT, one attempt INSERT, and for group-key devices one UPDATE setting their
 *      derived key as their secret.
 *
 * A device id asked for twice in one batch: the first is created, the second waits for the batch and
 * then gets the answer a request for an existing id gets (the policy's REFUSE or ROTATE).
 *
 * Why per tick (setImmediate) and not a timer: the requests of a storm arrive in the same turns of the
 * event loop, so they batch without any added latency for a lone request.
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
  | { ok: false; taken: true };

export interface CreationRequest {
  policy: CreationPolicy;
  deviceId: string;
  requestId: string | null;
  /** Group key: the device's secret becomes this (its derived key) instead of a generated one. */
  secret?: string;
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

const actorFor = (p: CreationPolicy): Actor => ({ tenantId: p.tenantId, actor: `provisioningPolicy:${p.id}`, actorName: p.name });

export function createCreationBatcher(options: CreationBatcherOptions): CreationBatcher {
  const { db, logger, devices, attempts } = options;
  let queue: Pending[] = [];
  let scheduled = false;
  const running = new Set<Promise<void>>();

  function schedule(): void {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      const batch = queue.slice(0, MAX_CREATION_BATCH);
      queue = queue.slice(MAX_CREATION_BATCH);
      if (queue.length > 0) schedule();
      const run = flush(batch).catch((error: unknown) => {
        for (const p of batch) p.reject(error);
      });
      running.add(run);
      void run.finally(() => running.delete(run));
    });
  }

  async function flush(batch: Pending[]): Promise<void> {
    // A repeated id waits for the batch: then it exists, and its request is answered as such.
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
    try {
      await createAll(first);
    } finally {
      for (const p of repeated) p.resolve({ ok: false, taken: true });
    }
  }

  async function createAll(batch: Pending[]): Promise<void> {
    if (batch.length === 0) return;
    // One statement for the batch: the ids already taken (those go to their request's re-provisioning
    // answer and use no counter), and one counter UPDATE for every policy, granting each min(asked, left).
    const rows = await db.sql.query<{ takenId: string | null; id: string | null; granted: number | null; exhausted: boolean | null }>(
      `WITH req AS (SELECT * FROM unnest($1::text[], $2::uuid[]) AS r(device_id, policy_id)),
            taken AS (SELECT d."deviceId" AS device_id FROM "Device" d WHERE d."deviceId" IN (SELECT device_id FROM req)),
            asked AS (SELECT policy_id AS id, count(*)::int AS n FROM req WHERE device_id NOT IN (SELECT device_id FROM taken) GROUP BY policy_id),
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
       SELECT NULL::text AS "takenId", id, granted, exhausted FROM grants
       UNION ALL SELECT device_id, NULL, NULL, NULL FROM taken`,
      [batch.map((p) => p.deviceId), batch.map((p) => p.policy.id)],
    );
    const taken = new Set(rows.flatMap((r) => (r.takenId === null ? [] : [r.takenId])));
    const fresh: Pending[] = [];
    for (const p of batch) {
      if (taken.has(p.deviceId)) p.resolve({ ok: false, taken: true });
      else fresh.push(p);
    }
    if (fresh.length === 0) return;

    const byPolicy = new Map<string, Pending[]>();
    for (const p of fresh) {
      const list = byPolicy.get(p.policy.id);
      if (list) list.push(p);
      else byPolicy.set(p.policy.id, [p]);
    }
    if (rows.some((r) => r.exhausted === true)) options.onExhausted?.();
    const grantedRows = rows.flatMap((r) => (r.id === null ? [] : [{ id: r.id, granted: Number(r.granted) }]));
    const grantOf = new Map(grantedRows.map((r) => [r.id, Number(r.granted)]));

    const refused: AttemptRecord[] = [];
    const accepted: AttemptRecord[] = [];
    const created: Array<{ p: Pending; password: string }> = [];
    const giveBack = new Map<string, number>();
    for (const [policyId, requests] of byPolicy) {
      const granted = grantOf.get(policyId) ?? 0;
      const go = requests.slice(0, granted);
      const over = requests.slice(granted);
      if (over.length > 0) {
        const refusal = await options.refusalFor(policyId);
        for (const p of over) {
          refused.push(attempt(p, refusal.reason, refusal.message));
          p.resolve({ ok: false, refusal });
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
        for (const p of go) p.reject(error);
        continue;
      }
      go.forEach((p, i) => {
        const row = result.rows[i];
        if (row?.status === 'CREATED') created.push({ p, password: row.password });
        else {
          // Lost a race with a registration outside this batch: the counter goes back, the id exists.
          giveBack.set(policyId, (giveBack.get(policyId) ?? 0) + 1);
          p.resolve({ ok: false, taken: true });
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
      while (running.size > 0 || queue.length > 0 || scheduled) {
        await Promise.allSettled([...running]);
        if (running.size === 0 && (queue.length > 0 || scheduled)) await new Promise((r) => setImmediate(r));
      }
    },
  };
}
