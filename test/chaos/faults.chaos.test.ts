/**
 * The chaos suite (issue 18): faults of what Doppel depends on, with a fleet publishing through them.
 * `npm run test:chaos` (vitest.chaos.config.ts); never part of `npm test`.
 *
 * Each case runs on a private PostgreSQL cluster (shared by the cases, database `doppel`), its own private
 * Mosquitto and Redis, a real Doppel process (src/main.ts) with a persistent MQTT session (MQTT_CLIENT_ID),
 * and 20 mqtt.js devices publishing QoS 1 telemetry at 200 msg/s in total, each message with its own
 * (device, metric, ts) key and a per-device counter n; the first 10 devices send `seq: n` and use
 * end-to-end receipts (test/support/fleet.ts). Then, per case (docs/operations.md, "Chaos suite"):
 *
 *  - zero loss: every message the broker acknowledged (PUBACK) to a device is stored — for the database
 *    faults and the Redis restart in full; for a broker restart, what the broker's documented semantics
 *    allow (stated in the case);
 *  - exactly once: no point stored twice;
 *  - the same process recovers (same pid, alive, ingest resumes), except where the case kills it;
 *  - /readyz answers 503 at least once during each database outage, and 200 at the end;
 *  - /metrics tells the truth: the telemetry store retries are counted when the database was down,
 *    `doppel_telemetry_points_total{result="stored"}` equals the rows stored, nothing is counted INTERNAL;
 *  - receipts: every message whose seq was confirmed is stored exactly once, and after the fault every
 *    message of a receipt user is eventually confirmed. A server that sends no receipt fails these with
 *    "receipts not available".
 *
 * The suite prints a summary table at the end (the figures behind the assertions).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CHECKER_APPLICATION_NAME,
  fetchMetrics,
  logEntries,
  metricValue,
  missingPrerequisites,
  runCase,
  startChaosDatabase,
  SUMMARY_HEADER,
  summaryRow,
  type CaseContext,
  type CaseResult,
  type ChaosDatabase,
} from './chaos-env.ts';

const CASE_TIMEOUT_MS = 240_000;
/**
 * How late a PUBACK may be seen by the fleet after the broker sent it (this process' event loop on a
 * loaded 2-core machine): a message the broker dropped just before Doppel's re-subscription may have its
 * PUBACK handled here a little after it.
 */
const PUBACK_LAG_MS = 500;
let db: ChaosDatabase | undefined;
const summary: string[] = [];

beforeAll(async () => {
  const missing = missingPrerequisites();
  if (missing.length > 0) throw new Error(`the chaos suite needs ${missing.join(', ')}`);
  db = await startChaosDatabase();
}, 120_000);

afterAll(async () => {
  await db?.close();
  if (summary.length > 0) console.info(`\nchaos suite summary\n${SUMMARY_HEADER}\n${summary.join('\n')}\n`);
}, 60_000);

function lost(r: CaseResult, which: 'all' | 'receipts' | 'puback-only' = 'all'): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const d of r.devices) {
    if (which === 'receipts' && !d.usesReceipts) continue;
    if (which === 'puback-only' && d.usesReceipts) continue;
    const m = r.missing.get(d.id);
    if (m) out[d.id] = m;
  }
  return out;
}

function lostCount(r: CaseResult, which: 'all' | 'receipts' | 'puback-only' = 'all'): number {
  return Object.values(lost(r, which)).reduce((s, m) => s + m.length, 0);
}

/** Shortens a per-device list of lost n for a failure message. */
function brief(record: Record<string, number[]>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [id, ns] of Object.entries(record)) out[id] = `${ns.length} lost: ${ns.slice(0, 8).join(', ')}${ns.length > 8 ? ', …' : ''}`;
  return out;
}

function expectNothingStoredTwice(r: CaseResult): void {
  expect.soft(r.duplicates, 'points stored more than once').toBe(0);
}

function expectSameProcessRecovered(r: CaseResult): void {
  expect.soft(r.death, 'the Doppel process is still running').toBeUndefined();
  expect.soft(r.pidAfter, 'recovered without a restart (same pid)').toBe(r.pidBefore);
  expect.soft(r.resumedAfterMs, 'ingest resumed after the fault').toBeTypeOf('number');
}

function expectReadiness(r: CaseResult, { notReadyDuringOutages }: { notReadyDuringOutages: boolean }): void {
  if (notReadyDuringOutages) {
    expect.soft(r.outages.length, 'the case marked its outage').toBeGreaterThan(0);
    expect.soft(r.notReadyDuringEachOutage, '/readyz answered 503 at least once during each outage').toEqual(r.outages.map(() => true));
  }
  expect.soft(r.finalReadiness, '/readyz after the fault').toBe(200);
}

function expectTruthfulCounters(r: CaseResult, { retriesCounted }: { retriesCounted: boolean }): void {
  expect.soft(metricValue(r.metricsText, 'doppel_mqtt_rejected_total', { code: 'INTERNAL' }), 'messages counted INTERNAL').toBe(0);
  if (retriesCounted) {
    expect.soft(metricValue(r.metricsText, 'doppel_store_retries_total', { kind: 'telemetry' }), 'telemetry store retries counted').toBeGreaterThan(0);
  }
  if (!r.restarted) {
    // One process wrote every point of these devices: its counter must match the table.
    expect.soft(metricValue(r.metricsText, 'doppel_telemetry_points_total', { result: 'stored' }), 'points counted stored = rows stored').toBe(r.storedRows);
  }
}

/**
 * Receipts (device contract v1.1): every message whose seq was confirmed is stored exactly once, and
 * every message sent was eventually confirmed. Needs a server that sends them.
 */
function expectReceipts(r: CaseResult): void {
  const users = r.devices.filter((d) => d.usesReceipts);
  const receipts = users.reduce((s, d) => s + d.receipts, 0);
  expect.soft(receipts, 'receipts not available: the server sent nothing on devices/{id}/telemetry/accepted to a device sending seq').toBeGreaterThan(0);
  if (receipts === 0) return;
  const confirmedNotStoredOnce: Record<string, number[]> = {};
  const unconfirmed: Record<string, string> = {};
  for (const d of users) {
    const rows = r.stored.get(d.id)!;
    const bad = [];
    for (let n = 1; n <= d.confirmed; n++) if (rows.get(n) !== 1) bad.push(n);
    if (bad.length > 0) confirmedNotStoredOnce[d.id] = bad;
    if (d.confirmed < d.sent) unconfirmed[d.id] = `confirmed ${d.confirmed} of ${d.sent}`;
  }
  expect.soft(brief(confirmedNotStoredOnce), 'messages confirmed by a receipt but not stored exactly once').toEqual({});
  expect.soft(unconfirmed, 'receipt users with messages never confirmed after the fault').toEqual({});
}

/** Zero loss of PUBACKed messages (database faults, Redis). */
function expectZeroLoss(r: CaseResult): void {
  expect.soft(brief(lost(r)), 'messages the broker acknowledged (PUBACK) and that were not stored').toEqual({});
}

async function stopPostgres(ctx: CaseContext, downMs: number, mode: 'fast' | 'immediate'): Promise<void> {
  const start = Date.now();
  if (mode === 'fast') await ctx.db.pg.stop();
  else await ctx.db.pg.kill();
  await sleep(downMs);
  // Marked up to just before the start: /readyz may already say 200 once PostgreSQL accepts connections.
  ctx.outage(start, Date.now());
  await ctx.db.pg.start();
}

function record(r: CaseResult, bound?: number): void {
  summary.push(summaryRow(r, bound));
}

describe('chaos: faults of PostgreSQL, Mosquitto and Redis under a QoS 1 fleet', () => {
  for (const [name, key, downMs, mode] of [
    ['PostgreSQL stopped 2 s (fast shutdown)', 'pg2s', 2000, 'fast'],
    ['PostgreSQL stopped 30 s (fast shutdown)', 'pg30s', 30_000, 'fast'],
    ['PostgreSQL crashed 5 s (immediate shutdown)', 'pgcrash', 5000, 'immediate'],
  ] as const) {
    it(
      `${name}: zero loss, same process, /readyz 503 then 200, retries counted`,
      async () => {
        const r = await runCase(db!, { name, key, fault: (ctx) => stopPostgres(ctx, downMs, mode) });
        record(r);
        expectZeroLoss(r);
        expectNothingStoredTwice(r);
        expectSameProcessRecovered(r);
        expectReadiness(r, { notReadyDuringOutages: true });
        expectTruthfulCounters(r, { retriesCounted: true });
        expectReceipts(r);
      },
      CASE_TIMEOUT_MS,
    );
  }

  it(
    'pg_terminate_backend storm (every 200 ms for 5 s): zero loss, same process, ready after',
    async () => {
      const r = await runCase(db!, {
        name: 'pg_terminate_backend storm 5 s',
        key: 'pgstorm',
        async fault(ctx) {
          let terminated = 0;
          const until = Date.now() + 5000;
          while (Date.now() < until) {
            const { rows } = await ctx.db.checker.query<{ n: string }>(
              `SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity
                WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name <> $1`,
              [CHECKER_APPLICATION_NAME],
            );
            terminated += Number(rows[0]!.n);
            await sleep(200);
          }
          ctx.notes.terminated = terminated;
        },
      });
      record(r);
      expect.soft(r.notes.terminated, "Doppel's connections terminated by the storm").toBeGreaterThan(0);
      expectZeroLoss(r);
      expectNothingStoredTwice(r);
      expectSameProcessRecovered(r);
      // Not an outage: PostgreSQL answers between the kills, so /readyz may stay 200 throughout.
      expectReadiness(r, { notReadyDuringOutages: false });
      expectTruthfulCounters(r, { retriesCounted: false });
      expectReceipts(r);
    },
    CASE_TIMEOUT_MS,
  );

  it(
    'Doppel SIGKILLed during a pg_terminate_backend storm, started again after it: zero loss',
    async () => {
      const r = await runCase(db!, {
        name: 'pg_terminate_backend storm + SIGKILL of Doppel',
        key: 'pgstormkill',
        async fault(ctx) {
          let terminated = 0;
          let killed = false;
          const started = Date.now();
          while (Date.now() < started + 5000) {
            const { rows } = await ctx.db.checker.query<{ n: string }>(
              `SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity
                WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name <> $1`,
              [CHECKER_APPLICATION_NAME],
            );
            terminated += Number(rows[0]!.n);
            if (!killed && Date.now() >= started + 2500) {
              // Mid-storm: writes in flight on broken connections, nothing of it acknowledged to the broker yet.
              killed = true;
              ctx.server.child.kill('SIGKILL');
              await ctx.server.exited;
              ctx.restarted = true;
            }
            await sleep(200);
          }
          ctx.notes.terminated = terminated;
          await ctx.startServer();
        },
      });
      record(r);
      expect.soft(r.notes.terminated, "Doppel's connections terminated by the storm").toBeGreaterThan(0);
      expectZeroLoss(r);
      expectNothingStoredTwice(r);
      expect.soft(r.death, 'the restarted Doppel process is running').toBeUndefined();
      expectReadiness(r, { notReadyDuringOutages: false });
      expectTruthfulCounters(r, { retriesCounted: false });
      expectReceipts(r);
    },
    CASE_TIMEOUT_MS,
  );

  it(
    'Doppel SIGKILLed during a PostgreSQL outage, started again after it: zero loss from the persistent session',
    async () => {
      const r = await runCase(db!, {
        name: 'SIGKILL of Doppel during a PostgreSQL outage',
        key: 'pgkill',
        async fault(ctx) {
          const start = Date.now();
          await ctx.db.pg.stop();
          await sleep(3000);
          ctx.server.child.kill('SIGKILL');
          await ctx.server.exited;
          ctx.restarted = true;
          await sleep(2000);
          ctx.outage(start, Date.now());
          await ctx.db.pg.start();
          // Same MQTT_CLIENT_ID: the broker kept the session and queued what the fleet sent meanwhile.
          await ctx.startServer();
        },
      });
      record(r);
      expectZeroLoss(r);
      expectNothingStoredTwice(r);
      expect.soft(r.death, 'the restarted Doppel process is running').toBeUndefined();
      expect.soft(r.resumedAfterMs, 'ingest resumed after the restart').toBeTypeOf('number');
      expectReadiness(r, { notReadyDuringOutages: true });
      expectTruthfulCounters(r, { retriesCounted: false });
      expectReceipts(r);
    },
    CASE_TIMEOUT_MS,
  );

  it(
    'Mosquitto restarted with persistence false (3 s down): losses bounded by what the broker held or took before Doppel re-subscribed; zero for receipt users',
    mosquittoWithoutPersistence({ killDoppel: false }),
    CASE_TIMEOUT_MS,
  );

  it(
    'Mosquitto restarted gracefully with persistence true (3 s down): losses only in the window before Doppel re-subscribed; zero for receipt users',
    async () => {
      const r = await runCase(db!, {
        name: 'Mosquitto restart, persistence true',
        key: 'mqp',
        mosquitto: { persistence: true, autosaveSeconds: 1 },
        async fault(ctx) {
          // A graceful stop writes the persistence file: Doppel's session, its subscriptions and every
          // message queued or in flight to it survive the restart.
          const start = Date.now();
          await ctx.mosquitto.stop();
          ctx.notes.stoppedAt = start;
          await sleep(3000);
          ctx.outage(start, Date.now());
          ctx.notes.startingAt = Date.now();
          await ctx.mosquitto.start();
        },
      });
      const { resubscribedAt, ackedBeforeResubscribe } = beforeResubscription(r, r.notes.stoppedAt!, r.notes.startingAt!);
      record(r, ackedBeforeResubscribe);
      expect.soft(resubscribedAt, 'Doppel re-subscribed after the broker came back').toBeTypeOf('number');
      expectLossWithin(r, ackedBeforeResubscribe, `${ackedBeforeResubscribe} acknowledged between the broker's return and Doppel's re-subscription`);
      expectNothingStoredTwice(r);
      expectSameProcessRecovered(r);
      expect.soft(r.notReadyDuringEachOutage, '/readyz answered 503 while the broker was down').toEqual([true]);
      expectReadiness(r, { notReadyDuringOutages: false });
      expectTruthfulCounters(r, { retriesCounted: false });
      expectReceipts(r);
    },
    CASE_TIMEOUT_MS,
  );

  it(
    'Mosquitto restarted gracefully with persistence true while Doppel is SIGKILLed: losses only before the new Doppel subscribed; zero for receipt users',
    async () => {
      const r = await runCase(db!, {
        name: 'Mosquitto restart (persistence true) + SIGKILL of Doppel',
        key: 'mqpkill',
        mosquitto: { persistence: true, autosaveSeconds: 1 },
        async fault(ctx) {
          const start = Date.now();
          await ctx.mosquitto.stop();
          ctx.notes.stoppedAt = start;
          await sleep(1000);
          ctx.server.child.kill('SIGKILL');
          await ctx.server.exited;
          ctx.restarted = true;
          await sleep(2000);
          ctx.outage(start, Date.now());
          ctx.notes.startingAt = Date.now();
          await ctx.mosquitto.start();
          await ctx.startServer();
        },
      });
      // Everything devices publish while no Doppel is subscribed (the broker's return until the new
      // process subscribes, which includes its start-up) is dropped by the broker; what was queued for
      // Doppel's session before the stop survives in the persistence file and is delivered.
      const { resubscribedAt, ackedBeforeResubscribe } = beforeResubscription(r, r.notes.stoppedAt!, r.notes.startingAt!);
      record(r, ackedBeforeResubscribe);
      expect.soft(resubscribedAt, 'the new Doppel process subscribed').toBeTypeOf('number');
      expectLossWithin(r, ackedBeforeResubscribe, `${ackedBeforeResubscribe} acknowledged between the broker's return and the new Doppel's subscription`);
      expectNothingStoredTwice(r);
      expect.soft(r.death, 'the restarted Doppel process is running').toBeUndefined();
      expectReadiness(r, { notReadyDuringOutages: false });
      expectTruthfulCounters(r, { retriesCounted: false });
      expectReceipts(r);
    },
    CASE_TIMEOUT_MS,
  );

  it(
    'Mosquitto restarted with persistence false while Doppel is SIGKILLed: losses bounded by what the broker held or took before the new Doppel subscribed; zero for receipt users',
    mosquittoWithoutPersistence({ killDoppel: true }),
    CASE_TIMEOUT_MS,
  );

  it(
    'Redis restarted (2 s down): zero loss, same process, ready after',
    async () => {
      const r = await runCase(db!, {
        name: 'Redis restart',
        key: 'redis',
        async fault(ctx) {
          // Redis carries live events between instances, never telemetry: ingestion must not notice.
          await ctx.redis.restart(2000);
        },
      });
      record(r);
      expectZeroLoss(r);
      expectNothingStoredTwice(r);
      expectSameProcessRecovered(r);
      expectReadiness(r, { notReadyDuringOutages: false });
      expectTruthfulCounters(r, { retriesCounted: false });
      expectReceipts(r);
    },
    CASE_TIMEOUT_MS,
  );

  it(
    'Doppel SIGKILLed while Redis is down, started again after it: zero loss',
    async () => {
      const r = await runCase(db!, {
        name: 'Redis restart + SIGKILL of Doppel',
        key: 'rediskill',
        async fault(ctx) {
          await ctx.redis.stop();
          await sleep(1000);
          ctx.server.child.kill('SIGKILL');
          await ctx.server.exited;
          ctx.restarted = true;
          await sleep(1000);
          await ctx.redis.start();
          // Same MQTT_CLIENT_ID: the broker queued what the fleet sent meanwhile.
          await ctx.startServer();
        },
      });
      record(r);
      expectZeroLoss(r);
      expectNothingStoredTwice(r);
      expect.soft(r.death, 'the restarted Doppel process is running').toBeUndefined();
      expectReadiness(r, { notReadyDuringOutages: false });
      expectTruthfulCounters(r, { retriesCounted: false });
      expectReceipts(r);
    },
    CASE_TIMEOUT_MS,
  );
});

/**
 * Mosquitto restarted without persistence (3 s down), optionally with a SIGKILL of Doppel while it is
 * down. The broker forgets, at its restart, every session and what it queued: (1) the messages it had
 * acknowledged to devices and not yet delivered to Doppel (bounded by acknowledged-to-devices after the
 * stop minus handed-to-Doppel before it), and (2) the messages devices publish after its return and
 * before a Doppel has subscribed again (no subscriber yet: acknowledged and dropped, per MQTT) — with the
 * kill, the new process, whose start-up widens that window. Both are measured; their sum bounds the
 * loss. The two terms partition the PUBACKs: no PUBACK can arrive while no broker runs, so those counted
 * up to the start belong to the old broker's life, and every later one to the new broker's.
 */
function mosquittoWithoutPersistence({ killDoppel }: { killDoppel: boolean }): () => Promise<void> {
  return async () => {
    const r = await runCase(db!, {
      name: killDoppel ? 'Mosquitto restart (persistence false) + SIGKILL of Doppel' : 'Mosquitto restart, persistence false',
      key: killDoppel ? 'mqnpkill' : 'mqnp',
      async fault(ctx) {
        const handledBefore = metricValue(await fetchMetrics(ctx.server), 'doppel_mqtt_messages_total', { kind: 'telemetry' });
        await ctx.mosquitto.stop();
        ctx.notes.stoppedAt = Date.now();
        if (killDoppel) {
          await sleep(1000);
          ctx.server.child.kill('SIGKILL');
          await ctx.server.exited;
          ctx.restarted = true;
          await sleep(2000);
        } else {
          await sleep(3000);
        }
        const ackedByTheOldBroker = ctx.fleet.acked();
        ctx.notes.startingAt = Date.now();
        await ctx.mosquitto.start();
        ctx.notes.queuedAtStop = Math.max(0, ackedByTheOldBroker - handledBefore);
        if (killDoppel) await ctx.startServer();
      },
    });
    const { resubscribedAt, ackedBeforeResubscribe } = beforeResubscription(r, r.notes.stoppedAt!, r.notes.startingAt!);
    const bound = r.notes.queuedAtStop! + ackedBeforeResubscribe;
    record(r, bound);
    expect
      .soft(resubscribedAt, killDoppel ? 'the new Doppel process subscribed' : 'Doppel re-subscribed after the broker came back without its session')
      .toBeTypeOf('number');
    expectLossWithin(
      r,
      bound,
      `${r.notes.queuedAtStop} held at the stop + ${ackedBeforeResubscribe} before ${killDoppel ? 'the new process' : 'Doppel'} subscribed`,
    );
    expectNothingStoredTwice(r);
    if (killDoppel) expect.soft(r.death, 'the restarted Doppel process is running').toBeUndefined();
    else expectSameProcessRecovered(r);
    expectReadiness(r, { notReadyDuringOutages: false });
    expectTruthfulCounters(r, { retriesCounted: false });
    expectReceipts(r);
  };
}

/**
 * The broker's window after a restart: devices reconnect and publish (their outage backlog first) before
 * Doppel has subscribed again, and MQTT drops a publish nobody subscribed to — also with persistence,
 * because Mosquitto 2.0 restores a persistent session without its shared subscriptions
 * (docs/durability.md). Counts the PUBACKs from the broker's start to Doppel's first re-subscription
 * logged after `stoppedAt` (plus the PUBACK lag of this loaded test process).
 */
function beforeResubscription(r: CaseResult, stoppedAt: number, startingAt: number): { resubscribedAt: number | undefined; ackedBeforeResubscribe: number } {
  const resubscribedAt = logEntries(r.serverLines)
    .filter((l) => l.msg === 'subscribed to device topics' && (l.time ?? 0) >= stoppedAt)
    .map((l) => l.time!)
    .at(0);
  const ackedBeforeResubscribe = r.devices.reduce(
    (s, d) => s + d.ackTimes.filter((t) => t >= startingAt && t <= (resubscribedAt ?? Infinity) + PUBACK_LAG_MS).length,
    0,
  );
  return { resubscribedAt, ackedBeforeResubscribe };
}

/** Broker faults: plain devices may lose what fell in the broker's window (`bound`); receipt users lose nothing. */
function expectLossWithin(r: CaseResult, bound: number, why: string): void {
  expect.soft(lostCount(r), `PUBACKed and lost (allowed: ${why})`).toBeLessThanOrEqual(bound);
  const receiptsSeen = r.devices.some((d) => d.receipts > 0);
  expect
    .soft(brief(lost(r, 'receipts')), `${receiptsSeen ? '' : 'receipts not available: '}receipt users lose nothing (they resend what was not confirmed)`)
    .toEqual({});
}
