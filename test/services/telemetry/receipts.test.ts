/**
 * Receipt cursors (docs/telemetry.md "Receipts"): the batch statement keeps, per device, the highest seq
 * such that every seq from 1 up to it is stored, across batches, replays, gaps, a new sequence and
 * batches written concurrently (two instances). Against a real database.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../src/db/client.ts';
import type { DevicePoint } from '../../../src/domain/telemetry/batcher.ts';
import { createLogger } from '../../../src/logger.ts';
import { Metrics } from '../../../src/metrics.ts';
import { createStoreRetry } from '../../../src/services/store-retry.ts';
import { createBatchStore } from '../../../src/services/telemetry/batch-store.ts';
import { createDeviceResolver } from '../../../src/services/telemetry/device-resolver.ts';
import { createTelemetryWriter } from '../../../src/services/telemetry/writer.ts';
import { modeName, openTestDatabase, uniqueDeviceId } from '../../support/harness.ts';
import type { TelemetryReceipts } from '../../../src/services/hooks.ts';
import { TELEMETRY_BATCHES_METRIC } from '../../../src/services/telemetry/index.ts';
import { createDevice, instrumented, service } from './fixtures.ts';

let db: Database;
let closeDatabase: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ db, close: closeDatabase } = await openTestDatabase());
});
afterAll(async () => {
  await closeDatabase?.();
});

/** One store: what one Doppel instance has. */
function batchStore(sql = db.sql) {
  const retry = createStoreRetry({ kind: 'telemetry', logger: createLogger('silent'), metrics: new Metrics(), backoff: { initialMs: 2, maxMs: 20 } });
  return createBatchStore({ resolver: createDeviceResolver(sql), writer: createTelemetryWriter(sql), retry, now: Date.now });
}

/** The points of message `seq` of `device`: two metrics, at a ts of its own (so replays hit the key). */
const message = (device: string, seq: number, ts = 1_000_000 + seq): DevicePoint[] => [
  { device, metric: 'a', ts, value: seq, isBool: false, seq },
  { device, metric: 'b', ts, value: -seq, isBool: false, seq },
];
const messages = (device: string, ...seqs: number[]) => seqs.flatMap((s) => message(device, s));

async function pending(uuid: string): Promise<number[]> {
  const rows = await db.sql.query<{ seq: string }>(`SELECT seq::text FROM "TelemetrySeqPending" WHERE "deviceId" = $1 ORDER BY seq`, [uuid]);
  return rows.map((r) => Number(r.seq));
}

describe(`receipt cursors (${modeName})`, () => {
  it('advance over seqs stored in order, and store seq on every point', async () => {
    const store = batchStore();
    const d = await createDevice(db);
    expect((await store.store(messages(d.deviceId, 1, 2, 3))).receipts).toEqual(new Map([[d.deviceId, 3]]));
    expect((await store.store(messages(d.deviceId, 4, 5))).receipts).toEqual(new Map([[d.deviceId, 5]]));
    expect(await pending(d.uuid)).toEqual([]);
    const rows = await db.sql.query<{ metric: string; seq: string }>(
      `SELECT metric, seq::text FROM "TelemetryPoint" WHERE "deviceId" = $1 ORDER BY ts, metric`,
      [d.uuid],
    );
    expect(rows.map((r) => `${r.metric}${r.seq}`)).toEqual(['a1', 'b1', 'a2', 'b2', 'a3', 'b3', 'a4', 'b4', 'a5', 'b5']);
  });

  it('wait at a gap, keep what is above it pending, and close it when the missing seq comes in a later batch', async () => {
    const store = batchStore();
    const d = await createDevice(db);
    expect((await store.store(messages(d.deviceId, 3, 4))).receipts.get(d.deviceId)).toBe(0);
    expect(await pending(d.uuid)).toEqual([3, 4]);
    expect((await store.store(messages(d.deviceId, 1, 6))).receipts.get(d.deviceId)).toBe(1);
    expect(await pending(d.uuid)).toEqual([3, 4, 6]);
    expect((await store.store(messages(d.deviceId, 2))).receipts.get(d.deviceId)).toBe(4);
    expect(await pending(d.uuid)).toEqual([6]);
    expect((await store.store(messages(d.deviceId, 5))).receipts.get(d.deviceId)).toBe(6);
    expect(await pending(d.uuid)).toEqual([]);
  });

  it('treat a seq at or below the cursor as a replay: stored by key as before, the receipt repeats the cursor', async () => {
    const store = batchStore();
    const d = await createDevice(db);
    await store.store(messages(d.deviceId, 1, 2, 3));
    const replay = await store.store(messages(d.deviceId, 2));
    expect(replay).toMatchObject({ stored: 0, duplicates: 2, receipts: new Map([[d.deviceId, 3]]) });
    // A replay of a pending seq leaves it pending, once.
    await store.store(messages(d.deviceId, 5));
    expect((await store.store(messages(d.deviceId, 5))).receipts.get(d.deviceId)).toBe(3);
    expect(await pending(d.uuid)).toEqual([5]);
  });

  it('start a new sequence at seq 1 when the cursor is above 1, dropping the old pending seqs', async () => {
    const store = batchStore();
    const d = await createDevice(db);
    await store.store(messages(d.deviceId, 1, 2, 3, 7));
    expect(await pending(d.uuid)).toEqual([7]);
    // The device lost its counter: seq 1 again, with new measurements (a new ts).
    expect((await store.store(message(d.deviceId, 1, 2_000_001))).receipts.get(d.deviceId)).toBe(1);
    expect(await pending(d.uuid)).toEqual([]);
    // The old sequence's 7 confirms nothing of the new one.
    expect((await store.store([...message(d.deviceId, 2, 2_000_002), ...message(d.deviceId, 3, 2_000_003)])).receipts.get(d.deviceId)).toBe(3);
    expect((await store.store(message(d.deviceId, 5, 2_000_005))).receipts.get(d.deviceId)).toBe(3);
    expect((await store.store(message(d.deviceId, 4, 2_000_004))).receipts.get(d.deviceId)).toBe(5);
    // seq 1 while the cursor is 1 is a replay, not a new sequence.
    const fresh = await createDevice(db);
    await store.store(messages(fresh.deviceId, 1));
    await store.store(messages(fresh.deviceId, 3));
    expect((await store.store(messages(fresh.deviceId, 1))).receipts.get(fresh.deviceId)).toBe(1);
    expect(await pending(fresh.uuid)).toEqual([3]);
  });

  it('carry receipts only for devices whose points had a seq, and leave seq-less batches on the statement without cursors', async () => {
    const io = instrumented(db);
    const store = batchStore(io.sql);
    const withSeq = await createDevice(db);
    const without = await createDevice(db);
    const nobody = uniqueDeviceId('nobody');
    const plain = (device: string): DevicePoint => ({ device, metric: 'a', ts: 5000, value: 1, isBool: false });
    const seqless = await store.store([plain(without.deviceId)]);
    expect(seqless.receipts.size).toBe(0);
    expect(io.statements.at(-1)).not.toContain('TelemetrySeqCursor');

    const mixed = await store.store([...messages(withSeq.deviceId, 1), plain(without.deviceId), ...messages(nobody, 1)]);
    expect(mixed.receipts).toEqual(new Map([[withSeq.deviceId, 1]]));
    expect(io.statements.at(-1)).toContain('TelemetrySeqCursor');
    const rows = await db.sql.query<{ seq: string | null }>(`SELECT seq::text FROM "TelemetryPoint" WHERE "deviceId" = $1`, [without.uuid]);
    expect(rows).toEqual([{ seq: null }]);
  });

  it('store seq 0 (accepted since contract v1.0) without confirming it: no cursor, no receipt', async () => {
    const store = batchStore();
    const d = await createDevice(db);
    const result = await store.store(message(d.deviceId, 0));
    expect(result.stored).toBe(2);
    expect(result.receipts.has(d.deviceId)).toBe(false);
    const rows = await db.sql.query<{ seq: string }>(`SELECT seq::text FROM "TelemetryPoint" WHERE "deviceId" = $1`, [d.uuid]);
    expect(rows.map((r) => r.seq)).toEqual(['0', '0']);
    expect((await store.store(messages(d.deviceId, 1))).receipts.get(d.deviceId)).toBe(1);
  });

  it('keep the largest safe seq exactly', async () => {
    const store = batchStore();
    const d = await createDevice(db);
    const top = Number.MAX_SAFE_INTEGER;
    await store.store(message(d.deviceId, top, 3000));
    expect(await pending(d.uuid)).toEqual([top]);
    const rows = await db.sql.query<{ seq: string }>(`SELECT seq::text FROM "TelemetryPoint" WHERE "deviceId" = $1 LIMIT 1`, [d.uuid]);
    expect(rows[0]!.seq).toBe(String(top));
  });

  it('lose the cursor and pending seqs with the device', async () => {
    const store = batchStore();
    const d = await createDevice(db);
    await store.store(messages(d.deviceId, 1, 3));
    await db.prisma.device.delete({ where: { id: d.uuid } });
    const left = await db.sql.query<{ n: number }>(
      `SELECT (SELECT count(*) FROM "TelemetrySeqCursor" WHERE "deviceId" = $1)::int + (SELECT count(*) FROM "TelemetrySeqPending" WHERE "deviceId" = $1)::int AS n`,
      [d.uuid],
    );
    expect(left[0]!.n).toBe(0);
  });

  it('never claim a seq that is not stored when two instances write one device concurrently, and catch up with the next message', async () => {
    const [first, second] = [batchStore(), batchStore()];
    for (let round = 0; round < 8; round++) {
      const d = await createDevice(db);
      const [a, b] = await Promise.all([first.store(messages(d.deviceId, 1, 2)), second.store(messages(d.deviceId, 3, 4))]);
      const stored = await db.sql.query<{ seq: string }>(`SELECT DISTINCT seq::text FROM "TelemetryPoint" WHERE "deviceId" = $1`, [d.uuid]);
      const storedSeqs = new Set(stored.map((r) => Number(r.seq)));
      for (const receipt of [a.receipts.get(d.deviceId)!, b.receipts.get(d.deviceId)!]) {
        expect(receipt).toBeGreaterThanOrEqual(0);
        for (let s = 1; s <= receipt; s++) expect(storedSeqs.has(s)).toBe(true);
      }
      // Either order of commits: the cursor may lag at 2 (each batch missed the other's seqs), never beyond 4.
      expect([0, 2, 4]).toContain(Math.max(a.receipts.get(d.deviceId)!, b.receipts.get(d.deviceId)!));
      // The device's next message (or its resend of 3) brings the cursor to the end.
      expect((await first.store(messages(d.deviceId, 5))).receipts.get(d.deviceId)).toBe(5);
      expect(await pending(d.uuid)).toEqual([]);
    }
  });

  it('reach the telemetryReceipts hook once per committed batch, coalesced per device, only for messages with seq', async () => {
    const { telemetry, hooks, metrics } = service(db, { batchMaxAgeMs: 50 });
    const receipts: TelemetryReceipts[] = [];
    hooks.telemetryReceipts.subscribe((r) => {
      receipts.push(r);
    });
    const withSeq = await createDevice(db);
    const without = await createDevice(db);
    const ts = Date.now() - 10_000;
    // One batch (they wait up to 50 ms together): three messages with seq, one without.
    const outcomes = await Promise.all([
      telemetry.ingest(withSeq.deviceId, JSON.stringify({ ts, seq: 1, values: { a: 1 } }), Date.now()),
      telemetry.ingest(withSeq.deviceId, JSON.stringify({ ts: ts + 1, seq: 2, values: { a: 2 } }), Date.now()),
      telemetry.ingest(withSeq.deviceId, JSON.stringify({ ts: ts + 2, seq: 3, values: { a: 3 } }), Date.now()),
      telemetry.ingest(without.deviceId, JSON.stringify({ ts, values: { a: 1 } }), Date.now()),
    ]);
    expect(outcomes.every((o) => o.ok)).toBe(true);
    await telemetry.drain();
    const cursors = receipts.flatMap((r) => [...r.cursors]);
    expect(cursors.filter(([id]) => id === without.deviceId)).toEqual([]);
    expect(cursors.filter(([id]) => id === withSeq.deviceId).at(-1)).toEqual([withSeq.deviceId, 3]);
    // At most one emission per stored batch, each with one cursor per device (a map): coalesced.
    expect(receipts.length).toBeGreaterThanOrEqual(1);
    expect(receipts.length).toBeLessThanOrEqual(metrics.get(TELEMETRY_BATCHES_METRIC, { result: 'stored' }) ?? 0);
  });
});
