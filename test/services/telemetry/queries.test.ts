/** The read path: pages and series of many devices, one statement per argument set and request. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../src/db/client.ts';
import { settleRollups } from '../../../src/services/rollups.ts';
import type { SeriesKey } from '../../../src/services/series.ts';
import { createTelemetryReader } from '../../../src/services/telemetry-queries.ts';
import { modeName, openTestDatabase } from '../../support/harness.ts';
import { createDevice, defaults, service } from './fixtures.ts';

let db: Database;
let closeDatabase: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ db, close: closeDatabase } = await openTestDatabase());
});
afterAll(async () => {
  await closeDatabase?.();
});

const HOUR = 3_600_000;
const T0 = Date.parse('2024-04-01T00:00:00Z');

/** A reader on the test database that records its statements and the devices it settled rollups for. */
function reader(config: Partial<typeof defaults> = {}) {
  const statements: string[] = [];
  const settled: string[][] = [];
  const r = createTelemetryReader({
    query: <T>(sql: string, ...params: unknown[]) => {
      statements.push(sql);
      return db.prisma.$queryRawUnsafe<T[]>(sql, ...params);
    },
    rollups: {
      settle(uuids = []) {
        settled.push([...uuids]);
        return settleRollups(db, { deviceUuids: uuids });
      },
    },
    config: { ...defaults, ...config },
  });
  return { reader: r, statements, settled };
}

/** Two devices with points every 10 minutes for three hours. */
async function fleet() {
  const devices = [await createDevice(db), await createDevice(db)];
  const { telemetry } = service(db, { batchMaxAgeMs: 5 });
  for (const [i, d] of devices.entries()) {
    const entries = Array.from({ length: 18 }, (_, k) => ({ ts: T0 + k * 600_000, values: { t: i * 100 + k } }));
    expect((await telemetry.ingest(d.deviceId, JSON.stringify(entries), Date.now())).ok).toBe(true);
  }
  await telemetry.drain();
  return devices;
}

const seriesKey = (over: Partial<SeriesKey> = {}): SeriesKey => ({
  metrics: ['t'],
  from: T0,
  to: T0 + 3 * HOUR,
  interval: 'hour',
  aggregates: ['count', 'min', 'max'],
  timeZone: 'UTC',
  fill: 'none',
  ...over,
});

describe(`telemetry reader (${modeName})`, () => {
  it('reads the same page of many devices in one statement, in either order, within the bounds', async () => {
    const [a, b] = await fleet();
    const { reader: r, statements } = reader();
    const key = { metric: 't', lo: T0 + 600_000, hi: T0 + 3_000_000, limit: 3, descending: false };
    const [pa, pb] = await Promise.all([r.page(a!.uuid, key), r.page(b!.uuid, key)]);
    expect(statements).toHaveLength(1);
    expect(pa!.map((p) => [p.ts, p.value])).toEqual([
      [T0 + 600_000, 1],
      [T0 + 1_200_000, 2],
      [T0 + 1_800_000, 3],
    ]);
    expect(pb!.map((p) => p.value)).toEqual([101, 102, 103]);

    const newest = await r.page(a!.uuid, { ...key, lo: null, hi: null, descending: true });
    expect(newest.map((p) => p.value)).toEqual([17, 16, 15]);
    // Cached for the request.
    await r.page(b!.uuid, key);
    expect(statements).toHaveLength(2);
  });

  it('reads a series of many devices in one statement, settling derived rollups first when it reads them', async () => {
    const [a, b] = await fleet();
    const { reader: r, statements, settled } = reader();
    const [sa, sb] = await Promise.all([r.series(a!.uuid, seriesKey()), r.series(b!.uuid, seriesKey())]);
    expect(statements).toHaveLength(1);
    expect(settled).toEqual([[a!.uuid, b!.uuid]]);
    expect(sa).toMatchObject({
      ok: true,
      series: [{ metric: 't', buckets: [{ values: { count: 6, min: 0, max: 5 } }, { values: { count: 6 } }, { values: { count: 6, max: 17 } }] }],
    });
    expect(sb).toMatchObject({ ok: true, series: [{ metric: 't', buckets: [{ values: { min: 100 } }, {}, {}] }] });

    // Raw rows only: nothing to settle.
    const raw = reader({ seriesRollups: false });
    expect(await raw.reader.series(a!.uuid, seriesKey())).toEqual(sa);
    expect(raw.settled).toEqual([]);
  });

  it('refuses a series of more buckets than seriesMaxBuckets, without a statement', async () => {
    const [a] = await fleet();
    const { reader: r, statements } = reader({ seriesMaxBuckets: 100 });
    const outcome = await r.series(a!.uuid, seriesKey({ interval: 'minute' }));
    expect(outcome).toMatchObject({
      ok: false,
      error: { code: 'VALIDATION_FAILED', message: '[from, to) spans more than 100 buckets of minute; use a larger interval or a shorter range' },
    });
    expect(statements).toEqual([]);
  });
});
