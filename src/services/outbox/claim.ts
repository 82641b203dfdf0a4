/**
 * The claim (docs/outbox.md "Delivering"): one short transaction that leases the stream heads this
 * instance may send now. The rule itself is `claimable()` (src/domain/webhooks/ordering.ts); this is
 * its SQL, checked against it by test/services/outbox/claim.test.ts.
 *
 * Statement 1 takes a transaction-scoped advisory lock per endpoint with due work (try-lock: an
 * endpoint another instance is claiming right now is skipped this round, never waited for), so one
 * claimer at a time reads an endpoint's in-flight count; without it two instances could each see room
 * for N and claim 2N. ACTION rows (no endpoint) are one more lock, with their own in-flight limit.
 * Statement 2 reads the heads from the partial index "Outbox_pending_stream_idx", keeps those that are
 * due and whose stream has no live lease, ranks them per endpoint within its room, and leases them
 * (`FOR UPDATE SKIP LOCKED`, status and lease re-checked on the row). Every time comparison is the
 * database's `now()`, so instances with skewed clocks agree on leases and due times. The transaction
 * never spans an HTTP request: on PGlite it holds the only connection.
 */
import type { Database } from '../../db/client.ts';
import { allowedInFlight, type HealthPolicy } from '../../domain/webhooks/schedule.ts';

/** Namespace of the claim's advisory locks (the first key of the two-key form). */
export const CLAIM_LOCK_NAMESPACE = 0x6f7574;

/** A leased outbox row, as the sender and the action executor need it. */
export interface ClaimedRow {
  id: string;
  kind: 'WEBHOOK' | 'ACTION';
  eventId: string;
  tenantId: string;
  endpointId: string | null;
  alarmId: string | null;
  deviceKey: string | null;
  type: string;
  /** Epoch ms. */
  occurredAt: number;
  data: unknown;
  /** Attempts made before this one. */
  attempts: number;
  /** Epoch ms (database clock) the max age counts from. */
  scheduleStart: number;
  leaseToken: string;
  /** The database's now() at the claim, epoch ms: decisions after the attempt use the database's clock. */
  claimedAt: number;
}

export interface ClaimLimitsConfig {
  /** Most rows per claim, all endpoints together. */
  batch: number;
  leaseMs: number;
  /** In-flight limit of ACTION rows (all target devices together). */
  actionMaxInFlight: number;
  health: HealthPolicy;
}

interface LockedScope {
  endpointId: string | null;
  maxInFlight: number;
  consecutiveFailures: number;
}

const epoch = (value: Date | string | null): number => (value === null ? NaN : new Date(value).getTime());

/** Claims up to `limits.batch` rows; an empty array when nothing is due (or everything is locked by others). */
export async function claimDue(db: Pick<Database, 'withSession'>, limits: ClaimLimitsConfig): Promise<ClaimedRow[]> {
  if (limits.batch <= 0) return [];
  return db.withSession((session) =>
    session.transaction(async (tx) => {
      const scopes = await tx.query<LockedScope>(
        `WITH candidates AS MATERIALIZED (
           SELECT e.id AS "endpointId", e."maxInFlight", e."consecutiveFailures"
             FROM "WebhookEndpoint" e
            WHERE e.enabled
              AND EXISTS (SELECT 1 FROM "Outbox" o
                           WHERE o."endpointId" = e.id AND o.status = 'PENDING' AND o."nextAttemptAt" <= now())
           UNION ALL
           SELECT NULL::uuid, $2::int, 0
            WHERE EXISTS (SELECT 1 FROM "Outbox" o
                           WHERE o."endpointId" IS NULL AND o.kind = 'ACTION' AND o.status = 'PENDING' AND o."nextAttemptAt" <= now())
         )
         SELECT "endpointId", "maxInFlight", "consecutiveFailures" FROM candidates
          WHERE pg_try_advisory_xact_lock($1::int, CASE WHEN "endpointId" IS NULL THEN 0 ELSE hashtext("endpointId"::text) END)`,
        [CLAIM_LOCK_NAMESPACE, limits.actionMaxInFlight],
      );
      if (scopes.length === 0) return [];
      const endpointIds = scopes.filter((s) => s.endpointId !== null).map((s) => s.endpointId as string);
      const allowed = scopes
        .filter((s) => s.endpointId !== null)
        .map((s) => allowedInFlight({ consecutiveFailures: s.consecutiveFailures, failingSince: null }, s.maxInFlight, limits.health));
      const action = scopes.find((s) => s.endpointId === null);
      const rows = await tx.query<Record<string, unknown>>(CLAIM_SQL, [endpointIds, allowed, action ? action.maxInFlight : -1, limits.batch, limits.leaseMs]);
      // RETURNING has no order: oldest first, so a round's sends start in claim order.
      return rows.sort((a, b) => Number(a.seq) - Number(b.seq)).map(toClaimedRow);
    }),
  );
}

/**
 * $1 endpoint ids locked, $2 their allowed in-flight, $3 the ACTION limit (negative: ACTION rows not
 * locked by us), $4 the batch, $5 the lease in ms.
 *
 * The stream heads come from a loose index scan of "Outbox_pending_stream_idx" ("endpointId",
 * "deviceKey", seq): per scope, one index descent finds the first stream's head, and each step of the
 * recursion descends once more to the head of the next "deviceKey" after it. A claim so reads one row
 * per stream with pending events, not every pending row: 20,000 pending over 1,000 devices cost a scan
 * and sort of 20,000 rows before, 1,000 descents now (docs/outbox.md "Claim cost"). It cannot stop
 * after `allowed` heads: the oldest heads go first (claimable()'s fairness), and the oldest may be the
 * last stream in key order. The live leases come from the small "Outbox_leased_idx" (PENDING rows with
 * a lease, i.e. in flight or left by a dead deliverer), not from the backlog.
 */
export const CLAIM_SQL = `
WITH RECURSIVE scope AS (
  SELECT * FROM unnest($1::uuid[], $2::int[]) AS s("endpointId", allowed)
  UNION ALL
  SELECT NULL::uuid, $3::int WHERE $3::int >= 0
),
-- One row per stream: the next stream of a scope is the first "deviceKey" above the current one.
endpoint_heads AS (
  SELECT s."endpointId", h.id, h."deviceKey", h.seq, h."nextAttemptAt"
    FROM scope s
   CROSS JOIN LATERAL (
     SELECT o.id, o."deviceKey", o.seq, o."nextAttemptAt" FROM "Outbox" o
      WHERE o.status = 'PENDING' AND o."endpointId" = s."endpointId" AND o."deviceKey" IS NOT NULL
      ORDER BY o."deviceKey", o.seq LIMIT 1) h
   WHERE s."endpointId" IS NOT NULL
  UNION ALL
  SELECT d."endpointId", n.id, n."deviceKey", n.seq, n."nextAttemptAt"
    FROM endpoint_heads d
   CROSS JOIN LATERAL (
     SELECT o.id, o."deviceKey", o.seq, o."nextAttemptAt" FROM "Outbox" o
      WHERE o.status = 'PENDING' AND o."endpointId" = d."endpointId" AND o."deviceKey" > d."deviceKey"
      ORDER BY o."deviceKey", o.seq LIMIT 1) n
),
-- ACTION rows (no endpoint): the same walk over the NULL "endpointId" part of the index.
action_heads AS (
  SELECT NULL::uuid AS "endpointId", h.id, h."deviceKey", h.seq, h."nextAttemptAt"
    FROM (SELECT o.id, o."deviceKey", o.seq, o."nextAttemptAt" FROM "Outbox" o
           WHERE $3::int >= 0 AND o.status = 'PENDING' AND o."endpointId" IS NULL AND o."deviceKey" IS NOT NULL
           ORDER BY o."deviceKey", o.seq LIMIT 1) h
  UNION ALL
  SELECT NULL::uuid, n.id, n."deviceKey", n.seq, n."nextAttemptAt"
    FROM action_heads d
   CROSS JOIN LATERAL (
     SELECT o.id, o."deviceKey", o.seq, o."nextAttemptAt" FROM "Outbox" o
      WHERE o.status = 'PENDING' AND o."endpointId" IS NULL AND o."deviceKey" > d."deviceKey"
      ORDER BY o."deviceKey", o.seq LIMIT 1) n
),
heads AS (
  SELECT id, "endpointId", "deviceKey", seq, "nextAttemptAt" FROM endpoint_heads
  UNION ALL
  SELECT id, "endpointId", "deviceKey", seq, "nextAttemptAt" FROM action_heads
  UNION ALL
  -- Events about no device (webhook.test) are each a stream of their own.
  SELECT o.id, o."endpointId", o."deviceKey", o.seq, o."nextAttemptAt" FROM "Outbox" o
   WHERE o.status = 'PENDING' AND o."deviceKey" IS NULL
     AND (o."endpointId" = ANY($1::uuid[]) OR ($3::int >= 0 AND o."endpointId" IS NULL))
),
live AS MATERIALIZED (
  SELECT o.id, o."endpointId", o."deviceKey" FROM "Outbox" o
   WHERE o.status = 'PENDING' AND o."leasedUntil" IS NOT NULL AND o."leasedUntil" > now()
     AND (o."endpointId" = ANY($1::uuid[]) OR ($3::int >= 0 AND o."endpointId" IS NULL))
),
in_flight AS (
  SELECT "endpointId", count(*)::int AS n FROM live GROUP BY "endpointId"
),
ready AS (
  SELECT h.id, h."endpointId", h.seq,
         row_number() OVER (PARTITION BY h."endpointId" ORDER BY h.seq, h.id) AS rank
    FROM heads h
   WHERE h."nextAttemptAt" <= now()
     AND NOT EXISTS (
       SELECT 1 FROM live l
        WHERE l."endpointId" IS NOT DISTINCT FROM h."endpointId"
          AND CASE WHEN h."deviceKey" IS NULL THEN l.id = h.id ELSE l."deviceKey" = h."deviceKey" END)
),
picked AS (
  SELECT r.id, r.seq FROM ready r
    JOIN scope s ON s."endpointId" IS NOT DISTINCT FROM r."endpointId"
    LEFT JOIN in_flight f ON f."endpointId" IS NOT DISTINCT FROM r."endpointId"
   WHERE r.rank <= s.allowed - COALESCE(f.n, 0)
   ORDER BY r.seq, r.id
   LIMIT $4::int
),
locked AS (
  SELECT o.id FROM "Outbox" o
   WHERE o.id IN (SELECT id FROM picked)
     AND o.status = 'PENDING' AND (o."leasedUntil" IS NULL OR o."leasedUntil" <= now())
     FOR UPDATE SKIP LOCKED
)
UPDATE "Outbox" o
   SET "leasedUntil" = now() + $5::int * interval '1 millisecond', "leaseToken" = gen_random_uuid()
  FROM locked
 WHERE o.id = locked.id
RETURNING o.id, o.kind, o."eventId", o."tenantId", o."endpointId", o."alarmId", o."deviceKey", o.type, o."occurredAt",
          o.data, o.attempts, o."scheduleStart", o."leaseToken", o.seq, now() AS "claimedAt"`;

function toClaimedRow(row: Record<string, unknown>): ClaimedRow {
  return {
    id: row.id as string,
    kind: row.kind as 'WEBHOOK' | 'ACTION',
    eventId: row.eventId as string,
    tenantId: row.tenantId as string,
    endpointId: (row.endpointId as string | null) ?? null,
    alarmId: (row.alarmId as string | null) ?? null,
    deviceKey: (row.deviceKey as string | null) ?? null,
    type: row.type as string,
    occurredAt: epoch(row.occurredAt as Date | string),
    // Both drivers parse jsonb; a string here is a JSON string value, not text to parse.
    data: row.data,
    attempts: Number(row.attempts),
    scheduleStart: epoch(row.scheduleStart as Date | string),
    leaseToken: row.leaseToken as string,
    claimedAt: epoch(row.claimedAt as Date | string),
  };
}
