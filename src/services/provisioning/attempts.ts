/**
 * The provisioning attempt log: one row per attempt, accepted or refused, with its reason code; counted
 * in `doppel_provisioning_attempts_total{mode, reason}`; listed to the admins of the policy's tenant;
 * bounded to the newest {@link MAX_ATTEMPT_ROWS} rows by a job on `periodic()`.
 *
 * Why a row cap rather than an age: refusals come from devices (or from someone guessing tokens) at a
 * rate nobody controls, so a bound on age alone would not bound the table. The counter keeps the
 * totals when old rows go.
 */
import type { Database } from '../../db/client.ts';
import type { ProvisioningMode, ProvisioningReason } from '../../domain/provisioning/policy.ts';
import type { Logger } from '../../logger.ts';
import type { Metrics } from '../../metrics.ts';
import { periodic, type PeriodicJob } from '../../periodic.ts';

export const ATTEMPTS_METRIC = 'doppel_provisioning_attempts_total';
/** The attempt log keeps at most this many rows (the newest). */
export const MAX_ATTEMPT_ROWS = 100_000;
const PRUNE_INTERVAL_MS = 60_000;

export interface AttemptRecord {
  tenantId: string | null;
  policyId: string | null;
  mode: ProvisioningMode | null;
  deviceId: string | null;
  requestId: string | null;
  reason: ProvisioningReason;
  message: string | null;
}

export interface ProvisioningAttempt extends AttemptRecord {
  id: bigint;
  accepted: boolean;
  createdAt: Date;
}

export interface AttemptQuery {
  tenantId: string;
  policyId: string | null;
  /** Only attempts older than this id (the previous page's last), newest first. */
  beforeId: bigint | null;
  limit: number;
}

export interface AttemptLog {
  /** Stores and counts one attempt. Never throws: a failed write is logged (the metric still counts it). */
  record(attempt: AttemptRecord): Promise<void>;
  /** Stores and counts a batch's attempts in one statement. Never throws, as {@link record}. */
  recordMany(attempts: AttemptRecord[]): Promise<void>;
  list(query: AttemptQuery): Promise<ProvisioningAttempt[]>;
  /** Deletes all but the newest `keep` rows; returns how many went. */
  prune(keep?: number): Promise<number>;
  /** The pruning job. */
  retention: PeriodicJob;
}

export function createAttemptLog({ db, metrics, logger }: { db: Database; metrics: Metrics; logger: Logger }): AttemptLog {
  metrics.describe(ATTEMPTS_METRIC, 'Provisioning attempts by mode and reason code (ACCEPTED, ROTATED, or why it was refused).');

  async function record(a: AttemptRecord): Promise<void> {
    metrics.inc(ATTEMPTS_METRIC, { mode: a.mode ?? 'unknown', reason: a.reason });
    try {
      await db.sql.query(
        `INSERT INTO "ProvisioningAttempt" ("tenantId", "policyId", mode, "deviceId", "requestId", reason, accepted, message)
         VALUES ($1, $2::uuid, $3, $4, $5, $6, $7, $8)`,
        [
          a.tenantId,
          a.policyId,
          a.mode,
          a.deviceId,
          a.requestId,
          a.reason,
          a.reason === 'ACCEPTED' || a.reason === 'ROTATED',
          a.message?.slice(0, 300) ?? null,
        ],
      );
    } catch (err) {
      logger.error({ err, reason: a.reason, deviceId: a.deviceId }, 'could not store a provisioning attempt');
    }
  }

  async function recordMany(batch: AttemptRecord[]): Promise<void> {
    if (batch.length === 0) return;
    for (const a of batch) metrics.inc(ATTEMPTS_METRIC, { mode: a.mode ?? 'unknown', reason: a.reason });
    try {
      await db.sql.query(
        `INSERT INTO "ProvisioningAttempt" ("tenantId", "policyId", mode, "deviceId", "requestId", reason, accepted, message)
         SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::boolean[], $8::text[])`,
        [
          batch.map((a) => a.tenantId),
          batch.map((a) => a.policyId),
          batch.map((a) => a.mode),
          batch.map((a) => a.deviceId),
          batch.map((a) => a.requestId),
          batch.map((a) => a.reason),
          batch.map((a) => a.reason === 'ACCEPTED' || a.reason === 'ROTATED'),
          batch.map((a) => a.message?.slice(0, 300) ?? null),
        ],
      );
    } catch (err) {
      logger.error({ err, attempts: batch.length }, 'could not store a batch of provisioning attempts');
    }
  }

  async function list(q: AttemptQuery): Promise<ProvisioningAttempt[]> {
    const rows = await db.sql.query<Omit<ProvisioningAttempt, 'id'> & { id: string }>(
      `SELECT id::text AS id, "tenantId", "policyId"::text AS "policyId", mode, "deviceId", "requestId", reason, accepted, message, "createdAt"
         FROM "ProvisioningAttempt"
        WHERE "tenantId" = $1 AND ($2::uuid IS NULL OR "policyId" = $2::uuid) AND ($3::bigint IS NULL OR id < $3::bigint)
        ORDER BY id DESC LIMIT $4`,
      [q.tenantId, q.policyId, q.beforeId?.toString() ?? null, q.limit],
    );
    return rows.map((r) => ({ ...r, id: BigInt(r.id), createdAt: new Date(r.createdAt) }));
  }

  async function prune(keep = MAX_ATTEMPT_ROWS): Promise<number> {
    // One statement: everything at or below the id of the (keep+1)-th newest row.
    const rows = await db.sql.query<{ deleted: number }>(
      `WITH cut AS (SELECT id FROM "ProvisioningAttempt" ORDER BY id DESC OFFSET $1 LIMIT 1),
            gone AS (DELETE FROM "ProvisioningAttempt" WHERE id <= (SELECT id FROM cut) RETURNING 1)
       SELECT count(*)::int AS deleted FROM gone`,
      [keep],
    );
    return Number(rows[0]?.deleted ?? 0);
  }

  const retention = periodic({
    intervalMs: PRUNE_INTERVAL_MS,
    run: async () => {
      const deleted = await prune();
      if (deleted > 0) logger.info({ deleted, kept: MAX_ATTEMPT_ROWS }, 'provisioning attempts pruned');
    },
    onError: (err) => logger.error({ err }, 'provisioning attempt pruning failed'),
  });

  return { record, recordMany, list, prune, retention };
}
