/**
 * The outbox deliverer (docs/outbox.md "Delivering"): sends the signed webhooks and runs the rule
 * actions that the change statements wrote into "Outbox", in order per stream, at least once, with
 * the retry schedule of src/domain/webhooks/schedule.ts. Every instance runs one; the database
 * coordinates them (advisory locks at the claim, leases on the rows), so nothing about delivery lives
 * only in memory.
 *
 * A round: claim (./claim.ts, one short transaction) → send each WEBHOOK row (./sender.ts) or hand
 * each ACTION row to the ActionExecutor, concurrently and outside any transaction → complete the
 * results in batches (./complete.ts, one guarded statement per batch). Rounds run every
 * `pollIntervalMs` and early on `wake()`; a round does not wait for its sends, so one slow receiver
 * never holds up the next claim: the local in-flight count bounds what the next round may take.
 * Retention of DELIVERED rows is ./retention.ts.
 */
import { performance } from 'node:perf_hooks';
import type { WebhooksConfig } from '../../config/types.ts';
import type { Database } from '../../db/client.ts';
import { systemActor } from '../../domain/principal.ts';
import { parseCidr, type Cidr, type DestinationPolicy } from '../../domain/webhooks/destination.ts';
import {
  afterAttempt,
  DEFAULT_HEALTH_POLICY,
  DEFAULT_RETRY_POLICY,
  type AttemptResult,
  type HealthPolicy,
  type RetryPolicy,
} from '../../domain/webhooks/schedule.ts';
import type { Logger } from '../../logger.ts';
import type { Metrics } from '../../metrics.ts';
import { periodic } from '../../periodic.ts';
import type { SecretSealer } from '../../security/webhook-key.ts';
import type { AuditLog } from '../audit.ts';
import { SerialBatcher } from '../serial-batcher.ts';
import { claimDue, type ClaimedRow } from './claim.ts';
import { completeBatch, type Completion, type RowDecision } from './complete.ts';
import { createConnectionPool, DEFAULT_POOL_OPTIONS, type ConnectionPoolOptions } from './connection-pool.ts';
import { createSender, type Resolver, type SendOutcome } from './sender.ts';

export { claimDue, type ClaimedRow } from './claim.ts';
export { createOutboxRetention, type OutboxRetention } from './retention.ts';

/** An ACTION row as the executor sees it (docs/outbox.md "Rule actions"). */
export interface OutboxActionRow {
  id: string;
  tenantId: string;
  eventId: string;
  alarmId: string | null;
  deviceKey: string | null;
  attempts: number;
  data: unknown;
}

/** `retry: false` is permanent (the row is FAILED at once); `retry: true` follows the retry schedule. */
export type ActionOutcome = { ok: true; detail?: string } | { ok: false; retry: boolean; error: string };

/**
 * Runs one rule action. Called at least once per row (a lease that expired mid-run runs it again), so
 * an implementation must be idempotent on the row id. It should not throw; a throw counts as
 * `{ ok: false, retry: true }`.
 */
export type ActionExecutor = (row: OutboxActionRow) => Promise<ActionOutcome>;

export interface OutboxService {
  /** Starts the periodic rounds (first one at once). */
  start(): void;
  /** Stops the rounds and waits for the attempts in flight and their completion. */
  stop(): Promise<void>;
  /**
   * Asks for a round soon, after local writes that may have added outbox rows. Calls while a round is
   * queued are coalesced into it; never throws.
   */
  wake(): void;
  /**
   * One round now, waiting for its attempts and their completion (tests, tools). Resolves with how
   * many rows it claimed.
   */
  runOnce(): Promise<{ claimed: number }>;
}

export const OUTBOX_METRICS = {
  delivered: 'doppel_outbox_events_delivered_total',
  attempts: 'doppel_webhook_attempts_total',
  failed: 'doppel_webhook_events_failed_total',
  disabled: 'doppel_webhook_endpoints_disabled_total',
  actions: 'doppel_outbox_action_attempts_total',
  pending: 'doppel_outbox_pending',
  oldestPending: 'doppel_outbox_oldest_pending_seconds',
  attemptSeconds: 'doppel_webhook_attempt_seconds',
  deliverySeconds: 'doppel_webhook_delivery_seconds',
  claimed: 'doppel_outbox_claimed_total',
  stale: 'doppel_outbox_stale_completions_total',
  roundFailures: 'doppel_outbox_round_failures_total',
  unreadableSecrets: 'doppel_webhook_secrets_unreadable_total',
  resends: 'doppel_webhook_resends_total',
} as const;

/** One HTTP attempt: from a fast local receiver (ms) to the timeout (15 s by default). */
export const ATTEMPT_SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/**
 * From an event's schedule start (its commit, or a redelivery) to its 2xx or to giving up: milliseconds
 * when healthy, up to the max age (3 days by default) through the retry schedule.
 */
export const DELIVERY_SECONDS_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 21_600, 86_400, 259_200];

export interface OutboxServiceOptions {
  db: Pick<Database, 'withSession' | 'sql'>;
  config: Pick<
    WebhooksConfig,
    'allowHttp' | 'allowedNetworks' | 'timeoutMs' | 'leaseMs' | 'maxInFlight' | 'claimBatch' | 'pollIntervalMs' | 'maxAttempts' | 'maxAgeMs' | 'disableAfterMs'
  >;
  sealer: SecretSealer;
  audit: AuditLog;
  metrics: Metrics;
  logger: Logger;
  /** Runs kind='ACTION' rows. */
  executor: ActionExecutor;
  /** Default: DEFAULT_RETRY_POLICY with the configured max attempts and age. */
  retryPolicy?: RetryPolicy;
  /** Default: DEFAULT_HEALTH_POLICY with the configured disable-after. */
  healthPolicy?: HealthPolicy;
  /** The jitter's random source; default Math.random. */
  random?: () => number;
  /** Host name resolution (default node:dns lookup, all addresses). */
  resolve?: Resolver;
  /** ACTION rows in flight at once on this database; default `config.maxInFlight`. */
  actionMaxInFlight?: number;
  /** How often the pending gauges are sampled, ms; default 15 s. */
  sampleIntervalMs?: number;
  /** Keep-alive connections per endpoint (./connection-pool.ts); default DEFAULT_POOL_OPTIONS. */
  pool?: Partial<ConnectionPoolOptions>;
  /**
   * How often, at most, a round checks that the endpoints holding kept-alive sockets still exist and are
   * enabled (closing the sockets of the others), ms; default 1 s. Deletes and disables on any instance
   * are seen this way, not only this instance's.
   */
  poolSweepIntervalMs?: number;
}

export function createOutboxService(options: OutboxServiceOptions): OutboxService {
  const { db, config, sealer, audit, metrics, logger, executor } = options;
  const retry: RetryPolicy = options.retryPolicy ?? { ...DEFAULT_RETRY_POLICY, maxAttempts: config.maxAttempts, maxAgeMs: config.maxAgeMs };
  const health: HealthPolicy = options.healthPolicy ?? { ...DEFAULT_HEALTH_POLICY, disableAfterMs: config.disableAfterMs };
  const random = options.random ?? Math.random;
  const sampleIntervalMs = options.sampleIntervalMs ?? 15_000;
  const policy: DestinationPolicy = {
    allowHttp: config.allowHttp,
    // The config loader refuses a bad CIDR at start-up; anything unparsable here is left out, never widened.
    allowedNetworks: config.allowedNetworks.map(parseCidr).filter((c): c is Cidr => c !== null),
  };
  const pool = createConnectionPool({ ...DEFAULT_POOL_OPTIONS, ...options.pool });
  const poolSweepIntervalMs = options.poolSweepIntervalMs ?? 1_000;
  const send = createSender({
    policy,
    timeoutMs: config.timeoutMs,
    pool,
    onResend: () => metrics.inc(OUTBOX_METRICS.resends),
    ...(options.resolve ? { resolve: options.resolve } : {}),
  });

  metrics.describe(OUTBOX_METRICS.delivered, 'Outbox rows delivered (webhooks answered 2xx, actions done), by kind.');
  metrics.describe(OUTBOX_METRICS.attempts, 'Webhook attempts by outcome (delivered, retry, throttled, gone, error, refused, invalid).');
  metrics.describe(OUTBOX_METRICS.failed, 'Webhook events given up on (FAILED: max attempts, max age, or unsendable).');
  metrics.describe(OUTBOX_METRICS.disabled, 'Webhook endpoints disabled by the deliverer, by reason (GONE, FAILING_TOO_LONG).');
  metrics.describe(OUTBOX_METRICS.actions, 'Rule-action executions by outcome (done, retry, failed).');
  metrics.describe(OUTBOX_METRICS.pending, 'PENDING outbox rows, sampled by the deliverer.', 'gauge');
  metrics.describe(OUTBOX_METRICS.oldestPending, 'Age of the oldest PENDING outbox row in seconds, sampled by the deliverer (alert on this).', 'gauge');
  metrics.describeHistogram(OUTBOX_METRICS.attemptSeconds, 'Seconds per webhook HTTP attempt.', ATTEMPT_SECONDS_BUCKETS);
  metrics.describeHistogram(
    OUTBOX_METRICS.deliverySeconds,
    'Seconds from a webhook event’s commit (or redelivery) to its delivery (outcome="delivered", a 2xx) or to giving up on it (outcome="failed").',
    DELIVERY_SECONDS_BUCKETS,
  );
  metrics.describe(OUTBOX_METRICS.claimed, 'Outbox rows leased by this instance.');
  metrics.describe(
    OUTBOX_METRICS.resends,
    'Webhook requests sent again at once on a fresh connection: a reused kept-alive socket was reset before any answer.',
  );
  metrics.describe(OUTBOX_METRICS.stale, 'Attempts that ended after their lease had passed to another deliverer (logged, row left alone).');
  metrics.describe(OUTBOX_METRICS.unreadableSecrets, 'Endpoint secrets that could not be opened with the configured key (skipped when signing).');
  metrics.describe(OUTBOX_METRICS.roundFailures, 'Deliverer rounds or completions that failed (leases expire and the rows are retried).');

  const completions = new SerialBatcher<Completion, boolean>({
    maxBatch: Math.max(1, config.claimBatch),
    maxPending: Math.max(1, config.claimBatch) * 4,
    flush: async (items) => {
      let result;
      try {
        result = await completeBatch(db, items, health);
      } catch (error) {
        // Two instances logging an attempt of one row at once (a stale completion beside the new
        // holder's) can pick the same attempt number; once more reads the other's row and goes on.
        if ((error as { code?: string }).code !== '23505') throw error;
        result = await completeBatch(db, items, health);
      }
      for (const d of result.disabled) {
        metrics.inc(OUTBOX_METRICS.disabled, { reason: d.reason });
        logger.warn({ endpointId: d.endpointId, reason: d.reason }, 'webhook endpoint disabled');
        await audit.record({
          ...systemActor(d.tenantId, 'outbox'),
          action: 'endpoint.disabled',
          target: `webhookEndpoint:${d.endpointId}`,
          details: { reason: d.reason },
        });
      }
      return items.map((c) => result.applied.has(c.id));
    },
  });

  const inFlight = new Set<Promise<void>>();
  let stopped = false;
  let lastSample = -Infinity;
  let lastPoolSweep = -Infinity;

  async function loadEndpoints(ids: string[]): Promise<Map<string, { url: string; secrets: string[] }>> {
    const endpoints = new Map<string, { url: string; secrets: string[] }>();
    if (ids.length === 0) return endpoints;
    const rows = await db.sql.query<{ id: string; url: string; sealed: string | null }>(
      `SELECT e.id, e.url, s.sealed
         FROM "WebhookEndpoint" e
         LEFT JOIN "WebhookSecret" s ON s."endpointId" = e.id AND (s."expiresAt" IS NULL OR s."expiresAt" > now())
        WHERE e.id = ANY($1::uuid[])
        ORDER BY e.id, s."createdAt" DESC, s.id`,
      [ids],
    );
    for (const row of rows) {
      const endpoint = endpoints.get(row.id) ?? { url: row.url, secrets: [] };
      endpoints.set(row.id, endpoint);
      if (row.sealed === null) continue;
      const secret = sealer.open(row.id, row.sealed);
      // A secret sealed under another key (a changed WEBHOOK_SECRET_KEY) cannot sign; the others still do.
      if (secret === undefined) metrics.inc(OUTBOX_METRICS.unreadableSecrets);
      if (secret === undefined) logger.warn({ endpointId: row.id }, 'a webhook secret cannot be opened with the configured key');
      else endpoint.secrets.push(secret);
    }
    return endpoints;
  }

  /** The database's clock now, from the claim's now() and the time elapsed since (monotonic). */
  const dbClock = (row: ClaimedRow, claimedPerf: number) => () => Math.round(row.claimedAt + (performance.now() - claimedPerf));

  async function deliverWebhook(row: ClaimedRow, endpoint: { url: string; secrets: string[] } | undefined, now: () => number): Promise<Completion> {
    const started = performance.now();
    const outcome: SendOutcome =
      endpoint === undefined
        ? { result: { kind: 'error', error: 'ENDPOINT_GONE: the endpoint was deleted' }, permanent: false, outcome: 'error' }
        : await send({ endpointId: row.endpointId!, event: row, url: endpoint.url, secrets: endpoint.secrets });
    const latencyMs = performance.now() - started;
    metrics.inc(OUTBOX_METRICS.attempts, { outcome: outcome.outcome });
    metrics.observe(OUTBOX_METRICS.attemptSeconds, {}, latencyMs / 1000);
    const endedAt = now();
    const decision: RowDecision = outcome.permanent
      ? { status: 'FAILED', attempts: row.attempts + 1 }
      : afterAttempt({ attempts: row.attempts, createdAt: row.scheduleStart }, outcome.result, endedAt, retry, random);
    const c = completion(row, decision, outcome.result, latencyMs, endedAt);
    // An event that can never be sent as stored says nothing about the endpoint's health.
    return outcome.permanent ? { ...c, result: null } : c;
  }

  async function runAction(row: ClaimedRow, now: () => number): Promise<Completion> {
    const started = performance.now();
    let outcome: ActionOutcome;
    try {
      outcome = await executor({
        id: row.id,
        tenantId: row.tenantId,
        eventId: row.eventId,
        alarmId: row.alarmId,
        deviceKey: row.deviceKey,
        attempts: row.attempts,
        data: row.data,
      });
    } catch (error) {
      outcome = { ok: false, retry: true, error: `EXECUTOR_THREW: ${error instanceof Error ? error.message : String(error)}` };
    }
    const latencyMs = performance.now() - started;
    const endedAt = now();
    metrics.inc(OUTBOX_METRICS.actions, { outcome: outcome.ok ? 'done' : outcome.retry ? 'retry' : 'failed' });
    const decision: RowDecision = outcome.ok
      ? { status: 'DELIVERED', attempts: row.attempts + 1 }
      : !outcome.retry
        ? { status: 'FAILED', attempts: row.attempts + 1 }
        : afterAttempt({ attempts: row.attempts, createdAt: row.scheduleStart }, { kind: 'error', error: outcome.error }, endedAt, retry, random);
    const c = completion(row, decision, null, latencyMs, endedAt);
    return { ...c, error: outcome.ok ? (outcome.detail ?? null) : outcome.error };
  }

  function completion(row: ClaimedRow, decision: RowDecision, result: AttemptResult | null, latencyMs: number, endedAt: number): Completion {
    const failedReason = 'reason' in decision ? (decision as { reason: string }).reason : null;
    const error = result?.kind === 'error' ? result.error : decision.status === 'FAILED' ? failedReason : null;
    return {
      id: row.id,
      leaseToken: row.leaseToken,
      endpointId: row.endpointId,
      decision,
      result,
      statusCode: result?.kind === 'response' ? result.status : null,
      error,
      latencyMs,
      endedAt,
    };
  }

  async function attempt(row: ClaimedRow, endpoints: Map<string, { url: string; secrets: string[] }>, claimedPerf: number): Promise<void> {
    const now = dbClock(row, claimedPerf);
    const done = row.kind === 'ACTION' ? await runAction(row, now) : await deliverWebhook(row, endpoints.get(row.endpointId ?? ''), now);
    let applied: boolean;
    try {
      applied = await completions.submit(done);
    } catch (error) {
      metrics.inc(OUTBOX_METRICS.roundFailures);
      logger.error({ err: error, outboxId: row.id }, 'could not record an outbox attempt; the lease will expire and the row be retried');
      return;
    }
    if (!applied) {
      metrics.inc(OUTBOX_METRICS.stale);
      logger.warn({ outboxId: row.id }, 'an outbox attempt ended after its lease had passed on; its result was logged only');
      return;
    }
    if (done.decision.status === 'DELIVERED') metrics.inc(OUTBOX_METRICS.delivered, { kind: row.kind === 'ACTION' ? 'action' : 'webhook' });
    if (done.decision.status === 'FAILED' && row.kind === 'WEBHOOK') metrics.inc(OUTBOX_METRICS.failed);
    // The lag a receiver feels, once per event and only from the holder of its lease (a stale
    // completion changed nothing). Both ends are the database's clock: instances' clocks may differ.
    if (row.kind === 'WEBHOOK' && done.decision.status !== 'PENDING')
      metrics.observe(
        OUTBOX_METRICS.deliverySeconds,
        { outcome: done.decision.status === 'DELIVERED' ? 'delivered' : 'failed' },
        (done.endedAt - row.scheduleStart) / 1000,
      );
  }

  async function samplePending(): Promise<void> {
    if (performance.now() - lastSample < sampleIntervalMs) return;
    lastSample = performance.now();
    const [row] = await db.sql.query<{ n: number; age: number | null }>(
      `SELECT count(*)::int AS n, EXTRACT(EPOCH FROM now() - min("createdAt"))::float8 AS age FROM "Outbox" WHERE status = 'PENDING'`,
    );
    metrics.set(OUTBOX_METRICS.pending, {}, Number(row?.n ?? 0));
    metrics.set(OUTBOX_METRICS.oldestPending, {}, Math.max(0, Number(row?.age ?? 0)));
  }

  /** Closes the kept-alive sockets of endpoints deleted or disabled since they were opened (one indexed read). */
  async function sweepPool(): Promise<void> {
    const held = pool.endpoints();
    if (held.length === 0 || performance.now() - lastPoolSweep < poolSweepIntervalMs) return;
    lastPoolSweep = performance.now();
    const live = await db.sql.query<{ id: string }>(`SELECT id FROM "WebhookEndpoint" WHERE id = ANY($1::uuid[]) AND enabled`, [held]);
    pool.retain(new Set(live.map((r) => r.id)));
  }

  /** Claims and dispatches; resolves once dispatched, with the dispatched work. */
  async function round(): Promise<{ claimed: number; work: Promise<void>[] }> {
    if (stopped) return { claimed: 0, work: [] };
    await samplePending();
    await sweepPool();
    const room = config.claimBatch - inFlight.size;
    if (room <= 0) return { claimed: 0, work: [] };
    const claimedPerf = performance.now();
    const rows = await claimDue(db, {
      batch: room,
      leaseMs: config.leaseMs,
      actionMaxInFlight: options.actionMaxInFlight ?? config.maxInFlight,
      health,
    });
    if (rows.length === 0) return { claimed: 0, work: [] };
    metrics.inc(OUTBOX_METRICS.claimed, {}, rows.length);
    const endpointIds = [...new Set(rows.filter((r) => r.endpointId !== null).map((r) => r.endpointId as string))];
    let endpoints: Map<string, { url: string; secrets: string[] }>;
    try {
      endpoints = await loadEndpoints(endpointIds);
    } catch (error) {
      // The leases expire and the rows are claimed again: nothing was sent.
      metrics.inc(OUTBOX_METRICS.roundFailures);
      logger.error({ err: error }, 'could not read the claimed rows’ endpoints');
      return { claimed: rows.length, work: [] };
    }
    const work = rows.map((row) => {
      const job: Promise<void> = attempt(row, endpoints, claimedPerf)
        .catch((error: unknown) => {
          metrics.inc(OUTBOX_METRICS.roundFailures);
          logger.error({ err: error, outboxId: row.id }, 'an outbox attempt failed unexpectedly');
        })
        .finally(() => {
          inFlight.delete(job);
          // A finished attempt frees its stream (the next event of the device is due now) and a slot:
          // claim again at once rather than at the next poll, so a backlog drains at the receiver's pace.
          wake();
        });
      inFlight.add(job);
      return job;
    });
    return { claimed: rows.length, work };
  }

  // Rounds never overlap: each waits for the previous claim (not for its sends).
  let tail: Promise<unknown> = Promise.resolve();
  let wakeQueued = false;
  const serialRound = () => {
    const next = tail.then(() => {
      wakeQueued = false;
      return round();
    });
    tail = next.catch(() => undefined);
    return next;
  };
  const onRoundError = (error: unknown) => {
    metrics.inc(OUTBOX_METRICS.roundFailures);
    logger.error({ err: error }, 'an outbox round failed; retrying on the next tick');
  };

  const job = periodic({ intervalMs: config.pollIntervalMs, firstDelayMs: 0, run: serialRound, onError: onRoundError });

  /** An early round, coalesced: at most one is queued behind the running one. */
  function wake(): void {
    if (stopped || wakeQueued) return;
    wakeQueued = true;
    serialRound().catch(onRoundError);
  }

  return {
    start: () => job.start(),
    async stop() {
      stopped = true;
      await job.stop();
      await tail;
      await Promise.all([...inFlight]);
      await completions.drain();
      pool.close();
    },
    wake,
    async runOnce() {
      const { claimed, work } = await serialRound();
      await Promise.all(work);
      return { claimed };
    },
  };
}
