import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Database } from '../../../src/db/client.ts';
import { eventIdOf } from '../../../src/domain/webhooks/envelope.ts';
import { verifyWebhook } from '../../../src/domain/webhooks/signing.ts';
import { OUTBOX_METRICS, type OutboxActionRow } from '../../../src/services/outbox/index.ts';
import { modeName, openTestDatabase } from '../../support/harness.ts';
import { createDeliverer, createEndpoint, FAST_RETRY, insertEvents, newSecret, rowsOf, runUntil, stopDeliverers } from './fixture.ts';
import { startReceiver, type Answer, type Receiver } from '../../support/webhook-receiver.ts';

let db: Database;
let closeDatabase: (() => Promise<void>) | undefined;
const receivers: Receiver[] = [];

beforeAll(async () => {
  ({ db, close: closeDatabase } = await openTestDatabase());
});
afterAll(async () => {
  await closeDatabase?.();
});
beforeEach(async () => {
  // One database for the file: earlier tests' endpoints and actions must not take part in this one.
  await db.sql.query(`UPDATE "WebhookEndpoint" SET enabled = false`);
  await db.sql.query(`DELETE FROM "Outbox" WHERE kind = 'ACTION'`);
});
afterEach(async () => {
  await stopDeliverers();
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

async function receiver(secrets = [newSecret()]) {
  const r = await startReceiver(secrets);
  receivers.push(r);
  return r;
}

const pendingOf = async (ids: string[]) => (await rowsOf(db, ids)).filter((r) => r.status === 'PENDING').length;

/** The ids answered 2xx, per device, in answer order, as event ids. */
function acceptedPerDevice(r: Receiver, deviceOf: Map<string, string>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const id of r.accepted) {
    const device = deviceOf.get(id)!;
    if (!out.has(device)) out.set(device, []);
    if (!out.get(device)!.includes(id)) out.get(device)!.push(id);
  }
  return out;
}

describe(`outbox deliverer (${modeName})`, () => {
  it('delivers every event through failures, timeouts, 500s and 429s, in order per device, signed, repeats only under the same id', async () => {
    const r = await receiver();
    const endpointId = await createEndpoint(db, { url: r.url, maxInFlight: 3, secrets: [{ secret: r.secrets[0]! }] });
    const devices = [randomUUID(), randomUUID(), randomUUID()];
    const specs = Array.from({ length: 24 }, (_, i) => ({ endpointId, deviceKey: devices[i % 3]!, data: { deviceId: `d${i % 3}`, version: i } }));
    const rows = await insertEvents(db, specs);
    const deviceOf = new Map(rows.map((row, i) => [eventIdOf(row.eventId)!, specs[i]!.deviceKey]));
    const expected = new Map<string, string[]>();
    rows.forEach((row, i) => expected.set(specs[i]!.deviceKey, [...(expected.get(specs[i]!.deviceKey) ?? []), eventIdOf(row.eventId)!]));

    // Every event meets a different trouble on its first tries, then the receiver recovers.
    let n = 0;
    r.answer = ({ nth }) => {
      n++;
      const troubles: Answer[] = [
        { status: 500 },
        { status: 429, headers: { 'retry-after': '0' } },
        { destroy: true },
        { status: 302, headers: { location: 'http://10.0.0.1/' } },
      ];
      if (nth === 1) return troubles[n % 4]!;
      if (nth === 2 && n % 5 === 0) return { status: 503 };
      return { status: 204 };
    };
    const { service, metrics } = createDeliverer(db);
    await runUntil(
      () => service.runOnce(),
      async () => (await pendingOf(rows.map((x) => x.id))) === 0,
    );

    expect(await pendingOf(rows.map((x) => x.id))).toBe(0);
    expect(
      (
        await rowsOf(
          db,
          rows.map((x) => x.id),
        )
      ).every((x) => x.status === 'DELIVERED'),
    ).toBe(true);
    expect(r.requests.every((q) => q.verified)).toBe(true);
    // Order per device: each device's events were accepted in the order they were written.
    expect(acceptedPerDevice(r, deviceOf)).toEqual(expected);
    // Every request carried a known event id; a repeat is the same id again, never a new one.
    expect(new Set(r.requests.map((q) => q.webhookId))).toEqual(new Set(deviceOf.keys()));
    const bodies = new Map<string, string>();
    for (const q of r.requests) {
      expect(bodies.get(q.webhookId) ?? q.body).toBe(q.body);
      bodies.set(q.webhookId, q.body);
    }
    expect(metrics.get(OUTBOX_METRICS.delivered, { kind: 'webhook' })).toBe(24);
    expect(metrics.get(OUTBOX_METRICS.attempts, { outcome: 'throttled' })).toBeGreaterThan(0);
    // Each event's delivery lag is observed once, by the lease holder, whatever its retries.
    const lag = metrics.histogram(OUTBOX_METRICS.deliverySeconds, { outcome: 'delivered' });
    expect(lag?.count).toBe(24);
    expect(lag!.buckets.at(-1)).toEqual([Infinity, 24]);
    expect(lag!.sum).toBeGreaterThanOrEqual(0);
    // One attempt per request, except a request the receiver reset (`destroy`) on a reused kept-alive
    // socket before any answer: sent again at once within the same attempt, and counted as a resend.
    const resends = metrics.get(OUTBOX_METRICS.resends);
    expect(metrics.histogram(OUTBOX_METRICS.attemptSeconds)?.count).toBe(r.requests.length - resends);
    expect(await metrics.render()).toMatch(/^doppel_webhook_delivery_seconds_bucket\{le="\+Inf",outcome="delivered"\} 24$/m);
    const attempts = await db.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM "OutboxAttempt" WHERE "outboxId" = ANY($1::uuid[])`, [
      rows.map((x) => x.id),
    ]);
    expect(attempts[0]!.n).toBe(r.requests.length - resends);
    await service.stop();
  });

  it('a batch of successes makes a failing endpoint healthy again (its one-statement completion)', async () => {
    const r = await receiver();
    const endpointId = await createEndpoint(db, { url: r.url, secrets: [{ secret: r.secrets[0]! }], consecutiveFailures: 3 });
    await db.sql.query(`UPDATE "WebhookEndpoint" SET "failingSince" = now() - interval '1 hour' WHERE id = $1::uuid`, [endpointId]);
    const rows = await insertEvents(db, [
      { endpointId, deviceKey: randomUUID() },
      { endpointId, deviceKey: randomUUID() },
    ]);
    r.answer = () => ({ status: 204 });
    const { service } = createDeliverer(db);
    await service.runOnce();
    expect(
      (
        await rowsOf(
          db,
          rows.map((x) => x.id),
        )
      ).map((x) => x.status),
    ).toEqual(['DELIVERED', 'DELIVERED']);
    const [endpoint] = await db.sql.query<{ consecutiveFailures: number; failingSince: Date | null; enabled: boolean }>(
      `SELECT "consecutiveFailures", "failingSince", enabled FROM "WebhookEndpoint" WHERE id = $1::uuid`,
      [endpointId],
    );
    expect(endpoint).toEqual({ consecutiveFailures: 0, failingSince: null, enabled: true });
    const attempts = await db.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM "OutboxAttempt" WHERE "outboxId" = ANY($1::uuid[])`, [
      rows.map((x) => x.id),
    ]);
    expect(attempts[0]!.n).toBe(2);
    await service.stop();
  });

  it('honours Retry-After as the least delay before the next attempt', async () => {
    const r = await receiver();
    const endpointId = await createEndpoint(db, { url: r.url, secrets: [{ secret: r.secrets[0]! }] });
    const [row] = await insertEvents(db, [{ endpointId, deviceKey: randomUUID() }]);
    r.answer = () => ({ status: 429, headers: { 'retry-after': '3600' } });
    const { service } = createDeliverer(db);
    await service.runOnce();
    const [state] = await db.sql.query<{ waits: boolean; attempts: number; lastStatus: number }>(
      `SELECT "nextAttemptAt" >= now() + interval '3599 seconds' AS waits, attempts, "lastStatus" FROM "Outbox" WHERE id = $1::uuid`,
      [row!.id],
    );
    expect(state).toEqual({ waits: true, attempts: 1, lastStatus: 429 });
    expect((await service.runOnce()).claimed).toBe(0);
  });

  it('disables an endpoint that answers 410, audits it, and keeps its event PENDING', async () => {
    const r = await receiver();
    const endpointId = await createEndpoint(db, { url: r.url, secrets: [{ secret: r.secrets[0]! }] });
    const rows = await insertEvents(db, [
      { endpointId, deviceKey: randomUUID() },
      { endpointId, deviceKey: randomUUID() },
    ]);
    r.answer = () => ({ status: 410 });
    const { service, metrics } = createDeliverer(db, { config: { maxInFlight: 1 } });
    await db.sql.query(`UPDATE "WebhookEndpoint" SET "maxInFlight" = 1 WHERE id = $1::uuid`, [endpointId]);
    await service.runOnce();
    const [endpoint] = await db.sql.query<{ enabled: boolean; disabledReason: string; consecutiveFailures: number }>(
      `SELECT enabled, "disabledReason", "consecutiveFailures" FROM "WebhookEndpoint" WHERE id = $1::uuid`,
      [endpointId],
    );
    expect(endpoint).toEqual({ enabled: false, disabledReason: 'GONE', consecutiveFailures: 1 });
    const audit = await db.sql.query<{ action: string; details: unknown }>(`SELECT action, details FROM "AuditEvent" WHERE target = $1`, [
      `webhookEndpoint:${endpointId}`,
    ]);
    expect(audit).toEqual([{ action: 'endpoint.disabled', details: { reason: 'GONE' } }]);
    expect(metrics.get(OUTBOX_METRICS.disabled, { reason: 'GONE' })).toBe(1);
    expect(
      (
        await rowsOf(
          db,
          rows.map((x) => x.id),
        )
      ).map((x) => x.status),
    ).toEqual(['PENDING', 'PENDING']);
    // Disabled: nothing more is claimed for it.
    expect((await service.runOnce()).claimed).toBe(0);
    expect(r.requests).toHaveLength(1);
  });

  it('marks an event FAILED after the max attempts; the stream goes on behind it', async () => {
    const r = await receiver();
    const endpointId = await createEndpoint(db, { url: r.url, secrets: [{ secret: r.secrets[0]! }] });
    const device = randomUUID();
    const [first, second] = await insertEvents(db, [
      { endpointId, deviceKey: device },
      { endpointId, deviceKey: device },
    ]);
    const firstId = eventIdOf(first!.eventId)!;
    r.answer = ({ webhookId }) => ({ status: webhookId === firstId ? 500 : 200 });
    const { service, metrics } = createDeliverer(db, { retryPolicy: { ...FAST_RETRY, maxAttempts: 3 } });
    await runUntil(
      () => service.runOnce(),
      async () => (await pendingOf([first!.id, second!.id])) === 0,
    );
    const [failed] = await rowsOf(db, [first!.id]);
    expect(failed).toMatchObject({ status: 'FAILED', attempts: 3, lastStatus: 500, lastError: 'MAX_ATTEMPTS' });
    expect((await rowsOf(db, [second!.id]))[0]!.status).toBe('DELIVERED');
    expect(r.requests.map((q) => q.webhookId)).toEqual([firstId, firstId, firstId, eventIdOf(second!.eventId)]);
    expect(metrics.get(OUTBOX_METRICS.failed)).toBe(1);
    expect(metrics.histogram(OUTBOX_METRICS.deliverySeconds, { outcome: 'failed' })?.count).toBe(1);
    expect(metrics.histogram(OUTBOX_METRICS.deliverySeconds, { outcome: 'delivered' })?.count).toBe(1);
  });

  it('fails an event whose body is over 64 KiB without sending it', async () => {
    const r = await receiver();
    const endpointId = await createEndpoint(db, { url: r.url, secrets: [{ secret: r.secrets[0]! }] });
    const [row] = await insertEvents(db, [{ endpointId, deviceKey: randomUUID(), data: { deviceId: 'big', blob: 'x'.repeat(70_000) } }]);
    const { service, metrics } = createDeliverer(db);
    await service.runOnce();
    const [state] = await rowsOf(db, [row!.id]);
    expect(state!.status).toBe('FAILED');
    expect(state!.lastError).toMatch(/^BODY_TOO_LARGE/);
    expect(r.requests).toHaveLength(0);
    expect(metrics.get(OUTBOX_METRICS.attempts, { outcome: 'invalid' })).toBe(1);
  });

  it('fails stored rows that are not events at once, and retries an endpoint with no usable secret, each with its reason', async () => {
    const r = await receiver();
    const endpointId = await createEndpoint(db, { url: r.url, secrets: [{ secret: r.secrets[0]! }] });
    const [unknownType, notAnObject] = await insertEvents(db, [
      { endpointId, deviceKey: randomUUID(), type: 'twin.exploded' },
      { endpointId, deviceKey: randomUUID(), data: [1, 2, 3] },
    ]);
    // Sealed under another key (a changed WEBHOOK_SECRET_KEY): it cannot sign.
    const lockedOut = await createEndpoint(db, { url: r.url, secrets: [] });
    await db.sql.query(`INSERT INTO "WebhookSecret" (id, "endpointId", sealed) VALUES (gen_random_uuid(), $1::uuid, 'v1.bogus')`, [lockedOut]);
    const [unsigned] = await insertEvents(db, [{ endpointId: lockedOut, deviceKey: randomUUID() }]);
    const { service, metrics } = createDeliverer(db);
    await service.runOnce();
    const states = new Map((await rowsOf(db, [unknownType!.id, notAnObject!.id, unsigned!.id])).map((s) => [s.id, s]));
    expect(states.get(unknownType!.id)).toMatchObject({ status: 'FAILED', attempts: 1 });
    expect(states.get(unknownType!.id)!.lastError).toMatch(/^UNKNOWN_EVENT_TYPE/);
    expect(states.get(notAnObject!.id)).toMatchObject({ status: 'FAILED', attempts: 1 });
    expect(states.get(notAnObject!.id)!.lastError).toMatch(/^INVALID_DATA/);
    expect(states.get(unsigned!.id)).toMatchObject({ status: 'PENDING', attempts: 1 });
    expect(states.get(unsigned!.id)!.lastError).toMatch(/^NO_SECRET/);
    expect(r.requests).toHaveLength(0);
    expect(metrics.get(OUTBOX_METRICS.attempts, { outcome: 'invalid' })).toBe(2);
    expect(metrics.get(OUTBOX_METRICS.failed)).toBe(2);
    expect(metrics.get(OUTBOX_METRICS.unreadableSecrets)).toBe(1);
    // Unsendable rows say nothing about the endpoint; the unsigned attempt counts against its own.
    const health = await db.sql.query<{ id: string; consecutiveFailures: number }>(
      `SELECT id, "consecutiveFailures" FROM "WebhookEndpoint" WHERE id = ANY($1::uuid[])`,
      [[endpointId, lockedOut]],
    );
    expect(new Map(health.map((h) => [h.id, h.consecutiveFailures]))).toEqual(
      new Map([
        [endpointId, 0],
        [lockedOut, 1],
      ]),
    );
  });

  it('refuses at send time a host that resolves to loopback without an allow-list entry (no request made)', async () => {
    const r = await receiver();
    const endpointId = await createEndpoint(db, { url: `http://localhost:${r.port}/hooks`, secrets: [{ secret: r.secrets[0]! }] });
    const [row] = await insertEvents(db, [{ endpointId, deviceKey: randomUUID() }]);
    const { service, metrics } = createDeliverer(db, { config: { allowedNetworks: [] } });
    await service.runOnce();
    const [state] = await rowsOf(db, [row!.id]);
    expect(state).toMatchObject({ status: 'PENDING', attempts: 1 });
    expect(state!.lastError).toMatch(/^REFUSED_ADDRESS: destination refused: .*loopback/);
    expect(r.requests).toHaveLength(0);
    expect(metrics.get(OUTBOX_METRICS.attempts, { outcome: 'refused' })).toBe(1);
  });

  it('signs with both live secrets during a rotation, newest first, and never with an expired one', async () => {
    const [expired, old, current] = [newSecret(), newSecret(), newSecret()];
    const r = await receiver([current!]);
    const endpointId = await createEndpoint(db, {
      url: r.url,
      secrets: [{ secret: expired!, expiresInMs: -1000 }, { secret: old!, expiresInMs: 3_600_000 }, { secret: current! }],
    });
    await insertEvents(db, [{ endpointId, deviceKey: randomUUID() }]);
    const { service } = createDeliverer(db);
    await service.runOnce();
    expect(r.requests).toHaveLength(1);
    const [request] = r.requests;
    const signatures = request!.signature.split(' ');
    expect(signatures).toHaveLength(2);
    const nowSeconds = Math.floor(Date.now() / 1000);
    // Each signature verifies on its own with its own secret; the newest comes first.
    const verifies = (secret: string, signature: string) =>
      verifyWebhook(secret, { 'webhook-id': request!.webhookId, 'webhook-timestamp': request!.timestamp, 'webhook-signature': signature }, request!.body, {
        nowSeconds,
      }).ok;
    expect(verifies(current!, signatures[0]!)).toBe(true);
    expect(verifies(old!, signatures[1]!)).toBe(true);
    expect(verifies(old!, signatures[0]!)).toBe(false);
    expect(verifies(expired!, request!.signature)).toBe(false);
  });

  it('never has one event in flight at two deliverers at once', async () => {
    const r = await receiver();
    const endpointId = await createEndpoint(db, { url: r.url, maxInFlight: 8, secrets: [{ secret: r.secrets[0]! }] });
    const devices = Array.from({ length: 6 }, () => randomUUID());
    const rows = await insertEvents(
      db,
      Array.from({ length: 60 }, (_, i) => ({ endpointId, deviceKey: devices[i % devices.length]! })),
    );
    let count = 0;
    // Slow answers and some failures, so both deliverers have work in flight at the same time.
    r.answer = async () => {
      count++;
      await new Promise((resolve) => setTimeout(resolve, count % 3));
      return { status: count % 7 === 0 ? 500 : 200 };
    };
    const a = createDeliverer(db);
    const b = createDeliverer(db);
    const ids = rows.map((x) => x.id);
    const done = async () => (await pendingOf(ids)) === 0;
    await Promise.all([runUntil(() => a.service.runOnce(), done), runUntil(() => b.service.runOnce(), done)]);
    expect(await pendingOf(ids)).toBe(0);
    expect(r.maxConcurrentPerId).toBe(1);
    // One request per claim, and a resend (a reused socket the receiver had closed idle) within its attempt.
    const resends = a.metrics.get(OUTBOX_METRICS.resends) + b.metrics.get(OUTBOX_METRICS.resends);
    expect(a.metrics.get(OUTBOX_METRICS.claimed) + b.metrics.get(OUTBOX_METRICS.claimed)).toBe(r.requests.length - resends);
  });

  it('sends again, under the same id, an event whose lease expired while its deliverer hung', async () => {
    const r = await receiver();
    const endpointId = await createEndpoint(db, { url: r.url, secrets: [{ secret: r.secrets[0]! }] });
    const [row] = await insertEvents(db, [{ endpointId, deviceKey: randomUUID() }]);
    r.answer = ({ nth }) => (nth === 1 ? { hang: true } : { status: 200 });
    // A stalled deliverer: its lease is short and its request never ends by itself.
    const stalled = createDeliverer(db, { config: { leaseMs: 150, timeoutMs: 600_000 } });
    const stalledRound = stalled.service.runOnce();
    await runUntil(
      () => new Promise((resolve) => setTimeout(resolve, 10)),
      () => r.requests.length === 1,
    );
    const second = createDeliverer(db);
    await runUntil(
      () => second.service.runOnce(),
      () => r.requests.length === 2,
    );
    expect(r.requests.map((q) => q.webhookId)).toEqual([eventIdOf(row!.eventId), eventIdOf(row!.eventId)]);
    expect((await rowsOf(db, [row!.id]))[0]).toMatchObject({ status: 'DELIVERED', attempts: 1 });
    // The stalled attempt ends (500) after the event was delivered: logged, the row left alone.
    r.release(500);
    await stalledRound;
    expect(stalled.metrics.get(OUTBOX_METRICS.stale)).toBe(1);
    expect((await rowsOf(db, [row!.id]))[0]).toMatchObject({ status: 'DELIVERED', attempts: 1, lastStatus: 200 });
    const log = await db.sql.query<{ attempt: number; statusCode: number }>(
      `SELECT attempt, "statusCode" FROM "OutboxAttempt" WHERE "outboxId" = $1::uuid ORDER BY attempt`,
      [row!.id],
    );
    expect(log).toEqual([
      { attempt: 1, statusCode: 200 },
      { attempt: 2, statusCode: 500 },
    ]);
  });

  it('runs ACTION rows through the executor in order per target device, retrying and failing as it answers', async () => {
    const device = randomUUID();
    const rows = await insertEvents(db, [
      { endpointId: null, deviceKey: device, kind: 'ACTION', type: 'rule.action', data: { step: 1 } },
      { endpointId: null, deviceKey: device, kind: 'ACTION', type: 'rule.action', data: { step: 2 } },
      { endpointId: null, deviceKey: null, kind: 'ACTION', type: 'rule.action', data: { step: 'no-device' } },
    ]);
    const seen: OutboxActionRow[] = [];
    const { service, metrics } = createDeliverer(db, {
      executor: async (row) => {
        seen.push(row);
        const step = (row.data as { step: unknown }).step;
        if (step === 'no-device') return { ok: false, retry: false, error: 'TARGET_NOT_FOUND' };
        if (step === 1 && row.attempts === 0) return { ok: false, retry: true, error: 'BUSY' };
        return { ok: true };
      },
    });
    await runUntil(
      () => service.runOnce(),
      async () => (await pendingOf(rows.map((x) => x.id))) === 0,
    );
    const states = await rowsOf(
      db,
      rows.map((x) => x.id),
    );
    const byId = new Map(states.map((s) => [s.id, s]));
    expect(byId.get(rows[0]!.id)).toMatchObject({ status: 'DELIVERED', attempts: 2 });
    expect(byId.get(rows[1]!.id)).toMatchObject({ status: 'DELIVERED', attempts: 1 });
    expect(byId.get(rows[2]!.id)).toMatchObject({ status: 'FAILED', attempts: 1, lastError: 'TARGET_NOT_FOUND' });
    const deviceSteps = seen.filter((s) => s.deviceKey === device).map((s) => (s.data as { step: number }).step);
    expect(deviceSteps).toEqual([1, 1, 2]);
    expect(metrics.get(OUTBOX_METRICS.actions, { outcome: 'retry' })).toBe(1);
    expect(metrics.get(OUTBOX_METRICS.delivered, { kind: 'action' })).toBe(2);
  });

  it('samples the pending gauges and is woken early by wake()', async () => {
    const r = await receiver();
    const endpointId = await createEndpoint(db, { url: r.url, secrets: [{ secret: r.secrets[0]! }] });
    const { service, metrics } = createDeliverer(db, { config: { pollIntervalMs: 3_600_000 } });
    service.start();
    // The first round runs at start; the row written after it goes out on wake(), not after an hour.
    await runUntil(
      () => new Promise((resolve) => setTimeout(resolve, 5)),
      () => metrics.get(OUTBOX_METRICS.claimed) === 0 && r.requests.length === 0,
      10,
    );
    const [row] = await insertEvents(db, [{ endpointId, deviceKey: randomUUID() }]);
    service.wake();
    service.wake();
    await runUntil(
      () => new Promise((resolve) => setTimeout(resolve, 10)),
      async () => (await pendingOf([row!.id])) === 0,
    );
    expect(r.requests).toHaveLength(1);
    await service.stop();
    expect(await metrics.render()).toContain(`${OUTBOX_METRICS.pending} `);
  });
});
