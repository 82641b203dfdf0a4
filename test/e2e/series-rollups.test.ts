/**
 * Device.series from rollups, end to end: points go in over MQTT (shuffled catch-up arrays), the
 * ingest statement folds them into rollups, and GraphQL answers series from rollups wherever the
 * buckets line up with a grain. Every answer must equal the same series read from raw rows only
 * (`loadSeries` with a raw plan, the path TELEMETRY_SERIES_ROLLUPS=false takes) and the TypeScript
 * reference — across the 2024 DST changes of Europe/Berlin and America/New_York, in Asia/Kathmandu
 * (+05:45) and Australia/Lord_Howe (30-minute DST). Background retention runs in a real server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { graphql } from '../generated/gql.ts';
import type { SeriesInterval } from '../generated/graphql.ts';
import { aggregate, type AggregateFunction, type SeriesBucket } from '../../src/domain/telemetry/buckets.ts';
import { RETENTION_DELETED_METRIC } from '../../src/services/retention.ts';
import { loadSeries, seriesRange, type SeriesKey } from '../../src/services/series.ts';
import { modeName, startTestServer, uniqueDeviceId, type TestServer } from '../support/harness.ts';
import { INTERVALS, rng } from '../support/series.ts';

const RollupSeries = graphql(`
  query RollupSeries($deviceId: String!, $metrics: [String!]!, $from: DateTime!, $to: DateTime!, $interval: SeriesInterval!, $timeZone: String, $fill: FillMode) {
    device(deviceId: $deviceId) {
      series(metrics: $metrics, from: $from, to: $to, interval: $interval, aggregates: [AVG, MIN, MAX, SUM, COUNT, FIRST, LAST], timeZone: $timeZone, fill: $fill) {
        metric
        buckets { start end filled avg min max sum count first last }
      }
    }
  }
`);

const ALL: AggregateFunction[] = ['avg', 'min', 'max', 'sum', 'count', 'first', 'last'];
const DAY = 86_400_000;

// DST changes: New York 2024-03-10 07:00Z and 11-03 06:00Z; Berlin 03-31 01:00Z and 10-27 01:00Z;
// Lord Howe 2024-04-06 15:00Z (+11 → +10:30) and 10-05 15:30Z.
const TRANSITIONS = [
  '2024-03-10T07:00:00Z',
  '2024-03-31T01:00:00Z',
  '2024-04-06T15:00:00Z',
  '2024-10-05T15:30:00Z',
  '2024-10-27T01:00:00Z',
  '2024-11-03T06:00:00Z',
].map(Date.parse);

/** Unique random timestamps: dense around each DST change (several points per 15 minutes), sparse over the year. */
function randomTimestamps(seed: number): number[] {
  const random = rng(seed);
  const ts = new Set<number>();
  for (const t of TRANSITIONS) for (let i = 0; i < 600; i++) ts.add(Math.floor(t - 2 * DAY + random() * 4 * DAY));
  const start = Date.parse('2024-02-01T00:00:00Z');
  for (let i = 0; i < 400; i++) ts.add(Math.floor(start + random() * 320 * DAY));
  return [...ts];
}

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.stop();
});

async function register(server: TestServer): Promise<{ deviceId: string; uuid: string; client: MqttClient }> {
  const deviceId = uniqueDeviceId('roll');
  const result = await server.gql(
    `mutation R($id: String!) { registerDevice(input: {deviceId: $id}) { ... on DeviceWithCredentials { device { id } credentials { password } } } }`,
    { id: deviceId },
  );
  const { password } = (result.data as { registerDevice: { credentials: { password: string } } }).registerDevice.credentials;
  const device = await server.database.prisma.device.findUniqueOrThrow({ where: { deviceId } });
  return { deviceId, uuid: device.id, client: await server.mqtt({ username: deviceId, password, clientId: `${deviceId}-roll` }) };
}

/** Publishes entries as shuffled catch-up arrays, then waits until `expected` rows are stored. */
async function publish(
  server: TestServer,
  device: { deviceId: string; uuid: string; client: MqttClient },
  entries: Array<{ ts: number; values: Record<string, number> }>,
  expected: number,
) {
  const random = rng(entries.length);
  const list = entries
    .map((e) => ({ e, r: random() }))
    .sort((a, b) => a.r - b.r)
    .map(({ e }) => e);
  for (let i = 0; i < list.length; i += 400) {
    await device.client.publishAsync(`devices/${device.deviceId}/telemetry`, JSON.stringify(list.slice(i, i + 400)), { qos: 1 });
  }
  const deadline = Date.now() + 30_000;
  let stored = 0;
  while ((stored = await server.database.prisma.telemetryPoint.count({ where: { deviceId: device.uuid } })) !== expected) {
    if (Date.now() > deadline) throw new Error(`only ${stored} of ${expected} points were stored`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const numeric = (b: { start: string; end: string; filled: boolean } & Partial<Record<AggregateFunction, number | null>>): SeriesBucket => ({
  start: Date.parse(b.start),
  end: Date.parse(b.end),
  filled: b.filled,
  values: Object.fromEntries(ALL.map((a) => [a, b[a] ?? null])),
});

describe(`Device.series from rollups (${modeName})`, () => {
  const stamps = randomTimestamps(20241027);
  const random = rng(7);
  // `exact`: sixteenths, so sums are exact in any order and must match to the bit. `float`: arbitrary
  // doubles, where a sum split between rollups differs from the raw one at most by rounding.
  const points = {
    exact: stamps.map((ts) => ({ ts, value: Math.round((random() - 0.5) * 32_000) / 16 })),
    float: stamps.map((ts) => ({ ts, value: (random() - 0.3) * Math.PI * 1000 })),
  };
  let device: { deviceId: string; uuid: string; client: MqttClient };

  beforeAll(async () => {
    device = await register(t);
    const entries = stamps.map((ts, i) => ({ ts, values: { exact: points.exact[i]!.value, float: points.float[i]!.value } }));
    await publish(t, device, entries, 2 * stamps.length);
  }, 60_000);

  async function check(interval: SeriesInterval, timeZone: string, from: string, to: string, expectRaw: boolean) {
    t.queries.length = 0;
    const result = await t.gql(RollupSeries, { deviceId: device.deviceId, metrics: ['exact', 'float'], from, to, interval, timeZone, fill: 'NULL' });
    expect(result.errors).toBeUndefined();
    const statements = t.queries.filter((q) => q.includes('"TelemetryRollup"') || q.includes('"TelemetryPoint"'));
    expect(statements).toHaveLength(1);
    expect(statements[0]).toContain('"TelemetryRollup"');
    // Aligned ranges read no raw rows at all; unaligned ones only their sub-15-minute ends.
    expect(statements[0]!.includes('"TelemetryPoint"')).toBe(expectRaw);

    const key: SeriesKey = {
      metrics: ['exact', 'float'],
      from: Date.parse(from),
      to: Date.parse(to),
      interval: INTERVALS[interval],
      aggregates: ALL,
      timeZone,
      fill: 'null',
    };
    const range = seriesRange(key, 100_000);
    const [raw] = await loadSeries(<T>(sql: string, ...params: unknown[]) => t.database.prisma.$queryRawUnsafe<T[]>(sql, ...params), [device.uuid], key, range);
    const [exact, float] = result.data!.device!.series.map((s) => s.buckets.map(numeric));
    const reference = aggregate(points.exact, { interval: key.interval, timeZone, aggregates: ALL, fill: 'null', from: key.from, to: key.to });
    expect(exact, `${interval} ${timeZone}`).toEqual(raw![0]!.buckets);
    expect(exact).toEqual(reference);
    expect(exact!.some((b) => !b.filled)).toBe(true);

    // Everything but the sums matches exactly; sums (and averages) within rounding. Compared in bulk:
    // thousands of expect() calls would take longer than the query.
    const rawFloat = raw![1]!.buckets;
    const exactPart = (b: SeriesBucket) => [b.start, b.end, b.filled, b.values.count, b.values.min, b.values.max, b.values.first, b.values.last];
    expect(float!.map(exactPart)).toEqual(rawFloat.map(exactPart));
    let worst = 0;
    for (const [i, b] of float!.entries()) {
      const r = rawFloat[i]!;
      for (const a of ['sum', 'avg'] as const) {
        if (r.values[a] === null || b.values[a] === null) expect(b.values[a]).toBe(r.values[a]);
        else worst = Math.max(worst, Math.abs(b.values[a]! - r.values[a]!) / Math.max(1, Math.abs(r.values[a]!)));
      }
    }
    expect(worst).toBeLessThan(1e-12);
  }

  const ALIGNED = { from: '2024-02-01T00:00:00Z', to: '2024-12-01T00:00:00Z' };
  const UNALIGNED = { from: '2024-02-29T13:17:23.456Z', to: '2024-11-04T05:31:07.001Z' };

  for (const timeZone of ['Europe/Berlin', 'America/New_York', 'Asia/Kathmandu', 'Australia/Lord_Howe']) {
    for (const interval of ['HOUR', 'DAY', 'WEEK', 'MONTH'] as const) {
      it(`equals the raw series and the reference: ${interval} in ${timeZone}`, async () => {
        await check(interval, timeZone, ALIGNED.from, ALIGNED.to, false);
        await check(interval, timeZone, UNALIGNED.from, UNALIGNED.to, true);
      });
    }
  }

  it('serves 15-minute buckets and whole days around a DST change from rollups', async () => {
    await check('FIFTEEN_MINUTES', 'Asia/Kathmandu', '2024-10-26T00:00:00Z', '2024-10-28T00:00:00Z', false);
    await check('FIFTEEN_MINUTES', 'Europe/Berlin', '2024-10-26T22:00:00Z', '2024-10-27T23:00:00Z', false);
    await check('DAY', 'UTC', '2024-03-01T00:00:00Z', '2024-04-01T00:00:00Z', false);
  });

  it('reads raw rows for minute buckets, where no grain lines up', async () => {
    t.queries.length = 0;
    const result = await t.gql(RollupSeries, {
      deviceId: device.deviceId,
      metrics: ['exact'],
      from: '2024-10-27T00:00:00Z',
      to: '2024-10-27T03:00:00Z',
      interval: 'MINUTE',
      timeZone: 'Asia/Kathmandu',
    });
    expect(result.errors).toBeUndefined();
    const statements = t.queries.filter((q) => q.includes('"TelemetryRollup"') || q.includes('"TelemetryPoint"'));
    expect(statements).toHaveLength(1);
    expect(statements[0]).not.toContain('"TelemetryRollup"');
  });
});

describe(`telemetry retention in a running server (${modeName})`, () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ TELEMETRY_RAW_RETENTION_DAYS: '2', TELEMETRY_RETENTION_INTERVAL_MS: '1000', TELEMETRY_RETENTION_BATCH_ROWS: '7' });
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('deletes raw rows past their age in the background and keeps their rollups, which series still read', async () => {
    const device = await register(s);
    const now = Date.now();
    const old = Array.from({ length: 30 }, (_, i) => ({ ts: now - 5 * DAY + i * 60_000, values: { v: i } }));
    const recent = Array.from({ length: 10 }, (_, i) => ({ ts: now - DAY + i * 60_000, values: { v: 100 + i } }));
    await device.client.publishAsync(`devices/${device.deviceId}/telemetry`, JSON.stringify([...old, ...recent]), { qos: 1 });
    await expect.poll(() => s.database.prisma.telemetryPoint.count({ where: { deviceId: device.uuid } }), { timeout: 20_000 }).toBe(10);
    expect(s.running.metrics.get(RETENTION_DELETED_METRIC, { table: 'raw' })).toBeGreaterThanOrEqual(30);
    const day = Math.floor((now - 6 * DAY) / DAY) * DAY;
    const result = await s.gql(RollupSeries, {
      deviceId: device.deviceId,
      metrics: ['v'],
      from: new Date(day).toISOString(),
      to: new Date(day + 7 * DAY).toISOString(),
      interval: 'DAY',
      timeZone: 'UTC',
    });
    expect(result.errors).toBeUndefined();
    const counts = result.data!.device!.series[0]!.buckets.map((b) => b.count);
    expect(counts.reduce((a, b) => a! + b!, 0)).toBe(40);
  });
});
