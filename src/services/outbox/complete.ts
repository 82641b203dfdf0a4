/**
 * Completion (docs/outbox.md "Complete"): the results of a batch of attempts written in one short
 * transaction — one guarded statement for the outbox rows and their attempt log, then the endpoints'
 * health.
 *
 * The outbox UPDATE is guarded by the lease token: a completion whose lease expired and was taken by
 * another deliverer changes nothing on the row (the other one owns it now), but its attempt is still
 * appended to "OutboxAttempt" — it happened, and the receiver saw it. Attempt numbers in the log are
 * the log's own sequence (max + 1), since such a stale attempt and the new holder's share a count.
 *
 * Health is folded with `updateHealth()` over the batch's attempts in the order they ended, starting
 * from the endpoint row locked `FOR UPDATE` (other instances complete concurrently). A 410 or failing
 * longer than the policy allows disables the endpoint; the caller audits and counts the ones that were
 * enabled until this statement.
 *
 * The common batch — every attempt a 2xx — needs no fold: a success makes an endpoint healthy whatever
 * its state (`updateHealth`), so that batch is one statement, the outbox update with a CTE that resets
 * the endpoints not healthy yet (and writes nothing for the others). On PGlite, where the deliverer
 * shares the one connection with ingestion, that is one statement instead of a transaction of three.
 */
import type { Database } from '../../db/client.ts';
import { classifyAttempt, updateHealth, type AttemptResult, type HealthPolicy } from '../../domain/webhooks/schedule.ts';

/** A row's next state (afterAttempt()'s EventDecision fits; a permanent failure is FAILED at once). */
export type RowDecision = { status: 'DELIVERED' | 'FAILED'; attempts: number } | { status: 'PENDING'; attempts: number; nextAttemptAt: number };

export interface Completion {
  id: string;
  leaseToken: string;
  endpointId: string | null;
  /** The row's next state. For PENDING, `nextAttemptAt` is in the database's clock (see ClaimedRow.claimedAt). */
  decision: RowDecision;
  /** The HTTP attempt's result (health is updated from it; ACTION rows have none). */
  result: AttemptResult | null;
  statusCode: number | null;
  error: string | null;
  latencyMs: number;
  /** Epoch ms in the database's clock when the attempt ended. */
  endedAt: number;
}

export interface DisabledEndpoint {
  endpointId: string;
  tenantId: string;
  reason: 'GONE' | 'FAILING_TOO_LONG';
}

export interface CompletionResult {
  /** Rows whose lease was still ours: their state was written. */
  applied: Set<string>;
  disabled: DisabledEndpoint[];
}

const OUTBOX_SQL = `
WITH input AS (
  SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::int[], $5::bigint[], $6::int[], $7::text[], $8::int[])
    AS i(id, token, status, attempts, "delayMs", "statusCode", error, "latencyMs")
),
updated AS (
  UPDATE "Outbox" o
     SET status = i.status,
         attempts = i.attempts,
         "nextAttemptAt" = CASE WHEN i.status = 'PENDING' THEN now() + i."delayMs" * interval '1 millisecond' ELSE o."nextAttemptAt" END,
         "leasedUntil" = NULL,
         "leaseToken" = NULL,
         "lastStatus" = i."statusCode",
         "lastError" = i.error,
         "deliveredAt" = CASE WHEN i.status = 'DELIVERED' THEN now() ELSE o."deliveredAt" END,
         "failedAt" = CASE WHEN i.status = 'FAILED' THEN now() ELSE o."failedAt" END
    FROM input i
   WHERE o.id = i.id AND o."leaseToken" = i.token AND o.status = 'PENDING'
  RETURNING o.id, o."nextAttemptAt", o.status
),
logged AS (
  INSERT INTO "OutboxAttempt" ("outboxId", attempt, "startedAt", "statusCode", "latencyMs", error, "nextAttemptAt")
  SELECT i.id,
         COALESCE((SELECT max(a.attempt) FROM "OutboxAttempt" a WHERE a."outboxId" = i.id), 0) + 1,
         now() - i."latencyMs" * interval '1 millisecond',
         i."statusCode", i."latencyMs", i.error,
         CASE WHEN u.status = 'PENDING' THEN u."nextAttemptAt" END
    FROM input i
    LEFT JOIN updated u ON u.id = i.id
   -- A row deleted meanwhile (its endpoint was deleted) has nothing to log against.
   WHERE EXISTS (SELECT 1 FROM "Outbox" x WHERE x.id = i.id)
  RETURNING 1
)
-- Data-modifying CTEs run whether or not they are read: the attempts are logged either way.
SELECT id FROM updated`;

interface EndpointHealthRow {
  id: string;
  tenantId: string;
  enabled: boolean;
  consecutiveFailures: number;
  failingSince: Date | string | null;
}

/** OUTBOX_SQL, and the endpoints in $9 set healthy: for a batch of successes only. */
const OUTBOX_ALL_DELIVERED_SQL = OUTBOX_SQL.replace(
  '\n-- Data-modifying CTEs',
  `,
healthy AS (
  UPDATE "WebhookEndpoint" e
     SET "consecutiveFailures" = 0, "failingSince" = NULL, "updatedAt" = now()
   WHERE e.id = ANY($9::uuid[]) AND (e."consecutiveFailures" <> 0 OR e."failingSince" IS NOT NULL)
  RETURNING 1
)
-- Data-modifying CTEs`,
);

export async function completeBatch(db: Pick<Database, 'withSession'>, completions: readonly Completion[], health: HealthPolicy): Promise<CompletionResult> {
  if (completions.length === 0) return { applied: new Set(), disabled: [] };
  const params = [
    completions.map((c) => c.id),
    completions.map((c) => c.leaseToken),
    completions.map((c) => c.decision.status),
    completions.map((c) => c.decision.attempts),
    completions.map((c) => (c.decision.status === 'PENDING' ? Math.max(0, Math.round(c.decision.nextAttemptAt - c.endedAt)) : null)),
    completions.map((c) => c.statusCode),
    completions.map((c) => c.error),
    completions.map((c) => Math.max(0, Math.round(c.latencyMs))),
  ];
  if (completions.every((c) => c.result === null || classifyAttempt(c.result) === 'DELIVERED')) {
    const endpointIds = [...new Set(completions.filter((c) => c.endpointId !== null && c.result !== null).map((c) => c.endpointId as string))];
    const rows = await db.withSession((session) => session.query<{ id: string | null }>(OUTBOX_ALL_DELIVERED_SQL, [...params, endpointIds]));
    return { applied: new Set(rows.filter((r) => r.id !== null).map((r) => r.id as string)), disabled: [] };
  }
  return db.withSession((session) =>
    session.transaction(async (tx) => {
      const rows = await tx.query<{ id: string | null }>(OUTBOX_SQL, params);
      const applied = new Set(rows.filter((r) => r.id !== null).map((r) => r.id as string));

      const byEndpoint = new Map<string, Completion[]>();
      for (const c of completions) {
        if (c.endpointId === null || c.result === null) continue;
        byEndpoint.set(c.endpointId, [...(byEndpoint.get(c.endpointId) ?? []), c]);
      }
      if (byEndpoint.size === 0) return { applied, disabled: [] };

      const endpoints = await tx.query<EndpointHealthRow>(
        `SELECT id, "tenantId", enabled, "consecutiveFailures", "failingSince" FROM "WebhookEndpoint"
          WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`,
        [[...byEndpoint.keys()]],
      );
      const updates: Array<{ id: string; failures: number; failingSince: number | null; disable: DisabledEndpoint['reason'] | null }> = [];
      const disabled: DisabledEndpoint[] = [];
      for (const endpoint of endpoints) {
        let state = {
          consecutiveFailures: Number(endpoint.consecutiveFailures),
          failingSince: endpoint.failingSince === null ? null : new Date(endpoint.failingSince).getTime(),
        };
        let disable: DisabledEndpoint['reason'] | null = null;
        const attempts = [...byEndpoint.get(endpoint.id)!].sort((a, b) => a.endedAt - b.endedAt);
        for (const c of attempts) {
          const next = updateHealth(state, c.result!, c.endedAt, health);
          state = next.health;
          // GONE wins over FAILING_TOO_LONG: the receiver said so explicitly.
          if (next.disable !== null && disable !== 'GONE') disable = next.disable;
        }
        updates.push({ id: endpoint.id, failures: state.consecutiveFailures, failingSince: state.failingSince, disable: endpoint.enabled ? disable : null });
        if (endpoint.enabled && disable !== null) disabled.push({ endpointId: endpoint.id, tenantId: endpoint.tenantId, reason: disable });
      }
      await tx.query(
        `UPDATE "WebhookEndpoint" e
            SET "consecutiveFailures" = u.failures,
                "failingSince" = CASE WHEN u."failingSince" IS NULL THEN NULL ELSE to_timestamp(u."failingSince" / 1000.0) END,
                enabled = CASE WHEN u.disable IS NULL THEN e.enabled ELSE false END,
                "disabledReason" = COALESCE(u.disable, e."disabledReason"),
                "disabledAt" = CASE WHEN u.disable IS NULL THEN e."disabledAt" ELSE now() END,
                "updatedAt" = now()
           FROM unnest($1::uuid[], $2::int[], $3::bigint[], $4::text[]) AS u(id, failures, "failingSince", disable)
          WHERE e.id = u.id`,
        [
          updates.map((u) => u.id),
          updates.map((u) => u.failures),
          updates.map((u) => (u.failingSince === null ? null : Math.round(u.failingSince))),
          updates.map((u) => u.disable),
        ],
      );
      return { applied, disabled };
    }),
  );
}
