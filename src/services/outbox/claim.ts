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
  /** The first path's walk (CLAIM_WINDOW by default); the differential test varies it to drive both paths. */
  window?: number;
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
      const rows = await tx.query<Record<string, unknown>>(CLAIM_SQL, [
        endpointIds,
        allowed,
        action ? action.maxInFlight : -1,
        limits.batch,
        limits.leaseMs,
        limits.window ?? CLAIM_WINDOW,
      ]);
      // RETURNING has no order: oldest first, so a round's sends start in claim order.
      return rows.sort((a, b) => Number(a.seq) - Number(b.seq)).map(toClaimedRow);
    }),
  );
}

/**
 * How many of an endpoint's oldest PENDING rows the claim's first path reads before it gives up on
 * finding the endpoint's room there (CLAIM_SQL). A tuning knob only: the picks are exact either way.
 */
export const CLAIM_WINDOW = 512;

/**
 * $1 endpoint ids locked, $2 their allowed in-flight, $3 the ACTION limit (negative: ACTION rows not
 * locked by us), $4 the batch, $5 the lease in ms, $6 the window (CLAIM_WINDOW).
 *
 * The picks are claimable()'s: per scope, the oldest due heads of streams with no live lease, up to
 * the scope's room (allowed minus its live leases), then the oldest of all up to the batch. They are
 * found without reading the backlog, in one of two ways per endpoint (docs/outbox.md "Claim cost"):
 *
 * 1. `oldest`: walk the endpoint's PENDING rows in seq order ("Outbox_endpointId_status_seq_idx") and
 *    keep each that is due, a head (no older PENDING row in its stream: one probe of
 *    "Outbox_pending_stream_idx") and in a stream with no live lease, stopping once the room is full
 *    or after $6 rows. If the room filled, these are exactly the oldest eligible heads (every eligible
 *    head outside the walk is younger), so the endpoint is settled. A healthy backlog fills the room a
 *    few rows past the ones in flight.
 * 2. Otherwise (a backlog whose oldest rows sit behind heads that wait for a retry or a lease, or fewer
 *    eligible heads than the room): a loose index scan of "Outbox_pending_stream_idx" ("endpointId",
 *    "deviceKey", seq) — one index descent to the first stream's head, then one per next "deviceKey" —
 *    reads one row per stream with pending events, never the rows behind the heads. ACTION rows (no
 *    endpoint; few) always take this path.
 *
 * The live leases come from the small "Outbox_leased_idx" (PENDING rows with a lease: in flight, or
 * left by a dead deliverer), not from the backlog.
 */
export const CLAIM_SQL = `
WITH RECURSIVE scope AS (
  SELECT * FROM unnest($1::uuid[], $2::int[]) AS s("endpointId", allowed)
  UNION ALL
  SELECT NULL::uuid, $3::int WHERE $3::int >= 0
),
live AS MATERIALIZED (
  SELECT o.id, o."endpointId", o."deviceKey" FROM "Outbox" o
   WHERE o.status = 'PENDING' AND o."leasedUntil" IS NOT NULL AND o."leasedUntil" > now()
     AND (o."endpointId" = ANY($1::uuid[]) OR ($3::int >= 0 AND o."endpointId" IS NULL))
),
room AS MATERIALIZED (
  SELECT s."endpointId", s.allowed - (SELECT count(*)::int FROM live l WHERE l."endpointId" IS NOT DISTINCT FROM s."endpointId") AS room
    FROM scope s
),
-- Path 1: the oldest eligible heads, from a bounded walk in seq order.
oldest AS MATERIALIZED (
  SELECT r."endpointId", r.room, w.id, w."deviceKey", w.seq, w."nextAttemptAt"
    FROM room r
   CROSS JOIN LATERAL (
     SELECT o.id, o."deviceKey", o.seq, o."nextAttemptAt"
       FROM (SELECT o.id, o."deviceKey", o.seq, o."nextAttemptAt" FROM "Outbox" o
              WHERE o."endpointId" = r."endpointId" AND o.status = 'PENDING'
              ORDER BY o.seq LIMIT $6::int) o
      WHERE o."nextAttemptAt" <= now()
        AND (o."deviceKey" IS NULL OR NOT EXISTS (
              SELECT 1 FROM "Outbox" p
               WHERE p."endpointId" = r."endpointId" AND p.status = 'PENDING' AND p."deviceKey" = o."deviceKey" AND p.seq < o.seq))
        AND NOT EXISTS (
              SELECT 1 FROM live l
               WHERE l."endpointId" = r."endpointId"
                 AND CASE WHEN o."deviceKey" IS NULL THEN l.id = o.id ELSE l."deviceKey" = o."deviceKey" END)
      ORDER BY o.seq LIMIT r.room) w
   WHERE r."endpointId" IS NOT NULL AND r.room > 0
),
settled AS (
  SELECT "endpointId" FROM oldest GROUP BY "endpointId", room HAVING count(*) >= room
),
-- Path 2, for the scopes with room that path 1 did not settle.
unsettled AS (
  SELECT r."endpointId" FROM room r
   WHERE r.room > 0 AND NOT EXISTS (SELECT 1 FROM settled t WHERE t."endpointId" = r."endpointId")
),
-- One row per stream: the next stream of a scope is the first "deviceKey" above the current one.
endpoint_heads AS (
  SELECT u."endpointId", h.id, h."deviceKey", h.seq, h."nextAttemptAt"
    FROM unsettled u
   CROSS JOIN LATERAL (
     SELECT o.id, o."deviceKey", o.seq, o."nextAttemptAt" FROM "Outbox" o
      WHERE o.status = 'PENDING' AND o."endpointId" = u."endpointId" AND o."deviceKey" IS NOT NULL
      ORDER BY o."deviceKey", o.seq LIMIT 1) h
   WHERE u."endpointId" IS NOT NULL
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
           WHERE EXISTS (SELECT 1 FROM unsettled u WHERE u."endpointId" IS NULL)
             AND o.status = 'PENDING' AND o."endpointId" IS NULL AND o."deviceKey" IS NOT NULL
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
  SELECT id, "endpointId", "deviceKey", seq, "nextAttemptAt" FROM oldest
   WHERE "endpointId" IN (SELECT "endpointId" FROM settled)
  UNION ALL
  SELECT id, "endpointId", "deviceKey", seq, "nextAttemptAt" FROM endpoint_heads
  UNION ALL
  SELECT id, "endpointId", "deviceKey", seq, "nextAttemptAt" FROM action_heads
  UNION ALL
  -- Events about no device (webhook.test) are each a stream of their own.
  SELECT o.id, o."endpointId", o."deviceKey", o.seq, o."nextAttemptAt"
    FROM unsettled u
    JOIN "Outbox" o ON o.status = 'PENDING' AND o."endpointId" = u."endpointId" AND o."deviceKey" IS NULL
  UNION ALL
  SELECT o.id, o."endpointId", o."deviceKey", o.seq, o."nextAttemptAt" FROM "Outbox" o
   WHERE EXISTS (SELECT 1 FROM unsettled u WHERE u."endpointId" IS NULL)
     AND o.status = 'PENDING' AND o."endpointId" IS NULL AND o."deviceKey" IS NULL
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
    JOIN room s ON s."endpointId" IS NOT DISTINCT FROM r."endpointId"
   WHERE r.rank <= s.room
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
