/**
 * "Does any enabled endpoint subscribe to this type?", cached per instance. The telemetry batch statement
 * is tuned (bench:ingest): it appends its `telemetry.stored` fan-out only while the answer is yes (the
 * measurements are in docs/outbox.md "telemetry.stored: appended only while subscribed").
 *
 * Staleness: the answer is at most `maxAgeMs` old. For that long after an endpoint subscribes (created,
 * enabled or edited), an instance may store batches without their `telemetry.stored` events; after an
 * endpoint stops subscribing, the statement only keeps joining (and writing nothing). The re-check is one
 * query over the (small) "WebhookEndpoint" table, made by the write that finds the answer too old;
 * concurrent writes share it.
 */
import type { SqlExecutor } from '../../db/client.ts';
import { eventTypeSql } from './fanout.ts';
import type { EventType } from '../../domain/webhooks/envelope.ts';

/** How old the cached answer may get before a write re-checks it. */
export const SUBSCRIPTION_RECHECK_MS = 5_000;

export interface SubscriptionFlag {
  /** True when an enabled endpoint subscribed to the type at most `maxAgeMs` ago. */
  current(): Promise<boolean>;
}

export function createSubscriptionFlag(sql: SqlExecutor, type: EventType, options: { maxAgeMs?: number; now?: () => number } = {}): SubscriptionFlag {
  const maxAgeMs = options.maxAgeMs ?? SUBSCRIPTION_RECHECK_MS;
  const now = options.now ?? Date.now;
  let answer = false;
  let checkedAt = Number.NEGATIVE_INFINITY;
  let inFlight: Promise<boolean> | undefined;

  async function check(): Promise<boolean> {
    const started = now();
    const rows = await sql.query<{ subscribed: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM "WebhookEndpoint" WHERE enabled AND ${eventTypeSql(type)} = ANY("eventTypes")) AS subscribed`,
    );
    answer = rows[0]?.subscribed === true;
    checkedAt = started;
    return answer;
  }

  return {
    current() {
      if (now() - checkedAt < maxAgeMs) return Promise.resolve(answer);
      inFlight ??= check().finally(() => {
        inFlight = undefined;
      });
      return inFlight;
    },
  };
}
