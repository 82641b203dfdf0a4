/**
 * Device.series end to end: random points go in over MQTT, and every bucket the GraphQL API returns must
 * equal `aggregate()` from src/domain/telemetry/buckets.ts, computed in plain TypeScript on the same
 * points — across the 2024 DST changes of Europe/Berlin and America/New_York, and in Asia/Kathmandu
 * (+05:45).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { graphql } from '../generated/gql.ts';
import type { Aggregate, FillMode, SeriesInterval, SeriesQuery } from '../generated/graphql.ts';
import { aggregate, AGGREGATE_FUNCTIONS, type AggregateFunction, type FillMode as RefFill } from '../../src/domain/telemetry/buckets.ts';
import { modeName, startTestServer, uniqueDeviceId, type TestServer } from '../support/harness.ts';
import { INTERVALS, rng } from '../support/series.ts';

const Series = graphql(`
  query Series(
    $deviceId: String!
    $metrics: [String!]!
    $from: DateTime!
    $to: DateTime!
    $interval: SeriesInterval!
    $aggregates: [Aggregate!]!
    $timeZone: String
    $fill: FillMode
  ) {
    device(deviceId: $deviceId) {
      series(metrics: $metrics, from: $from, to: $to, interval: $interval, aggregates: $aggregates, timeZone: $timeZone, fill: $fill) {
        metric
        buckets { start end filled avg min max sum count first last }
      }
    }
  }
`);

const FleetSeries = graphql(`
  query FleetSeries($first: Int, $filter: DeviceFilter, $from: DateTime!, $to: DateTime!) {
    devices(first: $first, filter: $filter) {
      edges {
        node {
          deviceId
          daily: series(metrics: ["temp"], from: $from, to: $to, interval: DAY, aggregates: [AVG, COUNT, LAST], timeZone: "Europe/Berlin") {
            metric
            buckets { start end filled avg min max sum count first last }
          }
          hourly: series(metrics: ["temp"], from: $from, to: $to, interval: HOUR, aggregates: [SUM], timeZone: "America/New_York", fill: NULL) {
            metric
            buckets { start end filled avg min max sum count first last }
          }
        }
      }
    }
  }
`);

const ALL: Aggregate[] = ['AVG', 'MIN', 'MAX', 'SUM', 'COUNT', 'FIRST', 'LAST'];
const toRef = (a: Aggregate) => a.toLowerCase() as AggregateFunction;

interface Point {
  ts: number;
  value: number;
}

const SEED = 20240331;
const DAY = 86_400_000;
const HOUR = 3_600_000;

// DST changes: Berlin 2024-03-31 01:00Z and 2024-10-27 01:00Z; New York 2024-03-10 07:00Z and 2024-11-03 06:00Z.
const TRANSITIONS = ['2024-03-10T07:00:00Z', '2024-03-31T01:00:00Z', '2024-10-27T01:00:00Z', '2024-11-03T06:00:00Z'].map(Date.parse);
// Bucket edges right at the changes: local midnights, the repeated hours, the instants themselves.
const EDGES = [
  '2024-03-30T23:00:00Z',
  '2024-03-31T00:59:59.999Z',
  '2024-03-31T22:00:00Z',
  '2024-10-26T22:00:00Z',
  '2024-10-27T00:00:00Z',
  '2024-10-27T00:59:59.999Z',
  '2024-10-27T01:00:00Z',
  '2024-10-27T23:00:00Z',
  '2024-03-10T05:00:00Z',
  '2024-03-10T06:59:59.999Z',
  '2024-03-11T04:00:00Z',
  '2024-11-03T04:00:00Z',
  '2024-11-03T05:00:00Z',
  '2024-11-03T06:00:00Z',
  '2024-11-04T05:00:00Z',
  '2024-03-31T23:00:00Z',
  '2024-04-01T04:00:00Z',
  '2024-10-31T23:00:00Z',
  '2024-11-01T04:00:00Z',
].map(Date.parse);

/** Random points (unique ts) around every DST change, on the edges, and sparsely over the year. */
function randomSeries(seed: number): Point[] {
  const random = rng(seed);
  const ts = new Set<number>(EDGES);
  for (const t of TRANSITIONS) for (let i = 0; i < 250; i++) ts.add(Math.floor(t - 3 * DAY + random() * 6 * DAY));
  const yearStart = Date.parse('2024-02-20T00:00:00Z');
  for (let i = 0; i < 150; i++) ts.add(Math.floor(yearStart + random() * 290 * DAY));
  // Sixteenths: every partial sum is exact in float64, so a bucket's sum does not depend on how it is
  // split between raw rows and rollups (src/services/rollups.ts), and must equal the reference exactly.
  return [...ts].map((t) => ({ ts: t, value: Math.round((random() - 0.4) * 16_000) / 16 }));
}

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ TELEMETRY_SERIES_MAX_METRICS: '4' });
});
afterAll(async () => {
  await t?.stop();
});

async function register(tags: string[] = []): Promise<{ deviceId: string; client: MqttClient }> {
  const deviceId = uniqueDeviceId('ser');
  const result = await t.gql(
    `mutation R($id: String!, $tags: [String!]) { registerDevice(input: {deviceId: $id, tags: $tags}) { ... on DeviceWithCredentials { credentials { password } } } }`,
    { id: deviceId, tags },
  );
  const { password } = (result.data as { registerDevice: { credentials: { password: string } } }).registerDevice.credentials;
  return { deviceId, client: await t.mqtt({ username: deviceId, password, clientId: `${deviceId}-ser` }) };
}

/** Publishes the points over MQTT (arrays of catch-up entries) and waits until all rows are stored. */
async function ingest(deviceId: string, client: MqttClient, series: Record<string, Point[]>): Promise<void> {
  const entries = new Map<number, Record<string, number | boolean>>();
  let total = 0;
  for (const [metric, points] of Object.entries(series)) {
    for (const p of points) {
      let values = entries.get(p.ts);
      if (!values) entries.set(p.ts, (values = {}));
      values[metric] = metric === 'flag' ? p.value !== 0 : p.value;
      total++;
    }
  }
  // Shuffled: rows arrive out of ts order, as catch-up data may.
  const random = rng(total);
  const list = [...entries]
    .map(([ts, values]) => ({ ts, values, r: random() }))
    .sort((a, b) => a.r - b.r)
    .map(({ ts, values }) => ({ ts, values }));
  for (let i = 0; i < list.length; i += 400) {
    await client.publishAsync(`devices/${deviceId}/telemetry`, JSON.stringify(list.slice(i, i + 400)), { qos: 1 });
  }
  const device = await t.database.prisma.device.findUniqueOrThrow({ where: { deviceId } });
  // Polled by hand: this also runs in beforeAll, where expect.poll is not available.
  const deadline = Date.now() + 20_000;
  let stored = 0;
  while ((stored = await t.database.prisma.telemetryPoint.count({ where: { deviceId: device.id } })) !== total) {
    if (Date.now() > deadline) throw new Error(`only ${stored} of ${total} points were stored`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

type GqlBucket = SeriesQuery extends { device?: { series: Array<{ buckets: Array<infer B> }> } | null } ? B : never;

/** A GraphQL bucket in the reference's shape (and a check that unrequested aggregates are null). */
function fromGql(b: GqlBucket, aggregates: Aggregate[]) {
  const values: Partial<Record<AggregateFunction, number | null>> = {};
  for (const a of AGGREGATE_FUNCTIONS) {
    const v = b[a];
    if (aggregates.map(toRef).includes(a)) values[a] = v ?? null;
    else expect(v, `${a} was not requested`).toBeNull();
  }
  return { start: Date.parse(b.start), end: Date.parse(b.end), filled: b.filled, values };
}

interface Case {
  interval: SeriesInterval;
  timeZone: string;
  from: string;
  to: string;
  aggregates?: Aggregate[];
  fill?: FillMode;
}

describe(`Device.series (${modeName})`, () => {
  const temp = randomSeries(SEED);
  const flag = randomSeries(SEED + 1).map((p) => ({ ts: p.ts, value: p.value > 0 ? 1 : 0 }));
  let deviceId: string;

  beforeAll(async () => {
    const d = await register();
    deviceId = d.deviceId;
    await ingest(deviceId, d.client, { temp, flag });
  }, 60_000);

  async function check(c: Case): Promise<number> {
    const aggregates = c.aggregates ?? ALL;
    const result = await t.gql(Series, {
      deviceId,
      metrics: ['temp', 'flag'],
      from: c.from,
      to: c.to,
      interval: c.interval,
      aggregates,
      timeZone: c.timeZone,
      fill: c.fill,
    });
    expect(result.errors).toBeUndefined();
    const series = result.data!.device!.series;
    expect(series.map((s) => s.metric)).toEqual(['temp', 'flag']);
    let buckets = 0;
    for (const [i, points] of [temp, flag].entries()) {
      const expected = aggregate(points, {
        interval: INTERVALS[c.interval],
        timeZone: c.timeZone,
        aggregates: aggregates.map(toRef),
        fill: (c.fill?.toLowerCase() ?? 'none') as RefFill,
        from: Date.parse(c.from),
        to: Date.parse(c.to),
      });
      expect(
        series[i]!.buckets.map((b) => fromGql(b, aggregates)),
        `${series[i]!.metric} ${JSON.stringify(c)}`,
      ).toEqual(expected);
      buckets += expected.length;
    }
    return buckets;
  }

  const FULL = { from: '2024-02-20T00:00:00Z', to: '2024-12-10T00:00:00Z' };
  // Starts and ends mid-bucket: the first bucket starts before `from`, and only points inside count.
  const PARTIAL = { from: '2024-03-09T13:17:23.456Z', to: '2024-11-03T05:31:00Z' };

  for (const timeZone of ['Europe/Berlin', 'America/New_York']) {
    for (const interval of ['HOUR', 'DAY', 'WEEK', 'MONTH'] as const) {
      it(`equals the TypeScript reference for every aggregate: ${interval} buckets in ${timeZone} (seed ${SEED})`, async () => {
        expect(await check({ interval, timeZone, ...FULL })).toBeGreaterThan(0);
        await check({ interval, timeZone, ...PARTIAL });
      });
    }
  }

  it('has 23- and 25-hour days and two buckets for a repeated hour', async () => {
    const result = await t.gql(Series, {
      deviceId,
      metrics: ['temp'],
      from: '2024-10-26T00:00:00Z',
      to: '2024-10-28T00:00:00Z',
      interval: 'DAY',
      aggregates: ['COUNT'],
      timeZone: 'Europe/Berlin',
      fill: 'NULL',
    });
    const days = result.data!.device!.series[0]!.buckets.map((b) => [b.start, (Date.parse(b.end) - Date.parse(b.start)) / HOUR]);
    expect(days).toEqual([
      ['2024-10-25T22:00:00.000Z', 24],
      ['2024-10-26T22:00:00.000Z', 25],
      ['2024-10-27T23:00:00.000Z', 24],
    ]);
    const hours = await t.gql(Series, {
      deviceId,
      metrics: ['temp'],
      from: '2024-10-27T00:00:00Z',
      to: '2024-10-27T02:00:00Z',
      interval: 'HOUR',
      aggregates: ['COUNT'],
      timeZone: 'Europe/Berlin',
      fill: 'NULL',
    });
    // 02:00 local happens twice (+02:00, then +01:00): two buckets, each with its own points.
    expect(hours.data!.device!.series[0]!.buckets.map((b) => [b.start, b.filled])).toEqual([
      ['2024-10-27T00:00:00.000Z', false],
      ['2024-10-27T01:00:00.000Z', false],
    ]);
    const spring = await t.gql(Series, {
      deviceId,
      metrics: ['temp'],
      from: '2024-03-10T00:00:00Z',
      to: '2024-03-12T00:00:00Z',
      interval: 'DAY',
      aggregates: ['COUNT'],
      timeZone: 'America/New_York',
      fill: 'NULL',
    });
    expect(spring.data!.device!.series[0]!.buckets.map((b) => (Date.parse(b.end) - Date.parse(b.start)) / HOUR)).toEqual([24, 23, 24]);
  });

  it('follows a +05:45 zone (Asia/Kathmandu): hour buckets start at :15 UTC', async () => {
    await check({ interval: 'HOUR', timeZone: 'Asia/Kathmandu', ...FULL });
    await check({ interval: 'HOUR', timeZone: 'Asia/Kathmandu', ...PARTIAL, fill: 'NULL' });
    await check({ interval: 'FIFTEEN_MINUTES', timeZone: 'Asia/Kathmandu', from: '2024-10-26T00:00:00Z', to: '2024-10-28T00:00:00Z', fill: 'PREVIOUS' });
    const result = await t.gql(Series, {
      deviceId,
      metrics: ['temp'],
      from: '2024-10-27T00:00:00Z',
      to: '2024-10-28T00:00:00Z',
      interval: 'HOUR',
      aggregates: ['COUNT'],
      timeZone: 'Asia/Kathmandu',
    });
    for (const b of result.data!.device!.series[0]!.buckets) expect(b.start).toMatch(/:15:00\.000Z$/);
  });

  it('fills empty buckets with null or the previous values, as the reference does', async () => {
    for (const fill of ['NONE', 'NULL', 'PREVIOUS'] as const) {
      await check({ interval: 'HOUR', timeZone: 'America/New_York', from: '2024-10-31T00:00:00Z', to: '2024-11-06T00:00:00Z', fill });
      await check({ interval: 'DAY', timeZone: 'Europe/Berlin', ...PARTIAL, fill });
      await check({ interval: 'FIVE_MINUTES', timeZone: 'Europe/Berlin', from: '2024-10-27T00:00:00Z', to: '2024-10-27T03:00:00Z', fill });
      await check({ interval: 'MINUTE', timeZone: 'UTC', from: '2024-10-27T00:30:00Z', to: '2024-10-27T01:30:00Z', fill });
    }
    // Empty buckets carry count 0 and are marked filled.
    const result = await t.gql(Series, {
      deviceId,
      metrics: ['temp'],
      from: '2024-06-01T00:00:00Z',
      to: '2024-06-01T06:00:00Z',
      interval: 'HOUR',
      aggregates: ['COUNT', 'AVG'],
      timeZone: 'UTC',
      fill: 'NULL',
    });
    const buckets = result.data!.device!.series[0]!.buckets;
    expect(buckets).toHaveLength(6);
    for (const b of buckets.filter((x) => x.filled)) expect([b.count, b.avg]).toEqual([0, null]);
  });

  it('computes only the aggregates asked for', async () => {
    await check({ interval: 'DAY', timeZone: 'Europe/Berlin', ...FULL, aggregates: ['MAX', 'COUNT'] });
    await check({ interval: 'WEEK', timeZone: 'America/New_York', ...FULL, aggregates: ['FIRST'], fill: 'PREVIOUS' });
    await check({ interval: 'MONTH', timeZone: 'Europe/Berlin', ...FULL, aggregates: ['AVG', 'LAST', 'AVG'] });
  });

  it('refuses bad arguments with BAD_USER_INPUT', async () => {
    const base = {
      deviceId,
      metrics: ['temp'],
      from: '2024-03-01T00:00:00Z',
      to: '2024-04-01T00:00:00Z',
      interval: 'DAY' as SeriesInterval,
      aggregates: ['AVG'] as Aggregate[],
      timeZone: 'Europe/Berlin',
    };
    const cases: Array<[string, Partial<typeof base>, RegExp]> = [
      ['unknown zone', { timeZone: 'Mars/Olympus_Mons' }, /unknown time zone/],
      ['offset instead of a zone', { timeZone: '+01:00' }, /unknown time zone/],
      ['empty zone', { timeZone: '' }, /unknown time zone/],
      ['from = to', { to: base.from }, /from must be before to/],
      ['from > to', { from: base.to, to: base.from }, /from must be before to/],
      ['too many buckets', { interval: 'MINUTE', from: '2024-01-01T00:00:00Z', to: '2024-12-31T00:00:00Z' }, /more than 10000 buckets/],
      ['out of range', { from: '1800-01-01T00:00:00Z' }, /must lie between/],
      ['bad metric name', { metrics: ['temp', 'no such/metric'] }, /metric must be/],
      ['too long metric name', { metrics: ['m'.repeat(65)] }, /metric must be/],
      ['too many metrics', { metrics: ['a', 'b', 'c', 'd', 'e'] }, /at most 4 metrics/],
      ['no metrics', { metrics: [] }, /at least one metric/],
      ['repeated metric', { metrics: ['temp', 'temp'] }, /must not repeat/],
      ['no aggregates', { aggregates: [] }, /at least one aggregate/],
    ];
    for (const [name, change, message] of cases) {
      const result = await t.gql(Series, { ...base, ...change });
      expect(result.errors?.[0]?.extensions?.code, name).toBe('BAD_USER_INPUT');
      expect(result.errors?.[0]?.message, name).toMatch(message);
    }
    // The enums refuse what they do not know before any resolver runs.
    const badEnum = await t.gql(Series, { ...base, interval: 'FORTNIGHT' as never });
    expect(badEnum.errors?.[0]?.message).toMatch(/SeriesInterval/);
  });
});

describe(`Device.series for a fleet (${modeName})`, () => {
  it('runs one SQL query per argument set for a whole devices page, whatever its size', async () => {
    const tag = uniqueDeviceId('fleet');
    const random = rng(SEED + 7);
    const data = new Map<string, Point[]>();
    const from = '2024-10-25T00:00:00Z';
    const to = '2024-10-29T00:00:00Z';
    for (let i = 0; i < 6; i++) {
      const { deviceId, client } = await register([tag]);
      const points = Array.from({ length: 30 }, (_, k) => ({
        ts: Date.parse(from) + k * 3 * HOUR + Math.floor(random() * HOUR),
        value: Math.round(random() * 1000) / 10,
      }));
      await ingest(deviceId, client, { temp: points });
      await client.endAsync();
      data.set(deviceId, points);
    }
    const run = async (first: number) => {
      t.queries.length = 0;
      const result = await t.gql(FleetSeries, { first, filter: { tag }, from, to });
      expect(result.errors).toBeUndefined();
      const edges = result.data!.devices.edges;
      expect(edges).toHaveLength(first);
      for (const { node } of edges) {
        const points = data.get(node.deviceId)!;
        const daily = aggregate(points, {
          interval: 'day',
          timeZone: 'Europe/Berlin',
          aggregates: ['avg', 'count', 'last'],
          from: Date.parse(from),
          to: Date.parse(to),
        });
        expect(node.daily[0]!.buckets.map((b) => fromGql(b, ['AVG', 'COUNT', 'LAST']))).toEqual(daily);
        const hourly = aggregate(points, {
          interval: 'hour',
          timeZone: 'America/New_York',
          aggregates: ['sum'],
          fill: 'null',
          from: Date.parse(from),
          to: Date.parse(to),
        });
        expect(node.hourly[0]!.buckets.map((b) => fromGql(b, ['SUM']))).toEqual(hourly);
      }
      return { total: t.queries.length, series: t.queries.filter((q) => q.includes('"TelemetryPoint"') || q.includes('"TelemetryRollup"')).length };
    };
    const small = await run(2);
    const large = await run(6);
    // Two argument sets (daily, hourly): two statements over the points or rollups, for 2 devices as for 6.
    expect(small.series).toBe(2);
    expect(large).toEqual(small);
  }, 60_000);
});
