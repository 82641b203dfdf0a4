/**
 * A database outage, simulated under the service (every statement fails as a shutting-down PostgreSQL
 * does, 57P01): no message is answered before its points are stored, nothing is lost, the pipeline's
 * bound holds, ingestion resumes as soon as the database answers, and the outage is logged once.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../src/db/client.ts';
import type { IngestOutcome } from '../../../src/domain/telemetry/ingest-outcome.ts';
import { STORE_RETRIES_METRIC } from '../../../src/services/store-retry.ts';
import { modeName, openTestDatabase } from '../../support/harness.ts';
import { body, countPoints, createDevice, instrumented, service } from './fixtures.ts';

let db: Database;
let closeDatabase: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ db, close: closeDatabase } = await openTestDatabase());
});
afterAll(async () => {
  await closeDatabase?.();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A logger whose lines the test reads. */
function capturingLogger() {
  const lines: Array<{ msg: string; level: number }> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as { msg: string; level: number });
      callback();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

describe(`telemetry through a database outage (${modeName})`, () => {
  it('answers no message before it is stored, loses none, keeps the bound, and resumes when the database is back', async () => {
    const io = instrumented(db);
    const { logger, lines } = capturingLogger();
    const maxPendingPoints = 20;
    const { telemetry, metrics } = service(
      db,
      { batchMaxPoints: 10, maxPendingPoints, batchMaxAgeMs: 0, backpressureTimeoutMs: 10_000, maxValuesPerMessage: 5 },
      io.sql,
      logger,
    );
    const devices = await Promise.all([1, 2, 3].map(() => createDevice(db)));
    const answered: IngestOutcome[] = [];
    let maxPending = 0;

    io.down();
    const ingests = Array.from({ length: 30 }, (_, i) => {
      const d = devices[i % devices.length]!;
      return telemetry.ingest(d.deviceId, body({ a: i, b: i }, 1000 + i), Date.now()).then((o) => {
        answered.push(o);
        return o;
      });
    });
    for (let t = 0; t < 20; t++) {
      await sleep(10);
      maxPending = Math.max(maxPending, telemetry.pendingPoints);
    }
    expect(answered).toEqual([]);
    expect(telemetry.pendingPoints).toBe(maxPendingPoints); // full: the rest wait for room (backpressure)
    expect(maxPending).toBeLessThanOrEqual(maxPendingPoints);
    expect(metrics.get(STORE_RETRIES_METRIC, { kind: 'telemetry' })).toBeGreaterThan(1);

    const backAt = Date.now();
    io.up();
    const outcomes = await Promise.all(ingests);
    expect(Date.now() - backAt).toBeLessThan(2000);
    expect(outcomes.every((o) => o.ok && o.points === 2)).toBe(true);
    for (const d of devices) expect(await countPoints(db, d.uuid)).toBe(20);

    const outageLines = lines.filter((l) => /database (unavailable|back)/.test(l.msg)).map((l) => l.msg);
    expect(outageLines).toEqual(['database unavailable: holding writes unacknowledged and retrying until it is back', 'database back: held writes stored']);
    await telemetry.drain();
  });

  it('at shutdown with the database down, rejects the held messages as unavailable and stores nothing of them', async () => {
    const io = instrumented(db);
    const { telemetry, stored } = service(db, { batchMaxAgeMs: 0 }, io.sql);
    const d = await createDevice(db);
    io.down();
    const held = telemetry.ingest(d.deviceId, body({ a: 1 }, 1000), Date.now());
    let settled = false;
    void held.then(
      () => (settled = true),
      () => (settled = true),
    );
    await sleep(50);
    expect(settled).toBe(false);
    await telemetry.drain();
    await expect(held).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    io.up();
    expect(await countPoints(db, d.uuid)).toBe(0);
    expect(stored).toEqual([]);
  });

  it('refuses as STORE_REFUSED the messages of a device whose points the store rejects, and stores the others of the batch', async () => {
    const io = instrumented(db);
    const { telemetry, metrics } = service(db, { batchMaxAgeMs: 30 }, io.sql);
    const [good, bad] = await Promise.all([createDevice(db), createDevice(db)]);
    io.poison(bad.uuid);
    const outcomes = await Promise.all([
      telemetry.ingest(good.deviceId, body({ a: 1 }, 1000), Date.now()),
      telemetry.ingest(bad.deviceId, body({ a: 1 }, 1000), Date.now()),
      telemetry.ingest(good.deviceId, body({ a: 2 }, 2000), Date.now()),
    ]);
    expect(outcomes).toEqual([
      { ok: true, points: 1 },
      expect.objectContaining({ ok: false, error: expect.objectContaining({ code: 'STORE_REFUSED' }) }),
      { ok: true, points: 1 },
    ]);
    expect(await countPoints(db, good.uuid)).toBe(2);
    expect(await countPoints(db, bad.uuid)).toBe(0);
    expect(metrics.get('doppel_telemetry_points_total', { result: 'refused' })).toBe(1);
    await telemetry.drain();
  });
});
